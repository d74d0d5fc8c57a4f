/* hostile-shard-mem: a process shard that attacks the master through the
 * memory it shares, for test_hostile_mem. It speaks the process-shard
 * protocol itself (doorbell socket on fd 3, window memfd on fd 4, window
 * size in MLOS_SHARD_ARGS) and, unlike a real shard, keeps the memfd open.
 * After HELLO it does what MLOS_HOSTILE_MODE says:
 *   truncate  try to grow, then shrink its window memfd to nothing, print what the
 *             kernel answered on stderr (the master's console), then serve
 *             "echo" calls like a healthy shard
 *   rewind    after MLOS_HOSTILE_DELAY_MS: send 256 MSG frames (type
 *             9000) to the master's endpoint, put the master's tail of
 *             that ring back to before them, again and again (a master
 *             that re-reads it delivers them again, or forever), then
 *             rewind and misalign its own head and scribble on the
 *             master's head of the call ring, for up to 5 s
 *   flood     after MLOS_HOSTILE_DELAY_MS: send LOG frames as fast as the
 *             ring takes them for 1.5 s, then serve "echo" calls
 * Exit code 0 after STOP; the master normally kills it first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "mlos_error.h"
#include "ring.h"
#include "window.h"

#define BELL_FD 3
#define MEM_FD 4

static struct mlos_ring in, out;
static void *win;
static size_t win_len;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void bell(void)
{
    char b = 1;
    (void)send(BELL_FD, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void store32(uint32_t *p, uint32_t v) { __atomic_store_n(p, mlos_to_le32(v), __ATOMIC_RELEASE); }
static uint32_t load32(const uint32_t *p) { return mlos_from_le32(__atomic_load_n(p, __ATOMIC_ACQUIRE)); }

static int attach(void)
{
    const char *args = getenv("MLOS_SHARD_ARGS");
    const char *w = args ? strstr(args, "mlos.window=") : NULL;
    unsigned long long off, len;
    if (!w || sscanf(w, "mlos.window=%llx,%llx", &off, &len) != 2 || off)
        return -1;
    win = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, MEM_FD, 0);
    if (win == MAP_FAILED)
        return -1;
    win_len = len;
    if (mlos_window_check(win, win_len) < 0)
        return -1;
    struct mlos_window_hdr *h = win;
    uint64_t ts = mlos_from_le64(h->to_shard_off), tm = mlos_from_le64(h->to_master_off);
    if (mlos_ring_attach(&in, (uint8_t *)win + ts, win_len - ts) < 0 ||
        mlos_ring_attach(&out, (uint8_t *)win + tm, win_len - tm) < 0)
        return -1;
    return 0;
}

static void push(uint8_t type, uint32_t id, const ProtobufCMessage *m)
{
    uint8_t buf[1024];
    size_t n = protobuf_c_message_pack(m, buf);
    while (mlos_ring_push(&out, type, id, buf, (uint32_t)n) == MLOS_EAGAIN)
        usleep(100);
    if (mlos_ring_consumer_waiting(&out))
        bell();
}

static void hello(void)
{
    Mlos__Hello h = MLOS__HELLO__INIT;
    char *tasks[] = {"echo"};
    h.arch = "process";
    h.tasks = tasks;
    h.n_tasks = 1;
    push(MLOS_FRAME_HELLO, 0, &h.base);
}

/* Answer CALLs (echo), leave on STOP; forever. */
static _Noreturn void serve(void)
{
    for (;;) {
        struct mlos_frame_hdr h;
        const uint8_t *p;
        struct pollfd pfd = {.fd = BELL_FD, .events = POLLIN};
        char b[64];
        int rc;

        if (!mlos_ring_prepare_wait(&in) && poll(&pfd, 1, 50) > 0) {
            ssize_t n = recv(BELL_FD, b, sizeof(b), MSG_DONTWAIT);
            if (n == 0)
                _exit(3); /* the master is gone */
        }
        while ((rc = mlos_ring_peek(&in, &h, &p)) > 0) {
            if (h.type == MLOS_FRAME_STOP)
                _exit(0);
            if (h.type == MLOS_FRAME_CALL) {
                Mlos__TaskCall *c = mlos__task_call__unpack(NULL, h.length, p);
                Mlos__TaskReply r = MLOS__TASK_REPLY__INIT;
                if (c && !strcmp(c->task, "echo")) {
                    r.result = c->arg;
                } else {
                    r.status = -2;
                    r.error = "no such task";
                }
                uint32_t id = h.request_id;
                mlos_ring_release(&in, &h);
                push(MLOS_FRAME_REPLY, id, &r.base);
                if (c)
                    mlos__task_call__free_unpacked(c, NULL);
                continue;
            }
            mlos_ring_release(&in, &h);
        }
        if (rc < 0)
            _exit(4);
    }
}

static void say(const char *what, int rc)
{
    fprintf(stderr, "hostile: %s: %s\n", what, rc == 0 ? "done" : strerror(errno));
}

static void truncate_mode(void)
{
    /* The file holds the window and, after it, the shard's arena. */
    off_t size = lseek(MEM_FD, 0, SEEK_END);
    /* Grow first: the shrink that follows leaves no page behind. */
    say("ftruncate grow", ftruncate(MEM_FD, size * 2));
    say("ftruncate shrink", ftruncate(MEM_FD, 0));
    /* Still the size the master made? Then touching our own window is safe. */
    off_t end = lseek(MEM_FD, 0, SEEK_END);
    fprintf(stderr, "hostile: window memfd size %s\n", end == size && size >= (off_t)win_len ? "unchanged" : "changed");
    if (end != size || size < (off_t)win_len) {
        /* The memory under our mapping is gone: the master touches its rings
         * on the next call and dies of SIGBUS unless it is protected. */
        for (;;)
            pause();
    }
}

/* Wait up to ms for the master to release everything up to head. */
static int consumed_to(const struct mlos_ring_ctl *c, uint32_t head, unsigned ms)
{
    uint64_t t = now_ms();
    while (load32(&c->tail) != head)
        if (now_ms() - t > ms)
            return 0;
    return 1;
}

static void rewind_mode(void)
{
    struct mlos_ring_ctl *tm = out.ctl, *ts = in.ctl;
    uint32_t start = load32(&tm->head), head, n = 0;
    uint64_t t;

    /* MSG frames for the master's endpoint: each delivered more than once
     * tells that the master re-read its tail from shared memory. */
    for (int i = 0; i < 256; i++)
        mlos_ring_push(&out, MLOS_FRAME_MSG, 9000, "dup", 3);
    head = load32(&tm->head);
    bell();
    consumed_to(tm, head, 2000);
    /* Phase 1: put the master's tail back, again and again; a master that
     * trusts it consumes the same frames forever. */
    for (int k = 0; k < 20; k++) {
        store32(&tm->tail, start);
        bell();
        consumed_to(tm, head, 20);
    }
    for (t = now_ms(); now_ms() - t < 500; n++) {
        store32(&tm->tail, start);
        if (!(n & 1023))
            bell();
    }
    /* Phase 2: our own head goes back and sideways; the master's head of
     * the call ring gets garbage. A careful master fences us here. */
    for (t = now_ms(); now_ms() - t < 5000; n++) {
        static const int32_t moves[] = {0, -16, 8, -4096};
        store32(&tm->head, head + (uint32_t)moves[n & 3]);
        store32(&tm->tail, start);
        store32(&ts->head, 0x7ffffff3u);
        if (!(n & 255))
            bell();
    }
    fprintf(stderr, "hostile: rewinding for 6 s was not noticed\n");
    for (;;)
        pause();
}

static void flood_mode(void)
{
    uint64_t t = now_ms();
    uint32_t n = 0;
    while (now_ms() - t < 1500) {
        for (int i = 0; i < 256; i++)
            if (mlos_ring_push(&out, MLOS_FRAME_LOG, n, NULL, 0) == 0)
                n++;
        if (mlos_ring_consumer_waiting(&out))
            bell();
    }
    fprintf(stderr, "hostile: flooded %u frames\n", n);
}

int main(void)
{
    const char *mode = getenv("MLOS_HOSTILE_MODE");
    const char *delay = getenv("MLOS_HOSTILE_DELAY_MS");

    if (!mode || attach() < 0)
        return 2;
    hello();
    if (delay)
        usleep((useconds_t)strtoul(delay, NULL, 10) * 1000);
    if (!strcmp(mode, "truncate"))
        truncate_mode();
    else if (!strcmp(mode, "rewind"))
        rewind_mode();
    else if (!strcmp(mode, "flood"))
        flood_mode();
    else
        return 2;
    serve();
}
