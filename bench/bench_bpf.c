/* bench_bpf: eBPF interpreter speed, in executed instructions per second,
 * fast (verified: no run-time checks) vs checked (every access bounds-
 * checked), beside the same logic compiled natively.
 *
 *   bench_bpf [seconds-per-measurement, default 0.5]
 *
 * Two programs, both loop-free and verified:
 *   arith   200 instructions: 64-bit arithmetic, shifts, multiplies and a
 *           spill/fill pattern through 8 stack slots, seeded from ctx
 *   filter  a packet filter over a 256-byte region: ethertype IPv4, TCP,
 *           source outside 10/8, destination port in {80, 443, 8080}
 * "native" runs the same logic as C (noinline, so per call it pays the
 * call like the VM does); its Minsn/s counts the eBPF instructions it
 * stands for, so the ratio is the interpreter's slowdown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/bpf.h"
#include "bpf/hooks.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- arith ---- */
#define ROUNDS 19 /* 10 instructions each, plus 10 around them = 200 */
#define K 0x9e37

static size_t build_arith(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    for (int r = 2; r <= 5; r++) /* 4 loads */
        p[n++] = BPF_LDX_MEM(BPF_DW, r, 1, (r - 2) * 8);
    p[n++] = BPF_MOV64_IMM(6, 1);
    p[n++] = BPF_MOV64_IMM(7, 0);
    for (int i = 0; i < 8 && n < 10; i++) /* 4 initial stores */
        p[n++] = BPF_STX_MEM(BPF_DW, 10, i < 4 ? 2 + i : 6, -8 * (i + 1));
    for (int i = 0; i < ROUNDS; i++) {
        p[n++] = BPF_ALU64_REG(BPF_ADD, 2, 3);
        p[n++] = BPF_ALU64_REG(BPF_XOR, 3, 4);
        p[n++] = BPF_ALU64_IMM(BPF_MUL, 4, K);
        p[n++] = BPF_MOV64_REG(5, 2);
        p[n++] = BPF_ALU64_IMM(BPF_RSH, 5, 7);
        p[n++] = BPF_ALU64_REG(BPF_ADD, 6, 5);
        p[n++] = BPF_STX_MEM(BPF_DW, 10, 6, -8 * (i % 4 + 1));
        p[n++] = BPF_LDX_MEM(BPF_DW, 7, 10, -8 * ((i + 2) % 4 + 1));
        p[n++] = BPF_ALU64_REG(BPF_ADD, 4, 7);
        p[n++] = BPF_ALU64_REG(BPF_SUB, 3, 6);
    }
    p[n++] = BPF_MOV64_REG(0, 2);
    p[n++] = BPF_ALU64_REG(BPF_XOR, 0, 3);
    p[n++] = BPF_ALU64_REG(BPF_XOR, 0, 4);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 0, 6);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 0, 7);
    p[n++] = BPF_LDX_MEM(BPF_DW, 2, 10, -8);
    p[n++] = BPF_ALU64_REG(BPF_XOR, 0, 2);
    p[n++] = BPF_LDX_MEM(BPF_DW, 2, 10, -24);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 0, 2);
    p[n++] = BPF_EXIT_INSN();
    return n;
}

__attribute__((noinline)) static uint64_t native_arith(const struct mlos_hook_test_ctx *c)
{
    uint64_t a = c->w[0], b = c->w[1], cc = c->w[2], d = c->w[3], e = 1, f = 0, st[4];
    st[0] = a, st[1] = b, st[2] = cc, st[3] = d;
#pragma GCC unroll 32
    for (int i = 0; i < ROUNDS; i++) {
        a += b;
        b ^= cc;
        cc *= K;
        d = a >> 7;
        e += d;
        st[i % 4] = e;
        f = st[(i + 2) % 4];
        cc += f;
        b -= e;
    }
    return (((a ^ b ^ cc) + e + f) ^ st[0]) + st[2];
}

/* ---- filter ---- */
static size_t build_filter(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    p[n++] = BPF_LDX_MEM(BPF_DW, 2, 1, 64);            /* packet */
    p[n++] = BPF_LDX_MEM(BPF_H, 3, 2, 12);             /* ethertype, big-endian on the wire */
    p[n++] = BPF_BE(3, 16);
    p[n++] = BPF_JMP_IMM(BPF_JNE, 3, 0x0800, 15);      /* -> reject */
    p[n++] = BPF_LDX_MEM(BPF_B, 3, 2, 23);             /* IP protocol */
    p[n++] = BPF_JMP_IMM(BPF_JNE, 3, 6, 13);
    p[n++] = BPF_LDX_MEM(BPF_B, 3, 2, 26);             /* source address, first byte */
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 3, 10, 11);
    p[n++] = BPF_LDX_MEM(BPF_B, 3, 2, 14);             /* IHL must be 5 (no options) */
    p[n++] = BPF_ALU64_IMM(BPF_AND, 3, 0x0f);
    p[n++] = BPF_JMP_IMM(BPF_JNE, 3, 5, 8);
    p[n++] = BPF_LDX_MEM(BPF_H, 3, 2, 36);             /* TCP destination port */
    p[n++] = BPF_BE(3, 16);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 3, 80, 3);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 3, 443, 2);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 3, 8080, 1);
    p[n++] = BPF_JA_INSN(2);                           /* -> reject */
    p[n++] = BPF_MOV64_IMM(0, 1);                      /* accept */
    p[n++] = BPF_EXIT_INSN();
    p[n++] = BPF_MOV64_IMM(0, 0);                      /* reject */
    p[n++] = BPF_EXIT_INSN();
    return n;
}
#define FILTER_EXECUTED 18 /* accepted with port 8080: all but "ja" and the reject block */

__attribute__((noinline)) static uint64_t native_filter(const struct mlos_hook_test_ctx *c)
{
    const uint8_t *pk = (const uint8_t *)(uintptr_t)c->data;
    unsigned port;
    if ((pk[12] << 8 | pk[13]) != 0x0800 || pk[23] != 6 || pk[26] == 10 || (pk[14] & 0x0f) != 5)
        return 0;
    port = pk[36] << 8 | pk[37];
    return port == 80 || port == 443 || port == 8080;
}

typedef uint64_t (*native_fn)(const struct mlos_hook_test_ctx *);

static void measure(const char *name, const struct mlos_bpf_insn *p, size_t n, size_t executed, native_fn native,
                    struct mlos_hook_test_ctx *ctx, double secs)
{
    uint8_t *code = malloc(n * 8);
    char err[MLOS_BPF_ERR_MAX];
    struct mlos_bpf_prog *prog;
    uint64_t want = native(ctx), r0 = 0;
    double rate[3];

    mlos_bpf_encode(p, n, code);
    if (mlos_bpf_load(code, n * 8, mlos_hook_desc(MLOS_HOOK_TEST), 0, &prog, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    for (int mode = 0; mode < 3; mode++) {
        long iters = 0, batch = 1000;
        double t0 = now(), t;
        volatile uint64_t sink = 0;
        do {
            for (long i = 0; i < batch; i++) {
                if (mode == 2)
                    r0 = native(ctx);
                else
                    mlos_bpf_run_ex(prog, ctx, sizeof(*ctx), (enum mlos_bpf_mode)mode, 0, &r0);
                sink += r0;
            }
            iters += batch;
            t = now() - t0;
        } while (t < secs);
        if (r0 != want) {
            fprintf(stderr, "%s: mode %d gave 0x%llx, native 0x%llx\n", name, mode, (unsigned long long)r0,
                    (unsigned long long)want);
            exit(1);
        }
        rate[mode] = (double)iters * (double)executed / t / 1e6;
        (void)sink;
    }
    printf("%-7s %3zu insns (%3zu run)  fast %7.1f Minsn/s  checked %7.1f Minsn/s  native %8.1f Minsn/s  "
           "(fast %.1fx, checked %.1fx slower than native; %.1f ns/run fast)\n",
           name, n, executed, rate[0], rate[1], rate[2], rate[2] / rate[0], rate[2] / rate[1],
           1e3 * (double)executed / rate[0]);
    mlos_bpf_free(prog);
    free(code);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    struct mlos_bpf_insn p[256];
    static uint8_t pkt[MLOS_HOOK_TEST_DATA];
    struct mlos_hook_test_ctx ctx;
    size_t n;

    mlos_bpf_set_allocator(malloc, free);
    for (int i = 0; i < 8; i++)
        ctx.w[i] = 0x0123456789abcdefull * (uint64_t)(i + 3);
    pkt[12] = 0x08, pkt[13] = 0x00, pkt[14] = 0x45, pkt[23] = 6, pkt[26] = 192, pkt[36] = 8080 >> 8,
    pkt[37] = 8080 & 0xff;
    ctx.data = (uint64_t)(uintptr_t)pkt;

    n = build_arith(p);
    measure("arith", p, n, n, native_arith, &ctx, secs);
    n = build_filter(p);
    measure("filter", p, n, FILTER_EXECUTED, native_filter, &ctx, secs);
    return 0;
}
