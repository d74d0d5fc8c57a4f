/* Fuzz target for the eBPF loader, verifier and interpreter, at every hook.
 *
 * An input is 8 header bytes -- byte 0 picks the hook (modulo the number
 * of hooks), byte 1 the length of its variable regions -- then program
 * bytes. The verifier decides; a program it accepts runs twice, checked
 * mode (every access bounds-checked) and fast mode, on identical data but
 * with the context, the regions and the VM stack at different addresses.
 * Both runs must finish the same way and agree on R0 and on every byte
 * they could write: a difference means a result depends on where memory
 * is, i.e. a host address leaked into it. A checked run of a verified
 * program must not fault, except where the hook's variable-length regions
 * are checked at run time by design (then both modes must fault alike).
 * Buffers are malloc'd at their exact sizes, so under AddressSanitizer any
 * fast-mode access outside them is caught. The same bytes are also loaded
 * as trusted code and run checked with a budget: they may fault, never
 * crash. Helpers are those of each hook, minus the nondeterministic clock
 * and the console in the deterministic driver.
 *
 * Built two ways:
 *   -DMLOS_FUZZ_LIBFUZZER  clang -fsanitize=fuzzer,address: the libFuzzer
 *                          entry point only (stubs stand in for the HAL;
 *                          seed it with test/fuzz/corpus/bpf)
 *   otherwise              a deterministic driver:
 *                          fuzz_bpf_verify [N [seed [corpus files...]]]
 *                          runs the corpus files, then N programs: random,
 *                          from instruction templates, and mutated corpus
 *                          entries.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf.h"
#include "bpf/hooks.h"
#include "mlos_error.h"

#ifdef MLOS_FUZZ_LIBFUZZER
/* The VM's only outside needs (bpf_helpers.c, bpf_load.c). */
void mlos_hal_console_write(const char *buf, size_t len) { (void)buf, (void)len; }
uint64_t mlos_hal_now_ns(void) { return 0; }
void *mlos_malloc(size_t n) { return malloc(n); }
void mlos_free(void *p) { free(p); }
#define DROP_HELPERS 0
#else
#define DROP_HELPERS (MLOS_BPF_HELPER_BIT(MLOS_BPF_HELPER_NOW_NS) | MLOS_BPF_HELPER_BIT(MLOS_BPF_HELPER_TRACE))
#endif

#define HDR 8
#define BUDGET (1u << 20) /* back jumps per checked run */

static struct mlos_bpf_hook_desc hooks[MLOS_HOOK_COUNT];
static long accepted, ran, faulted;

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    mlos_bpf_set_allocator(malloc, free);
    for (int h = 0; h < MLOS_HOOK_COUNT; h++) {
        hooks[h] = *mlos_hook_desc(h);
        hooks[h].helpers &= ~(uint32_t)DROP_HELPERS;
    }
}

/* One run's memory: the context and each region, at an address that
 * depends on the layout (0 or 1), filled with the same bytes. */
struct env {
    uint8_t *block[1 + MLOS_BPF_MAX_REGIONS]; /* malloc'd: [0] ctx, then regions */
    uint8_t *ctx, *reg[MLOS_BPF_MAX_REGIONS];
    size_t ctx_len, reg_len[MLOS_BPF_MAX_REGIONS];
};

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void env_make(struct env *e, const struct mlos_bpf_hook_desc *h, unsigned varlen, int layout)
{
    /* layout 1 moves every object by an amount that changes many address bits */
    size_t shift = layout ? 0x1238 : 0;
    memset(e, 0, sizeof(*e));
    e->ctx_len = h->ctx_size;
    e->block[0] = malloc(e->ctx_len + shift);
    e->ctx = e->block[0] + shift;
    for (size_t i = 0; i < e->ctx_len; i++)
        e->ctx[i] = (uint8_t)(i * 37 + 11);
    for (int r = 0; r < h->nregions; r++) {
        const struct mlos_bpf_region_desc *d = &h->regions[r];
        size_t len = d->variable ? varlen : d->size;
        e->reg_len[r] = len;
        e->block[1 + r] = malloc(len + shift + 1);
        e->reg[r] = e->block[1 + r] + shift;
        for (size_t i = 0; i < len; i++)
            e->reg[r][i] = (uint8_t)(i * 13 + 5 + r);
    }
    /* then the fields: region pointers, lengths and grants (little-endian host) */
    for (int r = 0; r < h->nregions; r++) {
        const struct mlos_bpf_region_desc *d = &h->regions[r];
        put64(e->ctx + d->ctx_off, (uint64_t)(uintptr_t)e->reg[r]);
        if (d->variable)
            put64(e->ctx + d->len_off, e->reg_len[r]);
        if (d->variable && d->grant)
            memcpy(e->ctx + d->grant_off, "\1\0\0\0", 4);
    }
}

static void env_free(struct env *e)
{
    for (int i = 0; i < 1 + MLOS_BPF_MAX_REGIONS; i++)
        free(e->block[i]);
}

/* Same bytes, except the region pointer fields (which differ by design). */
static int env_same(const struct env *a, const struct env *b, const struct mlos_bpf_hook_desc *h)
{
    for (size_t i = 0; i < a->ctx_len; i++) {
        int field = 0;
        for (int r = 0; r < h->nregions; r++)
            field |= i >= h->regions[r].ctx_off && i < h->regions[r].ctx_off + 8u;
        if (!field && a->ctx[i] != b->ctx[i])
            return 0;
    }
    for (int r = 0; r < h->nregions; r++)
        if (memcmp(a->reg[r], b->reg[r], a->reg_len[r]))
            return 0;
    return 1;
}

static void fail(const char *what, const uint8_t *code, size_t len)
{
    fprintf(stderr, "fuzz_bpf_verify: %s; input (%zu bytes):", what, len);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, "%s%02x", i % 8 ? "" : " ", code[i]);
    fprintf(stderr, "\n");
    abort();
}

/* Run on a C stack moved by `depth` bytes, so R10 differs between runs too. */
static int __attribute__((noinline)) run_at(struct mlos_bpf_prog *p, struct env *e, enum mlos_bpf_mode m,
                                            size_t depth, uint64_t *r0)
{
    volatile uint8_t pad[0x1500];
    pad[depth % sizeof(pad)] = 1;
    return mlos_bpf_run_ex(p, e->ctx, e->ctx_len, m, m == MLOS_BPF_RUN_CHECKED ? BUDGET : 0, r0) + pad[0] * 0;
}
static int run_shallow(struct mlos_bpf_prog *p, struct env *e, enum mlos_bpf_mode m, uint64_t *r0)
{
    return mlos_bpf_run_ex(p, e->ctx, e->ctx_len, m, m == MLOS_BPF_RUN_CHECKED ? BUDGET : 0, r0);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    struct env a, b;
    uint64_t r0a = 1, r0b = 2;
    const struct mlos_bpf_hook_desc *h;
    const uint8_t *code;
    unsigned varlen;
    int rca, rcb, hasvar = 0;

    setup();
    if (len < HDR)
        return 0;
    h = &hooks[in[0] % MLOS_HOOK_COUNT];
    varlen = in[1] * 4u;
    code = in + HDR;
    len = (len - HDR) & ~(size_t)7;
    for (int r = 0; r < h->nregions; r++)
        hasvar |= h->regions[r].variable;
    if (mlos_bpf_load(code, len, h, 0, &p, err, sizeof(err)) == 0) {
        accepted++;
        env_make(&a, h, varlen, 0);
        env_make(&b, h, varlen, 1);
        rca = run_shallow(p, &a, MLOS_BPF_RUN_CHECKED, &r0a);
        if (rca == MLOS_ETIMEDOUT) { /* a proven loop, just long: nothing to compare */
            env_free(&a);
            env_free(&b);
            mlos_bpf_free(p);
            return 0;
        }
        if (rca != 0 && !(rca == MLOS_EACCES && hasvar))
            fail("verified program faulted in checked mode", in, len + HDR);
        rcb = run_at(p, &b, MLOS_BPF_RUN_FAST, (size_t)in[2] * 8 + 0x528, &r0b);
        if (rca != rcb) {
            fprintf(stderr, "checked: %d, fast: %d\n", rca, rcb);
            fail("fast and checked runs ended differently", in, len + HDR);
        }
        if (rca == 0 && r0a != r0b)
            fail("R0 depends on where memory is (an address leaked) or fast and checked disagree", in, len + HDR);
        if (!env_same(&a, &b, h))
            fail("memory written depends on where memory is (an address leaked) or fast and checked disagree", in,
                 len + HDR);
        faulted += rca != 0;
        env_free(&a);
        env_free(&b);
        mlos_bpf_free(p);
    } else if (strncmp(err, "insn ", 5) != 0 && len) {
        fail("rejection without an instruction index", in, len + HDR);
    }
    if (mlos_bpf_load(code, len, h, MLOS_BPF_TRUSTED, &p, err, sizeof(err)) == 0) {
        ran++;
        env_make(&a, h, varlen, 0);
        (void)mlos_bpf_run_ex(p, a.ctx, a.ctx_len, MLOS_BPF_RUN_CHECKED, 1000, &r0a);
        env_free(&a);
        mlos_bpf_free(p);
    }
    return 0;
}

#ifndef MLOS_FUZZ_LIBFUZZER
static uint64_t rng;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Opcodes worth generating: every valid one, plus some that are not. */
static const uint8_t opcodes[] = {
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87, 0x97,
    0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7, 0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c,
    0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4, 0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x05,
    0x06, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0xa5, 0xad, 0xb5,
    0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0xae, 0xce, 0x85, 0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81,
    0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xdb, 0xc3, 0x8d, 0x20, 0x00, 0xff,
};

/* A program for hook h after an 8-byte header. */
static size_t gen(uint8_t *out, size_t max_slots)
{
    size_t n = 1 + next() % max_slots;
    struct mlos_bpf_insn ins[64];
    unsigned hk = (unsigned)(next() % MLOS_HOOK_COUNT);
    const struct mlos_bpf_hook_desc *h = mlos_hook_desc((int)hk);

    memset(out, 0, HDR);
    out[0] = (uint8_t)hk;
    out[1] = (uint8_t)next();
    out[2] = (uint8_t)next();
    out += HDR;
    if (next() % 8 == 0) { /* raw noise */
        for (size_t i = 0; i < n * 8; i++)
            out[i] = (uint8_t)next();
        return HDR + n * 8;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        uint8_t op = opcodes[r % sizeof(opcodes)];
        uint8_t dst = (uint8_t)((r >> 8) % 11), src = (uint8_t)((r >> 12) % 11);
        int16_t off = (int16_t)((r >> 16) % 4 == 0 ? (int16_t)(r >> 20) : (int16_t)((r >> 20) % 24) - 16);
        int32_t imm = (r >> 40) % 4 == 0 ? (int32_t)(r >> 32) : (int32_t)((r >> 42) % 80) - 8;
        if ((op & 7) == 1 || (op & 7) == 3 || (op & 7) == 2) /* memory: bias to the ctx, stack, region */
            off = (int16_t)((r >> 16) % 3 == 0 ? -(int)((r >> 24) % 64) : (int)((r >> 24) % 80));
        if ((op & 7) == 5 || (op & 7) == 6) /* mostly forward, in range; sometimes a loop */
            off = (int16_t)((r >> 16) % 8 == 0 ? -(int)((r >> 24) % 6) : (int)((r >> 16) % 6));
        if ((op & 0xe7) == 0xc3) /* atomics: a valid operation */
            imm = (int32_t)((const uint8_t[]){0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1})[(r >> 40) % 10];
        if (op == 0x85 && (r >> 50) % 4 == 0) { /* a local call */
            src = 1;
            imm = (int32_t)((r >> 52) % 8);
        }
        ins[i] = MLOS_BPF_INSN(op, dst, src, off, imm);
        if (h->nregions && next() % 6 == 0) /* pointers into a region */
            ins[i] = BPF_LDX_MEM(BPF_DW, dst, 1, h->regions[next() % h->nregions].ctx_off);
        if (next() % 16 == 0) /* a counted loop back to here */
            ins[i] = BPF_ALU64_IMM(BPF_ADD, dst, 1 + (int32_t)(next() % 3));
    }
    if (next() % 4) { /* a proper ending */
        ins[n - 1] = BPF_EXIT_INSN();
        if (n > 1 && next() % 2)
            ins[n - 2] = BPF_MOV64_IMM(0, (int32_t)next());
    }
    mlos_bpf_encode(ins, n, out);
    return HDR + n * 8;
}

struct seed {
    uint8_t *b;
    size_t len;
};

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000, nseeds = 0;
    static uint8_t buf[HDR + 4096 * 8];
    struct seed *seeds = calloc((size_t)(argc > 3 ? argc - 3 : 1), sizeof(*seeds));
    rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ull;
    for (int i = 3; i < argc; i++) { /* the corpus: each file once as it is */
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "fuzz_bpf_verify: cannot open %s\n", argv[i]);
            return 1;
        }
        seeds[nseeds].b = malloc(sizeof(buf));
        seeds[nseeds].len = fread(seeds[nseeds].b, 1, sizeof(buf), f);
        fclose(f);
        long before = accepted;
        LLVMFuzzerTestOneInput(seeds[nseeds].b, seeds[nseeds].len);
        if (accepted == before) {
            fprintf(stderr, "fuzz_bpf_verify: seed %s is not a valid program\n", argv[i]);
            return 1;
        }
        nseeds++;
    }
    for (long i = 0; i < iters; i++) {
        size_t len;
        if (nseeds && i % 2) { /* a corpus entry with a few bytes changed */
            const struct seed *sd = &seeds[next() % (uint64_t)nseeds];
            len = sd->len;
            memcpy(buf, sd->b, len);
            for (int k = 1 + (int)(next() % 4); k > 0 && len > HDR; k--) {
                size_t at = HDR + next() % (len - HDR);
                buf[at] = (next() % 2) ? (uint8_t)next() : buf[at] ^ (uint8_t)(1u << (next() % 8));
            }
        } else {
            len = gen(buf, next() % 4 ? 12 : 64);
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%ld programs (%ld seeds): %ld verified and run fast+checked at two addresses (%ld faulted alike), "
           "%ld trusted runs\n",
           iters, nseeds, accepted, faulted, ran);
    for (long i = 0; i < nseeds; i++)
        free(seeds[i].b);
    free(seeds);
    return accepted ? 0 : 1;
}
#endif
