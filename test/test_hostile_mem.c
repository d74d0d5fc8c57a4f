/* A process shard that attacks the master through shared memory
 * (hostile-shard-mem) must not crash or stall it: the master survives a
 * shard that truncates its window, fences one that rewinds or misaligns
 * ring indices with MLOS_EPROTO, keeps a 1 ms timer on time while a shard
 * floods or rewinds its ring, and keeps serving a healthy shard meanwhile.
 * Usage: test_hostile_mem truncate|rewind|flood...
 *
 * "On time" is measured in CPU time of the loop's thread between two runs
 * of the timer: that is what a shard can make the master spend, and,
 * unlike wall time, it does not grow when other programs load the machine.
 * The wall-clock lateness is printed beside it; MLOS_TEST_LATE_MS bounds
 * the CPU time (default 10 ms), MLOS_TEST_WALL_LATE_MS also the wall time. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "mlos.h"
#include "msg.h"
#include "uvwarm.h"

static uv_loop_t *loop;
static uint64_t late_limit_ns = 10000000, wall_limit_ns;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- a 1 ms timer that records how late it runs, and a healthy shard
 * that answers a call on every 10th tick ---- */

struct probe {
    uv_timer_t timer;
    uint64_t last, max_gap, last_cpu, max_cpu;
    unsigned ticks;
    mlos_shard_t *healthy;
    mlos_call_t req;
    int busy, ok, bad;
};

static void healthy_cb(mlos_call_t *req, int status)
{
    struct probe *p = req->data;
    p->busy = 0;
    if (status == 0 && req->result_len == 4 && !memcmp(req->result, "ping", 4))
        p->ok++;
    else
        p->bad++;
}

static void probe_cb(uv_timer_t *t)
{
    struct probe *p = t->data;
    uint64_t now = uv_hrtime(), cpu = thread_cpu_ns();
    if (p->last && now - p->last > p->max_gap)
        p->max_gap = now - p->last;
    if (p->last && cpu - p->last_cpu > p->max_cpu)
        p->max_cpu = cpu - p->last_cpu;
    p->last = now;
    p->last_cpu = cpu;
    if (++p->ticks % 10 == 0 && !p->busy) {
        p->req.data = p;
        if (mlos_call(p->healthy, &p->req, "echo", "ping", 4, healthy_cb) == 0)
            p->busy = 1;
        else
            p->bad++;
    }
}

static void probe_start(struct probe *p, mlos_shard_t *healthy)
{
    memset(p, 0, sizeof(*p));
    p->healthy = healthy;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, probe_cb, 1, 1);
}

static void probe_stop(struct probe *p, const char *what)
{
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, NULL);
    while (p->busy)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_NOWAIT);
    uint64_t late = p->max_gap > 1000000 ? p->max_gap - 1000000 : 0;
    fprintf(stderr,
            "%s: 1 ms timer: at most %.2f ms of loop CPU time between two runs, at most %.2f ms late (wall) over %u "
            "ticks; healthy shard: %d calls ok, %d bad\n",
            what, p->max_cpu / 1e6, late / 1e6, p->ticks, p->ok, p->bad);
    CHECK(p->max_cpu <= late_limit_ns);
    if (wall_limit_ns)
        CHECK(late <= wall_limit_ns);
    CHECK(p->ok > 0);
    CHECK_EQ(p->bad, 0);
}

/* ---- shards ---- */

static void spawn_pair(mlos_shard_t *healthy, mlos_shard_t *hostile, const char *mode, const char *delay_ms)
{
    struct mlos_spawn_opts ho = {.arch = "process"};
    struct mlos_spawn_opts xo = {.arch = "process", .image = "hostile-shard-mem"};
    CHECK_EQ(mlos_spawn_sync(loop, healthy, &ho), 0);
    setenv("MLOS_HOSTILE_MODE", mode, 1);
    if (delay_ms)
        setenv("MLOS_HOSTILE_DELAY_MS", delay_ms, 1);
    else
        unsetenv("MLOS_HOSTILE_DELAY_MS");
    CHECK_EQ(mlos_spawn_sync(loop, hostile, &xo), 0);
}

struct result {
    int done, status, len;
    char error[512], data[16];
};

static void result_cb(mlos_call_t *req, int status)
{
    struct result *r = req->data;
    r->done = 1;
    r->status = status;
    snprintf(r->error, sizeof(r->error), "%s", req->error ? req->error : "");
    r->len = (int)(req->result_len < sizeof(r->data) ? req->result_len : sizeof(r->data));
    if (status == 0 && r->len)
        memcpy(r->data, req->result, (size_t)r->len);
}

static void tick_cb(uv_timer_t *t) { (void)t; }

/* Run the loop until r is done or ms pass. */
static void wait_result(struct result *r, unsigned ms)
{
    uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, tick_cb, 50, 50); /* keeps the loop turning */
    while (!r->done && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void run_for(unsigned ms)
{
    struct result never = {0};
    wait_result(&never, ms);
}

static void check_healthy(mlos_shard_t *s)
{
    void *res = NULL;
    size_t len = 0;
    CHECK_EQ(mlos_call_sync(s, "echo", "ping", 4, &res, &len, NULL, 0), 0);
    CHECK(len == 4 && res && !memcmp(res, "ping", 4));
    free(res);
}

/* The shard keeps its memfd and truncates it after HELLO: the seals refuse. */
static void case_truncate(void)
{
    mlos_shard_t healthy, hostile;
    int fds0 = count_fds();
    spawn_pair(&healthy, &hostile, "truncate", NULL);
    run_for(300); /* it tries right after HELLO */
    const char *con = mlos_shard_console_tail(&hostile);
    fprintf(stderr, "hostile console:\n%s", con);
    CHECK(strstr(con, "ftruncate shrink: Operation not permitted") != NULL);
    CHECK(strstr(con, "ftruncate grow: Operation not permitted") != NULL);
    CHECK(strstr(con, "size unchanged") != NULL);
    /* Touching its rings is safe: it still answers. */
    struct result r = {0};
    mlos_call_t req = {.data = &r};
    CHECK_EQ(mlos_call(&hostile, &req, "echo", "ping", 4, result_cb), 0);
    wait_result(&r, 5000);
    CHECK(r.done && r.status == 0 && r.len == 4 && !memcmp(r.data, "ping", 4));
    check_healthy(&healthy);
    mlos_shard_stop_sync(&hostile);
    mlos_shard_stop_sync(&healthy);
    CHECK_EQ(count_fds(), fds0);
}

static int dup_msgs;
static void on_msg(mlos_ep_t *ep, uint32_t type, const void *data, size_t len)
{
    if (type == 9000 && len == 3)
        dup_msgs++;
}
static int ep_gone;
static void ep_closed(mlos_ep_t *ep) { ep_gone = 1; }
static void ep_fail(mlos_ep_t *ep, int status) { mlos_ep_close(ep, ep_closed); }

/* The shard rewinds the master's tail: its 256 messages arrive once each.
 * Then it rewinds its own head: fenced with MLOS_EPROTO, while the timer
 * and the healthy shard carry on. */
static void case_rewind(void)
{
    mlos_shard_t healthy, hostile;
    mlos_domain_t dom;
    mlos_ep_t ep = {.on_recv = on_msg, .on_fail = ep_fail};
    struct probe p;
    int fds0 = count_fds();
    CHECK_EQ(mlos_domain_init(&dom, loop, 0), 0);
    spawn_pair(&healthy, &hostile, "rewind", "200");
    dup_msgs = ep_gone = 0;
    CHECK_EQ(mlos_shard_ep(&dom, &hostile, &ep), 0);
    struct result r = {0};
    mlos_call_t req = {.data = &r};
    CHECK_EQ(mlos_call(&hostile, &req, "echo", "ping", 4, result_cb), 0); /* never answered */
    probe_start(&p, &healthy);
    uint64_t t0 = uv_hrtime();
    wait_result(&r, 8000);
    run_for(300); /* the timer and the healthy shard go on after the fence */
    probe_stop(&p, "rewind");
    fprintf(stderr, "rewind: call ended after %.0f ms: %s (%s)\n", (uv_hrtime() - t0) / 1e6, mlos_strerror(r.status),
            r.error);
    CHECK(r.done);
    CHECK_EQ(r.status, MLOS_EPROTO);
    CHECK(strstr(r.error, "broke the protocol") != NULL);
    CHECK(!mlos_shard_alive(&hostile));
    fprintf(stderr, "rewind: 256 messages sent, %d delivered\n", dup_msgs);
    CHECK_EQ(dup_msgs, 256);
    check_healthy(&healthy);
    mlos_shard_stop_sync(&hostile);
    mlos_shard_stop_sync(&healthy);
    for (int i = 0; i < 1000 && !ep_gone; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    CHECK(ep_gone);
    CHECK_EQ(mlos_domain_close(&dom), 0);
    CHECK_EQ(count_fds(), fds0);
}

/* The shard sends frames as fast as the ring takes them: legal, but one
 * shard must not hold the loop; afterwards it is served as usual. */
static void case_flood(void)
{
    mlos_shard_t healthy, hostile;
    struct probe p;
    int fds0 = count_fds();
    spawn_pair(&healthy, &hostile, "flood", "200");
    probe_start(&p, &healthy);
    run_for(2000);
    probe_stop(&p, "flood");
    CHECK(strstr(mlos_shard_console_tail(&hostile), "hostile: flooded") != NULL);
    struct result r = {0};
    mlos_call_t req = {.data = &r};
    CHECK_EQ(mlos_call(&hostile, &req, "echo", "ping", 4, result_cb), 0);
    wait_result(&r, 5000);
    CHECK(r.done && r.status == 0);
    check_healthy(&healthy);
    mlos_shard_stop_sync(&hostile);
    mlos_shard_stop_sync(&healthy);
    CHECK_EQ(count_fds(), fds0);
}

int main(int argc, char **argv)
{
    const char *lim = getenv("MLOS_TEST_LATE_MS");
    if (lim)
        late_limit_ns = strtoull(lim, NULL, 10) * 1000000;
    if ((lim = getenv("MLOS_TEST_WALL_LATE_MS")))
        wall_limit_ns = strtoull(lim, NULL, 10) * 1000000;
    loop = uv_default_loop();
    uvwarm(loop);
    setenv("MLOS_QUIET", "1", 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "truncate"))
            case_truncate();
        else if (!strcmp(argv[i], "rewind"))
            case_rewind();
        else if (!strcmp(argv[i], "flood"))
            case_flood();
        else
            CHECK(!"unknown case");
    }
    CHECK_DONE();
}
