/* shard_bench.h -- what bench_skeleton and bench_ppc both measure on a
 * shard: cold spawns, and the small-call round trip. */
#ifndef MLOS_BENCH_SHARD_BENCH_H
#define MLOS_BENCH_SHARD_BENCH_H

#include <stdint.h>
#include <stdio.h>

#include "mlos.h"

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

#endif
