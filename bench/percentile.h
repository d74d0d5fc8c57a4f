/* percentile.h -- the one percentile rule every benchmark reports with:
 * sort the samples, take the nearest rank. */
#ifndef MLOS_BENCH_PERCENTILE_H
#define MLOS_BENCH_PERCENTILE_H

#include <stdint.h>
#include <stdlib.h>

static inline int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* p in [0, 1]; sorts v in place. */
static inline uint64_t bench_pct(uint64_t *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_u64);
    return n > 0 ? v[(int)(p * (n - 1) + 0.5)] : 0;
}

#endif
