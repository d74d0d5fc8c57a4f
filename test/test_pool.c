/* Shard pool tests (mlos_pool.h) against real shards.
 *   test_pool ARCH CASE...   ARCH: process | x86_64
 *   CASE: elastic  grow to max under load, never above; shrink to min after the idle timeout, not before
 *         warm     a call on a warm pool vs the first call on an empty one (cold boot)
 *         order    calls waiting for the only shard run in submission order
 *         close    close with calls queued and running: each settles once, everything is released
 *         drain    drain lets queued calls finish, refuses new ones
 *         errors   bad options, an image that does not exist
 *         hang     a task that never returns: the shard is fenced within 1 s, heartbeats on a plain shard
 *         members  fixed membership: a call per rank, a deferred prepare, a killed and a frozen member replaced
 *         paused   paused spares: their guests do not run until growth takes one; a taken spare is
 *                  replaced; ignored for process shards
 * Every case checks that descriptors and child processes are back to where
 * they were when it started. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "mlos_pool.h"
#include "pool_util.h"
#include "uvwarm.h"

static const char *arch;
static uv_loop_t *loop;

static uint64_t t_start;
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void on_event(mlos_pool_t *p, const mlos_shard_t *s, enum mlos_pool_event ev, int status, const char *why)
{
    static const char *names[] = {"up", "spawn-failed", "failed", "retired", "resized"};
    if (getenv("POOL_EVENTS"))
        fprintf(stderr, "  [%8.1f ms] shard %u %s %s\n", ms_since(t_start), s ? s->id : 0, names[ev], why);
}

static struct mlos_pool_opts base_opts(void)
{
    struct mlos_pool_opts o = {.spawn = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20},
                               .on_event = on_event};
    return o;
}

/* ---- generic call bookkeeping ---- */

#define MAXC 64
static mlos_pool_call_t reqs[MAXC];
static int done_n, ok_n, status_of[MAXC], order[MAXC], nstopped;
static uint64_t rtt_of[MAXC], done_at[MAXC]; /* done_at[k]: when the (k+1)-th completion came */

static void reset(void)
{
    memset(reqs, 0, sizeof(reqs));
    done_n = ok_n = nstopped = 0;
    for (int i = 0; i < MAXC; i++)
        status_of[i] = 1, order[i] = -1;
}

static void count_cb(mlos_pool_call_t *req, int status)
{
    int i = (int)(req - reqs);
    CHECK(status_of[i] == 1); /* exactly once */
    status_of[i] = status;
    rtt_of[i] = req->rtt_ns;
    done_at[done_n] = uv_hrtime();
    order[done_n++] = i;
    ok_n += status == 0;
    nstopped += status == MLOS_ESTOPPED;
    if (status && status != MLOS_ESTOPPED)
        fprintf(stderr, "call %d: %s\n", i, req->error);
}

static int spin_call(mlos_pool_t *p, int i, uint64_t ns, unsigned flags)
{
    uint8_t arg[8];
    mlos_put_le64(arg, ns);
    return mlos_pool_call(p, &reqs[i], "spin", arg, 8, flags, count_cb);
}

static void echo_cb(mlos_pool_call_t *req, int status)
{
    int i = (int)(req - reqs);
    if (status == 0 && (req->result_len != 4 || memcmp(req->result, &i, 4))) {
        fprintf(stderr, "echo %d: wrong result\n", i);
        status = MLOS_EPROTO;
    }
    count_cb(req, status);
}

static int echo_call(mlos_pool_t *p, int i)
{
    return mlos_pool_call(p, &reqs[i], "echo", &i, 4, MLOS_POOL_IDEMPOTENT, echo_cb);
}

/* ---- elastic: grow to max, shrink after the idle timeout ---- */

static void case_elastic(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    const int n = 16;

    o.min_shards = 1;
    o.max_shards = 4;
    o.idle_timeout_ms = 500;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(loop, p.ready == 1, 15000);
    CHECK_EQ(p.ready, 1);
    CHECK_EQ(p.shards, 1); /* min_shards, no warm reserve asked */

    reset();
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < n; i++)
        CHECK_EQ(spin_call(&p, i, 150 * 1000000ull, MLOS_POOL_IDEMPOTENT), 0);
    CHECK(p.shards <= 4);
    RUN_UNTIL(loop, p.ready == 4 || done_n == n, 20000);
    printf("grew to %u shards in %.0f ms\n", p.ready, ms_since(t0));
    CHECK_EQ(p.ready, 4);
    RUN_UNTIL(loop, done_n == n, 30000);
    CHECK_EQ(ok_n, n);
    CHECK_EQ(p.peak_shards, 4);
    CHECK_EQ(p.spawned, 4);
    uint64_t t_idle = uv_hrtime();
    if (getenv("POOL_EVENTS"))
        fprintf(stderr, "  [%8.1f ms] all done\n", ms_since(t_start));
    printf("%d x 150 ms calls on up to 4 shards in %.0f ms\n", n, ms_since(t0));

    /* not shrunk before the idle timeout */
    RUN_UNTIL(loop, p.shards < 4, 250);
    CHECK_EQ(p.shards, 4);
    /* shrunk to min_shards after it: three shards idle for the timeout,
     * which they all are from the next-to-last completion on (at most one
     * call was still running then), not only from the last one */
    RUN_UNTIL(loop, p.shards == 1, 5000);
    double shrink_ms = (uv_hrtime() - done_at[n - 2]) / 1e6;
    printf("shrank to %u shard(s) %.0f ms after three were idle, %.0f ms after the last call (idle timeout 500 ms)\n",
           p.shards, shrink_ms, ms_since(t_idle));
    CHECK_EQ(p.shards, 1);
    CHECK_EQ(p.retired, 3);
    CHECK(shrink_ms >= 450);
    RUN_UNTIL(loop, 0, 300);
    CHECK_EQ(p.shards, 1); /* and not below min */
    mlos_pool_close_sync(&p);
    CHECK(p.impl == NULL);
}

/* ---- warm vs cold ---- */

static void case_warm(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t cold, warm;
    uint64_t t;

    /* cold: an empty pool pays a boot on its first call */
    o.max_shards = 1;
    reset();
    CHECK_EQ(mlos_pool_init(loop, &cold, &o), 0);
    CHECK_EQ(cold.shards, 0);
    t = uv_hrtime();
    CHECK_EQ(echo_call(&cold, 0), 0);
    RUN_UNTIL(loop, done_n == 1, 20000);
    double cold_ms = ms_since(t);
    CHECK_EQ(ok_n, 1);
    mlos_pool_close_sync(&cold);

    /* warm: min_warm keeps an idle shard ready; replaced when taken */
    o.max_shards = 2;
    o.min_warm = 1;
    CHECK_EQ(mlos_pool_init(loop, &warm, &o), 0);
    RUN_UNTIL(loop, warm.ready == 1, 20000);
    CHECK_EQ(warm.ready, 1);
    reset();
    double best = 1e9, sum = 0, warm_ms[20];
    for (int i = 0; i < 20; i++) {
        int before = done_n;
        t = uv_hrtime();
        CHECK_EQ(echo_call(&warm, i), 0);
        RUN_UNTIL(loop, done_n > before, 10000);
        double ms = ms_since(t);
        warm_ms[i] = ms;
        sum += ms;
        best = ms < best ? ms : best;
    }
    CHECK_EQ(ok_n, 20);
    qsort(warm_ms, 20, sizeof(double), cmp_double);
    printf("%s: cold first call %.1f ms; warm call mean %.3f ms, median %.3f ms, best %.3f ms\n", arch, cold_ms,
           sum / 20, warm_ms[10], best);
    /* the median: one call that meets a busy host (the suite runs tests in
     * parallel) must not decide it */
    CHECK(warm_ms[10] * 5 < cold_ms);
    CHECK(warm.spawned <= 2);
    /* a long call takes the warm shard: the pool starts another warm one */
    CHECK_EQ(spin_call(&warm, 30, 300 * 1000000ull, 0), 0);
    RUN_UNTIL(loop, warm.ready == 2, 20000);
    CHECK_EQ(warm.ready, 2);
    if (status_of[30] == 1) /* still running: on a loaded host the new shard may take longer than the call */
        CHECK_EQ(warm.busy, 1);
    RUN_UNTIL(loop, status_of[30] != 1, 5000);
    CHECK_EQ(status_of[30], 0);
    mlos_pool_close_sync(&warm);
}

/* ---- FIFO order through one shard ---- */

static void case_order(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    const int n = 40;

    o.max_shards = 1;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    reset();
    for (int i = 0; i < n; i++)
        CHECK_EQ(echo_call(&p, i), 0);
    CHECK_EQ(p.queued, n); /* no shard yet */
    RUN_UNTIL(loop, done_n == n, 20000);
    CHECK_EQ(ok_n, n);
    int in_order = 1;
    for (int i = 0; i < n; i++)
        in_order &= order[i] == i;
    CHECK(in_order);
    CHECK_EQ(p.spawned, 1);
    mlos_pool_close_sync(&p);
}

/* ---- close with work in flight ---- */

static int closed_cb_ran;
static void on_pool_closed(mlos_pool_t *p) { closed_cb_ran++; }

static void case_close(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    mlos_shard_t *sh[8];
    int pids[8], np;

    o.min_shards = 2;
    o.max_shards = 3;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(loop, p.ready == 2, 20000);
    reset();
    for (int i = 0; i < 10; i++)
        CHECK_EQ(spin_call(&p, i, 200 * 1000000ull, i & 1 ? MLOS_POOL_IDEMPOTENT : 0), 0);
    RUN_UNTIL(loop, p.ready == 3, 20000);
    np = (int)mlos_pool_shards(&p, sh, 8);
    CHECK_EQ(np, 3);
    for (int i = 0; i < np; i++)
        pids[i] = sh[i]->pid;
    CHECK(p.inflight > 0 && p.queued > 0);
    /* a slow third boot (a loaded host) lets some 200 ms calls finish
     * before close: count from here */
    int done_before = done_n, queued = (int)p.queued;
    closed_cb_ran = 0;
    CHECK_EQ(mlos_pool_close(&p, on_pool_closed), 0);
    CHECK_EQ(mlos_pool_close(&p, on_pool_closed), MLOS_EINVAL);
    CHECK_EQ(spin_call(&p, 20, 1, 0), MLOS_ESTOPPED);
    CHECK_EQ(done_n, done_before); /* callbacks never run inside close */
    RUN_UNTIL(loop, closed_cb_ran, 10000);
    CHECK_EQ(closed_cb_ran, 1);
    CHECK_EQ(done_n, 10);
    CHECK(nstopped >= queued); /* queued ones at least; running ones too unless they finished */
    CHECK_EQ(ok_n + nstopped, 10);
    CHECK(p.impl == NULL);
    for (int i = 0; i < np; i++)
        CHECK(!pid_alive(pids[i]));
}

static void case_drain(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    o.max_shards = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    reset();
    for (int i = 0; i < 12; i++)
        CHECK_EQ(echo_call(&p, i), 0);
    mlos_pool_drain_sync(&p);
    CHECK_EQ(done_n, 12);
    CHECK_EQ(ok_n, 12);
    CHECK_EQ(echo_call(&p, 13), MLOS_ESTOPPED);
    CHECK(p.ready >= 1);
    mlos_pool_close_sync(&p);
}

static void case_errors(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;

    o.min_shards = 5;
    o.max_shards = 2;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), MLOS_EINVAL);
    o = base_opts();
    o.spawn.image = "/nonexistent/shard-image";
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    reset();
    CHECK_EQ(echo_call(&p, 0), 0);
    CHECK_EQ(mlos_pool_call(&p, &reqs[1], "echo", "x", 1, 0x80, echo_cb), MLOS_EINVAL);
    RUN_UNTIL(loop, done_n == 1, 5000);
    CHECK_EQ(status_of[0], MLOS_ENOENT);
    CHECK(reqs[0].error && strstr(reqs[0].error, "cannot start") != NULL);
    fprintf(stderr, "missing image reported as: %s\n", reqs[0].error ? reqs[0].error : "?");
    mlos_pool_close_sync(&p);
}

/* ---- a task that never returns ---- */

static int hang_done, hang_status;
static char hang_err[512];
static uint64_t hang_t;
static void hang_cb(mlos_call_t *req, int status)
{
    hang_done = 1;
    hang_status = status;
    snprintf(hang_err, sizeof(hang_err), "%s", req->error ? req->error : "");
    hang_t = uv_hrtime();
}

static void case_hang(void)
{
    struct mlos_spawn_opts so = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20};
    mlos_shard_t s;
    mlos_call_t c;
    uint8_t arg[8];
    int pid;

    /* plain shard with heartbeats */
    setenv("MLOS_QUIET", "1", 1);
    CHECK_EQ(mlos_spawn_sync(loop, &s, &so), 0);
    CHECK_EQ(mlos_shard_heartbeat(&s, 100, 500), 0);
    pid = s.pid;
    RUN_UNTIL(loop, 0, 400); /* healthy and idle: not fenced */
    CHECK(mlos_shard_alive(&s));
    CHECK(mlos_shard_heartbeat_rtt(&s) > 0);
    printf("heartbeat round trip %.1f us\n", mlos_shard_heartbeat_rtt(&s) / 1e3);
    mlos_put_le64(arg, 1000ull * 1000000000ull); /* 1000 s */
    uint64_t t0 = uv_hrtime();
    CHECK_EQ(mlos_call(&s, &c, "spin", arg, 8, hang_cb), 0);
    RUN_UNTIL(loop, hang_done, 5000);
    double det = (double)(hang_t - t0) / 1e6;
    printf("hung shard detected after %.0f ms: %s\n", det, hang_err);
    CHECK_EQ(hang_status, MLOS_ETIMEDOUT);
    CHECK(strstr(hang_err, "stopped answering (no heartbeat for") != NULL);
    CHECK(det < 1000);
    CHECK(!mlos_shard_alive(&s));
    CHECK_EQ(mlos_call(&s, &c, "echo", "x", 1, hang_cb), MLOS_ESHARDDIED);
    RUN_UNTIL(loop, !pid_alive(pid), 2000);
    CHECK(!pid_alive(pid));
    mlos_shard_stop_sync(&s);
    CHECK(s.impl == NULL);

    /* in a pool: non-idempotent -> ESHARDDIED; the pool replaces the shard */
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    o.min_shards = 1;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    RUN_UNTIL(loop, p.ready == 1, 20000);
    reset();
    CHECK_EQ(spin_call(&p, 0, 1000ull * 1000000000ull, 0), 0);
    RUN_UNTIL(loop, done_n == 1, 5000);
    CHECK_EQ(status_of[0], MLOS_ESHARDDIED);
    printf("pool: hung call failed after %.0f ms\n", rtt_of[0] / 1e6);
    CHECK(rtt_of[0] < 1000000000ull);
    CHECK_EQ(p.failed, 1);
    RUN_UNTIL(loop, p.ready == 1, 20000);
    CHECK_EQ(echo_call(&p, 1), 0);
    RUN_UNTIL(loop, done_n == 2, 5000);
    CHECK_EQ(status_of[1], 0);
    mlos_pool_close_sync(&p);
    unsetenv("MLOS_QUIET");
}

/* ---- members: fixed membership, prepare, replacement of a dead and of a
 * frozen member ---- */

#define MEMBERS 3
static int prepares[MEMBERS], prepare_async;
static mlos_shard_t *deferred;

/* rank r's data: 8 u64 of value r + 1 in the bulk window, so that
 * sum_u64 over them says which rank's data the member holds */
static void fill_rank(mlos_shard_t *sh, unsigned r)
{
    uint8_t *bulk = mlos_shard_bulk(sh, NULL);
    for (int i = 0; i < 8; i++)
        mlos_put_le64(bulk + 8 * i, r + 1);
}

static void on_member_prepare(mlos_pool_t *p, mlos_shard_t *sh, unsigned rank)
{
    CHECK(rank < MEMBERS);
    CHECK(mlos_pool_member(p, rank) == NULL); /* not a member until prepared */
    prepares[rank]++;
    fill_rank(sh, rank);
    if (prepare_async && rank == 1 && !deferred) {
        deferred = sh; /* answered later, from the test */
        return;
    }
    CHECK_EQ(mlos_pool_prepared(p, sh, 0), 0);
    CHECK_EQ(mlos_pool_prepared(p, sh, 0), MLOS_EINVAL); /* exactly once */
}

static void sum_cb(mlos_pool_call_t *req, int status)
{
    int i = (int)(req - reqs);
    if (status == 0 && (req->result_len != 8 || mlos_get_le64(req->result) != 8ull * (uint64_t)(i % MEMBERS + 1))) {
        fprintf(stderr, "member call %d: data of another rank\n", i);
        status = MLOS_EPROTO;
    }
    count_cb(req, status);
}

static int member_call(mlos_pool_t *p, int i)
{
    uint8_t arg[16];
    mlos_put_le64(arg, 0);
    mlos_put_le64(arg + 8, 64);
    return mlos_pool_call_member(p, &reqs[i], (unsigned)(i % MEMBERS), "sum_u64", arg, 16, MLOS_POOL_IDEMPOTENT,
                                 NULL, sum_cb);
}

static void case_members(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    o.members = MEMBERS;
    o.prepare = on_member_prepare;
    o.heartbeat_timeout_ms = 20000; /* long: a frozen member must be noticed anyway */
    o.max_shards = 1;               /* ignored with members */
    memset(prepares, 0, sizeof(prepares));
    prepare_async = 1;
    deferred = NULL;
    reset();
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    CHECK_EQ(p.shards, MEMBERS); /* all started at init */
    for (int i = 0; i < 2 * MEMBERS; i++)
        CHECK_EQ(member_call(&p, i), 0);
    CHECK_EQ(mlos_pool_call_member(&p, &reqs[MAXC - 1], MEMBERS, "echo", NULL, 0, 0, NULL, count_cb), MLOS_EINVAL);
    /* ranks 0 and 2 answer; rank 1's calls wait for its preparation */
    /* rank 1 may still be booting when the others have answered */
    RUN_UNTIL(loop, done_n == 4 && deferred, 20000);
    CHECK_EQ(done_n, 4);
    CHECK(deferred != NULL && status_of[1] == 1 && status_of[4] == 1);
    CHECK_EQ(mlos_pool_prepared(&p, deferred, 0), 0);
    RUN_UNTIL(loop, done_n == 2 * MEMBERS, 5000);
    CHECK_EQ(ok_n, 2 * MEMBERS);
    for (int r = 0; r < MEMBERS; r++)
        CHECK_EQ(prepares[r], 1);

    /* a member killed: replaced under its rank, prepared again, calls go on */
    mlos_shard_t *m2 = mlos_pool_member(&p, 2);
    CHECK(m2 != NULL);
    CHECK_EQ(mlos_pool_rank_of(&p, m2), 2);
    mlos_shard_t stranger;
    CHECK_EQ(mlos_pool_rank_of(&p, &stranger), MLOS_EINVAL); /* not the pool's */
    CHECK_EQ(mlos_pool_rank_of(&p, NULL), MLOS_EINVAL);
    if (m2)
        kill(m2->pid, SIGKILL);
    RUN_UNTIL(loop, prepares[2] == 2 && mlos_pool_member(&p, 2), 20000);
    CHECK_EQ(prepares[2], 2);
    reset();
    for (int i = 0; i < MEMBERS; i++)
        CHECK_EQ(member_call(&p, i), 0);
    RUN_UNTIL(loop, done_n == MEMBERS, 20000);
    CHECK_EQ(ok_n, MEMBERS);

    /* a member frozen (SIGSTOP) with a call on it: fenced far sooner than
     * the 20 s heartbeat timeout, the call re-run on its replacement */
    mlos_shard_t *m0 = mlos_pool_member(&p, 0);
    CHECK(m0 != NULL);
    reset();
    uint64_t t0 = uv_hrtime();
    if (m0)
        kill(m0->pid, SIGSTOP);
    CHECK_EQ(member_call(&p, 0), 0);
    RUN_UNTIL(loop, done_n == 1, 15000);
    CHECK_EQ(ok_n, 1);
    printf("pool: call on a frozen member answered by its replacement after %.0f ms\n", ms_since(t0));
    CHECK(ms_since(t0) < 5000);
    CHECK_EQ(prepares[0], 2);
    CHECK(p.failed >= 2);
    mlos_pool_close_sync(&p);
    prepare_async = 0;
}

/* ---- paused spares ---- */

static void case_paused(void)
{
    struct mlos_pool_opts o = base_opts();
    mlos_pool_t p;
    unsigned qemu = strcmp(arch, "process") != 0;

    o.max_shards = 2;
    o.paused_spares = 1;
    CHECK_EQ(mlos_pool_init(loop, &p, &o), 0);
    CHECK_EQ(p.paused, qemu);
    CHECK_EQ(p.shards, 0u);
    /* a spare's guest does not run: no HELLO, however long we wait */
    RUN_UNTIL(loop, p.ready > 0 || p.spawn_failed > 0, 500);
    CHECK_EQ(p.ready, 0u);
    CHECK_EQ(p.spawn_failed, 0u);
    CHECK_EQ(p.paused, qemu);

    /* growth takes the spare, and a new spare replaces it */
    reset();
    CHECK_EQ(echo_call(&p, 0), 0);
    RUN_UNTIL(loop, done_n == 1, 15000);
    CHECK_EQ(ok_n, 1);
    CHECK_EQ(p.spawned, 1u);
    CHECK_EQ(p.resumed, qemu);
    RUN_UNTIL(loop, p.paused == qemu, 5000); /* the replacement starts once no shard is starting */
    CHECK_EQ(p.paused, qemu);
    CHECK_EQ(p.shards, 1u);

    /* two long calls at once: the second shard comes from the new spare */
    CHECK_EQ(spin_call(&p, 1, 300 * 1000000ull, 0), 0);
    CHECK_EQ(spin_call(&p, 2, 300 * 1000000ull, 0), 0);
    RUN_UNTIL(loop, done_n == 3, 15000);
    CHECK_EQ(ok_n, 3);
    CHECK_EQ(p.spawned, 2u);
    CHECK_EQ(p.resumed, 2 * qemu);
    CHECK(p.peak_shards <= 2);
    /* closing releases the spare's QEMU too (main checks the children) */
    mlos_pool_close_sync(&p);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pool process|x86_64 elastic|warm|order|close|drain|errors|hang|members|paused...\n");
        return 2;
    }
    arch = argv[1];
    loop = uv_default_loop();
    t_start = uv_hrtime();
    uvwarm(loop);
    for (int i = 2; i < argc; i++) {
        int fds0 = count_fds(), kids0 = count_children();
        uint64_t t0 = uv_hrtime();
        fprintf(stderr, "case %s %s\n", arch, argv[i]);
        if (!strcmp(argv[i], "elastic"))
            case_elastic();
        else if (!strcmp(argv[i], "warm"))
            case_warm();
        else if (!strcmp(argv[i], "order"))
            case_order();
        else if (!strcmp(argv[i], "close"))
            case_close();
        else if (!strcmp(argv[i], "drain"))
            case_drain();
        else if (!strcmp(argv[i], "errors"))
            case_errors();
        else if (!strcmp(argv[i], "hang"))
            case_hang();
        else if (!strcmp(argv[i], "members"))
            case_members();
        else if (!strcmp(argv[i], "paused"))
            case_paused();
        else {
            fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
        CHECK_EQ(count_fds(), fds0);
        CHECK_EQ(count_children(), kids0);
        fprintf(stderr, "case %s %s: %.0f ms\n", arch, argv[i], ms_since(t0));
    }
    CHECK_EQ(uv_loop_alive(loop), 0);
    CHECK_DONE();
}
