/* Unit tests for the memory micro-service (libos/mem.h), on host memory. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem.h"
#include "mlos_error.h"

#define PAGE ((size_t)MLOS_PAGE_SIZE)

static int failures;

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Like CHECK, but leaves the test: what follows would only cascade. */
#define REQUIRE(c)                                                             \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                        \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Regions under 1 GiB come from aligned_alloc so that sanitizers see any
 * access past their ends; bigger ones are NORESERVE mappings that cost only
 * what is touched. */
#define MAP_LIMIT ((size_t)1 << 30)

static void *map(size_t len)
{
    if (len < MAP_LIMIT)
        return aligned_alloc(PAGE, (len + PAGE - 1) / PAGE * PAGE);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t len)
{
    if (len < MAP_LIMIT)
        free(p);
    else
        munmap(p, len);
}

static struct mlos_hal_region reg(void *base, size_t len)
{
    struct mlos_hal_region r = { (uintptr_t)base, len };
    return r;
}

static struct mlos_mem_stats stats_of(struct mlos_pagealloc *pa)
{
    struct mlos_heap h;
    struct mlos_mem_stats st;
    mlos_heap_init(&h, pa); /* a heap is the public window on pa's counters */
    mlos_heap_stats(&h, &st);
    return st;
}

static size_t free_pages(struct mlos_pagealloc *pa)
{
    return stats_of(pa).free_bytes / PAGE;
}

static size_t total_pages(struct mlos_pagealloc *pa)
{
    return stats_of(pa).total_bytes / PAGE;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state; /* xorshift64: fixed seed, reproducible */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void fill_page(void *p, size_t npages, uint32_t tag)
{
    uint32_t *w = p;
    for (size_t i = 0; i < npages * PAGE / 4; i += 64)
        w[i] = tag;
}

static int page_tagged(const void *p, size_t npages, uint32_t tag)
{
    const uint32_t *w = p;
    for (size_t i = 0; i < npages * PAGE / 4; i += 64)
        if (w[i] != tag)
            return 0;
    return 1;
}

/* ---- page allocator ---- */

static void test_init(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r[20];
    char *buf = map(64 * PAGE);
    REQUIRE(buf);

    CHECK(mlos_pagealloc_init(&pa, NULL, 1) == MLOS_EINVAL);
    r[0] = reg(buf, 64 * PAGE);
    CHECK(mlos_pagealloc_init(&pa, r, 0) == MLOS_EINVAL);
    CHECK(mlos_pagealloc_init(NULL, r, 1) == MLOS_EINVAL);
    r[0] = reg(buf, PAGE); /* room for bookkeeping only */
    CHECK(mlos_pagealloc_init(&pa, r, 1) == MLOS_EINVAL);
    CHECK(mlos_page_alloc(&pa, 1) == NULL);
    r[0] = reg(buf + 1, 2 * PAGE); /* 2 pages long but 1 whole page inside */
    CHECK(mlos_pagealloc_init(&pa, r, 1) == MLOS_EINVAL);
    r[0] = reg(buf, 0);
    CHECK(mlos_pagealloc_init(&pa, r, 1) == MLOS_EINVAL);
    r[0] = reg((void *)(UINTPTR_MAX - 100), 1000); /* wraps around */
    CHECK(mlos_pagealloc_init(&pa, r, 1) == MLOS_EINVAL);

    /* Odd, unaligned region: 39 whole pages inside, one goes to bookkeeping. */
    r[0] = reg(buf, 1000);            /* unusable, skipped */
    r[1] = reg(buf + 123, 40 * PAGE + 777);
    REQUIRE(mlos_pagealloc_init(&pa, r, 2) == 0);
    CHECK(total_pages(&pa) == 38);
    CHECK(free_pages(&pa) == 38);

    void *pages[64];
    size_t n = 0;
    while (n < 64 && (pages[n] = mlos_page_alloc(&pa, 1)) != NULL) {
        char *p = pages[n];
        CHECK(((uintptr_t)p & (PAGE - 1)) == 0);
        CHECK(p >= buf + PAGE && p + PAGE <= buf + 40 * PAGE);
        fill_page(p, 1, 0xA000u + (uint32_t)n);
        n++;
    }
    CHECK(n == 38);
    CHECK(free_pages(&pa) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(page_tagged(pages[i], 1, 0xA000u + (uint32_t)i));
    for (size_t i = 0; i < n; i++)
        CHECK(mlos_page_free(&pa, pages[i], 1) == 0);
    CHECK(free_pages(&pa) == 38);
    /* Whole region again, as one run. */
    CHECK(mlos_page_alloc(&pa, 38) != NULL);

    /* The same region twice, or overlapping: counted once. */
    r[0] = reg(buf, 20 * PAGE);
    r[1] = reg(buf, 20 * PAGE);
    r[2] = reg(buf + 19 * PAGE, 10 * PAGE);
    r[3] = reg(buf + 20 * PAGE, 10 * PAGE);
    REQUIRE(mlos_pagealloc_init(&pa, r, 4) == 0);
    CHECK(total_pages(&pa) == 19 + 9);

    /* More regions than MLOS_MEM_MAX_REGIONS: the extra ones are ignored. */
    char *many = map(20 * 3 * PAGE);
    REQUIRE(many);
    for (int i = 0; i < 20; i++)
        r[i] = reg(many + (size_t)i * 3 * PAGE, 3 * PAGE);
    REQUIRE(mlos_pagealloc_init(&pa, r, 20) == 0);
    CHECK(total_pages(&pa) == 2 * MLOS_MEM_MAX_REGIONS);

    unmap(many, 20 * 3 * PAGE);
    unmap(buf, 64 * PAGE);
}

static void test_alloc_free(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r;
    char *buf = map(256 * PAGE);
    REQUIRE(buf);
    r = reg(buf, 256 * PAGE);
    REQUIRE(mlos_pagealloc_init(&pa, &r, 1) == 0);
    size_t total = total_pages(&pa);
    CHECK(total >= 250 && total < 256);

    CHECK(mlos_page_alloc(&pa, 0) == NULL);
    char *a = mlos_page_alloc(&pa, 1);
    char *b = mlos_page_alloc(&pa, 5);
    char *c = mlos_page_alloc(&pa, 17);
    REQUIRE(a && b && c);
    CHECK(free_pages(&pa) == total - 23);
    /* No overlap: each range keeps its own tags. */
    fill_page(a, 1, 1);
    fill_page(b, 5, 2);
    fill_page(c, 17, 3);
    CHECK(page_tagged(a, 1, 1) && page_tagged(b, 5, 2) && page_tagged(c, 17, 3));
    CHECK(mlos_page_base(&pa, b + 3 * PAGE + 5) == b);
    CHECK(mlos_page_base(&pa, c + 16 * PAGE + PAGE - 1) == c);
    CHECK(mlos_page_base(&pa, a) == a);

    /* Wrong sizes and interior pointers are refused and change nothing. */
    CHECK(mlos_page_free(&pa, b, 4) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, b, 6) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, b + PAGE, 4) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, a, 0) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, a, 6) == MLOS_EINVAL); /* a plus b */
    CHECK(free_pages(&pa) == total - 23);

    CHECK(mlos_page_free(&pa, b, 5) == 0);
    CHECK(mlos_page_base(&pa, b) == NULL);
    CHECK(page_tagged(a, 1, 1) && page_tagged(c, 17, 3));
    /* First fit: the hole left by b takes a 5-page request. */
    CHECK(mlos_page_alloc(&pa, 5) == b);
    CHECK(mlos_page_free(&pa, b, 5) == 0);
    CHECK(mlos_page_free(&pa, a, 1) == 0);
    CHECK(mlos_page_free(&pa, c, 17) == 0);
    CHECK(free_pages(&pa) == total);

    /* Exhaustion, then recovery. */
    CHECK(mlos_page_alloc(&pa, total + 1) == NULL);
    CHECK(mlos_page_alloc(&pa, SIZE_MAX) == NULL);
    char *all = mlos_page_alloc(&pa, total);
    REQUIRE(all);
    CHECK(mlos_page_alloc(&pa, 1) == NULL);
    CHECK(free_pages(&pa) == 0);
    CHECK(mlos_page_free(&pa, all, total) == 0);
    void *one = mlos_page_alloc(&pa, 1);
    CHECK(one == all);
    CHECK(mlos_page_free(&pa, one, 1) == 0);

    unmap(buf, 256 * PAGE);
}

static void test_bad_free(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r;
    int local;
    char *buf = map(64 * PAGE);
    REQUIRE(buf);
    r = reg(buf, 32 * PAGE); /* the upper half stays foreign */
    REQUIRE(mlos_pagealloc_init(&pa, &r, 1) == 0);
    size_t total = total_pages(&pa);

    char *p = mlos_page_alloc(&pa, 2);
    char *q = mlos_page_alloc(&pa, 1);
    REQUIRE(p && q);
    CHECK(mlos_page_free(&pa, p, 2) == 0);
    CHECK(mlos_page_free(&pa, p, 2) == MLOS_EINVAL); /* double free */
    CHECK(mlos_page_free(&pa, p, 1) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, NULL, 1) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, &local, 1) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, q + 1, 1) == MLOS_EINVAL);
    CHECK(mlos_page_free(&pa, buf, 1) == MLOS_EINVAL);             /* bookkeeping */
    CHECK(mlos_page_free(&pa, buf + 40 * PAGE, 1) == MLOS_EINVAL); /* outside */
    CHECK(mlos_page_free(&pa, q, SIZE_MAX) == MLOS_EINVAL);
    CHECK(mlos_page_base(&pa, &local) == NULL);
    CHECK(mlos_page_base(&pa, buf) == NULL);
    CHECK(mlos_page_base(&pa, p) == NULL); /* freed */
    CHECK(free_pages(&pa) == total - 1);
    CHECK(mlos_page_free(&pa, q, 1) == 0);
    CHECK(mlos_page_free(&pa, q, 1) == MLOS_EINVAL);
    CHECK(free_pages(&pa) == total);
    unmap(buf, 64 * PAGE);
}

static void test_fragmentation(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r;
    enum { N = 1024 };
    static char *pg[N];
    char *buf = map((N + 8) * PAGE);
    REQUIRE(buf);
    r = reg(buf, (N + 8) * PAGE);
    REQUIRE(mlos_pagealloc_init(&pa, &r, 1) == 0);
    size_t total = total_pages(&pa);
    REQUIRE(total >= N);

    for (size_t i = 0; i < N; i++) {
        pg[i] = mlos_page_alloc(&pa, 1);
        REQUIRE(pg[i]);
    }
    for (size_t i = 1; i < N; i++)
        CHECK(pg[i] == pg[i - 1] + PAGE);
    /* The few pages past pg[N-1] stay taken, out of the way. */
    size_t tail = total - N;
    CHECK(tail == 0 || mlos_page_alloc(&pa, tail) == pg[N - 1] + PAGE);
    for (size_t i = 0; i < N; i += 2)
        CHECK(mlos_page_free(&pa, pg[i], 1) == 0);
    CHECK(free_pages(&pa) == N / 2);
    CHECK(mlos_page_alloc(&pa, 2) == NULL); /* every hole is 1 page */

    /* 1-page requests fill the lowest hole first. */
    char *x = mlos_page_alloc(&pa, 1);
    CHECK(x == pg[0]);
    CHECK(mlos_page_free(&pa, x, 1) == 0);

    /* Free pg[1]: holes 0..2 merge into a 3-page run. */
    CHECK(mlos_page_free(&pa, pg[1], 1) == 0);
    x = mlos_page_alloc(&pa, 3);
    CHECK(x == pg[0]);
    CHECK(mlos_page_free(&pa, x, 3) == 0);

    /* A run that crosses bitmap words: 58..78 once the odd ones go. */
    for (size_t i = 59; i <= 77; i += 2)
        CHECK(mlos_page_free(&pa, pg[i], 1) == 0);
    CHECK(mlos_page_alloc(&pa, 22) == NULL);
    x = mlos_page_alloc(&pa, 21);
    CHECK(x == pg[58]);
    CHECK(mlos_page_free(&pa, x, 21) == 0);

    /* A big run: free 200 pages in the middle, one stays taken in it. */
    for (size_t i = 401; i < 600; i += 2)
        if (i != 501)
            CHECK(mlos_page_free(&pa, pg[i], 1) == 0);
    x = mlos_page_alloc(&pa, 150); /* 400..500 is too short, 502..600 too */
    CHECK(x == NULL);
    x = mlos_page_alloc(&pa, 101);
    CHECK(x == pg[400]);
    if (x)
        CHECK(mlos_page_free(&pa, x, 101) == 0);
    CHECK(mlos_page_free(&pa, pg[501], 1) == 0);
    x = mlos_page_alloc(&pa, 200);
    CHECK(x == pg[400]);
    unmap(buf, (N + 8) * PAGE);
}

static void test_multi_region(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r[3];
    size_t len[3] = { 16 * PAGE, 64 * PAGE, 300 * PAGE }, cap[3];
    char *m[3];

    for (int i = 0; i < 3; i++) {
        m[i] = map(len[i]);
        REQUIRE(m[i]);
        r[i] = reg(m[i], len[i]);
        REQUIRE(mlos_pagealloc_init(&pa, &r[i], 1) == 0);
        cap[i] = total_pages(&pa);
    }
    REQUIRE(mlos_pagealloc_init(&pa, r, 3) == 0);
    CHECK(total_pages(&pa) == cap[0] + cap[1] + cap[2]);

    /* Only the big region can hold this; it lands there. */
    char *big = mlos_page_alloc(&pa, cap[2]);
    REQUIRE(big);
    CHECK(big >= m[2] && big + cap[2] * PAGE <= m[2] + len[2]);
    /* Enough pages in total, but no region has them in one run. */
    CHECK(mlos_page_alloc(&pa, cap[1] + 1) == NULL);
    char *mid = mlos_page_alloc(&pa, cap[1]);
    CHECK(mid >= m[1] && mid < m[1] + len[1]);
    char *small = mlos_page_alloc(&pa, cap[0]);
    CHECK(small >= m[0] && small < m[0] + len[0]);
    CHECK(mlos_page_alloc(&pa, 1) == NULL);
    /* Frees go to the right region. */
    CHECK(mlos_page_free(&pa, mid, cap[1]) == 0);
    CHECK(mlos_page_free(&pa, small, cap[0]) == 0);
    CHECK(mlos_page_free(&pa, big, cap[2]) == 0);
    CHECK(free_pages(&pa) == total_pages(&pa));
    for (int i = 0; i < 3; i++)
        unmap(m[i], len[i]);
}

/* Several GiB: bookkeeping stays small and searches use the hints. */
static void test_huge_region(void)
{
    struct mlos_pagealloc pa;
    struct mlos_hal_region r;
    size_t len = (size_t)8 << 30;
    char *buf = map(len);
    if (!buf) {
        len = (size_t)2 << 30;
        buf = map(len);
    }
    if (!buf) {
        printf("skip: huge region (mmap failed)\n");
        return;
    }
    r = reg(buf, len);
    REQUIRE(mlos_pagealloc_init(&pa, &r, 1) == 0);
    size_t total = total_pages(&pa);
    CHECK(total > len / PAGE - len / PAGE / 8000 && total < len / PAGE);

    /* 100k single pages, then every other freed and taken again. */
    enum { K = 100000 };
    static char *pg[K];
    for (size_t i = 0; i < K; i++) {
        pg[i] = mlos_page_alloc(&pa, 1);
        REQUIRE(pg[i]);
    }
    for (size_t i = 0; i < K; i += 2)
        CHECK(mlos_page_free(&pa, pg[i], 1) == 0);
    for (size_t i = 0; i < K; i += 2)
        CHECK(mlos_page_alloc(&pa, 1) == pg[i]);
    /* A 1 GiB run, and then everything that is left. */
    size_t gib = ((size_t)1 << 30) / PAGE;
    char *g = mlos_page_alloc(&pa, gib);
    CHECK(g == pg[K - 1] + PAGE);
    char *rest = mlos_page_alloc(&pa, free_pages(&pa));
    CHECK(rest == g + gib * PAGE);
    CHECK(free_pages(&pa) == 0);
    CHECK(mlos_page_free(&pa, g, gib) == 0);
    CHECK(mlos_page_free(&pa, rest, total - K - gib) == 0);
    for (size_t i = 0; i < K; i++)
        CHECK(mlos_page_free(&pa, pg[i], 1) == 0);
    CHECK(free_pages(&pa) == total);
    unmap(buf, len);
}

/* ---- heap ---- */

struct arena {
    struct mlos_pagealloc pa;
    struct mlos_heap h;
    char *buf;
    size_t len;
};

static int arena_open(struct arena *a, size_t len)
{
    struct mlos_hal_region r;
    a->len = len;
    a->buf = map(len);
    if (!a->buf)
        return -1;
    r = reg(a->buf, len);
    if (mlos_pagealloc_init(&a->pa, &r, 1) != 0)
        return -1;
    mlos_heap_init(&a->h, &a->pa);
    return 0;
}

static void arena_close(struct arena *a)
{
    unmap(a->buf, a->len);
}

/* The heap is empty again and every page went back. */
static int heap_clean(struct arena *a)
{
    struct mlos_mem_stats st;
    mlos_heap_stats(&a->h, &st);
    return st.heap_bytes == 0 && st.free_bytes == st.total_bytes;
}

static void test_heap_sizes(void)
{
    struct arena a;
    enum { MAXN = 5000 };
    static unsigned char *p[MAXN + 1];
    size_t sum = 0;
    REQUIRE(arena_open(&a, (size_t)64 << 20) == 0);

    for (size_t n = 0; n <= MAXN; n++) {
        p[n] = mlos_heap_alloc(&a.h, n);
        REQUIRE(p[n]);
        CHECK(((uintptr_t)p[n] & 15) == 0);
        size_t u = mlos_heap_usable_size(&a.h, p[n]);
        CHECK(u >= n && u >= 1);
        sum += u;
        memset(p[n], (int)(n & 0xff), u);
    }
    struct mlos_mem_stats st;
    mlos_heap_stats(&a.h, &st);
    CHECK(st.heap_bytes == sum);
    for (size_t n = 0; n <= MAXN; n++) {
        size_t u = mlos_heap_usable_size(&a.h, p[n]);
        for (size_t k = 0; k < u; k++)
            if (p[n][k] != (unsigned char)n) {
                fprintf(stderr, "size %zu: byte %zu overwritten\n", n, k);
                failures++;
                break;
            }
    }
    for (size_t n = 0; n <= MAXN; n += 2)
        mlos_heap_free(&a.h, p[n]);
    for (size_t n = 1; n <= MAXN; n += 2)
        mlos_heap_free(&a.h, p[n]);
    CHECK(heap_clean(&a));
    arena_close(&a);
}

static void test_heap_bad_free(void)
{
    struct arena a;
    int local;
    struct mlos_mem_stats st0, st;
    REQUIRE(arena_open(&a, 64 * PAGE) == 0);

    mlos_heap_free(&a.h, NULL);
    char *keep = mlos_heap_alloc(&a.h, 40);
    char *s = mlos_heap_alloc(&a.h, 100);
    char *b = mlos_heap_alloc(&a.h, 3 * PAGE);
    REQUIRE(keep && s && b);
    mlos_heap_stats(&a.h, &st0);

    mlos_heap_free(&a.h, &local);
    mlos_heap_free(&a.h, s + 16);       /* inside a 112-byte slot */
    mlos_heap_free(&a.h, b + 16);
    mlos_heap_free(&a.h, b + PAGE);     /* inside a big block */
    mlos_heap_free(&a.h, a.buf);        /* bookkeeping page */
    mlos_heap_free(&a.h, (void *)16);
    CHECK(mlos_heap_usable_size(&a.h, &local) == 0);
    CHECK(mlos_heap_usable_size(&a.h, b + PAGE) == 0);
    mlos_heap_stats(&a.h, &st);
    CHECK(memcmp(&st, &st0, sizeof(st)) == 0);

    mlos_heap_free(&a.h, s);
    mlos_heap_free(&a.h, b);
    mlos_heap_stats(&a.h, &st0);
    mlos_heap_free(&a.h, s); /* double frees */
    mlos_heap_free(&a.h, b);
    CHECK(mlos_heap_usable_size(&a.h, s) == 0);
    CHECK(mlos_heap_usable_size(&a.h, b) == 0);
    CHECK(mlos_heap_realloc(&a.h, s, 10) == NULL);
    mlos_heap_stats(&a.h, &st);
    CHECK(memcmp(&st, &st0, sizeof(st)) == 0);

    /* A stale pointer to a big block whose pages now belong to someone
     * else (a raw page user) must not free them. */
    char *big = mlos_heap_alloc(&a.h, 2 * PAGE);
    REQUIRE(big);
    mlos_heap_free(&a.h, big);
    char *raw = mlos_page_alloc(&a.pa, 3);
    CHECK(raw == big - 16);
    mlos_heap_stats(&a.h, &st0);
    mlos_heap_free(&a.h, big);
    mlos_heap_stats(&a.h, &st);
    CHECK(memcmp(&st, &st0, sizeof(st)) == 0);
    CHECK(mlos_page_free(&a.pa, raw, 3) == 0);

    mlos_heap_free(&a.h, keep);
    CHECK(heap_clean(&a));
    arena_close(&a);
}

static void test_heap_exhaustion(void)
{
    struct arena a;
    enum { MAXP = 64 };
    void *p[MAXP * 2];
    size_t n = 0;
    REQUIRE(arena_open(&a, 34 * PAGE) == 0);
    size_t total = total_pages(&a.pa);

    /* 2016-byte objects: two per page until the pages run out. */
    while (n < MAXP * 2 && (p[n] = mlos_heap_alloc(&a.h, 2000)) != NULL)
        n++;
    CHECK(n == 2 * total);
    CHECK(mlos_heap_alloc(&a.h, 8000) == NULL);
    CHECK(mlos_heap_alloc(&a.h, 2000) == NULL);
    for (size_t i = 0; i < n; i++)
        mlos_heap_free(&a.h, p[i]);
    CHECK(heap_clean(&a));

    /* One live object pins a slab; empty spares of other classes must not
     * stop a big block that needs their pages. */
    void *pin = mlos_heap_alloc(&a.h, 8);
    REQUIRE(pin);
    static const size_t sizes[] = { 20, 40, 60, 70, 90, 100, 120, 150, 180, 200, 250,
                                    300, 400, 500, 600, 700, 900, 1200, 1500 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        mlos_heap_free(&a.h, mlos_heap_alloc(&a.h, sizes[i]));
    void *big = mlos_heap_alloc(&a.h, (total - 1) * PAGE - 16);
    CHECK(big != NULL);
    CHECK(mlos_heap_alloc(&a.h, 5000) == NULL);
    mlos_heap_free(&a.h, big);
    mlos_heap_free(&a.h, pin);
    CHECK(heap_clean(&a));
    arena_close(&a);
}

static void test_heap_realloc(void)
{
    struct arena a;
    REQUIRE(arena_open(&a, (size_t)8 << 20) == 0);
    unsigned char *p = mlos_heap_realloc(&a.h, NULL, 10);
    REQUIRE(p);
    for (int i = 0; i < 10; i++)
        p[i] = (unsigned char)(i + 1);

    /* Grow through classes into big blocks and back down. */
    static const size_t steps[] = { 12, 100, 3000, 100000, 5000, 2016, 50, 7 };
    size_t keep = 10;
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        size_t n = steps[s];
        unsigned char *q = mlos_heap_realloc(&a.h, p, n);
        REQUIRE(q);
        CHECK(((uintptr_t)q & 15) == 0);
        CHECK(mlos_heap_usable_size(&a.h, q) >= n);
        CHECK(mlos_heap_usable_size(&a.h, q) <= n + PAGE); /* shrinks move */
        size_t k = keep < n ? keep : n;
        for (size_t i = 0; i < k && i < 10; i++)
            CHECK(q[i] == (unsigned char)(i + 1));
        for (size_t i = 10; i < k; i++)
            if (q[i] != (unsigned char)(i * 7)) {
                fprintf(stderr, "realloc to %zu lost byte %zu\n", n, i);
                failures++;
                break;
            }
        for (size_t i = 10; i < n; i++)
            q[i] = (unsigned char)(i * 7);
        keep = n;
        p = q;
    }
    /* Same class: stays put. */
    CHECK(mlos_heap_realloc(&a.h, p, 3) == p);
    /* Too big to ever fit: NULL, and p is untouched. */
    CHECK(mlos_heap_realloc(&a.h, p, (size_t)1 << 40) == NULL);
    CHECK(mlos_heap_realloc(&a.h, p, SIZE_MAX) == NULL);
    CHECK(mlos_heap_usable_size(&a.h, p) >= 7 && p[3] == 4);
    /* n == 0 frees. */
    CHECK(mlos_heap_realloc(&a.h, p, 0) == NULL);
    CHECK(heap_clean(&a));
    arena_close(&a);
}

/* Randomized: content patterns survive, blocks never overlap, stats add up. */
struct live {
    unsigned char *p;
    size_t n;
    unsigned char tag;
};

static void pattern_fill(struct live *l)
{
    memset(l->p, l->tag, l->n);
    if (l->n >= 8) /* unique ends catch a neighbour writing our pattern */
        memcpy(l->p + l->n - 8, &l->p, 8);
}

static int pattern_ok(const struct live *l, size_t upto)
{
    size_t n = upto < l->n ? upto : l->n;
    size_t body = l->n >= 8 ? l->n - 8 : l->n;
    size_t step = n > 8192 ? 61 : 1; /* sample big blocks */
    for (size_t i = 0; i < n && i < body; i += step)
        if (l->p[i] != l->tag)
            return 0;
    if (n == l->n && l->n >= 8 && memcmp(l->p + l->n - 8, &l->p, 8) != 0)
        return 0;
    return 1;
}

static int cmp_live(const void *x, const void *y)
{
    const struct live *a = x, *b = y;
    return (a->p > b->p) - (a->p < b->p);
}

static size_t rand_size(void)
{
    uint64_t r = rnd() % 1000;
    if (r < 700)
        return 1 + rnd() % 256;
    if (r < 900)
        return 257 + rnd() % 3840;
    if (r < 990)
        return 4097 + rnd() % 60000;
    return 65537 + rnd() % (256 * 1024);
}

static void test_heap_stress(void)
{
    struct arena a;
    enum { SLOTS = 2048, OPS = 200000 };
    static struct live slot[SLOTS], sorted[SLOTS];
    size_t nfail_alloc = 0;
    REQUIRE(arena_open(&a, (size_t)256 << 20) == 0);
    rng_state = 0x9E3779B97F4A7C15ull;
    memset(slot, 0, sizeof(slot));

    for (int op = 0; op < OPS && failures < 20; op++) {
        struct live *l = &slot[rnd() % SLOTS];
        if (!l->p) {
            l->n = rand_size();
            l->p = mlos_heap_alloc(&a.h, l->n);
            if (!l->p) {
                nfail_alloc++;
                continue;
            }
            CHECK(((uintptr_t)l->p & 15) == 0);
            CHECK(mlos_heap_usable_size(&a.h, l->p) >= l->n);
            l->tag = (unsigned char)rnd();
            pattern_fill(l);
        } else if (rnd() % 4 == 0) {
            size_t n = rand_size();
            CHECK(pattern_ok(l, l->n));
            unsigned char *q = mlos_heap_realloc(&a.h, l->p, n);
            if (!q) {
                nfail_alloc++;
                continue;
            }
            struct live nl = { q, n, l->tag };
            /* The common prefix, short of the old end marker, survived. */
            size_t body = l->n >= 8 ? l->n - 8 : l->n;
            size_t k = n < body ? n : body;
            for (size_t i = 0; i < k; i++)
                if (q[i] != l->tag) {
                    fprintf(stderr, "op %d: realloc %zu -> %zu lost byte %zu\n", op, l->n, n, i);
                    failures++;
                    break;
                }
            *l = nl;
            pattern_fill(l);
        } else {
            if (!pattern_ok(l, l->n)) {
                fprintf(stderr, "op %d: block %p (%zu bytes) corrupted\n", op, (void *)l->p, l->n);
                failures++;
            }
            mlos_heap_free(&a.h, l->p);
            l->p = NULL;
        }

        if (op % 20000 == 19999) {
            size_t n = 0, sum = 0;
            for (size_t i = 0; i < SLOTS; i++)
                if (slot[i].p) {
                    sorted[n] = slot[i];
                    sorted[n].n = mlos_heap_usable_size(&a.h, slot[i].p);
                    sum += sorted[n].n;
                    n++;
                }
            qsort(sorted, n, sizeof(sorted[0]), cmp_live);
            for (size_t i = 1; i < n; i++)
                CHECK(sorted[i - 1].p + sorted[i - 1].n <= sorted[i].p);
            struct mlos_mem_stats st;
            mlos_heap_stats(&a.h, &st);
            CHECK(st.heap_bytes == sum);
            CHECK(st.free_bytes <= st.total_bytes);
        }
    }
    for (size_t i = 0; i < SLOTS; i++)
        if (slot[i].p) {
            CHECK(pattern_ok(&slot[i], slot[i].n));
            mlos_heap_free(&a.h, slot[i].p);
            slot[i].p = NULL;
        }
    CHECK(nfail_alloc == 0); /* 256 MiB is plenty for this mix */
    CHECK(heap_clean(&a));
    arena_close(&a);
}

/* ---- default instance ---- */

/* Used only when no HAL is linked in (plain gcc builds of this test). */
__attribute__((weak)) int mlos_hal_mem_regions(struct mlos_hal_region *out, int max)
{
    static char *buf;
    size_t len = (size_t)16 << 20;
    if (!buf)
        buf = map(len);
    if (!buf)
        return MLOS_ENOMEM;
    if (max > 0)
        out[0] = reg(buf, len);
    return 1;
}

__attribute__((weak)) int mlos_hal_mem_budget(size_t *bytes)
{
    (void)bytes;
    return MLOS_ENOENT;
}

static size_t seen_limit;
static int note_limit(size_t size, size_t align, size_t in_use, size_t limit)
{
    seen_limit = limit;
    return 1;
}

static void test_default(void)
{
    struct mlos_mem_stats st0, st;

    CHECK(mlos_malloc(10) == NULL); /* before init */

    /* Deferred set-up with an elastic limit asked for before it (a slave
     * booted with mlos.mem_max): the limit is reported at once and holds
     * from the first allocation, which does the set-up. */
    size_t cap = 0;
    if (mlos_mem_init_lazy(&cap) == 0) {
        CHECK(cap > 16 * PAGE);
        CHECK(mlos_mem_set_limit(8 * PAGE) == 8 * PAGE);
        CHECK(mlos_mem_set_limit(cap + 64 * PAGE) == cap); /* the later request wins, capped at capacity */
        CHECK(mlos_mem_set_limit(8 * PAGE) == 8 * PAGE);
        mlos_mem_set_policy(note_limit);
        seen_limit = 0;
        void *q = mlos_malloc(100); /* sets the allocator up */
        CHECK(q && seen_limit == 8 * PAGE);
        CHECK(mlos_malloc(16 * PAGE) == NULL);
        mlos_mem_set_policy(NULL);
        mlos_mem_stats(&st);
        CHECK(st.total_bytes == cap && st.limit_bytes == 8 * PAGE);
        mlos_free(q);
    }
    int rc = mlos_mem_init_from_hal();
    if (rc < 0) {
        printf("skip: default instance (mlos_mem_init_from_hal: %s)\n", mlos_strerror(rc));
        return;
    }
    mlos_mem_stats(&st0);
    CHECK(st0.total_bytes > 0 && st0.heap_bytes == 0);

    unsigned char *p = mlos_malloc(1000);
    REQUIRE(p);
    memset(p, 0xEE, 1000);
    mlos_free(p);
    unsigned char *z = mlos_calloc(125, 8); /* likely the same dirty slot */
    REQUIRE(z);
    for (int i = 0; i < 1000; i++)
        if (z[i]) {
            CHECK(z[i] == 0);
            break;
        }
    CHECK(mlos_calloc(SIZE_MAX / 2, 3) == NULL);
    CHECK(mlos_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
    unsigned char *z2 = mlos_calloc(0, 5);
    CHECK(z2 != NULL);
    mlos_free(z2);

    z = mlos_realloc(z, 9000);
    REQUIRE(z);
    CHECK(z[999] == 0);
    mlos_mem_stats(&st);
    CHECK(st.heap_bytes >= 9000);
    mlos_free(z);
    mlos_free(NULL);
    mlos_mem_stats(&st);
    CHECK(st.heap_bytes == 0 && st.free_bytes == st0.free_bytes);

    /* An elastic limit is what the memory policy is told the heap has,
     * and allocations past it fail even though the RAM is there. */
    size_t lim = mlos_mem_set_limit(8 * PAGE);
    CHECK(lim == 8 * PAGE);
    mlos_mem_set_policy(note_limit);
    seen_limit = 0;
    p = mlos_malloc(100);
    CHECK(p && seen_limit == 8 * PAGE);
    CHECK(mlos_malloc(16 * PAGE) == NULL);
    mlos_mem_set_policy(NULL);
    mlos_free(p);
    CHECK(mlos_mem_set_limit(st0.total_bytes) == st0.total_bytes);
    p = mlos_malloc(16 * PAGE);
    CHECK(p != NULL);
    mlos_free(p);
}

/* Elastic limit: allocations stop at the limit, a limit below what is in
 * use stops there, reclaim holds free runs (keeping the asked-for free
 * pages), held pages are never handed out, and returning them is checked
 * like a free. */
static void test_limit_reclaim(void)
{
    size_t len = 512 * PAGE;
    void *mem = map(len);
    struct mlos_pagealloc pa;
    struct mlos_hal_region r = reg(mem, len);
    struct mlos_page_run runs[8];
    void *a, *b, *c;
    size_t held = 0, total, n;

    REQUIRE(mem && mlos_pagealloc_init(&pa, &r, 1) == 0);
    total = total_pages(&pa);
    CHECK(mlos_pagealloc_set_limit(&pa, 100) == 100);
    a = mlos_page_alloc(&pa, 60);
    CHECK(a && !mlos_page_alloc(&pa, 41)); /* 60 + 41 > 100 */
    b = mlos_page_alloc(&pa, 40);
    CHECK(b && mlos_page_in_use(&pa) == 100 && !mlos_page_alloc(&pa, 1));
    CHECK(mlos_pagealloc_set_limit(&pa, 10) == 100); /* never below what is in use */
    CHECK(mlos_pagealloc_set_limit(&pa, total + 5) == total);
    CHECK(mlos_page_free(&pa, b, 40) == 0);
    CHECK(mlos_pagealloc_set_limit(&pa, 70) == 70);
    /* touch every page once, so that all of it may hold host memory */
    CHECK(mlos_page_free(&pa, a, 60) == 0);
    CHECK(mlos_pagealloc_set_limit(&pa, total) == total);
    c = mlos_page_alloc(&pa, total);
    CHECK(c && mlos_page_free(&pa, c, total) == 0);
    a = mlos_page_alloc(&pa, 60);
    CHECK(mlos_pagealloc_set_limit(&pa, 70) == 70);
    /* keep 10 free pages (limit 70 - 60 in use), hold the rest */
    n = mlos_page_reclaim(&pa, 10, runs, 8, &held);
    CHECK(n == 1 && held == total - 70 && runs[0].npages == held);
    CHECK(runs[0].base == (uintptr_t)a + 70 * PAGE); /* lowest free pages stay */
    CHECK(mlos_page_in_use(&pa) == 60 && free_pages(&pa) == 10);
    c = mlos_page_alloc(&pa, 10);
    CHECK(c == (char *)a + 60 * PAGE);
    CHECK(!mlos_page_alloc(&pa, 1)); /* limit, and the rest is held */
    CHECK(mlos_pagealloc_set_limit(&pa, total) == total);
    CHECK(!mlos_page_alloc(&pa, 1)); /* held pages are not handed out */
    struct mlos_page_run bad = runs[0];
    bad.npages--;
    CHECK(mlos_page_return(&pa, &bad) == MLOS_EINVAL);
    CHECK(mlos_page_return(&pa, &runs[0]) == 0);
    CHECK(mlos_page_return(&pa, &runs[0]) == MLOS_EINVAL); /* twice */
    CHECK(free_pages(&pa) == total - 70);
    /* given back means clean: reclaiming again finds nothing to give */
    CHECK(mlos_page_reclaim(&pa, 0, runs, 8, &held) == 0 && held == 0);
    /* only what was handed out since is given back, stretch by stretch */
    c = mlos_page_alloc(&pa, 5);
    b = mlos_page_alloc(&pa, 5);
    CHECK(c && b && mlos_page_free(&pa, c, 5) == 0);
    n = mlos_page_reclaim(&pa, 0, runs, 8, &held);
    CHECK(n == 1 && held == 5 && runs[0].base == (uintptr_t)c);
    CHECK(mlos_page_return(&pa, &runs[0]) == 0);
    CHECK(mlos_page_free(&pa, b, 5) == 0);
    CHECK(mlos_page_alloc(&pa, total - 70));
    unmap(mem, len);
}

/* The straight-line capacity of one region (what HELLO reports before a
 * bare-metal HAL read its map) agrees with the general one, sizes 1 page
 * to 3 GiB, bitmap word boundaries included. */
static void test_capacity_of(void)
{
    static const size_t pages[] = {1, 2, 3, 63, 64, 65, 4095, 4096, 4097, 16384, 262143, 262144, 786432};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        for (size_t extra = 0; extra < 2; extra++) {
            size_t len = pages[i] * PAGE + extra * 100; /* a partial page is not used */
            struct mlos_hal_region r = {(uintptr_t)1 << 30, len};
            CHECK(mlos_pagealloc_capacity_of(len) == mlos_pagealloc_capacity(&r, 1));
        }
    CHECK(mlos_pagealloc_capacity_of(0) == 0);
}

int main(void)
{
    test_init();
    test_capacity_of();
    test_alloc_free();
    test_bad_free();
    test_fragmentation();
    test_multi_region();
    test_huge_region();
    test_heap_sizes();
    test_heap_bad_free();
    test_heap_exhaustion();
    test_heap_realloc();
    test_heap_stress();
    test_default();
    test_limit_reclaim();
    if (failures) {
        fprintf(stderr, "test_mem: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_mem: all passed\n");
    return 0;
}
