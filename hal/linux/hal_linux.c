/* The process HAL: a Linux process on a caller-owned libuv loop. */
#define _GNU_SOURCE
#include "hal_linux.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hal.h"
#include "mlos_error.h"
#include "mlos_exit.h"

static struct {
    uv_loop_t *loop;
    uv_poll_t bell;
    uv_timer_t timer;
    int bell_fd;
    int rang;
    void *window;
    size_t window_len;
    void *arena;
    size_t arena_len;
    int64_t arena_off; /* in the master's memory file, -1: private memory */
    void *group;
    size_t group_len;
    const char *cmdline;
    uint64_t t0;
} H = {.bell_fd = -1, .arena_off = -1};

int mlos_cmdline_get(const char *cmdline, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = cmdline; p && *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
            size_t v = n - klen - 1;
            if (v >= cap)
                return MLOS_ETOOBIG;
            memcpy(out, p + klen + 1, v);
            out[v] = 0;
            return (int)v;
        }
        p += n;
    }
    return MLOS_ENOENT;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mlos_hal_console_write(const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(2, buf, len);
        if (n <= 0 && errno != EINTR)
            return;
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        }
    }
}

uint64_t mlos_hal_now_ns(void) { return mono_ns() - H.t0; }
/* Boot trace (hal.h): nanoseconds since HAL init; the first mark is there. */
#define MAX_BOOT_MARKS 24
static struct {
    const char *what;
    uint64_t ns;
} boot_marks[MAX_BOOT_MARKS];
static unsigned n_boot_marks;

void mlos_hal_boot_mark(const char *what)
{
    if (n_boot_marks < MAX_BOOT_MARKS) {
        boot_marks[n_boot_marks].what = what;
        boot_marks[n_boot_marks++].ns = mono_ns() - H.t0;
    }
}

void mlos_hal_boot_report(void)
{
    static int reported;
    char v[8], line[640];
    int n;

    if (reported || !n_boot_marks || mlos_cmdline_get(mlos_hal_cmdline(), "mlos.boot_trace", v, sizeof(v)) <= 0 ||
        !strcmp(v, "0"))
        return;
    reported = 1;
    n = snprintf(line, sizeof(line), "mlos: boot trace (us): counter at %s %.1f", boot_marks[0].what,
                 boot_marks[0].ns / 1e3);
    for (unsigned i = 1; i < n_boot_marks && n < (int)sizeof(line); i++)
        n += snprintf(line + n, sizeof(line) - (size_t)n, ", %s +%.1f", boot_marks[i].what,
                      (boot_marks[i].ns - boot_marks[i - 1].ns) / 1e3);
    if (n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, ", total %.1f\n",
                      (boot_marks[n_boot_marks - 1].ns - boot_marks[0].ns) / 1e3);
    if (n >= (int)sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    mlos_hal_console_write(line, (size_t)n);
}


uint64_t mlos_hal_cycles(void)
{
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return mono_ns();
#endif
}

uint64_t mlos_hal_cycles_hz(void)
{
#if defined(__x86_64__)
    return 0; /* unknown without calibration; benchmarks use mlos_hal_now_ns */
#else
    return 1000000000u;
#endif
}

int mlos_hal_mem_regions(struct mlos_hal_region *out, int max)
{
    if (!H.arena)
        return 0;
    if (max > 0) {
        out[0].base = (uintptr_t)H.arena;
        out[0].len = H.arena_len;
    }
    return 1;
}

int mlos_hal_param_u64(const char *key, int index, uint64_t *out)
{
    char v[64], *p = v, *end;
    if (mlos_cmdline_get(H.cmdline, key, v, sizeof(v)) <= 0)
        return MLOS_ENOENT;
    for (; index > 0 && *p; p++) /* past the index-th comma */
        index -= *p == ',';
    if (index > 0 || *p < '0' || *p > '9')
        return MLOS_ENOENT;
    errno = 0;
    unsigned long long n = strtoull(p, &end, 0);
    if (errno || (*end && *end != ','))
        return MLOS_ENOENT;
    *out = n;
    return 0;
}

/* The arena is mapped at start-up: its regions cost nothing to ask. */
int mlos_hal_mem_budget(size_t *bytes)
{
    (void)bytes;
    return MLOS_ENOENT;
}

void mlos_hal_boot_finish(void) {}

int mlos_hal_mem_offset(uintptr_t addr, uint64_t *off)
{
    if (H.arena_off < 0)
        return MLOS_ENOTSUP;
    if (!H.arena || addr < (uintptr_t)H.arena || addr - (uintptr_t)H.arena >= H.arena_len)
        return MLOS_ERANGE;
    *off = (uint64_t)H.arena_off + (addr - (uintptr_t)H.arena);
    return 0;
}

const char *mlos_hal_cmdline(void) { return H.cmdline ? H.cmdline : ""; }

int mlos_hal_window(void **base, size_t *len)
{
    if (!H.window)
        return MLOS_ENOENT;
    *base = H.window;
    *len = H.window_len;
    return 0;
}

void mlos_hal_doorbell_ring(void)
{
    char b = 1;
    if (H.bell_fd >= 0)
        (void)send(H.bell_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void bell_cb(uv_poll_t *h, int status, int events)
{
    char buf[256];
    ssize_t n;
    while ((n = recv(H.bell_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
        H.rang = 1;
    if (n == 0 || status < 0) {
        /* The master is gone: nobody will ever call us again. */
        static const char msg[] = "mlos process shard: master closed the doorbell, exiting\n";
        mlos_hal_console_write(msg, sizeof(msg) - 1);
        mlos_hal_exit(MLOS_SHARD_EXIT_PROTO);
    }
}

/* uv_run(ONCE) runs due timers before it polls; a deadline that expires
 * right there would leave the poll without a timeout. Stopping the loop
 * makes that poll return at once. */
static void timer_cb(uv_timer_t *t) { uv_stop(t->loop); }

int mlos_hal_wait(uint64_t deadline_ns)
{
    if (!H.loop)
        return 0;
    if (!H.rang) {
        uint64_t now = mlos_hal_now_ns();
        if (deadline_ns <= now)
            return 0;
        uv_update_time(H.loop); /* the timer counts from the loop's cached time */
        if (deadline_ns != UINT64_MAX)
            uv_timer_start(&H.timer, timer_cb, (deadline_ns - now + 999999) / 1000000, 0);
        uv_run(H.loop, UV_RUN_ONCE);
        uv_timer_stop(&H.timer);
    }
    if (H.rang) {
        H.rang = 0;
        return 1;
    }
    return 0;
}

_Noreturn void mlos_hal_exit(int status)
{
    if (H.window)
        munmap(H.window, H.window_len);
    if (H.arena)
        munmap(H.arena, H.arena_len);
    _exit(status & 0xff);
}

const char *mlos_hal_arch(void) { return "process"; }

/* One core: the library OS of a process shard is single-threaded. */
unsigned mlos_hal_core_count(void) { return 1; }
unsigned mlos_hal_core_self(void) { return 0; }
int mlos_hal_core_run(unsigned core, void (*fn)(void *), void *arg) { return MLOS_ENOTSUP; }

void mlos_hal_tlb_refresh(void) {} /* the host kernel's business */
void mlos_hal_task_begin(void) {}
void mlos_hal_task_end(void) {}

void mlos_hal_relax(void) { sched_yield(); }

/* Map key=OFFSET,SIZE of the memory file fd (the window, the group memory
 * or the allocator's arena) into *out, checked to lie inside the file;
 * *out_off (if given) gets OFFSET. Returns 1 if mapped, 0 if the key is
 * absent (not an error), else a negative MLOS_E*. */
static int map_shared(const char *cmdline, const char *key, int fd, void **out, size_t *out_len, uint64_t *out_off)
{
    char v[64];
    unsigned long long off, len;
    if (mlos_cmdline_get(cmdline, key, v, sizeof(v)) < 0 || fd < 0)
        return 0; /* none: allowed (mlos_hal_window / mlos_hal_group_mem say ENOENT) */
    if (sscanf(v, "%llx,%llx", &off, &len) != 2 || (off & 4095) || (len & 4095) || !len) {
        fprintf(stderr, "mlos: bad %s=%s\n", key, v);
        return MLOS_EINVAL;
    }
    /* A mapping past the end of the memfd would fault on first touch. */
    struct stat st;
    if (fstat(fd, &st) < 0 || (unsigned long long)st.st_size < off || (unsigned long long)st.st_size - off < len) {
        fprintf(stderr, "mlos: %s 0x%llx+0x%llx is not inside its memory descriptor\n", key, off, len);
        return MLOS_EINVAL;
    }
    /* NORESERVE: an elastic arena is mostly holes until its pages are used */
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, (off_t)off);
    if (m == MAP_FAILED) {
        fprintf(stderr, "mlos: cannot map %s: %s\n", key, strerror(errno));
        return MLOS_EIO;
    }
    *out = m;
    *out_len = len;
    if (out_off)
        *out_off = off;
    return 1;
}

int mlos_hal_group_mem(void **base, size_t *len)
{
    if (!H.group)
        return MLOS_ENOENT;
    *base = H.group;
    *len = H.group_len;
    return 0;
}

int mlos_hal_linux_init(uv_loop_t *loop, const struct mlos_hal_linux_cfg *cfg)
{
    char v[32];
    int rc;

    H.t0 = mono_ns();
    mlos_hal_boot_mark("entry");
    H.loop = loop;
    H.cmdline = cfg->cmdline ? cfg->cmdline : getenv("MLOS_SHARD_ARGS");
    if (!H.cmdline)
        H.cmdline = "";
    /* mlos.arena=OFF,LEN: the allocator's memory is that part of the
     * master's memory file, so that the master can punch out what the
     * shard gives back and the host really gets it */
    uint64_t arena_off;
    if ((rc = map_shared(H.cmdline, "mlos.arena", cfg->window_fd, &H.arena, &H.arena_len, &arena_off)) < 0)
        return rc;
    if (rc)
        H.arena_off = (int64_t)arena_off;
    else { /* private memory: mlos.mem_max (elastic), else mlos.mem */
        H.arena_len = cfg->mem_bytes;
        if (!H.arena_len && mlos_cmdline_get(H.cmdline, "mlos.mem_max", v, sizeof(v)) > 0)
            H.arena_len = strtoull(v, NULL, 0);
        if (!H.arena_len)
            H.arena_len = mlos_cmdline_get(H.cmdline, "mlos.mem", v, sizeof(v)) > 0 ? strtoull(v, NULL, 0)
                                                                                     : 64u << 20;
        H.arena_len = (H.arena_len + MLOS_HAL_PAGE_SIZE - 1) & ~(size_t)(MLOS_HAL_PAGE_SIZE - 1);
        H.arena = mmap(NULL, H.arena_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (H.arena == MAP_FAILED) {
            H.arena = NULL;
            return MLOS_ENOMEM;
        }
    }
    if ((rc = map_shared(H.cmdline, "mlos.window", cfg->window_fd, &H.window, &H.window_len, NULL)) < 0)
        return rc;
    if (cfg->window_fd >= 0)
        close(cfg->window_fd); /* the mapping keeps the memory */
    if ((rc = map_shared(H.cmdline, "mlos.group", cfg->group_fd > 0 ? cfg->group_fd : -1, &H.group, &H.group_len, NULL)) < 0)
        return rc;
    if (cfg->group_fd > 0)
        close(cfg->group_fd);
    uv_timer_init(loop, &H.timer);
    if (cfg->doorbell_fd >= 0) {
        H.bell_fd = cfg->doorbell_fd;
        if ((rc = uv_poll_init_socket(loop, &H.bell, H.bell_fd)) < 0) {
            fprintf(stderr, "mlos: doorbell fd %d: %s\n", H.bell_fd, uv_strerror(rc));
            return MLOS_EIO;
        }
        uv_poll_start(&H.bell, UV_READABLE, bell_cb);
    }
    return 0;
}
