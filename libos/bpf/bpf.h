/* libos/bpf/bpf.h -- an RFC 9669 eBPF virtual machine for application
 * extensions: loader, verifier, threaded-code interpreter.
 *
 * Programs are raw little-endian eBPF instruction bytes (the .text of
 * `clang -target bpfel -O2 -c`). Each program is loaded for one hook
 * (hooks.h), which fixes its context layout, the memory regions it may
 * reach, the helpers it may call and its instruction budget.
 *
 * Trust levels
 *   untrusted  The verifier (bpf_verify.c) must prove the program safe:
 *              every instruction fully decoded, every loop proven to end
 *              (a counter stepped by a constant up to a bound: the shape
 *              of `for (i = 0; i < n; i++)`; anything else is refused
 *              with a message naming the loop), local calls without
 *              recursion at most MLOS_BPF_MAX_FRAMES deep, no
 *              uninitialised reads, memory access only to the context, the
 *              stack frame and the hook's regions (variable-length regions
 *              checked against their real length at run time), whitelisted
 *              helpers with checked arguments, R0 a scalar at exit, and no
 *              address leaks: no verified program can return, store or
 *              pass to a helper a value derived from a host address (see
 *              bpf_verify.c for the rules).
 *   trusted    The application's own code: only decoded (valid opcodes,
 *              jumps in range, lddw pairs, known helpers), then run as is.
 *              Loops are allowed. Memory is not checked unless the program
 *              is run in checked mode; a hook runs trusted code that can
 *              loop in checked mode, under its instruction budget.
 *
 * Run modes
 *   MLOS_BPF_RUN_FAST     no run-time checks beyond the variable-length
 *                         regions' (the verifier's proof, or trust)
 *   MLOS_BPF_RUN_CHECKED  every load, store and helper pointer argument is
 *                         bounds-checked against ctx/stack/regions at run
 *                         time, helpers must be on the hook's whitelist,
 *                         and backward jumps and local calls are counted
 *                         against a budget: a defensive mode for either
 *                         trust level.
 *
 * The VM is a little-endian machine on every host: loads and stores are
 * little-endian (byte-swapped on big-endian PowerPC), so bpfel programs
 * compute the same results everywhere, and hook contexts store their
 * fields little-endian. Pointers are host addresses zero-extended to 64
 * bits. Arithmetic follows RFC 9669, including division by zero (quotient
 * 0, remainder = dividend) and signed overflow (INT_MIN / -1 = INT_MIN,
 * INT_MIN % -1 = 0). The atomic class and local calls are implemented;
 * not implemented (rejected at load with a message saying so): legacy
 * packet loads (ABS/IND), lddw pseudo sources (maps, BTF), callx and
 * calls by BTF id. The library is single-threaded, like the rest of libos.
 */
#ifndef MLOS_BPF_H
#define MLOS_BPF_H

#include <stddef.h>
#include <stdint.h>

#include "bpf_isa.h"

#define MLOS_BPF_MAX_INSNS 4096 /* slots, lddw counting two */
#define MLOS_BPF_MAX_REGIONS 4
/* bpf-to-bpf calls: each function runs in its own MLOS_BPF_STACK_SIZE-byte
 * frame (its R10), at most this many frames deep counting the program's
 * entry function, so a run never uses more than MLOS_BPF_MAX_FRAMES *
 * MLOS_BPF_STACK_SIZE bytes of VM stack. */
#define MLOS_BPF_MAX_FRAMES 8
/* A verified loop must be proven to run at most this many times per entry. */
#define MLOS_BPF_MAX_TRIPS (1u << 24)
#define MLOS_BPF_ERR_MAX 160    /* a verifier message always fits */

/* ---- helpers: numbered functions programs may call (BPF_CALL imm) ---- */
enum mlos_bpf_helper_id {
    MLOS_BPF_HELPER_TRACE = 1,  /* trace(ptr, size): console line; 0 */
    MLOS_BPF_HELPER_NOW_NS = 2, /* now_ns(): HAL monotonic clock */
    MLOS_BPF_HELPER_HASH32 = 3, /* hash32(ptr, size): FNV-1a 32 */
    MLOS_BPF_HELPER_MEMEQ = 4,  /* memeq(ptr a, ptr b, size): 1 if equal */
    MLOS_BPF_HELPER_COUNT = 5,  /* ids are 1 .. COUNT-1 */
};
#define MLOS_BPF_HELPER_BIT(id) (1u << (id))

/* Argument kinds of a helper, checked by the verifier (and at run time in
 * checked mode). A SIZE argument bounds every PTR argument of the call. */
enum mlos_bpf_arg {
    MLOS_BPF_ARG_NONE = 0,
    MLOS_BPF_ARG_SCALAR,   /* any initialised non-pointer value */
    MLOS_BPF_ARG_PTR_READ, /* readable memory of SIZE bytes */
    MLOS_BPF_ARG_PTR_WRITE,/* writable memory of SIZE bytes */
    MLOS_BPF_ARG_SIZE,     /* scalar with a known upper bound */
};

typedef uint64_t (*mlos_bpf_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

struct mlos_bpf_helper {
    const char *name;
    mlos_bpf_helper_fn fn;
    uint8_t args[5];   /* enum mlos_bpf_arg for r1..r5 */
    uint64_t ret_max;  /* R0 is a scalar in [0, ret_max] */
};

/* The helper with that id, or NULL. */
const struct mlos_bpf_helper *mlos_bpf_helper_get(int32_t id);

/* ---- what a hook grants: context layout, regions, helpers ---- */
struct mlos_bpf_region_desc {
    uint32_t ctx_off; /* le64 host address of the region, in the context */
    uint32_t size;    /* fixed: the region is exactly this many bytes; variable: at most */
    uint8_t writable;
    /* Variable length: the region's length is the le64 at ctx + len_off
     * (capped at size), known only when the program runs. The verifier
     * proves accesses lie inside size and marks them; those are then
     * checked against the real length at run time, in both modes (as is
     * writability, so a run can grant a writable region read-only). */
    uint8_t variable;
    uint32_t len_off;
    /* Variable regions with grant set: a writable region is writable in a
     * run only if bit 0 of the le32 at ctx + grant_off is set (the run
     * grants read-only or read-write access). */
    uint8_t grant;
    uint32_t grant_off;
};

struct mlos_bpf_hook_desc {
    const char *name;
    uint32_t ctx_size;    /* programs may touch ctx[0 .. ctx_size) */
    uint8_t ctx_writable; /* stores into ctx allowed (never over region pointers) */
    uint8_t nregions;
    struct mlos_bpf_region_desc regions[MLOS_BPF_MAX_REGIONS];
    uint32_t helpers;     /* MLOS_BPF_HELPER_BIT(id) mask */
    /* Instructions a checked run may execute here, counted as the
     * program's length per backward jump and twice that per local call
     * (between those, execution only moves forward, so this is an upper
     * bound). 0: loop-free runs only; UINT64_MAX: no limit. Hooks run
     * trusted programs that can loop in checked mode unless the budget
     * is UINT64_MAX, so they cannot spin forever either. */
    uint64_t insn_budget;
};

/* ---- programs ---- */
enum mlos_bpf_flags {
    MLOS_BPF_TRUSTED = 1u << 0, /* skip the verifier (application's own code) */
    MLOS_BPF_CHECKED = 1u << 1, /* default run mode: checked */
};

enum mlos_bpf_mode { MLOS_BPF_RUN_FAST = 0, MLOS_BPF_RUN_CHECKED = 1 };

struct mlos_bpf_prog; /* opaque */

/* Decode (and, unless MLOS_BPF_TRUSTED, verify) len bytes of program for
 * hook. Returns 0 and *out, or a negative MLOS_E* code with a message in
 * err ("insn 12: r3 is not a pointer: cannot load"): MLOS_EINVAL for a
 * program that is rejected, MLOS_ETOOBIG above MLOS_BPF_MAX_INSNS,
 * MLOS_ENOMEM. The bytes are copied; the caller keeps its buffer. */
int mlos_bpf_load(const void *code, size_t len, const struct mlos_bpf_hook_desc *hook, unsigned flags,
                  struct mlos_bpf_prog **out, char *err, size_t err_len);

void mlos_bpf_free(struct mlos_bpf_prog *prog);

/* Instruction slots, flags and hook of a loaded program. */
uint32_t mlos_bpf_ninsns(const struct mlos_bpf_prog *prog);
/* 1 if the program has a backward jump or a local call (so its run time is
 * not bounded by its length). */
int mlos_bpf_may_loop(const struct mlos_bpf_prog *prog);
unsigned mlos_bpf_flags(const struct mlos_bpf_prog *prog);
const struct mlos_bpf_hook_desc *mlos_bpf_hook(const struct mlos_bpf_prog *prog);

/* Run with R1 = ctx, R10 = top of a fresh stack, in the program's default
 * mode (checked if loaded with MLOS_BPF_CHECKED), budget as below. Returns
 * R0; a checked run that faults returns 0 (use mlos_bpf_run_ex to see). */
uint64_t mlos_bpf_run(struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len);

/* Run in an explicit mode. Checked mode allows max_back_jumps backward
 * jumps (0: none, so at most ninsns instructions run). Returns 0 and *r0,
 * MLOS_EACCES for an access outside ctx (ctx_len bytes), stack and the
 * regions named by ctx, MLOS_ETIMEDOUT when the budget is exhausted,
 * MLOS_ETOOBIG for (trusted) local calls nested deeper than
 * MLOS_BPF_MAX_FRAMES (in either mode). */
int mlos_bpf_run_ex(struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, enum mlos_bpf_mode mode,
                    uint64_t max_back_jumps, uint64_t *r0);

/* ---- memory for programs and verifier state ----
 * Defaults to mlos_malloc/mlos_free (the shard heap). Hosted programs that
 * never start a shard heap (tests, benchmarks, the master) set their own. */
void mlos_bpf_set_allocator(void *(*alloc)(size_t), void (*release)(void *));

/* ---- verifier, usable alone (tests, tools) ----
 * Checks n decoded slots against hook. Returns 0 or MLOS_EINVAL with err. */
int mlos_bpf_verify(const struct mlos_bpf_insn *insns, uint32_t n, const struct mlos_bpf_hook_desc *hook,
                    char *err, size_t err_len);

#endif
