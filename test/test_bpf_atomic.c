/* RFC 9669 atomic class: add/or/and/xor with and without FETCH, xchg and
 * cmpxchg, 32 and 64 bit, on the stack, the context and a region, run
 * verified (fast and checked) and trusted; the verifier's rules for them.
 */
#include "bpf_check.h"

#define AT(sz, op, d, s, o) BPF_ATOMIC_OP(sz, op, d, s, o)
#define FETCH BPF_FETCH
/* [r10-8] = 64-bit m; r1 = operand v; op; then the tail picks the result */
#define SETUP(m, v) BPF_LD_IMM64(R2, m), BPF_STX_MEM(BPF_DW, R10, R2, -8), BPF_LD_IMM64(R1, v)
#define MEM64 BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT
#define SRC BPF_MOV64_REG(R0, R1), EXIT

static void arith(void)
{
    /* 64-bit, memory result, without and with FETCH (same memory effect) */
    EXPECT(0x100000000ull, SETUP(0xffffffffull, 1), AT(BPF_DW, BPF_ADD, R10, R1, -8), MEM64);
    EXPECT(0x100000000ull, SETUP(0xffffffffull, 1), AT(BPF_DW, BPF_ADD | FETCH, R10, R1, -8), MEM64);
    EXPECT(0, SETUP(UINT64_MAX, 1), AT(BPF_DW, BPF_ADD, R10, R1, -8), MEM64); /* wraps */
    EXPECT(0xf0f0ull | 0x0f0f, SETUP(0xf0f0, 0x0f0f), AT(BPF_DW, BPF_OR, R10, R1, -8), MEM64);
    EXPECT(0x8000000000000001ull, SETUP(0x8000000000000001ull, 0), AT(BPF_DW, BPF_OR | FETCH, R10, R1, -8), MEM64);
    EXPECT(0x00f0, SETUP(0xfff0, 0x00ff), AT(BPF_DW, BPF_AND, R10, R1, -8), MEM64);
    EXPECT(0, SETUP(UINT64_MAX, 0), AT(BPF_DW, BPF_AND | FETCH, R10, R1, -8), MEM64);
    EXPECT(0xff00ff00ff00ff00ull, SETUP(UINT64_MAX, 0x00ff00ff00ff00ffull), AT(BPF_DW, BPF_XOR, R10, R1, -8), MEM64);
    EXPECT(0, SETUP(0x1234, 0x1234), AT(BPF_DW, BPF_XOR | FETCH, R10, R1, -8), MEM64);
    /* FETCH returns the old value in src; without FETCH src is unchanged */
    EXPECT(0xffffffffull, SETUP(0xffffffffull, 1), AT(BPF_DW, BPF_ADD | FETCH, R10, R1, -8), SRC);
    EXPECT(1, SETUP(0xffffffffull, 1), AT(BPF_DW, BPF_ADD, R10, R1, -8), SRC);
    EXPECT(0xfff0, SETUP(0xfff0, 0xff), AT(BPF_DW, BPF_AND | FETCH, R10, R1, -8), SRC);
    EXPECT(0xf0, SETUP(0xf0, 0x0f), AT(BPF_DW, BPF_OR | FETCH, R10, R1, -8), SRC);
    EXPECT(UINT64_MAX, SETUP(UINT64_MAX, 1), AT(BPF_DW, BPF_XOR | FETCH, R10, R1, -8), SRC);

    /* 32-bit: the low word only, no carry out, FETCH zero-extends */
    EXPECT(0x1111111100000000ull, SETUP(0x11111111ffffffffull, 1), AT(BPF_W, BPF_ADD, R10, R1, -8), MEM64);
    EXPECT(0x11111111ffffffffull, SETUP(0x11111111fffffffeull, 1), AT(BPF_W, BPF_ADD | FETCH, R10, R1, -8), MEM64);
    EXPECT(0xfffffffeull, SETUP(0x11111111fffffffeull, 1), AT(BPF_W, BPF_ADD | FETCH, R10, R1, -8), SRC);
    EXPECT(0x80000000ull, SETUP(0x80000000ull, UINT64_MAX), AT(BPF_W, BPF_OR | FETCH, R10, R1, -8), SRC);
    EXPECT(0x22222222ffffffffull, SETUP(0x2222222280000000ull, UINT64_MAX), AT(BPF_W, BPF_OR, R10, R1, -8), MEM64);
    EXPECT(0x3333333300000001ull, SETUP(0x33333333ffffffffull, 0xffffffff00000001ull), AT(BPF_W, BPF_AND, R10, R1, -8),
           MEM64);
    EXPECT(0xffffffffull, SETUP(0x33333333ffffffffull, 1), AT(BPF_W, BPF_AND | FETCH, R10, R1, -8), SRC);
    EXPECT(0x44444444ffff0000ull, SETUP(0x444444440000ffffull, 0xffffffffull), AT(BPF_W, BPF_XOR, R10, R1, -8), MEM64);
    EXPECT(0x0000ffffull, SETUP(0x444444440000ffffull, 0), AT(BPF_W, BPF_XOR | FETCH, R10, R1, -8), SRC);
    /* the upper word of the slot as a 32-bit operand at r10-4 */
    EXPECT(0x12345678ull << 32 | 5, SETUP(0x12345677ull << 32 | 5, 1), AT(BPF_W, BPF_ADD, R10, R1, -4), MEM64);
}

static void exchange(void)
{
    /* xchg: memory gets src, src gets the old value */
    EXPECT(0xabcdef0123456789ull, SETUP(1, 0xabcdef0123456789ull), AT(BPF_DW, BPF_XCHG, R10, R1, -8), MEM64);
    EXPECT(1, SETUP(1, 0xabcdef0123456789ull), AT(BPF_DW, BPF_XCHG, R10, R1, -8), SRC);
    EXPECT(0x5555555523456789ull, SETUP(0x5555555500000001ull, 0xabcdef0123456789ull), AT(BPF_W, BPF_XCHG, R10, R1, -8),
           MEM64);
    EXPECT(0x00000001ull, SETUP(0x5555555500000001ull, 0xabcdef0123456789ull), AT(BPF_W, BPF_XCHG, R10, R1, -8), SRC);
    EXPECT(0xfffffffful, SETUP(0x55555555ffffffffull, 0), AT(BPF_W, BPF_XCHG, R10, R1, -8), SRC);

    /* cmpxchg: R0 compared with memory; equal stores src; R0 = old always */
#define CMPX(sz, m, v, r0) SETUP(m, v), BPF_LD_IMM64(R0, r0), AT(sz, BPF_CMPXCHG, R10, R1, -8)
    EXPECT(7, CMPX(BPF_DW, 5, 7, 5), MEM64);                         /* equal: stored */
    EXPECT(5, CMPX(BPF_DW, 5, 7, 5), EXIT);                          /* R0 = old */
    EXPECT(5, CMPX(BPF_DW, 5, 7, 6), MEM64);                         /* different: unchanged */
    EXPECT(5, CMPX(BPF_DW, 5, 7, 6), EXIT);                          /* R0 = old */
    EXPECT(7, CMPX(BPF_DW, 5, 7, 6), BPF_MOV64_REG(R0, R1), EXIT);   /* src never changes */
    EXPECT(5, CMPX(BPF_DW, 5, 7, 0x100000005ull), MEM64);            /* all 64 bits compared */
    /* 32-bit: only the low halves are compared, R0 gets the old word zero-extended */
    EXPECT(0x6666666600000007ull, CMPX(BPF_W, 0x6666666600000005ull, 7, 0xdead00000005ull), MEM64);
    EXPECT(5, CMPX(BPF_W, 0x6666666600000005ull, 7, 0xdead00000005ull), EXIT);
    EXPECT(0x6666666600000005ull, CMPX(BPF_W, 0x6666666600000005ull, 7, 4), MEM64);
    EXPECT(0xfffffffful, CMPX(BPF_W, 0x66666666ffffffffull, 7, 4), EXIT);
#undef CMPX
}

static void places(void)
{
    /* the context (writable at the test hook): w[1] = 0x2222...; add 1 with fetch */
    EXPECT(0x2222222222222223ull, BPF_MOV64_IMM(R2, 1), AT(BPF_DW, BPF_ADD | FETCH, R1, R2, 8),
           BPF_LDX_MEM(BPF_DW, R0, R1, 8), EXIT);
    EXPECT(0x2222222222222222ull, BPF_MOV64_IMM(R2, 1), AT(BPF_DW, BPF_ADD | FETCH, R1, R2, 8), BPF_MOV64_REG(R0, R2),
           EXIT);
    /* the region: data[4..7] = 04 05 06 07 (le32 0x07060504) */
    EXPECT(0x07060504, BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_MOV64_IMM(R2, 0), AT(BPF_W, BPF_OR | FETCH, R3, R2, 4),
           BPF_MOV64_REG(R0, R2), EXIT);
    EXPECT(0x07060505, BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_MOV64_IMM(R2, 1), AT(BPF_W, BPF_ADD, R3, R2, 4),
           BPF_LDX_MEM(BPF_W, R0, R3, 4), EXIT);
    /* a misaligned operand still gives the same result (a plain read-modify-write) */
    EXPECT(0x06050404, BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_MOV64_IMM(R2, 1), AT(BPF_W, BPF_ADD, R3, R2, 3),
           BPF_LDX_MEM(BPF_W, R0, R3, 3), EXIT);
    /* the fetched value is a bounded number: it can index the region */
    EXPECT(0x10, BPF_ST_MEM(BPF_W, R10, -4, 0x10), BPF_MOV64_IMM(R2, 0), AT(BPF_W, BPF_ADD | FETCH, R10, R2, -4),
           BPF_ALU64_IMM(BPF_AND, R2, 0xff), BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_ALU64_REG(BPF_ADD, R3, R2),
           BPF_LDX_MEM(BPF_B, R0, R3, 0), EXIT);
}

static void rules(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST), *msg = mlos_hook_desc(MLOS_HOOK_MSG);
    REJECT(t, "insn 1: atomic operations are 4 or 8 bytes wide, not 2", BPF_MOV64_IMM(R0, 0),
           MLOS_BPF_INSN(BPF_STX | BPF_ATOMIC | BPF_H, R10, R0, -8, BPF_ADD), EXIT);
    REJECT(t, "insn 1: unknown atomic operation imm 0x10", BPF_MOV64_IMM(R0, 0), AT(BPF_DW, BPF_SUB, R10, R0, -8), EXIT);
    REJECT(t, "insn 1: unknown atomic operation imm 0xe0", BPF_MOV64_IMM(R0, 0), AT(BPF_DW, 0xe0, R10, R0, -8), EXIT);
    REJECT(t, "insn 1: cannot load uninitialised stack at r10-8", BPF_MOV64_IMM(R0, 0),
           AT(BPF_DW, BPF_ADD, R10, R0, -8), EXIT);
    REJECT(t, "insn 2: atomic operation with pointer r1 as operand would leak it", BPF_ST_MEM(BPF_DW, R10, -8, 0),
           BPF_MOV64_IMM(R0, 0), AT(BPF_DW, BPF_ADD, R10, R1, -8), EXIT);
    REJECT(t, "insn 3: atomic operation with pointer r0 as operand", BPF_ST_MEM(BPF_DW, R10, -8, 0),
           BPF_MOV64_REG(R0, R10), BPF_MOV64_IMM(R2, 0), AT(BPF_DW, BPF_CMPXCHG, R10, R2, -8), EXIT);
    REJECT(t, "insn 2: atomic operation on the pointer spilled at r10-8", BPF_STX_MEM(BPF_DW, R10, R1, -8),
           BPF_MOV64_IMM(R2, 0), AT(BPF_DW, BPF_OR | FETCH, R10, R2, -8), BPF_MOV64_REG(R0, R2), EXIT);
    REJECT(t, "insn 2: atomic operation on the pointer spilled at r10-8", BPF_STX_MEM(BPF_DW, R10, R1, -8),
           BPF_MOV64_IMM(R2, 0), AT(BPF_W, BPF_ADD, R10, R2, -4), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "insn 2: cannot load uninitialised stack at r10-8", BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R0, 0),
           AT(BPF_DW, BPF_CMPXCHG, R10, R2, -8), EXIT);
    REJECT(t, "insn 2: r0 is read before it is initialised", BPF_ST_MEM(BPF_DW, R10, -8, 0), BPF_MOV64_IMM(R2, 0),
           AT(BPF_DW, BPF_CMPXCHG, R10, R2, -8), EXIT);
    REJECT(t, "insn 1: atomic operation with pointer r10 as operand", BPF_ST_MEM(BPF_DW, R10, -8, 0), AT(BPF_DW, BPF_ADD | FETCH, R10, R10, -8),
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "over the region pointer at ctx+64", BPF_MOV64_IMM(R2, 0), AT(BPF_DW, BPF_ADD, R1, R2, 64),
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(msg, "the context of hook 'msg' is read-only", BPF_MOV64_IMM(R2, 0), AT(BPF_W, BPF_ADD, R1, R2, 0),
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(msg, "region 0 is read-only", BPF_LDX_MEM(BPF_DW, R3, R1, 24), BPF_MOV64_IMM(R2, 0),
           AT(BPF_W, BPF_ADD, R3, R2, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "outside its 256 bytes", BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_MOV64_IMM(R2, 0),
           AT(BPF_DW, BPF_ADD, R3, R2, 252), BPF_MOV64_IMM(R0, 0), EXIT);
    /* checked mode catches trusted code's atomics outside the ranges and on read-only memory */
    {
        struct mlos_bpf_prog *p;
        char err[MLOS_BPF_ERR_MAX];
        uint64_t r0;
        struct mlos_hook_event_ctx ev = {1, 2, 3};
        CHECK_EQ(load(PROG(BPF_LDX_MEM(BPF_DW, R3, R1, 64), BPF_MOV64_IMM(R2, 0), AT(BPF_DW, BPF_ADD, R3, R2, 256),
                           BPF_MOV64_IMM(R0, 0), EXIT), 5, t, MLOS_BPF_TRUSTED, &p, err), 0);
        uint8_t *big = calloc(1, 4096); /* mapped past the region's 256 bytes, but not granted */
        reset_ctx();
        mlos_put_le64((uint8_t *)&tctx.data, (uint64_t)(uintptr_t)big);
        CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 0, &r0), MLOS_EACCES);
        CHECK_EQ(big[256], 0);
        free(big);
        mlos_bpf_free(p);
        CHECK_EQ(load(PROG(BPF_MOV64_IMM(R2, 1), AT(BPF_W, BPF_XCHG, R1, R2, 0), BPF_MOV64_IMM(R0, 0), EXIT), 4,
                      mlos_hook_desc(MLOS_HOOK_EVENT), MLOS_BPF_TRUSTED, &p, err), 0);
        CHECK_EQ(mlos_bpf_run_ex(p, &ev, sizeof(ev), MLOS_BPF_RUN_CHECKED, 0, &r0), MLOS_EACCES);
        CHECK_EQ(ev.kind, 1);
        mlos_bpf_free(p);
    }
}

int main(void)
{
    mlos_bpf_set_allocator(malloc, free);
    arith();
    exchange();
    places();
    rules();
    CHECK_DONE();
}
