/* hostile-shard-live: a process shard that looks busy but is not, for the
 * master's liveness and deadline tests. It attaches to the window like a
 * real shard, says HELLO (offering "echo"), then does what
 * MLOS_HOSTILE_MODE says:
 *   logger  a LOG frame every 100 ms; never reads its ring, so never
 *           answers a PING or a call (and PONGs for ids never sent)
 *   ponger  answers every PING with a proper PONG, LOGs every 100 ms, and
 *           swallows calls without answering: heartbeats cannot catch it,
 *           only call deadlines can
 *   once    like ponger in the first shard to start (the one that creates
 *           the file $MLOS_HOSTILE_MARK), a well-behaved echo shard in the
 *           others: a pool re-runs an idempotent call that overran there
 *   env     prints "ENV <variable>" for each variable of its environment
 *           and "ENV-END" on stdout (the master's console), then says
 *           HELLO and answers PINGs like ponger
 *   resize-window, resize-unaligned, resize-outside, resize-overflow,
 *   resize-overlap, resize-many
 *           says it is elastic and answers every RESIZE by "giving back"
 *           ranges the master must refuse: its whole window (rings and
 *           bulk area), an unaligned page, a page past its arena, a
 *           length that wraps around, its arena twenty times over, more
 *           ranges than asked for; answers PINGs like ponger
 *   cores-lie  says HELLO with 4 cores (the master believes at most what
 *           it asked for) and answers every CORES with 6 of 9 cores
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal.h"
#include "hal_linux.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "ring.h"
#include "window.h"

extern char **environ;

static struct mlos_ring out, in;
static int honest; /* answer calls (once mode, not the first shard) */
static const char *resize_mode; /* after "resize-", or NULL */
static int cores_lie;
static void *win;
static size_t win_len;

static unsigned long long arg_u64(const char *key, int field)
{
    char v[64];
    unsigned long long a = 0, b = 0;
    if (mlos_cmdline_get(mlos_hal_cmdline(), key, v, sizeof(v)) < 0)
        return 0;
    if (sscanf(v, "%llx,%llx", &a, &b) == 2)
        return field ? b : a;
    return strtoull(v, NULL, 0);
}

/* A RESIZED with ranges that are not the shard's to give. */
static void forged_resized(uint32_t id, const uint8_t *p, uint32_t len)
{
    static uint64_t words[2 * 600];
    static uint8_t buf[sizeof(words) * 2 + 128];
    Mlos__Resize *rq = mlos__resize__unpack(NULL, len, p);
    Mlos__Resized r = MLOS__RESIZED__INIT;
    uint64_t lo = arg_u64("mlos.arena", 0), n = arg_u64("mlos.arena", 1);
    size_t k = 1;

    r.limit_bytes = rq ? rq->limit_bytes : 0;
    r.max_bytes = arg_u64("mlos.mem_max", 0);
    if (rq)
        mlos__resize__free_unpacked(rq, NULL);
    words[0] = lo;
    words[1] = 4096;
    if (!strcmp(resize_mode, "window")) {
        words[0] = 0;
        words[1] = win_len;
    } else if (!strcmp(resize_mode, "unaligned")) {
        words[0] = lo + 100;
    } else if (!strcmp(resize_mode, "outside")) {
        words[0] = lo + n;
    } else if (!strcmp(resize_mode, "overflow")) {
        words[1] = UINT64_MAX - 4095;
    } else if (!strcmp(resize_mode, "overlap")) {
        for (k = 0; k < 20; k++) {
            words[2 * k] = lo;
            words[2 * k + 1] = n;
        }
    } else { /* many */
        for (k = 0; k < 600; k++) {
            words[2 * k] = lo + 4096 * k;
            words[2 * k + 1] = 4096;
        }
    }
    r.n_ranges = 2 * k;
    r.ranges = words;
    mlos_ring_push(&out, MLOS_FRAME_RESIZED, id, buf, (uint32_t)mlos__resized__pack(&r, buf));
}

static void reply_echo(uint32_t id, const uint8_t *p, uint32_t len)
{
    Mlos__TaskCall *c = mlos__task_call__unpack(NULL, len, p);
    Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
    uint8_t buf[4096];
    if (!c)
        return;
    if (c->arg.len <= 1024) {
        r.result = c->arg;
        mlos_ring_push(&out, MLOS_FRAME_REPLY, id, buf, (uint32_t)mlos__task_reply__pack(&r, buf));
    }
    mlos__task_call__free_unpacked(c, NULL);
}

static void hello(void)
{
    static char *tasks[] = {"echo"};
    Mlos__Hello h = MLOS__HELLO__INIT;
    uint8_t buf[128];
    h.arch = "process";
    h.n_tasks = 1;
    h.tasks = tasks;
    if (resize_mode)
        h.mem_max_bytes = arg_u64("mlos.mem_max", 0);
    if (cores_lie)
        h.cores = h.active_cores = 4;
    size_t n = mlos__hello__pack(&h, buf);
    mlos_ring_push(&out, MLOS_FRAME_HELLO, 0, buf, (uint32_t)n);
    mlos_hal_doorbell_ring();
}

static void log_line(unsigned k)
{
    Mlos__Log l = MLOS__LOG__INIT;
    char text[64];
    uint8_t buf[96];
    snprintf(text, sizeof(text), "still working (%u)", k);
    l.text = text;
    mlos_ring_push(&out, MLOS_FRAME_LOG, 0, buf, (uint32_t)mlos__log__pack(&l, buf));
}

/* A PONG with an id the master never used: must not count as an answer. */
static void forged_pong(unsigned k)
{
    Mlos__Pong p = MLOS__PONG__INIT;
    uint8_t buf[48];
    p.shard_ns = mlos_hal_now_ns();
    mlos_ring_push(&out, MLOS_FRAME_PONG, 0x7fff0000u + k, buf, (uint32_t)mlos__pong__pack(&p, buf));
}

/* ponger: answer PINGs, drop everything else. */
static void answer_pings(void)
{
    struct mlos_frame_hdr h;
    const uint8_t *p;
    while (mlos_ring_peek(&in, &h, &p) > 0) {
        if (h.type == MLOS_FRAME_PING) {
            Mlos__Pong pong = MLOS__PONG__INIT;
            Mlos__Ping *ping = mlos__ping__unpack(NULL, h.length, p);
            uint8_t buf[48];
            if (ping) {
                pong.master_ns = ping->master_ns;
                mlos__ping__free_unpacked(ping, NULL);
            }
            pong.shard_ns = mlos_hal_now_ns();
            mlos_ring_push(&out, MLOS_FRAME_PONG, h.request_id, buf, (uint32_t)mlos__pong__pack(&pong, buf));
        } else if (h.type == MLOS_FRAME_CALL && honest) {
            reply_echo(h.request_id, p, h.length);
        } else if (h.type == MLOS_FRAME_RESIZE && resize_mode) {
            forged_resized(h.request_id, p, h.length);
        } else if (h.type == MLOS_FRAME_CORES && cores_lie) {
            Mlos__CoresSet r = MLOS__CORES_SET__INIT;
            uint8_t buf[32];
            r.active = 6;
            r.cores = 9;
            mlos_ring_push(&out, MLOS_FRAME_CORES_SET, h.request_id, buf, (uint32_t)mlos__cores_set__pack(&r, buf));
        } else if (h.type == MLOS_FRAME_STOP) {
            mlos_hal_exit(0);
        }
        mlos_ring_release(&in, &h);
    }
}

int main(void)
{
    uv_loop_t loop;
    struct mlos_hal_linux_cfg cfg = {.window_fd = 4, .doorbell_fd = 3, .mem_bytes = 1 << 20};
    const char *mode = getenv("MLOS_HOSTILE_MODE");
    void *w;
    size_t len;
    int logger, ponger, env, once;

    uv_loop_init(&loop);
    if (!mode || mlos_hal_linux_init(&loop, &cfg) < 0 || mlos_hal_window(&w, &len) < 0)
        return 2;
    logger = !strcmp(mode, "logger");
    ponger = !strcmp(mode, "ponger");
    env = !strcmp(mode, "env");
    once = !strcmp(mode, "once");
    if (!strncmp(mode, "resize-", 7))
        resize_mode = mode + 7;
    cores_lie = !strcmp(mode, "cores-lie");
    if (!logger && !ponger && !env && !once && !resize_mode && !cores_lie)
        return 2;
    win = w;
    win_len = len;
    if (once) {
        const char *mark = getenv("MLOS_HOSTILE_MARK");
        int fd = mark ? open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
        honest = fd < 0;
        if (fd >= 0)
            close(fd);
    }
    struct mlos_window_hdr *hdr = w;
    uint64_t off = mlos_from_le64(hdr->to_master_off), ioff = mlos_from_le64(hdr->to_shard_off);
    mlos_ring_attach(&out, (uint8_t *)w + off, len - off);
    mlos_ring_attach(&in, (uint8_t *)w + ioff, len - ioff);

    if (env) {
        for (char **e = environ; *e; e++)
            printf("ENV %.*s\n", (int)strcspn(*e, "="), *e);
        printf("ENV-END\n");
        fflush(stdout);
    }
    hello();
    for (unsigned k = 0;; k++) {
        uint64_t until = mlos_hal_now_ns() + 100 * 1000000ull;
        while (mlos_hal_now_ns() < until) {
            if (!logger)
                answer_pings();
            mlos_hal_doorbell_ring();
            usleep(10000); /* poll: the master rings only consumers that said they wait */
        }
        log_line(k);
        if (logger)
            forged_pong(k);
        mlos_hal_doorbell_ring();
    }
}
