/* Page allocator: first fit over per-region bitmaps (design in mem.h). */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "mlos_error.h"

/* Native word: on 32-bit targets 64-bit shifts and ctz would need libgcc. */
typedef unsigned long word_t;
#define WBITS (sizeof(word_t) * CHAR_BIT)
#define ONES (~(word_t)0)
#define NONE ((size_t)-1)
#define PAGE ((uintptr_t)MLOS_PAGE_SIZE)

struct mlos_page_region {
    uintptr_t base; /* first allocatable page (after the bookkeeping) */
    size_t npages;  /* allocatable pages */
    size_t nfree;
    size_t hint;    /* every page below hint is used */
    size_t nwords;  /* words in used[] and head[] */
    word_t *used;   /* 1 = allocated; bits past npages stay 1 */
    word_t *head;   /* 1 = first page of an allocation */
    word_t *full;   /* 1 = used[w] is all ones; bits past nwords stay 1 */
    word_t *dirty;  /* 1 = handed out since it was last given back: it may hold host memory */
};

static size_t div_up(size_t a, size_t b)
{
    return a / b + (a % b != 0);
}

static size_t ctz(word_t x)
{
    return (size_t)__builtin_ctzl(x);
}

static bool bit_get(const word_t *b, size_t i)
{
    return (b[i / WBITS] >> (i % WBITS)) & 1;
}

/* Mask of bits [off, off+k) in one word, k >= 1, off + k <= WBITS. */
static word_t span_mask(size_t off, size_t k)
{
    return (k == WBITS ? ONES : (((word_t)1 << k) - 1)) << off;
}

static size_t meta_bytes(size_t pages)
{
    size_t nwords = div_up(pages, WBITS);
    size_t nsum = div_up(nwords, WBITS);
    return sizeof(struct mlos_page_region) + (3 * nwords + nsum) * sizeof(word_t);
}

/* True if [lo, hi) meets a region already taken (header included): writing
 * a second header there would wreck the first region's bitmaps. */
static bool overlaps(const struct mlos_pagealloc *pa, uintptr_t lo, uintptr_t hi)
{
    for (int k = 0; k < pa->nregions; k++) {
        const struct mlos_page_region *r = pa->regions[k];
        uintptr_t rlo = (uintptr_t)r, rhi = r->base + r->npages * PAGE;
        if (lo < rhi && rlo < hi)
            return true;
    }
    return false;
}

/* Where a region over [base, base+len) would start and how many pages it
 * would hand out after its bookkeeping; false if it would be unusable. */
static bool region_geometry(uintptr_t base, size_t len, uintptr_t *lo_out, size_t *meta_out, size_t *npages_out)
{
    const uintptr_t mask = PAGE - 1;
    uintptr_t lo, hi;
    size_t total, meta;

    if (len == 0 || base > UINTPTR_MAX - mask)
        return false;
    lo = (base + mask) & ~mask;
    if (lo == 0)
        lo = PAGE; /* never hand out a page that would read as NULL */
    hi = (len > UINTPTR_MAX - base) ? UINTPTR_MAX : base + len;
    hi &= ~mask;
    if (hi <= lo)
        return false;
    total = (size_t)((hi - lo) / PAGE);
    /* Sized for all pages, a slight overestimate that avoids iterating. */
    meta = div_up(meta_bytes(total), PAGE);
    if (total <= meta)
        return false;
    *lo_out = lo;
    *meta_out = meta;
    *npages_out = total - meta;
    return true;
}

/* Carve the header and bitmaps from the front of [base, base+len). */
static struct mlos_page_region *region_init(const struct mlos_pagealloc *pa, uintptr_t base, size_t len)
{
    uintptr_t lo;
    size_t meta, npages, nwords, nsum;
    struct mlos_page_region *r;

    if (!region_geometry(base, len, &lo, &meta, &npages) || overlaps(pa, lo, lo + (meta + npages) * PAGE))
        return NULL;
    nwords = div_up(npages, WBITS);
    nsum = div_up(nwords, WBITS);

    r = (struct mlos_page_region *)lo;
    r->base = lo + meta * PAGE;
    r->npages = npages;
    r->nfree = npages;
    r->hint = 0;
    r->nwords = nwords;
    r->used = (word_t *)(r + 1);
    r->head = r->used + nwords;
    r->full = r->head + nwords;
    r->dirty = r->full + nsum;
    /* Fresh RAM is clean: nothing has touched it (the master's memory
     * file is sparse), so there is nothing to give back yet. */
    memset(r->used, 0, (3 * nwords + nsum) * sizeof(word_t));
    /* Phantom pages past the end look allocated, so no search returns them
     * and runs stop there; same for phantom words in the summary. */
    if (npages % WBITS)
        r->used[nwords - 1] = ONES << (npages % WBITS);
    if (nwords % WBITS)
        r->full[nsum - 1] = ONES << (nwords % WBITS);
    return r;
}

size_t mlos_pagealloc_capacity(const struct mlos_hal_region *regions, int n)
{
    size_t pages = 0;
    int used = 0;

    for (int k = 0; regions && k < n && used < MLOS_MEM_MAX_REGIONS; k++) {
        uintptr_t lo;
        size_t meta, npages;
        if (region_geometry(regions[k].base, regions[k].len, &lo, &meta, &npages)) {
            pages += npages;
            used++;
        }
    }
    return pages * PAGE;
}

/* region_geometry for one page-aligned region, as straight-line code: it
 * runs before HELLO, where under QEMU TCG each branch target costs a
 * translation. */
size_t mlos_pagealloc_capacity_of(size_t len)
{
    size_t total = len / PAGE;
    size_t meta = div_up(meta_bytes(total), PAGE);
    return total > meta ? (total - meta) * PAGE : 0;
}

int mlos_pagealloc_init(struct mlos_pagealloc *pa, const struct mlos_hal_region *regions, int n)
{
    if (!pa)
        return MLOS_EINVAL;
    memset(pa, 0, sizeof(*pa));
    if (!regions || n <= 0)
        return MLOS_EINVAL;
    for (int k = 0; k < n && pa->nregions < MLOS_MEM_MAX_REGIONS; k++) {
        struct mlos_page_region *r = region_init(pa, regions[k].base, regions[k].len);
        if (!r)
            continue;
        pa->regions[pa->nregions++] = r;
        pa->total_pages += r->npages;
        pa->free_pages += r->npages;
    }
    pa->limit_pages = pa->total_pages;
    return pa->nregions ? 0 : MLOS_EINVAL;
}

/* Set or clear used[i, i+n), keeping the full summary in step. */
static void used_fill(struct mlos_page_region *r, size_t i, size_t n, bool set)
{
    while (n) {
        size_t w = i / WBITS, off = i % WBITS;
        size_t k = WBITS - off < n ? WBITS - off : n;
        word_t m = span_mask(off, k);
        word_t fm = (word_t)1 << (w % WBITS);

        if (set)
            r->used[w] |= m;
        else
            r->used[w] &= ~m;
        if (r->used[w] == ONES)
            r->full[w / WBITS] |= fm;
        else
            r->full[w / WBITS] &= ~fm;
        i += k;
        n -= k;
    }
}

/* Set or clear bits [i, i+n) of a plain bitmap. */
static void bits_fill(word_t *b, size_t i, size_t n, bool set)
{
    while (n) {
        size_t w = i / WBITS, off = i % WBITS;
        size_t k = WBITS - off < n ? WBITS - off : n;
        word_t m = span_mask(off, k);
        b[w] = set ? b[w] | m : b[w] & ~m;
        i += k;
        n -= k;
    }
}

/* True if every bit of b in [i, i+n) equals val. */
static bool range_is(const word_t *b, size_t i, size_t n, bool val)
{
    while (n) {
        size_t w = i / WBITS, off = i % WBITS;
        size_t k = WBITS - off < n ? WBITS - off : n;
        word_t m = span_mask(off, k);
        word_t x = b[w] & m;

        if (val ? x != m : x != 0)
            return false;
        i += k;
        n -= k;
    }
    return true;
}

/* First free page at or after i, or NONE. */
static size_t next_free(const struct mlos_page_region *r, size_t i)
{
    size_t w;
    word_t x;

    if (i >= r->npages)
        return NONE;
    w = i / WBITS;
    x = ~r->used[w] & (ONES << (i % WBITS));
    if (x)
        return w * WBITS + ctz(x);
    /* Skip full words through the summary, a word of words per step. */
    for (w++; w < r->nwords;) {
        size_t s = w / WBITS;
        word_t y = ~r->full[s] & (ONES << (w % WBITS));
        if (y) {
            w = s * WBITS + ctz(y);
            if (w >= r->nwords)
                return NONE;
            return w * WBITS + ctz(~r->used[w]);
        }
        w = (s + 1) * WBITS;
    }
    return NONE;
}

/* First used page in [i, end), or end. */
static size_t next_used(const word_t *b, size_t i, size_t end)
{
    while (i < end) {
        size_t w = i / WBITS;
        word_t x = b[w] & (ONES << (i % WBITS));
        if (x) {
            size_t j = w * WBITS + ctz(x);
            return j < end ? j : end;
        }
        i = (w + 1) * WBITS;
    }
    return end;
}

/* First clear bit of b in [i, end), or end. */
static size_t next_clear(const word_t *b, size_t i, size_t end)
{
    while (i < end) {
        size_t w = i / WBITS;
        word_t x = ~b[w] & (ONES << (i % WBITS));
        if (x) {
            size_t j = w * WBITS + ctz(x);
            return j < end ? j : end;
        }
        i = (w + 1) * WBITS;
    }
    return end;
}

/* First fit of n pages; also advances the hint to the first free page. */
static size_t find_run(struct mlos_page_region *r, size_t n)
{
    size_t i = next_free(r, r->hint);

    r->hint = (i == NONE) ? r->npages : i;
    while (i != NONE && n <= r->npages - i) {
        size_t j = next_used(r->used, i, i + n);
        if (j == i + n)
            return i;
        i = next_free(r, j);
    }
    return NONE;
}

void *mlos_page_alloc(struct mlos_pagealloc *pa, size_t npages)
{
    if (!pa || npages == 0 || npages > pa->free_pages || mlos_page_in_use(pa) > pa->limit_pages ||
        npages > pa->limit_pages - mlos_page_in_use(pa))
        return NULL;
    for (int k = 0; k < pa->nregions; k++) {
        struct mlos_page_region *r = pa->regions[k];
        size_t i;

        if (r->nfree < npages)
            continue;
        i = find_run(r, npages);
        if (i == NONE)
            continue;
        used_fill(r, i, npages, true);
        bits_fill(r->dirty, i, npages, true);
        r->head[i / WBITS] |= (word_t)1 << (i % WBITS);
        if (i == r->hint)
            r->hint = i + npages;
        r->nfree -= npages;
        pa->free_pages -= npages;
        return (void *)(r->base + i * PAGE);
    }
    return NULL;
}

/* Region and page index holding address a (any byte of the page). */
static struct mlos_page_region *region_of(const struct mlos_pagealloc *pa, uintptr_t a, size_t *idx)
{
    for (int k = 0; k < pa->nregions; k++) {
        struct mlos_page_region *r = pa->regions[k];
        if (a >= r->base && (a - r->base) / PAGE < r->npages) {
            *idx = (size_t)((a - r->base) / PAGE);
            return r;
        }
    }
    return NULL;
}

/* The region and first page of exactly one allocation [p, p+npages), or
 * NULL: starts at a head bit, all used, no other start inside, and the
 * page after it is free or starts another allocation. */
static struct mlos_page_region *one_allocation(struct mlos_pagealloc *pa, const void *p, size_t npages, size_t *idx)
{
    uintptr_t a = (uintptr_t)p;
    struct mlos_page_region *r;
    size_t i, end;

    if (!pa || !p || npages == 0 || (a & (PAGE - 1)))
        return NULL;
    r = region_of(pa, a, &i);
    if (!r || npages > r->npages - i)
        return NULL;
    if (!bit_get(r->head, i) || !range_is(r->used, i, npages, true))
        return NULL;
    if (npages > 1 && !range_is(r->head, i + 1, npages - 1, false))
        return NULL;
    end = i + npages;
    if (end < r->npages && bit_get(r->used, end) && !bit_get(r->head, end))
        return NULL;
    *idx = i;
    return r;
}

static void release_run(struct mlos_pagealloc *pa, struct mlos_page_region *r, size_t i, size_t npages)
{
    used_fill(r, i, npages, false);
    r->head[i / WBITS] &= ~((word_t)1 << (i % WBITS));
    r->nfree += npages;
    pa->free_pages += npages;
    if (i < r->hint)
        r->hint = i;
}

int mlos_page_free(struct mlos_pagealloc *pa, void *p, size_t npages)
{
    size_t i;
    struct mlos_page_region *r = one_allocation(pa, p, npages, &i);

    if (!r)
        return MLOS_EINVAL;
    release_run(pa, r, i, npages);
    return 0;
}

size_t mlos_page_in_use(const struct mlos_pagealloc *pa)
{
    return pa ? pa->total_pages - pa->free_pages - pa->held_pages : 0;
}

size_t mlos_pagealloc_set_limit(struct mlos_pagealloc *pa, size_t pages)
{
    size_t used;

    if (!pa)
        return 0;
    used = mlos_page_in_use(pa);
    if (pages < used)
        pages = used;
    if (pages > pa->total_pages)
        pages = pa->total_pages;
    pa->limit_pages = pages;
    return pages;
}

/* Hold [i, j) of r (free pages) as one allocation, so that a double
 * return or a forged run is caught like a bad free. */
static void hold_run(struct mlos_pagealloc *pa, struct mlos_page_region *r, size_t i, size_t j)
{
    used_fill(r, i, j - i, true);
    r->head[i / WBITS] |= (word_t)1 << (i % WBITS);
    r->nfree -= j - i;
    pa->free_pages -= j - i;
    pa->held_pages += j - i;
}

size_t mlos_page_reclaim(struct mlos_pagealloc *pa, size_t keep_pages, struct mlos_page_run *runs, size_t max_runs,
                         size_t *held_out)
{
    size_t n = 0, held = 0;

    for (int k = 0; pa && k < pa->nregions && n < max_runs; k++) {
        struct mlos_page_region *r = pa->regions[k];
        size_t i = next_free(r, 0);

        while (i != NONE && n < max_runs) {
            size_t j = next_used(r->used, i, r->npages);
            if (keep_pages >= j - i) { /* the whole run stays free */
                keep_pages -= j - i;
                i = next_free(r, j);
                continue;
            }
            i += keep_pages;
            keep_pages = 0;
            /* Only pages that were handed out can hold host memory: the
             * dirty stretches of the free run. */
            while (i < j && n < max_runs) {
                size_t d = next_used(r->dirty, i, j), e;
                if (d == j)
                    break;
                e = next_clear(r->dirty, d, j);
                hold_run(pa, r, d, e);
                held += e - d;
                runs[n++] = (struct mlos_page_run){r->base + d * PAGE, e - d};
                i = e;
            }
            i = next_free(r, j);
        }
    }
    if (held_out)
        *held_out = held;
    return n;
}

int mlos_page_return(struct mlos_pagealloc *pa, const struct mlos_page_run *run)
{
    size_t i;
    struct mlos_page_region *r;

    if (!run || !pa || run->npages > pa->held_pages)
        return MLOS_EINVAL;
    r = one_allocation(pa, (const void *)run->base, run->npages, &i);
    if (!r)
        return MLOS_EINVAL;
    pa->held_pages -= run->npages;
    release_run(pa, r, i, run->npages);
    bits_fill(r->dirty, i, run->npages, false); /* given back: clean until handed out again */
    return 0;
}

void *mlos_page_base(const struct mlos_pagealloc *pa, const void *p)
{
    struct mlos_page_region *r;
    size_t i;

    if (!pa || !p)
        return NULL;
    r = region_of(pa, (uintptr_t)p, &i);
    if (!r || !bit_get(r->used, i))
        return NULL;
    /* The allocation starts at the last head bit at or before i; the common
     * case (p in the first page) answers from one word. */
    for (size_t w = i / WBITS + 1; w-- > 0;) {
        word_t x = r->head[w];
        if (w == i / WBITS && i % WBITS != WBITS - 1)
            x &= ((word_t)1 << (i % WBITS + 1)) - 1;
        if (x) {
            size_t j = w * WBITS + (WBITS - 1 - (size_t)__builtin_clzl(x));
            return (void *)(r->base + j * PAGE);
        }
    }
    return NULL; /* unreachable while the bitmaps are consistent */
}
