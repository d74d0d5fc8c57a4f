/* bench_pool: shard pool numbers.
 *   bench_pool [ARCH [N [ROUNDS]]]     ARCH: process | x86_64 | all (default); N shards: 4; ROUNDS: 5
 * Prints, per arch:
 *   - spawn rate growing a pool from 0 to N shards: (a) min_shards = N at
 *     init, (b) on demand: N long calls submitted at once to an empty pool
 *     (time from the first call to the N-th shard UP), (c) the same with
 *     N paused spares (paused_spares = N, x86_64/ppc; started 1 s before
 *     the calls, so that their QEMUs are up and paused);
 *   - call latency: the first call on an empty pool (cold boot) vs calls on
 *     a pool with a warm shard (min_warm = 1), vs mlos_call on the same
 *     kind of shard directly (the pool's own cost).
 * Heartbeats are on (defaults) except in (b), whose calls outlast them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlos_pool.h"

static uv_loop_t *loop;
static int up_count, done_count;
static uint64_t t_last_up;

static void on_event(mlos_pool_t *p, const mlos_shard_t *s, enum mlos_pool_event ev, int status, const char *why)
{
    if (ev == MLOS_POOL_SHARD_UP) {
        up_count++;
        t_last_up = uv_hrtime();
    } else if (ev == MLOS_POOL_SHARD_SPAWN_FAILED) {
        fprintf(stderr, "bench_pool: a shard could not start: %s\n", why);
        exit(1);
    } else if (ev != MLOS_POOL_SHARD_RETIRED) {
        fprintf(stderr, "pool event %d: %s\n", ev, why);
    }
}

static void on_done(mlos_pool_call_t *req, int status)
{
    if (status && status != MLOS_ESTOPPED)
        fprintf(stderr, "call failed: %s\n", req->error);
    done_count++;
}

static void run_until(const int *v, int want)
{
    while (*v < want)
        uv_run(loop, UV_RUN_ONCE);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static struct mlos_pool_opts opts(const char *arch)
{
    struct mlos_pool_opts o = {.spawn = {.arch = arch, .mem_bytes = 16u << 20, .bulk_bytes = 1u << 20},
                               .on_event = on_event, .idle_timeout_ms = 60000};
    return o;
}

/* (b)/(c): n long calls at once into an empty pool (with spares: n paused
 * spares started spare_wait_ms earlier); ms from the first call to the
 * n-th shard UP. */
static double grow_on_demand(const char *arch, int n, unsigned spares, unsigned spare_wait_ms)
{
    struct mlos_pool_opts o = opts(arch);
    mlos_pool_t p;
    mlos_pool_call_t *reqs = calloc((size_t)n, sizeof(*reqs));
    uint8_t arg[8];
    uint64_t ns = 1500000000ull, t0; /* outlasts the growth */
    double ms;

    o.max_shards = (unsigned)n;
    o.heartbeat_ms = -1;
    o.paused_spares = spares;
    for (int i = 0; i < 8; i++)
        arg[i] = (uint8_t)(ns >> (8 * i));
    if (mlos_pool_init(loop, &p, &o) < 0)
        exit(1);
    for (uint64_t until = uv_hrtime() + (uint64_t)spare_wait_ms * 1000000u; uv_hrtime() < until;) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    up_count = done_count = 0;
    t0 = uv_hrtime();
    for (int i = 0; i < n; i++)
        mlos_pool_call(&p, &reqs[i], "spin", arg, 8, 0, on_done);
    run_until(&up_count, n);
    ms = (double)(t_last_up - t0) / 1e6;
    if (spares && p.resumed != (uint64_t)n)
        fprintf(stderr, "bench_pool: only %llu of %d shards came from paused spares\n", (unsigned long long)p.resumed, n);
    run_until(&done_count, n);
    mlos_pool_close_sync(&p);
    free(reqs);
    return ms;
}

static void bench_spawn(const char *arch, int n, int rounds)
{
    double init_ms = 0, demand_ms = 0, paused_ms = 0;
    int qemu = strcmp(arch, "process") != 0;
    for (int r = 0; r < rounds; r++) {
        struct mlos_pool_opts o = opts(arch);
        mlos_pool_t p;
        uint64_t t0;

        /* (a) min_shards */
        o.min_shards = o.max_shards = (unsigned)n;
        up_count = 0;
        t0 = uv_hrtime();
        if (mlos_pool_init(loop, &p, &o) < 0)
            exit(1);
        run_until(&up_count, n);
        init_ms += (double)(t_last_up - t0) / 1e6;
        mlos_pool_close_sync(&p);

        demand_ms += grow_on_demand(arch, n, 0, 0); /* (b) */
        if (qemu)
            paused_ms += grow_on_demand(arch, n, (unsigned)n, 1000); /* (c) */
    }
    init_ms /= rounds;
    demand_ms /= rounds;
    printf("%-8s grow 0 -> %d shards: min_shards %7.1f ms (%6.1f shards/s) | on demand %7.1f ms (%6.1f shards/s)\n",
           arch, n, init_ms, n / init_ms * 1e3, demand_ms, n / demand_ms * 1e3);
    if (qemu) {
        paused_ms /= rounds;
        printf("%-8s grow 0 -> %d shards on demand from %d paused spares: %7.1f ms (%6.1f shards/s)\n", arch, n, n,
               paused_ms, n / paused_ms * 1e3);
    }
}

#define WARM_CALLS 200
static double lat[WARM_CALLS];

static void one_call(mlos_pool_t *p, double *ms)
{
    mlos_pool_call_t req;
    uint64_t t0 = uv_hrtime();
    done_count = 0;
    mlos_pool_call(p, &req, "echo", "01234567", 8, MLOS_POOL_IDEMPOTENT, on_done);
    run_until(&done_count, 1);
    *ms = (double)(uv_hrtime() - t0) / 1e6;
}

static void bench_latency(const char *arch, int rounds)
{
    double cold = 0, cold_min = 1e9;
    for (int r = 0; r < rounds; r++) {
        struct mlos_pool_opts o = opts(arch);
        mlos_pool_t p;
        double ms;
        o.max_shards = 1;
        mlos_pool_init(loop, &p, &o);
        one_call(&p, &ms);
        cold += ms;
        cold_min = ms < cold_min ? ms : cold_min;
        mlos_pool_close_sync(&p);
    }
    cold /= rounds;

    struct mlos_pool_opts o = opts(arch);
    mlos_pool_t p;
    o.max_shards = 2;
    o.min_warm = 1;
    mlos_pool_init(loop, &p, &o);
    up_count = 0;
    run_until(&up_count, 1);
    for (int i = 0; i < WARM_CALLS; i++)
        one_call(&p, &lat[i]);
    qsort(lat, WARM_CALLS, sizeof(double), cmp_d);
    double wp50 = lat[WARM_CALLS / 2], wp99 = lat[WARM_CALLS * 99 / 100];
    mlos_pool_close_sync(&p);

    /* the same call straight on a shard */
    struct mlos_spawn_opts so = o.spawn;
    mlos_shard_t s;
    mlos_spawn_sync(loop, &s, &so);
    for (int i = 0; i < WARM_CALLS; i++) {
        void *res;
        size_t len;
        uint64_t t0 = uv_hrtime();
        mlos_call_sync(&s, "echo", "01234567", 8, &res, &len, NULL, 0);
        lat[i] = (double)(uv_hrtime() - t0) / 1e6;
        free(res);
    }
    mlos_shard_stop_sync(&s);
    qsort(lat, WARM_CALLS, sizeof(double), cmp_d);
    printf("%-8s 8-byte echo: cold (empty pool, first call) mean %7.2f ms, min %7.2f ms | warm pool p50 %6.3f ms, "
           "p99 %6.3f ms | direct mlos_call p50 %6.3f ms\n",
           arch, cold, cold_min, wp50, wp99, lat[WARM_CALLS / 2]);
}

int main(int argc, char **argv)
{
    const char *archs[] = {"process", "x86_64"};
    int only = argc > 1 && strcmp(argv[1], "all"), n = argc > 2 ? atoi(argv[2]) : 4, rounds = argc > 3 ? atoi(argv[3]) : 5;
    loop = uv_default_loop();
    if (n < 1 || rounds < 1)
        return 2;
    for (int a = 0; a < 2; a++) {
        const char *arch = only ? argv[1] : archs[a];
        bench_spawn(arch, n, rounds);
        bench_latency(arch, rounds);
        if (only)
            break;
    }
    return 0;
}
