/* Fault injection on a shard pool.
 *   test_faults ARCH [NCALLS [SEED]]      ARCH: process | x86_64; NCALLS 500
 *
 * Runs NCALLS verified calls on a pool (min 2, max 4 shards, one warm):
 *   i%3 == 0  sum_u64 over 64 values the prep hook puts into the chosen
 *             shard's bulk window (again on a re-run), IDEMPOTENT
 *   i%3 == 1  echo of 64 bytes derived from i, IDEMPOTENT
 *   i%3 == 2  the same echo, NOT idempotent
 * while a killer SIGKILLs a shard every 100-250 ms (preferring one that was
 * just handed a call, so that kills land mid-call; every 4th time SIGSTOP
 * instead: alive but silent), and once makes a shard hang with a "spin" of
 * 1000 s (non-idempotent).
 * Checks: every idempotent call returns the right result; every
 * non-idempotent one returns the right result or MLOS_ESHARDDIED saying it
 * was not re-run; each kill and stop is detected (pool event) < 1 s after
 * kill(), a stop as a heartbeat timeout;
 * the hang is detected < 1 s after the call went to its shard; no shard
 * fails without a kill or the hang; after close no child process, no
 * descriptor and no killed pid is left. */
#include <signal.h>
#include <string.h>

#include "check.h"
#include "mlos_pool.h"
#include "pool_util.h"
#include "uvwarm.h"

#define MAXCALLS 5000
#define WINDOW 6
#define NVALS 64

static const char *arch;
static uv_loop_t *loop;
static mlos_pool_t pool;
static int ncalls, submitted, completed, outstanding;
static mlos_pool_call_t *reqs;
static int wrong, idem_failed, nonidem_failed, nonidem_unclear;

/* shards that were just handed a call (prep hook), for the killer */
static uint32_t busy_ids[64];
static int nbusy;

/* kills: shard id -> time of kill(), pid */
#define MAXKILLS 256
static struct {
    uint32_t id;
    int pid;
    uint64_t t;
    int seen, stopped;
} kills[MAXKILLS];
static double worst_stop_ms;
static int nkills, max_kills;
static double worst_kill_ms, sum_kill_ms;
static int unexplained;

/* the hang */
static mlos_pool_call_t hang_req;
static uint32_t hang_shard;
static uint64_t hang_sent;
static int hang_done, hang_status;
static double hang_ms;
static char hang_err[512];

static uint64_t val(int i, int k) { return (uint64_t)i * 0x9E3779B97F4A7C15ull + (uint64_t)k * k; }

static void fill_echo(int i, uint8_t *b)
{
    memcpy(b, &i, 4);
    for (int k = 4; k < 64; k++)
        b[k] = (uint8_t)(i * 7 + k);
}

static int prep_sum(mlos_pool_call_t *req, mlos_shard_t *s)
{
    int i = (int)(req - reqs);
    uint64_t v[NVALS];
    for (int k = 0; k < NVALS; k++)
        v[k] = val(i, k);
    if (nbusy < 64)
        busy_ids[nbusy++] = s->id;
    return mlos_put(s, 0, v, sizeof(v));
}

static int prep_note(mlos_pool_call_t *req, mlos_shard_t *s)
{
    if (nbusy < 64)
        busy_ids[nbusy++] = s->id;
    return 0;
}

static void on_reply(mlos_pool_call_t *req, int status)
{
    int i = (int)(req - reqs), kind = i % 3;
    completed++;
    outstanding--;
    if (status == 0) {
        if (kind == 0) {
            uint64_t expect = 0;
            for (int k = 0; k < NVALS; k++)
                expect += val(i, k);
            if (req->result_len != 8 || mlos_get_le64(req->result) != expect)
                wrong++, fprintf(stderr, "call %d: wrong sum\n", i);
        } else {
            uint8_t b[64];
            fill_echo(i, b);
            if (req->result_len != 64 || memcmp(req->result, b, 64))
                wrong++, fprintf(stderr, "call %d: wrong echo\n", i);
        }
        return;
    }
    if (kind != 2) {
        idem_failed++;
        fprintf(stderr, "idempotent call %d failed after %u attempt(s): %s\n", i, req->attempts, req->error);
    } else if (status == MLOS_ESHARDDIED && strstr(req->error, "not idempotent: not re-run")) {
        nonidem_failed++;
    } else {
        nonidem_unclear++;
        fprintf(stderr, "non-idempotent call %d: status %d: %s\n", i, status, req->error);
    }
}

static void submit_one(void)
{
    int i = submitted++, kind = i % 3;
    mlos_pool_call_t *r = &reqs[i];
    uint8_t arg[64];
    int rc;
    outstanding++;
    if (kind == 0) {
        mlos_put_le64(arg, 0);
        mlos_put_le64(arg + 8, NVALS * 8);
        rc = mlos_pool_call_prep(&pool, r, "sum_u64", arg, 16, MLOS_POOL_IDEMPOTENT, prep_sum, on_reply);
    } else {
        fill_echo(i, arg);
        rc = mlos_pool_call_prep(&pool, r, "echo", arg, 64, kind == 1 ? MLOS_POOL_IDEMPOTENT : 0, prep_note,
                                 on_reply);
    }
    CHECK_EQ(rc, 0);
}

static void on_hang(mlos_pool_call_t *req, int status)
{
    hang_done = 1;
    hang_status = status;
    hang_ms = (double)(uv_hrtime() - hang_sent) / 1e6;
    snprintf(hang_err, sizeof(hang_err), "%s", req->error ? req->error : "");
    fprintf(stderr, "hang: %.0f ms after dispatch: %s\n", hang_ms, req->error ? req->error : "ok?");
}

static int prep_hang(mlos_pool_call_t *req, mlos_shard_t *s)
{
    hang_shard = s->id;
    hang_sent = uv_hrtime();
    return 0;
}

static void submit_hang(void)
{
    uint8_t arg[8];
    mlos_put_le64(arg, 1000ull * 1000000000ull);
    CHECK_EQ(mlos_pool_call_prep(&pool, &hang_req, "spin", arg, 8, 0, prep_hang, on_hang), 0);
}

static void pacer_cb(uv_timer_t *t)
{
    if (submitted < ncalls && outstanding < WINDOW)
        submit_one();
    if (submitted >= ncalls * 2 / 5 && !hang_req.cb)
        submit_hang();
    if (submitted == ncalls)
        uv_timer_stop(t);
}

/* Every 4th "kill" is a SIGSTOP: the process lives but stops answering,
 * which only the heartbeat can see. */
static int nstops;
static void kill_one(mlos_shard_t *s)
{
    int stop = nkills % 4 == 2;
    if (nkills >= MAXKILLS)
        return;
    kills[nkills].id = s->id;
    kills[nkills].pid = s->pid;
    kills[nkills].t = uv_hrtime();
    kills[nkills].stopped = stop;
    nkills++;
    nstops += stop;
    kill(s->pid, stop ? SIGSTOP : SIGKILL);
}

static int already_hit(uint32_t id)
{
    for (int k = 0; k < nkills; k++)
        if (kills[k].id == id)
            return 1;
    return 0;
}

static void killer_cb(uv_timer_t *t)
{
    mlos_shard_t *sh[16], *cand[16];
    size_t n, nc = 0;

    if (nkills >= max_kills || submitted >= ncalls) {
        uv_timer_stop(t);
        return;
    }
    /* hand out a burst of calls, then kill a shard that just got one */
    nbusy = 0;
    for (int b = 0; b < WINDOW && submitted < ncalls && outstanding < 2 * WINDOW; b++)
        submit_one();
    n = mlos_pool_shards(&pool, sh, 16);
    for (size_t i = 0; i < n && i < 16; i++) {
        if (sh[i]->id == hang_shard && !hang_done)
            continue; /* the hung one is the heartbeat's job */
        if (already_hit(sh[i]->id))
            continue; /* killed or stopped, not yet noticed: once is enough */
        for (int b = 0; b < nbusy; b++)
            if (busy_ids[b] == sh[i]->id) {
                cand[nc++] = sh[i];
                break;
            }
    }
    if (!nc) /* no busy shard: any, with the same two exceptions */
        for (size_t i = 0; i < n && i < 16; i++)
            if (!(sh[i]->id == hang_shard && !hang_done) && !already_hit(sh[i]->id))
                cand[nc++] = sh[i];
    if (nc)
        kill_one(cand[rand() % nc]);
    uv_timer_start(t, killer_cb, 100 + rand() % 150, 0);
}

static void on_event(mlos_pool_t *p, const mlos_shard_t *s, enum mlos_pool_event ev, int status, const char *why)
{
    if (ev == MLOS_POOL_SHARD_SPAWN_FAILED) {
        fprintf(stderr, "spawn failed: %s\n", why);
        return;
    }
    if (ev != MLOS_POOL_SHARD_FAILED)
        return;
    for (int k = 0; k < nkills; k++)
        if (kills[k].id == s->id && !kills[k].seen) {
            double ms = (double)(uv_hrtime() - kills[k].t) / 1e6;
            kills[k].seen = 1;
            if (kills[k].stopped) { /* only a heartbeat timeout can notice */
                CHECK_EQ(status, MLOS_ETIMEDOUT);
                if (ms > worst_stop_ms)
                    worst_stop_ms = ms;
                return;
            }
            sum_kill_ms += ms;
            if (ms > worst_kill_ms)
                worst_kill_ms = ms;
            return;
        }
    if (s->id == hang_shard && status == MLOS_ETIMEDOUT)
        return;
    unexplained++;
    fprintf(stderr, "shard %u failed without a kill: %s\n", s->id, why);
}

static int all_seen(void)
{
    for (int k = 0; k < nkills; k++)
        if (!kills[k].seen)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    struct mlos_pool_opts o = {.min_shards = 2, .max_shards = 4, .min_warm = 1, .max_retries = 8,
                               .idle_timeout_ms = 2000, .on_event = on_event};
    uv_timer_t pacer, killer;

    if (argc < 2) {
        fprintf(stderr, "usage: test_faults process|x86_64 [ncalls [seed]]\n");
        return 2;
    }
    arch = argv[1];
    ncalls = argc > 2 ? atoi(argv[2]) : 500;
    srand(argc > 3 ? (unsigned)atoi(argv[3]) : 6);
    if (ncalls < 10 || ncalls > MAXCALLS)
        return 2;
    reqs = calloc((size_t)ncalls, sizeof(*reqs));
    max_kills = ncalls / 30;
    loop = uv_default_loop();
    uvwarm(loop);
    setenv("MLOS_QUIET", "1", 1);
    int fds0 = count_fds(), kids0 = count_children();
    uint64_t t0 = uv_hrtime();

    o.spawn.arch = arch;
    o.spawn.mem_bytes = 16u << 20;
    o.spawn.bulk_bytes = 1u << 20;
    CHECK_EQ(mlos_pool_init(loop, &pool, &o), 0);
    RUN_UNTIL(loop, pool.ready >= 2, 20000);
    CHECK(pool.ready >= 2);
    uv_timer_init(loop, &pacer);
    uv_timer_init(loop, &killer);
    uv_timer_start(&pacer, pacer_cb, 4, 4);
    uv_timer_start(&killer, killer_cb, 150, 0);
    RUN_UNTIL(loop, completed == ncalls && hang_done, 120000);
    RUN_UNTIL(loop, all_seen(), 3000); /* a stop just before the end takes up to a heartbeat timeout */
    uv_close((uv_handle_t *)&pacer, NULL);
    uv_close((uv_handle_t *)&killer, NULL);

    int seen = 0;
    for (int k = 0; k < nkills; k++)
        seen += kills[k].seen;
    printf("%s: %d calls in %.0f ms: %d shards killed, %d stopped (%d seen; SIGKILL detection mean %.1f ms, worst "
           "%.1f ms; SIGSTOP worst %.0f ms), hang detected in %.0f ms; re-runs %llu, non-idempotent failed cleanly "
           "%d, spawned %llu, peak %u\n",
           arch, ncalls, ms_since(t0), nkills - nstops, nstops, seen,
           seen > nstops ? sum_kill_ms / (seen - nstops) : 0, worst_kill_ms, worst_stop_ms, hang_ms,
           (unsigned long long)pool.retries, nonidem_failed, (unsigned long long)pool.spawned, pool.peak_shards);
    CHECK_EQ(completed, ncalls);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(idem_failed, 0);
    CHECK_EQ(nonidem_unclear, 0);
    CHECK(nkills >= 5);
    CHECK_EQ(seen, nkills);
    CHECK(worst_kill_ms < 1000);
    CHECK(nstops >= 1);
    CHECK(worst_stop_ms < 1000);
    CHECK(pool.retries > 0); /* kills did land mid-call */
    CHECK(hang_done);
    CHECK_EQ(hang_status, MLOS_ESHARDDIED);
    CHECK(hang_req.cb != NULL);
    CHECK(hang_ms < 1000);
    CHECK(strstr(hang_err, "stopped answering (no heartbeat for") != NULL);
    CHECK_EQ(unexplained, 0);

    mlos_pool_close_sync(&pool);
    CHECK(pool.impl == NULL);
    for (int k = 0; k < nkills; k++)
        CHECK(!pid_alive(kills[k].pid));
    CHECK_EQ(count_fds(), fds0);
    CHECK_EQ(count_children(), kids0);
    CHECK_EQ(uv_loop_alive(loop), 0);
    free(reqs);
    CHECK_DONE();
}
