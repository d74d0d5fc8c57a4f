/* bench_mem: mlos heap and page allocator vs glibc malloc, ns per operation.
 *
 * Usage: bench_mem [iterations]   (default 2000000)
 * "pair": malloc then free of one block, repeated (hot path, warm caches).
 * "batch": 4096 mallocs, then the 4096 frees in shuffled order; the time is
 * per malloc+free pair. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "mem.h"

#define BATCH 4096

static struct mlos_pagealloc pa;
static struct mlos_heap heap;
static void *volatile sink; /* keeps the compiler from eliding malloc/free */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *m_alloc(size_t n) { return mlos_heap_alloc(&heap, n); }
static void m_free(void *p) { mlos_heap_free(&heap, p); }
static void *g_alloc(size_t n) { return malloc(n); }
static void g_free(void *p) { free(p); }

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);

static double pair(alloc_fn a, free_fn f, size_t sz, long iters)
{
    /* A few live blocks so neither allocator runs on an empty heap. */
    void *keep[8];
    for (int i = 0; i < 8; i++)
        keep[i] = a(sz);
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        char *p = a(sz);
        p[0] = (char)i;
        sink = p;
        f(p);
    }
    uint64_t t1 = now_ns();
    for (int i = 0; i < 8; i++)
        f(keep[i]);
    return (double)(t1 - t0) / (double)iters;
}

static double batch(alloc_fn a, free_fn f, size_t sz, long iters)
{
    static void *blk[BATCH];
    static unsigned order[BATCH];
    uint64_t x = 88172645463325252ull, total = 0;
    long rounds = iters / BATCH > 0 ? iters / BATCH : 1;

    for (unsigned i = 0; i < BATCH; i++)
        order[i] = i;
    for (unsigned i = BATCH - 1; i > 0; i--) { /* fixed shuffle */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned j = (unsigned)(x % (i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (long r = 0; r < rounds; r++) {
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < BATCH; i++) {
            char *p = a(sz);
            p[0] = 1;
            blk[i] = p;
        }
        for (unsigned i = 0; i < BATCH; i++)
            f(blk[order[i]]);
        total += now_ns() - t0;
    }
    return (double)total / (double)(rounds * BATCH);
}

static double pages(size_t n, long iters)
{
    void *keep = mlos_page_alloc(&pa, 1);
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        void *p = mlos_page_alloc(&pa, n);
        sink = p;
        mlos_page_free(&pa, p, n);
    }
    uint64_t t1 = now_ns();
    mlos_page_free(&pa, keep, 1);
    return (double)(t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    size_t len = (size_t)1 << 30;
    static const size_t sizes[] = { 16, 64, 256, 1024, 2000, 8192, 65536 };
    void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct mlos_hal_region r = { (uintptr_t)mem, len };

    if (mem == MAP_FAILED || mlos_pagealloc_init(&pa, &r, 1) != 0) {
        fprintf(stderr, "bench_mem: cannot set up a 1 GiB region\n");
        return 1;
    }
    mlos_heap_init(&heap, &pa);

    printf("%8s  %12s %12s  %12s %12s   (ns per malloc+free)\n",
           "size", "mlos pair", "glibc pair", "mlos batch", "glibc batch");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t sz = sizes[i];
        long it = sz > 4096 ? iters / 4 : iters;
        double mp = pair(m_alloc, m_free, sz, it);
        double gp = pair(g_alloc, g_free, sz, it);
        double mb = batch(m_alloc, m_free, sz, it);
        double gb = batch(g_alloc, g_free, sz, it);
        printf("%8zu  %12.1f %12.1f  %12.1f %12.1f\n", sz, mp, gp, mb, gb);
    }
    printf("page alloc+free, 1 page: %.1f ns, 16 pages: %.1f ns, 1024 pages: %.1f ns\n",
           pages(1, iters), pages(16, iters), pages(1024, iters / 4));
    return 0;
}
