/* libos/mem.h -- the memory micro-service: a page allocator and malloc.
 *
 * Provides: page allocation over the regions the HAL reports, and a general
 * purpose heap (malloc/free/calloc/realloc) on top of it.
 * Requires: hal (mlos_hal_mem_regions) for mlos_mem_init_from_hal only; the
 * allocators themselves are pure and testable on Linux.
 *
 * Instances are caller-owned structs so that tests can run several side by
 * side; a shard uses the one default instance behind mlos_malloc & co.
 * The instances are not thread-safe; the default one takes a lock once
 * several cores share it (mlos_mem_share).
 */
#ifndef MLOS_MEM_H
#define MLOS_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "hal.h"

#define MLOS_PAGE_SIZE MLOS_HAL_PAGE_SIZE
#define MLOS_MEM_MAX_REGIONS 16

/* ---- page allocator ----
 * Design: each region starts with a header and three bitmaps carved from the
 * region itself: "used" (1 bit/page), "head" (first page of each allocation,
 * so a free's npages can be checked exactly) and "full" (1 bit per used-word
 * that is all ones, so searches skip allocated stretches a word of words at
 * a time).
 * First fit, starting at a per-region hint below which every page is used.
 */

struct mlos_page_region; /* private */

struct mlos_pagealloc {
    /* private */
    struct mlos_page_region *regions[MLOS_MEM_MAX_REGIONS];
    int nregions;
    size_t total_pages;
    size_t free_pages;
    size_t limit_pages; /* at most this many in use at once (elastic limit) */
    size_t held_pages;  /* reclaimed: neither free nor in use until returned */
};

/* Take ownership of the given regions (page-aligned inward; bookkeeping is
 * carved from the regions themselves, about 1 page per 64 MiB plus one).
 * Regions that leave no allocatable page after that (under 2 pages) or that
 * overlap an earlier one are skipped. Returns 0, or MLOS_EINVAL if no region
 * is usable. Usable regions beyond MLOS_MEM_MAX_REGIONS are ignored. */
int mlos_pagealloc_init(struct mlos_pagealloc *pa, const struct mlos_hal_region *regions, int n);

/* Bytes mlos_pagealloc_init would manage for these regions, computed
 * without touching them; assumes they do not overlap (the HAL's never do).
 * 0: none is usable. */
size_t mlos_pagealloc_capacity(const struct mlos_hal_region *regions, int n);
/* The same for one page-aligned region of len bytes (not at address 0). */
size_t mlos_pagealloc_capacity_of(size_t len);

/* npages contiguous pages, page aligned, or NULL (also for npages == 0).
 * Contents are not cleared. */
void *mlos_page_alloc(struct mlos_pagealloc *pa, size_t npages);

/* Return pages from mlos_page_alloc: p and npages must be exactly those of
 * one allocation. Freeing memory the allocator does not own, a double free,
 * or a wrong npages is detected and reported as MLOS_EINVAL (nothing is
 * changed). */
int mlos_page_free(struct mlos_pagealloc *pa, void *p, size_t npages);

/* Start of the allocation (from mlos_page_alloc) that contains p, or NULL if
 * p is not inside memory currently allocated from pa. Never dereferences p;
 * lets callers validate pointers before reading headers. */
void *mlos_page_base(const struct mlos_pagealloc *pa, const void *p);

/* ---- elastic memory ----
 * A shard's RAM may be sized for the most it can ever get while it is
 * granted less: the limit caps the pages in use at once (allocations past
 * it fail as if memory ran out). Raising it grows the shard at once.
 * Lowering it makes free pages give-back-able: mlos_page_reclaim takes
 * free runs out of circulation ("held": neither free nor in use) so that
 * their memory can be handed back to the host, and mlos_page_return puts
 * them back once that is done. Held pages are never handed out, so the
 * host may discard their contents in between.
 */

/* Pages in use now (allocated, not counting held ones). */
size_t mlos_page_in_use(const struct mlos_pagealloc *pa);

/* Cap the pages in use at once. The limit set is min(total, max(pages,
 * in use)): memory in use is never taken away, so a limit below it stops
 * at what is in use. Returns the limit set, in pages. */
size_t mlos_pagealloc_set_limit(struct mlos_pagealloc *pa, size_t pages);

struct mlos_page_run {
    uintptr_t base; /* page aligned */
    size_t npages;
};

/* Hold free runs, lowest address first, skipping the lowest keep_pages
 * free pages (they stay free, for the allocations the limit still
 * grants), at most max_runs of them. Fills runs and returns how many;
 * *held_out (optional) gets the pages held. */
size_t mlos_page_reclaim(struct mlos_pagealloc *pa, size_t keep_pages, struct mlos_page_run *runs, size_t max_runs,
                         size_t *held_out);

/* Make a run from mlos_page_reclaim free again. MLOS_EINVAL (nothing
 * changed) if it is not exactly one held run. */
int mlos_page_return(struct mlos_pagealloc *pa, const struct mlos_page_run *run);

/* ---- heap ----
 * Design: requests up to MLOS_HEAP_SMALL_MAX bytes are served from one-page
 * slabs of a single size class; the slab header at the page start holds the
 * class and an occupancy bitmap (so free needs no size and catches double
 * frees). Larger requests take their own page run, with a 16-byte header at
 * its start recording the page count. Either way the header of any block is
 * at its pointer rounded down to a page. Empty slabs go back to the page
 * allocator, except one spare per class kept until the heap is empty or
 * pages run short.
 */

#define MLOS_HEAP_NCLASSES 20
#define MLOS_HEAP_SMALL_MAX 2016 /* largest size class */

struct mlos_heap {
    /* private */
    struct mlos_pagealloc *pa;
    void *partial[MLOS_HEAP_NCLASSES]; /* slabs with a free slot, per class */
    void *spare[MLOS_HEAP_NCLASSES];   /* one empty slab kept per class */
    uint8_t class_of[MLOS_HEAP_SMALL_MAX / 16 + 1]; /* (n+15)/16 -> class */
    size_t bytes_in_use;               /* usable bytes of live blocks */
    size_t pages_in_use;               /* pages taken from pa */
};

void mlos_heap_init(struct mlos_heap *h, struct mlos_pagealloc *pa);
/* 16-byte aligned or NULL. n == 0 gives a unique minimal block. */
void *mlos_heap_alloc(struct mlos_heap *h, size_t n);
/* NULL is fine; pointers the heap did not hand out (or already freed) are
 * detected and ignored. */
void mlos_heap_free(struct mlos_heap *h, void *p);
/* Keeps the first min(old, n) bytes. p == NULL: alloc; n == 0: frees p and
 * returns NULL. On failure returns NULL and p stays valid. */
void *mlos_heap_realloc(struct mlos_heap *h, void *p, size_t n);
/* Bytes usable at p (>= the size requested), 0 for NULL or a foreign p. */
size_t mlos_heap_usable_size(struct mlos_heap *h, const void *p);

struct mlos_mem_stats {
    size_t total_bytes; /* managed by the page allocator */
    size_t free_bytes;  /* free pages */
    size_t heap_bytes;  /* live heap blocks, counted by their usable size
                         * (request rounded up to its size class / pages) */
    size_t limit_bytes; /* pages that may be in use at once (<= total) */
    size_t in_use_bytes; /* pages in use (heap blocks, slabs, page runs) */
};

/* Give the heap's cached empty slabs back to the page allocator (before
 * a shrink: only whole free pages can go back to the host). */
void mlos_heap_trim(struct mlos_heap *h);

/* Statistics of h and of its page allocator. */
void mlos_heap_stats(const struct mlos_heap *h, struct mlos_mem_stats *out);

/* ---- the shard's default instance ---- */

/* Initialise the default page allocator and heap from the HAL's regions
 * (at most MLOS_MEM_MAX_REGIONS of them). Returns 0 or a negative MLOS_E*.
 * Until it succeeds mlos_malloc & co return NULL. */
int mlos_mem_init_from_hal(void);
/* The same, deferred to the first use of mlos_malloc & co (or
 * mlos_mem_stats): a shard's boot then does not pay for setting up its
 * allocator before HELLO. Stores the bytes the allocator will manage
 * (mlos_pagealloc_capacity of the HAL's regions, or of the one region
 * mlos_hal_mem_budget promises: then the HAL's map need not be read yet;
 * the set-up checks the promise and never hands out more) in *capacity and returns
 * 0, or a negative MLOS_E* if no region is usable (nothing deferred then).
 * An instance already set up is kept as it is (its capacity reported).
 * mlos_mem_set_limit before the deferred set-up is remembered and applied
 * by it (reclaim/return do the set-up first). With several cores the
 * set-up runs under the shared heap's lock; a multi-core slave sets up
 * eagerly anyway (libos/runtime/slave.c). */
int mlos_mem_init_lazy(size_t *capacity);
void *mlos_malloc(size_t n);
void *mlos_calloc(size_t n, size_t m); /* zeroed; checks n*m overflow */
void *mlos_realloc(void *p, size_t n);
void mlos_free(void *p);
void mlos_mem_stats(struct mlos_mem_stats *out);

/* Elastic memory of the default instance (see the page allocator above).
 * mlos_mem_set_limit: limit in bytes (rounded down to pages), returns the
 * limit set in bytes. Both trim the heap's caches first when they lower
 * the limit or reclaim. */
size_t mlos_mem_set_limit(size_t bytes);
/* From now on several cores use the default instance: it takes a lock.
 * (Until then it takes none: one core pays nothing for it.) */
void mlos_mem_share(void);
size_t mlos_mem_reclaim(size_t keep_bytes, struct mlos_page_run *runs, size_t max_runs, size_t *held_bytes);
int mlos_mem_return(const struct mlos_page_run *run);

/* An allocation policy for the default heap: asked before each allocation
 * (and each realloc that grows a block) with the request, the bytes in use
 * and the bytes the allocator manages; nonzero grants it. The allocator
 * does not know who decides: the extension layer installs its memory hook
 * here, so the allocator stays below it. NULL (the default) grants all. */
typedef int (*mlos_mem_policy_fn)(size_t size, size_t align, size_t in_use, size_t limit);
void mlos_mem_set_policy(mlos_mem_policy_fn fn);
mlos_mem_policy_fn mlos__mem_policy(void); /* the allocator's side */

#endif
