/* End-to-end tests of the master against real shards.
 *   test_shard ARCH CASE      ARCH: x86_64 | ppc | process
 *                             CASE: basic | crash | many | errors | orphan | boottrace
 * Each case spawns real shards (QEMU under TCG for x86_64), checks results
 * and checks that nothing is left behind: child processes and descriptors. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "uvwarm.h"
#include "mlos.h"
#include "mlos_endian.h"

static const char *arch;
static uv_loop_t *loop;


static int spawn(mlos_shard_t *s)
{
    struct mlos_spawn_opts o = {.arch = arch};
    int rc = mlos_spawn_sync(loop, s, &o);
    if (rc < 0)
        fprintf(stderr, "spawn failed: %s\n%s\n", mlos_strerror(rc), mlos_shard_console_tail(s));
    return rc;
}

static int has_task(mlos_shard_t *s, const char *name)
{
    for (size_t i = 0; i < s->ntasks; i++)
        if (!strcmp(s->tasks[i], name))
            return 1;
    return 0;
}

/* ---- pipelined async calls ---- */
#define PIPELINED 2000
static int pipelined_done, pipelined_bad;
static mlos_call_t calls[PIPELINED];

static void echo_cb(mlos_call_t *req, int status)
{
    uint32_t i = (uint32_t)(uintptr_t)req->data, got = 0;
    if (status == 0 && req->result_len == 1000)
        memcpy(&got, req->result, 4);
    if (status != 0 || got != i)
        pipelined_bad++;
    pipelined_done++;
}

static void case_basic(void)
{
    int fds0 = count_fds(), pid, rc;
    mlos_shard_t s;
    uint8_t arg[16], big[1000];
    void *res;
    size_t len;
    char err[256];

    CHECK_EQ(spawn(&s), 0);
    CHECK(!strcmp(s.arch, arch));
    CHECK(has_task(&s, "sum_u64") && has_task(&s, "echo") && has_task(&s, "crash"));
    CHECK(s.mem_bytes >= (32u << 20));
    CHECK(mlos_shard_alive(&s));
    pid = s.pid;
    CHECK(pid_alive(pid));

    /* put a buffer, sum it on the shard */
    size_t n = 100000;
    uint64_t *vals = malloc(n * 8), expect = 0;
    for (size_t i = 0; i < n; i++)
        expect += vals[i] = i * 0x9E3779B97F4A7C15ull;
    CHECK_EQ(mlos_put(&s, 4096, vals, n * 8), 0);
    mlos_put_le64(arg, 4096);
    mlos_put_le64(arg + 8, n * 8);
    rc = mlos_call_sync(&s, "sum_u64", arg, 16, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, 0);
    CHECK(rc == 0 && len == 8 && mlos_get_le64(res) == expect);
    if (rc == 0)
        free(res);
    free(vals);

    /* get returns what the shard sees */
    uint64_t back = 0;
    CHECK_EQ(mlos_get(&s, 4096 + 8, &back, 8), 0);
    CHECK(back == 0x9E3779B97F4A7C15ull);

    /* bounds: put/get outside the window, task range outside the window */
    size_t bulk_len;
    CHECK(mlos_shard_bulk(&s, &bulk_len) != NULL);
    CHECK_EQ(mlos_put(&s, bulk_len - 4, arg, 8), MLOS_ERANGE);
    CHECK_EQ(mlos_get(&s, SIZE_MAX - 2, &back, 8), MLOS_ERANGE);
    mlos_put_le64(arg + 8, bulk_len);
    rc = mlos_call_sync(&s, "sum_u64", arg, 16, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, MLOS_ERANGE);
    CHECK(strstr(err, "bulk window") != NULL);

    /* task errors travel with their explanation */
    rc = mlos_call_sync(&s, "fail", "disk on fire", 12, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, MLOS_ETASK);
    CHECK(strstr(err, "asked to fail: disk on fire") != NULL);
    rc = mlos_call_sync(&s, "no_such_task", NULL, 0, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, MLOS_ENOTASK);
    CHECK(strstr(err, "no_such_task") != NULL);
    rc = mlos_call_sync(&s, "sum_u64", "short", 5, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, MLOS_EINVAL);

    /* an argument larger than half the ring is refused up front */
    char *huge = calloc(1, 1 << 20);
    mlos_call_t req;
    CHECK_EQ(mlos_call(&s, &req, "echo", huge, 1 << 20, echo_cb), MLOS_ETOOBIG);
    /* a large one that fits comes back intact */
    for (int i = 0; i < (1 << 18); i++)
        huge[i] = (char)(i * 31);
    rc = mlos_call_sync(&s, "echo", huge, 1 << 18, &res, &len, err, sizeof(err));
    CHECK(rc == 0 && len == (1 << 18) && memcmp(res, huge, len) == 0);
    if (rc == 0)
        free(res);
    free(huge);

    /* many calls in flight: more than the ring holds, all answered in order */
    for (uint32_t i = 0; i < PIPELINED; i++) {
        memset(big, (int)i, sizeof(big));
        memcpy(big, &i, 4);
        calls[i].data = (void *)(uintptr_t)i;
        CHECK_EQ(mlos_call(&s, &calls[i], "echo", big, sizeof(big), echo_cb), 0);
    }
    while (pipelined_done < PIPELINED)
        uv_run(loop, UV_RUN_ONCE);
    CHECK_EQ(pipelined_bad, 0);

    mlos_shard_stop_sync(&s);
    CHECK(s.impl == NULL);
    CHECK(!pid_alive(pid));
    CHECK_EQ(count_fds(), fds0);
}

static void case_crash(void)
{
    int fds0 = count_fds(), pid, rc;
    mlos_shard_t s;
    void *res;
    size_t len;
    char err[512];

    setenv("MLOS_QUIET", "1", 1);
    CHECK_EQ(spawn(&s), 0);
    pid = s.pid;
    rc = mlos_call_sync(&s, "crash", NULL, 0, &res, &len, err, sizeof(err));
    CHECK_EQ(rc, MLOS_ESHARDDIED);
    fprintf(stderr, "crash reported as: %s\n", err);
    if (!strcmp(arch, "x86_64")) {
        CHECK(strstr(err, "crashed") != NULL);
        CHECK(strstr(err, "#PF") != NULL); /* the exception line, not the register dump */
        CHECK(strstr(mlos_shard_console_tail(&s), "page fault") != NULL);
        CHECK(strstr(mlos_shard_console_tail(&s), "0x00000dead0000000") != NULL ||
              strstr(mlos_shard_console_tail(&s), "dead0000000") != NULL);
    } else if (!strcmp(arch, "ppc")) { /* status 99 read from the window; 32-bit: 0xdead0000000 -> 0xd0000000 */
        CHECK(strstr(err, "crashed") != NULL);
        CHECK(strstr(err, "data TLB miss") != NULL);
        CHECK(strstr(mlos_shard_console_tail(&s), "dear=0xd0000000") != NULL);
        CHECK(strstr(mlos_shard_console_tail(&s), "srr0=") != NULL);
    } else {
#ifdef __SANITIZE_ADDRESS__
        /* an instrumented shard: ASan handles the SIGSEGV itself, reports
         * it on the console and exits instead of dying of the signal */
        CHECK(strstr(mlos_shard_console_tail(&s), "AddressSanitizer: SEGV") != NULL);
        CHECK(strstr(err, "exited with code") != NULL || strstr(err, "signal 6") != NULL);
#else
        CHECK(strstr(err, "signal 11") != NULL);
#endif
    }
    CHECK(!mlos_shard_alive(&s));
    CHECK(!pid_alive(pid));
    /* a dead shard refuses new calls at once */
    CHECK_EQ(mlos_call_sync(&s, "echo", "x", 1, &res, &len, err, sizeof(err)), MLOS_ESHARDDIED);
    mlos_shard_stop_sync(&s);
    CHECK(s.impl == NULL);
    CHECK_EQ(count_fds(), fds0);
    unsetenv("MLOS_QUIET");
}

/* ---- 8 shards spawned at once ---- */
#define MANY 8
static mlos_shard_t many[MANY];
static mlos_call_t many_calls[MANY];
static int many_ready, many_answered, many_bad;

static void many_reply(mlos_call_t *req, int status)
{
    size_t i = (size_t)(req - many_calls);
    uint64_t expect = 0;
    for (uint64_t k = 0; k < 1000; k++)
        expect += k * (i + 1);
    if (status != 0 || req->result_len != 8 || mlos_get_le64(req->result) != expect) {
        fprintf(stderr, "shard %zu: status %d (%s)\n", i, status, req->error ? req->error : "");
        many_bad++;
    }
    many_answered++;
}

static void many_spawned(mlos_shard_t *s, int status)
{
    size_t i = (size_t)(s - many);
    uint64_t vals[1000];
    uint8_t arg[16];
    many_ready++;
    if (status != 0) {
        fprintf(stderr, "shard %zu failed to spawn: %s\n", i, mlos_strerror(status));
        many_bad++;
        many_answered++;
        return;
    }
    for (uint64_t k = 0; k < 1000; k++)
        vals[k] = k * (i + 1);
    mlos_put(s, 0, vals, sizeof(vals));
    mlos_put_le64(arg, 0);
    mlos_put_le64(arg + 8, sizeof(vals));
    if (mlos_call(s, &many_calls[i], "sum_u64", arg, 16, many_reply) < 0) {
        many_bad++;
        many_answered++;
    }
}

static void case_many(void)
{
    struct mlos_spawn_opts o = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20};
    int fds0 = count_fds(), pids[MANY];
    uint64_t t0 = uv_hrtime();

    for (int i = 0; i < MANY; i++)
        CHECK_EQ(mlos_spawn(loop, &many[i], &o, many_spawned), 0);
    while (many_answered < MANY)
        uv_run(loop, UV_RUN_ONCE);
    printf("%d %s shards spawned and answered in %.1f ms\n", MANY, arch, (uv_hrtime() - t0) / 1e6);
    CHECK_EQ(many_bad, 0);
    for (int i = 0; i < MANY; i++) {
        pids[i] = many[i].pid;
        mlos_shard_stop_sync(&many[i]);
        CHECK(!pid_alive(pids[i]));
    }
    CHECK_EQ(count_fds(), fds0);
}

static void case_errors(void)
{
    int fds0 = count_fds(), rc;
    mlos_shard_t s;
    struct mlos_spawn_opts o = {.arch = arch, .image = "/nonexistent/image.elf"};

    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_ENOENT);
    o.image = NULL;
    o.arch = "sparc";
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_EINVAL);
    o.arch = arch;
    o.ring_bytes = 3000;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_EINVAL);
    o.ring_bytes = 0;
    /* an image that is not a shard: it never says HELLO */
    o.image = "/bin/true";
    o.hello_timeout_ms = 5000;
    setenv("MLOS_QUIET", "1", 1);
    rc = mlos_spawn_sync(loop, &s, &o);
    CHECK_EQ(rc, MLOS_ESPAWN);
    mlos_shard_stop_sync(&s);
    o.image = "/bin/sleep"; /* process: runs, but never answers */
    if (!strcmp(arch, "process")) {
        o.hello_timeout_ms = 300;
        CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_ESPAWN);
        mlos_shard_stop_sync(&s);
    }
    unsetenv("MLOS_QUIET");
    CHECK_EQ(count_fds(), fds0);
}

/* Polling mode: both sides watch the rings instead of sleeping on doorbells
 * for a while after traffic; results and ordering must not change, and the
 * shard must still go to sleep (and wake) once traffic stops. */
static void case_poll(void)
{
    struct mlos_spawn_opts o = {.arch = arch, .spin_us = 300};
    int fds0 = count_fds();
    mlos_shard_t s;
    void *res;
    size_t len;
    char err[256];

    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    for (int round = 0; round < 2; round++) {
        pipelined_done = pipelined_bad = 0;
        for (uint32_t i = 0; i < 300; i++) {
            uint8_t big[1000];
            memset(big, (int)i, sizeof(big));
            memcpy(big, &i, 4);
            calls[i].data = (void *)(uintptr_t)i;
            CHECK_EQ(mlos_call(&s, &calls[i], "echo", big, sizeof(big), echo_cb), 0);
        }
        while (pipelined_done < 300)
            uv_run(loop, UV_RUN_ONCE);
        CHECK_EQ(pipelined_bad, 0);
        usleep(20000); /* well past the spin budget: both sides sleep on doorbells now */
        CHECK_EQ(mlos_call_sync(&s, "echo", "wake", 4, &res, &len, err, sizeof(err)), 0);
        free(res);
    }
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

/* A master that dies without stopping its shard must not leave it running. */
static void case_orphan(void)
{
    int p[2], status, shard_pid = 0;
    pid_t child;
    /* The dying master leaves a stale registry record (readers skip those):
     * keep it in a private runtime directory, removed below. */
    char runtime[] = "/tmp/mlos-orphan-XXXXXX";

    CHECK(mkdtemp(runtime) != NULL);
    CHECK_EQ(pipe(p), 0);
    child = fork();
    if (child == 0) {
        mlos_shard_t s;
        uv_loop_t own; /* the parent's loop (epoll set, signal pipe) must not be shared */
        setenv("MLOS_RUNTIME_DIR", runtime, 1);
        close(p[0]);
        uv_loop_init(&own);
        loop = &own;
        if (spawn(&s) == 0)
            (void)!write(p[1], &s.pid, sizeof(s.pid));
        _exit(0); /* no stop: the launcher's parent-death signal must act */
    }
    close(p[1]);
    CHECK_EQ(read(p[0], &shard_pid, sizeof(shard_pid)), (long)sizeof(shard_pid));
    close(p[0]);
    waitpid(child, &status, 0);
    for (int i = 0; i < 200 && pid_alive(shard_pid); i++) {
        waitpid(-1, NULL, WNOHANG);
        usleep(10000);
    }
    /* The shard was reparented (to init or a subreaper); it must be gone or a zombie. */
    char path[64], st = 'X';
    snprintf(path, sizeof(path), "/proc/%d/stat", shard_pid);
    FILE *f = fopen(path, "r");
    if (f) {
        (void)!fscanf(f, "%*d %*s %c", &st);
        fclose(f);
    }
    CHECK(st == 'X' || st == 'Z');

    DIR *d = opendir(runtime);
    for (struct dirent *e; d && (e = readdir(d));) {
        char rec[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(rec, sizeof(rec), "%s/%s", runtime, e->d_name);
        unlink(rec);
    }
    if (d)
        closedir(d);
    CHECK_EQ(rmdir(runtime), 0);
}

/* ---- boot trace: MLOS_BOOT_TRACE=1 makes a shard report its boot phases ---- */

static char trace_line[1024];
static int console_lines;

static void trace_console(mlos_shard_t *s, const char *line, size_t len)
{
    (void)s;
    console_lines++;
    if (len >= 24 && !memcmp(line, "mlos: boot trace (us): ", 23) && len < sizeof(trace_line)) {
        memcpy(trace_line, line, len);
        trace_line[len] = 0;
    }
}

static void tick_noop(uv_timer_t *t) { (void)t; }

/* Run the loop until the trace line is in, or ms pass (a 10 ms ticker
 * keeps it waking up to re-check). */
static void wait_trace(unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000u;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, tick_noop, 10, 10);
    while (!trace_line[0] && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void case_boottrace(void)
{
    int fds0 = count_fds();
    struct mlos_spawn_opts o = {.arch = arch, .on_console = trace_console};
    mlos_shard_t s;
    const char *total;
    double total_us = -1, entry_us = -1;

    /* off by default: no trace line, even after a call made the shard run
     * everything it defers past HELLO */
    unsetenv("MLOS_BOOT_TRACE");
    trace_line[0] = 0;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    CHECK(s.shard_boot_ns > 0);
    CHECK_EQ(mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, NULL, 0), 0);
    wait_trace(300);
    CHECK(!trace_line[0]);
    mlos_shard_stop_sync(&s);

    setenv("MLOS_BOOT_TRACE", "1", 1);
    trace_line[0] = 0;
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
    wait_trace(5000);
    unsetenv("MLOS_BOOT_TRACE");
    fprintf(stderr, "%s\n", trace_line);
    /* "counter at entry T, phase +dt, ..., hello +dt, total T": the runtime's
     * own phases end the list, the total spans them all, and the boot the
     * HELLO reported (from the HAL's clock origin, no later than the
     * "hello" mark) fits in it */
    CHECK(!strncmp(trace_line, "mlos: boot trace (us): counter at entry ", 40));
    CHECK(strstr(trace_line, ", mem +") && strstr(trace_line, ", attach +") && strstr(trace_line, ", hello +"));
    total = strstr(trace_line, ", total ");
    CHECK(total && sscanf(total, ", total %lf", &total_us) == 1);
    CHECK(sscanf(trace_line + 40, "%lf", &entry_us) == 1 && entry_us >= 0);
    /* the marks count from the HAL's origin too: the hello mark is at entry + total */
    CHECK(total_us > 0 && (entry_us + total_us) * 1000 + 1000 >= (double)s.shard_boot_ns);
    /* Bare metal: HELLO does not wait for the memory map. It is read after
     * HELLO ("memmap" follows "hello"), and the size HELLO reported from
     * the parameters is what the allocator got from the map. */
    if (strcmp(arch, "process")) {
        const char *hello = strstr(trace_line, ", hello +"), *memmap = strstr(trace_line, ", memmap +");
        CHECK(hello && memmap && memmap > hello);
        void *res = NULL;
        size_t rlen = 0;
        CHECK_EQ(mlos_call_sync(&s, "mem.stats", NULL, 0, &res, &rlen, NULL, 0), 0);
        CHECK(res && rlen == 40);
        uint64_t total = 0;
        for (int i = 7; i >= 0; i--)
            total = total << 8 | ((const uint8_t *)res)[i];
        CHECK_EQ(total, s.mem_bytes);
        free(res);
    }
    /* the shard still works (the trace is printed after HELLO, not instead of it) */
    CHECK_EQ(mlos_call_sync(&s, "echo", "x", 1, NULL, NULL, NULL, 0), 0);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_shard x86_64|ppc|process basic|crash|many|errors|orphan|boottrace\n");
        return 2;
    }
    arch = argv[1];
    loop = uv_default_loop();
    uvwarm(loop);
    for (int i = 2; i < argc; i++) {
        fprintf(stderr, "case %s %s\n", arch, argv[i]);
        if (!strcmp(argv[i], "basic"))
            case_basic();
        else if (!strcmp(argv[i], "crash"))
            case_crash();
        else if (!strcmp(argv[i], "many"))
            case_many();
        else if (!strcmp(argv[i], "errors"))
            case_errors();
        else if (!strcmp(argv[i], "poll"))
            case_poll();
        else if (!strcmp(argv[i], "orphan"))
            case_orphan();
        else if (!strcmp(argv[i], "boottrace"))
            case_boottrace();
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
    }
    CHECK_EQ(uv_loop_alive(loop), 0);
    CHECK_DONE();
}
