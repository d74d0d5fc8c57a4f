/* RFC 9669 bpf-to-bpf local calls (call src 1, imm = relative target):
 * arguments in R1..R5, result in R0, R6..R9 preserved, a fresh frame per
 * call, the depth limit (MLOS_BPF_MAX_FRAMES) and the verifier's rules.
 */
#include "bpf_check.h"

#define CALL(rel) BPF_CALL_LOCAL(rel)

static void semantics(void)
{
    /* main: r1 = 5; call f; exit.  f: r0 = r1 * 2 + 1 */
    EXPECT(11, BPF_MOV64_IMM(R1, 5), CALL(1), EXIT, BPF_MOV64_REG(R0, R1), BPF_ALU64_IMM(BPF_MUL, R0, 2),
           BPF_ALU64_IMM(BPF_ADD, R0, 1), EXIT);
    /* two call sites, different arguments: f(3) + f(4) with f(x) = x * x */
    EXPECT(25, BPF_MOV64_IMM(R1, 3), CALL(5), BPF_MOV64_REG(R6, R0), BPF_MOV64_IMM(R1, 4), CALL(2),
           BPF_ALU64_REG(BPF_ADD, R0, R6), EXIT, BPF_MOV64_REG(R0, R1), BPF_ALU64_REG(BPF_MUL, R0, R1), EXIT);
    /* R6..R9 survive a callee that uses them */
    EXPECT(6 + 7 + 8 + 9, BPF_MOV64_IMM(R6, 6), BPF_MOV64_IMM(R7, 7), BPF_MOV64_IMM(R8, 8), BPF_MOV64_IMM(R9, 9),
           CALL(5), BPF_MOV64_REG(R0, R6), BPF_ALU64_REG(BPF_ADD, R0, R7), BPF_ALU64_REG(BPF_ADD, R0, R8),
           BPF_ALU64_REG(BPF_ADD, R0, R9), EXIT,
           BPF_MOV64_IMM(R6, 60), BPF_MOV64_IMM(R7, 70), BPF_MOV64_IMM(R8, 80), BPF_MOV64_IMM(R9, 90),
           BPF_MOV64_IMM(R0, 0), EXIT);
    /* each call has its own frame: the callee's r10-8 is not the caller's */
    EXPECT(1, BPF_ST_MEM(BPF_DW, R10, -8, 1), CALL(2), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT,
           BPF_ST_MEM(BPF_DW, R10, -8, 2), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT);
    /* a callee sees the caller's context pointer and region */
    EXPECT(0x1111111111111111ull + 5, CALL(2), BPF_ALU64_IMM(BPF_ADD, R0, 0), EXIT, BPF_LDX_MEM(BPF_DW, R0, R1, 0),
           BPF_LDX_MEM(BPF_DW, R2, R1, 64), BPF_LDX_MEM(BPF_B, R2, R2, 5), BPF_ALU64_REG(BPF_ADD, R0, R2), EXIT);
    /* the callee's result range is known to the caller: f returns 1 or 200, an index into the region */
    EXPECT(200, BPF_MOV64_REG(R6, R1), BPF_LDX_MEM(BPF_DW, R1, R1, 0), CALL(4), BPF_LDX_MEM(BPF_DW, R2, R6, 64),
           BPF_ALU64_REG(BPF_ADD, R2, R0), BPF_LDX_MEM(BPF_B, R0, R2, 0), EXIT,
           BPF_MOV64_IMM(R0, 1), BPF_JMP_IMM(BPF_JEQ, R1, 0, 1), BPF_MOV64_IMM(R0, 200), EXIT);
}

/* A chain main -> f1 -> ... -> f(depth-1): each adds 1. */
static size_t chain(struct mlos_bpf_insn *p, int depth)
{
    size_t n = 0;
    p[n++] = BPF_MOV64_IMM(R0, 0);
    for (int f = 0; f < depth; f++) {
        if (f + 1 < depth) {
            p[n++] = CALL(1); /* the next function starts right after this function's exit */
            p[n++] = BPF_ALU64_IMM(BPF_ADD, R0, 1);
            p[n++] = EXIT;
        } else {
            p[n++] = BPF_MOV64_IMM(R0, 1);
            p[n++] = EXIT;
        }
        if (f + 1 < depth) /* fix the call: target = the slot after this exit */
            p[n - 3] = CALL(2);
    }
    return n;
}

static void limits(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST);
    struct mlos_bpf_insn p[64];
    struct mlos_bpf_prog *prog;
    char err[MLOS_BPF_ERR_MAX];
    uint64_t r0 = 0;
    size_t n = chain(p, MLOS_BPF_MAX_FRAMES);
    /* MLOS_BPF_MAX_FRAMES frames: fine, verified and trusted, both modes */
    for (int trusted = 0; trusted < 2; trusted++)
        for (int mode = 0; mode < 2; mode++) {
            CHECK_EQ(load(p, n, t, trusted ? MLOS_BPF_TRUSTED : 0, &prog, err), 0);
            reset_ctx();
            CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), (enum mlos_bpf_mode)mode, 0, &r0), 0);
            CHECK_EQ(r0, MLOS_BPF_MAX_FRAMES);
            mlos_bpf_free(prog);
        }
    /* one more: refused by the verifier, stopped at run time when trusted */
    n = chain(p, MLOS_BPF_MAX_FRAMES + 1);
    CHECK_EQ(load(p, n, t, 0, &prog, err), MLOS_EINVAL);
    CHECK(strstr(err, "calls nest deeper than 8 frames") != NULL);
    for (int mode = 0; mode < 2; mode++) {
        CHECK_EQ(load(p, n, t, MLOS_BPF_TRUSTED, &prog, err), 0);
        CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), (enum mlos_bpf_mode)mode, 0, &r0), MLOS_ETOOBIG);
        mlos_bpf_free(prog);
    }
    /* recursion: refused; trusted, it stops at the depth limit */
    const struct mlos_bpf_insn rec[] = {CALL(1), EXIT, BPF_MOV64_IMM(R0, 0), CALL(-2), EXIT};
    CHECK_EQ(load(rec, 5, t, 0, &prog, err), MLOS_EINVAL);
    CHECK(strstr(err, "insn 3: recursive call to the function at insn 2") != NULL);
    CHECK_EQ(load(rec, 5, t, MLOS_BPF_TRUSTED, &prog, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 0, &r0), MLOS_ETOOBIG);
    CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), MLOS_BPF_RUN_FAST, 0, &r0), MLOS_ETOOBIG);
    mlos_bpf_free(prog);
    /* checked mode gives trusted code only its own frame */
    const struct mlos_bpf_insn peek[] = {BPF_ST_MEM(BPF_DW, R10, -8, 1), CALL(1), EXIT,
                                         BPF_LDX_MEM(BPF_DW, R0, R10, MLOS_BPF_STACK_SIZE - 8), EXIT};
    CHECK_EQ(load(peek, 5, t, MLOS_BPF_TRUSTED, &prog, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 0, &r0), MLOS_EACCES);
    mlos_bpf_free(prog);
    /* ... and the caller's frame is whole again after the return */
    CHECK_EQ(load(PROG(BPF_ST_MEM(BPF_DW, R10, -8, 4), CALL(2), BPF_LDX_MEM(BPF_DW, R0, R10, -8), EXIT,
                       BPF_MOV64_IMM(R0, 0), EXIT), 6, t, MLOS_BPF_TRUSTED, &prog, err), 0);
    CHECK_EQ(mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), MLOS_BPF_RUN_CHECKED, 0, &r0), 0);
    CHECK_EQ(r0, 4);
    mlos_bpf_free(prog);
}

static void rules(void)
{
    const struct mlos_bpf_hook_desc *t = mlos_hook_desc(MLOS_HOOK_TEST);
    REJECT(t, "insn 3: r6 is read before it is initialised", BPF_MOV64_IMM(R6, 1), CALL(1), EXIT,
           BPF_MOV64_REG(R0, R6), EXIT);
    REJECT(t, "insn 2: r2 is read before it is initialised", BPF_MOV64_IMM(R2, 1), CALL(2), BPF_MOV64_REG(R0, R2),
           EXIT, BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "insn 1: passing stack pointer r2 to the function at insn 3 is not supported", BPF_MOV64_REG(R2, R10),
           CALL(1), EXIT, BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "insn 3: exit with r0 holding a context pointer", CALL(1), EXIT, BPF_MOV64_REG(R0, R1), EXIT);
    REJECT(t, "insn 3: exit with r0 holding a stack pointer", CALL(1), EXIT, BPF_MOV64_REG(R0, R10), EXIT);
    REJECT(t, "insn 1: jump to insn 4 leaves the function at insn 0", CALL(2), BPF_JA_INSN(2), EXIT,
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "insn 4: jump to insn 1 leaves the function at insn 3", BPF_MOV64_IMM(R0, 0), CALL(1), EXIT,
           BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JEQ, R0, 0, -4), EXIT);
    REJECT(t, "insn 1: execution falls off the end of the function at insn 0 into the one at insn 2",
           CALL(1), BPF_MOV64_IMM(R0, 0), BPF_MOV64_IMM(R0, 1), EXIT);
    REJECT(t, "insn 4: unreachable instruction", BPF_MOV64_IMM(R0, 0), CALL(1), EXIT, EXIT,
           BPF_MOV64_IMM(R0, 0), EXIT);
    REJECT(t, "insn 0: jump to insn 9 is outside the program", CALL(8), EXIT);
    REJECT(t, "insn 1: jump into the middle of the lddw at insn 3", BPF_MOV64_IMM(R0, 0), CALL(2), EXIT,
           BPF_LD_IMM64(R0, 1), EXIT);
    REJECT(t, "callx (a call through register r3) is not supported", BPF_MOV64_IMM(R0, 0),
           MLOS_BPF_INSN(BPF_JMP | BPF_CALL | BPF_X, R3, 0, 0, 0), EXIT);
    REJECT(t, "calls to kernel functions by BTF id (src 2) are not supported", BPF_MOV64_IMM(R0, 0),
           MLOS_BPF_INSN(BPF_JMP | BPF_CALL, 0, 2, 0, 7), EXIT);
    /* pointer compares stay within one frame's objects in a callee too */
    REJECT(t, "insn 3: jset on a stack pointer (r10) would reveal address bits", CALL(1), EXIT,
           BPF_MOV64_IMM(R0, 0), BPF_JMP_IMM(BPF_JSET, R10, 8, 0), EXIT);
}

int main(void)
{
    mlos_bpf_set_allocator(malloc, free);
    semantics();
    limits();
    rules();
    CHECK_DONE();
}
