/* bench_bpf: eBPF interpreter speed, in executed instructions per second,
 * fast (verified: no run-time checks) vs checked (every access bounds-
 * checked), beside the same logic compiled natively.
 *
 *   bench_bpf [seconds-per-measurement, default 0.5]
 *
 * Loop-free programs, verified:
 *   arith   200 instructions: 64-bit arithmetic, shifts, multiplies and a
 *           spill/fill pattern through 8 stack slots, seeded from ctx
 *   filter  a packet filter over a 256-byte region: ethertype IPv4, TCP,
 *           source outside 10/8, destination port in {80, 443, 8080}
 * "native" runs the same logic as C (noinline, so per call it pays the
 * call like the VM does); its Minsn/s counts the eBPF instructions it
 * stands for, so the ratio is the interpreter's slowdown.
 *
 * Then loop kernels over 4 KiB at the KERNEL hook (byte sum, FNV-1a,
 * CRC-32 bitwise, insertion sort of 1,024 le32), verified and trusted,
 * fast and checked, beside native C; the sort restores its input before
 * each run (not timed). Last, the time to load (decode and verify) a
 * 4,096-instruction program.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpf/bpf.h"
#include "bpf/hooks.h"
#include "percentile.h"

/* Time is this thread's CPU time, not the wall clock: on a shared machine
 * a preempted window would otherwise count another process's run as ours.
 * Each figure is the best of WINDOWS short windows: in a VM even CPU
 * time includes the host's preemptions of the virtual CPU, and short
 * windows are the ones that escape them. */
#define WINDOWS 200
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The core clock while this thread runs, in GHz, from a chain of
 * dependent register-register adds (one cycle each on every x86-64 core),
 * so that rates can be read as host cycles per eBPF instruction even where
 * no cycle counter is available (a VM without a virtual PMU). Not "add $1":
 * newer cores fold small immediate adds at rename and run such a chain
 * several per cycle (it read 8.5 GHz on a 2.3 GHz core). 0 where not
 * measured. */
static double core_ghz(double secs)
{
#if defined(__x86_64__)
    double best = 0;
    for (int w = 0; w < WINDOWS; w++) {
        uint64_t x = 0, rounds = 0;
        double t0 = now(), t;
        do {
            for (int i = 0; i < 100000; i++)
                __asm__ volatile("add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\t"
                                 "add %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0\n\tadd %0, %0"
                                 : "+r"(x));
            rounds += 100000;
            t = now() - t0;
        } while (t < secs / WINDOWS);
        double ghz = (double)rounds * 10 / t / 1e9;
        best = ghz > best ? ghz : best;
    }
    return best;
#else
    (void)secs;
    return 0;
#endif
}
static double g_ghz; /* core_ghz(), for the cycles-per-instruction columns */
static double cyc(double minsn) { return minsn > 0 ? g_ghz * 1e3 / minsn : 0; }

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
      rate[mode] = 0;
      for (int w = 0; w < WINDOWS; w++) {
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
        } while (t < secs / WINDOWS);
        if (r0 != want) {
            fprintf(stderr, "%s: mode %d gave 0x%llx, native 0x%llx\n", name, mode, (unsigned long long)r0,
                    (unsigned long long)want);
            exit(1);
        }
        double r = (double)iters * (double)executed / t / 1e6;
        rate[mode] = r > rate[mode] ? r : rate[mode];
        (void)sink;
      }
    }
    printf("%-7s %3zu insns (%3zu run)  fast %7.1f Minsn/s  checked %7.1f Minsn/s  native %8.1f Minsn/s  "
           "(fast %.1fx, checked %.1fx slower than native; %.1f ns/run fast; cycles/insn fast %.2f checked %.2f)\n",
           name, n, executed, rate[0], rate[1], rate[2], rate[2] / rate[0], rate[2] / rate[1],
           1e3 * (double)executed / rate[0], cyc(rate[0]), cyc(rate[1]));
    mlos_bpf_free(prog);
    free(code);
}

/* ---- loop kernels over a range (the KERNEL hook: what bpf.run runs over
 * a bulk window): verified loops, accesses checked against the range's
 * real length at run time ---- */
#define KDATA 4096 /* bytes */

static size_t build_bytesum(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    p[n++] = BPF_LDX_MEM(BPF_DW, 6, 1, 32);
    p[n++] = BPF_LDX_MEM(BPF_DW, 7, 1, 40);
    p[n++] = BPF_MOV64_IMM(0, 0);
    p[n++] = BPF_JMP_IMM(BPF_JGT, 6, 1 << 20, 8);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 6, 0, 7);
    p[n++] = BPF_MOV64_IMM(2, 0);
    p[n++] = BPF_MOV64_REG(3, 7); /* loop: 6 per byte */
    p[n++] = BPF_ALU64_REG(BPF_ADD, 3, 2);
    p[n++] = BPF_LDX_MEM(BPF_B, 4, 3, 0);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 0, 4);
    p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, 1);
    p[n++] = BPF_JMP_REG(BPF_JLT, 2, 6, -6);
    p[n++] = BPF_EXIT_INSN();
    return n;
}
static uint64_t bytesum_executed(size_t len) { return 6 + 6 * (uint64_t)len + 1; }
__attribute__((noinline)) static uint64_t native_bytesum(const uint8_t *d, size_t len)
{
    uint64_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += d[i];
    return s;
}

static size_t build_fnv(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    p[n++] = BPF_LDX_MEM(BPF_DW, 6, 1, 32);
    p[n++] = BPF_LDX_MEM(BPF_DW, 7, 1, 40);
    p[n++] = BPF_MOV32_IMM(0, (int32_t)2166136261u);
    p[n++] = BPF_JMP_IMM(BPF_JGT, 6, 1 << 20, 9);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 6, 0, 8);
    p[n++] = BPF_MOV64_IMM(2, 0);
    p[n++] = BPF_MOV64_REG(3, 7); /* loop: 7 per byte */
    p[n++] = BPF_ALU64_REG(BPF_ADD, 3, 2);
    p[n++] = BPF_LDX_MEM(BPF_B, 4, 3, 0);
    p[n++] = BPF_ALU32_REG(BPF_XOR, 0, 4);
    p[n++] = BPF_ALU32_IMM(BPF_MUL, 0, 16777619);
    p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, 1);
    p[n++] = BPF_JMP_REG(BPF_JLT, 2, 6, -7);
    p[n++] = BPF_EXIT_INSN();
    return n;
}
static uint64_t fnv_executed(size_t len) { return 6 + 7 * (uint64_t)len + 1; }
__attribute__((noinline)) static uint64_t native_fnv(const uint8_t *d, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ d[i]) * 16777619u;
    return h;
}

static size_t build_crc32(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    p[n++] = BPF_LDX_MEM(BPF_DW, 6, 1, 32);
    p[n++] = BPF_LDX_MEM(BPF_DW, 7, 1, 40);
    p[n++] = BPF_MOV32_IMM(0, -1);
    p[n++] = BPF_JMP_IMM(BPF_JGT, 6, 1 << 20, 4 + 48 + 2 + 2);
    p[n++] = BPF_JMP_IMM(BPF_JEQ, 6, 0, 4 + 48 + 2 + 1);
    p[n++] = BPF_MOV64_IMM(2, 0);
    p[n++] = BPF_MOV64_REG(3, 7); /* loop: 4 + 8 * 6 + 2 = 54 per byte */
    p[n++] = BPF_ALU64_REG(BPF_ADD, 3, 2);
    p[n++] = BPF_LDX_MEM(BPF_B, 4, 3, 0);
    p[n++] = BPF_ALU32_REG(BPF_XOR, 0, 4);
    for (int b = 0; b < 8; b++) { /* crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1)) */
        p[n++] = BPF_MOV32_REG(5, 0);
        p[n++] = BPF_ALU32_IMM(BPF_AND, 5, 1);
        p[n++] = BPF_NEG32(5);
        p[n++] = BPF_ALU32_IMM(BPF_AND, 5, (int32_t)0xedb88320u);
        p[n++] = BPF_ALU32_IMM(BPF_RSH, 0, 1);
        p[n++] = BPF_ALU32_REG(BPF_XOR, 0, 5);
    }
    p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, 1);
    p[n++] = BPF_JMP_REG(BPF_JLT, 2, 6, -(4 + 48 + 2));
    p[n++] = BPF_ALU32_IMM(BPF_XOR, 0, -1);
    p[n++] = BPF_EXIT_INSN();
    return n;
}
static uint64_t crc32_executed(size_t len) { return 6 + 54 * (uint64_t)len + 2; }
__attribute__((noinline)) static uint64_t native_crc32(const uint8_t *d, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= d[i];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return c ^ 0xffffffffu;
}

/* Insertion sort of len / 4 le32 (at most 1024). Indexes are masked to
 * 1023 so the verifier can bound them; the range check does the rest. */
static size_t build_isort(struct mlos_bpf_insn *p)
{
    size_t n = 0;
    p[n++] = BPF_LDX_MEM(BPF_DW, 6, 1, 32);
    p[n++] = BPF_LDX_MEM(BPF_DW, 7, 1, 40);
    p[n++] = BPF_JMP_IMM(BPF_JGT, 6, 4096, 28);
    p[n++] = BPF_ALU64_IMM(BPF_RSH, 6, 2);          /* n */
    p[n++] = BPF_JMP_IMM(BPF_JLT, 6, 2, 26);
    p[n++] = BPF_MOV64_IMM(8, 1);                   /* i */
    /* outer: key = a[i] */
    p[n++] = BPF_MOV64_REG(2, 8);
    p[n++] = BPF_ALU64_IMM(BPF_AND, 2, 1023);
    p[n++] = BPF_ALU64_IMM(BPF_LSH, 2, 2);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 2, 7);
    p[n++] = BPF_LDX_MEM(BPF_W, 9, 2, 0);
    p[n++] = BPF_MOV64_IMM(3, 0);                   /* k */
    /* inner: prev = a[i - k - 1]; if prev <= key break; a[i - k] = prev */
    p[n++] = BPF_MOV64_REG(4, 8);
    p[n++] = BPF_ALU64_REG(BPF_SUB, 4, 3);
    p[n++] = BPF_ALU64_IMM(BPF_SUB, 4, 1);
    p[n++] = BPF_ALU64_IMM(BPF_AND, 4, 1023);
    p[n++] = BPF_ALU64_IMM(BPF_LSH, 4, 2);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 4, 7);
    p[n++] = BPF_LDX_MEM(BPF_W, 5, 4, 0);
    p[n++] = BPF_JMP_REG(BPF_JLE, 5, 9, 3);         /* -> place */
    p[n++] = BPF_STX_MEM(BPF_W, 4, 5, 4);
    p[n++] = BPF_ALU64_IMM(BPF_ADD, 3, 1);
    p[n++] = BPF_JMP_REG(BPF_JLT, 3, 8, -11);
    /* place: a[i - k] = key */
    p[n++] = BPF_MOV64_REG(2, 8);
    p[n++] = BPF_ALU64_REG(BPF_SUB, 2, 3);
    p[n++] = BPF_ALU64_IMM(BPF_AND, 2, 1023);
    p[n++] = BPF_ALU64_IMM(BPF_LSH, 2, 2);
    p[n++] = BPF_ALU64_REG(BPF_ADD, 2, 7);
    p[n++] = BPF_STX_MEM(BPF_W, 2, 9, 0);
    p[n++] = BPF_ALU64_IMM(BPF_ADD, 8, 1);
    p[n++] = BPF_JMP_REG(BPF_JLT, 8, 6, -25);
    p[n++] = BPF_MOV64_IMM(0, 0);
    p[n++] = BPF_EXIT_INSN();
    return n;
}
/* The same algorithm in C; also counts the instructions the program runs. */
static uint64_t isort_insns;
__attribute__((noinline)) static uint64_t native_isort(uint32_t *a, size_t len)
{
    size_t n = len / 4;
    uint64_t cnt = 5 + 1 + 2;
    for (size_t i = 1; i < n; i++) {
        uint32_t key = a[i];
        size_t k = 0;
        cnt += 6 + 8;
        for (; k < i; k++) {
            if (a[i - k - 1] <= key) {
                cnt += 8;
                break;
            }
            a[i - k] = a[i - k - 1];
            cnt += 11;
        }
        a[i - k] = key;
    }
    isort_insns = cnt;
    return 0;
}

/* One window of a kernel in one mode (2: native, timed by the caller):
 * its rate in Minsn/s. With restore, the input is restored before each
 * run and only the runs are timed. */
static double kernel_window(struct mlos_bpf_prog *prog, int mode, uint8_t *buf, const uint8_t *orig, size_t len,
                            int restore, uint64_t executed, uint64_t want, const char *name, double secs)
{
    uint64_t r0 = 0;
    long iters = 0;
    double t0 = now(), t, spent = 0;
    do {
        for (int i = 0; i < (restore ? 1 : 10); i++) {
            if (restore)
                memcpy(buf, orig, len);
            double a = restore ? now() : 0;
            struct mlos_hook_kernel_ctx c = {{0}, len, (uint64_t)(uintptr_t)buf, 1, 0};
            int rc = mlos_bpf_run_ex(prog, &c, sizeof(c), (enum mlos_bpf_mode)mode, UINT64_MAX, &r0);
            if (restore)
                spent += now() - a;
            if (rc != 0 || r0 != want) {
                fprintf(stderr, "%s: mode %d rc %d r0 0x%llx want 0x%llx\n", name, mode, rc, (unsigned long long)r0,
                        (unsigned long long)want);
                exit(1);
            }
        }
        iters += restore ? 1 : 10;
        t = now() - t0;
    } while (t < secs);
    return (double)iters * (double)executed / (restore ? spent : t) / 1e6;
}


typedef uint64_t (*kernel_native)(const uint8_t *, size_t);

static double native_rate(kernel_native f, const uint8_t *buf, size_t len, uint64_t executed, double secs)
{
    volatile uint64_t sink = 0;
    double best = 0;
    for (int w = 0; w < WINDOWS; w++) {
        long iters = 0;
        double t0 = now(), t;
        do {
            for (int i = 0; i < 10; i++)
                sink += f(buf, len);
            iters += 10;
            t = now() - t0;
        } while (t < secs / WINDOWS);
        double rate = (double)iters * (double)executed / t / 1e6;
        best = rate > best ? rate : best;
    }
    (void)sink;
    return best;
}

/* The four ways (verified or trusted, fast or checked) take turns window
 * by window, so that a change of the machine's load while the kernel runs
 * falls on all four alike and the checked/fast ratio compares like with
 * like; each way's best window and its median are printed. */
static void measure_kernel(const char *name, size_t (*build)(struct mlos_bpf_insn *), uint64_t executed,
                           uint64_t want, uint8_t *buf, const uint8_t *orig, size_t len, int restore, double native,
                           double secs)
{
    static struct mlos_bpf_insn p[512];
    static uint64_t win[4][WINDOWS]; /* instructions per second */
    struct mlos_bpf_prog *prog[2];
    uint8_t *code;
    char err[MLOS_BPF_ERR_MAX];
    size_t n = build(p);
    double best[4] = {0}, med[4];

    code = malloc(n * 8);
    mlos_bpf_encode(p, n, code);
    for (int trusted = 0; trusted < 2; trusted++)
        if (mlos_bpf_load(code, n * 8, mlos_hook_desc(MLOS_HOOK_KERNEL), trusted ? MLOS_BPF_TRUSTED : 0,
                          &prog[trusted], err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", name, err);
            exit(1);
        }
    for (int w = 0; w < WINDOWS; w++)
        for (int k = 0; k < 4; k++) {
            int way = (k + w) % 4; /* each way goes first as often as the others */
            double r = kernel_window(prog[way / 2], way % 2, buf, orig, len, restore, executed, want, name,
                                     secs / WINDOWS);
            win[way][w] = (uint64_t)(r * 1e6);
            best[way] = r > best[way] ? r : best[way];
        }
    for (int k = 0; k < 4; k++)
        med[k] = bench_pct(win[k], WINDOWS, 0.5) / 1e6;
    printf("%-8s %3zu insns %8llu run  verified fast %7.1f checked %7.1f (%.2fx; median %6.1f / %6.1f = %.2fx)  "
           "trusted fast %7.1f checked %7.1f  native %8.1f Minsn/s  (cycles/insn verified fast %.2f)\n",
           name, n, (unsigned long long)executed, best[0], best[1], best[0] / best[1], med[0], med[1],
           med[0] / med[1], best[2], best[3], native, cyc(best[0]));
    for (int trusted = 0; trusted < 2; trusted++)
        mlos_bpf_free(prog[trusted]);
    free(code);
}

static uint64_t isort_native_wrap(const uint8_t *b, size_t len)
{
    static uint32_t tmp[1024];
    memcpy(tmp, b, len);
    return native_isort(tmp, len);
}

/* Verification time of a 4,096-slot program: blocks of arithmetic, stack
 * spills and fills, region loads and forward branches, like compiled code. */
static void measure_verify(double secs)
{
    static struct mlos_bpf_insn p[MLOS_BPF_MAX_INSNS];
    static uint8_t code[MLOS_BPF_MAX_INSNS * 8];
    char err[MLOS_BPF_ERR_MAX];
    size_t n = 0;
    long iters = 0;
    double t0, t;

    p[n++] = BPF_LDX_MEM(BPF_DW, 6, 1, 64);
    p[n++] = BPF_MOV64_IMM(0, 0);
    while (n + 12 < MLOS_BPF_MAX_INSNS - 1) {
        int k = (int)(n % 31);
        p[n++] = BPF_LDX_MEM(BPF_DW, 2, 1, 8 * (k % 8));
        p[n++] = BPF_ALU64_IMM(BPF_AND, 2, 0xff);
        p[n++] = BPF_MOV64_REG(3, 6);
        p[n++] = BPF_ALU64_REG(BPF_ADD, 3, 2);
        p[n++] = BPF_LDX_MEM(BPF_B, 4, 3, 0);
        p[n++] = BPF_STX_MEM(BPF_DW, 10, 4, -8 * (1 + k % 16));
        p[n++] = BPF_JMP_IMM(BPF_JGT, 4, 100, 2);
        p[n++] = BPF_ALU64_IMM(BPF_MUL, 4, 3);
        p[n++] = BPF_ALU64_REG(BPF_ADD, 0, 4);
        p[n++] = BPF_LDX_MEM(BPF_DW, 5, 10, -8 * (1 + k % 16));
        p[n++] = BPF_ALU64_REG(BPF_XOR, 0, 5);
    }
    while (n < MLOS_BPF_MAX_INSNS - 1)
        p[n++] = BPF_ALU64_IMM(BPF_ADD, 0, 1);
    p[n++] = BPF_EXIT_INSN();
    mlos_bpf_encode(p, n, code);
    static uint64_t v[4096]; /* ns */
    double best = 1e9, sum = 0;
    t0 = now();
    do { /* the fastest load, the median and the mean: the machine may be shared */
        struct mlos_bpf_prog *prog;
        double a = now();
        if (mlos_bpf_load(code, n * 8, mlos_hook_desc(MLOS_HOOK_TEST), 0, &prog, err, sizeof(err)) < 0) {
            fprintf(stderr, "verify: %s\n", err);
            exit(1);
        }
        a = now() - a;
        best = a < best ? a : best;
        sum += a;
        if (iters < 4096)
            v[iters] = (uint64_t)(a * 1e9);
        mlos_bpf_free(prog);
        iters++;
        t = now() - t0;
    } while (t < secs);
    printf("verify   %zu insns: %.3f ms per load (decode + verify + pre-decode), median %.3f, mean %.3f ms over %ld\n",
           n, 1e3 * best, bench_pct(v, iters < 4096 ? (int)iters : 4096, 0.5) / 1e6, 1e3 * sum / (double)iters, iters);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    struct mlos_bpf_insn p[256];
    static uint8_t pkt[MLOS_HOOK_TEST_DATA];
    struct mlos_hook_test_ctx ctx;
    size_t n;

    mlos_bpf_set_allocator(malloc, free);
    g_ghz = core_ghz(secs);
    printf("times are thread CPU time; core clock %.2f GHz (dependent-add chain), so cycles/insn = GHz * 1000 / "
           "Minsn/s\n",
           g_ghz);
    for (int i = 0; i < 8; i++)
        ctx.w[i] = 0x0123456789abcdefull * (uint64_t)(i + 3);
    pkt[12] = 0x08, pkt[13] = 0x00, pkt[14] = 0x45, pkt[23] = 6, pkt[26] = 192, pkt[36] = 8080 >> 8,
    pkt[37] = 8080 & 0xff;
    ctx.data = (uint64_t)(uintptr_t)pkt;

    n = build_arith(p);
    measure("arith", p, n, n, native_arith, &ctx, secs);
    n = build_filter(p);
    measure("filter", p, n, FILTER_EXECUTED, native_filter, &ctx, secs);

    {
        static uint8_t buf[KDATA], orig[KDATA];
        uint64_t seed = 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < KDATA; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            orig[i] = buf[i] = (uint8_t)(seed >> 56);
        }
        printf("loop kernels over %d bytes (KERNEL hook; Minsn/s = eBPF instructions run per second, native = "
               "the same count over the C version's time)\n",
               KDATA);
        measure_kernel("bytesum", build_bytesum, bytesum_executed(KDATA), native_bytesum(buf, KDATA), buf, orig,
                       KDATA, 0, native_rate(native_bytesum, buf, KDATA, bytesum_executed(KDATA), secs), secs);
        measure_kernel("fnv1a", build_fnv, fnv_executed(KDATA), native_fnv(buf, KDATA), buf, orig, KDATA, 0,
                       native_rate(native_fnv, buf, KDATA, fnv_executed(KDATA), secs), secs);
        measure_kernel("crc32", build_crc32, crc32_executed(KDATA), native_crc32(buf, KDATA), buf, orig, KDATA, 0,
                       native_rate(native_crc32, buf, KDATA, crc32_executed(KDATA), secs), secs);
        isort_native_wrap(orig, KDATA); /* counts the instructions */
        uint64_t ex = isort_insns;
        measure_kernel("isort", build_isort, ex, 0, buf, orig, KDATA, 1,
                       native_rate(isort_native_wrap, orig, KDATA, ex, secs), secs);
        /* the sort really sorted */
        for (int i = 1; i < KDATA / 4; i++)
            if (((uint32_t *)buf)[i - 1] > ((uint32_t *)buf)[i]) {
                fprintf(stderr, "isort: not sorted at %d\n", i);
                return 1;
            }
    }
    measure_verify(secs);
    return 0;
}
