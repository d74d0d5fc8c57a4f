/* Fuzz target for the eBPF loader, verifier and interpreter.
 *
 * Each input is program bytes. The verifier decides; a program it accepts
 * runs twice on identical contexts -- checked mode (every access bounds-
 * checked) and fast mode (no checks) -- and both must finish, agree on R0
 * and on the memory they wrote, and checked mode must report no fault
 * (that would be a hole in the verifier). Context and region are malloc'd
 * at their exact sizes, so under AddressSanitizer any fast-mode access
 * outside them is caught. The same bytes are also loaded as trusted code
 * and run checked with a step budget: it may fault, never crash.
 *
 * Built two ways:
 *   -DMLOS_FUZZ_LIBFUZZER  clang -fsanitize=fuzzer,address: the libFuzzer
 *                          entry point only (stubs stand in for the HAL)
 *   otherwise              a deterministic driver: fuzz_bpf_verify [N [seed]]
 *                          generates N random programs, half of them from
 *                          valid instruction templates, and checks each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf.h"
#include "bpf/hooks.h"

#ifdef MLOS_FUZZ_LIBFUZZER
/* The VM's only outside needs (bpf_helpers.c, bpf_load.c). */
void mlos_hal_console_write(const char *buf, size_t len) { (void)buf, (void)len; }
uint64_t mlos_hal_now_ns(void) { return 0; }
void *mlos_malloc(size_t n) { return malloc(n); }
void mlos_free(void *p) { free(p); }
#endif

static struct mlos_bpf_hook_desc hook;
static long accepted, ran;

static void setup(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    mlos_bpf_set_allocator(malloc, free);
    hook = *mlos_hook_desc(MLOS_HOOK_TEST);
    /* deterministic helpers only: both runs must agree */
    hook.helpers = MLOS_BPF_HELPER_BIT(MLOS_BPF_HELPER_HASH32) | MLOS_BPF_HELPER_BIT(MLOS_BPF_HELPER_MEMEQ);
}

struct env {
    uint8_t *ctx;  /* struct mlos_hook_test_ctx, exact size */
    uint8_t *data; /* the region, exact size */
};

static void env_make(struct env *e)
{
    uint64_t a;
    e->ctx = malloc(sizeof(struct mlos_hook_test_ctx));
    e->data = malloc(MLOS_HOOK_TEST_DATA);
    for (int i = 0; i < 64; i++)
        e->ctx[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < MLOS_HOOK_TEST_DATA; i++)
        e->data[i] = (uint8_t)(i * 13 + 5);
    a = (uint64_t)(uintptr_t)e->data; /* little-endian host assumed (x86_64 test machine) */
    memcpy(e->ctx + 64, &a, 8);
}

static void env_free(struct env *e)
{
    free(e->ctx);
    free(e->data);
}

static void fail(const char *what, const uint8_t *code, size_t len)
{
    fprintf(stderr, "fuzz_bpf_verify: %s; program (%zu bytes):", what, len);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, "%s%02x", i % 8 ? "" : " ", code[i]);
    fprintf(stderr, "\n");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *code, size_t len)
{
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    struct env a, b;
    uint64_t r0a = 1, r0b = 2;
    int rc;

    setup();
    len &= ~(size_t)7;
    if (mlos_bpf_load(code, len, &hook, 0, &p, err, sizeof(err)) == 0) {
        accepted++;
        env_make(&a);
        env_make(&b);
        rc = mlos_bpf_run_ex(p, a.ctx, sizeof(struct mlos_hook_test_ctx), MLOS_BPF_RUN_CHECKED, 0, &r0a);
        if (rc != 0)
            fail("verified program faulted in checked mode", code, len);
        rc = mlos_bpf_run_ex(p, b.ctx, sizeof(struct mlos_hook_test_ctx), MLOS_BPF_RUN_FAST, 0, &r0b);
        if (rc != 0 || r0a != r0b)
            fail("fast and checked runs disagree", code, len);
        if (memcmp(a.ctx, b.ctx, 64) || memcmp(a.data, b.data, MLOS_HOOK_TEST_DATA))
            fail("fast and checked runs wrote different memory", code, len);
        env_free(&a);
        env_free(&b);
        mlos_bpf_free(p);
    } else if (strncmp(err, "insn ", 5) != 0 && len) {
        fail("rejection without an instruction index", code, len);
    }
    if (mlos_bpf_load(code, len, &hook, MLOS_BPF_TRUSTED, &p, err, sizeof(err)) == 0) {
        ran++;
        env_make(&a);
        (void)mlos_bpf_run_ex(p, a.ctx, sizeof(struct mlos_hook_test_ctx), MLOS_BPF_RUN_CHECKED, 1000, &r0a);
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
    0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xdb, 0x20, 0x00, 0xff,
};

static size_t gen(uint8_t *out, size_t max_slots)
{
    size_t n = 1 + next() % max_slots;
    struct mlos_bpf_insn ins[64];
    if (next() % 8 == 0) { /* raw noise */
        for (size_t i = 0; i < n * 8; i++)
            out[i] = (uint8_t)next();
        return n * 8;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        uint8_t op = opcodes[r % sizeof(opcodes)];
        uint8_t dst = (uint8_t)((r >> 8) % 11), src = (uint8_t)((r >> 12) % 11);
        int16_t off = (int16_t)((r >> 16) % 4 == 0 ? (int16_t)(r >> 20) : (int16_t)((r >> 20) % 24) - 16);
        int32_t imm = (r >> 40) % 4 == 0 ? (int32_t)(r >> 32) : (int32_t)((r >> 42) % 80) - 8;
        if ((op & 7) == 1 || (op & 7) == 3 || (op & 7) == 2) /* memory: bias to the ctx, stack, region */
            off = (int16_t)((r >> 16) % 3 == 0 ? -(int)((r >> 24) % 64) : (int)((r >> 24) % 80));
        if ((op & 7) == 5 || (op & 7) == 6)
            off = (int16_t)((r >> 16) % 6); /* mostly forward, in range */
        ins[i] = MLOS_BPF_INSN(op, dst, src, off, imm);
        if (next() % 6 == 0) /* pointers into the region */
            ins[i] = BPF_LDX_MEM(BPF_DW, dst, 1, 64);
    }
    if (next() % 4) { /* a proper ending */
        ins[n - 1] = BPF_EXIT_INSN();
        if (n > 1 && next() % 2)
            ins[n - 2] = BPF_MOV64_IMM(0, (int32_t)next());
    }
    mlos_bpf_encode(ins, n, out);
    return n * 8;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    uint8_t buf[64 * 8];
    rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ull;
    for (long i = 0; i < iters; i++) {
        size_t len = gen(buf, next() % 4 ? 12 : 64);
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("%ld programs: %ld verified and run fast+checked, %ld trusted runs\n", iters, accepted, ran);
    return accepted ? 0 : 1;
}
#endif
