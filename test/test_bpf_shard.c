/* End-to-end: the master inserts eBPF programs into running shards with
 * the builtin task "bpf.load" and runs them with "bpf.run".
 *
 *   test_bpf_shard ARCH...     ARCH: process | x86_64 | ppc
 *
 * Per shard: a verified program on the TEST hook (reads the context words
 * and the data region, writes a context word), a rejected program (its
 * verifier message travels back), a trusted program with a loop, a
 * message filter and a scheduling policy, and removal. The same bytecode
 * must give the same answers on every architecture (the VM is
 * little-endian on big-endian PowerPC too).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf_isa.h"
#include "bpf/hooks.h"
#include "mlos_bpf_abi.h"
#include "check.h"
#include "mlos.h"
#include "mlos_endian.h"

/* Completion order of the scheduling-policy check: result lengths (the
 * spin task answers with its 8-byte argument length, recorded as 8). */
static int sched_order[8], sched_order_n;
static void sched_done(mlos_call_t *req, int status)
{
    sched_order[sched_order_n++] = status ? -1 : (req->result_len ? (int)req->result_len : 8);
}

static uv_loop_t *loop;

/* bpf.load; returns the task status, err filled on failure. */
static int bpf_load(mlos_shard_t *s, int hook, int flags, const struct mlos_bpf_insn *p, size_t n, char *err,
                    size_t elen)
{
    uint8_t *arg = calloc(1, 8 + n * 8);
    void *res = NULL;
    size_t len = 0;
    int rc;
    arg[0] = (uint8_t)hook;
    arg[1] = (uint8_t)flags;
    mlos_put_le32(arg + 4, (uint32_t)(n * 8));
    mlos_bpf_encode(p, n, arg + 8);
    rc = mlos_call_sync(s, "bpf.load", arg, 8 + n * 8, &res, &len, err, elen);
    if (rc == 0) {
        CHECK(len == 4 && ((uint8_t *)res)[0] == n);
        free(res);
    }
    free(arg);
    return rc;
}

/* bpf.run with a hook-specific input; returns status, *r0 and the result. */
static int bpf_run(mlos_shard_t *s, int hook, const void *in, size_t in_len, uint64_t *r0, uint8_t **out)
{
    uint8_t *arg = calloc(1, 4 + in_len);
    void *res = NULL;
    size_t len = 0;
    char err[256];
    int rc;
    arg[0] = (uint8_t)hook;
    memcpy(arg + 4, in, in_len);
    rc = mlos_call_sync(s, "bpf.run", arg, 4 + in_len, &res, &len, err, sizeof(err));
    free(arg);
    if (rc != 0) {
        if (rc != MLOS_ENOENT) /* expected once: the emptied TEST hook */
            fprintf(stderr, "bpf.run: %s\n", err);
        return rc;
    }
    CHECK(len >= 8);
    *r0 = mlos_get_le64(res);
    if (out)
        *out = res;
    else
        free(res);
    return 0;
}

static void one_shard(const char *arch)
{
    struct mlos_spawn_opts o = {.arch = arch};
    mlos_shard_t s;
    char err[256];
    uint8_t in[64 + 16], *out = NULL;
    uint64_t r0 = 0;

    if (mlos_spawn_sync(loop, &s, &o) < 0) {
        fprintf(stderr, "spawn %s failed: %s\n", arch, mlos_shard_console_tail(&s));
        check_failures++;
        return;
    }
    fprintf(stderr, "%s: shard up\n", arch);
    /* TEST hook: r0 = w[0] + w[1] + data[3] + le32(data[4..8]); w[2] = 0xabc; data[0] = 0x5a */
    const struct mlos_bpf_insn test_prog[] = {
        BPF_LDX_MEM(BPF_DW, 0, 1, 0),       BPF_LDX_MEM(BPF_DW, 2, 1, 8),  BPF_ALU64_REG(BPF_ADD, 0, 2),
        BPF_LDX_MEM(BPF_DW, 3, 1, 64),      BPF_LDX_MEM(BPF_B, 2, 3, 3),   BPF_ALU64_REG(BPF_ADD, 0, 2),
        BPF_LDX_MEM(BPF_W, 2, 3, 4),        BPF_ALU64_REG(BPF_ADD, 0, 2),  BPF_ST_MEM(BPF_DW, 1, 16, 0xabc),
        BPF_ST_MEM(BPF_B, 3, 0, 0x5a),      BPF_EXIT_INSN(),
    };
    if (bpf_load(&s, MLOS_HOOK_TEST, 0, test_prog, sizeof(test_prog) / sizeof(test_prog[0]), err, sizeof(err)) != 0) {
        fprintf(stderr, "load: %s\n", err);
        check_failures++;
    }
    memset(in, 0, sizeof(in));
    mlos_put_le64(in, 1000);
    mlos_put_le64(in + 8, 0x100000000ull);
    for (int i = 0; i < 16; i++)
        in[64 + i] = (uint8_t)(i + 1);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_TEST, in, sizeof(in), &r0, &out), 0);
    CHECK_EQ(r0, 1000 + 0x100000000ull + 4 + 0x08070605);
    if (out) {
        CHECK_EQ(mlos_get_le64(out + 8 + 16), 0xabc); /* w[2] */
        CHECK_EQ(out[72], 0x5a);                  /* data[0] */
        CHECK_EQ(out[72 + 15], 16);
        free(out);
    }

    /* rejected: out-of-bounds context read; the message names the insn */
    const struct mlos_bpf_insn bad[] = {BPF_LDX_MEM(BPF_DW, 0, 1, 200), BPF_EXIT_INSN()};
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_TEST, 0, bad, 2, err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "insn 0: cannot load ctx[200, 208)") != NULL);
    /* the old program is still installed */
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_TEST, in, sizeof(in), &r0, NULL), 0);
    CHECK_EQ(r0, 1000 + 0x100000000ull + 4 + 0x08070605);

    /* trusted, with a loop: sum of w[0] down to 1; run checked */
    const struct mlos_bpf_insn sum[] = {
        BPF_MOV64_IMM(0, 0), BPF_LDX_MEM(BPF_DW, 2, 1, 0), BPF_JMP_IMM(BPF_JEQ, 2, 0, 3),
        BPF_ALU64_REG(BPF_ADD, 0, 2), BPF_ALU64_IMM(BPF_SUB, 2, 1), BPF_JA_INSN(-4), BPF_EXIT_INSN(),
    };
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_TEST, 1, sum, 7, err, sizeof(err)), MLOS_OK);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_TEST, in, 64, &r0, NULL), 0);
    CHECK_EQ(r0, 500500);
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_TEST, 0, sum, 7, err, sizeof(err)), MLOS_EINVAL);
    CHECK(strstr(err, "loop at insn 2: cannot prove it ends: its back-edge is unconditional") != NULL);

    /* message filter: drop CALLs whose argument is longer than 3 bytes */
    const struct mlos_bpf_insn filt[] = {BPF_MOV64_IMM(0, 1), BPF_LDX_MEM(BPF_W, 2, 1, 16),
                                         BPF_JMP_IMM(BPF_JLE, 2, 3, 1), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()};
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_MSG, 2, filt, 5, err, sizeof(err)), 0);
    /* it is live: the shard's runtime runs it on every CALL */
    {
        void *res = NULL;
        size_t rlen;
        CHECK_EQ(mlos_call_sync(&s, "echo", "abcde", 5, &res, &rlen, err, sizeof(err)), MLOS_EACCES);
        CHECK(strstr(err, "refused by the shard's message filter") != NULL);
        CHECK_EQ(mlos_call_sync(&s, "echo", "abc", 3, &res, &rlen, err, sizeof(err)), 0);
        CHECK(rlen == 3 && res && !memcmp(res, "abc", 3));
        free(res);
    }
    /* bpf.load is never filtered, so the master can always take a filter out */
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_MSG, 0, NULL, 0, err, sizeof(err)), 0);
    uint8_t m[12 + 4 + 5];
    mlos_put_le32(m, 2);
    mlos_put_le32(m + 4, 9);
    mlos_put_le32(m + 8, 4);
    memcpy(m + 12, "echo", 4);
    memcpy(m + 16, "abcde", 5);

    /* scheduling policy: priority = queue_len * 2 - 1 (negative allowed) */
    const struct mlos_bpf_insn prio[] = {BPF_LDX_MEM(BPF_W, 0, 1, 12), BPF_ALU64_IMM(BPF_LSH, 0, 1),
                                         BPF_ALU64_IMM(BPF_SUB, 0, 1), BPF_EXIT_INSN()};
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_SCHED, 0, prio, 4, err, sizeof(err)), 0);
    uint8_t sc[8 + 4];
    mlos_put_le32(sc, 10);
    mlos_put_le32(sc + 4, 21);
    memcpy(sc + 8, "echo", 4);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_SCHED, sc, sizeof(sc), &r0, NULL), 0);
    CHECK_EQ(r0, 41);
    mlos_put_le32(sc + 4, 0);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_SCHED, sc, sizeof(sc), &r0, NULL), 0);
    CHECK_EQ((int64_t)r0, -1);

    /* the policy is live: calls waiting together run by priority (here: the
     * argument length), not by arrival */
    {
        const struct mlos_bpf_insn bylen[] = {BPF_LDX_MEM(BPF_W, 0, 1, 8), BPF_EXIT_INSN()};
        CHECK_EQ(bpf_load(&s, MLOS_HOOK_SCHED, 0, bylen, 2, err, sizeof(err)), 0);
        static mlos_call_t c[4];
        uint8_t ns[8];
        mlos_put_le64(ns, 50000000); /* 50 ms: the others queue up behind it */
        sched_order_n = 0;
        CHECK_EQ(mlos_call(&s, &c[0], "spin", ns, 8, sched_done), 0);
        CHECK_EQ(mlos_call(&s, &c[1], "echo", "a", 1, sched_done), 0);
        CHECK_EQ(mlos_call(&s, &c[2], "echo", "abc", 3, sched_done), 0);
        CHECK_EQ(mlos_call(&s, &c[3], "echo", "ab", 2, sched_done), 0);
        while (sched_order_n < 4)
            uv_run(uv_default_loop(), UV_RUN_ONCE);
        CHECK_EQ(sched_order[0], 8);
        CHECK_EQ(sched_order[1], 3);
        CHECK_EQ(sched_order[2], 2);
        CHECK_EQ(sched_order[3], 1);
        CHECK_EQ(bpf_load(&s, MLOS_HOOK_SCHED, 0, NULL, 0, err, sizeof(err)), 0);
    }

    /* KERNEL hook: a verified loop over a range of the bulk window, sent
     * as code and run with bpf.run: sum the bytes into arg[0] and invert
     * them in place (a read-write grant); read-only, the store is refused */
    {
        enum { OFF = 8192, N = 4096 };
        const struct mlos_bpf_insn kprog[] = {
            BPF_LDX_MEM(BPF_DW, 3, 1, 32), BPF_LDX_MEM(BPF_DW, 4, 1, 40), BPF_MOV64_IMM(0, 0),
            BPF_JMP_IMM(BPF_JGT, 3, 1 << 20, 10), BPF_MOV64_IMM(2, 0), BPF_JMP_IMM(BPF_JEQ, 3, 0, 8),
            BPF_MOV64_REG(5, 4), BPF_ALU64_REG(BPF_ADD, 5, 2), BPF_LDX_MEM(BPF_B, 6, 5, 0),
            BPF_ALU64_REG(BPF_ADD, 0, 6), BPF_ALU64_IMM(BPF_XOR, 6, 0xff), BPF_STX_MEM(BPF_B, 5, 6, 0),
            BPF_ALU64_IMM(BPF_ADD, 2, 1), BPF_JMP_REG(BPF_JLT, 2, 3, -8), BPF_STX_MEM(BPF_DW, 1, 0, 0),
            BPF_EXIT_INSN(),
        };
        static uint8_t data[N], back[N];
        uint8_t karg[MLOS_BPF_RUN_HDR + MLOS_BPF_RUN_KERNEL_ARGS];
        const uint64_t a4[4] = {0, 7, 8, 9};
        uint64_t want = 0;
        void *res = NULL;
        size_t len = 0;
        for (int i = 0; i < N; i++)
            want += data[i] = (uint8_t)(i * 3 + 1);
        CHECK_EQ(mlos_put(&s, OFF, data, N), 0);
        if (bpf_load(&s, MLOS_HOOK_KERNEL, 0, kprog, sizeof(kprog) / sizeof(kprog[0]), err, sizeof(err)) != 0) {
            fprintf(stderr, "kernel load: %s\n", err);
            check_failures++;
        }
        mlos_bpf_abi_kernel_run(karg, 1, OFF, N, a4);
        CHECK_EQ(mlos_call_sync(&s, "bpf.run", karg, sizeof(karg), &res, &len, err, sizeof(err)), 0);
        CHECK_EQ(len, MLOS_BPF_RUN_KERNEL_OUT);
        if (res && len == MLOS_BPF_RUN_KERNEL_OUT) {
            CHECK_EQ(mlos_get_le64(res), want);
            CHECK_EQ(mlos_get_le64((uint8_t *)res + 8), want);
            CHECK_EQ(mlos_get_le64((uint8_t *)res + 16), 7);
        }
        free(res);
        res = NULL;
        CHECK_EQ(mlos_get(&s, OFF, back, N), 0);
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += (back[i] ^ data[i]) != 0xff;
        CHECK_EQ(bad, 0);
        mlos_bpf_abi_kernel_run(karg, 0, OFF, N, a4);
        CHECK_EQ(mlos_call_sync(&s, "bpf.run", karg, sizeof(karg), &res, &len, err, sizeof(err)), MLOS_EACCES);
        free(res);
        res = NULL;
        mlos_bpf_abi_kernel_run(karg, 1, (uint64_t)1 << 40, N, a4);
        CHECK_EQ(mlos_call_sync(&s, "bpf.run", karg, sizeof(karg), &res, &len, err, sizeof(err)), MLOS_EINVAL);
        CHECK(strstr(err, "outside") != NULL);
        free(res);
    }

    /* removal: code length 0 -> defaults */
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_MSG, 0, NULL, 0, err, sizeof(err)), 0);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_MSG, m, sizeof(m), &r0, NULL), 0);
    CHECK_EQ(r0, MLOS_HOOK_MSG_ACCEPT);
    CHECK_EQ(bpf_load(&s, MLOS_HOOK_TEST, 0, NULL, 0, err, sizeof(err)), 0);
    CHECK_EQ(bpf_run(&s, MLOS_HOOK_TEST, in, 64, &r0, NULL), MLOS_ENOENT);

    /* the shard is still healthy */
    void *res;
    size_t len;
    CHECK_EQ(mlos_call_sync(&s, "echo", "ok", 2, &res, &len, err, sizeof(err)), 0);
    free(res);
    mlos_shard_stop_sync(&s);
}

int main(int argc, char **argv)
{
    loop = uv_default_loop();
    for (int i = 1; i < argc; i++)
        one_shard(argv[i]);
    CHECK_DONE();
}
