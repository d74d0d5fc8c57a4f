/* The shard's default page allocator and heap, behind mlos_malloc & co. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hal.h"
#include "mem.h"
#include "mlos_error.h"
#include "spin.h"

/* Zero-initialised statics: nothing runs before mlos_mem_init_from_hal. */
static struct mlos_pagealloc g_pa;
static struct mlos_heap g_heap;
static int g_ready;
/* Several cores share the heap (mlos_mem_share); one core takes no lock. */
static int g_shared;
static volatile int g_lock;

static void lock(void)
{
    if (g_shared)
        mlos_spin_lock(&g_lock);
}

static void unlock(void)
{
    if (g_shared)
        mlos_spin_unlock(&g_lock);
}

void mlos_mem_share(void) { g_shared = 1; }

/* Whether the installed policy, if any, lets the heap grow to a block of n
 * bytes (at p: a realloc; only growth beyond p's block is asked about).
 * Without a policy nothing is looked up: this is on every allocation. */
static int granted(const void *p, size_t n)
{
    mlos_mem_policy_fn policy = mlos__mem_policy();
    if (!policy || (p && n <= mlos_heap_usable_size(&g_heap, p)))
        return 1;
    /* The limit, not the RAM behind it: a policy decides within what the
     * master granted (elastic memory). */
    return policy(n, 16, g_heap.bytes_in_use, g_pa.limit_pages * (size_t)MLOS_HAL_PAGE_SIZE);
}

int mlos_mem_init_from_hal(void)
{
    struct mlos_hal_region regs[MLOS_MEM_MAX_REGIONS];
    int n, rc;

    g_ready = 0;
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

void *mlos_malloc(size_t n)
{
    void *p;
    lock();
    p = g_ready && granted(NULL, n) ? mlos_heap_alloc(&g_heap, n) : NULL;
    unlock();
    return p;
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
    void *q = NULL;
    lock();
    if (g_ready && granted(p, n)) /* a refused growth leaves p as it was */
        q = mlos_heap_realloc(&g_heap, p, n);
    unlock();
    return q;
}

void mlos_free(void *p)
{
    lock();
    if (g_ready)
        mlos_heap_free(&g_heap, p);
    unlock();
}

void mlos_mem_stats(struct mlos_mem_stats *out)
{
    lock();
    mlos_heap_stats(g_ready ? &g_heap : NULL, out);
    unlock();
}

size_t mlos_mem_set_limit(size_t bytes)
{
    size_t set = 0;
    lock();
    if (g_ready) {
        if (bytes / MLOS_PAGE_SIZE < g_pa.limit_pages)
            mlos_heap_trim(&g_heap); /* cached empty slabs count as in use: let them go first */
        set = mlos_pagealloc_set_limit(&g_pa, bytes / MLOS_PAGE_SIZE) * MLOS_PAGE_SIZE;
    }
    unlock();
    return set;
}

size_t mlos_mem_reclaim(size_t keep_bytes, struct mlos_page_run *runs, size_t max_runs, size_t *held_bytes)
{
    size_t held = 0, n = 0;

    lock();
    if (g_ready) {
        mlos_heap_trim(&g_heap);
        n = mlos_page_reclaim(&g_pa, keep_bytes / MLOS_PAGE_SIZE, runs, max_runs, &held);
    }
    unlock();
    if (held_bytes)
        *held_bytes = held * MLOS_PAGE_SIZE;
    return n;
}

int mlos_mem_return(const struct mlos_page_run *run)
{
    int rc;
    lock();
    rc = g_ready ? mlos_page_return(&g_pa, run) : MLOS_EINVAL;
    unlock();
    return rc;
}
