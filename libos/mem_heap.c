/* Heap: one-page size-class slabs, page runs for big blocks (design in mem.h). */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "mlos_error.h"

typedef unsigned long word_t;
#define WBITS (sizeof(word_t) * CHAR_BIT)
#define PAGE ((uintptr_t)MLOS_PAGE_SIZE)

#define SLAB_HDR 64u /* objects start here; a multiple of 16 keeps them aligned */
#define BIG_HDR 16u  /* big blocks start here, 16 aligned as well */
#define SLAB_MAGIC 0x534c4142u /* "SLAB" */
#define BIG_MAGIC 0x42494721u  /* "BIG!" */
#define SLAB_SPACE (MLOS_PAGE_SIZE - SLAB_HDR)
#define MAX_OBJS (SLAB_SPACE / 16)

/* Both headers start with the magic so free can tell them apart. */
struct slab {
    uint32_t magic;
    uint16_t cls;
    uint16_t nfree;
    struct slab *next, *prev; /* in h->partial[cls] */
    word_t used[(MAX_OBJS + WBITS - 1) / WBITS]; /* 1 = slot live */
};

struct big {
    uint32_t magic;
    size_t npages;
};

_Static_assert(sizeof(struct slab) <= SLAB_HDR, "slab header must fit");
_Static_assert(sizeof(struct big) <= BIG_HDR, "big header must fit");
_Static_assert(SLAB_SPACE / 2 >= MLOS_HEAP_SMALL_MAX, "classes assume 4 KiB pages");

/* SLAB_SPACE / objects-per-page, rounded down to 16, so every class fills
 * its page well; the small ones step by 16 to fit small requests tightly.
 * The last entry is MLOS_HEAP_SMALL_MAX. */
static const uint16_t class_size[MLOS_HEAP_NCLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192,
    224, 288, 336, 448, 576, 672, 800, 1008, 1344, 2016,
};

static size_t ctz(word_t x)
{
    return (size_t)__builtin_ctzl(x);
}

static size_t class_objs(unsigned c)
{
    return SLAB_SPACE / class_size[c];
}

void mlos_heap_init(struct mlos_heap *h, struct mlos_pagealloc *pa)
{
    unsigned c = 0;

    memset(h, 0, sizeof(*h));
    h->pa = pa;
    for (size_t k = 0; k < sizeof(h->class_of); k++) {
        while (class_size[c] < k * 16)
            c++;
        h->class_of[k] = (uint8_t)c;
    }
}

/* Pages from pa; on failure give back the spare slabs and try once more. */
static void release_spares(struct mlos_heap *h);

static void *pages_get(struct mlos_heap *h, size_t n)
{
    void *p = mlos_page_alloc(h->pa, n);

    if (!p) {
        release_spares(h);
        p = mlos_page_alloc(h->pa, n);
    }
    if (p)
        h->pages_in_use += n;
    return p;
}

static void pages_put(struct mlos_heap *h, void *p, size_t n)
{
    if (mlos_page_free(h->pa, p, n) == 0)
        h->pages_in_use -= n;
}

static void slab_link(struct mlos_heap *h, struct slab *s)
{
    s->prev = NULL;
    s->next = h->partial[s->cls];
    if (s->next)
        s->next->prev = s;
    h->partial[s->cls] = s;
}

static void slab_unlink(struct mlos_heap *h, struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->partial[s->cls] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

static void slab_release(struct mlos_heap *h, struct slab *s)
{
    s->magic = 0; /* stale pointers into it no longer validate */
    pages_put(h, s, 1);
}

static void release_spares(struct mlos_heap *h)
{
    for (unsigned c = 0; c < MLOS_HEAP_NCLASSES; c++) {
        if (h->spare[c]) {
            slab_release(h, h->spare[c]);
            h->spare[c] = NULL;
        }
    }
}

static struct slab *slab_new(struct mlos_heap *h, unsigned c)
{
    struct slab *s = h->spare[c];
    size_t n = class_objs(c);

    if (s) {
        h->spare[c] = NULL;
    } else {
        s = pages_get(h, 1);
        if (!s)
            return NULL;
        s->magic = SLAB_MAGIC;
        s->cls = (uint16_t)c;
        s->nfree = (uint16_t)n;
        memset(s->used, 0, sizeof(s->used));
        /* Slots past the last object look live so the search skips them. */
        for (size_t i = n; i < sizeof(s->used) * CHAR_BIT; i++)
            s->used[i / WBITS] |= (word_t)1 << (i % WBITS);
    }
    slab_link(h, s);
    return s;
}

static void *small_alloc(struct mlos_heap *h, unsigned c)
{
    struct slab *s = h->partial[c];
    size_t w = 0, i;

    if (!s && !(s = slab_new(h, c)))
        return NULL;
    while (s->used[w] == ~(word_t)0)
        w++; /* nfree > 0 guarantees a clear bit */
    i = w * WBITS + ctz(~s->used[w]);
    s->used[w] |= (word_t)1 << (i % WBITS);
    if (--s->nfree == 0)
        slab_unlink(h, s);
    h->bytes_in_use += class_size[c];
    return (char *)s + SLAB_HDR + i * class_size[c];
}

static void *big_alloc(struct mlos_heap *h, size_t n)
{
    size_t np;
    struct big *b;

    if (n > SIZE_MAX - BIG_HDR - (PAGE - 1))
        return NULL;
    np = (n + BIG_HDR + (PAGE - 1)) / PAGE;
    b = pages_get(h, np);
    if (!b)
        return NULL;
    b->magic = BIG_MAGIC;
    b->npages = np;
    h->bytes_in_use += np * PAGE - BIG_HDR;
    return (char *)b + BIG_HDR;
}

void *mlos_heap_alloc(struct mlos_heap *h, size_t n)
{
    if (!h)
        return NULL;
    if (n <= MLOS_HEAP_SMALL_MAX)
        return small_alloc(h, h->class_of[(n + 15) / 16]);
    return big_alloc(h, n);
}

/* A validated block: exactly one of s / b is set. */
struct block {
    struct slab *s;
    size_t idx; /* slot in s */
    struct big *b;
    size_t usable;
};

/* Check that p is a live block of h without reading memory pa does not
 * hand out: the header page must be the first page of an allocation. */
static bool lookup(struct mlos_heap *h, const void *p, struct block *out)
{
    uintptr_t a = (uintptr_t)p, pg = a & ~(PAGE - 1);
    const void *base;
    uint32_t magic;

    if (!h || !p || (a & 15))
        return false;
    base = mlos_page_base(h->pa, p);
    if (!base || (uintptr_t)base != pg) /* pg is 0 for p in the first page */
        return false;
    magic = *(const uint32_t *)pg;
    if (magic == SLAB_MAGIC) {
        struct slab *s = (struct slab *)pg;
        size_t off = (size_t)(a - pg), sz;

        if (s->cls >= MLOS_HEAP_NCLASSES || off < SLAB_HDR)
            return false;
        sz = class_size[s->cls];
        off -= SLAB_HDR;
        if (off % sz || off / sz >= class_objs(s->cls))
            return false;
        out->s = s;
        out->idx = off / sz;
        out->b = NULL;
        out->usable = sz;
        /* A clear bit means this slot is already free. */
        return (s->used[out->idx / WBITS] >> (out->idx % WBITS)) & 1;
    }
    if (magic == BIG_MAGIC && a == pg + BIG_HDR) {
        struct big *b = (struct big *)pg;
        if (b->npages == 0 || b->npages > SIZE_MAX / PAGE)
            return false;
        out->s = NULL;
        out->b = b;
        out->usable = b->npages * PAGE - BIG_HDR;
        return true;
    }
    return false;
}

static void small_free(struct mlos_heap *h, struct slab *s, size_t i)
{
    unsigned c = s->cls;

    s->used[i / WBITS] &= ~((word_t)1 << (i % WBITS));
    if (s->nfree++ == 0)
        slab_link(h, s);
    h->bytes_in_use -= class_size[c];
    if (s->nfree == class_objs(c)) {
        /* Empty: keep one per class to damp alloc/free ping-pong. */
        slab_unlink(h, s);
        if (!h->spare[c])
            h->spare[c] = s;
        else
            slab_release(h, s);
    }
}

static void big_free(struct mlos_heap *h, struct big *b)
{
    size_t np = b->npages;

    if (mlos_page_free(h->pa, b, np) != 0)
        return; /* header disagrees with the page allocator: leave it */
    b->magic = 0;
    h->pages_in_use -= np;
    h->bytes_in_use -= np * PAGE - BIG_HDR;
}

void mlos_heap_free(struct mlos_heap *h, void *p)
{
    struct block blk;

    if (!lookup(h, p, &blk))
        return;
    if (blk.s)
        small_free(h, blk.s, blk.idx);
    else
        big_free(h, blk.b);
    if (h->bytes_in_use == 0)
        release_spares(h); /* an empty heap holds no pages */
}

size_t mlos_heap_usable_size(struct mlos_heap *h, const void *p)
{
    struct block blk;

    return lookup(h, p, &blk) ? blk.usable : 0;
}

/* Usable size a fresh block of n bytes would get (0 if impossible). */
static size_t usable_for(const struct mlos_heap *h, size_t n)
{
    if (n <= MLOS_HEAP_SMALL_MAX)
        return class_size[h->class_of[(n + 15) / 16]];
    if (n > SIZE_MAX - BIG_HDR - (PAGE - 1))
        return 0;
    return (n + BIG_HDR + (PAGE - 1)) / PAGE * PAGE - BIG_HDR;
}

void *mlos_heap_realloc(struct mlos_heap *h, void *p, size_t n)
{
    struct block blk;
    void *q;

    if (!p)
        return mlos_heap_alloc(h, n);
    if (n == 0) {
        mlos_heap_free(h, p);
        return NULL;
    }
    if (!lookup(h, p, &blk))
        return NULL;
    if (usable_for(h, n) == blk.usable)
        return p; /* same class or page count: nothing to gain by moving */
    q = mlos_heap_alloc(h, n);
    if (!q)
        return n <= blk.usable ? p : NULL; /* a shrink may stay put */
    memcpy(q, p, n < blk.usable ? n : blk.usable);
    mlos_heap_free(h, p);
    return q;
}

void mlos_heap_trim(struct mlos_heap *h)
{
    if (h)
        release_spares(h);
}

void mlos_heap_stats(const struct mlos_heap *h, struct mlos_mem_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!h)
        return;
    if (h->pa) {
        out->total_bytes = h->pa->total_pages * MLOS_PAGE_SIZE;
        out->free_bytes = h->pa->free_pages * MLOS_PAGE_SIZE;
        out->limit_bytes = h->pa->limit_pages * MLOS_PAGE_SIZE;
        out->in_use_bytes = mlos_page_in_use(h->pa) * MLOS_PAGE_SIZE;
    }
    out->heap_bytes = h->bytes_in_use;
}
