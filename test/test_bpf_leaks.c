/* Address-leak regressions for the eBPF verifier.
 *
 * The verifier promises that no verified program can turn a host address
 * into a number it returns, stores or feeds to a helper. Each program
 * below tried to, through a different hole; each must be refused, with a
 * message naming the instruction. The ALLOW cases next to them are the
 * legitimate uses of the same features, which must still pass.
 */
#include "bpf_check.h"

#define H_HASH32 BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32)
#define H_MEMEQ BPF_CALL_HELPER(MLOS_BPF_HELPER_MEMEQ)
#define H_TRACE BPF_CALL_HELPER(MLOS_BPF_HELPER_TRACE)
#define SPILL_R10 BPF_STX_MEM(BPF_DW, R10, R10, -8) /* the frame pointer, spilled to r10-8 */

static void spills(const struct mlos_bpf_hook_desc *t)
{
    /* partial and misaligned reads of a spilled pointer */
    REJECT(t, "insn 1: 4-byte read of part of the pointer spilled at r10-8", SPILL_R10,
           BPF_LDX_MEM(BPF_W, R0, R10, -8), EXIT);
    REJECT(t, "insn 1: 4-byte read of part of the pointer spilled at r10-8", SPILL_R10,
           BPF_LDX_MEM(BPF_W, R0, R10, -4), EXIT);
    REJECT(t, "insn 1: 1-byte read of part of the pointer spilled at r10-8", SPILL_R10,
           BPF_LDX_MEM(BPF_B, R0, R10, -3), EXIT);
    REJECT(t, "insn 1: 2-byte read of part of the pointer spilled at r10-8", SPILL_R10,
           BPF_LDX_MEMSX(BPF_H, R0, R10, -6), EXIT);
    REJECT(t, "insn 2: 8-byte read of part of the pointer spilled at r10-16", BPF_ST_MEM(BPF_DW, R10, -8, 0),
           BPF_STX_MEM(BPF_DW, R10, R1, -16), BPF_LDX_MEM(BPF_DW, R0, R10, -12), EXIT);
    /* pointers stored narrower than 8 bytes or off an 8-byte slot */
    REJECT(t, "insn 0: a pointer (r10) may only be spilled as a whole aligned 8-byte slot",
           BPF_STX_MEM(BPF_W, R10, R10, -8), BPF_LDX_MEM(BPF_W, R0, R10, -8), EXIT);
    REJECT(t, "insn 0: a pointer (r1) may only be spilled as a whole aligned 8-byte slot",
           BPF_STX_MEM(BPF_DW, R10, R1, -12), BPF_LDX_MEM(BPF_DW, R0, R10, -12), EXIT);
    /* a partial overwrite must not free the rest of the pointer's bytes */
    REJECT(t, "insn 2: cannot load uninitialised stack at r10-7", SPILL_R10, BPF_ST_MEM(BPF_B, R10, -8, 0),
           BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    REJECT(t, "insn 2: cannot load uninitialised stack at r10-4", SPILL_R10, BPF_ST_MEM(BPF_W, R10, -8, 0),
           BPF_LDX_MEM(BPF_W, R0, R10, -4), EXIT);
    /* allowed: whole-slot spill and fill, and overwriting the slot completely */
    EXPECT(0x1111111111111111ull, BPF_STX_MEM(BPF_DW, R10, R1, -8), BPF_LDX_MEM(BPF_DW, R2, R10, -8),
           BPF_LDX_MEM(BPF_DW, R0, R2, 0), EXIT);
    EXPECT(7, SPILL_R10, BPF_ST_MEM(BPF_DW, R10, -8, 7), BPF_LDX_MEM(BPF_W, R0, R10, -8), EXIT);
    EXPECT(0x0201, SPILL_R10, BPF_ST_MEM(BPF_W, R10, -8, 0x0201), BPF_ST_MEM(BPF_W, R10, -4, 0),
           BPF_LDX_MEM(BPF_H, R0, R10, -8), EXIT);
}

static void joins(const struct mlos_bpf_hook_desc *t)
{
    /* r0 is the frame pointer on one path and 0 on the other */
    REJECT(t, "insn 4: r0 holds a pointer on some paths into here", BPF_LDX_MEM(BPF_DW, R2, R1, 0),
           BPF_MOV64_REG(R0, R10), BPF_JMP_IMM(BPF_JNE, R2, 0, 1), BPF_MOV64_IMM(R0, 0), EXIT);
    /* ... then used as a number */
    REJECT(t, "insn 4: r2 holds a pointer on some paths into here", BPF_LDX_MEM(BPF_DW, R3, R1, 0),
           BPF_MOV64_REG(R2, R1), BPF_JMP_IMM(BPF_JEQ, R3, 0, 1), BPF_MOV64_IMM(R2, 5),
           BPF_MOV64_REG(R0, R2), BPF_ALU64_IMM(BPF_RSH, R0, 12), EXIT);
    /* pointers of two kinds meeting */
    REJECT(t, "insn 4: r2 holds a pointer on some paths into here", BPF_LDX_MEM(BPF_DW, R3, R1, 0),
           BPF_MOV64_REG(R2, R1), BPF_JMP_IMM(BPF_JEQ, R3, 0, 1), BPF_MOV64_REG(R2, R10),
           BPF_ALU64_IMM(BPF_AND, R2, 0xfff), BPF_MOV64_REG(R0, R2), EXIT);
    /* a stack slot that holds a spilled pointer on one path and a number on the other */
    REJECT(t, "insn 5: r0 holds a pointer on some paths into here", BPF_LDX_MEM(BPF_DW, R3, R1, 0), SPILL_R10,
           BPF_JMP_IMM(BPF_JEQ, R3, 0, 1), BPF_ST_MEM(BPF_DW, R10, -8, 0), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    /* ... where the number was written bytewise (no spill record) */
    REJECT(t, "insn 7: 4-byte read of part of the pointer spilled at r10-8", BPF_LDX_MEM(BPF_DW, R3, R1, 0), SPILL_R10,
           BPF_JMP_IMM(BPF_JEQ, R3, 0, 2), BPF_ST_MEM(BPF_W, R10, -8, 0), BPF_ST_MEM(BPF_W, R10, -4, 0),
           BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 0), BPF_LDX_MEM(BPF_W, R0, R10, -4), EXIT);
    /* allowed: two paths with the same kind of pointer stay a pointer */
    EXPECT(0x22, BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_JMP_IMM(BPF_JEQ, R3, 0, 1),
           BPF_ALU64_IMM(BPF_ADD, R2, 0x22), BPF_LDX_MEM(BPF_B, R0, R2, 0), EXIT);
    /* allowed: a pointer-or-number register that is overwritten before any use */
    EXPECT(3, BPF_LDX_MEM(BPF_DW, R3, R1, 0), BPF_MOV64_REG(R2, R1), BPF_JMP_IMM(BPF_JEQ, R3, 0, 1),
           BPF_MOV64_IMM(R2, 5), BPF_MOV64_IMM(R2, 3), BPF_MOV64_REG(R0, R2), EXIT);
}

static void helper_reads(const struct mlos_bpf_hook_desc *t)
{
    REJECT(t, "insn 4: helper hash32 would read the pointer spilled at r10-8", SPILL_R10, BPF_MOV64_REG(R1, R10),
           BPF_ALU64_IMM(BPF_ADD, R1, -8), BPF_MOV64_IMM(R2, 8), H_HASH32, EXIT);
    REJECT(t, "insn 4: helper hash32 would read the pointer spilled at r10-8", SPILL_R10, BPF_MOV64_REG(R1, R10),
           BPF_ALU64_IMM(BPF_ADD, R1, -6), BPF_MOV64_IMM(R2, 1), H_HASH32, EXIT);
    /* memeq against a guess tells the guess right or wrong */
    REJECT(t, "insn 7: helper memeq would read the pointer spilled at r10-16", BPF_STX_MEM(BPF_DW, R10, R1, -16),
           BPF_ST_MEM(BPF_DW, R10, -8, 0x1000), BPF_MOV64_REG(R1, R10), BPF_ALU64_IMM(BPF_ADD, R1, -8),
           BPF_MOV64_REG(R2, R10), BPF_ALU64_IMM(BPF_ADD, R2, -16), BPF_MOV64_IMM(R3, 8), H_MEMEQ, EXIT);
    REJECT(t, "insn 4: helper trace would read the pointer spilled at r10-8", SPILL_R10, BPF_MOV64_REG(R1, R10),
           BPF_ALU64_IMM(BPF_ADD, R1, -8), BPF_MOV64_IMM(R2, 8), H_TRACE, EXIT);
    /* hashing the region pointer inside the context */
    REJECT(t, "insn 2: cannot pass memory part of the region pointer at ctx+64", BPF_MOV64_IMM(R2, 72),
           BPF_MOV64_IMM(R0, 0), H_HASH32, EXIT);
    /* allowed: a scalar slot beside the pointer slot */
    EXPECT(0x1a47e90b, SPILL_R10, BPF_MOV64_IMM(R1, 0x636261), BPF_STX_MEM(BPF_W, R10, R1, -12),
           BPF_MOV64_REG(R1, R10), BPF_ALU64_IMM(BPF_ADD, R1, -12), BPF_MOV64_IMM(R2, 3), H_HASH32, EXIT);
}

static void compares(const struct mlos_bpf_hook_desc *t)
{
    /* a bit of the frame pointer */
    REJECT(t, "insn 1: jset on a stack pointer (r10) would reveal address bits", BPF_MOV64_IMM(R0, 0),
           BPF_JMP_IMM(BPF_JSET, R10, 0x1000, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* ordering against a number: binary search on the address */
    REJECT(t, "insn 3: comparing a context pointer (r1) with a number would reveal address bits",
           BPF_MOV64_IMM(R0, 0), BPF_LD_IMM64(R2, 0x7f0000000000ull), BPF_JMP_REG(BPF_JGT, R1, R2, 1), EXIT,
           BPF_MOV64_IMM(R0, 1), EXIT);
    REJECT(t, "insn 1: comparing a stack pointer (r10) with a number would reveal address bits",
           BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JSLT, R10, 0, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    REJECT(t, "insn 1: comparing a stack pointer (r10) with a number would reveal address bits",
           BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JEQ, R10, 0x1000, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* the relative placement of two objects */
    REJECT(t, "insn 1: comparing a stack pointer (r10) with a context pointer (r1) would reveal address bits",
           BPF_MOV64_IMM(R0, 0), BPF_JMP_REG(BPF_JGT, R10, R1, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* 32-bit compares see where the object sits modulo 4 GiB */
    REJECT(t, "insn 3: 32-bit compare of a stack pointer (r10)", BPF_MOV64_IMM(R0, 0), BPF_MOV64_REG(R2, R10),
           BPF_ALU64_IMM(BPF_ADD, R2, -8), BPF_JMP32_REG(BPF_JGT, R10, R2, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* signed order of two addresses depends on where they are */
    REJECT(t, "insn 3: jsgt on a stack pointer (r10) would reveal address bits", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_REG(R2, R10), BPF_ALU64_IMM(BPF_ADD, R2, -8), BPF_JMP_REG(BPF_JSGT, R10, R2, 1), EXIT,
           BPF_MOV64_IMM(R0, 1), EXIT);
    /* far outside its object a pointer may wrap around the address space */
    REJECT(t, "insn 5: comparing a stack pointer (r2) outside its object", BPF_MOV64_IMM(R0, 0),
           BPF_MOV64_REG(R2, R10), BPF_LD_IMM64(R3, -(1ll << 28)), BPF_ALU64_REG(BPF_ADD, R2, R3),
           BPF_JMP_REG(BPF_JLT, R2, R10, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* allowed: two pointers into the same object (the answer is a fact about offsets) */
    EXPECT(1, BPF_MOV64_IMM(R0, 0), BPF_MOV64_REG(R2, R10), BPF_ALU64_IMM(BPF_ADD, R2, -8),
           BPF_JMP_REG(BPF_JLT, R2, R10, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    EXPECT(1, BPF_MOV64_IMM(R0, 0), BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_MOV64_REG(R3, R2),
           BPF_ALU64_IMM(BPF_ADD, R3, 256), BPF_JMP_REG(BPF_JNE, R2, R3, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
    /* allowed: a null test (hook pointers are never null, so it reveals nothing) */
    EXPECT(1, BPF_MOV64_IMM(R0, 0), BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_JMP_IMM(BPF_JEQ, R2, 0, 1),
           BPF_MOV64_IMM(R0, 1), EXIT);
    /* two different regions of one hook are still different objects */
    const struct mlos_bpf_hook_desc *msg = mlos_hook_desc(MLOS_HOOK_MSG);
    REJECT(msg, "insn 3: comparing a region pointer (r2) with a region pointer (r3) would reveal address bits",
           BPF_MOV64_IMM(R0, 0), BPF_LDX_MEM(BPF_DW, R2, R1, 24), BPF_LDX_MEM(BPF_DW, R3, R1, 32),
           BPF_JMP_REG(BPF_JLT, R2, R3, 1), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
}

static void reachability(const struct mlos_bpf_hook_desc *t)
{
    /* insn 2 is reached only from insn 4 (a back-edge): the loop is the problem, not dead code */
    REJECT(t, "insn 1: jump to insn 3 enters the loop at insn 2 in the middle", BPF_MOV64_IMM(R0, 0), BPF_JA_INSN(1),
           BPF_ALU64_IMM(BPF_ADD, R0, 1), BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_JMP_IMM(BPF_JEQ, R2, 0, -3), EXIT);
    /* a backward jump that closes no cycle (shared tail code placed earlier) is no loop */
    EXPECT(0, BPF_MOV64_IMM(R0, 0), BPF_JA_INSN(1), BPF_EXIT_INSN(), BPF_LDX_MEM(BPF_DW, R2, R1, 0),
           BPF_JMP_IMM(BPF_JEQ, R2, 0, -3), EXIT);
    REJECT(t, "insn 2: unreachable instruction", BPF_MOV64_IMM(R0, 0), EXIT, BPF_MOV64_IMM(R0, 1), EXIT);
}

int main(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST);
    mlos_bpf_set_allocator(malloc, free);
    spills(t);
    joins(t);
    helper_reads(t);
    compares(t);
    reachability(t);
    CHECK_DONE();
}
