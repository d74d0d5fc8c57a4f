/* hal_selftest.c -- guest side of the bare-metal x86_64 HAL test.
 *
 * Linked into hal-selftest-x86_64.elf in place of libos: it provides its
 * own mlos_shard_main and a bump allocator behind mlos_malloc & co, so the
 * HAL can be tested on its own. The case comes from mlos.selftest=<case>;
 * the host side is test/test_hal_x86_64.c, which also defines the window
 * layout below (struct st_window).
 *
 *   basic      checks the host's pattern in the window, reports regions,
 *              packs a Hello into the window, then runs the doorbell
 *              protocol: ring, wait for the host's ring (HLT + IRQ), ring,
 *              wait for a deadline with no doorbell, ring; exits with 7.
 *   fault      touches an unmapped address: the HAL must dump #PF and exit
 *              with 99.
 *   smash      overruns a stack buffer: the stack protector (canary at
 *              %fs:0x28) must catch it, exit status 97.
 *   selfcheck  in-guest checks of the freestanding library (formatting,
 *              string functions, boot arguments) and of protobuf-c with the
 *              stack protector; exit status = number of failures.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal.h"
#include "mem.h"
#include "mlos.pb-c.h"
#include "mlos_bootargs.h"
#include "x86_64.h"

/* ---- window layout shared with test_hal_x86_64.c ---- */
#define ST_PATTERN_HEAD 0x54534554534F4C4Dull /* "MLOSTEST" */
#define ST_PATTERN_TAIL 0x4C494154534F4C4Dull /* "MLOSTAIL" */
#define ST_SEEN 0x4E454553u                   /* "SEEN" */
#define ST_RESULTS_OFF 64
#define ST_PB_OFF 1024

struct st_results {
    uint64_t seen;         /* ST_SEEN when both patterns matched */
    uint64_t t_ring1_ns;   /* guest clock at the first ring */
    uint64_t wake_ret;     /* mlos_hal_wait result after the host's ring */
    uint64_t t_wake_ns;    /* guest clock after that wake-up */
    uint64_t deadline_ret; /* mlos_hal_wait result with no doorbell */
    uint64_t deadline_ns;  /* how long that wait took */
    uint64_t irq_doorbell; /* interrupt counts after the waits */
    uint64_t irq_timer;
    uint64_t pb_len;       /* packed Hello at ST_PB_OFF */
    uint64_t tsc_hz;
};

#define BASIC_EXIT 7
#define DEADLINE_WAIT_NS 250000000ull

/* ---- stand-in allocator: bump over the first region, 16-byte aligned.
 * A size header makes realloc possible; free never reclaims. ---- */
static uint8_t *heap_cur, *heap_end;

int mlos_mem_init_from_hal(void)
{
    struct mlos_hal_region r[8];
    int n = mlos_hal_mem_regions(r, 8);
    if (n < 1)
        return -1;
    heap_cur = (uint8_t *)r[0].base;
    heap_end = heap_cur + r[0].len;
    return 0;
}

void *mlos_malloc(size_t n)
{
    size_t need = 16 + ((n + 15) & ~(size_t)15);
    if (!heap_cur || (size_t)(heap_end - heap_cur) < need)
        return NULL;
    *(size_t *)heap_cur = n;
    heap_cur += need;
    return heap_cur - need + 16;
}

void *mlos_calloc(size_t n, size_t m)
{
    if (m && n > (size_t)-1 / m)
        return NULL;
    void *p = mlos_malloc(n * m);
    if (p)
        memset(p, 0, n * m);
    return p;
}

void *mlos_realloc(void *p, size_t n)
{
    void *q = mlos_malloc(n);
    if (p && q) {
        size_t old = *(size_t *)((uint8_t *)p - 16);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

void mlos_free(void *p) { (void)p; }

/* ---- output ---- */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    mlos_hal_console_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static int failures;
#define CHECK(cond)                                                                                        \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            say("selftest: FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                  \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

/* Pack a Hello; returns its length or 0. Exercises libprotobuf-c.a (built
 * with the stack protector, possibly SSE) on bare metal. */
static size_t pack_hello(uint8_t *out, size_t cap)
{
    Mlos__Hello h = MLOS__HELLO__INIT;
    char *tasks[] = { "echo", "selftest" };
    h.arch = (char *)mlos_hal_arch();
    h.shard_id = 42;
    h.n_tasks = 2;
    h.tasks = tasks;
    h.mem_bytes = 123456789;
    h.boot_ns = mlos_hal_now_ns();
    h.abi = 1;
    size_t n = mlos__hello__get_packed_size(&h);
    if (n > cap)
        return 0;
    return mlos__hello__pack(&h, out);
}

static int print_regions(void *win, size_t win_len)
{
    struct mlos_hal_region r[16];
    int n = mlos_hal_mem_regions(r, 16);
    uint64_t total = 0;

    for (int i = 0; i < n && i < 16; i++) {
        say("region base=0x%lx len=0x%zx\n", (unsigned long)r[i].base, r[i].len);
        total += r[i].len;
        CHECK(r[i].base % MLOS_HAL_PAGE_SIZE == 0 && r[i].len % MLOS_HAL_PAGE_SIZE == 0);
        CHECK(r[i].base >= 0x100000);
        CHECK(r[i].base >= (uintptr_t)__image_end || r[i].base + r[i].len <= (uintptr_t)__image_start);
        if (win)
            CHECK(r[i].base >= (uintptr_t)win + win_len || r[i].base + r[i].len <= (uintptr_t)win);
    }
    say("regions n=%d total=%llu KiB\n", n, (unsigned long long)(total >> 10));
    return n;
}

static int case_basic(void)
{
    void *win;
    size_t win_len;

    if (mlos_hal_window(&win, &win_len) != 0) {
        say("selftest: no window\n");
        return 2;
    }
    say("selftest basic: window %p len 0x%zx cmdline \"%s\"\n", win, win_len, mlos_hal_cmdline());
    print_regions(win, win_len);

    volatile uint64_t *w = win;
    struct st_results *res = (struct st_results *)((uint8_t *)win + ST_RESULTS_OFF);
    int seen = w[0] == ST_PATTERN_HEAD && w[win_len / 8 - 1] == ST_PATTERN_TAIL;
    say("selftest basic: host pattern %s\n", seen ? "ok" : "MISSING");
    res->seen = seen ? ST_SEEN : 0;
    res->tsc_hz = mlos_hal_cycles_hz();
    res->pb_len = pack_hello((uint8_t *)win + ST_PB_OFF, win_len - ST_PB_OFF);
    say("selftest basic: protobuf Hello packed, %llu bytes\n", (unsigned long long)res->pb_len);

    /* 1: tell the host we are up; wait for its ring (sleeps in HLT). */
    res->t_ring1_ns = mlos_hal_now_ns();
    mlos_hal_doorbell_ring();
    res->wake_ret = (uint64_t)mlos_hal_wait(mlos_hal_now_ns() + 5000000000ull);
    res->t_wake_ns = mlos_hal_now_ns();
    /* 2: answer at once (the host measures the round trip). */
    mlos_hal_doorbell_ring();

    /* 3: nobody rings now: the LAPIC timer must end the wait. */
    uint64_t t0 = mlos_hal_now_ns();
    res->deadline_ret = (uint64_t)mlos_hal_wait(t0 + DEADLINE_WAIT_NS);
    res->deadline_ns = mlos_hal_now_ns() - t0;
    res->irq_doorbell = x86_irq_count[0];
    res->irq_timer = x86_irq_count[1];
    mlos_hal_doorbell_ring();

    say("selftest basic: wake ret=%llu after %llu us; deadline wait ret=%llu took %llu us; irqs doorbell=%llu "
        "timer=%llu spurious=%llu\n",
        (unsigned long long)res->wake_ret, (unsigned long long)(res->t_wake_ns - res->t_ring1_ns) / 1000,
        (unsigned long long)res->deadline_ret, (unsigned long long)res->deadline_ns / 1000,
        (unsigned long long)x86_irq_count[0], (unsigned long long)x86_irq_count[1],
        (unsigned long long)x86_irq_count[2]);
    say("selftest basic: done\n");
    return failures ? 3 : BASIC_EXIT;
}

static int case_fault(void)
{
    say("selftest fault: touching 0x100000000000\n");
    return (int)*(volatile uint64_t *)0x100000000000ull;
}

/* Writes n bytes into a 16-byte buffer; with n > 16 the canary dies. */
__attribute__((noinline)) static void overrun(size_t n)
{
    char buf[16];
    volatile char *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = 'A';
}

static int case_smash(void)
{
    say("selftest smash: overrunning a stack buffer\n");
    overrun(48);
    say("selftest smash: NOT detected\n");
    return 2;
}

static void check_format(void)
{
    char b[128];

    snprintf(b, sizeof(b), "%d|%i|%u|%x|%X|%c|%%|%s", -42, 7, 3000000000u, 0xbeefu, 0xbeefu, 'z', "hi");
    CHECK(strcmp(b, "-42|7|3000000000|beef|BEEF|z|%|hi") == 0);
    snprintf(b, sizeof(b), "[%5d][%-5d][%05d][%.3s][%.*s][%8.4x]", 42, 42, -42, "abcdef", 2, "xyz", 0xab);
    CHECK(strcmp(b, "[   42][42   ][-0042][abc][xy][    00ab]") == 0);
    snprintf(b, sizeof(b), "%lld %llu %zu %hhu %hd %lx", -9223372036854775807ll - 1, 18446744073709551615ull,
             (size_t)12345, (unsigned char)300, (short)-2, 0xfedcba9876543210ul);
    CHECK(strcmp(b, "-9223372036854775808 18446744073709551615 12345 44 -2 fedcba9876543210") == 0);
    snprintf(b, sizeof(b), "%p %s", (void *)0x1234, (char *)NULL);
    CHECK(strcmp(b, "0x1234 (null)") == 0);
    CHECK(snprintf(b, 4, "abcdef") == 6 && strcmp(b, "abc") == 0);
    CHECK(snprintf(NULL, 0, "%d", 12345) == 5);
}

static void check_string(void)
{
    static uint8_t a[300], b[300];

    for (int i = 0; i < 300; i++)
        a[i] = (uint8_t)(i * 7 + 1);
    for (int off = 0; off < 9; off++) { /* every alignment pairing */
        for (int off2 = 0; off2 < 9; off2++) {
            memset(b, 0, sizeof(b));
            memcpy(b + off2, a + off, 200);
            CHECK(memcmp(b + off2, a + off, 200) == 0 && b[off2 + 200] == 0);
        }
    }
    memcpy(b, a, 300);
    memmove(b + 3, b, 250); /* overlap, forward */
    CHECK(memcmp(b + 3, a, 250) == 0);
    memcpy(b, a, 300);
    memmove(b, b + 5, 250); /* overlap, backward */
    CHECK(memcmp(b, a + 5, 250) == 0);
    memset(b + 1, 0xab, 100);
    CHECK(b[0] == a[5] && b[1] == 0xab && b[100] == 0xab && b[101] == a[101 + 5]);
    CHECK(memcmp("abc", "abd", 3) < 0 && memcmp("abd", "abc", 3) > 0);
    for (int i = 0; i < 20; i++) {
        char s[40];
        memset(s, 'x', sizeof(s));
        s[i + 3] = '\0';
        CHECK(strlen(s + 3) == (size_t)i);
    }
    CHECK(strnlen("hello", 3) == 3 && strcmp("a", "b") < 0 && strncmp("abcx", "abcy", 3) == 0);
    const char *h = "hello";
    CHECK(strchr(h, 'l') == h + 2 && strchr(h, 'q') == NULL && strchr(h, '\0') == h + 5);
}

static void check_bootargs(void)
{
    const char *c = "a=1 mlos.window=0x1000,0x20 flag mlos.id=17";
    uint64_t v;
    size_t len;

    CHECK(mlos_bootarg_u64(c, "mlos.window", 0, &v) == 0 && v == 0x1000);
    CHECK(mlos_bootarg_u64(c, "mlos.window", 1, &v) == 0 && v == 0x20);
    CHECK(mlos_bootarg_u64(c, "mlos.window", 2, &v) == -1);
    CHECK(mlos_bootarg_u64(c, "mlos.id", 0, &v) == 0 && v == 17);
    CHECK(mlos_bootarg_u64(c, "mlos", 0, &v) == -1);
    CHECK(mlos_bootarg_find(c, "flag", &len) != NULL && len == 0);
    CHECK(mlos_bootarg_find(c, "a", &len) != NULL && len == 1);
    CHECK(mlos_bootarg_find(c, "b", &len) == NULL);
    CHECK(mlos_bootarg_u64("k=0XfF", "k", 0, &v) == 0 && v == 255);
    CHECK(mlos_bootarg_u64("k=18446744073709551615", "k", 0, &v) == 0 && v == UINT64_MAX);
    CHECK(mlos_bootarg_u64("k=18446744073709551616", "k", 0, &v) == -1);
    CHECK(mlos_bootarg_u64("k=0x10000000000000000", "k", 0, &v) == -1);
    CHECK(mlos_bootarg_u64("k=0x", "k", 0, &v) == -1);
    CHECK(mlos_bootarg_u64("k=12a", "k", 0, &v) == -1);
    CHECK(mlos_bootarg_u64("k=0x1g", "k", 0, &v) == -1);
    CHECK(mlos_bootarg_u64("k=1,,3", "k", 1, &v) == -1);
    CHECK(mlos_bootarg_u64("k=1,,3", "k", 2, &v) == 0 && v == 3);
}

static void check_protobuf(void)
{
    uint8_t buf[256];
    size_t n = pack_hello(buf, sizeof(buf));
    CHECK(n > 0);
    Mlos__Hello *h = mlos__hello__unpack(NULL, n, buf);
    CHECK(h != NULL);
    if (h) {
        CHECK(strcmp(h->arch, "x86_64") == 0 && h->shard_id == 42 && h->n_tasks == 2);
        CHECK(h->n_tasks == 2 && strcmp(h->tasks[1], "selftest") == 0 && h->mem_bytes == 123456789);
        mlos__hello__free_unpacked(h, NULL);
    }
    uint64_t canary;
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(canary));
    CHECK(canary != 0);
}

static int case_selfcheck(void)
{
    check_format();
    check_string();
    check_bootargs();
    check_protobuf();
    uint64_t t0 = mlos_hal_now_ns(), c0 = mlos_hal_cycles();
    CHECK(mlos_hal_cycles_hz() > 0);
    CHECK(mlos_hal_now_ns() >= t0 && mlos_hal_cycles() > c0);
    CHECK(strcmp(mlos_hal_arch(), "x86_64") == 0);
    /* a TLB refresh (CR3 reload) keeps every mapping: heap, stack, image */
    static volatile uint64_t in_image = 0x1122334455667788ull;
    volatile uint64_t on_stack = 0x8877665544332211ull, *heap = mlos_malloc(64 * 4096);
    CHECK(heap != NULL);
    if (heap) {
        for (int i = 0; i < 64; i++)
            heap[i * 512] = (uint64_t)i * 3;
        mlos_hal_tlb_refresh();
        for (int i = 0; i < 64; i++)
            CHECK(heap[i * 512] == (uint64_t)i * 3);
        mlos_free((void *)heap);
    }
    CHECK(in_image == 0x1122334455667788ull && on_stack == 0x8877665544332211ull);
    say("selftest selfcheck: %d failure(s)\n", failures);
    return failures;
}

int mlos_shard_main(void)
{
    char name[32] = "";
    size_t len;
    const char *v = mlos_bootarg_find(mlos_hal_cmdline(), "mlos.selftest", &len);

    if (mlos_mem_init_from_hal() != 0) {
        say("selftest: no memory\n");
        return 95;
    }
    if (v && len < sizeof(name)) {
        memcpy(name, v, len);
        name[len] = '\0';
    }
    if (strcmp(name, "basic") == 0)
        return case_basic();
    if (strcmp(name, "fault") == 0)
        return case_fault();
    if (strcmp(name, "smash") == 0)
        return case_smash();
    if (strcmp(name, "selfcheck") == 0)
        return case_selfcheck();
    say("selftest: unknown case \"%s\"\n", name);
    return 2;
}
