/* libos/bpf/bpf_impl.h -- internals shared by the decoder, the verifier and
 * the interpreter: the handler list, the program object, little-endian
 * memory access and the arithmetic semantics both the verifier (constant
 * folding) and the interpreter use, so they cannot disagree.
 * Not part of the API.
 */
#ifndef MLOS_BPF_IMPL_H
#define MLOS_BPF_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bpf.h"
#include "mlos_endian.h"

/* ---- handlers: one per (operation, width, source) after decoding ----
 * The order is relied on by bpf_decode.c (ALU/JMP families are indexed). */
#define BPF_KX(X, n) X(n##k) X(n##x)
#define BPF_ALU_OPS(X, w)                                                                                        \
    BPF_KX(X, add##w) BPF_KX(X, sub##w) BPF_KX(X, mul##w) BPF_KX(X, div##w) BPF_KX(X, sdiv##w) BPF_KX(X, or##w)  \
    BPF_KX(X, and##w) BPF_KX(X, lsh##w) BPF_KX(X, rsh##w) BPF_KX(X, mod##w) BPF_KX(X, smod##w)                   \
    BPF_KX(X, xor##w) BPF_KX(X, mov##w) BPF_KX(X, arsh##w)
#define BPF_JMP_OPS(X, w)                                                                                        \
    BPF_KX(X, jeq##w) BPF_KX(X, jgt##w) BPF_KX(X, jge##w) BPF_KX(X, jset##w) BPF_KX(X, jne##w)                   \
    BPF_KX(X, jsgt##w) BPF_KX(X, jsge##w) BPF_KX(X, jlt##w) BPF_KX(X, jle##w) BPF_KX(X, jslt##w)                 \
    BPF_KX(X, jsle##w)
#define BPF_OP_LIST(X)                                                                                           \
    BPF_ALU_OPS(X, 64) X(neg64) X(movsx64_8) X(movsx64_16) X(movsx64_32) X(bswap16) X(bswap32) X(bswap64)        \
    BPF_ALU_OPS(X, 32) X(neg32) X(movsx32_8) X(movsx32_16) X(le16) X(le32) X(le64) X(be16) X(be32) X(be64)       \
    BPF_JMP_OPS(X, 64) BPF_JMP_OPS(X, 32) X(ja) X(ja32) X(call) X(exit) X(lddw) X(lddw_hi)                       \
    X(ldxb) X(ldxh) X(ldxw) X(ldxdw) X(ldxsb) X(ldxsh) X(ldxsw)                                                   \
    X(stb) X(sth) X(stw) X(stdw) X(stxb) X(stxh) X(stxw) X(stxdw) X(atomicw) X(atomicdw) X(call_local)             \
    BPF_MEM_OPS_V(X) BPF_FUSED_OPS(X)
/* The same memory operations on a variable-length region: the access is
 * checked against the region's real length at run time (in order: ldx*,
 * st*, stx*, atomic*, matching the plain ones from ldxb). */
#define BPF_MEM_OPS_V(X)                                                                                         \
    X(ldxb_v) X(ldxh_v) X(ldxw_v) X(ldxdw_v) X(ldxsb_v) X(ldxsh_v) X(ldxsw_v) X(stb_v) X(sth_v) X(stw_v)          \
    X(stdw_v) X(stxb_v) X(stxh_v) X(stxw_v) X(stxdw_v) X(atomicw_v) X(atomicdw_v)

/* Fused sequences: one handler runs two or three adjacent instructions,
 * the one in its slot and the next (bpf_fused_op, bpf_load.c, picks them;
 * names are first_second). eBPF is two-address, so compilers emit "r5 =
 * r2; r5 >>= 7" for a three-address operation, "r3 = r7; r3 += r2; r4 =
 * *(u8 *)(r3 + 0)" for p[i], and every counted loop closes with "i += 1;
 * if i < n goto"; a fused sequence pays one dispatch for all, and keeps the
 * intermediate value in a host register rather than storing it into the
 * register file and loading it back, which on a register file in memory
 * is a store-to-load forwarding delay on the dependency chain. So each is
 * picked only where its instructions share the register that carries the
 * value (see bpf_fused_op). The later slots keep their own handlers, so a
 * jump that lands on one runs it alone: fusing never changes which
 * instructions run.
 *   mov_OP:   rX = rA; rX OP= K or rB (B != X)
 *   mov_sub_add64k, mov_sub_sub64k: rX = rA; rX -= rB; rX += K or -= K
 *             (B != X): an index such as i - k - 1
 *   lsh_add:  rX <<= K; rX += rB (B != X)
 *   add_JMP:  rX += K; if rX JMP K or rB goto (jgt/jge x: if rB JMP rX)
 *   idx_LDX:  rX = rA; rX += rB; rY = *(rX + off) (B != X): p[i]
 *   sidx_LDX, sidx_STX: rX <<= K; rX += rB; rY = *(rX + off), or
 *             *(rX + off) = rY (B != X): a[i] of 4- or 8-byte elements
 *   asidx_LDX, asidx_STX: rX &= K; then as sidx (a[i & mask]: the index
 *             bounded so the verifier can prove the access)
 *   asidx_LDX_JMP: asidx_LDX into rY, then if rY JMP rZ goto (64-bit,
 *             register form, the jump's destination the loaded register):
 *             "if (a[j] <= key) break"
 *   idx_ldxb_OP: idx_ldxb, then rZ OP= rY (rY the loaded byte): rZ += rY
 *             (a sum), rZ ^= rY (32-bit: CRC's byte step), rZ ^= rY; rZ
 *             *= K (32-bit: FNV-1a)
 *   neg_and32k, rsh_xor32x, xor_mul32k: two operations on one register
 *             (the steps of a bitwise CRC, of FNV-1a)
 *   crc32_step: rT = rC; rT &= K; rT = -rT; rT &= K; rC >>= K; rC ^= rT
 *             (32-bit, T != C): one bit of a bitwise CRC */
/* in this order: bpf_fused_op computes the index from the load and the jump */
#define BPF_ASIDX_JMPS(X, ld)                                                                                    \
    X(asidx_##ld##_jeq) X(asidx_##ld##_jne) X(asidx_##ld##_jgt) X(asidx_##ld##_jge) X(asidx_##ld##_jlt)          \
    X(asidx_##ld##_jle)
#define BPF_FUSED_OPS(X)                                                                                         \
    X(mov_add64k) X(mov_sub64k) X(mov_mul64k) X(mov_and64k) X(mov_or64k) X(mov_xor64k) X(mov_lsh64k)             \
    X(mov_rsh64k) X(mov_arsh64k) X(mov_add64x) X(mov_sub64x) X(mov_mul64x) X(mov_and64x) X(mov_or64x)            \
    X(mov_xor64x) X(mov_add32k) X(mov_and32k) X(mov_or32k) X(mov_xor32k) X(mov_lsh32k) X(mov_rsh32k)             \
    X(lsh_add64x) X(add_jlt64k) X(add_jlt64x) X(add_jle64k) X(add_jle64x) X(add_jne64k) X(add_jne64x)            \
    X(add_jgt64x) X(add_jge64x) X(add_jlt32k) X(add_jlt32x) X(add_jle32k) X(add_jne32k) X(add_jne32x)            \
    X(stxdw_ldxdw) X(idx_ldxb) X(idx_ldxh) X(idx_ldxw) X(idx_ldxdw) X(idx_ldxb_v) X(idx_ldxh_v) X(idx_ldxw_v)     \
    X(idx_ldxdw_v) X(sidx_ldxw) X(sidx_ldxdw) X(sidx_stxw) X(sidx_stxdw) X(sidx_ldxw_v) X(sidx_ldxdw_v)           \
    X(sidx_stxw_v) X(sidx_stxdw_v) X(neg_and32k) X(rsh_xor32x) X(xor_mul32k) X(asidx_ldxw) X(asidx_ldxdw)       \
    X(asidx_stxw) X(asidx_stxdw) X(asidx_ldxw_v) X(asidx_ldxdw_v) X(asidx_stxw_v) X(asidx_stxdw_v)                \
    X(idx_ldxb_add64x) X(idx_ldxb_xor32x) X(idx_ldxb_xor_mul32k) X(idx_ldxb_v_add64x) X(idx_ldxb_v_xor32x)        \
    X(idx_ldxb_v_xor_mul32k) X(crc32_step) X(mov_sub_add64k) X(mov_sub_sub64k)                \
    BPF_ASIDX_JMPS(X, ldxw) BPF_ASIDX_JMPS(X, ldxdw) BPF_ASIDX_JMPS(X, ldxw_v) BPF_ASIDX_JMPS(X, ldxdw_v)

#define BPF_ENUM_ITEM(n) BPF_OPI_##n,
enum bpf_opi { BPF_OP_LIST(BPF_ENUM_ITEM) BPF_OPI_COUNT };
#undef BPF_ENUM_ITEM

/* Where a _v access finds its limit in the interpreter's table of
 * variable-region limits (struct bpf_vlim, bpf_interp.c): eight of 16
 * bytes per region, reads then writes, by size index (0-3 for 1-8 bytes). */
#define BPF_VLIM_OFF(region, write, szi) ((int32_t)((region) * 128 + (write) * 64 + (szi) * 16))

/* Number of ALU operations per width (K and X each), in BPF_ALU_OPS order. */
#define BPF_NALU 14
#define BPF_NJMP 11

/* A pre-decoded instruction: the handler address of one interpreter
 * instance plus operands. Jump offsets stay relative (ip += off). */
struct bpf_dinsn {
    const void *op;
    uint8_t dst, src;
    int16_t off;
    int32_t imm;
};

struct mlos_bpf_prog {
    uint32_t n;
    unsigned flags;
    uint8_t may_loop;               /* a backward jump or a local call */
    uint8_t varlen;                 /* uses run-time checked (_v) accesses */
    struct mlos_bpf_hook_desc hook; /* a copy: callers may reuse theirs */
    int threaded;                   /* instance whose labels code[].op holds, -1 none */
    uint8_t *opi;                   /* enum bpf_opi per slot */
    struct bpf_dinsn *code;
};

/* allocator (bpf_load.c) */
void *bpf_alloc(size_t n);
void bpf_release(void *p);

/* "insn %u: ..." into err; returns MLOS_EINVAL. */
int bpf_fail(char *err, size_t err_len, uint32_t pc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Structural check of slot pc of n (bpf_decode.c): every field valid for
 * its opcode, jump target inside the program and not inside an lddw,
 * helper id known. Returns the handler (enum bpf_opi) or MLOS_EINVAL with
 * err. The second slot of an lddw is BPF_OPI_lddw_hi. */
int bpf_classify(const struct mlos_bpf_insn *insns, uint32_t pc, uint32_t n, char *err, size_t err_len);

/* mlos_bpf_verify, also marking in rtcheck[pc] (n bytes, or NULL) the
 * accesses to variable-length regions, which need a run-time check. */
/* (rtcheck[pc] = 1 + the region's index.) */
int bpf_verify_ex(const struct mlos_bpf_insn *insns, uint32_t n, const struct mlos_bpf_hook_desc *hook,
                  uint8_t *rtcheck, char *err, size_t err_len);

/* Point code[].op at the labels of interpreter instance mode. */
void bpf_thread(struct mlos_bpf_prog *prog, int mode);
/* The interpreter instances (bpf_interp.c); with prog == NULL they return
 * their label table in *labels instead of running. */
struct bpf_mem;
int bpf_interp_fast(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, uint64_t budget, uint64_t *r0,
                    const void *const **labels);
int bpf_interp_checked(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, uint64_t budget,
                       uint64_t *r0, const void *const **labels);

/* ---- little-endian VM memory ---- */
static inline uint64_t bpf_load_le(uintptr_t a, int size)
{
    switch (size) {
    case 1:
        return *(const uint8_t *)a;
    case 2: {
        uint16_t v;
        memcpy(&v, (const void *)a, 2);
        return MLOS_HOST_BIG_ENDIAN ? mlos_bswap16(v) : v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, (const void *)a, 4);
        return mlos_from_le32(v);
    }
    default: {
        uint64_t v;
        memcpy(&v, (const void *)a, 8);
        return mlos_from_le64(v);
    }
    }
}

static inline void bpf_store_le(uintptr_t a, int size, uint64_t v)
{
    switch (size) {
    case 1:
        *(uint8_t *)a = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = MLOS_HOST_BIG_ENDIAN ? mlos_bswap16((uint16_t)v) : (uint16_t)v;
        memcpy((void *)a, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = mlos_to_le32((uint32_t)v);
        memcpy((void *)a, &x, 4);
        break;
    }
    default: {
        uint64_t x = mlos_to_le64(v);
        memcpy((void *)a, &x, 8);
        break;
    }
    }
}

/* ---- atomic operations ----
 * The VM is single-threaded, but the memory a program reaches (a hook's
 * regions, a shard's bulk window) may be shared with other processors, so
 * naturally aligned operations are real atomic read-modify-writes where
 * the compiler has a lock-free compare-and-swap of that width. The value
 * in memory stays little-endian: the loop swaps around the computation. A
 * misaligned operand, or a host without such a CAS (32-bit PowerPC for
 * 8 bytes), gets a plain load and store, which is atomic only with
 * respect to the program itself. Returns the old value (zero-extended). */
static inline uint64_t bpf_atomic_new(int32_t op, uint64_t old, uint64_t src, uint64_t r0, int size)
{
    uint64_t m = size == 4 ? UINT32_MAX : UINT64_MAX;
    switch (op & ~BPF_FETCH) {
    case BPF_ADD: return (old + src) & m;
    case BPF_OR: return (old | src) & m;
    case BPF_AND: return old & src & m;
    case BPF_XOR: return (old ^ src) & m;
    case BPF_XCHG & ~BPF_FETCH: return src & m;
    default: return old == (r0 & m) ? src & m : old; /* CMPXCHG */
    }
}

static inline uint64_t bpf_atomic(uintptr_t a, int size, int32_t op, uint64_t src, uint64_t r0)
{
    uint64_t old, nv;
#if defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_4)
    if (size == 4 && (a & 3) == 0) {
        uint32_t raw = __atomic_load_n((uint32_t *)a, __ATOMIC_RELAXED);
        do {
            old = mlos_from_le32(raw);
            nv = bpf_atomic_new(op, old, src, r0, 4);
        } while (!__atomic_compare_exchange_n((uint32_t *)a, &raw, mlos_to_le32((uint32_t)nv), 0, __ATOMIC_SEQ_CST,
                                              __ATOMIC_RELAXED));
        return old;
    }
#endif
#if defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_8)
    if (size == 8 && (a & 7) == 0) {
        uint64_t raw = __atomic_load_n((uint64_t *)a, __ATOMIC_RELAXED);
        do {
            old = mlos_from_le64(raw);
            nv = bpf_atomic_new(op, old, src, r0, 8);
        } while (!__atomic_compare_exchange_n((uint64_t *)a, &raw, mlos_to_le64(nv), 0, __ATOMIC_SEQ_CST,
                                              __ATOMIC_RELAXED));
        return old;
    }
#endif
    old = bpf_load_le(a, size);
    nv = bpf_atomic_new(op, old, src, r0, size);
    if (nv != old || (op & ~BPF_FETCH) != (BPF_CMPXCHG & ~BPF_FETCH))
        bpf_store_le(a, size, nv);
    return old;
}

/* ---- RFC 9669 arithmetic corner cases ---- */
static inline uint64_t bpf_udiv64(uint64_t a, uint64_t b) { return b ? a / b : 0; }
static inline uint64_t bpf_umod64(uint64_t a, uint64_t b) { return b ? a % b : a; }
static inline uint32_t bpf_udiv32(uint32_t a, uint32_t b) { return b ? a / b : 0; }
static inline uint32_t bpf_umod32(uint32_t a, uint32_t b) { return b ? a % b : a; }
/* Signed: x / 0 = 0, x % 0 = x, MIN / -1 = MIN, MIN % -1 = 0 (C would trap). */
static inline uint64_t bpf_sdiv64(uint64_t a, uint64_t b)
{
    if (!b)
        return 0;
    if (b == UINT64_MAX)
        return 0 - a; /* also MIN / -1 = MIN, without signed overflow */
    return (uint64_t)((int64_t)a / (int64_t)b);
}
static inline uint64_t bpf_smod64(uint64_t a, uint64_t b)
{
    if (!b)
        return a;
    if (b == UINT64_MAX)
        return 0;
    return (uint64_t)((int64_t)a % (int64_t)b);
}
static inline uint32_t bpf_sdiv32(uint32_t a, uint32_t b)
{
    if (!b)
        return 0;
    if (b == UINT32_MAX)
        return 0u - a;
    return (uint32_t)((int32_t)a / (int32_t)b);
}
static inline uint32_t bpf_smod32(uint32_t a, uint32_t b)
{
    if (!b)
        return a;
    if (b == UINT32_MAX)
        return 0;
    return (uint32_t)((int32_t)a % (int32_t)b);
}
/* Arithmetic right shift without relying on implementation-defined >>. */
static inline uint64_t bpf_arsh64(uint64_t a, unsigned s)
{
    s &= 63;
    return (a >> s) | ((a >> 63) && s ? ~(UINT64_MAX >> s) : 0);
}
static inline uint32_t bpf_arsh32(uint32_t a, unsigned s)
{
    s &= 31;
    return (a >> s) | ((a >> 31) && s ? ~(UINT32_MAX >> s) : 0);
}
static inline uint64_t bpf_sext(uint64_t v, unsigned bits)
{
    uint64_t m = 1ull << (bits - 1);
    v &= bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    return (v ^ m) - m;
}

/* Result of the ALU/ALU64 instruction ins with operands d (dst) and s
 * (src register value, or the immediate sign-extended to 64 bits). The
 * verifier folds constants with it; the interpreter's handlers implement
 * the same formulas (the conformance test compares both). */
static inline uint64_t bpf_alu_eval(const struct mlos_bpf_insn *ins, uint64_t d, uint64_t s)
{
    int is64 = BPF_CLASS(ins->code) == BPF_ALU64;
    uint32_t d32 = (uint32_t)d, s32 = (uint32_t)s;
    switch (BPF_OP(ins->code)) {
    case BPF_ADD:
        return is64 ? d + s : (uint32_t)(d32 + s32);
    case BPF_SUB:
        return is64 ? d - s : (uint32_t)(d32 - s32);
    case BPF_MUL:
        return is64 ? d * s : (uint32_t)(d32 * s32);
    case BPF_DIV:
        if (ins->off)
            return is64 ? bpf_sdiv64(d, s) : bpf_sdiv32(d32, s32);
        return is64 ? bpf_udiv64(d, s) : bpf_udiv32(d32, s32);
    case BPF_MOD:
        if (ins->off)
            return is64 ? bpf_smod64(d, s) : bpf_smod32(d32, s32);
        return is64 ? bpf_umod64(d, s) : bpf_umod32(d32, s32);
    case BPF_OR:
        return is64 ? d | s : (d32 | s32);
    case BPF_AND:
        return is64 ? d & s : (d32 & s32);
    case BPF_XOR:
        return is64 ? d ^ s : (d32 ^ s32);
    case BPF_LSH:
        return is64 ? d << (s & 63) : (uint32_t)(d32 << (s32 & 31));
    case BPF_RSH:
        return is64 ? d >> (s & 63) : d32 >> (s32 & 31);
    case BPF_ARSH:
        return is64 ? bpf_arsh64(d, (unsigned)s) : bpf_arsh32(d32, (unsigned)s32);
    case BPF_NEG:
        return is64 ? 0 - d : (uint32_t)(0u - d32);
    case BPF_MOV:
        if (ins->off)
            return is64 ? bpf_sext(s, (unsigned)ins->off) : (uint32_t)bpf_sext(s, (unsigned)ins->off);
        return is64 ? s : s32;
    case BPF_END: {
        unsigned bits = (unsigned)ins->imm;
        uint64_t v = bits == 64 ? d : d & ((1ull << bits) - 1);
        /* The VM is little-endian: to-LE truncates, to-BE and bswap swap. */
        if (is64 || BPF_SRC(ins->code) == BPF_TO_BE)
            v = bits == 16 ? mlos_bswap16((uint16_t)v) : bits == 32 ? mlos_bswap32((uint32_t)v) : mlos_bswap64(v);
        return v;
    }
    }
    return 0;
}

/* Condition of a JMP/JMP32 conditional jump on operands a (dst), b (src or
 * sign-extended imm); JMP32 compares the low 32 bits. */
static inline int bpf_jmp_eval(uint8_t code, uint64_t a, uint64_t b)
{
    if (BPF_CLASS(code) == BPF_JMP32) {
        uint32_t x = (uint32_t)a, y = (uint32_t)b;
        switch (BPF_OP(code)) {
        case BPF_JEQ: return x == y;
        case BPF_JNE: return x != y;
        case BPF_JGT: return x > y;
        case BPF_JGE: return x >= y;
        case BPF_JLT: return x < y;
        case BPF_JLE: return x <= y;
        case BPF_JSET: return (x & y) != 0;
        case BPF_JSGT: return (int32_t)x > (int32_t)y;
        case BPF_JSGE: return (int32_t)x >= (int32_t)y;
        case BPF_JSLT: return (int32_t)x < (int32_t)y;
        case BPF_JSLE: return (int32_t)x <= (int32_t)y;
        }
        return 0;
    }
    switch (BPF_OP(code)) {
    case BPF_JEQ: return a == b;
    case BPF_JNE: return a != b;
    case BPF_JGT: return a > b;
    case BPF_JGE: return a >= b;
    case BPF_JLT: return a < b;
    case BPF_JLE: return a <= b;
    case BPF_JSET: return (a & b) != 0;
    case BPF_JSGT: return (int64_t)a > (int64_t)b;
    case BPF_JSGE: return (int64_t)a >= (int64_t)b;
    case BPF_JSLT: return (int64_t)a < (int64_t)b;
    case BPF_JSLE: return (int64_t)a <= (int64_t)b;
    }
    return 0;
}

#endif
