/* Bounded loops in verified programs: the counted shapes compilers emit
 * for `for (i = 0; i < N; i++)` (jlt/jle/jne at the bottom, 64- and 32-bit,
 * constant or loop-invariant bounds, nested, with breaks, in local
 * functions) are accepted and run the same verified and trusted; loops the
 * verifier cannot prove finite are refused with a message naming them.
 */
#include "bpf_check.h"

#define LDX_DATA(r) BPF_LDX_MEM(BPF_DW, r, R1, 64) /* r = the 256-byte region */

static void accepted(void)
{
    /* sum of 0..9: jlt, jle and jne forms */
    EXPECT(45, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 10, -3), EXIT);
    EXPECT(45, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLE, R2, 9, -3), EXIT);
    EXPECT(45, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JNE, R2, 10, -3), EXIT);
    /* "if K > i" (jgt/jge with the counter on the right, as older targets emit) */
    EXPECT(45, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R3, 10), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_REG(BPF_JGT, R3, R2, -3), EXIT);
    EXPECT(45, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R3, 9), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_REG(BPF_JGE, R3, R2, -3), EXIT);
    /* 32-bit counter and compare (clang's w registers) */
    EXPECT(100, BPF_MOV32_IMM(R0, 0), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP32_IMM(BPF_JLT, R0, 100, -2), EXIT);
    EXPECT(100, BPF_MOV32_IMM(R0, 0), BPF_ALU32_IMM(BPF_ADD, R0, 1), BPF_JMP32_IMM(BPF_JNE, R0, 100, -2), EXIT);
    /* a step of 3 against a constant bound */
    EXPECT(102, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 3), BPF_JMP_IMM(BPF_JLT, R0, 100, -2), EXIT);
    /* the body reads the region at the counter: data[i] = i, sum over i < n, n = w[0] & 0xff = 0x11 */
    EXPECT(136, BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_ALU64_IMM(BPF_AND, R3, 0xff), LDX_DATA(R4), BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_JMP_IMM(BPF_JEQ, R3, 0, 6), /* loop: */ BPF_MOV64_REG(R5, R4),
           BPF_ALU64_REG(BPF_ADD, R5, R2), BPF_LDX_MEM(BPF_B, R5, R5, 0), BPF_ALU64_REG(BPF_ADD, R0, R5),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_REG(BPF_JLT, R2, R3, -6), EXIT);
    /* words: count elements, scale to bytes (i * 4 < 256) */
    uint64_t words = 0;
    for (int i = 0; i < 64; i++)
        words += (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 | (uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
    EXPECT(words, BPF_MOV64_IMM(R0, 0), LDX_DATA(R4),
           BPF_MOV64_IMM(R2, 0), /* loop: */ BPF_MOV64_REG(R5, R2), BPF_ALU64_IMM(BPF_LSH, R5, 2),
           BPF_ALU64_REG(BPF_ADD, R5, R4), BPF_LDX_MEM(BPF_W, R5, R5, 0), BPF_ALU64_REG(BPF_ADD, R0, R5),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 64, -7), EXIT);
    /* nested: 4 x 5 */
    EXPECT(20, BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), /* outer: */ BPF_MOV64_IMM(R3, 0),
           /* inner: */ BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_ALU64_IMM(BPF_ADD, R3, 1), BPF_JMP_IMM(BPF_JLT, R3, 5, -3),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 4, -6), EXIT);
    /* a break: the first i with data[i] == 7 */
    EXPECT(7, LDX_DATA(R4), BPF_MOV64_IMM(R0, 0), /* loop: */ BPF_MOV64_REG(R5, R4), BPF_ALU64_REG(BPF_ADD, R5, R0),
           BPF_LDX_MEM(BPF_B, R5, R5, 0), BPF_JMP_IMM(BPF_JEQ, R5, 7, 2), BPF_ALU64_IMM(BPF_ADD, R0, 1),
           BPF_JMP_IMM(BPF_JLT, R0, 200, -6), EXIT);
    /* the loop in a local function, called twice */
    EXPECT(45 + 10, BPF_MOV64_IMM(R1, 10), BPF_CALL_LOCAL(5), BPF_MOV64_REG(R6, R0), BPF_MOV64_IMM(R1, 5),
           BPF_CALL_LOCAL(2), BPF_ALU64_REG(BPF_ADD, R0, R6), EXIT,
           /* f(n) = sum of i < n, n <= 16 */ BPF_ALU64_IMM(BPF_AND, R1, 15), BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_JMP_IMM(BPF_JEQ, R1, 0, 3), BPF_ALU64_REG(BPF_ADD, R0, R2),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_REG(BPF_JLT, R2, R1, -3), EXIT);
    /* after the loop the counter is known: i == 16 here, so it indexes the region */
    EXPECT(16, LDX_DATA(R4), BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 16, -2),
           BPF_ALU64_REG(BPF_ADD, R4, R2), BPF_LDX_MEM(BPF_B, R0, R4, 0), EXIT);
}

static void refused(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST);
    REJECT(t, "insn 4: loop at insn 2: cannot prove it ends: its counter r2 is written at insns 2 and 3",
           BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_ALU64_IMM(BPF_ADD, R2, 1),
           BPF_JMP_IMM(BPF_JLT, R2, 10, -3), EXIT);
    REJECT(t, "insn 4: loop at insn 3: cannot prove it ends: its counter r2 changes at insn 3 by other than a 64-bit add",
           BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R3, 1), BPF_ALU64_REG(BPF_ADD, R2, R3),
           BPF_JMP_IMM(BPF_JLT, R2, 10, -2), EXIT);
    REJECT(t, "insn 3: loop at insn 2: cannot prove it ends: jne needs a counter that steps by 1",
           BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 2), BPF_JMP_IMM(BPF_JNE, R2, 9, -2),
           EXIT);
    REJECT(t, "insn 3: loop at insn 2: cannot prove it ends: its back-edge is a jgt", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 10), BPF_ALU64_IMM(BPF_ADD, R2, -1), BPF_JMP_IMM(BPF_JGT, R2, 0, -2), EXIT);
    REJECT(t, "insn 5: loop at insn 2: cannot prove it ends: the step of r2 at insn 4 is jumped over from insn 3",
           BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R0, 0),
           BPF_JMP_IMM(BPF_JEQ, R3, 0, 1), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 10, -4), EXIT);
    REJECT(t, "insn 4: loop at insn 3: cannot prove it ends: it may run", BPF_LDX_MEM(BPF_DW, R3, R1, 0),
           BPF_MOV64_IMM(R2, 0), BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1),
           BPF_JMP_REG(BPF_JLT, R2, R3, -2), EXIT);
    REJECT(t, "insn 3: loop at insn 2: cannot prove it ends: r2 + 1 may wrap around", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLE, R2, -1, -2), EXIT);
    REJECT(t, "loop at insn 2: cannot prove it ends: its counter r2 does not change in the loop", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JLT, R2, 5, -2), EXIT);
    REJECT(t, "insn 4: loop at insn 2 has a second back-edge (the first is at insn 3)", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 5, -2),
           BPF_JMP_IMM(BPF_JLT, R2, 9, -3), EXIT);
    REJECT(t, "overlaps the loop at insn 2 without nesting in it", BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_JMP_IMM(BPF_JLT, R2, 5, -3),
           BPF_JMP_IMM(BPF_JLT, R0, 9, -3), EXIT);
    REJECT(t, "insn 1: jump to insn 3 enters the loop at insn 2 in the middle", BPF_MOV64_IMM(R2, 0),
           BPF_JA_INSN(1), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLT, R2, 5, -2), BPF_MOV64_IMM(R0, 0), EXIT);
    /* ... and not backward from after it either (found by fuzzing: the state
     * arriving there was never checked) */
    REJECT(t, "insn 6: jump to insn 4 enters the loop at insn 2 in the middle", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_IMM(R2, 0), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JEQ, R2, 3, 1), BPF_JA_INSN(2),
           BPF_JMP_IMM(BPF_JLT, R2, 5, -4), BPF_JA_INSN(-3), BPF_MOV64_IMM(R0, 0), EXIT);
    /* the loop is fine, the body is not: i reaches 256 */
    REJECT(t, "outside its 256 bytes", LDX_DATA(R4), BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0),
           BPF_MOV64_REG(R5, R4), BPF_ALU64_REG(BPF_ADD, R5, R2), BPF_LDX_MEM(BPF_B, R5, R5, 0),
           BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_IMM(BPF_JLE, R2, 256, -5), EXIT);
    /* a pointer walked by the loop becomes unbounded: no dereference */
    REJECT(t, "unbounded offset", LDX_DATA(R4), BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R2, 0),
           BPF_LDX_MEM(BPF_B, R5, R4, 0), BPF_ALU64_IMM(BPF_ADD, R4, 1), BPF_ALU64_IMM(BPF_ADD, R2, 1),
           BPF_JMP_IMM(BPF_JLT, R2, 16, -4), EXIT);
}

static void budgets(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST);
    struct mlos_bpf_prog *p;
    char err[MLOS_BPF_ERR_MAX];
    uint64_t r0 = 0;
    /* 1000 trips: a checked run with too small a budget stops */
    const struct mlos_bpf_insn loop[] = {BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1),
                                         BPF_JMP_IMM(BPF_JLT, R0, 1000, -2), EXIT};
    CHECK_EQ(load(loop, 4, t, 0, &p, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 999, &r0), 0);
    CHECK_EQ(r0, 1000);
    CHECK_EQ(mlos_bpf_run_ex(p, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 998, &r0), MLOS_ETIMEDOUT);
    mlos_bpf_free(p);
}

int main(void)
{
    mlos_bpf_set_allocator(malloc, free);
    accepted();
    refused();
    budgets();
    CHECK_DONE();
}
