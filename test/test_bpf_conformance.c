/* RFC 9669 conformance of the mlos eBPF VM, verifier accept/reject cases,
 * hooks and native extensions, and the clang-built samples.
 *
 *   test_bpf_conformance [sample.o ...]
 *
 * Programs are hand-assembled with the bpf_isa.h macros and checked with
 * test/bpf_check.h: every accepted program runs verified and trusted, fast
 * and checked, and all four must give the expected R0. Sample objects (clang -target bpfel)
 * are recognised by file name: filter_call.o (message hook), priority.o
 * (scheduling hook).
 */
#include "bpf_check.h"

static const struct mlos_bpf_hook_desc *test_hook;

static void alu64(void)
{
    EXPECT(UINT64_MAX, BPF_MOV64_IMM(R0, -1), EXIT);
    EXPECT(12, BPF_MOV64_IMM(R0, 5), BPF_ALU64_IMM(BPF_ADD, R0, 7), EXIT);
    EXPECT(1, BPF_LD_IMM64(R0, UINT64_MAX), BPF_MOV64_IMM(R1, 2), BPF_ALU64_REG(BPF_ADD, R0, R1), EXIT);
    EXPECT(0xfffffffffffffffeull, BPF_MOV64_IMM(R0, 5), BPF_ALU64_IMM(BPF_SUB, R0, 7), EXIT);
    EXPECT(0x300000003ull, BPF_LD_IMM64(R0, 0x100000001ull), BPF_ALU64_IMM(BPF_MUL, R0, 3), EXIT);
    EXPECT(14, BPF_MOV64_IMM(R0, 100), BPF_ALU64_IMM(BPF_DIV, R0, 7), EXIT);
    /* unsigned DIV/MOD: imm sign-extended, then unsigned */
    EXPECT(1, BPF_MOV64_IMM(R0, -1), BPF_ALU64_IMM(BPF_DIV, R0, -1), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 100), BPF_MOV64_IMM(R1, 0), BPF_ALU64_REG(BPF_DIV, R0, R1), EXIT);
    EXPECT(100, BPF_MOV64_IMM(R0, 100), BPF_MOV64_IMM(R1, 0), BPF_ALU64_REG(BPF_MOD, R0, R1), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 100), BPF_ALU64_IMM(BPF_DIV, R0, 0), EXIT);
    EXPECT(100, BPF_MOV64_IMM(R0, 100), BPF_ALU64_IMM(BPF_MOD, R0, 0), EXIT);
    EXPECT(2, BPF_MOV64_IMM(R0, 100), BPF_ALU64_IMM(BPF_MOD, R0, 7), EXIT);
    EXPECT(0xf0ff, BPF_MOV64_IMM(R0, 0xf00f), BPF_ALU64_IMM(BPF_OR, R0, 0xf0), EXIT);
    EXPECT(0x0f, BPF_MOV64_IMM(R0, 0xff), BPF_MOV64_IMM(R1, 0x0f), BPF_ALU64_REG(BPF_AND, R0, R1), EXIT);
    EXPECT(0xf0, BPF_MOV64_IMM(R0, 0xff), BPF_ALU64_IMM(BPF_XOR, R0, 0x0f), EXIT);
    EXPECT(0x8000000000000000ull, BPF_MOV64_IMM(R0, 1), BPF_ALU64_IMM(BPF_LSH, R0, 63), EXIT);
    EXPECT(2, BPF_MOV64_IMM(R0, 1), BPF_MOV64_IMM(R1, 65), BPF_ALU64_REG(BPF_LSH, R0, R1), EXIT); /* & 63 */
    EXPECT(1, BPF_LD_IMM64(R0, 0x8000000000000000ull), BPF_ALU64_IMM(BPF_RSH, R0, 63), EXIT);
    EXPECT(UINT64_MAX, BPF_LD_IMM64(R0, 0x8000000000000000ull), BPF_ALU64_IMM(BPF_ARSH, R0, 63), EXIT);
    EXPECT(0xff00000000000000ull, BPF_LD_IMM64(R0, 0xf000000000000000ull), BPF_MOV64_IMM(R1, 4),
           BPF_ALU64_REG(BPF_ARSH, R0, R1), EXIT);
    EXPECT(0x0f00000000000000ull, BPF_LD_IMM64(R0, 0xf000000000000000ull), BPF_ALU64_IMM(BPF_RSH, R0, 4), EXIT);
    EXPECT(0xfffffffffffffffbull, BPF_MOV64_IMM(R0, 5), BPF_NEG64(R0), EXIT);
    EXPECT(7, BPF_MOV64_IMM(R1, 7), BPF_MOV64_REG(R0, R1), EXIT);
    /* signed division and modulo (truncating), RFC 9669 corner cases */
    EXPECT((uint64_t)-3, BPF_MOV64_IMM(R0, -7), BPF_SDIV64_IMM(R0, 2), EXIT);
    EXPECT((uint64_t)-1, BPF_MOV64_IMM(R0, -7), BPF_SMOD64_IMM(R0, 2), EXIT);
    EXPECT(1, BPF_MOV64_IMM(R0, 7), BPF_MOV64_IMM(R1, -2), BPF_SMOD64_REG(R0, R1), EXIT);
    EXPECT((uint64_t)-1, BPF_MOV64_IMM(R0, -7), BPF_MOV64_IMM(R1, -2), BPF_SMOD64_REG(R0, R1), EXIT);
    EXPECT(3, BPF_MOV64_IMM(R0, -7), BPF_MOV64_IMM(R1, -2), BPF_SDIV64_REG(R0, R1), EXIT);
    EXPECT(0x8000000000000000ull, BPF_LD_IMM64(R0, 0x8000000000000000ull), BPF_SDIV64_IMM(R0, -1), EXIT);
    EXPECT(0x8000000000000000ull, BPF_LD_IMM64(R0, 0x8000000000000000ull), BPF_MOV64_IMM(R1, -1),
           BPF_SDIV64_REG(R0, R1), EXIT);
    EXPECT(0, BPF_LD_IMM64(R0, 0x8000000000000000ull), BPF_SMOD64_IMM(R0, -1), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, -7), BPF_MOV64_IMM(R1, 0), BPF_SDIV64_REG(R0, R1), EXIT);
    EXPECT((uint64_t)-7, BPF_MOV64_IMM(R0, -7), BPF_MOV64_IMM(R1, 0), BPF_SMOD64_REG(R0, R1), EXIT);
    /* sign-extending moves */
    EXPECT(0xffffffffffffff80ull, BPF_MOV64_IMM(R1, 0x180), BPF_MOVSX64(R0, R1, 8), EXIT);
    EXPECT(0xffffffffffff8000ull, BPF_MOV64_IMM(R1, 0x8000), BPF_MOVSX64(R0, R1, 16), EXIT);
    EXPECT(0xffffffff80000000ull, BPF_MOV32_IMM(R1, (int32_t)0x80000000u), BPF_MOVSX64(R0, R1, 32), EXIT);
    EXPECT(0x7f, BPF_MOV64_IMM(R1, 0x17f), BPF_MOVSX64(R0, R1, 8), EXIT);
}

static void alu32(void)
{
    EXPECT(0xffffffffull, BPF_MOV32_IMM(R0, -1), EXIT);
    EXPECT(0, BPF_MOV32_IMM(R0, -1), BPF_ALU32_IMM(BPF_ADD, R0, 1), EXIT);
    EXPECT(6, BPF_LD_IMM64(R0, 0xffffffff00000005ull), BPF_ALU32_IMM(BPF_ADD, R0, 1), EXIT); /* upper zeroed */
    EXPECT(5, BPF_LD_IMM64(R1, 0xffffffff00000005ull), BPF_MOV32_REG(R0, R1), EXIT);
    EXPECT(0xffffffffull, BPF_MOV64_IMM(R0, 0), BPF_ALU32_IMM(BPF_SUB, R0, 1), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 0x10000), BPF_MOV64_IMM(R1, 0x10000), BPF_ALU32_REG(BPF_MUL, R0, R1), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 10), BPF_ALU32_IMM(BPF_DIV, R0, -1), EXIT); /* imm as u32 0xffffffff */
    EXPECT(3, BPF_MOV64_IMM(R0, 10), BPF_ALU32_IMM(BPF_DIV, R0, 3), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 10), BPF_MOV64_IMM(R1, 0), BPF_ALU32_REG(BPF_DIV, R0, R1), EXIT);
    EXPECT(7, BPF_LD_IMM64(R0, 0x100000007ull), BPF_MOV64_IMM(R1, 0), BPF_ALU32_REG(BPF_MOD, R0, R1), EXIT);
    EXPECT(1, BPF_MOV64_IMM(R0, 10), BPF_ALU32_IMM(BPF_MOD, R0, 3), EXIT);
    EXPECT(0xfffffffdull, BPF_MOV32_IMM(R0, -7), BPF_SDIV32_IMM(R0, 2), EXIT);
    EXPECT(0xffffffffull, BPF_MOV32_IMM(R0, -7), BPF_SMOD32_IMM(R0, 2), EXIT);
    EXPECT(0x80000000ull, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_SDIV32_IMM(R0, -1), EXIT);
    EXPECT(0x80000000ull, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_MOV32_IMM(R1, -1), BPF_SDIV32_REG(R0, R1),
           EXIT);
    EXPECT(0, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_SMOD32_IMM(R0, -1), EXIT);
    EXPECT(0, BPF_MOV32_IMM(R0, -7), BPF_MOV64_IMM(R1, 0), BPF_SDIV32_REG(R0, R1), EXIT);
    EXPECT(0xfffffff9ull, BPF_MOV64_IMM(R0, -7), BPF_MOV64_IMM(R1, 0), BPF_SMOD32_REG(R0, R1), EXIT);
    EXPECT(0x80000000ull, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_MOV32_IMM(R1, -1),
           BPF_ALU32_REG(BPF_MOD, R0, R1), EXIT); /* unsigned */
    EXPECT(2, BPF_MOV64_IMM(R0, 1), BPF_MOV64_IMM(R1, 33), BPF_ALU32_REG(BPF_LSH, R0, R1), EXIT); /* & 31 */
    EXPECT(1, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_ALU32_IMM(BPF_RSH, R0, 31), EXIT);
    EXPECT(0xffffffffull, BPF_MOV32_IMM(R0, (int32_t)0x80000000u), BPF_ALU32_IMM(BPF_ARSH, R0, 31), EXIT);
    EXPECT(0xfffffffbull, BPF_MOV64_IMM(R0, 5), BPF_NEG32(R0), EXIT);
    EXPECT(0x0f, BPF_MOV64_IMM(R0, 0xff), BPF_ALU32_IMM(BPF_AND, R0, 0x0f), EXIT);
    EXPECT(0xff, BPF_MOV64_IMM(R0, 0xf0), BPF_ALU32_IMM(BPF_OR, R0, 0x0f), EXIT);
    EXPECT(0xf0, BPF_MOV64_IMM(R0, 0xff), BPF_ALU32_IMM(BPF_XOR, R0, 0x0f), EXIT);
    EXPECT(0xffffff80ull, BPF_MOV64_IMM(R1, 0x80), BPF_MOVSX32(R0, R1, 8), EXIT);
    EXPECT(0xffff8000ull, BPF_MOV64_IMM(R1, 0x8000), BPF_MOVSX32(R0, R1, 16), EXIT);
}

static void byteswap(void)
{
#define V BPF_LD_IMM64(R0, 0x1122334455667788ull)
    EXPECT(0x7788, V, BPF_LE(R0, 16), EXIT);
    EXPECT(0x55667788, V, BPF_LE(R0, 32), EXIT);
    EXPECT(0x1122334455667788ull, V, BPF_LE(R0, 64), EXIT);
    EXPECT(0x8877, V, BPF_BE(R0, 16), EXIT);
    EXPECT(0x88776655, V, BPF_BE(R0, 32), EXIT);
    EXPECT(0x8877665544332211ull, V, BPF_BE(R0, 64), EXIT);
    EXPECT(0x8877, V, BPF_BSWAP(R0, 16), EXIT);
    EXPECT(0x88776655, V, BPF_BSWAP(R0, 32), EXIT);
    EXPECT(0x8877665544332211ull, V, BPF_BSWAP(R0, 64), EXIT);
#undef V
}

/* Conditional jumps: every operation, 64 and 32 bit, register and
 * immediate, against plain C comparisons. */
static int cmp(uint8_t op, int is32, uint64_t a, uint64_t b)
{
    if (is32) {
        uint32_t x = (uint32_t)a, y = (uint32_t)b;
        int32_t sx = (int32_t)x, sy = (int32_t)y;
        switch (op) {
        case BPF_JEQ: return x == y;
        case BPF_JNE: return x != y;
        case BPF_JGT: return x > y;
        case BPF_JGE: return x >= y;
        case BPF_JLT: return x < y;
        case BPF_JLE: return x <= y;
        case BPF_JSET: return (x & y) != 0;
        case BPF_JSGT: return sx > sy;
        case BPF_JSGE: return sx >= sy;
        case BPF_JSLT: return sx < sy;
        case BPF_JSLE: return sx <= sy;
        }
    }
    int64_t sa = (int64_t)a, sb = (int64_t)b;
    switch (op) {
    case BPF_JEQ: return a == b;
    case BPF_JNE: return a != b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    case BPF_JLT: return a < b;
    case BPF_JLE: return a <= b;
    case BPF_JSET: return (a & b) != 0;
    case BPF_JSGT: return sa > sb;
    case BPF_JSGE: return sa >= sb;
    case BPF_JSLT: return sa < sb;
    case BPF_JSLE: return sa <= sb;
    }
    return -1;
}

static void jumps(void)
{
    static const uint8_t ops[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE,
                                  BPF_JSET, BPF_JSGT, BPF_JSGE, BPF_JSLT, BPF_JSLE};
    static const int64_t vals[] = {0, 1, -1, 5, -5, 0x7fffffff, (int32_t)0x80000000, 0x100000001ll, INT64_MIN};
    int n = 0;
    for (size_t o = 0; o < sizeof(ops); o++)
        for (int is32 = 0; is32 < 2; is32++)
            for (size_t i = 0; i < sizeof(vals) / 8; i++)
                for (size_t j = 0; j < sizeof(vals) / 8; j++) {
                    uint64_t a = (uint64_t)vals[i], b = (uint64_t)vals[j];
                    uint8_t cls = is32 ? BPF_JMP32 : BPF_JMP;
                    int want = cmp(ops[o], is32, a, b);
                    /* r0 = 1; if a op b goto +1; r0 = 0; exit */
                    EXPECT(want, BPF_MOV64_IMM(R0, 1), BPF_LD_IMM64(R1, a), BPF_LD_IMM64(R2, b),
                           MLOS_BPF_INSN(cls | BPF_X | ops[o], R1, R2, 1, 0), BPF_MOV64_IMM(R0, 0), EXIT);
                    /* immediate form: the operand is the sign-extended imm */
                    if ((int64_t)(int32_t)b == (int64_t)b) {
                        EXPECT(cmp(ops[o], is32, a, b), BPF_MOV64_IMM(R0, 1), BPF_LD_IMM64(R1, a),
                               MLOS_BPF_INSN(cls | BPF_K | ops[o], R1, 0, 1, (int32_t)b), BPF_MOV64_IMM(R0, 0), EXIT);
                    }
                    n++;
                }
    /* values unknown to the verifier (from ctx): both edges explored */
    EXPECT(1, BPF_MOV64_IMM(R0, 1), BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_JMP_IMM(BPF_JGT, R2, 5, 1),
           BPF_MOV64_IMM(R0, 0), EXIT);
    EXPECT(0, BPF_MOV64_IMM(R0, 1), BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_JMP32_IMM(BPF_JEQ, R2, 5, 1),
           BPF_MOV64_IMM(R0, 0), EXIT);
    EXPECT(3, BPF_MOV64_IMM(R0, 3), BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_JMP_IMM(BPF_JEQ, R2, 0, 1), BPF_JA_INSN(1),
           BPF_MOV64_IMM(R0, 4), EXIT);
    EXPECT(3, BPF_MOV64_IMM(R0, 3), BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_JMP_IMM(BPF_JEQ, R2, 0, 1), BPF_JA32_INSN(1),
           BPF_MOV64_IMM(R0, 4), EXIT);
    EXPECT(9, BPF_MOV64_IMM(R0, 9), BPF_JA_INSN(0), EXIT);
    CHECK(n == 11 * 2 * 81);
}

/* The bit steps of a CRC in C: k steps from c; *t = the last step's mask. */
static uint32_t crc_steps(uint32_t c, int k, uint32_t *t)
{
    uint32_t m = 0;
    while (k--) {
        m = (0u - (c & 1)) & 0xedb88320u;
        c = (c >> 1) ^ m;
    }
    if (t)
        *t = m;
    return c;
}

/* One by one, in C: the ALU and forward-jump subset fused_random emits. */
static uint64_t ref_run(const struct mlos_bpf_insn *p, size_t n, uint64_t *r)
{
    for (size_t pc = 0; pc < n; pc++) {
        const struct mlos_bpf_insn *in = &p[pc];
        uint8_t cls = BPF_CLASS(in->code), op = BPF_OP(in->code);
        uint64_t d = r[in->dst], s = BPF_SRC(in->code) == BPF_X ? r[in->src] : (uint64_t)(int64_t)in->imm;
        if (cls == BPF_JMP && op == BPF_EXIT)
            return r[0];
        if (cls == BPF_JMP || cls == BPF_JMP32) {
            if (cmp(op, cls == BPF_JMP32, d, s))
                pc += (size_t)(ptrdiff_t)in->off;
            continue;
        }
        if (cls == BPF_ALU64) {
            switch (op) {
            case BPF_ADD: d += s; break;
            case BPF_SUB: d -= s; break;
            case BPF_MUL: d *= s; break;
            case BPF_AND: d &= s; break;
            case BPF_OR: d |= s; break;
            case BPF_XOR: d ^= s; break;
            case BPF_LSH: d <<= s & 63; break;
            case BPF_RSH: d >>= s & 63; break;
            case BPF_ARSH: d = (uint64_t)((int64_t)d >> (s & 63)); break;
            case BPF_NEG: d = 0 - d; break;
            case BPF_MOV: d = s; break;
            }
        } else {
            uint32_t a = (uint32_t)d, b = (uint32_t)s;
            switch (op) {
            case BPF_ADD: a += b; break;
            case BPF_SUB: a -= b; break;
            case BPF_MUL: a *= b; break;
            case BPF_AND: a &= b; break;
            case BPF_OR: a |= b; break;
            case BPF_XOR: a ^= b; break;
            case BPF_LSH: a <<= b & 31; break;
            case BPF_RSH: a >>= b & 31; break;
            case BPF_ARSH: a = (uint32_t)((int32_t)a >> (b & 31)); break;
            case BPF_NEG: a = 0u - a; break;
            case BPF_MOV: a = b; break;
            }
            d = a;
        }
        r[in->dst] = d;
    }
    return r[0];
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rnd_state = rnd_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rnd_state >> 33) % n;
}

/* Random straight-line programs made of the fused sequences' patterns on
 * random registers r0-r5 (so that they alias in every way), with forward
 * jumps that land anywhere inside a later pattern, compared with the same
 * instructions run one by one in C. The registers start from the context
 * (unknown to the verifier, so it folds no branch away). */
/* a[i & 1023] against a key over a range of variable length (the KERNEL
 * hook: the region's accesses are checked at run time, the fused handlers'
 * _v forms): how many words compare, for every compare and both sizes,
 * four ways, against C. */
static void fused_kernel_compares(void)
{
    static const uint8_t ops[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE};
    static uint8_t buf[2048];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 37 + (i >> 3));
    for (int dw = 0; dw < 2; dw++)
        for (size_t o = 0; o < sizeof(ops); o++) {
            unsigned sz = dw ? 8 : 4, n = sizeof(buf) / sz;
            uint64_t key = 0, want = 0;
            memcpy(&key, buf + 40 * sz, sz); /* a word that is there: equal once at least */
            for (unsigned i = 0; i < n; i++) {
                uint64_t w = 0;
                memcpy(&w, buf + i * sz, sz);
                want += ops[o] == BPF_JEQ ? w == key : ops[o] == BPF_JNE ? w != key : ops[o] == BPF_JGT ? w > key
                      : ops[o] == BPF_JGE ? w >= key : ops[o] == BPF_JLT ? w < key : w <= key;
            }
            const struct mlos_bpf_insn p[] = {
                BPF_LDX_MEM(BPF_DW, R6, R1, 32), /* len */
                BPF_LDX_MEM(BPF_DW, R7, R1, 40), /* data */
                BPF_LD_IMM64(R9, key),
                BPF_MOV64_IMM(R0, 0),
                BPF_JMP_IMM(BPF_JGT, R6, 8192, 14),
                BPF_ALU64_IMM(BPF_RSH, R6, dw ? 3 : 2),
                BPF_JMP_IMM(BPF_JEQ, R6, 0, 12),
                BPF_MOV64_IMM(R8, 0),
                BPF_MOV64_IMM(R4, 0), /* loop: r4 = r8 without a move, which would take the and with it */
                BPF_ALU64_REG(BPF_OR, R4, R8),
                BPF_ALU64_IMM(BPF_AND, R4, 1023),
                BPF_ALU64_IMM(BPF_LSH, R4, dw ? 3 : 2),
                BPF_ALU64_REG(BPF_ADD, R4, R7),
                BPF_LDX_MEM(dw ? BPF_DW : BPF_W, R5, R4, 0),
                BPF_JMP_REG(ops[o], R5, R9, 1),
                BPF_JMP_IMM(BPF_JA, 0, 0, 1),
                BPF_ALU64_IMM(BPF_ADD, R0, 1),
                BPF_ALU64_IMM(BPF_ADD, R8, 1),
                BPF_JMP_REG(BPF_JLT, R8, R6, -11),
                EXIT,
            };
            size_t np = sizeof(p) / sizeof(p[0]);
            for (int k = 0; k < 4; k++) {
                char err[MLOS_BPF_ERR_MAX];
                struct mlos_bpf_prog *prog;
                uint64_t r0 = 0;
                int rc = load(p, np, mlos_hook_desc(MLOS_HOOK_KERNEL), k >= 2 ? MLOS_BPF_TRUSTED : 0, &prog, err);
                if (rc < 0)
                    fprintf(stderr, "fused_kernel_compares: %s\n", err);
                CHECK_EQ(rc, 0);
                if (rc < 0)
                    continue;
                struct mlos_hook_kernel_ctx c = {{0}, sizeof(buf), (uint64_t)(uintptr_t)buf, 0, 0};
                rc = mlos_bpf_run_ex(prog, &c, sizeof(c), k & 1 ? MLOS_BPF_RUN_CHECKED : MLOS_BPF_RUN_FAST, UINT64_MAX,
                                     &r0);
                if (rc != 0 || r0 != want)
                    fprintf(stderr, "fused_kernel_compares: op %#x size %u way %d: rc %d, %llu of %u, want %llu\n",
                            ops[o], sz, k, rc, (unsigned long long)r0, n, (unsigned long long)want);
                CHECK(rc == 0 && r0 == want);
                mlos_bpf_free(prog);
            }
        }
}

static void fused_random(void)
{
    static const uint8_t k64[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH, BPF_ARSH};
    static const uint8_t x64[] = {BPF_ADD, BPF_SUB, BPF_MUL, BPF_AND, BPF_OR, BPF_XOR};
    static const uint8_t k32[] = {BPF_ADD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH};
    static const uint8_t jops[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSET, BPF_JSGT, BPF_JSLT};
    int runs = 0;
    for (int t = 0; t < 2000; t++) {
        struct mlos_bpf_insn p[96];
        size_t n = 0, jump_at = 0;
        int pending = 0;
        uint64_t r[11] = {0};
        for (int k = 0; k < 6; k++) /* r1 last: it is the context until then */
            p[n++] = BPF_LDX_MEM(BPF_DW, (k + 2) % 6, R1, 8 * ((k + 2) % 6));
        size_t body = n;
        int jumps = 0; /* at most 6: the verifier walks every path */
        while (n < 70) {
            unsigned a = rnd(6), b = rnd(6), x = rnd(6), c = rnd(6);
            int32_t k = (int32_t)(rnd(1u << 16) * 0x9e37u) ^ (int32_t)rnd(64);
            size_t start = n;
            if (!pending && jumps < 6 && rnd(4) == 0) {
                jumps++; /* a forward jump, patched to land in a later pattern */
                jump_at = n;
                p[n++] = rnd(2) ? MLOS_BPF_INSN(BPF_JMP | BPF_K | jops[rnd(sizeof(jops))], a, 0, 0, k >> rnd(32))
                                : MLOS_BPF_INSN(BPF_JMP32 | BPF_X | jops[rnd(sizeof(jops))], a, b, 0, 0);
                pending = 1;
                continue;
            }
            switch (rnd(jumps < 6 ? 9 : 8)) {
            case 0: {
                uint8_t op = k64[rnd(sizeof(k64))];
                p[n++] = BPF_MOV64_REG(x, a);
                p[n++] = MLOS_BPF_INSN(BPF_ALU64 | BPF_K | op, x, 0, 0,
                                       op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH ? k & 63 : k);
                break;
            }
            case 1: /* sometimes with a constant after it: rX = rA - rB + K */
                p[n++] = BPF_MOV64_REG(x, a);
                p[n++] = MLOS_BPF_INSN(BPF_ALU64 | BPF_X | x64[rnd(sizeof(x64))], x, b, 0, 0);
                if (rnd(2))
                    p[n++] = BPF_ALU64_IMM(rnd(2) ? BPF_ADD : BPF_SUB, rnd(4) ? x : a, k);
                break;
            case 2: {
                uint8_t op = k32[rnd(sizeof(k32))];
                p[n++] = BPF_MOV32_REG(x, a);
                p[n++] = MLOS_BPF_INSN(BPF_ALU | BPF_K | op, x, 0, 0, op == BPF_LSH || op == BPF_RSH ? k & 31 : k);
                break;
            }
            case 3:
                p[n++] = BPF_ALU64_IMM(BPF_LSH, x, k & 63);
                p[n++] = BPF_ALU64_REG(BPF_ADD, rnd(3) ? x : a, b);
                break;
            case 4:
                p[n++] = BPF_NEG32(x);
                p[n++] = BPF_ALU32_IMM(BPF_AND, rnd(3) ? x : a, k);
                break;
            case 5:
                p[n++] = BPF_ALU32_IMM(BPF_RSH, x, k & 31);
                p[n++] = BPF_ALU32_REG(BPF_XOR, rnd(3) ? x : a, b);
                break;
            case 6:
                p[n++] = BPF_ALU32_REG(BPF_XOR, x, b);
                p[n++] = BPF_ALU32_IMM(BPF_MUL, rnd(3) ? x : a, k);
                break;
            case 7: /* one to three CRC bit steps, the temporary sometimes the CRC register itself */
                for (int s = 1 + (int)rnd(3); s > 0; s--) {
                    unsigned tt = rnd(5) ? x : c;
                    p[n++] = BPF_MOV32_REG(tt, c);
                    p[n++] = BPF_ALU32_IMM(BPF_AND, tt, 1 + (int32_t)rnd(3));
                    p[n++] = BPF_NEG32(tt);
                    p[n++] = BPF_ALU32_IMM(BPF_AND, tt, k);
                    p[n++] = BPF_ALU32_IMM(BPF_RSH, c, 1 + (int32_t)rnd(3));
                    p[n++] = BPF_ALU32_REG(BPF_XOR, c, tt);
                }
                break;
            default: /* add, then a compare of it (or of another register) jumping over one instruction */
                jumps++;
                p[n++] = rnd(2) ? BPF_ALU64_IMM(BPF_ADD, x, k >> 8) : BPF_ALU32_IMM(BPF_ADD, x, k >> 8);
                p[n++] = rnd(2) ? MLOS_BPF_INSN((rnd(2) ? BPF_JMP : BPF_JMP32) | BPF_K | jops[rnd(sizeof(jops))],
                                                rnd(4) ? x : a, 0, 1, k >> 12)
                                : MLOS_BPF_INSN((rnd(2) ? BPF_JMP : BPF_JMP32) | BPF_X | jops[rnd(sizeof(jops))],
                                                rnd(2) ? x : b, rnd(2) ? x : b, 1, 0);
                p[n++] = BPF_ALU64_IMM(BPF_XOR, a, k);
                break;
            }
            if (pending && n - start > 1 && rnd(2)) { /* land inside (or at the start of) this pattern */
                p[jump_at].off = (int16_t)(start + rnd((uint32_t)(n - start)) - jump_at - 1);
                pending = 0;
            }
        }
        if (pending)
            p[jump_at].off = (int16_t)(n - jump_at - 1);
        for (int k = 1; k < 6; k++) /* r0 = a mix of all six */
            p[n++] = BPF_ALU64_REG(k & 1 ? BPF_XOR : BPF_ADD, R0, k);
        p[n++] = EXIT;
        reset_ctx();
        for (int k = 0; k < 6; k++)
            r[k] = tctx.w[k];
        uint64_t want = ref_run(p + body, n - body, r);
        expect_r0(__LINE__, want, p, n);
        runs++;
    }
    CHECK(runs == 2000);
}

/* Adjacent pairs the interpreter runs with one handler ("r3 = r2; r3 op=
 * K", "r3 = r2; r3 op= r4", "i += 1; if i cmp n goto"): the same results
 * as one by one, also when the second reads or writes the first's
 * registers, and a jump that lands on the second of a pair runs it alone. */
static void fused(void)
{
#define A 0x8123456789abcdefull
#define B 0x0fedcba987654321ull
#define P2 BPF_LD_IMM64(R2, A), BPF_LD_IMM64(R4, B)
    static const struct { uint8_t op; uint64_t k, x; uint32_t k32; } alu[] = {
        {BPF_ADD, A + 77, A + B, (uint32_t)A + 77},
        {BPF_SUB, A - 77, A - B, 0},
        {BPF_MUL, A * 77, A * B, 0},
        {BPF_AND, A & 77, A & B, (uint32_t)A & 77},
        {BPF_OR, A | 77, A | B, (uint32_t)A | 77},
        {BPF_XOR, A ^ 77, A ^ B, (uint32_t)A ^ 77},
        {BPF_LSH, A << (77 & 63), 0, (uint32_t)A << (77 & 31)},
        {BPF_RSH, A >> (77 & 63), 0, (uint32_t)A >> (77 & 31)},
        {BPF_ARSH, (A >> 13) | ~(UINT64_MAX >> 13), 0, 0},
    };
    for (size_t i = 0; i < sizeof(alu) / sizeof(alu[0]); i++) {
        uint8_t op = alu[i].op;
        EXPECT(alu[i].k, P2, BPF_MOV64_REG(R3, R2), BPF_ALU64_IMM(op, R3, 77), BPF_MOV64_REG(R0, R3), EXIT);
        if (alu[i].x)
            EXPECT(alu[i].x, P2, BPF_MOV64_REG(R3, R2), BPF_ALU64_REG(op, R3, R4), BPF_MOV64_REG(R0, R3), EXIT);
        if (alu[i].k32)
            EXPECT(alu[i].k32, P2, BPF_MOV32_REG(R3, R2), BPF_ALU32_IMM(op, R3, 77), BPF_MOV64_REG(R0, R3), EXIT);
    }
    /* the second reads the first's destination as its source, or writes another register */
    EXPECT(2 * A, P2, BPF_MOV64_REG(R3, R2), BPF_ALU64_REG(BPF_ADD, R3, R3), BPF_MOV64_REG(R0, R3), EXIT);
    EXPECT(A + B, P2, BPF_MOV64_REG(R3, R2), BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_MOV64_REG(R0, R4), EXIT);
    EXPECT(A - 5, P2, BPF_MOV64_REG(R3, R2), BPF_ALU64_IMM(BPF_SUB, R2, 5), BPF_MOV64_REG(R0, R2), EXIT);
    EXPECT((A << 2) + B, P2, BPF_ALU64_IMM(BPF_LSH, R2, 2), BPF_ALU64_REG(BPF_ADD, R2, R4), BPF_MOV64_REG(R0, R2),
           EXIT);
    EXPECT((A << 2) * 2, P2, BPF_ALU64_IMM(BPF_LSH, R2, 2), BPF_ALU64_REG(BPF_ADD, R2, R2), BPF_MOV64_REG(R0, R2),
           EXIT);
    /* a spill and a reload: of the same slot, of another, and through the reloaded register */
    EXPECT(A, P2, BPF_STX_MEM(BPF_DW, R10, R2, -8), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    EXPECT(B, P2, BPF_STX_MEM(BPF_DW, R10, R4, -16), BPF_STX_MEM(BPF_DW, R10, R2, -8), BPF_LDX_MEM(BPF_DW, R0, R10, -16),
           EXIT);
    EXPECT(A, P2, BPF_MOV64_REG(R3, R10), BPF_STX_MEM(BPF_DW, R10, R2, -8), BPF_LDX_MEM(BPF_DW, R3, R3, -8),
           BPF_MOV64_REG(R0, R3), EXIT);
    /* counted loops closing with each fused compare: r0 = passes */
    EXPECT(10, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JLT, R0, 10, -2), EXIT);
    EXPECT(11, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JLE, R0, 10, -2), EXIT);
    EXPECT(10, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JNE, R0, 10, -2), EXIT);
    EXPECT(10, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_REG(BPF_JLT, R0, R3, -2), EXIT);
    EXPECT(11, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_REG(BPF_JLE, R0, R3, -2), EXIT);
    EXPECT(10, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_REG(BPF_JNE, R0, R3, -2), EXIT);
    EXPECT(10, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_REG(BPF_JGT, R3, R0, -2), EXIT);
    EXPECT(11, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_REG(BPF_JGE, R3, R0, -2), EXIT);
    EXPECT(10, BPF_MOV32_IMM(R0, 0), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP32_IMM(BPF_JLT, R0, 10, -2), EXIT);
    EXPECT(11, BPF_MOV32_IMM(R0, 0), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP32_IMM(BPF_JLE, R0, 10, -2), EXIT);
    EXPECT(10, BPF_MOV32_IMM(R0, 0), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP32_IMM(BPF_JNE, R0, 10, -2), EXIT);
    EXPECT(10, BPF_MOV32_IMM(R0, 0), BPF_MOV32_IMM(R3, 10), BPF_ALU32_IMM(BPF_ADD, R0, 1),
           BPF_JMP32_REG(BPF_JLT, R0, R3, -2), EXIT);
    EXPECT(10, BPF_MOV32_IMM(R0, 0), BPF_MOV32_IMM(R3, 10), BPF_ALU32_IMM(BPF_ADD, R0, 1),
           BPF_JMP32_REG(BPF_JNE, R0, R3, -2), EXIT);
    /* a 32-bit add wraps and clears the upper half before the compare */
    EXPECT(0, BPF_LD_IMM64(R0, 0x1ffffffffull), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JNE, R0, 0, 1), EXIT,
           BPF_MOV64_IMM(R0, 9), EXIT);
    /* a jump to the compare of a pair skips the add: r3 = w[0] & 1 = 1 */
    EXPECT(7, BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_ALU64_IMM(BPF_AND, R3, 1), BPF_MOV64_IMM(R0, 7),
           BPF_JMP_IMM(BPF_JNE, R3, 0, 1), BPF_ALU64_IMM(BPF_ADD, R0, 5), BPF_JMP_IMM(BPF_JLT, R0, 100, 1),
           BPF_MOV64_IMM(R0, 99), EXIT);
    /* ... and to the operation of a "mov; op" pair skips the move */
    EXPECT(A + 1, P2, BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_ALU64_IMM(BPF_AND, R3, 1), BPF_MOV64_REG(R0, R2),
           BPF_JMP_IMM(BPF_JNE, R3, 0, 1), BPF_MOV64_REG(R0, R4), BPF_ALU64_IMM(BPF_ADD, R0, 1), EXIT);
    /* same-register pairs: neg; and (CRC's mask), rsh; xor, xor; mul (FNV-1a) */
    EXPECT((0u - 0x89abcdefu) & 0xedb88320u, P2, BPF_MOV32_REG(R0, R2), BPF_NEG32(R0),
           BPF_ALU32_IMM(BPF_AND, R0, (int32_t)0xedb88320u), EXIT);
    EXPECT((0x89abcdefu >> 3) ^ 0x87654321u, P2, BPF_MOV32_REG(R0, R2), BPF_ALU32_IMM(BPF_RSH, R0, 35),
           BPF_ALU32_REG(BPF_XOR, R0, R4), EXIT);
    EXPECT(0, P2, BPF_ALU32_IMM(BPF_RSH, R2, 3), BPF_ALU32_REG(BPF_XOR, R2, R2), BPF_MOV64_REG(R0, R2), EXIT);
    EXPECT((uint32_t)((0x89abcdefu ^ 0x87654321u) * 16777619u), P2, BPF_ALU32_REG(BPF_XOR, R2, R4),
           BPF_ALU32_IMM(BPF_MUL, R2, 16777619), BPF_MOV64_REG(R0, R2), EXIT);
    EXPECT(0, P2, BPF_ALU32_REG(BPF_XOR, R2, R2), BPF_ALU32_IMM(BPF_MUL, R2, 3), BPF_MOV64_REG(R0, R2), EXIT);
    /* ... or two registers, run one by one */
    EXPECT((uint32_t)(0u - 0x89abcdefu), P2, BPF_NEG32(R2), BPF_ALU32_IMM(BPF_AND, R4, 0), BPF_MOV64_REG(R0, R2),
           EXIT);
    EXPECT(0x89abcdefu >> 3, P2, BPF_ALU32_IMM(BPF_RSH, R2, 3), BPF_ALU32_REG(BPF_XOR, R4, R2),
           BPF_MOV64_REG(R0, R2), EXIT);
    /* indexed loads of every size, r4 = r2 + r3, r0 = *(r4 + 1): data[i] = i */
#define IDX(sz, d) BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_REG(R4, R2),              \
        BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_LDX_MEM(sz, d, R4, 1)
    EXPECT(6, IDX(BPF_B, R0), EXIT);
    EXPECT(0x0706, IDX(BPF_H, R0), EXIT);
    EXPECT(0x09080706, IDX(BPF_W, R0), EXIT);
    EXPECT(0x0d0c0b0a09080706ull, IDX(BPF_DW, R0), EXIT);
    /* the pointer keeps its new value; the load may overwrite it */
    EXPECT(6 + 5, IDX(BPF_B, R0), BPF_ALU64_REG(BPF_ADD, R0, R4), BPF_ALU64_REG(BPF_SUB, R0, R2), EXIT);
    EXPECT(6, IDX(BPF_B, R4), BPF_MOV64_REG(R0, R4), EXIT);
    /* r4 = r3 (a scalar) + r2 (the pointer) is a pointer too */
    EXPECT(5, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_REG(R4, R3),
           BPF_ALU64_REG(BPF_ADD, R4, R2), BPF_LDX_MEM(BPF_B, R0, R4, 0), EXIT);
    /* a jump to the add of a triple skips the move, one to the load skips both */
    EXPECT(15, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_REG(R4, R2),
           BPF_ALU64_IMM(BPF_ADD, R4, 10), BPF_JMP_IMM(BPF_JNE, R3, 0, 1), BPF_MOV64_REG(R4, R2),
           BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_LDX_MEM(BPF_B, R0, R4, 0), EXIT);
    EXPECT(10, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_REG(R4, R2),
           BPF_ALU64_IMM(BPF_ADD, R4, 10), BPF_JMP_IMM(BPF_JNE, R3, 0, 2), BPF_MOV64_REG(R4, R2),
           BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_LDX_MEM(BPF_B, R0, R4, 0), EXIT);
    /* scaled indexes: r3 = 2 << 2 (words) or 1 << 3 (double words) + r2, loads and stores */
#define SIDX(k, i) BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, i), BPF_ALU64_IMM(BPF_LSH, R3, k),        \
        BPF_ALU64_REG(BPF_ADD, R3, R2)
    EXPECT(0x0b0a0908, SIDX(2, 2), BPF_LDX_MEM(BPF_W, R0, R3, 0), EXIT);
    EXPECT(0x0f0e0d0c0b0a0908ull, SIDX(3, 1), BPF_LDX_MEM(BPF_DW, R0, R3, 0), EXIT);
    EXPECT(0x00000000fedcba98ull, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV32_IMM(R5, (int32_t)0xfedcba98u),
           BPF_MOV64_IMM(R3, 3), BPF_ALU64_IMM(BPF_LSH, R3, 2), BPF_ALU64_REG(BPF_ADD, R3, R2),
           BPF_STX_MEM(BPF_W, R3, R5, 0), BPF_LDX_MEM(BPF_W, R0, R2, 12), EXIT);
    EXPECT(0x1122334455667788ull, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LD_IMM64(R5, 0x1122334455667788ull),
           BPF_MOV64_IMM(R3, 2), BPF_ALU64_IMM(BPF_LSH, R3, 3), BPF_ALU64_REG(BPF_ADD, R3, R2),
           BPF_STX_MEM(BPF_DW, R3, R5, 0), BPF_LDX_MEM(BPF_DW, R0, R2, 16), EXIT);
    /* the pointer keeps its new value */
    EXPECT(8 + 9, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 1), BPF_ALU64_IMM(BPF_LSH, R3, 3),
           BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 0), BPF_LDX_MEM(BPF_B, R5, R3, 1),
           BPF_ALU64_REG(BPF_ADD, R0, R5), EXIT);
    /* the last byte, word and double word of the data region */
    EXPECT(0xff, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 255), BPF_MOV64_REG(R4, R2),
           BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_LDX_MEM(BPF_B, R0, R4, 0), EXIT);
    EXPECT(0xfffefdfc, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 63), BPF_ALU64_IMM(BPF_LSH, R3, 2),
           BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_W, R0, R3, 0), EXIT);
    EXPECT(0xfffefdfcfbfaf9f8ull, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 31),
           BPF_ALU64_IMM(BPF_LSH, R3, 3), BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_DW, R0, R3, 0), EXIT);
    /* a byte of p[i] folded into another register: a sum, a CRC's xor, FNV-1a's xor and multiply;
     * also into the loaded register itself (Z == Y), into the pointer (Z == X), into an index (Z == B) */
#define IDXB(y) BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_IMM(R0, 100), BPF_MOV64_REG(R4, R2), \
        BPF_ALU64_REG(BPF_ADD, R4, R3), BPF_LDX_MEM(BPF_B, y, R4, 1)
    EXPECT(106, IDXB(R5), BPF_ALU64_REG(BPF_ADD, R0, R5), EXIT);
    EXPECT(12, IDXB(R5), BPF_ALU64_REG(BPF_ADD, R5, R5), BPF_MOV64_REG(R0, R5), EXIT);
    EXPECT(5 + 6, IDXB(R5), BPF_ALU64_REG(BPF_ADD, R4, R5), BPF_ALU64_REG(BPF_SUB, R4, R2), BPF_MOV64_REG(R0, R4),
           EXIT);
    EXPECT(5 + 6, IDXB(R5), BPF_ALU64_REG(BPF_ADD, R3, R5), BPF_MOV64_REG(R0, R3), EXIT);
    EXPECT(100 ^ 6, IDXB(R5), BPF_ALU32_REG(BPF_XOR, R0, R5), EXIT);
    EXPECT(0, IDXB(R5), BPF_ALU32_REG(BPF_XOR, R5, R5), BPF_MOV64_REG(R0, R5), EXIT);
    EXPECT((uint32_t)((100 ^ 6) * 16777619u), IDXB(R5), BPF_ALU32_REG(BPF_XOR, R0, R5),
           BPF_ALU32_IMM(BPF_MUL, R0, 16777619), EXIT);
    EXPECT(0, IDXB(R5), BPF_ALU32_REG(BPF_XOR, R5, R5), BPF_ALU32_IMM(BPF_MUL, R5, 7), BPF_MOV64_REG(R0, R5), EXIT);
    /* the multiply on another register than the xor's: run one by one */
    EXPECT(100 ^ 6, IDXB(R5), BPF_ALU32_REG(BPF_XOR, R0, R5), BPF_ALU32_IMM(BPF_MUL, R3, 7), EXIT);
    /* a jump to the folding operation skips the load (r5 = 0 then) */
    EXPECT(100, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 5), BPF_MOV64_IMM(R0, 100), BPF_MOV64_IMM(R5, 0),
           BPF_JMP_IMM(BPF_JNE, R3, 0, 3), BPF_MOV64_REG(R4, R2), BPF_ALU64_REG(BPF_ADD, R4, R3),
           BPF_LDX_MEM(BPF_B, R5, R4, 1), BPF_ALU64_REG(BPF_ADD, R0, R5), EXIT);
#undef IDXB
    /* masked scaled indexes: (i & 63) << 2 or << 3, loads and stores, the last word of the region */
#define ASIDX(i, k) BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, i), BPF_ALU64_IMM(BPF_AND, R3, 63),             \
        BPF_ALU64_IMM(BPF_LSH, R3, k), BPF_ALU64_REG(BPF_ADD, R3, R2)
    EXPECT(0xfffefdfc, ASIDX(0x13f, 2), BPF_LDX_MEM(BPF_W, R0, R3, 0), EXIT);
    EXPECT(0x0f0e0d0c0b0a0908ull, ASIDX(0x41, 3), BPF_LDX_MEM(BPF_DW, R0, R3, 0), EXIT);
    EXPECT(0x0b0a0908, ASIDX(0x42, 2), BPF_LDX_MEM(BPF_W, R3, R3, 0), BPF_MOV64_REG(R0, R3), EXIT);
    EXPECT(0x00000000fedcba98ull, BPF_MOV32_IMM(R5, (int32_t)0xfedcba98u), ASIDX(0x43, 2),
           BPF_STX_MEM(BPF_W, R3, R5, 0), BPF_LDX_MEM(BPF_W, R0, R2, 12), EXIT);
    EXPECT(0x1122334455667788ull, BPF_LD_IMM64(R5, 0x1122334455667788ull), ASIDX(0x42, 3),
           BPF_STX_MEM(BPF_DW, R3, R5, 0), BPF_LDX_MEM(BPF_DW, R0, R2, 16), EXIT);
    /* the index register added is the pointer's own (B == X): one by one */
    EXPECT(0x0b0a0908u, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_IMM(R3, 2), BPF_ALU64_IMM(BPF_AND, R3, 63),
           BPF_ALU64_IMM(BPF_LSH, R3, 2), BPF_ALU64_REG(BPF_ADD, R3, R3), BPF_ALU64_REG(BPF_ADD, R3, R2),
           BPF_LDX_MEM(BPF_W, R0, R3, -8), EXIT);
    /* a[i & mask] loaded, then a jump on the loaded word against rZ: every compare, taken or
     * not, word and double word; the pointer register loaded into itself (Y == X); Z == Y; and a
     * jump straight to the compare, which then runs alone on rY's old value */
    {
        static const uint8_t ops[] = {BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE};
        for (int dw = 0; dw < 2; dw++)
            for (size_t o = 0; o < sizeof(ops); o++)
                for (int64_t d = -1; d <= 1; d++) {
                    int i = 0x45, k = dw ? 3 : 2;
                    uint64_t w = 0, z;
                    for (int b = 0; b < (dw ? 8 : 4); b++)
                        w |= (uint64_t)(uint8_t)(((i & 63) << k) + b) << (8 * b);
                    z = w + (uint64_t)d;
                    int t = ops[o] == BPF_JEQ ? w == z : ops[o] == BPF_JNE ? w != z : ops[o] == BPF_JGT ? w > z
                          : ops[o] == BPF_JGE ? w >= z : ops[o] == BPF_JLT ? w < z : w <= z;
                    EXPECT(t ? 2 : 1, BPF_LD_IMM64(R4, z), ASIDX(i, k), BPF_LDX_MEM(dw ? BPF_DW : BPF_W, R5, R3, 0),
                           BPF_JMP_REG(ops[o], R5, R4, 2), BPF_MOV64_IMM(R0, 1), EXIT, BPF_MOV64_IMM(R0, 2), EXIT);
                    EXPECT(t ? 2 : 1, BPF_LD_IMM64(R4, z), ASIDX(i, k), BPF_LDX_MEM(dw ? BPF_DW : BPF_W, R3, R3, 0),
                           BPF_JMP_REG(ops[o], R3, R4, 2), BPF_MOV64_IMM(R0, 1), EXIT, BPF_MOV64_IMM(R0, 2), EXIT);
                }
        EXPECT(2, ASIDX(3, 2), BPF_LDX_MEM(BPF_W, R5, R3, 0), BPF_JMP_REG(BPF_JLE, R5, R5, 2), BPF_MOV64_IMM(R0, 1),
               EXIT, BPF_MOV64_IMM(R0, 2), EXIT);
        EXPECT(1, ASIDX(3, 2), BPF_LDX_MEM(BPF_W, R5, R3, 0), BPF_JMP_REG(BPF_JNE, R5, R5, 2), BPF_MOV64_IMM(R0, 1),
               EXIT, BPF_MOV64_IMM(R0, 2), EXIT);
        /* the jump compares two other registers: not fused with the load */
        EXPECT(2, BPF_MOV64_IMM(R4, 9), BPF_MOV64_IMM(R6, 9), ASIDX(3, 2), BPF_LDX_MEM(BPF_W, R5, R3, 0),
               BPF_JMP_REG(BPF_JEQ, R4, R6, 2), BPF_MOV64_IMM(R0, 1), EXIT, BPF_MOV64_IMM(R0, 2), EXIT);
        /* r5 = 7, r4 = 7: the jump to the compare skips the load (of 0x0f0e0d0c) and is taken */
        EXPECT(2, BPF_MOV64_IMM(R5, 7), BPF_MOV64_IMM(R4, 7), BPF_JMP_IMM(BPF_JEQ, R4, 7, 6), ASIDX(3, 2),
               BPF_LDX_MEM(BPF_W, R5, R3, 0), BPF_JMP_REG(BPF_JEQ, R5, R4, 2), BPF_MOV64_IMM(R0, 1), EXIT,
               BPF_MOV64_IMM(R0, 2), EXIT);
    }
#undef ASIDX
    /* bit steps of a CRC, "t = c; t &= K1; t = -t; t &= K3; c >>= K4; c ^= t": eight on the same
     * registers (run as one), steps with their own constants, steps alternating the temporary (not
     * run together), T == C (not fused), the temporary read afterwards, a jump into a step */
#define STEP(t, c, k1, k3, k4) BPF_MOV32_REG(t, c), BPF_ALU32_IMM(BPF_AND, t, k1), BPF_NEG32(t),                   \
        BPF_ALU32_IMM(BPF_AND, t, (int32_t)(k3)), BPF_ALU32_IMM(BPF_RSH, c, k4), BPF_ALU32_REG(BPF_XOR, c, t)
#define CRC(t, c) STEP(t, c, 1, 0xedb88320u, 1)
#define W0 BPF_LDX_MEM(BPF_W, R0, R1, 0) /* 0x11111111 */
    EXPECT(crc_steps(0x11111111u, 8, NULL), W0, CRC(R5, R0), CRC(R5, R0), CRC(R5, R0), CRC(R5, R0), CRC(R5, R0),
           CRC(R5, R0), CRC(R5, R0), CRC(R5, R0), EXIT);
    {
        uint32_t t1, t2, c = crc_steps(0x11111111u, 1, &t1);
        c = (c >> 2) ^ ((0u - (c & 3)) & 0x12345678u);
        EXPECT(c, W0, CRC(R5, R0), STEP(R5, R0, 3, 0x12345678u, 2), EXIT);
        c = crc_steps(0x11111111u, 3, &t2);
        EXPECT(c ^ t2, W0, CRC(R5, R0), CRC(R5, R0), CRC(R5, R0), BPF_ALU64_REG(BPF_XOR, R0, R5), EXIT);
        (void)crc_steps(0x11111111u, 2, &t1);
        EXPECT((uint64_t)c + t1 + t2, W0, CRC(R5, R0), CRC(R4, R0), CRC(R5, R0), BPF_ALU64_REG(BPF_ADD, R0, R5),
               BPF_ALU64_REG(BPF_ADD, R0, R4), EXIT);
    }
    EXPECT(0, W0, CRC(R0, R0), EXIT);
    /* a jump to the third slot of the second step: t keeps the first step's value */
    {
        uint32_t t, c = crc_steps(0x11111111u, 1, &t);
        t = (0u - t) & 0xedb88320u;
        c = (c >> 1) ^ t;
        EXPECT(c, W0, BPF_MOV64_IMM(R3, 1), CRC(R5, R0), BPF_JMP_IMM(BPF_JNE, R3, 0, 2), CRC(R5, R0), EXIT);
    }
#undef STEP
#undef CRC
#undef W0
#undef IDX
#undef SIDX
#undef A
#undef B
#undef P2
}

static void memory(void)
{
    /* stack: little-endian layout, all sizes, sign-extending loads */
#define ST8 BPF_LD_IMM64(R1, 0x1122334455667788ull), BPF_STX_MEM(BPF_DW, R10, R1, -8)
    EXPECT(0x1122334455667788ull, ST8, BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    EXPECT(0x88, ST8, BPF_LDX_MEM(BPF_B, R0, R10, -8), EXIT);
    EXPECT(0x7788, ST8, BPF_LDX_MEM(BPF_H, R0, R10, -8), EXIT);
    EXPECT(0x11223344, ST8, BPF_LDX_MEM(BPF_W, R0, R10, -4), EXIT);
    EXPECT(0xffffffffffffff88ull, ST8, BPF_LDX_MEMSX(BPF_B, R0, R10, -8), EXIT);
    EXPECT(0x7788, ST8, BPF_LDX_MEMSX(BPF_H, R0, R10, -8), EXIT);
    EXPECT(0x11223344, ST8, BPF_LDX_MEMSX(BPF_W, R0, R10, -4), EXIT);
    EXPECT(0xffffffff88776655ull, BPF_LD_IMM64(R1, 0x88776655ull), BPF_STX_MEM(BPF_W, R10, R1, -4),
           BPF_LDX_MEMSX(BPF_W, R0, R10, -4), EXIT);
#undef ST8
    EXPECT(0xab, BPF_MOV64_IMM(R1, 0x1ab), BPF_STX_MEM(BPF_B, R10, R1, -1), BPF_LDX_MEM(BPF_B, R0, R10, -1), EXIT);
    EXPECT(0xbeef, BPF_MOV64_IMM(R1, 0xbeef), BPF_STX_MEM(BPF_H, R10, R1, -2), BPF_LDX_MEM(BPF_H, R0, R10, -2), EXIT);
    EXPECT(0xffffffffull, BPF_ST_MEM(BPF_W, R10, -4, -1), BPF_LDX_MEM(BPF_W, R0, R10, -4), EXIT);
    EXPECT(UINT64_MAX, BPF_ST_MEM(BPF_DW, R10, -8, -1), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT); /* imm sext */
    EXPECT(0x34, BPF_ST_MEM(BPF_B, R10, -1, 0x1234), BPF_LDX_MEM(BPF_B, R0, R10, -1), EXIT);
    EXPECT(0x1234, BPF_ST_MEM(BPF_H, R10, -2, 0x1234), BPF_LDX_MEM(BPF_H, R0, R10, -2), EXIT);
    /* unaligned */
    EXPECT(0x1122334455667788ull, BPF_LD_IMM64(R1, 0x1122334455667788ull), BPF_STX_MEM(BPF_DW, R10, R1, -11),
           BPF_LDX_MEM(BPF_DW, R0, R10, -11), EXIT);
    /* context and region */
    EXPECT(0x2222222222222222ull, BPF_LDX_MEM(BPF_DW, R0, R1, 8), EXIT);
    EXPECT(0x33333333, BPF_LDX_MEM(BPF_W, R0, R1, 16), EXIT);
    EXPECT(5, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_B, R0, R2, 5), EXIT);
    EXPECT(0xfffefdfc, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_W, R0, R2, 252), EXIT);
    EXPECT(42, BPF_ST_MEM(BPF_DW, R1, 56, 42), BPF_LDX_MEM(BPF_DW, R0, R1, 56), EXIT);
    EXPECT(7, BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_ST_MEM(BPF_B, R2, 255, 7), BPF_LDX_MEM(BPF_B, R0, R2, 255), EXIT);
    /* spill and fill a pointer */
    EXPECT(0x1111111111111111ull, BPF_STX_MEM(BPF_DW, R10, R1, -16), BPF_MOV64_IMM(R1, 0),
           BPF_LDX_MEM(BPF_DW, R2, R10, -16), BPF_LDX_MEM(BPF_DW, R0, R2, 0), EXIT);
    /* bounded variable offset into the region: index & 0xff */
    EXPECT(0x22, BPF_LDX_MEM(BPF_DW, R2, R1, 8), BPF_ALU64_IMM(BPF_AND, R2, 0xff), BPF_LDX_MEM(BPF_DW, R3, R1, 64),
           BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 0), EXIT);
    /* lddw */
    EXPECT(0x123456789abcdef0ull, BPF_LD_IMM64(R0, 0x123456789abcdef0ull), EXIT);
    /* the store really reached the context */
    {
        struct mlos_bpf_prog *p;
        char err[MLOS_BPF_ERR_MAX];
        uint64_t r0;
        CHECK_EQ(load(PROG(BPF_MOV64_IMM(R2, 99), BPF_STX_MEM(BPF_DW, R1, R2, 24), BPF_MOV64_IMM(R0, 0), EXIT), 4,
                      test_hook, 0, &p, err), 0);
        reset_ctx();
        CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_FAST, 0, &r0), 0);
        CHECK_EQ(tctx.w[3], 99);
        mlos_bpf_free(p);
    }
}

static void helpers(void)
{
    /* hash32("abc") on the stack, FNV-1a */
    EXPECT(0x1a47e90b, BPF_MOV64_IMM(R1, 0x636261), BPF_STX_MEM(BPF_W, R10, R1, -4), BPF_MOV64_REG(R1, R10),
           BPF_ALU64_IMM(BPF_ADD, R1, -4), BPF_MOV64_IMM(R2, 3), BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    /* memeq(region+1, stack, 2): data[1..2] = 01 02 */
    EXPECT(1, BPF_LDX_MEM(BPF_DW, 6, R1, 64), BPF_ALU64_IMM(BPF_ADD, 6, 1), BPF_ST_MEM(BPF_H, R10, -2, 0x0201),
           BPF_MOV64_REG(R1, 6), BPF_MOV64_REG(R2, R10), BPF_ALU64_IMM(BPF_ADD, R2, -2), BPF_MOV64_IMM(R3, 2),
           BPF_CALL_HELPER(MLOS_BPF_HELPER_MEMEQ), EXIT);
}

static void rejects(void)
{
    const struct mlos_bpf_hook_desc *msg = mlos_hook_desc(MLOS_HOOK_MSG), *ev = mlos_hook_desc(MLOS_HOOK_EVENT);
    const struct mlos_bpf_hook_desc *t = test_hook;

    REJECT(t, "insn 1: loop at insn 1: cannot prove it ends: its back-edge is unconditional", BPF_MOV64_IMM(R0, 0),
           BPF_JA_INSN(-1), EXIT);
    REJECT(t, "insn 3: loop at insn 1: cannot prove it ends: its bound r2 changes in the loop", BPF_MOV64_IMM(R0, 0),
           BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_REG(BPF_JLT, R0, R2, -3), EXIT);
    REJECT(t, "outside the 72-byte context", BPF_LDX_MEM(BPF_DW, R0, R1, 72), EXIT);
    REJECT(t, "outside the 72-byte context", BPF_LDX_MEM(BPF_B, R0, R1, -1), EXIT);
    REJECT(t, "outside the 512-byte frame", BPF_ST_MEM(BPF_DW, R10, -520, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "outside the 512-byte frame", BPF_ST_MEM(BPF_W, R10, -2, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "r2 is read before it is initialised", BPF_MOV64_REG(R0, R2), EXIT);
    REJECT(t, "r3 is read before it is initialised", BPF_MOV64_IMM(R0, 1), BPF_ALU64_REG(BPF_ADD, R0, R3), EXIT);
    REJECT(t, "unknown helper 99", BPF_CALL_HELPER(99), EXIT);
    REJECT(ev, "not allowed at hook 'event'", BPF_MOV64_REG(R1, R10), BPF_ALU64_IMM(BPF_ADD, R1, -8),
           BPF_ST_MEM(BPF_DW, R10, -8, 0), BPF_MOV64_IMM(R2, 8), BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(t, "outside the program", BPF_MOV64_IMM(R0, 0), BPF_JA_INSN(5), EXIT);
    REJECT(t, "outside the program", BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JEQ, R0, 0, -3), EXIT);
    REJECT(t, "r10 is read-only", BPF_MOV64_IMM(R10, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "r10 is read-only", BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R10, 8), EXIT);
    REJECT(t, "lddw truncated", BPF_MOV64_IMM(R0, 0), EXIT, MLOS_BPF_INSN(BPF_LD | BPF_DW | BPF_IMM, R0, 0, 0, 1));
    REJECT(t, "unbounded offset", BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_ALU64_REG(BPF_ADD, R1, R2),
           BPF_LDX_MEM(BPF_B, R0, R1, 0), EXIT);
    REJECT(t, "exit with r0 not initialised", EXIT);
    REJECT(t, "holding a context pointer", BPF_MOV64_REG(R0, R1), EXIT);
    REJECT(t, "unreachable instruction", BPF_MOV64_IMM(R0, 0), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    REJECT(t, "falls off the end", BPF_MOV64_IMM(R0, 0));
    REJECT(t, "falls off the end", BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JEQ, R0, 0, 1), EXIT, BPF_MOV64_IMM(R0, 1));
    REJECT(t, "outside the program", BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JEQ, R0, 0, 0));
    REJECT(t, "uninitialised stack at r10-8", BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    REJECT(t, "uninitialised stack at r10-8", BPF_ST_MEM(BPF_W, R10, -4, 0), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    REJECT(t, "r2 is not a pointer: cannot load", BPF_MOV64_IMM(R2, 5), BPF_LDX_MEM(BPF_B, R0, R2, 0), EXIT);
    REJECT(t, "r2 is not a pointer: cannot store", BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_ST_MEM(BPF_B, R2, 0, 0),
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(msg, "read-only", BPF_ST_MEM(BPF_W, R1, 0, 1), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "over the region pointer at ctx+64", BPF_ST_MEM(BPF_DW, R1, 64, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "over the region pointer at ctx+64", BPF_ST_MEM(BPF_B, R1, 70, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "part of the region pointer at ctx+64", BPF_LDX_MEM(BPF_W, R0, R1, 64), EXIT);
    REJECT(t, "outside its 256 bytes", BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_B, R0, R2, 256), EXIT);
    REJECT(t, "outside its 256 bytes", BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_W, R0, R2, 253), EXIT);
    REJECT(t, "outside its 256 bytes", BPF_LDX_MEM(BPF_DW, R2, R1, 8), BPF_ALU64_IMM(BPF_AND, R2, 0x1ff),
           BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 0), EXIT);
    REJECT(msg, "region 0 is read-only", BPF_LDX_MEM(BPF_DW, R2, R1, 24), BPF_ST_MEM(BPF_B, R2, 0, 0),
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "would leak it", BPF_STX_MEM(BPF_DW, R1, R1, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "would leak it", BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_STX_MEM(BPF_DW, R2, R10, 0), BPF_MOV64_IMM(R0, 0),
           EXIT);
    REJECT(t, "mul on a context pointer", BPF_ALU64_IMM(BPF_MUL, R1, 2), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "add on a context pointer", BPF_ALU32_IMM(BPF_ADD, R1, 1), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "mov on a stack pointer", BPF_MOV32_REG(R0, R10), EXIT);
    REJECT(t, "add of two pointers", BPF_MOV64_REG(R2, R10), BPF_ALU64_REG(BPF_ADD, R2, R1), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "invalid register r11", MLOS_BPF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, 11, 0, 0, 0), EXIT);
    REJECT(t, "immediate ALU op with nonzero src", MLOS_BPF_INSN(BPF_ALU64 | BPF_MOV | BPF_K, R0, 1, 0, 0), EXIT);
    REJECT(t, "register ALU op with nonzero imm", MLOS_BPF_INSN(BPF_ALU64 | BPF_ADD | BPF_X, R0, R1, 0, 3), EXIT);
    REJECT(t, "nonzero offset", MLOS_BPF_INSN(BPF_ALU64 | BPF_ADD | BPF_K, R0, 0, 1, 3), EXIT);
    REJECT(t, "unknown ALU opcode 0xe7", MLOS_BPF_INSN(0xe7, R0, 0, 0, 0), EXIT);
    REJECT(t, "byte swap needs imm 16, 32 or 64", BPF_MOV64_IMM(R0, 0), BPF_BE(R0, 8), EXIT);
    REJECT(t, "reserved opcode", BPF_MOV64_IMM(R0, 0), MLOS_BPF_INSN(BPF_ALU64 | BPF_END | BPF_X, R0, 0, 0, 16), EXIT);
    REJECT(t, "atomic operations are 4 or 8 bytes wide, not 1", BPF_ST_MEM(BPF_DW, R10, -8, 0), BPF_MOV64_IMM(R0, 1),
           MLOS_BPF_INSN(BPF_STX | BPF_ATOMIC | BPF_B, R10, R0, -8, 0), EXIT);
    REJECT(t, "legacy packet access", MLOS_BPF_INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0), EXIT);
    REJECT(t, "middle of the lddw", BPF_JA_INSN(1), BPF_LD_IMM64(R0, 1), EXIT);
    REJECT(t, "variable stack offset", BPF_ST_MEM(BPF_DW, R10, -16, 0), BPF_ST_MEM(BPF_DW, R10, -8, 0),
           BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_ALU64_IMM(BPF_AND, R3, 7), BPF_MOV64_REG(R2, R10),
           BPF_ALU64_REG(BPF_ADD, R2, R3), BPF_LDX_MEM(BPF_B, R0, R2, -16), EXIT);
    REJECT(t, "argument r1 must be a pointer", BPF_MOV64_IMM(R1, 0), BPF_MOV64_IMM(R2, 4),
           BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(t, "argument r2 is not initialised", BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(t, "size r2 is not bounded", BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(t, "outside the 512-byte frame", BPF_ST_MEM(BPF_DW, R10, -8, 0), BPF_MOV64_REG(R1, R10),
           BPF_ALU64_IMM(BPF_ADD, R1, -8), BPF_MOV64_IMM(R2, 16), BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(t, "r1 is read before it is initialised", BPF_CALL_HELPER(MLOS_BPF_HELPER_NOW_NS),
           BPF_MOV64_REG(R0, R1), EXIT);
    REJECT(t, "callx (a call through register r2) is not supported", MLOS_BPF_INSN(BPF_JMP | BPF_CALL | BPF_X, 2, 0, 0, 0),
           EXIT);
    REJECT(t, "pseudo source 1", MLOS_BPF_INSN(BPF_LD | BPF_DW | BPF_IMM, R0, 1, 0, 3), MLOS_BPF_INSN(0, 0, 0, 0, 0),
           EXIT);
    REJECT(t, "malformed exit", MLOS_BPF_INSN(BPF_JMP | BPF_EXIT, R0, 0, 0, 1));
    REJECT(t, "unknown jump opcode", BPF_MOV64_IMM(R0, 0), MLOS_BPF_INSN(BPF_JMP | 0xe0, R0, 0, 0, 0), EXIT);
    /* pointer on one path, scalar on the other: never dereferenced */
    REJECT(t, "r2 is not a pointer", BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_MOV64_REG(R2, R1),
           BPF_JMP_IMM(BPF_JEQ, R3, 0, 1), BPF_MOV64_IMM(R2, 0), BPF_LDX_MEM(BPF_B, R0, R2, 0), EXIT);
    /* uninitialised on one path only */
    REJECT(t, "r2 is read before it is initialised", BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_JMP_IMM(BPF_JEQ, R3, 0, 1),
           BPF_MOV64_IMM(R2, 0), BPF_MOV64_REG(R0, R2), EXIT);
    /* branch refinement: x <= 200 lets x + 55 index the 256-byte region, +56 does not */
    ACCEPT(t, BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JGT, R2, 200, 3),
           BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 55), EXIT);
    REJECT(t, "outside its 256 bytes", BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_MOV64_IMM(R0, 0),
           BPF_JMP_IMM(BPF_JGT, R2, 200, 3), BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2),
           BPF_LDX_MEM(BPF_B, R0, R3, 56), EXIT);
    /* le64 keeps all 64 bits: (x >> 24) is not a byte-sized index */
    REJECT(t, "unbounded offset", BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_LE(R2, 64), BPF_ALU64_IMM(BPF_RSH, R2, 24),
           BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 0), EXIT);
    ACCEPT(t, BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_LE(R2, 64), BPF_ALU64_IMM(BPF_RSH, R2, 56),
           BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2), BPF_LDX_MEM(BPF_B, R0, R3, 0), EXIT);
    /* division by a register that may be zero is fine (RFC: result 0) */
    ACCEPT(t, BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_MOV64_IMM(R0, 10), BPF_ALU64_REG(BPF_DIV, R0, R2), EXIT);
    /* length and size limits */
    {
        struct mlos_bpf_prog *p;
        char err[MLOS_BPF_ERR_MAX];
        uint8_t code[16] = {0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95};
        CHECK_EQ(mlos_bpf_load(code, 12, t, 0, &p, err, sizeof(err)), MLOS_EINVAL);
        CHECK(strstr(err, "multiple of 8") != NULL);
        uint8_t *big = calloc(MLOS_BPF_MAX_INSNS + 1, 8);
        CHECK_EQ(mlos_bpf_load(big, (MLOS_BPF_MAX_INSNS + 1) * 8, t, 0, &p, err, sizeof(err)), MLOS_ETOOBIG);
        free(big);
    }
}

static void trusted_and_checked(void)
{
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    uint64_t r0 = 0;
    int rc;
    /* sum 1..10 with a loop: a counted loop, so verified too */
    const struct mlos_bpf_insn loop[] = {BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 1), BPF_ALU64_REG(BPF_ADD, R0, R2),
                                         BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLE, R2, 10, -3), EXIT};
    CHECK_EQ(load(loop, 6, test_hook, 0, &p, err), 0);
    mlos_bpf_free(p);
    CHECK_EQ(load(loop, 6, test_hook, MLOS_BPF_TRUSTED, &p, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_FAST, 0, &r0), 0);
    CHECK_EQ(r0, 55);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 9, &r0), 0);
    CHECK_EQ(r0, 55);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 8, &r0), MLOS_ETIMEDOUT);
    CHECK_EQ(mlos_bpf_run(p, &tctx, sizeof(tctx)), 55);
    mlos_bpf_free(p);
    /* an endless loop stops on the budget in checked mode */
    CHECK_EQ(load(PROG(BPF_MOV64_IMM(R0, 0), BPF_JA_INSN(-1), EXIT), 3, test_hook, MLOS_BPF_TRUSTED, &p, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 100000, &r0), MLOS_ETIMEDOUT);
    mlos_bpf_free(p);
    /* trusted code with wild accesses: checked mode catches every one */
    const struct mlos_bpf_insn wild[][3] = {
        {BPF_LDX_MEM(BPF_DW, R0, R1, 72), EXIT, EXIT},
        {BPF_LDX_MEM(BPF_DW, R0, R10, 0), EXIT, EXIT},
        {BPF_LDX_MEM(BPF_DW, R0, R10, -520), EXIT, EXIT},
        {BPF_MOV64_IMM(R2, 4096), BPF_LDX_MEM(BPF_B, R0, R2, 0), EXIT},
        {BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_B, R0, R2, 256), EXIT},
        /* a spill and a reload run by one handler: each access is checked */
        {BPF_STX_MEM(BPF_DW, R10, R1, 0), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT},
        {BPF_STX_MEM(BPF_DW, R10, R1, -8), BPF_LDX_MEM(BPF_DW, R0, R10, 0), EXIT},
    };
    /* the region inside a bigger block: +256 is mapped but not granted */
    uint8_t *big = calloc(1, 4096);
    for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
        CHECK_EQ(load(wild[i], 3, test_hook, MLOS_BPF_TRUSTED, &p, err), 0);
        reset_ctx();
        tctx.data = (uint64_t)(uintptr_t)big;
        rc = mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 0, &r0);
        if (rc != MLOS_EACCES)
            fprintf(stderr, "wild access %zu: rc %d\n", i, rc);
        CHECK_EQ(rc, MLOS_EACCES);
        mlos_bpf_free(p);
    }
    free(big);
    /* a read-only context stays read-only in checked mode */
    struct mlos_hook_event_ctx ev = {1, 2, 3};
    CHECK_EQ(load(PROG(BPF_ST_MEM(BPF_W, R1, 0, 9), BPF_MOV64_IMM(R0, 0), EXIT), 3, mlos_hook_desc(MLOS_HOOK_EVENT),
                  MLOS_BPF_TRUSTED, &p, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(p, &ev, sizeof(ev), MLOS_BPF_RUN_CHECKED, 0, &r0), MLOS_EACCES);
    CHECK_EQ(ev.kind, 1);
    /* trusted code may not fall off the end or use unknown opcodes either */
    mlos_bpf_free(p);
    CHECK_EQ(load(PROG(BPF_MOV64_IMM(R0, 0)), 1, test_hook, MLOS_BPF_TRUSTED, &p, err), MLOS_EINVAL);
    CHECK_EQ(load(PROG(MLOS_BPF_INSN(0xff, 0, 0, 0, 0), EXIT), 2, test_hook, MLOS_BPF_TRUSTED, &p, err), MLOS_EINVAL);
}

static uint64_t native_filter(void *ctx, size_t len, void *user)
{
    const struct mlos_hook_msg_ctx *c = ctx;
    ++*(int *)user;
    return c->name_len == 5 && !memcmp((const char *)(uintptr_t)c->name, "crash", 5) ? 0 : 1;
}

static void hooks(void)
{
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    int calls = 0;

    /* defaults with empty slots */
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "echo", 4, "a", 1), MLOS_HOOK_MSG_ACCEPT);
    CHECK_EQ(mlos_hook_sched("echo", 4, 0, 0), 0);
    CHECK_EQ(mlos_hook_event(1, 0, 0), MLOS_HOOK_EVENT_NOW);
    /* a hand-written filter: drop when arg_len > 3 */
    CHECK_EQ(load(PROG(BPF_MOV64_IMM(R0, 1), BPF_LDX_MEM(BPF_W, R2, R1, 16), BPF_JMP_IMM(BPF_JLE, R2, 3, 1),
                       BPF_MOV64_IMM(R0, 0), EXIT), 5, mlos_hook_desc(MLOS_HOOK_MSG), 0, &p, err), 0);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_SCHED, p), MLOS_EINVAL); /* verified for another hook */
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_MSG, p), 0);
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "echo", 4, "abc", 3), 1);
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "echo", 4, "abcd", 4), 0);
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "bpf.load", 8, "abcd", 4), 1); /* never filtered */
    /* native extension replaces it */
    CHECK_EQ(mlos_hook_set_native(MLOS_HOOK_MSG, native_filter, &calls), 0);
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "crash", 5, NULL, 0), 0);
    CHECK_EQ(mlos_hook_msg(1, 7, "x", 1, "echo", 4, NULL, 0), 1);
    CHECK_EQ(calls, 2);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_MSG, NULL), 0);
    CHECK(!mlos_hook_installed(MLOS_HOOK_MSG));
    /* event hook: defer kind 3 */
    CHECK_EQ(load(PROG(BPF_MOV64_IMM(R0, 0), BPF_LDX_MEM(BPF_W, R2, R1, 0), BPF_JMP_IMM(BPF_JNE, R2, 3, 1),
                       BPF_MOV64_IMM(R0, MLOS_HOOK_EVENT_DEFER), EXIT), 5, mlos_hook_desc(MLOS_HOOK_EVENT), 0, &p, err), 0);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_EVENT, p), 0);
    CHECK_EQ(mlos_hook_event(3, 0, 0), MLOS_HOOK_EVENT_DEFER);
    CHECK_EQ(mlos_hook_event(4, 0, 0), MLOS_HOOK_EVENT_NOW);
    mlos_hook_set(MLOS_HOOK_EVENT, NULL);
}

/* ---- clang-built samples ---- */

static uint8_t *elf_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *img, *out = NULL;
    long size;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    img = malloc((size_t)size);
    if (fread(img, 1, (size_t)size, f) != (size_t)size || size < 64 || memcmp(img, "\177ELF\2\1", 6)) {
        fclose(f);
        free(img);
        return NULL;
    }
    fclose(f);
    uint64_t shoff;
    uint16_t shentsize, shnum, shstrndx;
    memcpy(&shoff, img + 0x28, 8);
    memcpy(&shentsize, img + 0x3a, 2);
    memcpy(&shnum, img + 0x3c, 2);
    memcpy(&shstrndx, img + 0x3e, 2);
    if (shoff + (uint64_t)shnum * shentsize > (uint64_t)size || shstrndx >= shnum)
        goto out;
    uint64_t stroff;
    memcpy(&stroff, img + shoff + (uint64_t)shstrndx * shentsize + 0x18, 8);
    for (int i = 0; i < shnum; i++) {
        const uint8_t *sh = img + shoff + (uint64_t)i * shentsize;
        uint32_t name;
        uint64_t off, sz;
        memcpy(&name, sh, 4);
        memcpy(&off, sh + 0x18, 8);
        memcpy(&sz, sh + 0x20, 8);
        const char *nm = (const char *)img + stroff + name;
        if (!strcmp(nm, ".rel.text")) { /* relocations: globals or maps, not supported */
            free(out);
            out = NULL;
            break;
        }
        if (!strcmp(nm, ".text") && off + sz <= (uint64_t)size) {
            out = malloc(sz);
            memcpy(out, img + off, sz);
            *len = sz;
        }
    }
out:
    free(img);
    return out;
}

static void sample(const char *path)
{
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    size_t len = 0;
    uint8_t *code = elf_text(path, &len);
    int is_filter = strstr(path, "filter_call") != NULL;
    int hook = is_filter ? MLOS_HOOK_MSG : MLOS_HOOK_SCHED;
    if (strstr(path, "kernel_sum"))
        hook = MLOS_HOOK_KERNEL;
    if (strstr(path, "reduce_satadd"))
        hook = MLOS_HOOK_REDUCE;

    CHECK(code != NULL);
    if (!code)
        return;
    int rc = mlos_bpf_load(code, len, mlos_hook_desc(hook), 0, &p, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", path, err);
    CHECK_EQ(rc, 0);
    free(code);
    if (rc < 0)
        return;
    printf("%s: %u insns verified\n", path, mlos_bpf_ninsns(p));
    CHECK_EQ(mlos_hook_set(hook, p), 0);
    if (hook == MLOS_HOOK_KERNEL) {
        /* kernel_sum.c: arg[0] FNV-1a, arg[1] count of arg[2], R0 the byte sum; arg[3] inverts */
        static uint8_t buf[5000];
        uint64_t arg[4] = {0, 0, 7, 0}, r0 = 0, sum = 0, same = 0;
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < sizeof(buf); i++) {
            buf[i] = (uint8_t)(i * i + 3);
            sum += buf[i], same += buf[i] == 7, h = (h ^ buf[i]) * 16777619u;
        }
        CHECK_EQ(mlos_hook_kernel(buf, sizeof(buf), 0, arg, &r0), 0);
        CHECK_EQ(r0, sum);
        CHECK_EQ(arg[0], h);
        CHECK_EQ(arg[1], same);
        arg[3] = 1;
        CHECK_EQ(mlos_hook_kernel(buf, sizeof(buf), 0, arg, &r0), MLOS_EACCES); /* read-only grant */
        CHECK_EQ(buf[0], 3);
        CHECK_EQ(mlos_hook_kernel(buf, sizeof(buf), 1, arg, &r0), 0);
        CHECK_EQ(buf[0], (uint8_t)~3);
    } else if (hook == MLOS_HOOK_REDUCE) {
        /* reduce_satadd.c over 4 vectors of 1000 u32 */
        static uint32_t v[4][1000], out[1000];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 1000; j++)
                v[i][j] = j % 3 ? (uint32_t)(j * 1000003u + i) : 0xc0000000u;
        CHECK_EQ(mlos_hook_reduce_local(out, v, 4, 1000, 4, 0), 0);
        int bad = 0;
        for (int j = 0; j < 1000; j++) {
            uint64_t s = 0;
            for (int i = 0; i < 4; i++)
                s += v[i][j];
            bad += out[j] != (s > 0xffffffffu ? 0xffffffffu : s);
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(mlos_hook_reduce(out, v[1], 10, 8, 0), MLOS_EINVAL); /* elem_size 8: refused */
    } else if (strstr(path, "sched_deadline")) {
        CHECK_EQ(mlos_hook_sched("job.5", 5, 0, 0), 995);
        CHECK_EQ(mlos_hook_sched("a.b.120", 7, 0, 40), 880);
        CHECK_EQ(mlos_hook_sched("job.1234", 8, 0, 40), -2);
        CHECK_EQ(mlos_hook_sched("job.", 4, 0, 0), 0);
        CHECK_EQ(mlos_hook_sched("echo", 4, 0, 33), -2);
    } else if (is_filter) {
        CHECK_EQ(mlos_hook_msg(2, 1, "", 0, "crash", 5, NULL, 0), MLOS_HOOK_MSG_DROP); /* 2: CALL */
        CHECK_EQ(mlos_hook_msg(2, 1, "", 0, "echo", 4, NULL, 0), MLOS_HOOK_MSG_ACCEPT);
        CHECK_EQ(mlos_hook_msg(2, 1, "", 0, "crash2", 6, NULL, 0), MLOS_HOOK_MSG_ACCEPT);
        CHECK_EQ(mlos_hook_msg(3, 1, "", 0, "crash", 5, NULL, 0), MLOS_HOOK_MSG_ACCEPT); /* not a CALL */
    } else {
        /* priority.c: "sum_u64" urgent (100), big args low (-10), else 10 - queue length */
        CHECK_EQ(mlos_hook_sched("sum_u64", 7, 16, 3), 100);
        CHECK_EQ(mlos_hook_sched("echo", 4, 1 << 20, 0), -10);
        CHECK_EQ(mlos_hook_sched("echo", 4, 10, 4), 6);
    }
    mlos_hook_set(hook, NULL);
}

int main(int argc, char **argv)
{
    mlos_bpf_set_allocator(malloc, free);
    test_hook = mlos_hook_desc(MLOS_HOOK_TEST);
    alu64();
    alu32();
    byteswap();
    jumps();
    fused();
    fused_random();
    fused_kernel_compares();
    memory();
    helpers();
    rejects();
    trusted_and_checked();
    hooks();
    for (int i = 1; i < argc; i++)
        sample(argv[i]);
    CHECK_DONE();
}
