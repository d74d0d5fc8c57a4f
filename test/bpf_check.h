/* test/bpf_check.h -- assertion helpers for eBPF VM tests: hand-assembled
 * programs (bpf_isa.h macros) loaded at a hook and checked for a result or
 * a rejection message. Every accepted program runs four ways -- verified
 * or trusted, fast or checked -- and all must agree.
 */
#ifndef MLOS_TEST_BPF_CHECK_H
#define MLOS_TEST_BPF_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/bpf.h"
#include "bpf/hooks.h"
#include "check.h"
#include "mlos_endian.h"
#include "mlos_error.h"

#define PROG(...) ((const struct mlos_bpf_insn[]){__VA_ARGS__})
#define NINS(...) (sizeof(PROG(__VA_ARGS__)) / sizeof(struct mlos_bpf_insn))

#define R0 0
#define R1 1
#define R2 2
#define R3 3
#define R4 4
#define R5 5
#define R6 6
#define R7 7
#define R8 8
#define R9 9
#define R10 10
#define EXIT BPF_EXIT_INSN()

static struct mlos_hook_test_ctx tctx;
static uint8_t tdata[MLOS_HOOK_TEST_DATA];

static void reset_ctx(void)
{
    for (int i = 0; i < 8; i++)
        tctx.w[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
    for (int i = 0; i < (int)sizeof(tdata); i++)
        tdata[i] = (uint8_t)i;
    mlos_put_le64((uint8_t *)&tctx.data, (uint64_t)(uintptr_t)tdata);
}

static int load(const struct mlos_bpf_insn *p, size_t n, const struct mlos_bpf_hook_desc *h, unsigned flags,
                struct mlos_bpf_prog **out, char *err)
{
    uint8_t *code = malloc(n * 8 + 8);
    int rc;
    mlos_bpf_encode(p, n, code);
    rc = mlos_bpf_load(code, n * 8, h, flags, out, err, MLOS_BPF_ERR_MAX);
    free(code);
    return rc;
}

/* Run p four ways on a fresh test context and check R0. */
__attribute__((unused)) static void expect_r0(int line, uint64_t want, const struct mlos_bpf_insn *p, size_t n)
{
    char err[MLOS_BPF_ERR_MAX];
    struct mlos_bpf_prog *prog;
    static const char *const how[] = {"verified fast", "verified checked", "trusted fast", "trusted checked"};

    for (int k = 0; k < 4; k++) {
        uint64_t r0 = 0xdeadbeef;
        int rc = load(p, n, mlos_hook_desc(MLOS_HOOK_TEST), k >= 2 ? MLOS_BPF_TRUSTED : 0, &prog, err);
        if (rc < 0) {
            fprintf(stderr, "line %d (%s): load failed: %s\n", line, how[k], err);
            check_failures++;
            return;
        }
        reset_ctx();
        rc = mlos_bpf_run_ex(prog, &tctx, sizeof(tctx), k & 1 ? MLOS_BPF_RUN_CHECKED : MLOS_BPF_RUN_FAST, 1000000,
                             &r0);
        if (rc != 0 || r0 != want) {
            fprintf(stderr, "line %d (%s): rc %d r0 0x%llx, want 0x%llx\n", line, how[k], rc,
                    (unsigned long long)r0, (unsigned long long)want);
            check_failures++;
        }
        mlos_bpf_free(prog);
    }
}
#define EXPECT(want, ...) expect_r0(__LINE__, (uint64_t)(want), PROG(__VA_ARGS__), NINS(__VA_ARGS__))

/* The verifier must reject p at hook h with a message containing msg. */
__attribute__((unused)) static void expect_reject(int line, const struct mlos_bpf_hook_desc *h, const char *msg, const struct mlos_bpf_insn *p,
                          size_t n)
{
    char err[MLOS_BPF_ERR_MAX];
    struct mlos_bpf_prog *prog = NULL;
    int rc = load(p, n, h, 0, &prog, err);
    if (rc >= 0) {
        fprintf(stderr, "line %d: accepted, want rejection with \"%s\"\n", line, msg);
        check_failures++;
        mlos_bpf_free(prog);
    } else if (!strstr(err, msg) || strncmp(err, "insn ", 5) != 0) {
        fprintf(stderr, "line %d: rejected with \"%s\", want \"%s\"\n", line, err, msg);
        check_failures++;
    }
}
#define REJECT(h, msg, ...) expect_reject(__LINE__, h, msg, PROG(__VA_ARGS__), NINS(__VA_ARGS__))

__attribute__((unused)) static void expect_accept(int line, const struct mlos_bpf_hook_desc *h, const struct mlos_bpf_insn *p, size_t n)
{
    char err[MLOS_BPF_ERR_MAX];
    struct mlos_bpf_prog *prog = NULL;
    if (load(p, n, h, 0, &prog, err) < 0) {
        fprintf(stderr, "line %d: rejected: %s\n", line, err);
        check_failures++;
    }
    mlos_bpf_free(prog);
}
#define ACCEPT(h, ...) expect_accept(__LINE__, h, PROG(__VA_ARGS__), NINS(__VA_ARGS__))

#endif
