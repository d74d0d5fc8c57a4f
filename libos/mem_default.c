/* The shard's default page allocator and heap, behind mlos_malloc & co. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mem.h"
#include "mlos_error.h"

/* Zero-initialised statics: nothing runs before mlos_mem_init_from_hal. */
static struct mlos_pagealloc g_pa;
static struct mlos_heap g_heap;
static int g_ready;
static int g_lazy; /* mlos_mem_init_lazy: initialise at first use */

/* Whether the default instance can be used, initialising it first if that
 * was deferred. */
static int ready(void)
{
    if (!g_ready && g_lazy) {
        g_lazy = 0;
        (void)mlos_mem_init_from_hal(); /* a failure leaves g_ready 0: allocations fail */
    }
    return g_ready;
}

/* Whether the installed policy, if any, lets the heap grow to a block of n
 * bytes (at p: a realloc; only growth beyond p's block is asked about).
 * Without a policy nothing is looked up: this is on every allocation. */
static int granted(const void *p, size_t n)
{
    mlos_mem_policy_fn policy = mlos__mem_policy();
    if (!policy || (p && n <= mlos_heap_usable_size(&g_heap, p)))
        return 1;
    return policy(n, 16, g_heap.bytes_in_use, g_pa.total_pages * (size_t)MLOS_HAL_PAGE_SIZE);
}

int mlos_mem_init_from_hal(void)
{
    struct mlos_hal_region regs[MLOS_MEM_MAX_REGIONS];
    int n, rc;

    g_ready = g_lazy = 0;
    n = mlos_hal_mem_regions(regs, MLOS_MEM_MAX_REGIONS);
    if (n < 0)
        return n;
    if (n > MLOS_MEM_MAX_REGIONS)
        n = MLOS_MEM_MAX_REGIONS; /* the HAL only filled this many */
    rc = mlos_pagealloc_init(&g_pa, regs, n);
    if (rc < 0)
        return rc;
    mlos_heap_init(&g_heap, &g_pa);
    g_ready = 1;
    return 0;
}

int mlos_mem_init_lazy(size_t *capacity)
{
    struct mlos_hal_region regs[MLOS_MEM_MAX_REGIONS];
    int n;
    size_t cap;

    if (g_ready) { /* already set up (and maybe in use): keep it */
        *capacity = g_pa.total_pages * (size_t)MLOS_HAL_PAGE_SIZE;
        return 0;
    }
    n = mlos_hal_mem_regions(regs, MLOS_MEM_MAX_REGIONS);
    if (n < 0)
        return n;
    if (n > MLOS_MEM_MAX_REGIONS)
        n = MLOS_MEM_MAX_REGIONS;
    if (!(cap = mlos_pagealloc_capacity(regs, n)))
        return MLOS_EINVAL;
    g_ready = 0;
    g_lazy = 1;
    *capacity = cap;
    return 0;
}

void *mlos_malloc(size_t n)
{
    return ready() && granted(NULL, n) ? mlos_heap_alloc(&g_heap, n) : NULL;
}

void *mlos_calloc(size_t n, size_t m)
{
    void *p;

    if (m && n > SIZE_MAX / m)
        return NULL;
    p = mlos_malloc(n * m);
    if (p)
        memset(p, 0, n * m); /* recycled pages are not clean */
    return p;
}

void *mlos_realloc(void *p, size_t n)
{
    if (!ready() || !granted(p, n))
        return NULL; /* a refused growth leaves p as it was */
    return mlos_heap_realloc(&g_heap, p, n);
}

void mlos_free(void *p)
{
    if (ready())
        mlos_heap_free(&g_heap, p);
}

void mlos_mem_stats(struct mlos_mem_stats *out)
{
    mlos_heap_stats(ready() ? &g_heap : NULL, out);
}
