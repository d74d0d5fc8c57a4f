/* libos/bpf/bpf_interp_body.h -- the threaded-code interpreter, included
 * twice by bpf_interp.c: BPF_INTERP_NAME names the instance and BPF_CHECKED
 * selects run-time bounds checks and the backward-jump budget.
 *
 * Direct threading: every pre-decoded slot holds the address of its
 * handler label (GCC's &&label), so dispatch is one indirect jump per
 * instruction with no decoding. Called with prog == NULL the instance only
 * returns its label table (bpf_thread fills code[].op from it).
 */
int BPF_INTERP_NAME(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, uint64_t budget, uint64_t *r0,
                    const void *const **labels)
{
#define BPF_LABEL_ADDR(n) &&op_##n,
    static const void *const table[BPF_OPI_COUNT] = {BPF_OP_LIST(BPF_LABEL_ADDR)};
#undef BPF_LABEL_ADDR
    uint64_t R[MLOS_BPF_NREGS];
    uint64_t stack[MLOS_BPF_MAX_FRAMES * MLOS_BPF_STACK_SIZE / 8];
    struct {
        const struct bpf_dinsn *ret;
        uint64_t saved[5]; /* R6..R9 (callee-saved) and R10 */
    } frames[MLOS_BPF_MAX_FRAMES - 1];
    int depth = 0;
    const struct bpf_dinsn *ip;
    /* Variable-length regions, for _v accesses: both modes check those
     * against these ranges only (the verifier proved the pointer is into
     * one), so that no mode lets such an access land in another object. */
    struct bpf_vlim var[8 * MLOS_BPF_MAX_REGIONS];
#if BPF_CHECKED
    struct bpf_range mem[2 + MLOS_BPF_MAX_REGIONS];
    int nmem, smem; /* smem: index of the stack range */
#endif

    if (!prog) {
        *labels = table;
        return 0;
    }
    memset(R, 0, sizeof(R));
    R[1] = (uint64_t)(uintptr_t)ctx;
    R[10] = (uint64_t)(uintptr_t)(stack + MLOS_BPF_MAX_FRAMES * MLOS_BPF_STACK_SIZE / 8);
#if BPF_CHECKED
    /* Unverified code may read the stack before writing it: never show it
     * the host's old stack contents (the verifier rules that out for the
     * rest, so they skip the cost). */
    if (prog->flags & MLOS_BPF_TRUSTED)
        memset(stack + (MLOS_BPF_MAX_FRAMES - 1) * MLOS_BPF_STACK_SIZE / 8, 0, MLOS_BPF_STACK_SIZE);
    nmem = bpf_ranges(prog, ctx, ctx_len, stack, mem, &smem);
#define MEMCHECK(a, sz, w)                                                                                       \
    do {                                                                                                         \
        if (!BPF_RANGE_OK(mem, nmem, (a), (sz), (w)))                                                            \
            return MLOS_EACCES;                                                                                  \
    } while (0)
#define TAKE(rel)                                                                                                \
    do {                                                                                                         \
        if ((rel) < 0 && budget-- == 0)                                                                          \
            return MLOS_ETIMEDOUT;                                                                               \
        ip += (rel);                                                                                             \
    } while (0)
/* A register-form jump or ja taken: imm is the byte displacement of its
 * target from the jump's slot (bpf_load.c), so the new ip is one load and
 * one add away from the old one: on a loop, this is the chain that
 * carries ip from one iteration to the next. Backward: at most 0. */
#define TAKEB(disp)                                                                                              \
    do {                                                                                                         \
        if ((disp) <= 0 && budget-- == 0)                                                                        \
            return MLOS_ETIMEDOUT;                                                                               \
        ip = (const struct bpf_dinsn *)((const char *)ip + (disp));                                              \
        goto *ip->op;                                                                                            \
    } while (0)
#else
#define MEMCHECK(a, sz, w) ((void)0)
#define TAKE(rel) (ip += (rel))
#define TAKEB(disp)                                                                                              \
    do {                                                                                                         \
        ip = (const struct bpf_dinsn *)((const char *)ip + (disp));                                              \
        goto *ip->op;                                                                                            \
    } while (0)
#endif
    if (prog->varlen)
        bpf_var_ranges(prog, ctx, ctx_len, var);
/* A _v load or register store: slot i's imm is the byte offset of its
 * limit (BPF_VLIM_OFF); any other _v access: the region's row from the
 * upper nibble of dst, then the limit for the size and kind. */
#define VLIMIT(m, a)                                                                                             \
    do {                                                                                                         \
        if ((uint64_t)(a) - (m)->lo >= (m)->lim)                                                                 \
            return MLOS_EACCES;                                                                                  \
    } while (0)
#define VCHECK_AT(i, a, sz, wr) VLIMIT((const struct bpf_vlim *)((const char *)var + ip[i].imm), a)
#define VCHECK(a, sz, wr) VCHECK_AT(0, a, sz, wr)
#define VCHECK_NIB(a, sz, wr)                                                                                    \
    VLIMIT((const struct bpf_vlim *)((const char *)var + ((size_t)(ip->dst & 0xf0) << 3)) + 4 * (wr) + BPF_SZI(sz), a)
#define DST R[ip->dst]
#define SRC R[ip->src]
#define IMM32 (ip->imm)
#define IMM ((uint64_t)(int64_t)IMM32)
#define OFF16 (ip->off)
#define OFF ((uint64_t)(int64_t)OFF16)
#define NEXT                                                                                                     \
    do {                                                                                                         \
        ip++;                                                                                                    \
        goto *ip->op;                                                                                            \
    } while (0)

    ip = prog->code;
    goto *ip->op;

#define ALU64(nm, E)                                                                                             \
    op_##nm##64k : {                                                                                             \
        uint64_t a = DST, b = IMM;                                                                               \
        (void)a;                                                                                                 \
        DST = (E);                                                                                               \
        NEXT;                                                                                                    \
    }                                                                                                            \
    op_##nm##64x : {                                                                                             \
        uint64_t a = DST, b = SRC;                                                                               \
        (void)a;                                                                                                 \
        DST = (E);                                                                                               \
        NEXT;                                                                                                    \
    }
#define ALU32(nm, E)                                                                                             \
    op_##nm##32k : {                                                                                             \
        uint32_t a = (uint32_t)DST, b = (uint32_t)IMM32;                                                       \
        (void)a;                                                                                                 \
        DST = (uint32_t)(E);                                                                                     \
        NEXT;                                                                                                    \
    }                                                                                                            \
    op_##nm##32x : {                                                                                             \
        uint32_t a = (uint32_t)DST, b = (uint32_t)SRC;                                                           \
        (void)a;                                                                                                 \
        DST = (uint32_t)(E);                                                                                     \
        NEXT;                                                                                                    \
    }
    ALU64(add, a + b)
    ALU64(sub, a - b)
    ALU64(mul, a * b)
    ALU64(div, bpf_udiv64(a, b))
    ALU64(sdiv, bpf_sdiv64(a, b))
    ALU64(or, a | b)
    ALU64(and, a & b)
    ALU64(lsh, a << (b & 63))
    ALU64(rsh, a >> (b & 63))
    ALU64(mod, bpf_umod64(a, b))
    ALU64(smod, bpf_smod64(a, b))
    ALU64(xor, a ^ b)
    ALU64(mov, b)
    ALU64(arsh, bpf_arsh64(a, (unsigned)b))
    ALU32(add, a + b)
    ALU32(sub, a - b)
    ALU32(mul, a * b)
    ALU32(div, bpf_udiv32(a, b))
    ALU32(sdiv, bpf_sdiv32(a, b))
    ALU32(or, a | b)
    ALU32(and, a & b)
    ALU32(lsh, a << (b & 31))
    ALU32(rsh, a >> (b & 31))
    ALU32(mod, bpf_umod32(a, b))
    ALU32(smod, bpf_smod32(a, b))
    ALU32(xor, a ^ b)
    ALU32(mov, b)
    ALU32(arsh, bpf_arsh32(a, b))
#undef ALU64
#undef ALU32
op_neg64:
    DST = 0 - DST;
    NEXT;
op_neg32:
    DST = (uint32_t)(0u - (uint32_t)DST);
    NEXT;
op_movsx64_8:
    DST = bpf_sext(SRC, 8);
    NEXT;
op_movsx64_16:
    DST = bpf_sext(SRC, 16);
    NEXT;
op_movsx64_32:
    DST = bpf_sext(SRC, 32);
    NEXT;
op_movsx32_8:
    DST = (uint32_t)bpf_sext(SRC, 8);
    NEXT;
op_movsx32_16:
    DST = (uint32_t)bpf_sext(SRC, 16);
    NEXT;
op_bswap16:
op_be16:
    DST = mlos_bswap16((uint16_t)DST);
    NEXT;
op_bswap32:
op_be32:
    DST = mlos_bswap32((uint32_t)DST);
    NEXT;
op_bswap64:
op_be64:
    DST = mlos_bswap64(DST);
    NEXT;
op_le16:
    DST = (uint16_t)DST;
    NEXT;
op_le32:
    DST = (uint32_t)DST;
    NEXT;
op_le64:
    NEXT;

#define JMP(nm, T, CMP)                                                                                          \
    op_##nm##k : {                                                                                               \
        T a = (T)DST, b = (T)IMM;                                                                                \
        if (CMP)                                                                                                 \
            TAKE(OFF16);                                                                                       \
        NEXT;                                                                                                    \
    }                                                                                                            \
    op_##nm##x : {                                                                                               \
        T a = (T)DST, b = (T)SRC;                                                                                \
        if (CMP)                                                                                                 \
            TAKEB(IMM32);                                                                                        \
        NEXT;                                                                                                    \
    }
#define JMPW(nm, cmp, scmp)                                                                                      \
    JMP(nm##64, uint64_t, a cmp b)                                                                               \
    JMP(nm##32, uint32_t, a cmp b)
    JMPW(jeq, ==, 0)
    JMPW(jne, !=, 0)
    JMPW(jgt, >, 0)
    JMPW(jge, >=, 0)
    JMPW(jlt, <, 0)
    JMPW(jle, <=, 0)
    JMP(jset64, uint64_t, (a & b) != 0)
    JMP(jset32, uint32_t, (a & b) != 0)
    JMP(jsgt64, int64_t, a > b)
    JMP(jsge64, int64_t, a >= b)
    JMP(jslt64, int64_t, a < b)
    JMP(jsle64, int64_t, a <= b)
    JMP(jsgt32, int32_t, a > b)
    JMP(jsge32, int32_t, a >= b)
    JMP(jslt32, int32_t, a < b)
    JMP(jsle32, int32_t, a <= b)
#undef JMP
#undef JMPW
op_ja:
    TAKEB(IMM32);
op_ja32:
    TAKE(IMM32);
    NEXT;
op_lddw:
    DST = (uint64_t)(uint32_t)IMM32 | (uint64_t)(uint32_t)ip[1].imm << 32;
    ip += 2;
    goto *ip->op;
op_lddw_hi: /* never reached: jumps into an lddw are rejected at load */
    return MLOS_EINVAL;
op_call: {
    const struct mlos_bpf_helper *h = mlos_bpf_helper_get(IMM32);
#if BPF_CHECKED
    if (!bpf_helper_args_ok(prog, IMM32, R, mem, nmem))
        return MLOS_EACCES;
#endif
    R[0] = h->fn(R[1], R[2], R[3], R[4], R[5]);
    NEXT;
}
op_exit:
    if (depth) { /* return from a local function */
        depth--;
        memcpy(&R[6], frames[depth].saved, sizeof(frames[depth].saved));
#if BPF_CHECKED
        mem[smem].lo += MLOS_BPF_STACK_SIZE; /* same length, same limits */
#endif
        ip = frames[depth].ret;
        goto *ip->op;
    }
    *r0 = R[0];
    return 0;
op_call_local:
    /* The verifier bounds the depth; trusted code meets the same limit
     * here, in both modes, since a deeper frame would leave the stack. */
    if (depth == MLOS_BPF_MAX_FRAMES - 1)
        return MLOS_ETOOBIG;
    frames[depth].ret = ip + 1;
    memcpy(frames[depth].saved, &R[6], sizeof(frames[depth].saved));
    depth++;
    R[10] -= MLOS_BPF_STACK_SIZE;
#if BPF_CHECKED
    mem[smem].lo -= MLOS_BPF_STACK_SIZE;
    if (prog->flags & MLOS_BPF_TRUSTED)
        memset((void *)(uintptr_t)mem[smem].lo, 0, MLOS_BPF_STACK_SIZE);
#endif
    ip += IMM32;
    NEXT;

/* _v handlers: loads and register stores find their limit through imm
 * (VCHECK); immediate stores and atomics have the region's index in dst's
 * upper nibble (VCHECK_NIB), the register in the lower one (VDST). */
#define VDST R[ip->dst & 15]
#define LDX1(nm, sz, E, CHK, D)                                                                                  \
    nm : {                                                                                                       \
        uint64_t a = SRC + OFF, v;                                                                               \
        CHK(a, sz, 0);                                                                                           \
        v = bpf_load_le((uintptr_t)a, sz);                                                                       \
        D = (E);                                                                                                 \
        NEXT;                                                                                                    \
    }
#define LDX(nm, sz, E) LDX1(op_##nm, sz, E, MEMCHECK, DST) LDX1(op_##nm##_v, sz, E, VCHECK, DST)
    LDX(ldxb, 1, v)
    LDX(ldxh, 2, v)
    LDX(ldxw, 4, v)
    LDX(ldxdw, 8, v)
    LDX(ldxsb, 1, bpf_sext(v, 8))
    LDX(ldxsh, 2, bpf_sext(v, 16))
    LDX(ldxsw, 4, bpf_sext(v, 32))
#undef LDX
#undef LDX1
#define ST1(nm, sz, V, CHK, D)                                                                                   \
    nm : {                                                                                                       \
        uint64_t a = D + OFF;                                                                                    \
        CHK(a, sz, 1);                                                                                           \
        bpf_store_le((uintptr_t)a, sz, (V));                                                                     \
        NEXT;                                                                                                    \
    }
#define ST(nm, sz, V, VCHK, VD) ST1(op_##nm, sz, V, MEMCHECK, DST) ST1(op_##nm##_v, sz, V, VCHK, VD)
    ST(stb, 1, IMM, VCHECK_NIB, VDST)
    ST(sth, 2, IMM, VCHECK_NIB, VDST)
    ST(stw, 4, IMM, VCHECK_NIB, VDST)
    ST(stdw, 8, IMM, VCHECK_NIB, VDST)
    ST(stxb, 1, SRC, VCHECK, DST)
    ST(stxh, 2, SRC, VCHECK, DST)
    ST(stxw, 4, SRC, VCHECK, DST)
    ST(stxdw, 8, SRC, VCHECK, DST)
#undef ST
#undef ST1
#define ATOMIC1(nm, sz, CHK, D)                                                                                  \
    nm : {                                                                                                       \
        uint64_t a = D + OFF, old;                                                                               \
        CHK(a, sz, 1);                                                                                           \
        old = bpf_atomic((uintptr_t)a, sz, IMM32, SRC, R[0]);                                                  \
        if (IMM32 == BPF_CMPXCHG)                                                                              \
            R[0] = old;                                                                                          \
        else if (IMM32 & BPF_FETCH)                                                                            \
            SRC = old;                                                                                           \
        NEXT;                                                                                                    \
    }
#define ATOMIC(nm, sz) ATOMIC1(op_##nm, sz, MEMCHECK, DST) ATOMIC1(op_##nm##_v, sz, VCHECK_NIB, VDST)
    ATOMIC(atomicw, 4)
    ATOMIC(atomicdw, 8)
#undef ATOMIC
#undef ATOMIC1

/* Fused sequences (BPF_FUSED_OPS): the instructions' statements in order.
 * bpf_fused_op picks one only where the registers alias as its comment
 * says (the first's destination is the next's too, and not its other
 * source), so the value can stay in v between them; whatever is read from
 * the register file after a store to it reads the new value, as one by
 * one. Then the last one's jump, if any, relative to its own slot. */
#define D_(i) R[ip[i].dst]
#define S_(i) R[ip[i].src]
#define K_(i) ((uint64_t)(int64_t)ip[i].imm)
#define O_(i) ((uint64_t)(int64_t)ip[i].off)
#define FUSED(nm, ...)                                                                                           \
    op_##nm : {                                                                                                  \
        __VA_ARGS__;                                                                                             \
        ip += 2;                                                                                                 \
        goto *ip->op;                                                                                            \
    }
/* rX = rA; rX op= K or rB */
#define MOVOP64(nm, E) FUSED(mov_##nm, { uint64_t a = S_(0); D_(0) = (E); })
#define MOVOP32(nm, E) FUSED(mov_##nm, { uint32_t a = (uint32_t)S_(0); D_(0) = (uint32_t)(E); })
    MOVOP64(add64k, a + K_(1))
    MOVOP64(sub64k, a - K_(1))
    MOVOP64(mul64k, a * K_(1))
    MOVOP64(and64k, a & K_(1))
    MOVOP64(or64k, a | K_(1))
    MOVOP64(xor64k, a ^ K_(1))
    MOVOP64(lsh64k, a << (K_(1) & 63))
    MOVOP64(rsh64k, a >> (K_(1) & 63))
    MOVOP64(arsh64k, bpf_arsh64(a, (unsigned)K_(1)))
    MOVOP64(add64x, a + S_(1))
    MOVOP64(sub64x, a - S_(1))
    MOVOP64(mul64x, a * S_(1))
    MOVOP64(and64x, a & S_(1))
    MOVOP64(or64x, a | S_(1))
    MOVOP64(xor64x, a ^ S_(1))
    MOVOP32(add32k, a + (uint32_t)K_(1))
    MOVOP32(and32k, a & (uint32_t)K_(1))
    MOVOP32(or32k, a | (uint32_t)K_(1))
    MOVOP32(xor32k, a ^ (uint32_t)K_(1))
    MOVOP32(lsh32k, a << (K_(1) & 31))
    MOVOP32(rsh32k, a >> (K_(1) & 31))
#undef MOVOP64
#undef MOVOP32
    op_mov_sub_add64k : {
        D_(0) = S_(0) - S_(1) + K_(2);
        ip += 3;
        goto *ip->op;
    }
    op_mov_sub_sub64k : {
        D_(0) = S_(0) - S_(1) - K_(2);
        ip += 3;
        goto *ip->op;
    }
    FUSED(lsh_add64x, D_(0) = (D_(0) << (K_(0) & 63)) + S_(1))
    FUSED(neg_and32k, D_(0) = (uint32_t)(0u - (uint32_t)D_(0)) & (uint32_t)K_(1))
    FUSED(rsh_xor32x, D_(0) = ((uint32_t)D_(0) >> (K_(0) & 31)) ^ (uint32_t)S_(1))
    FUSED(xor_mul32k, D_(0) = (uint32_t)(((uint32_t)D_(0) ^ (uint32_t)S_(0)) * (uint32_t)K_(1)))
    /* a spill and a reload, as compilers emit under register pressure */
    FUSED(stxdw_ldxdw, {
        uint64_t a = D_(0) + O_(0);
        MEMCHECK(a, 8, 1);
        bpf_store_le((uintptr_t)a, 8, S_(0));
        a = S_(1) + O_(1);
        MEMCHECK(a, 8, 0);
        D_(1) = bpf_load_le((uintptr_t)a, 8);
    })
/* rX += K; compare v (rX) with the jump's other operand, B (L: rX on the
 * left, the jump's destination; else on the right, its source) */
#define ADD_J(nm, T, CMP, B, L, F)                                                                                \
    op_##nm : {                                                                                                  \
        T v = (T)(D_(0) + K_(0));                                                                                \
        D_(0) = v;                                                                                               \
        ip++;                                                                                                    \
        if (L ? v CMP (T)(B) : (T)(B) CMP v)                                                                     \
            TAKE_##F;                                                                                            \
        NEXT;                                                                                                    \
    }
#define TAKE_K TAKE(ip->off)
#define TAKE_X TAKEB(ip->imm)
    ADD_J(add_jlt64k, uint64_t, <, K_(0), 1, K)
    ADD_J(add_jlt64x, uint64_t, <, S_(0), 1, X)
    ADD_J(add_jle64k, uint64_t, <=, K_(0), 1, K)
    ADD_J(add_jle64x, uint64_t, <=, S_(0), 1, X)
    ADD_J(add_jne64k, uint64_t, !=, K_(0), 1, K)
    ADD_J(add_jne64x, uint64_t, !=, S_(0), 1, X)
    ADD_J(add_jgt64x, uint64_t, >, D_(0), 0, X)
    ADD_J(add_jge64x, uint64_t, >=, D_(0), 0, X)
    ADD_J(add_jlt32k, uint32_t, <, K_(0), 1, K)
    ADD_J(add_jlt32x, uint32_t, <, S_(0), 1, X)
    ADD_J(add_jle32k, uint32_t, <=, K_(0), 1, K)
    ADD_J(add_jne32k, uint32_t, !=, K_(0), 1, K)
    ADD_J(add_jne32x, uint32_t, !=, S_(0), 1, X)
#undef ADD_J
#undef TAKE_K
#undef TAKE_X
/* Three to six slots: an address computed in v (also rX's new value),
 * then the access of slot J with slot J's check: CHK is MEMCHECK or, for a
 * _v access, VCHECK_AT(J): the limit its imm points to. */
#define VCHECK2(a, sz, wr) VCHECK_AT(2, a, sz, wr)
#define VCHECK3(a, sz, wr) VCHECK_AT(3, a, sz, wr)
#define SEQ(nm, n, V, ACCESS)                                                                                    \
    op_##nm : {                                                                                                  \
        uint64_t v = (V);                                                                                        \
        D_(0) = v;                                                                                               \
        ACCESS;                                                                                                  \
        ip += (n);                                                                                               \
        goto *ip->op;                                                                                            \
    }
/* slot j's load through v: the word in w, and in rY's register */
#define LOADW(j, sz, CHK)                                                                                        \
    do {                                                                                                         \
        a = v + O_(j);                                                                                           \
        CHK(a, sz, 0);                                                                                           \
        w = bpf_load_le((uintptr_t)a, sz);                                                                       \
        D_(j) = w;                                                                                               \
    } while (0)
#define TLDX(j, sz, CHK)                                                                                         \
    {                                                                                                            \
        uint64_t a, w;                                                                                           \
        LOADW(j, sz, CHK);                                                                                       \
        (void)w;                                                                                                 \
    }
#define TSTX(j, sz, CHK)                                                                                         \
    {                                                                                                            \
        uint64_t a = v + O_(j);                                                                                  \
        CHK(a, sz, 1);                                                                                           \
        bpf_store_le((uintptr_t)a, sz, S_(j));                                                                   \
    }
/* p[i] loaded into rY, then folded into rZ by slot 3, which reads rY as
 * its source: the loaded value w goes straight into the operation (rY's
 * slot in the register file is written first, so Z == Y reads w too). */
#define TLDXOP(sz, CHK, E)                                                                                       \
    {                                                                                                            \
        uint64_t a, w;                                                                                           \
        LOADW(2, sz, CHK);                                                                                       \
        D_(3) = (E);                                                                                             \
    }
#define IDX S_(0) + S_(1)
#define SIDX (D_(0) << (K_(0) & 63)) + S_(1)
#define ASIDX ((D_(0) & K_(0)) << (K_(1) & 63)) + S_(2)
    SEQ(idx_ldxb, 3, IDX, TLDX(2, 1, MEMCHECK))
    SEQ(idx_ldxh, 3, IDX, TLDX(2, 2, MEMCHECK))
    SEQ(idx_ldxw, 3, IDX, TLDX(2, 4, MEMCHECK))
    SEQ(idx_ldxdw, 3, IDX, TLDX(2, 8, MEMCHECK))
    SEQ(idx_ldxb_v, 3, IDX, TLDX(2, 1, VCHECK2))
    SEQ(idx_ldxh_v, 3, IDX, TLDX(2, 2, VCHECK2))
    SEQ(idx_ldxw_v, 3, IDX, TLDX(2, 4, VCHECK2))
    SEQ(idx_ldxdw_v, 3, IDX, TLDX(2, 8, VCHECK2))
    SEQ(sidx_ldxw, 3, SIDX, TLDX(2, 4, MEMCHECK))
    SEQ(sidx_ldxdw, 3, SIDX, TLDX(2, 8, MEMCHECK))
    SEQ(sidx_stxw, 3, SIDX, TSTX(2, 4, MEMCHECK))
    SEQ(sidx_stxdw, 3, SIDX, TSTX(2, 8, MEMCHECK))
    SEQ(sidx_ldxw_v, 3, SIDX, TLDX(2, 4, VCHECK2))
    SEQ(sidx_ldxdw_v, 3, SIDX, TLDX(2, 8, VCHECK2))
    SEQ(sidx_stxw_v, 3, SIDX, TSTX(2, 4, VCHECK2))
    SEQ(sidx_stxdw_v, 3, SIDX, TSTX(2, 8, VCHECK2))
    SEQ(asidx_ldxw, 4, ASIDX, TLDX(3, 4, MEMCHECK))
    SEQ(asidx_ldxdw, 4, ASIDX, TLDX(3, 8, MEMCHECK))
    SEQ(asidx_stxw, 4, ASIDX, TSTX(3, 4, MEMCHECK))
    SEQ(asidx_stxdw, 4, ASIDX, TSTX(3, 8, MEMCHECK))
    SEQ(asidx_ldxw_v, 4, ASIDX, TLDX(3, 4, VCHECK3))
    SEQ(asidx_ldxdw_v, 4, ASIDX, TLDX(3, 8, VCHECK3))
    SEQ(asidx_stxw_v, 4, ASIDX, TSTX(3, 4, VCHECK3))
    SEQ(asidx_stxdw_v, 4, ASIDX, TSTX(3, 8, VCHECK3))
/* a[i & mask] loaded into rY (slot 3), then slot 4's jump comparing rY
 * with its source, read after both writes (Z may be X or Y) */
#define ASIDX_J(ld, sz, CHK, cc, OP)                                                                             \
    op_asidx_##ld##_##cc : {                                                                                     \
        uint64_t v = ASIDX, a, w;                                                                                \
        D_(0) = v;                                                                                               \
        LOADW(3, sz, CHK);                                                                                       \
        ip += 4;                                                                                                 \
        if (w OP SRC)                                                                                            \
            TAKEB(IMM32);                                                                                        \
        NEXT;                                                                                                    \
    }
#define ASIDX_JS(ld, sz, CHK)                                                                                    \
    ASIDX_J(ld, sz, CHK, jeq, ==)                                                                                \
    ASIDX_J(ld, sz, CHK, jne, !=)                                                                                \
    ASIDX_J(ld, sz, CHK, jgt, >)                                                                                 \
    ASIDX_J(ld, sz, CHK, jge, >=)                                                                                \
    ASIDX_J(ld, sz, CHK, jlt, <)                                                                                 \
    ASIDX_J(ld, sz, CHK, jle, <=)
    ASIDX_JS(ldxw, 4, MEMCHECK)
    ASIDX_JS(ldxdw, 8, MEMCHECK)
    ASIDX_JS(ldxw_v, 4, VCHECK3)
    ASIDX_JS(ldxdw_v, 8, VCHECK3)
#undef ASIDX_J
#undef ASIDX_JS
#define ADDW D_(3) + w
#define XORW (uint32_t)D_(3) ^ (uint32_t)w
#define XORMULW (uint32_t)(((uint32_t)D_(3) ^ (uint32_t)w) * (uint32_t)K_(4))
    SEQ(idx_ldxb_add64x, 4, IDX, TLDXOP(1, MEMCHECK, ADDW))
    SEQ(idx_ldxb_xor32x, 4, IDX, TLDXOP(1, MEMCHECK, XORW))
    SEQ(idx_ldxb_xor_mul32k, 5, IDX, TLDXOP(1, MEMCHECK, XORMULW))
    SEQ(idx_ldxb_v_add64x, 4, IDX, TLDXOP(1, VCHECK2, ADDW))
    SEQ(idx_ldxb_v_xor32x, 4, IDX, TLDXOP(1, VCHECK2, XORW))
    SEQ(idx_ldxb_v_xor_mul32k, 5, IDX, TLDXOP(1, VCHECK2, XORMULW))
#undef ADDW
#undef XORW
#undef XORMULW
/* One step of a bitwise CRC, six slots: "rT = rC (32-bit); rT &= K1;
 * rT = -rT; rT &= K3; rC >>= K4; rC ^= rT" (T != C), i.e. c = (c >> 1) ^
 * (poly & -(c & 1)). A step is usually followed by the next one on the
 * same registers (the loop over a byte's bits, unrolled): that one is run
 * here too, keeping c and t in host registers; the register file gets
 * the last step's values, which are the only ones anything can read. */
op_crc32_step: {
    uint32_t c = (uint32_t)S_(0), t;
    for (;;) {
        t = (0u - (c & (uint32_t)K_(1))) & (uint32_t)K_(3);
        c = (c >> (K_(4) & 31)) ^ t;
        if (ip[6].op != &&op_crc32_step || ip[6].dst != ip[0].dst || ip[6].src != ip[0].src)
            break;
        ip += 6;
    }
    D_(0) = t;
    S_(0) = c;
    ip += 6;
    goto *ip->op;
}
#undef SEQ
#undef TLDX
#undef TSTX
#undef TLDXOP
#undef LOADW
#undef IDX
#undef SIDX
#undef ASIDX
#undef VCHECK2
#undef VCHECK3
#undef FUSED
#undef D_
#undef S_
#undef K_
#undef O_

#undef MEMCHECK
#undef VCHECK
#undef VCHECK_AT
#undef VCHECK_NIB
#undef VLIMIT
#undef VDST
#undef TAKE
#undef TAKEB
#undef DST
#undef SRC
#undef IMM
#undef IMM32
#undef OFF16
#undef OFF
#undef NEXT
}
