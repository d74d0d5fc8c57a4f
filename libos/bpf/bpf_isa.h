/* libos/bpf/bpf_isa.h -- eBPF instruction encoding (RFC 9669), for the
 * loader, the verifier, tests and hand-assembled programs.
 *
 * An instruction is 8 bytes, little-endian on the wire (clang -target bpfel):
 *
 *   byte 0      opcode: class (low 3 bits) | source/size (bits 3-4) | op/mode
 *   byte 1      dst register (low nibble), src register (high nibble)
 *   bytes 2-3   off: signed 16-bit offset (le16)
 *   bytes 4-7   imm: signed 32-bit immediate (le32)
 *
 * "lddw" (64-bit immediate load) is 16 bytes: a second slot with opcode 0,
 * registers 0, off 0 and the upper 32 bits in imm.
 *
 * The MLOS_BPF_* assembler macros below build struct mlos_bpf_insn values;
 * mlos_bpf_encode() turns an array of them into wire bytes.
 */
#ifndef MLOS_BPF_ISA_H
#define MLOS_BPF_ISA_H

#include <stddef.h>
#include <stdint.h>

/* classes */
#define BPF_LD 0x00
#define BPF_LDX 0x01
#define BPF_ST 0x02
#define BPF_STX 0x03
#define BPF_ALU 0x04
#define BPF_JMP 0x05
#define BPF_JMP32 0x06
#define BPF_ALU64 0x07
#define BPF_CLASS(code) ((code)&0x07)

/* ALU / JMP source */
#define BPF_K 0x00
#define BPF_X 0x08
#define BPF_SRC(code) ((code)&0x08)
#define BPF_OP(code) ((code)&0xf0)

/* ALU operations (off selects SDIV/SMOD = 1 and MOVSX = 8/16/32) */
#define BPF_ADD 0x00
#define BPF_SUB 0x10
#define BPF_MUL 0x20
#define BPF_DIV 0x30
#define BPF_OR 0x40
#define BPF_AND 0x50
#define BPF_LSH 0x60
#define BPF_RSH 0x70
#define BPF_NEG 0x80
#define BPF_MOD 0x90
#define BPF_XOR 0xa0
#define BPF_MOV 0xb0
#define BPF_ARSH 0xc0
#define BPF_END 0xd0
/* BPF_END in class ALU: source bit 0 = to little endian, 1 = to big endian;
 * in class ALU64 with source 0: unconditional byte swap. imm = 16/32/64. */
#define BPF_TO_LE 0x00
#define BPF_TO_BE 0x08

/* JMP operations */
#define BPF_JA 0x00
#define BPF_JEQ 0x10
#define BPF_JGT 0x20
#define BPF_JGE 0x30
#define BPF_JSET 0x40
#define BPF_JNE 0x50
#define BPF_JSGT 0x60
#define BPF_JSGE 0x70
#define BPF_CALL 0x80
#define BPF_EXIT 0x90
#define BPF_JLT 0xa0
#define BPF_JLE 0xb0
#define BPF_JSLT 0xc0
#define BPF_JSLE 0xd0

/* load/store size and mode */
#define BPF_W 0x00
#define BPF_H 0x08
#define BPF_B 0x10
#define BPF_DW 0x18
#define BPF_SIZE(code) ((code)&0x18)
#define BPF_IMM 0x00
#define BPF_ABS 0x20
#define BPF_IND 0x40
#define BPF_MEM 0x60
#define BPF_MEMSX 0x80
#define BPF_ATOMIC 0xc0
#define BPF_MODE(code) ((code)&0xe0)

/* Atomic operations (class STX, mode ATOMIC, size W or DW): imm selects
 * the operation; FETCH also returns the old value in src (zero-extended
 * for W). XCHG stores src and returns the old value in src; CMPXCHG
 * compares R0 with memory, stores src if equal, and always returns the
 * old value in R0. */
#define BPF_FETCH 0x01
#define BPF_XCHG (0xe0 | BPF_FETCH)
#define BPF_CMPXCHG (0xf0 | BPF_FETCH)

/* Calls: src 0 = helper (imm = id), src 1 = local bpf-to-bpf call
 * (imm = relative target, like a jump), src 2 = helper by BTF id (not
 * supported). */
#define BPF_PSEUDO_CALL 1

#define MLOS_BPF_NREGS 11       /* r0..r10 */
#define MLOS_BPF_STACK_SIZE 512 /* bytes below r10 */

/* One decoded instruction slot. */
struct mlos_bpf_insn {
    uint8_t code;
    uint8_t dst; /* 0..15 as decoded; valid programs use 0..10 */
    uint8_t src;
    int16_t off;
    int32_t imm;
};

/* ---- assembler macros (tests, benchmarks, hand-written programs) ---- */
#define MLOS_BPF_INSN(c, d, s, o, i) ((struct mlos_bpf_insn){(uint8_t)(c), (uint8_t)(d), (uint8_t)(s), (int16_t)(o), (int32_t)(i)})
#define BPF_ALU64_IMM(op, d, i) MLOS_BPF_INSN(BPF_ALU64 | BPF_K | (op), d, 0, 0, i)
#define BPF_ALU64_REG(op, d, s) MLOS_BPF_INSN(BPF_ALU64 | BPF_X | (op), d, s, 0, 0)
#define BPF_ALU32_IMM(op, d, i) MLOS_BPF_INSN(BPF_ALU | BPF_K | (op), d, 0, 0, i)
#define BPF_ALU32_REG(op, d, s) MLOS_BPF_INSN(BPF_ALU | BPF_X | (op), d, s, 0, 0)
#define BPF_MOV64_IMM(d, i) BPF_ALU64_IMM(BPF_MOV, d, i)
#define BPF_MOV64_REG(d, s) BPF_ALU64_REG(BPF_MOV, d, s)
#define BPF_MOV32_IMM(d, i) BPF_ALU32_IMM(BPF_MOV, d, i)
#define BPF_MOV32_REG(d, s) BPF_ALU32_REG(BPF_MOV, d, s)
/* signed div/mod: off = 1 */
#define BPF_SDIV64_REG(d, s) MLOS_BPF_INSN(BPF_ALU64 | BPF_X | BPF_DIV, d, s, 1, 0)
#define BPF_SDIV64_IMM(d, i) MLOS_BPF_INSN(BPF_ALU64 | BPF_K | BPF_DIV, d, 0, 1, i)
#define BPF_SMOD64_REG(d, s) MLOS_BPF_INSN(BPF_ALU64 | BPF_X | BPF_MOD, d, s, 1, 0)
#define BPF_SMOD64_IMM(d, i) MLOS_BPF_INSN(BPF_ALU64 | BPF_K | BPF_MOD, d, 0, 1, i)
#define BPF_SDIV32_REG(d, s) MLOS_BPF_INSN(BPF_ALU | BPF_X | BPF_DIV, d, s, 1, 0)
#define BPF_SDIV32_IMM(d, i) MLOS_BPF_INSN(BPF_ALU | BPF_K | BPF_DIV, d, 0, 1, i)
#define BPF_SMOD32_REG(d, s) MLOS_BPF_INSN(BPF_ALU | BPF_X | BPF_MOD, d, s, 1, 0)
#define BPF_SMOD32_IMM(d, i) MLOS_BPF_INSN(BPF_ALU | BPF_K | BPF_MOD, d, 0, 1, i)
/* sign-extending moves: bits = 8, 16 (32 for 64-bit only) */
#define BPF_MOVSX64(d, s, bits) MLOS_BPF_INSN(BPF_ALU64 | BPF_X | BPF_MOV, d, s, bits, 0)
#define BPF_MOVSX32(d, s, bits) MLOS_BPF_INSN(BPF_ALU | BPF_X | BPF_MOV, d, s, bits, 0)
#define BPF_NEG64(d) MLOS_BPF_INSN(BPF_ALU64 | BPF_NEG, d, 0, 0, 0)
#define BPF_NEG32(d) MLOS_BPF_INSN(BPF_ALU | BPF_NEG, d, 0, 0, 0)
#define BPF_LE(d, bits) MLOS_BPF_INSN(BPF_ALU | BPF_END | BPF_TO_LE, d, 0, 0, bits)
#define BPF_BE(d, bits) MLOS_BPF_INSN(BPF_ALU | BPF_END | BPF_TO_BE, d, 0, 0, bits)
#define BPF_BSWAP(d, bits) MLOS_BPF_INSN(BPF_ALU64 | BPF_END, d, 0, 0, bits)
/* 64-bit immediate: two slots */
#define BPF_LD_IMM64(d, v)                                                                                       \
    MLOS_BPF_INSN(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int32_t)(uint32_t)(uint64_t)(v)),                         \
        MLOS_BPF_INSN(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define BPF_LDX_MEM(sz, d, s, o) MLOS_BPF_INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define BPF_LDX_MEMSX(sz, d, s, o) MLOS_BPF_INSN(BPF_LDX | BPF_MEMSX | (sz), d, s, o, 0)
#define BPF_STX_MEM(sz, d, s, o) MLOS_BPF_INSN(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define BPF_ST_MEM(sz, d, o, i) MLOS_BPF_INSN(BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define BPF_JMP_IMM(op, d, i, o) MLOS_BPF_INSN(BPF_JMP | BPF_K | (op), d, 0, o, i)
#define BPF_JMP_REG(op, d, s, o) MLOS_BPF_INSN(BPF_JMP | BPF_X | (op), d, s, o, 0)
#define BPF_JMP32_IMM(op, d, i, o) MLOS_BPF_INSN(BPF_JMP32 | BPF_K | (op), d, 0, o, i)
#define BPF_JMP32_REG(op, d, s, o) MLOS_BPF_INSN(BPF_JMP32 | BPF_X | (op), d, s, o, 0)
#define BPF_JA_INSN(o) MLOS_BPF_INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define BPF_JA32_INSN(i) MLOS_BPF_INSN(BPF_JMP32 | BPF_JA, 0, 0, 0, i)
#define BPF_CALL_HELPER(id) MLOS_BPF_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, id)
#define BPF_CALL_LOCAL(rel) MLOS_BPF_INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel)
/* atomic op (BPF_ADD, BPF_OR, ... | BPF_FETCH, BPF_XCHG, BPF_CMPXCHG) on size sz at [d + o] with s */
#define BPF_ATOMIC_OP(sz, op, d, s, o) MLOS_BPF_INSN(BPF_STX | BPF_ATOMIC | (sz), d, s, o, op)
#define BPF_EXIT_INSN() MLOS_BPF_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Encode n slots into 8*n wire bytes (little-endian). */
static inline void mlos_bpf_encode(const struct mlos_bpf_insn *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++, out += 8) {
        uint16_t off = (uint16_t)in[i].off;
        uint32_t imm = (uint32_t)in[i].imm;
        out[0] = in[i].code;
        out[1] = (uint8_t)((in[i].dst & 0x0f) | (in[i].src << 4));
        out[2] = (uint8_t)off;
        out[3] = (uint8_t)(off >> 8);
        for (int b = 0; b < 4; b++)
            out[4 + b] = (uint8_t)(imm >> (8 * b));
    }
}

#endif
