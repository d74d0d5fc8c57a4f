/* shard_bench.h -- what bench_skeleton and bench_ppc both measure on a
 * shard: cold spawns, spawns from a paused spare, and the small-call round
 * trip. */
#ifndef MLOS_BENCH_SHARD_BENCH_H
#define MLOS_BENCH_SHARD_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "mlos.h"
#include "mlos_pool.h"

/* runs cold spawns of o into s: spawn_ns[r] (request -> HELLO) and, if
 * given, boot_ns[r] (the shard's clock at HELLO). All but the last shard
 * are stopped; the last stays running in s. Returns 0, or -1 after saying
 * why a spawn failed (nothing left running). */
static inline int bench_cold_spawns(uv_loop_t *loop, mlos_shard_t *s, const struct mlos_spawn_opts *o, int runs,
                                    uint64_t *spawn_ns, uint64_t *boot_ns)
{
    for (int r = 0; r < runs; r++) {
        if (mlos_spawn_sync(loop, s, o) < 0) {
            fprintf(stderr, "spawn %s failed\n%s", o->arch, mlos_shard_console_tail(s));
            mlos_shard_stop_sync(s);
            return -1;
        }
        spawn_ns[r] = s->spawn_ns;
        if (boot_ns)
            boot_ns[r] = s->shard_boot_ns;
        if (r < runs - 1)
            mlos_shard_stop_sync(s);
    }
    return 0;
}

/* The small-call round trip: 200 warm-up calls, then up to n timed 8-byte
 * "echo" calls. rtt[0..return) receives each call's round trip in ns; returns how many
 * calls succeeded before the first failure. */
static inline int bench_echo_rtts(mlos_shard_t *s, uint64_t *rtt, int n)
{
    int i;
    for (i = 0; i < 200; i++)
        mlos_call_sync(s, "echo", "12345678", 8, NULL, NULL, NULL, 0);
    for (i = 0; i < n; i++) {
        uint64_t t0 = uv_hrtime();
        if (mlos_call_sync(s, "echo", "12345678", 8, NULL, NULL, NULL, 0) < 0)
            break;
        rtt[i] = uv_hrtime() - t0;
    }
    return i;
}

/* Shards from a paused spare (mlos_pool.h, paused_spares): per run, a
 * one-shard pool with one spare, left spare_wait_ms for its QEMU to come
 * up paused, then one call; spawn_ns[r] is the shard's resume -> HELLO
 * (host clock) and call_ns[r], if given, the call's request -> reply.
 * Returns the runs done (stops at the first failure, saying why). */
static const mlos_shard_t *bench_paused_up;
static int bench_paused_done;
static void bench_paused_event(mlos_pool_t *p, const mlos_shard_t *s, enum mlos_pool_event ev, int st, const char *why)
{
    (void)p;
    (void)st;
    if (ev == MLOS_POOL_SHARD_UP)
        bench_paused_up = s;
    else if (ev != MLOS_POOL_SHARD_RETIRED)
        fprintf(stderr, "paused spare: %s\n", why);
}
static void bench_paused_cb(mlos_pool_call_t *req, int status)
{
    (void)req;
    bench_paused_done = status == 0 ? 1 : -1;
}

static inline int bench_paused_spawns(uv_loop_t *loop, const struct mlos_spawn_opts *so, int runs, unsigned spare_wait_ms,
                                      uint64_t *spawn_ns, uint64_t *call_ns)
{
    for (int r = 0; r < runs; r++) {
        struct mlos_pool_opts o = {.spawn = *so, .max_shards = 1, .paused_spares = 1, .heartbeat_ms = -1,
                                   .on_event = bench_paused_event};
        mlos_pool_t p;
        mlos_pool_call_t req;

        if (mlos_pool_init(loop, &p, &o) < 0)
            return r;
        uint64_t until = uv_hrtime() + (uint64_t)spare_wait_ms * 1000000u;
        while (uv_hrtime() < until) { /* the loop stays responsive meanwhile */
            uv_run(loop, UV_RUN_NOWAIT);
            usleep(1000);
        }
        bench_paused_up = NULL;
        bench_paused_done = 0;
        uint64_t t0 = uv_hrtime();
        if (mlos_pool_call(&p, &req, "echo", "12345678", 8, 0, bench_paused_cb) < 0) {
            mlos_pool_close_sync(&p);
            return r;
        }
        while (!bench_paused_done)
            uv_run(loop, UV_RUN_ONCE);
        if (call_ns)
            call_ns[r] = uv_hrtime() - t0;
        if (bench_paused_done < 0 || !bench_paused_up || p.resumed != 1) {
            fprintf(stderr, "paused spare: the call failed or did not use the spare\n");
            mlos_pool_close_sync(&p);
            return r;
        }
        spawn_ns[r] = bench_paused_up->spawn_ns;
        mlos_pool_close_sync(&p);
    }
    return runs;
}

#endif
