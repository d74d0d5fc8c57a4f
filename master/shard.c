/* Shard lifecycle on the master: spawn, console, death, stop, release. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image_check.h"
#include "kinds/kind.h"
#include "master_internal.h"
#include "mlos.pb-c.h"
#include "mlos_endian.h"
#include "group.h"
#include "group_wire.h"
#include "registry.h"
#include "window.h"

#define CHILD_BELL_FD 3
#define CHILD_MEM_FD 4
#define CHILD_GROUP_FD 5 /* group memory (mlos_group.h) */
#define CHILD_QMP_FD 6   /* paused spawns: QEMU's QMP monitor */
#define MiB (1024u * 1024u)

/* ---- console ---- */

static void console_append(struct mlos_shard_impl *im, const char *p, size_t n)
{
    if (n >= MLOS_CONSOLE_TAIL) {
        p += n - (MLOS_CONSOLE_TAIL - 1);
        n = MLOS_CONSOLE_TAIL - 1;
    }
    if (im->console_len + n >= MLOS_CONSOLE_TAIL) {
        size_t drop = im->console_len + n - (MLOS_CONSOLE_TAIL - 1);
        memmove(im->console, im->console + drop, im->console_len - drop);
        im->console_len -= drop;
    }
    memcpy(im->console + im->console_len, p, n);
    im->console_len += n;
    im->console[im->console_len] = 0;
}

static void console_line(struct mlos_shard_impl *im)
{
    if (im->on_console)
        im->on_console(im->shard, im->line, im->line_len);
    else if (getenv("MLOS_VERBOSE"))
        fprintf(stderr, "[shard %u] %.*s\n", im->shard->id, (int)im->line_len, im->line);
    im->line_len = 0;
}

static void console_feed(struct mlos_shard_impl *im, const char *p, size_t n)
{
    console_append(im, p, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || im->line_len == sizeof(im->line) - 1) {
            if (p[i] != '\n')
                im->line[im->line_len++] = p[i];
            console_line(im);
        } else if (p[i] != '\r') {
            im->line[im->line_len++] = p[i];
        }
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char scratch[4096];
    buf->base = scratch;
    buf->len = sizeof(scratch);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct mlos_shard_impl *im = s->data;
    if (n > 0)
        console_feed(im, buf->base, (size_t)n);
    else if (n < 0)
        uv_read_stop(s);
}

/* The console line that best explains a death: the last HAL message
 * ("mlos: ..." other than the boot banner, e.g. the exception line above a
 * register dump), else the last non-empty line. */
static void last_line(struct mlos_shard_impl *im, char *out, size_t cap)
{
    const char *best = NULL, *best_end = NULL, *last = NULL, *last_end = NULL;
    for (const char *p = im->console, *end; *p; p = *end ? end + 1 : end) {
        end = strchr(p, '\n');
        if (!end)
            end = p + strlen(p);
        const char *e = end;
        while (e > p && (e[-1] == '\r' || e[-1] == ' '))
            e--;
        if (e == p)
            continue;
        last = p;
        last_end = e;
        if (!strncmp(p, "mlos: ", 6) && !memmem(p, (size_t)(e - p), "HAL up", 6)) {
            best = p;
            best_end = e;
        }
    }
    if (!best) {
        best = last;
        best_end = last_end;
    }
    snprintf(out, cap, "%.*s", best ? (int)(best_end - best) : 0, best ? best : "");
}

/* ---- release ---- */

/* Freeing a window's pages costs ~0.15 ms per MiB (a 64 MiB bulk: ~10
 * ms): past this size it runs on the libuv thread pool, so the loop goes
 * on and shards stopped together release in parallel. */
#define RELEASE_OFF_LOOP_BYTES (8u << 20)

static void unmap_window(struct mlos_shard_impl *im)
{
    if (im->map)
        munmap(im->map, im->map_len);
    if (im->mem_fd >= 0)
        close(im->mem_fd);
    im->map = NULL;
    im->mem_fd = -1;
}

static void finish_release(struct mlos_shard_impl *im);

static void unmap_work(uv_work_t *w) { unmap_window(w->data); }
static void unmap_done(uv_work_t *w, int status)
{
    (void)status; /* the work cannot be cancelled once queued by us */
    finish_release(w->data);
}

/* Give the window back (off the loop if it is big), then the rest. */
void mlos__release_memory(struct mlos_shard_impl *im)
{
    if (im->punching) { /* the memory file is in use off the loop (resize.c): it calls back */
        im->release_waits = 1;
        return;
    }
    if (im->map && im->map_len >= RELEASE_OFF_LOOP_BYTES) {
        im->unmap_req.data = im;
        if (uv_queue_work(im->loop, &im->unmap_req, unmap_work, unmap_done) == 0)
            return;
    }
    unmap_window(im);
    finish_release(im);
}

static void handle_closed(uv_handle_t *h)
{
    struct mlos_shard_impl *im = h->data;

    if (--im->open_handles > 0)
        return;
    if (im->populating) { /* the window is still being faulted in: wait for that */
        im->release_waiting = 1;
        return;
    }
    mlos__release_memory(im);
}

/* ---- prefault_bulk ----
 *
 * First-touch faults cost about 1 ms per MiB here (allocating and zeroing
 * the pages), as much as the arithmetic a task then does on them. With
 * prefault_bulk the bulk window is faulted in on the libuv thread pool
 * while the shard boots, in chunks, so the master's writes into it and the
 * shard's find it mapped. Purely an optimisation: without
 * MADV_POPULATE_WRITE (Linux < 5.14) madvise fails and nothing happens; a
 * release stops it at the next chunk. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define POPULATE_CHUNK (2u << 20)

static void populate_work(uv_work_t *w)
{
    struct mlos_shard_impl *im = w->data;
    uintptr_t a = ((uintptr_t)im->bulk + 4095) & ~(uintptr_t)4095;
    uintptr_t e = ((uintptr_t)im->bulk + im->bulk_len) & ~(uintptr_t)4095;
    for (; a < e && !__atomic_load_n(&im->populate_stop, __ATOMIC_RELAXED); a += POPULATE_CHUNK) {
        size_t n = e - a < POPULATE_CHUNK ? e - a : POPULATE_CHUNK;
        if (madvise((void *)a, n, MADV_POPULATE_WRITE) < 0)
            break;
    }
}

static void populate_done(uv_work_t *w, int status)
{
    struct mlos_shard_impl *im = w->data;
    (void)status;
    im->populating = 0;
    if (im->release_waiting)
        mlos__release_memory(im);
}

static void finish_release(struct mlos_shard_impl *im)
{
    mlos_shard_t *shard = im->shard;
    mlos_close_cb cb = im->close_cb;

    if (im->bell_fd >= 0)
        close(im->bell_fd);
    if (im->qmp_fd >= 0)
        close(im->qmp_fd);
    free(im->rx_shadow);
    for (size_t i = 0; i < shard->ntasks; i++)
        free(shard->tasks[i]);
    free(shard->tasks);
    shard->tasks = NULL;
    shard->ntasks = 0;
    free(im);
    shard->impl = NULL;
    mlos__registry_released(shard); /* registry: shard released */
    if (cb)
        cb(shard);
}

static void close_handle(struct mlos_shard_impl *im, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        h->data = im;
        im->open_handles++;
        uv_close(h, handle_closed);
    }
}

/* Close every libuv handle; handle_closed frees the rest. */
static void release(struct mlos_shard_impl *im)
{
    /* first: the stop socket, if this was the last shard, closes beside the
     * shard's own handles, so the loop is idle when the shard's close
     * callback runs */
    mlos__control_remove(im);
    im->state = SHARD_CLOSING;
    __atomic_store_n(&im->populate_stop, 1, __ATOMIC_RELAXED);
    im->open_handles = 1; /* guard while queuing the closes */
    close_handle(im, (uv_handle_t *)&im->timer);
    close_handle(im, (uv_handle_t *)&im->spin);
    close_handle(im, (uv_handle_t *)&im->hb_timer); /* heartbeat */
    close_handle(im, (uv_handle_t *)&im->bell);
    if (im->qmp_fd >= 0)
        close_handle(im, (uv_handle_t *)&im->qmp);
    close_handle(im, (uv_handle_t *)&im->out);
    close_handle(im, (uv_handle_t *)&im->err);
    close_handle(im, (uv_handle_t *)&im->proc);
    im->open_handles--;
}

/* ---- death ---- */

void mlos__shard_fail(struct mlos_shard_impl *im, int err, const char *fmt, ...)
{
    va_list ap;
    im->fenced = 1; /* once condemned, no more frames are accepted */
    if (im->death_err)
        return; /* keep the first cause */
    im->death_err = err;
    va_start(ap, fmt);
    vsnprintf(im->death_msg, sizeof(im->death_msg), fmt, ap);
    va_end(ap);
    if (im->rops && im->rops->fence)
        im->rops->fence(im); /* the agent kills it on its node */
    else if (im->proc_running)
        uv_process_kill(&im->proc, SIGKILL);
}

static void exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    struct mlos_shard_impl *im = p->data;
    enum shard_state was = im->state;
    char last[200];

    im->proc_running = 0;
    im->shard->pid = 0;
    mlos__registry_state(im->shard, "dead"); /* registry: host process gone */
    uv_timer_stop(&im->timer);
    mlos__drain(im); /* replies that made it out before the exit */
    if (im->state == SHARD_CLOSING)
        return; /* a reply callback already released the shard */
    if (im->line_len)
        console_line(im);
    last_line(im, last, sizeof(last));
    if (!im->death_err) {
        char how[96];
        if (term_signal)
            snprintf(how, sizeof(how), "was killed by signal %d", term_signal);
        else
            im->kind->describe_exit(status, im->map, im->map_len, how, sizeof(how));
        im->death_err = was == SHARD_STARTING ? MLOS_ESPAWN : MLOS_ESHARDDIED;
        snprintf(im->death_msg, sizeof(im->death_msg), "shard %u %s%s%s", im->shard->id, how,
                 last[0] ? "; console: " : "", last);
    }
    if (was == SHARD_STARTING || was == SHARD_READY) {
        if (im->console_len && !im->on_console && was == SHARD_READY && !getenv("MLOS_QUIET"))
            fprintf(stderr, "mlos: %s\n--- console of shard %u ---\n%s--- end ---\n", im->death_msg,
                    im->shard->id, im->console);
    }
    if (was == SHARD_READY) /* its group peers must stop waiting for it */
        mlos__group_shard_down(im, im->fenced ? MLOS_GROUP_DOWN_FENCED : MLOS_GROUP_DOWN_DIED);
    mlos__fail_calls(im, im->death_err, im->death_msg);
    mlos__shard_ep_gone(im);
    if (im->state == SHARD_CLOSING)
        return; /* a failed call's callback released the shard */
    if (was == SHARD_STARTING) {
        im->state = SHARD_DEAD;
        im->spawn_cb(im->shard, im->death_err);
    } else if (im->state == SHARD_STOPPING) {
        release(im);
    } else {
        im->state = SHARD_DEAD;
        if (was == SHARD_READY && im->on_dead) /* tell the pool (may stop the shard) */
            im->on_dead(im->shard);
    }
}

/* Until HELLO the timer ticks every STARTUP_CHECK_MS: a shard whose
 * process is stopped (SIGSTOP) on two ticks in a row cannot boot, and is
 * failed then rather than at the HELLO timeout, so that a pool replaces it
 * at once. */
#define STARTUP_CHECK_MS 200

static void timer_cb(uv_timer_t *t)
{
    struct mlos_shard_impl *im = t->data;
    if (im->state == SHARD_STARTING) {
        if (uv_now(im->loop) >= im->hello_deadline_ms)
            mlos__shard_fail(im, MLOS_ESPAWN, "shard %u sent no HELLO in time (timeout)", im->shard->id);
        else if (!mlos__proc_stopped(im->shard->pid))
            im->stopped_ticks = 0;
        else if (++im->stopped_ticks >= 2)
            mlos__shard_fail(im, MLOS_ESPAWN, "shard %u's process %d is stopped: no HELLO", im->shard->id,
                             im->shard->pid);
    } else if (im->proc_running)
        uv_process_kill(&im->proc, SIGKILL); /* STOP grace period over */
}

static void bell_cb(uv_poll_t *h, int status, int events)
{
    struct mlos_shard_impl *im = h->data;
    char buf[256];
    ssize_t n;

    while ((n = recv(im->bell_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        ;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || status < 0)
        uv_poll_stop(h); /* peer closed: the exit callback follows */
    mlos__drain(im);
}

/* ---- spawn ---- */

struct launch {
    char image[1024], launcher[1024], env_args[600];
    char *argv[64];
    char strbuf[4096];
};

/* MLOS_BOOT_TRACE=1: shards print where their boot time went (hal.h,
 * mlos_hal_boot_report) as a console line after HELLO. */
static int boot_trace_wanted(void)
{
    const char *v = getenv("MLOS_BOOT_TRACE");
    return v && *v && strcmp(v, "0");
}

/* mlos-launch, then the kind's command line (kinds/kind.h). */
static int build_argv(struct mlos_shard_impl *im, const struct mlos_spawn_opts *o, struct launch *L,
                      size_t ram_bytes, size_t win_off, size_t win_len, size_t mem_bytes)
{
    if (mlos_image_find("mlos-launch", L->launcher, sizeof(L->launcher)) < 0)
        return MLOS_ENOENT;
    L->argv[0] = L->launcher;
    struct mlos_kind_spawn ks = {
        .opts = o,
        .shard_id = im->shard->id,
        .image = L->image,
        .ram_bytes = ram_bytes,
        .win_off = win_off,
        .win_len = win_len,
        .mem_bytes = mem_bytes,
        .ram_fd = CHILD_MEM_FD,
        .doorbell_fd = CHILD_BELL_FD,
        .mem_max_bytes = (size_t)im->mem_max,
        .cores = o->cores,
        .group_bytes = o->group_mem ? mlos__group_mem_bytes(o->group_mem) : 0,
        .group_fd = CHILD_GROUP_FD,
        .boot_trace = boot_trace_wanted(),
    };
    struct mlos_kind_cmd cmd = {
        .argv = L->argv + 1,
        .max_args = (int)(sizeof(L->argv) / sizeof(L->argv[0])) - 2,
        .buf = L->strbuf,
        .buflen = sizeof(L->strbuf),
        .env = L->env_args,
        .envlen = sizeof(L->env_args),
    };
    return im->kind->command(&ks, &cmd);
}

static int setup_memory(struct mlos_shard_impl *im, size_t mem_size, size_t win_off, size_t win_len, uint32_t ring)
{
    char name[32];
    snprintf(name, sizeof(name), "mlos-shard-%u", im->shard->id);
    /* The shard (QEMU or a process) keeps this descriptor: sealed, it can
     * no longer shrink the memory under our mapping (a SIGBUS here would
     * take every shard of this master with it), nor grow it, nor change
     * the seals. */
    im->mem_fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (im->mem_fd < 0 || ftruncate(im->mem_fd, (off_t)mem_size) < 0 ||
        fcntl(im->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return MLOS_EIO;
    im->map = mmap(NULL, win_len, PROT_READ | PROT_WRITE, MAP_SHARED, im->mem_fd, (off_t)win_off);
    if (im->map == MAP_FAILED) {
        im->map = NULL;
        return MLOS_ENOMEM;
    }
    im->map_len = win_len;
    /* Frames from the shard are decoded from a private copy (ring.h). */
    if (!(im->rx_shadow = malloc(ring / 2)))
        return MLOS_ENOMEM;
    if (mlos_window_format(im->map, win_len, ring, im->shard->id) < 0)
        return MLOS_EINVAL;
    struct mlos_window_hdr *h = im->map;
    if (mlos_ring_attach(&im->to_shard, (uint8_t *)im->map + mlos_from_le64(h->to_shard_off),
                         win_len - mlos_from_le64(h->to_shard_off)) < 0 ||
        mlos_ring_attach(&im->to_master, (uint8_t *)im->map + mlos_from_le64(h->to_master_off),
                         win_len - mlos_from_le64(h->to_master_off)) < 0)
        return MLOS_EINVAL;
    /* The master always wants a doorbell for new frames: it sleeps in libuv. */
    im->to_master.ctl->waiting = mlos_to_le32(1);
    mlos_ring_set_shadow(&im->to_master, im->rx_shadow);
    im->bulk_rkey = mlos__shard_new_rkey();
    im->bulk = (uint8_t *)im->map + mlos_from_le64(h->bulk_off);
    im->bulk_len = mlos_from_le64(h->bulk_size);
    return 0;
}

static void free_early(struct mlos_shard_impl *im, int *fds)
{
    if (im->map)
        munmap(im->map, im->map_len);
    if (im->mem_fd >= 0)
        close(im->mem_fd);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(im->rx_shadow);
    free(im);
}

/* QMP output (greeting, replies, events) is read and dropped: the HELLO
 * timeout, started at resume, is what judges whether the guest runs. */
static void qmp_cb(uv_poll_t *h, int status, int events)
{
    struct mlos_shard_impl *im = h->data;
    char buf[512];
    ssize_t n;

    while ((n = recv(im->qmp_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        ;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || status < 0)
        uv_poll_stop(h);
}

/* QEMU's own options for a paused start: no vCPU runs (-S) until QMP
 * says "cont" on the socket at CHILD_QMP_FD. */
static int add_paused_args(char **argv, int cap)
{
#define FD_STR_(n) #n
#define FD_STR(n) FD_STR_(n)
    static char *const extra[] = {"-S", "-chardev", "socket,id=qmp,fd=" FD_STR(CHILD_QMP_FD), "-mon",
                                  "chardev=qmp,mode=control"};
    int argc = 0;

    while (argv[argc])
        argc++;
    if (argc + (int)(sizeof(extra) / sizeof(extra[0])) >= cap)
        return MLOS_EINVAL;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    return 0;
}

/* The HELLO deadline, checked every STARTUP_CHECK_MS (a stopped process is
 * noticed before it: timer_cb). */
static void start_hello_clock(struct mlos_shard_impl *im)
{
    unsigned ms = im->hello_timeout_ms;
    im->hello_deadline_ms = uv_now(im->loop) + ms;
    uv_timer_start(&im->timer, timer_cb, ms < STARTUP_CHECK_MS ? ms : STARTUP_CHECK_MS, STARTUP_CHECK_MS);
}

int mlos_spawn(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb)
{
    return mlos__spawn(loop, shard, opts, cb, 0);
}

int mlos__spawn(uv_loop_t *loop, mlos_shard_t *shard, const struct mlos_spawn_opts *opts, mlos_spawn_cb cb, int paused)
{
    static const struct mlos_spawn_opts defaults;
    const struct mlos_spawn_opts *o = opts ? opts : &defaults;
    const char *arch = o->arch ? o->arch : "x86_64";
    const struct mlos_kind *kind;
    size_t mem = o->mem_bytes ? o->mem_bytes : 64 * MiB;
    size_t mem_max = o->mem_max_bytes, mem_ram; /* mem_ram: what the RAM is sized for */
    size_t bulk = o->bulk_bytes ? o->bulk_bytes : 16 * MiB;
    uint32_t ring = o->ring_bytes ? o->ring_bytes : 1 * MiB;
    size_t win_len, ram, win_off;
    int fds[2] = {-1, -1}, qfds[2] = {-1, -1}, rc;
    char why[128];
    struct mlos_shard_impl *im;
    struct launch *L;

    if (!shard)
        return MLOS_EINVAL;
    /* Cleared before any check: a refused spawn leaves a struct that
     * mlos_shard_stop turns away (MLOS_EINVAL), never stale pointers. */
    void *user = shard->data;
    memset(shard, 0, sizeof(*shard));
    shard->data = user;
    if (!loop || !cb || (ring & (ring - 1)) || ring < 4096)
        return MLOS_EINVAL;
    if (!(kind = mlos__kind_lookup(arch, why, sizeof(why)))) {
        if (!getenv("MLOS_QUIET"))
            fprintf(stderr, "mlos: spawn refused: %s\n", why);
        return MLOS_EINVAL;
    }
    if (mem_max && (mem_max < mem || mem_max % 4096 || mem % 4096))
        return MLOS_EINVAL; /* an elastic range must hold the start size, in whole pages */
    if (o->cores > kind->max_cores) {
        if (kind->max_cores == 1) {
            if (!getenv("MLOS_QUIET"))
                fprintf(stderr, "mlos: a %s shard has one core (%s); %u cores need an x86_64 shard\n", kind->name,
                        kind->one_core_why, o->cores);
            return MLOS_ENOTSUP;
        }
        return MLOS_EINVAL;
    }
    if (paused && !kind->can_pause)
        return MLOS_EINVAL; /* e.g. a process shard: no QEMU to hold */
    mem_ram = mem_max ? mem_max : mem;
    if (o->group_mem && mlos__group_mem_fd(o->group_mem) < 0)
        return MLOS_EINVAL; /* not initialised, or closed */
    shard->id = mlos__next_shard_id();
    if (!(im = calloc(1, sizeof(*im))) || !(L = calloc(1, sizeof(*L)))) {
        free(im);
        return MLOS_ENOMEM;
    }
    im->loop = loop;
    im->shard = shard;
    im->mem_fd = im->bell_fd = -1;
    im->kind = kind;
    im->spawn_cb = cb;
    im->on_console = o->on_console;
    im->group_mem = o->group_mem;
    im->next_id = 1;
    im->t_spawn = uv_hrtime();
    im->mem_max = mem_max;
    im->cores_asked = o->cores > 1 ? o->cores : 1;

    win_len = mlos_window_size(ring, bulk);
    if (kind->layout(mem_ram, win_len, &ram, &win_off) < 0) {
        free(L);
        free(im);
        return MLOS_EINVAL;
    }
    /* what a shrink may punch: the allocator's part, never the window (kind.h) */
    im->give_lo = win_off ? kind->low_reserved : win_len;
    im->give_hi = win_off ? win_off : ram;
    rc = mlos_image_find(o->image ? o->image : kind->default_image, L->image, sizeof(L->image));
    if (rc == 0)
        rc = mlos__spawn_check_image(L->image, kind->name); /* image_check.h: wrong arch or ABI fails before anything starts */
    if (rc == 0)
        rc = setup_memory(im, ram, win_off, win_len, ring);
    if (rc == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        rc = MLOS_EIO;
    if (rc == 0)
        rc = build_argv(im, o, L, ram, win_off, win_len, mem);
    if (rc == 0 && paused && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qfds) < 0)
        rc = MLOS_EIO;
    if (rc == 0 && paused)
        rc = add_paused_args(L->argv, (int)(sizeof(L->argv) / sizeof(L->argv[0])));
    if (rc < 0) {
        free(L);
        for (int i = 0; i < 2; i++)
            if (qfds[i] >= 0)
                close(qfds[i]);
        free_early(im, fds);
        return rc;
    }
    im->bell_fd = fds[0];
    im->qmp_fd = qfds[0];
    im->paused = paused;

    uv_stdio_container_t stdio[7];
    uv_process_options_t po;
    /* Process shards get their args and what they need, not the master's whole environment (shard_env.c). */
    char **env = mlos__shard_env(L->env_args);
    if (!env) {
        free(L);
        free_early(im, fds);
        return MLOS_ENOMEM;
    }
    memset(&po, 0, sizeof(po));
    uv_pipe_init(loop, &im->out, 0);
    uv_pipe_init(loop, &im->err, 0);
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&im->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&im->err;
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = fds[1];
    stdio[4].flags = UV_INHERIT_FD;
    stdio[4].data.fd = im->mem_fd;
    stdio[5].flags = UV_INHERIT_FD;
    stdio[5].data.fd = o->group_mem ? mlos__group_mem_fd(o->group_mem) : -1;
    if (stdio[5].data.fd < 0)
        stdio[5].flags = UV_IGNORE; /* a paused spawn without group memory still passes fd 6 */
    stdio[6].flags = UV_INHERIT_FD;
    stdio[6].data.fd = qfds[1];
    po.file = L->argv[0];
    po.args = L->argv;
    po.env = kind->own_env ? env : NULL;
    po.stdio = stdio;
    po.stdio_count = paused ? 7 : o->group_mem ? 6 : 5;
    po.exit_cb = exit_cb;
    im->proc.data = im;
    rc = uv_spawn(loop, &im->proc, &po);
    close(fds[1]);
    if (qfds[1] >= 0)
        close(qfds[1]);
    free(env);
    free(L);
    im->out.data = im->err.data = im;
    uv_timer_init(loop, &im->timer);
    im->timer.data = im;
    mlos__hb_init(im);
    uv_idle_init(loop, &im->spin);
    im->spin.data = im;
    im->spin_ns = (uint64_t)o->spin_us * 1000;
    uv_poll_init_socket(loop, &im->bell, im->bell_fd);
    im->bell.data = im;
    if (im->qmp_fd >= 0) {
        uv_poll_init_socket(loop, &im->qmp, im->qmp_fd);
        im->qmp.data = im;
    }
    im->hello_timeout_ms = o->hello_timeout_ms ? o->hello_timeout_ms : 10000;
    shard->impl = im;
    if (rc < 0) {
        /* Nothing runs: close the handles we opened, then report. */
        im->close_cb = NULL;
        im->death_err = MLOS_ESPAWN;
        release(im);
        return MLOS_ESPAWN;
    }
    im->proc_running = 1;
    shard->pid = im->proc.pid;
    im->state = SHARD_STARTING;
    int served = mlos__control_add(im);                     /* mlos stop reaches it (control.c) */
    mlos__registry_started(shard, kind->name, mem, served); /* registry: spawn started */
    uv_read_start((uv_stream_t *)&im->out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&im->err, alloc_cb, read_cb);
    uv_poll_start(&im->bell, UV_READABLE, bell_cb);
    if (im->qmp_fd >= 0) {
        /* Negotiate now, so that the resume is one command QEMU runs at
         * once. A fresh socket has room for these few bytes; QEMU reads
         * them when its main loop runs. */
        static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
        if (send(im->qmp_fd, caps, sizeof(caps) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(caps) - 1)
            mlos__shard_fail(im, MLOS_ESPAWN, "shard %u: cannot reach its paused QEMU: %s", shard->id, strerror(errno));
        uv_poll_start(&im->qmp, UV_READABLE, qmp_cb);
    }
    if (!paused) /* a paused shard's HELLO clock starts at resume */
        start_hello_clock(im);
    if (o->prefault_bulk && im->bulk && im->bulk_len) {
        im->populate_req.data = im;
        im->populating = uv_queue_work(loop, &im->populate_req, populate_work, populate_done) == 0;
    }
    return 0;
}

int mlos__shard_resume(mlos_shard_t *shard)
{
    static const char cmds[] = "{\"execute\":\"cont\"}\n";
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;

    if (!im || !im->paused || im->state != SHARD_STARTING || !im->proc_running)
        return MLOS_EINVAL;
    im->paused = 0;
    im->t_spawn = uv_hrtime(); /* spawn_ns: resume -> HELLO */
    start_hello_clock(im);
    if (send(im->qmp_fd, cmds, sizeof(cmds) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(cmds) - 1) {
        mlos__shard_fail(im, MLOS_ESPAWN, "shard %u: cannot resume its paused QEMU: %s", shard->id, strerror(errno));
        return MLOS_ESPAWN;
    }
    return 0;
}

/* Called by call.c when HELLO arrives. */
void mlos__shard_ready(struct mlos_shard_impl *im)
{
    uv_timer_stop(&im->timer);
    im->state = SHARD_READY;
    im->shard->spawn_ns = uv_hrtime() - im->t_spawn;
    mlos__registry_state(im->shard, "ready"); /* registry: shard said HELLO */
    mlos__hb_ready(im); /* heartbeats, if enabled */
    im->spawn_cb(im->shard, 0);
}

int mlos_shard_stop(mlos_shard_t *shard, mlos_close_cb cb)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (!im || im->state == SHARD_STOPPING || im->state == SHARD_CLOSING)
        return MLOS_EINVAL;
    im->close_cb = cb;
    mlos__group_shard_down(im, MLOS_GROUP_DOWN_LEFT);
    if (im->rops)
        return mlos__remote_stop(im);
    mlos__fail_calls(im, MLOS_ESTOPPED, "shard is stopping");
    mlos__shard_ep_gone(im);
    if (!im->proc_running) {
        release(im);
        return 0;
    }
    if (im->state == SHARD_READY) {
        Mlos__Stop msg = MLOS__STOP__INIT;
        uint8_t stop[16];
        size_t n = mlos__stop__pack(&msg, stop);
        if (mlos_ring_push(&im->to_shard, MLOS_FRAME_STOP, 0, stop, (uint32_t)n) == 0)
            mlos__ring_shard(im);
        else
            uv_process_kill(&im->proc, SIGKILL);
    } else {
        uv_process_kill(&im->proc, SIGKILL);
    }
    im->state = SHARD_STOPPING;
    uv_timer_start(&im->timer, timer_cb, MLOS_STOP_GRACE_MS, 0);
    return 0;
}

int mlos_shard_alive(const mlos_shard_t *shard)
{
    return shard && shard->impl && shard->impl->state == SHARD_READY &&
           (shard->impl->proc_running || (shard->impl->rops && !shard->impl->fenced));
}

const char *mlos_shard_console_tail(const mlos_shard_t *shard)
{
    return shard && shard->impl ? shard->impl->console : "";
}

void *mlos_shard_bulk(mlos_shard_t *shard, size_t *len)
{
    struct mlos_shard_impl *im = shard ? shard->impl : NULL;
    if (len)
        *len = im ? im->bulk_len : 0;
    return im ? im->bulk : NULL;
}
