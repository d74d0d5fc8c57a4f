/* echo_rtt.h -- the small-call round trip both spawn benchmarks report:
 * 200 warm-up calls, then up to n timed 8-byte "echo" calls. */
#ifndef MLOS_BENCH_ECHO_RTT_H
#define MLOS_BENCH_ECHO_RTT_H

#include <stdint.h>

#include "mlos.h"

/* rtt[0..return) receives each call's round trip in ns; returns how many
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
