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
static int g_lazy; /* mlos_mem_init_lazy: initialise at first use */
/* A limit asked for before the deferred set-up (mlos.mem of mlos.mem_max,
 * set at boot): applied by the set-up. */
static int g_limit_pending;
static size_t g_limit_pages, g_lazy_cap_pages;
/* The capacity promised from mlos_hal_mem_budget before the HAL's map was
 * read (0: it came from the regions themselves). */
static size_t g_promised_pages;
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

/* Whether the default instance can be used, initialising it first if that
 * was deferred. Called with the lock held, so a deferred set-up runs once
 * even when several cores share the heap. */
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
    /* The limit, not the RAM behind it: a policy decides within what the
     * master granted (elastic memory). */
    return policy(n, 16, g_heap.bytes_in_use, g_pa.limit_pages * (size_t)MLOS_HAL_PAGE_SIZE);
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
    if (g_promised_pages && g_pa.total_pages != g_promised_pages) {
        /* The map had no single range for the budget: HELLO said more or
         * less than there is. Never hand out more than it said. */
        static const char msg[] = "mlos: memory map differs from mlos.mem: the size HELLO reported is off\n";
        mlos_hal_console_write(msg, sizeof(msg) - 1);
        if (!g_limit_pending && g_pa.total_pages > g_promised_pages)
            (void)mlos_pagealloc_set_limit(&g_pa, g_promised_pages);
    }
    g_promised_pages = 0;
    if (g_limit_pending) /* asked for while the set-up was deferred */
        (void)mlos_pagealloc_set_limit(&g_pa, g_limit_pages);
    g_limit_pending = 0;
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
    /* A HAL that knows its RAM before reading its map (one region of
     * budget bytes): the capacity follows from the size alone, and the map
     * can wait until after HELLO. */
    size_t budget;
    int promised = mlos_hal_mem_budget(&budget) == 0;
    if (promised) {
        cap = mlos_pagealloc_capacity_of(budget);
    } else {
        n = mlos_hal_mem_regions(regs, MLOS_MEM_MAX_REGIONS);
        if (n < 0)
            return n;
        if (n > MLOS_MEM_MAX_REGIONS)
            n = MLOS_MEM_MAX_REGIONS;
        cap = mlos_pagealloc_capacity(regs, n);
    }
    if (!cap)
        return MLOS_EINVAL;
    g_promised_pages = promised ? cap / MLOS_HAL_PAGE_SIZE : 0;
    g_ready = 0;
    g_lazy = 1;
    g_lazy_cap_pages = cap / MLOS_HAL_PAGE_SIZE;
    g_limit_pending = 0;
    *capacity = cap;
    return 0;
}

void *mlos_malloc(size_t n)
{
    void *p;
    lock();
    p = ready() && granted(NULL, n) ? mlos_heap_alloc(&g_heap, n) : NULL;
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
    if (ready() && granted(p, n)) /* a refused growth leaves p as it was */
        q = mlos_heap_realloc(&g_heap, p, n);
    unlock();
    return q;
}

void mlos_free(void *p)
{
    lock();
    if (ready())
        mlos_heap_free(&g_heap, p);
    unlock();
}

void mlos_mem_stats(struct mlos_mem_stats *out)
{
    lock();
    mlos_heap_stats(ready() ? &g_heap : NULL, out);
    unlock();
}

size_t mlos_mem_set_limit(size_t bytes)
{
    size_t set = 0, pages = bytes / MLOS_PAGE_SIZE;
    lock();
    if (!g_ready && g_lazy) {
        /* Not set up yet (lazy): nothing is in use, so the limit that the
         * set-up will apply is min(capacity, pages); the boot does not pay
         * for the set-up to learn it. */
        g_limit_pending = 1;
        g_limit_pages = pages;
        set = (pages < g_lazy_cap_pages ? pages : g_lazy_cap_pages) * MLOS_PAGE_SIZE;
    } else if (g_ready) {
        if (pages < g_pa.limit_pages)
            mlos_heap_trim(&g_heap); /* cached empty slabs count as in use: let them go first */
        set = mlos_pagealloc_set_limit(&g_pa, pages) * MLOS_PAGE_SIZE;
    }
    unlock();
    return set;
}

size_t mlos_mem_reclaim(size_t keep_bytes, struct mlos_page_run *runs, size_t max_runs, size_t *held_bytes)
{
    size_t held = 0, n = 0;

    lock();
    if (ready()) {
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
    rc = ready() ? mlos_page_return(&g_pa, run) : MLOS_EINVAL;
    unlock();
    return rc;
}
