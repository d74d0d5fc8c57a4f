/* Elastic shard memory end to end (mlos_shard_resize, mlos.h).
 *   test_elastic ARCH CASE...   ARCH: x86_64 | ppc | process
 *   CASE: grow    64 MiB -> 512 MiB and back while tasks hold, fill and
 *                 check patterned memory; the host process's resident
 *                 memory is measured and must fall after the shrink
 *         partial a shrink below the memory in use goes part of the way,
 *                 says how far, and loses nothing
 *         bad     sizes and shards that cannot be resized are refused
 *                 with clear errors
 *         hostile (process only) a shard that names ranges not its own --
 *                 its window, unaligned, outside, wrapping, overlapping,
 *                 too many -- is fenced and nothing is punched
 *         pool    the pool's memory policy: an idle shard is shrunk (the
 *                 host gets its memory back) and grown back for a call
 * Every case checks that its shards and descriptors are gone after. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mlos.h"
#include "mlos_endian.h"
#include "pool_util.h"
#include "uvwarm.h"

#define MiB ((size_t)1 << 20)

static const char *arch;
static uv_loop_t *loop;


/* Resident memory of a host process in bytes (VmRSS: anonymous, file and
 * shared memory -- guest RAM is shared memory of the QEMU process). */
static size_t rss_bytes(int pid)
{
    char path[64], line[256];
    size_t kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

static void spawn(mlos_shard_t *s, size_t mem, size_t mem_max)
{
    struct mlos_spawn_opts o = {.arch = arch, .mem_bytes = mem, .mem_max_bytes = mem_max, .bulk_bytes = 1 * MiB};
    int rc = mlos_spawn_sync(loop, s, &o);
    if (rc < 0)
        fprintf(stderr, "spawn failed: %s\n%s\n", mlos_strerror(rc), mlos_shard_console_tail(s));
    CHECK_EQ(rc, 0);
}

static int call(mlos_shard_t *s, const char *task, const void *arg, size_t len, uint64_t *out, char *err,
                size_t cap)
{
    void *res = NULL;
    size_t rlen = 0;
    int rc = mlos_call_sync(s, task, arg, len, &res, &rlen, err, cap);
    if (rc == 0 && out)
        *out = rlen >= 8 ? mlos_get_le64(res) : 0;
    free(res);
    return rc;
}

static int hold(mlos_shard_t *s, uint32_t slot, size_t bytes, uint64_t seed, char *err, size_t cap)
{
    uint8_t a[20];
    uint64_t got = 0;
    mlos_put_le32(a, slot);
    mlos_put_le64(a + 4, bytes);
    mlos_put_le64(a + 12, seed);
    int rc = call(s, "mem.hold", a, sizeof(a), &got, err, cap);
    if (rc == 0)
        CHECK_EQ(got, bytes);
    return rc;
}

static void check_slot(mlos_shard_t *s, uint32_t slot, size_t bytes)
{
    uint8_t a[4];
    uint64_t got = 0;
    char err[256] = "";
    mlos_put_le32(a, slot);
    int rc = call(s, "mem.check", a, sizeof(a), &got, err, sizeof(err));
    if (rc)
        fprintf(stderr, "mem.check slot %u: %s\n", slot, err);
    CHECK_EQ(rc, 0);
    CHECK_EQ(got, bytes);
}

static void drop(mlos_shard_t *s, uint32_t slot)
{
    uint8_t a[4];
    mlos_put_le32(a, slot);
    CHECK_EQ(call(s, "mem.drop", a, sizeof(a), NULL, NULL, 0), 0);
}

/* limit and in-use bytes as the shard's allocator sees them */
static void stats(mlos_shard_t *s, uint64_t *limit, uint64_t *in_use)
{
    void *res = NULL;
    size_t len = 0;
    CHECK_EQ(mlos_call_sync(s, "mem.stats", NULL, 0, &res, &len, NULL, 0), 0);
    CHECK_EQ(len, 40);
    *limit = mlos_get_le64((uint8_t *)res + 8);
    *in_use = mlos_get_le64((uint8_t *)res + 16);
    free(res);
}

/* ---- async pieces: a resize and a call queued behind it ---- */
static int resize_done, resize_status, resize_count, hold_done, hold_status;
static void on_resize(mlos_resize_t *r, int status)
{
    resize_done = 1;
    resize_count++;
    resize_status = status;
}
static void on_hold(mlos_call_t *c, int status)
{
    hold_done = 1;
    hold_status = status;
    if (status)
        fprintf(stderr, "mem.hold behind a grow: %s\n", c->error);
}

static void case_grow(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_resize_t r;
    mlos_call_t c;
    char err[256];
    uint8_t a[20];
    uint64_t limit, in_use;

    spawn(&s, 64 * MiB, 512 * MiB);
    CHECK_EQ(s.mem_max_bytes, 512 * MiB);
    CHECK(s.mem_bytes <= 64 * MiB && s.mem_bytes > 60 * MiB);
    /* 64 MiB granted: 40 MiB fit, 100 MiB more do not */
    CHECK_EQ(hold(&s, 0, 40 * MiB, 1, err, sizeof(err)), 0);
    CHECK_EQ(hold(&s, 1, 100 * MiB, 2, err, sizeof(err)), MLOS_ENOMEM);
    CHECK(strstr(err, "out of memory after"));
    size_t rss0 = rss_bytes(s.pid);

    /* Grow, and without waiting queue a call that needs the new memory:
     * it runs after the grow took effect. */
    CHECK_EQ(mlos_shard_resize(&s, &r, 512 * MiB, on_resize), 0);
    mlos_put_le32(a, 1);
    mlos_put_le64(a + 4, 300 * MiB);
    mlos_put_le64(a + 12, 3);
    CHECK_EQ(mlos_call(&s, &c, "mem.hold", a, sizeof(a), on_hold), 0);
    RUN_UNTIL(loop, resize_done && hold_done, 120000);
    CHECK(resize_done && hold_done);
    CHECK_EQ(resize_status, 0);
    CHECK_EQ(hold_status, 0);
    CHECK(r.mem_bytes > 500 * MiB && r.mem_bytes <= 512 * MiB);
    CHECK_EQ(s.mem_bytes, r.mem_bytes);
    CHECK_EQ(r.released_bytes, 0);
    CHECK_EQ(hold(&s, 2, 100 * MiB, 4, err, sizeof(err)), 0);
    check_slot(&s, 0, 40 * MiB);
    check_slot(&s, 1, 300 * MiB);
    check_slot(&s, 2, 100 * MiB);
    size_t rss1 = rss_bytes(s.pid);
    printf("%s: rss %zu MiB at 64 MiB (40 held), %zu MiB at 512 MiB (440 held)\n", arch, rss0 / MiB, rss1 / MiB);
    CHECK(rss1 > rss0 + 350 * MiB); /* the memory really was in use */

    /* Free most of it and shrink back: the host gets the pages back, the
     * block still held is intact. */
    drop(&s, 1);
    drop(&s, 2);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 64 * MiB), 0);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.mem_bytes, 64 * MiB);
    CHECK_EQ(s.mem_bytes, 64 * MiB);
    CHECK(r.in_use_bytes >= 40 * MiB && r.in_use_bytes < 64 * MiB);
    /* 400 MiB were freed; what the 64 MiB limit still leaves free (24
     * MiB, the lowest free pages) stays with the shard */
    CHECK(r.released_bytes >= 350 * MiB);
    CHECK(r.ranges >= 1);
    size_t rss2 = rss_bytes(s.pid);
    printf("%s: rss after shrink to 64 MiB: %zu MiB (%llu MiB released in %u ranges, %.2f ms, punch %.2f ms)\n",
           arch, rss2 / MiB, (unsigned long long)(r.released_bytes / MiB), r.ranges, r.rtt_ns / 1e6,
           r.punch_ns / 1e6);
    CHECK(rss2 + 350 * MiB < rss1);
    CHECK(rss2 < rss0 + 64 * MiB);
    check_slot(&s, 0, 40 * MiB);
    stats(&s, &limit, &in_use);
    CHECK_EQ(limit, 64 * MiB);
    /* the limit holds again, and what it leaves is usable at once */
    CHECK_EQ(hold(&s, 1, 100 * MiB, 5, err, sizeof(err)), MLOS_ENOMEM);
    CHECK_EQ(hold(&s, 1, 16 * MiB, 6, err, sizeof(err)), 0);
    check_slot(&s, 1, 16 * MiB);
    check_slot(&s, 0, 40 * MiB);

    /* and it grows again over the punched pages: they come back zeroed
     * by the host and are filled afresh */
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 256 * MiB), 0);
    CHECK_EQ(hold(&s, 2, 180 * MiB, 7, err, sizeof(err)), 0);
    check_slot(&s, 0, 40 * MiB);
    check_slot(&s, 1, 16 * MiB);
    check_slot(&s, 2, 180 * MiB);
    /* stop while a big shrink is answered and punched: its callback runs
     * once, and the release waits for the punch */
    drop(&s, 2);
    resize_done = 0;
    resize_count = 0;
    CHECK_EQ(mlos_shard_resize(&s, &r, 64 * MiB, on_resize), 0);
    RUN_UNTIL(loop, 0, 20);
    mlos_shard_stop_sync(&s);
    CHECK_EQ(resize_count, 1);
    CHECK_EQ(count_fds(), fds0);
}

static void case_partial(void)
{
    int fds0 = count_fds();
    mlos_shard_t s;
    mlos_resize_t r;
    char err[256];

    spawn(&s, 64 * MiB, 512 * MiB);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 512 * MiB), 0);
    CHECK_EQ(hold(&s, 0, 200 * MiB, 11, err, sizeof(err)), 0);
    CHECK_EQ(hold(&s, 1, 50 * MiB, 12, err, sizeof(err)), 0);
    drop(&s, 1); /* 50 MiB free to give back, 200 MiB in use */
    size_t rss0 = rss_bytes(s.pid);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 64 * MiB), MLOS_EBUSY);
    printf("%s: partial shrink: %s (released %llu MiB)\n", arch, r.error,
           (unsigned long long)(r.released_bytes / MiB));
    CHECK(strstr(r.error, "part of the way"));
    CHECK(r.mem_bytes >= 200 * MiB && r.mem_bytes < 210 * MiB); /* stopped at what is in use */
    CHECK_EQ(r.mem_bytes, r.in_use_bytes);
    CHECK_EQ(s.mem_bytes, r.mem_bytes);
    CHECK(r.released_bytes >= 50 * MiB);
    CHECK(rss_bytes(s.pid) + 40 * MiB < rss0);
    check_slot(&s, 0, 200 * MiB); /* nothing lost */
    /* at its limit: nothing more fits until memory is freed or granted */
    CHECK_EQ(hold(&s, 1, 8 * MiB, 13, err, sizeof(err)), MLOS_ENOMEM);
    drop(&s, 0);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 64 * MiB), 0);
    CHECK_EQ(r.mem_bytes, 64 * MiB);
    CHECK(r.released_bytes >= 130 * MiB); /* the 200 MiB block, less the 64 MiB kept free */
    mlos_shard_stop_sync(&s);
    CHECK_EQ(count_fds(), fds0);
}

static void case_bad(void)
{
    int fds0 = count_fds();
    mlos_shard_t s, fixed;
    mlos_resize_t r;
    struct mlos_spawn_opts o = {.arch = arch, .mem_bytes = 64 * MiB, .mem_max_bytes = 32 * MiB};

    /* an elastic range that cannot hold the start size */
    CHECK_EQ(mlos_spawn_sync(loop, &s, &o), MLOS_EINVAL);

    spawn(&s, 64 * MiB, 128 * MiB);
    CHECK_EQ(mlos_shard_resize(&s, &r, 0, on_resize), MLOS_ERANGE);
    CHECK(strstr(r.error, "outside"));
    CHECK_EQ(mlos_shard_resize(&s, &r, 64 * MiB + 100, on_resize), MLOS_EINVAL);
    CHECK(strstr(r.error, "not a multiple of 4096"));
    CHECK_EQ(mlos_shard_resize(&s, &r, 129 * MiB, on_resize), MLOS_ERANGE);
    printf("%s: %s\n", arch, r.error);
    CHECK(strstr(r.error, "maximum"));
    CHECK_EQ(mlos_shard_resize(&s, &r, 64 * MiB, NULL), MLOS_EINVAL);
    CHECK_EQ(mlos_shard_resize(NULL, &r, 64 * MiB, on_resize), MLOS_EINVAL);
    CHECK_EQ(mlos_shard_resize(&s, NULL, 64 * MiB, on_resize), MLOS_EINVAL);
    /* nothing changed, the shard still works at its size */
    CHECK_EQ(s.mem_bytes <= 64 * MiB && s.mem_bytes > 60 * MiB, 1);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 128 * MiB), 0);
    CHECK_EQ(mlos_shard_resize_sync(&s, &r, 1 * MiB), 0);
    CHECK_EQ(r.mem_bytes, 1 * MiB);

    /* a fixed-size shard says it cannot be resized */
    spawn(&fixed, 64 * MiB, 0);
    CHECK_EQ(fixed.mem_max_bytes, 0);
    CHECK_EQ(mlos_shard_resize(&fixed, &r, 32 * MiB, on_resize), MLOS_ENOTSUP);
    printf("%s: %s\n", arch, r.error);
    CHECK(strstr(r.error, "mem_max_bytes"));
    mlos_shard_stop_sync(&fixed);

    /* a stopped shard refuses; a resize pending at stop fails */
    resize_done = 0;
    CHECK_EQ(mlos_shard_resize(&s, &r, 64 * MiB, on_resize), 0);
    mlos_shard_stop_sync(&s);
    CHECK(resize_done);
    CHECK(resize_status == MLOS_ESTOPPED || resize_status == 0);
    CHECK_EQ(count_fds(), fds0);
}

static void case_hostile(void)
{
    static const char *modes[] = {"window", "unaligned", "outside", "overflow", "overlap", "many"};
    int fds0 = count_fds();
    uint8_t pat[4096], back[4096];

    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (uint8_t)(i * 7 + 1);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        char mode[64];
        mlos_shard_t s;
        mlos_resize_t r;
        struct mlos_spawn_opts o = {.arch = "process", .image = "hostile-shard-live", .mem_bytes = 16 * MiB,
                                    .mem_max_bytes = 64 * MiB, .bulk_bytes = 1 * MiB, .hello_timeout_ms = 5000};
        snprintf(mode, sizeof(mode), "resize-%s", modes[m]);
        setenv("MLOS_HOSTILE_MODE", mode, 1);
        CHECK_EQ(mlos_spawn_sync(loop, &s, &o), 0);
        CHECK_EQ(s.mem_max_bytes, 64 * MiB);
        CHECK_EQ(mlos_put(&s, 0, pat, sizeof(pat)), 0);
        CHECK_EQ(mlos_put(&s, 1 * MiB - sizeof(pat), pat, sizeof(pat)), 0);
        CHECK_EQ(mlos_shard_resize_sync(&s, &r, 8 * MiB), MLOS_EPROTO);
        printf("%s: %s\n", mode, r.error);
        CHECK(strstr(r.error, "broke the protocol: RESIZED"));
        CHECK_EQ(r.released_bytes, 0);
        RUN_UNTIL(loop, !mlos_shard_alive(&s), 5000); /* killed: its exit follows */
        CHECK(!mlos_shard_alive(&s));
        /* the window was not punched: the master's mapping still holds the data */
        CHECK_EQ(mlos_get(&s, 0, back, sizeof(back)), 0);
        CHECK(!memcmp(back, pat, sizeof(pat)));
        CHECK_EQ(mlos_get(&s, 1 * MiB - sizeof(pat), back, sizeof(back)), 0);
        CHECK(!memcmp(back, pat, sizeof(pat)));
        mlos_shard_stop_sync(&s);
    }
    unsetenv("MLOS_HOSTILE_MODE");
    CHECK_EQ(count_fds(), fds0);
}

static int pcall_done, pcall_status;
static char pcall_err[300];
static void on_pcall(mlos_pool_call_t *req, int status)
{
    pcall_done = 1;
    pcall_status = status;
    snprintf(pcall_err, sizeof(pcall_err), "%s", status ? req->error : "");
}

static int pool_call(mlos_pool_t *p, const char *task, const void *arg, size_t len)
{
    mlos_pool_call_t req;
    pcall_done = 0;
    CHECK_EQ(mlos_pool_call(p, &req, task, arg, len, 0, on_pcall), 0);
    RUN_UNTIL(loop, pcall_done, 60000);
    CHECK(pcall_done);
    if (pcall_status)
        fprintf(stderr, "%s: %s\n", task, pcall_err);
    return pcall_status;
}

static void case_pool(void)
{
    int fds0 = count_fds();
    mlos_pool_t pool;
    mlos_shard_t *sh;
    uint8_t a[20];
    struct mlos_pool_opts o = {.spawn = {.arch = arch, .mem_bytes = 64 * MiB, .mem_max_bytes = 256 * MiB,
                                         .bulk_bytes = 1 * MiB},
                               .min_shards = 1, .max_shards = 1, .idle_timeout_ms = 60000,
                               /* filling 48 MiB under TCG on a busy host can outlast the default 600 ms */
                               .heartbeat_timeout_ms = 20000,
                               .mem_idle_bytes = 8 * MiB, .mem_idle_ms = 100};

    /* the policy needs elastic shards and a size within the grant */
    o.spawn.mem_max_bytes = 0;
    CHECK_EQ(mlos_pool_init(loop, &pool, &o), MLOS_EINVAL);
    o.spawn.mem_max_bytes = 256 * MiB;
    o.mem_idle_bytes = 100 * MiB;
    CHECK_EQ(mlos_pool_init(loop, &pool, &o), MLOS_EINVAL);
    o.mem_idle_bytes = 8 * MiB;
    CHECK_EQ(mlos_pool_init(loop, &pool, &o), 0);
    RUN_UNTIL(loop, pool.ready == 1, 30000);
    CHECK_EQ(pool.ready, 1);

    mlos_put_le32(a, 0);
    mlos_put_le64(a + 4, 48 * MiB);
    mlos_put_le64(a + 12, 21);
    CHECK_EQ(pool_call(&pool, "mem.hold", a, sizeof(a)), 0);
    CHECK_EQ(pool_call(&pool, "mem.drop", a, 4), 0);
    CHECK_EQ(mlos_pool_shards(&pool, &sh, 1), 1);
    size_t rss0 = rss_bytes(sh->pid);
    RUN_UNTIL(loop, pool.mem_shrinks == 1, 10000);
    CHECK_EQ(pool.mem_shrinks, 1);
    CHECK(pool.mem_released >= 40 * MiB);
    CHECK_EQ(mlos_pool_shards(&pool, &sh, 1), 1);
    CHECK_EQ(sh->mem_bytes, 8 * MiB);
    size_t rss1 = rss_bytes(sh->pid);
    printf("%s: pool shard idle: rss %zu -> %zu MiB, %llu MiB given back\n", arch, rss0 / MiB, rss1 / MiB,
           (unsigned long long)(pool.mem_released / MiB));
    /* what was given back left the host, less what QEMU itself may have
     * allocated between the two readings (a few MiB at most) */
    CHECK(rss1 + pool.mem_released < rss0 + 4 * MiB);

    /* the next call gets the shard's full memory again */
    mlos_put_le64(a + 12, 22);
    CHECK_EQ(pool_call(&pool, "mem.hold", a, sizeof(a)), 0);
    CHECK_EQ(pool.mem_grows, 1);
    CHECK_EQ(pool_call(&pool, "mem.check", a, 4), 0);
    CHECK_EQ(mlos_pool_shards(&pool, &sh, 1), 1);
    CHECK_EQ(sh->mem_bytes, 64 * MiB);
    mlos_pool_close_sync(&pool);
    CHECK_EQ(count_fds(), fds0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_elastic x86_64|ppc|process CASE...\n");
        return 2;
    }
    arch = argv[1];
    loop = uv_default_loop();
    uvwarm(loop);
    for (int i = 2; i < argc; i++) {
        uint64_t t0 = uv_hrtime();
        if (!strcmp(argv[i], "grow"))
            case_grow();
        else if (!strcmp(argv[i], "partial"))
            case_partial();
        else if (!strcmp(argv[i], "bad"))
            case_bad();
        else if (!strcmp(argv[i], "pool"))
            case_pool();
        else if (!strcmp(argv[i], "hostile"))
            case_hostile();
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
        printf("%s %s: ok (%.0f ms)\n", arch, argv[i], ms_since(t0));
        CHECK_EQ(count_children(), 0);
    }
    CHECK_DONE();
}
