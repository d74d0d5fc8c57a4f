/* Hooks beyond the basic four: compute kernels over a variable-length
 * range (proven where possible, checked at run time otherwise, read-only
 * or read-write as granted), the reduction operator (a local reduce over
 * an array), the memory policy, and per-hook instruction budgets.
 */
#include "bpf_check.h"
#include "hal_linux.h"
#include "mem.h"

static struct mlos_bpf_prog *must_load(int line, const struct mlos_bpf_insn *p, size_t n, int hook, unsigned flags)
{
    struct mlos_bpf_prog *prog = NULL;
    char err[MLOS_BPF_ERR_MAX];
    if (load(p, n, mlos_hook_desc(hook), flags, &prog, err) < 0) {
        fprintf(stderr, "line %d: %s\n", line, err);
        check_failures++;
        return NULL;
    }
    return prog;
}
#define MUST(hook, flags, ...) must_load(__LINE__, PROG(__VA_ARGS__), NINS(__VA_ARGS__), hook, flags)

/* kernel: arg[0] = sum of the bytes, n = len (loop bounded by len <= 1 MiB) */
#define BYTE_SUM                                                                                                 \
    BPF_LDX_MEM(BPF_DW, R3, R1, 32), BPF_LDX_MEM(BPF_DW, R4, R1, 40), BPF_MOV64_IMM(R0, 0),                      \
        BPF_JMP_IMM(BPF_JGT, R3, 1 << 20, 8), BPF_MOV64_IMM(R2, 0), BPF_JMP_IMM(BPF_JEQ, R3, 0, 6),              \
        BPF_MOV64_REG(R5, R4), BPF_ALU64_REG(BPF_ADD, R5, R2), BPF_LDX_MEM(BPF_B, R5, R5, 0),                    \
        BPF_ALU64_REG(BPF_ADD, R0, R5), BPF_ALU64_IMM(BPF_ADD, R2, 1), BPF_JMP_REG(BPF_JLT, R2, R3, -6),         \
        BPF_STX_MEM(BPF_DW, R1, R0, 0), EXIT

static void kernel(void)
{
    const struct mlos_bpf_hook_desc *k = mlos_hook_desc(MLOS_HOOK_KERNEL);
    uint8_t buf[3000];
    uint64_t arg[4] = {0}, r0 = 0, want = 0, want100 = 0;
    struct mlos_bpf_prog *p;

    for (size_t i = 0; i < sizeof(buf); i++)
        want += buf[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < 100; i++)
        want100 += buf[i];
    CHECK_EQ(mlos_hook_kernel(buf, sizeof(buf), 0, arg, &r0), MLOS_ENOENT);
    /* verified and trusted, fast and checked (CHECKED flag): same sum */
    for (unsigned flags = 0; flags < 4; flags++) {
        p = MUST(MLOS_HOOK_KERNEL, flags, BYTE_SUM);
        CHECK_EQ(mlos_hook_set(MLOS_HOOK_KERNEL, p), 0);
        arg[0] = 0;
        CHECK_EQ(mlos_hook_kernel(buf, sizeof(buf), 0, arg, &r0), 0);
        CHECK_EQ(r0, want);
        CHECK_EQ(arg[0], want);
        CHECK_EQ(mlos_hook_kernel(buf, 100, 0, arg, &r0), 0); /* a shorter range */
        CHECK_EQ(arg[0], want100);
    }
    /* the verifier checks what it can: the fixed maximum, no helper access */
    REJECT(k, "outside its 536870912 bytes", BPF_LDX_MEM(BPF_DW, R4, R1, 40), BPF_LDX_MEM(BPF_B, R0, R4, -1), EXIT);
    REJECT(k, "variable-length region 0 to a helper", BPF_LDX_MEM(BPF_DW, R1, R1, 40), BPF_MOV64_IMM(R2, 4),
           BPF_CALL_HELPER(MLOS_BPF_HELPER_HASH32), EXIT);
    REJECT(k, "over the length of region 0 at ctx+32", BPF_ST_MEM(BPF_DW, R1, 32, 1 << 20), BPF_MOV64_IMM(R0, 0),
           EXIT);
    REJECT(k, "over the access grant of region 0 at ctx+48", BPF_ST_MEM(BPF_W, R1, 48, 1), BPF_MOV64_IMM(R0, 0), EXIT);
    /* ... and the rest is checked at run time: a fixed index past the real length */
    for (unsigned flags = 0; flags < 4; flags += 2) {
        p = MUST(MLOS_HOOK_KERNEL, flags, BPF_LDX_MEM(BPF_DW, R4, R1, 40), BPF_LDX_MEM(BPF_B, R0, R4, 200), EXIT);
        CHECK_EQ(mlos_hook_set(MLOS_HOOK_KERNEL, p), 0);
        CHECK_EQ(mlos_hook_kernel(buf, 201, 0, arg, &r0), 0);
        CHECK_EQ(r0, buf[200]);
        CHECK_EQ(mlos_hook_kernel(buf, 200, 0, arg, &r0), MLOS_EACCES);
    }
    /* writes need a read-write grant */
    p = MUST(MLOS_HOOK_KERNEL, 0, BPF_LDX_MEM(BPF_DW, R4, R1, 40), BPF_ST_MEM(BPF_B, R4, 10, 0x5a),
             BPF_MOV64_IMM(R0, 0), EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_KERNEL, p), 0);
    CHECK_EQ(mlos_hook_kernel(buf, 100, 0, arg, &r0), MLOS_EACCES);
    CHECK(buf[10] != 0x5a);
    CHECK_EQ(mlos_hook_kernel(buf, 100, 1, arg, &r0), 0);
    CHECK_EQ(buf[10], 0x5a);
    CHECK_EQ(mlos_hook_kernel(buf, 10, 1, arg, &r0), MLOS_EACCES); /* 10 is past a 10-byte range */
    mlos_hook_set(MLOS_HOOK_KERNEL, NULL);
}

/* reduce: inout[i] = max(inout[i], in[i]) over le32 elements (count <= 2^20) */
#define MAX_U32                                                                                                  \
    BPF_LDX_MEM(BPF_W, R2, R1, 4), BPF_LDX_MEM(BPF_DW, R3, R1, 16), BPF_LDX_MEM(BPF_DW, R4, R1, 24),             \
        BPF_JMP_IMM(BPF_JGT, R2, 1 << 20, 15), BPF_MOV64_IMM(R5, 0), BPF_JMP_IMM(BPF_JEQ, R2, 0, 11),            \
        /* loop */ BPF_MOV64_REG(R6, R5), BPF_ALU64_IMM(BPF_LSH, R6, 2), BPF_MOV64_REG(R7, R4),                    \
        BPF_ALU64_REG(BPF_ADD, R7, R6), BPF_LDX_MEM(BPF_W, R7, R7, 0), BPF_ALU64_REG(BPF_ADD, R6, R3),           \
        BPF_LDX_MEM(BPF_W, R8, R6, 0), BPF_JMP_REG(BPF_JGE, R8, R7, 1), BPF_STX_MEM(BPF_W, R6, R7, 0),           \
        BPF_ALU64_IMM(BPF_ADD, R5, 1), BPF_JMP_REG(BPF_JLT, R5, R2, -11), BPF_MOV64_IMM(R0, 0), EXIT,            \
        BPF_MOV64_IMM(R0, 1), EXIT

static uint64_t native_sum(void *ctx, size_t len, void *user)
{
    const struct mlos_hook_reduce_ctx *c = ctx;
    int64_t *a = (int64_t *)(uintptr_t)c->inout;
    const int64_t *b = (const int64_t *)(uintptr_t)c->in;
    (void)len, (void)user;
    if (c->elem_size != 8)
        return 1;
    for (uint32_t i = 0; i < c->count; i++)
        a[i] += b[i];
    return 0;
}

static void reduce(void)
{
    enum { N = 5, COUNT = 300 };
    static uint32_t vec[N][COUNT], out[COUNT];
    struct mlos_bpf_prog *p;

    for (int i = 0; i < N; i++)
        for (int j = 0; j < COUNT; j++)
            vec[i][j] = (uint32_t)((j * 2654435761u) ^ (i * 40503u)) % 100000;
    CHECK_EQ(mlos_hook_reduce_local(out, vec, N, COUNT, 4, 0), MLOS_ENOENT);
    for (unsigned flags = 0; flags < 4; flags++) {
        p = MUST(MLOS_HOOK_REDUCE, flags, MAX_U32);
        CHECK_EQ(mlos_hook_set(MLOS_HOOK_REDUCE, p), 0);
        memset(out, 0, sizeof(out));
        CHECK_EQ(mlos_hook_reduce_local(out, vec, N, COUNT, 4, 0), 0);
        int bad = 0;
        for (int j = 0; j < COUNT; j++) {
            uint32_t m = 0;
            for (int i = 0; i < N; i++)
                m = vec[i][j] > m ? vec[i][j] : m;
            bad += out[j] != m;
        }
        CHECK_EQ(bad, 0);
        /* the operator refuses what it cannot combine */
        CHECK_EQ(mlos_hook_reduce(out, vec[1], (size_t)2 << 20, 4, 0), MLOS_EINVAL);
    }
    /* the input vector is read-only to the operator */
    REJECT(mlos_hook_desc(MLOS_HOOK_REDUCE), "region 1 is read-only", BPF_LDX_MEM(BPF_DW, R4, R1, 24),
           BPF_ST_MEM(BPF_W, R4, 0, 0), BPF_MOV64_IMM(R0, 0), EXIT);
    /* a pointer into one variable region cannot reach another, even when
     * they lie side by side (found by fuzzing: the check tried every
     * variable region) */
    {
        static uint32_t two[32];
        p = MUST(MLOS_HOOK_REDUCE, 0, BPF_LDX_MEM(BPF_DW, R2, R1, 24), BPF_LDX_MEM(BPF_W, R0, R2, 64), EXIT);
        CHECK_EQ(mlos_hook_set(MLOS_HOOK_REDUCE, p), 0);
        CHECK_EQ(mlos_hook_reduce(two + 16, two, 16, 4, 0), MLOS_EACCES); /* in + 64 is inout[0] */
        CHECK_EQ(mlos_hook_reduce(two, two + 8, 24, 4, 0), 0);           /* in + 64 inside in's 96 bytes */
    }
    /* a native operator through the same API */
    int64_t a[3][4] = {{1, 2, 3, 4}, {10, 20, 30, 40}, {-5, -5, -5, -5}}, sum[4];
    CHECK_EQ(mlos_hook_set_native(MLOS_HOOK_REDUCE, native_sum, NULL), 0);
    CHECK_EQ(mlos_hook_reduce_local(sum, a, 3, 4, 8, 0), 0);
    CHECK_EQ(sum[0], 6);
    CHECK_EQ(sum[3], 39);
    CHECK_EQ(mlos_hook_reduce_local(sum, a, 3, 8, 4, 0), MLOS_EINVAL); /* the operator said no */
    mlos_hook_set(MLOS_HOOK_REDUCE, NULL);
}

static void mem_policy(void)
{
    struct mlos_bpf_prog *p;
    CHECK_EQ(mlos_hook_mem_grant(1 << 20, 16, 0, 1 << 24), 1);
    /* refuse allocations that would take the heap past 3/4 of its limit */
    p = MUST(MLOS_HOOK_MEM, 0, BPF_LDX_MEM(BPF_DW, R2, R1, 0), BPF_LDX_MEM(BPF_DW, R3, R1, 16),
             BPF_LDX_MEM(BPF_DW, R4, R1, 24), BPF_MOV64_IMM(R0, 1), BPF_JMP_IMM(BPF_JEQ, R4, 0, 6),
             BPF_ALU64_IMM(BPF_RSH, R4, 2), BPF_ALU64_IMM(BPF_MUL, R4, 3), BPF_ALU64_REG(BPF_ADD, R3, R2),
             BPF_JMP_REG(BPF_JLE, R3, R4, 1), BPF_MOV64_IMM(R0, 0), EXIT, EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_MEM, p), 0);
    CHECK_EQ(mlos_hook_mem_grant(1 << 20, 16, 0, 1 << 24), 1);
    CHECK_EQ(mlos_hook_mem_grant(1 << 20, 16, 12 << 20, 16 << 20), 0);
    CHECK_EQ(mlos_hook_mem_grant(1 << 20, 16, 11 << 20, 16 << 20), 1);
    CHECK_EQ(mlos_hook_mem_grant(1 << 30, 16, 0, 0), 1); /* limit unknown */
    /* and the shard's allocator asks it: the default heap stops granting
     * at 3/4 of what it manages, and grants again once the policy is gone */
    struct mlos_hal_linux_cfg hc = {.cmdline = "", .window_fd = -1, .doorbell_fd = -1, .mem_bytes = 32u << 20};
    if (mlos_hal_linux_init(uv_default_loop(), &hc) == 0 && mlos_mem_init_from_hal() == 0) {
        struct mlos_mem_stats st;
        void *blk[256];
        int n = 0;
        mlos_mem_stats(&st);
        size_t total = st.total_bytes;
        while (n < 256 && (blk[n] = mlos_malloc(1 << 20)))
            n++;
        mlos_mem_stats(&st);
        CHECK(n > 0 && n < 256);
        CHECK(st.heap_bytes <= total / 4 * 3);
        CHECK(st.heap_bytes + (2u << 20) > total / 4 * 3); /* it stopped at the line, not before */
        void *g = mlos_malloc(64);
        CHECK(g != NULL); /* a small request still fits under the line */
        void *r = mlos_realloc(g, 4u << 20);
        CHECK(r == NULL); /* growth refused, g kept */
        mlos_hook_set(MLOS_HOOK_MEM, NULL);
        void *more = mlos_malloc(1 << 20);
        CHECK(more != NULL);
        mlos_free(more);
        mlos_free(g);
        while (n > 0)
            mlos_free(blk[--n]); /* (the hook freed p when it was removed) */
    } else {
        printf("skip: the default heap (no memory regions from the HAL)\n");
    }
    REJECT(mlos_hook_desc(MLOS_HOOK_MEM), "read-only", BPF_ST_MEM(BPF_DW, R1, 0, 0), BPF_MOV64_IMM(R0, 1), EXIT);
    mlos_hook_set(MLOS_HOOK_MEM, NULL);
}

static void budgets(void)
{
    struct mlos_bpf_prog *p;
    uint64_t r0 = 0;
    /* trusted code that spins at a hook with a budget stops there (the default applies) */
    p = MUST(MLOS_HOOK_SCHED, MLOS_BPF_TRUSTED, BPF_MOV64_IMM(R0, 5), BPF_JA_INSN(-1), EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_SCHED, p), 0);
    CHECK_EQ(mlos_hook_sched("x", 1, 0, 0), 0);
    /* a trusted loop inside the budget still runs */
    p = MUST(MLOS_HOOK_SCHED, MLOS_BPF_TRUSTED, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1),
             BPF_JMP_IMM(BPF_JLT, R0, 1000, -2), EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_SCHED, p), 0);
    CHECK_EQ(mlos_hook_sched("x", 1, 0, 0), 1000);
    /* ... but not one far beyond it (2^16 instructions at the sched hook) */
    p = MUST(MLOS_HOOK_SCHED, MLOS_BPF_TRUSTED, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1),
             BPF_JMP_IMM(BPF_JLT, R0, 100000, -2), EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_SCHED, p), 0);
    CHECK_EQ(mlos_hook_sched("x", 1, 0, 0), 0);
    /* a verified loop loaded checked meets the budget too */
    p = MUST(MLOS_HOOK_SCHED, MLOS_BPF_CHECKED, BPF_MOV64_IMM(R0, 0), BPF_ALU64_IMM(BPF_ADD, R0, 1),
             BPF_JMP_IMM(BPF_JLT, R0, 1000, -2), EXIT);
    CHECK_EQ(mlos_hook_set(MLOS_HOOK_SCHED, p), 0);
    CHECK_EQ(mlos_hook_sched("x", 1, 0, 0), 1000);
    mlos_hook_set(MLOS_HOOK_SCHED, NULL);
    (void)r0;
}

int main(void)
{
    mlos_bpf_set_allocator(malloc, free);
    kernel();
    reduce();
    mem_policy();
    budgets();
    CHECK_DONE();
}
