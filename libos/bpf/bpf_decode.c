/* libos/bpf/bpf_decode.c -- structural check of one instruction slot.
 *
 * Every program, trusted or not, passes here before it can run: the
 * threaded interpreter has no "invalid opcode" handler, so anything it may
 * meet must be a fully decoded, in-range instruction. Checks: opcode known,
 * registers r0..r10, fields the opcode does not use are zero (RFC 9669
 * reserves them), jump targets inside the program and not on the second
 * half of an lddw, lddw complete and of pseudo source 0, helper ids known.
 * Type and memory safety are the verifier's job (bpf_verify.c).
 */
#include <stdarg.h>
#include <stdio.h>

#include "bpf_impl.h"
#include "mlos_error.h"

int bpf_fail(char *err, size_t err_len, uint32_t pc, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || !err_len)
        return MLOS_EINVAL;
    n = snprintf(err, err_len, "insn %u: ", (unsigned)pc);
    if (n < 0 || (size_t)n >= err_len)
        return MLOS_EINVAL;
    va_start(ap, fmt);
    vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return MLOS_EINVAL;
}

/* Is slot t the second half of an lddw? (Looks back one slot; an lddw's
 * first half is never itself a second half, because those have opcode 0.) */
static int is_lddw_hi(const struct mlos_bpf_insn *insns, uint32_t t)
{
    return t > 0 && insns[t - 1].code == (BPF_LD | BPF_DW | BPF_IMM) && insns[t].code == 0;
}

static int check_target(const struct mlos_bpf_insn *insns, uint32_t pc, uint32_t n, int64_t rel, char *err,
                        size_t el)
{
    int64_t t = (int64_t)pc + 1 + rel;
    if (t < 0 || t >= (int64_t)n)
        return bpf_fail(err, el, pc, "jump to insn %lld is outside the program (%u insns)", (long long)t, (unsigned)n);
    if (is_lddw_hi(insns, (uint32_t)t))
        return bpf_fail(err, el, pc, "jump into the middle of the lddw at insn %lld", (long long)t - 1);
    return 0;
}

/* ALU family index in BPF_ALU_OPS order, or -1. */
static int alu_index(uint8_t op, int16_t off)
{
    switch (op) {
    case BPF_ADD: return 0;
    case BPF_SUB: return 1;
    case BPF_MUL: return 2;
    case BPF_DIV: return off ? 4 : 3;
    case BPF_OR: return 5;
    case BPF_AND: return 6;
    case BPF_LSH: return 7;
    case BPF_RSH: return 8;
    case BPF_MOD: return off ? 10 : 9;
    case BPF_XOR: return 11;
    case BPF_MOV: return 12;
    case BPF_ARSH: return 13;
    }
    return -1;
}

static int jmp_index(uint8_t op)
{
    static const int8_t idx[16] = {-1, 0, 1, 2, 3, 4, 5, 6, -1, -1, 7, 8, 9, 10, -1, -1};
    return idx[op >> 4];
}

static int classify_alu(const struct mlos_bpf_insn *in, uint32_t pc, char *err, size_t el)
{
    int is64 = BPF_CLASS(in->code) == BPF_ALU64, x = BPF_SRC(in->code) == BPF_X;
    uint8_t op = BPF_OP(in->code);
    int base = is64 ? BPF_OPI_add64k : BPF_OPI_add32k, i;

    if (op == BPF_NEG) {
        if (x || in->src || in->off || in->imm)
            return bpf_fail(err, el, pc, "neg with nonzero src/off/imm");
        return is64 ? BPF_OPI_neg64 : BPF_OPI_neg32;
    }
    if (op == BPF_END) {
        if (in->src || in->off || (in->imm != 16 && in->imm != 32 && in->imm != 64))
            return bpf_fail(err, el, pc, "byte swap needs imm 16, 32 or 64 and zero src/off");
        int k = in->imm == 16 ? 0 : in->imm == 32 ? 1 : 2;
        if (is64) {
            if (x)
                return bpf_fail(err, el, pc, "reserved opcode 0x%02x", in->code);
            return BPF_OPI_bswap16 + k;
        }
        return (x ? BPF_OPI_be16 : BPF_OPI_le16) + k;
    }
    if (op == BPF_MOV && in->off) {
        if (!x || in->imm || !(in->off == 8 || in->off == 16 || (is64 && in->off == 32)))
            return bpf_fail(err, el, pc, "invalid sign-extending move (off %d)", in->off);
        if (is64)
            return in->off == 8 ? BPF_OPI_movsx64_8 : in->off == 16 ? BPF_OPI_movsx64_16 : BPF_OPI_movsx64_32;
        return in->off == 8 ? BPF_OPI_movsx32_8 : BPF_OPI_movsx32_16;
    }
    if ((op == BPF_DIV || op == BPF_MOD) ? (in->off != 0 && in->off != 1) : in->off != 0)
        return bpf_fail(err, el, pc, "nonzero offset %d in ALU instruction", in->off);
    i = alu_index(op, in->off);
    if (i < 0)
        return bpf_fail(err, el, pc, "unknown ALU opcode 0x%02x", in->code);
    if (x ? in->imm != 0 : in->src != 0)
        return bpf_fail(err, el, pc, x ? "register ALU op with nonzero imm" : "immediate ALU op with nonzero src");
    return base + 2 * i + x;
}

static int classify_jmp(const struct mlos_bpf_insn *insns, uint32_t pc, uint32_t n, char *err, size_t el)
{
    const struct mlos_bpf_insn *in = &insns[pc];
    int is32 = BPF_CLASS(in->code) == BPF_JMP32, x = BPF_SRC(in->code) == BPF_X, i, rc;
    uint8_t op = BPF_OP(in->code);

    if (op == BPF_JA) {
        if (x || in->dst || in->src || (is32 ? in->off != 0 : in->imm != 0))
            return bpf_fail(err, el, pc, "malformed ja");
        rc = check_target(insns, pc, n, is32 ? in->imm : in->off, err, el);
        return rc < 0 ? rc : is32 ? BPF_OPI_ja32 : BPF_OPI_ja;
    }
    if (op == BPF_CALL) {
        if (!is32 && x)
            return bpf_fail(err, el, pc, "callx (a call through register r%u) is not supported: call helpers by id "
                            "or local functions by offset", in->dst);
        if (is32 || x || in->dst || in->off)
            return bpf_fail(err, el, pc, "malformed call");
        if (in->src == BPF_PSEUDO_CALL) {
            rc = check_target(insns, pc, n, in->imm, err, el);
            return rc < 0 ? rc : BPF_OPI_call_local;
        }
        if (in->src == 2)
            return bpf_fail(err, el, pc, "calls to kernel functions by BTF id (src 2) are not supported");
        if (in->src != 0)
            return bpf_fail(err, el, pc, "call with unsupported src %u", in->src);
        if (!mlos_bpf_helper_get(in->imm))
            return bpf_fail(err, el, pc, "unknown helper %d", (int)in->imm);
        return BPF_OPI_call;
    }
    if (op == BPF_EXIT) {
        if (is32 || x || in->dst || in->src || in->off || in->imm)
            return bpf_fail(err, el, pc, "malformed exit");
        return BPF_OPI_exit;
    }
    i = jmp_index(op);
    if (i < 0)
        return bpf_fail(err, el, pc, "unknown jump opcode 0x%02x", in->code);
    if (x ? in->imm != 0 : in->src != 0)
        return bpf_fail(err, el, pc, x ? "register jump with nonzero imm" : "immediate jump with nonzero src");
    rc = check_target(insns, pc, n, in->off, err, el);
    if (rc < 0)
        return rc;
    return (is32 ? BPF_OPI_jeq32k : BPF_OPI_jeq64k) + 2 * i + x;
}

static int size_index(uint8_t code) { return BPF_SIZE(code) == BPF_B ? 0 : BPF_SIZE(code) == BPF_H ? 1 : BPF_SIZE(code) == BPF_W ? 2 : 3; }

int bpf_classify(const struct mlos_bpf_insn *insns, uint32_t pc, uint32_t n, char *err, size_t el)
{
    const struct mlos_bpf_insn *in = &insns[pc];

    if (is_lddw_hi(insns, pc))
        return BPF_OPI_lddw_hi;
    if (in->dst > 10 || in->src > 10)
        return bpf_fail(err, el, pc, "invalid register r%u", in->dst > 10 ? in->dst : in->src);
    switch (BPF_CLASS(in->code)) {
    case BPF_ALU:
    case BPF_ALU64:
        return classify_alu(in, pc, err, el);
    case BPF_JMP:
    case BPF_JMP32:
        return classify_jmp(insns, pc, n, err, el);
    case BPF_LD:
        if (in->code != (BPF_LD | BPF_DW | BPF_IMM))
            return bpf_fail(err, el, pc, "unsupported load opcode 0x%02x (legacy packet access)", in->code);
        if (pc + 1 >= n)
            return bpf_fail(err, el, pc, "lddw truncated: no second slot");
        if (in->src)
            return bpf_fail(err, el, pc, "lddw pseudo source %u is not supported", in->src);
        if (in->off || insns[pc + 1].code || insns[pc + 1].dst || insns[pc + 1].src || insns[pc + 1].off)
            return bpf_fail(err, el, pc, "malformed lddw (reserved fields nonzero)");
        return BPF_OPI_lddw;
    case BPF_LDX:
        if (in->imm)
            return bpf_fail(err, el, pc, "load with nonzero imm");
        if (BPF_MODE(in->code) == BPF_MEM)
            return BPF_OPI_ldxb + size_index(in->code);
        if (BPF_MODE(in->code) == BPF_MEMSX && BPF_SIZE(in->code) != BPF_DW)
            return BPF_OPI_ldxsb + size_index(in->code);
        return bpf_fail(err, el, pc, "unsupported load opcode 0x%02x", in->code);
    case BPF_ST:
        if (BPF_MODE(in->code) != BPF_MEM)
            return bpf_fail(err, el, pc, "unsupported store opcode 0x%02x", in->code);
        if (in->src)
            return bpf_fail(err, el, pc, "immediate store with nonzero src");
        return BPF_OPI_stb + size_index(in->code);
    case BPF_STX:
        if (BPF_MODE(in->code) == BPF_ATOMIC) {
            if (BPF_SIZE(in->code) != BPF_W && BPF_SIZE(in->code) != BPF_DW)
                return bpf_fail(err, el, pc, "atomic operations are 4 or 8 bytes wide, not %d",
                                BPF_SIZE(in->code) == BPF_B ? 1 : 2);
            switch (in->imm) {
            case BPF_ADD: case BPF_ADD | BPF_FETCH: case BPF_OR: case BPF_OR | BPF_FETCH:
            case BPF_AND: case BPF_AND | BPF_FETCH: case BPF_XOR: case BPF_XOR | BPF_FETCH:
            case BPF_XCHG: case BPF_CMPXCHG:
                break;
            default:
                return bpf_fail(err, el, pc, "unknown atomic operation imm 0x%x", (unsigned)in->imm);
            }
            return BPF_SIZE(in->code) == BPF_W ? BPF_OPI_atomicw : BPF_OPI_atomicdw;
        }
        if (BPF_MODE(in->code) != BPF_MEM)
            return bpf_fail(err, el, pc, "unsupported store opcode 0x%02x", in->code);
        if (in->imm)
            return bpf_fail(err, el, pc, "register store with nonzero imm");
        return BPF_OPI_stxb + size_index(in->code);
    }
    return bpf_fail(err, el, pc, "unknown opcode 0x%02x", in->code);
}
