/* libos/bpf/bpf_load.c -- program objects: decode wire bytes, verify
 * untrusted code, pre-decode into threaded code, run.
 */
#include <string.h>

#include "bpf_impl.h"
#include "mem.h"
#include "mlos_error.h"

_Static_assert(BPF_OPI_COUNT <= 256, "handler indexes are stored in a byte per slot");

static void *(*g_alloc)(size_t) = mlos_malloc;
static void (*g_release)(void *) = mlos_free;

void mlos_bpf_set_allocator(void *(*alloc)(size_t), void (*release)(void *))
{
    g_alloc = alloc ? alloc : mlos_malloc;
    g_release = release ? release : mlos_free;
}

void *bpf_alloc(size_t n) { return g_alloc(n ? n : 1); }
void bpf_release(void *p)
{
    if (p)
        g_release(p);
}

static void decode_slot(const uint8_t *b, struct mlos_bpf_insn *out)
{
    out->code = b[0];
    out->dst = b[1] & 0x0f;
    out->src = b[1] >> 4;
    out->off = (int16_t)(uint16_t)(b[2] | b[3] << 8);
    out->imm = (int32_t)((uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24);
}

void mlos_bpf_free(struct mlos_bpf_prog *prog)
{
    if (!prog)
        return;
    bpf_release(prog->opi);
    bpf_release(prog->code);
    bpf_release(prog);
}

int mlos_bpf_load(const void *code, size_t len, const struct mlos_bpf_hook_desc *hook, unsigned flags,
                  struct mlos_bpf_prog **out, char *err, size_t err_len)
{
    struct mlos_bpf_insn *insns = NULL;
    struct mlos_bpf_prog *p = NULL;
    uint8_t *rtcheck = NULL;
    uint32_t n;
    int rc;

    *out = NULL;
    if (err && err_len)
        err[0] = 0;
    if (!hook || (!code && len)) {
        bpf_fail(err, err_len, 0, "no program or no hook");
        return MLOS_EINVAL;
    }
    if (len == 0 || len % 8) {
        bpf_fail(err, err_len, 0, "program length %zu is not a positive multiple of 8", len);
        return MLOS_EINVAL;
    }
    if (len / 8 > MLOS_BPF_MAX_INSNS) {
        bpf_fail(err, err_len, 0, "program has %zu slots, more than %u", len / 8, (unsigned)MLOS_BPF_MAX_INSNS);
        return MLOS_ETOOBIG;
    }
    if (hook->nregions > MLOS_BPF_MAX_REGIONS) {
        bpf_fail(err, err_len, 0, "hook '%s' declares too many regions", hook->name ? hook->name : "?");
        return MLOS_EINVAL;
    }
    n = (uint32_t)(len / 8);
    insns = bpf_alloc(n * sizeof(*insns));
    p = bpf_alloc(sizeof(*p));
    if (!insns || !p)
        goto nomem;
    memset(p, 0, sizeof(*p));
    p->opi = bpf_alloc(n);
    p->code = bpf_alloc(n * sizeof(*p->code));
    if (!p->opi || !p->code)
        goto nomem;
    for (uint32_t i = 0; i < n; i++)
        decode_slot((const uint8_t *)code + 8 * i, &insns[i]);

    if (flags & MLOS_BPF_TRUSTED) {
        for (uint32_t i = 0; i < n; i++) {
            rc = bpf_classify(insns, i, n, err, err_len);
            if (rc < 0)
                goto fail;
        }
        /* Even trusted code must not run off the end of the code array. */
        rc = bpf_classify(insns, n - 1, n, err, err_len);
        if (rc != BPF_OPI_exit && rc != BPF_OPI_ja && rc != BPF_OPI_ja32) {
            rc = bpf_fail(err, err_len, n - 1, "last instruction falls off the end of the program");
            goto fail;
        }
    } else {
        if (!(rtcheck = bpf_alloc(n)))
            goto nomem;
        if ((rc = bpf_verify_ex(insns, n, hook, rtcheck, err, err_len)) < 0)
            goto fail;
    }

    p->n = n;
    p->flags = flags;
    p->hook = *hook;
    p->threaded = -1;
    for (uint32_t i = 0; i < n; i++) {
        int op = bpf_classify(insns, i, n, NULL, 0);
        if (rtcheck && rtcheck[i] && op >= BPF_OPI_ldxb && op <= BPF_OPI_atomicdw && op != BPF_OPI_call_local) {
            op = BPF_OPI_ldxb_v + (op - BPF_OPI_ldxb) - (op > BPF_OPI_call_local);
            p->varlen = 1;
        }
        if (op == BPF_OPI_call_local)
            p->may_loop = 1;
        if (op >= BPF_OPI_jeq64k && op <= BPF_OPI_ja32 &&
            (op == BPF_OPI_ja32 ? insns[i].imm : insns[i].off) < 0)
            p->may_loop = 1;
        p->opi[i] = (uint8_t)op;
        p->code[i].op = NULL;
        p->code[i].dst = insns[i].dst;
        p->code[i].src = insns[i].src;
        p->code[i].off = insns[i].off;
        p->code[i].imm = insns[i].imm;
        /* A register-form conditional jump or ja (neither reads imm)
         * gets its target's byte displacement from its own slot there, so
         * a taken jump is one load and an add (TAKEB in the interpreter). */
        if ((op >= BPF_OPI_jeq64k && op <= BPF_OPI_jsle32x && (op - BPF_OPI_jeq64k) % 2) || op == BPF_OPI_ja)
            p->code[i].imm = ((int32_t)insns[i].off + 1) * (int32_t)sizeof(*p->code);
        if (op >= BPF_OPI_ldxb_v && op <= BPF_OPI_atomicdw_v) {
            /* Loads and register stores (imm 0) get the byte offset of
             * their limit (BPF_VLIM_OFF) in imm, the other _v accesses
             * their region's index in dst's upper nibble. */
            unsigned r = rtcheck[i] - 1u;
            if (op <= BPF_OPI_ldxsw_v)
                p->code[i].imm = BPF_VLIM_OFF(r, 0, op <= BPF_OPI_ldxdw_v ? op - BPF_OPI_ldxb_v : op - BPF_OPI_ldxsb_v);
            else if (op >= BPF_OPI_stxb_v && op <= BPF_OPI_stxdw_v)
                p->code[i].imm = BPF_VLIM_OFF(r, 1, op - BPF_OPI_stxb_v);
            else
                p->code[i].dst = (uint8_t)(insns[i].dst | r << 4);
        }
    }
    bpf_release(insns);
    bpf_release(rtcheck);
    *out = p;
    return 0;

nomem:
    bpf_fail(err, err_len, 0, "out of memory loading the program");
    rc = MLOS_ENOMEM;
fail:
    bpf_release(insns);
    bpf_release(rtcheck);
    mlos_bpf_free(p);
    return rc;
}

uint32_t mlos_bpf_ninsns(const struct mlos_bpf_prog *prog) { return prog->n; }
int mlos_bpf_may_loop(const struct mlos_bpf_prog *prog) { return prog->may_loop; }
unsigned mlos_bpf_flags(const struct mlos_bpf_prog *prog) { return prog->flags; }
const struct mlos_bpf_hook_desc *mlos_bpf_hook(const struct mlos_bpf_prog *prog) { return &prog->hook; }

/* Slot i's handler before fusing and its registers; -1 and 16 past the end. */
static int slot_op(const struct mlos_bpf_prog *p, uint32_t i) { return i < p->n ? p->opi[i] : -1; }
static unsigned slot_dst(const struct mlos_bpf_prog *p, uint32_t i) { return i < p->n ? p->code[i].dst & 15u : 16; }
static unsigned slot_src(const struct mlos_bpf_prog *p, uint32_t i) { return i < p->n ? p->code[i].src : 16; }

/* The handler for slot i: a fused sequence (BPF_FUSED_OPS) where slot i
 * and the next ones make one whose registers alias as its handler needs,
 * else the slot's own. The first slots of a sequence never jump, so
 * execution only ever enters it at slot i; a jump to a later slot runs
 * that slot's own handler. */
static int bpf_fused_op(const struct mlos_bpf_prog *p, uint32_t i)
{
    int a = p->opi[i], b = slot_op(p, i + 1), c = slot_op(p, i + 2);
    const struct bpf_dinsn *s = &p->code[i];
    /* the register X the sequence carries, and the next slots' registers
     * (a _v access has its region's index in dst's upper nibble) */
    unsigned x = s[0].dst & 15, d1 = slot_dst(p, i + 1), s1 = slot_src(p, i + 1);
    unsigned d2 = slot_dst(p, i + 2), s2 = slot_src(p, i + 2);
    int same = d1 == x, other = same && s1 != x; /* rX op= K / rX op= rB, B != X */

    /* rT = rC; rT &= K; rT = -rT; rT &= K; rC >>= K; rC ^= rT (32-bit, T != C) */
    if (a == BPF_OPI_mov32x && s[0].src != x && b == BPF_OPI_and32k && same && c == BPF_OPI_neg32 && d2 == x &&
        slot_op(p, i + 3) == BPF_OPI_and32k && slot_dst(p, i + 3) == x && slot_op(p, i + 4) == BPF_OPI_rsh32k &&
        slot_dst(p, i + 4) == s[0].src && slot_op(p, i + 5) == BPF_OPI_xor32x &&
        slot_dst(p, i + 5) == s[0].src && slot_src(p, i + 5) == x)
        return BPF_OPI_crc32_step;
    /* rX &= K; rX <<= K; rX += rB; load or store through rX */
    if (a == BPF_OPI_and64k && b == BPF_OPI_lsh64k && same && c == BPF_OPI_add64x && d2 == x && s2 != x) {
        int op3 = slot_op(p, i + 3), st = op3 == BPF_OPI_stxw || op3 == BPF_OPI_stxdw || op3 == BPF_OPI_stxw_v ||
                                           op3 == BPF_OPI_stxdw_v;
        static const int ld[] = {BPF_OPI_ldxw, BPF_OPI_ldxdw, BPF_OPI_ldxw_v, BPF_OPI_ldxdw_v};
        static const int jx[] = {BPF_OPI_jeq64x, BPF_OPI_jne64x, BPF_OPI_jgt64x,
                                 BPF_OPI_jge64x, BPF_OPI_jlt64x, BPF_OPI_jle64x};
        int op4 = slot_op(p, i + 4);
        /* the load, then a jump on what it loaded */
        if (!st && slot_src(p, i + 3) == x && slot_dst(p, i + 4) == slot_dst(p, i + 3))
            for (int l = 0; l < 4; l++)
                for (int j = 0; j < 6; j++)
                    if (op3 == ld[l] && op4 == jx[j])
                        return BPF_OPI_asidx_ldxw_jeq + 6 * l + j;
        if ((st ? slot_dst(p, i + 3) : slot_src(p, i + 3)) == x)
            switch (op3) {
            case BPF_OPI_ldxw: return BPF_OPI_asidx_ldxw;
            case BPF_OPI_ldxdw: return BPF_OPI_asidx_ldxdw;
            case BPF_OPI_stxw: return BPF_OPI_asidx_stxw;
            case BPF_OPI_stxdw: return BPF_OPI_asidx_stxdw;
            case BPF_OPI_ldxw_v: return BPF_OPI_asidx_ldxw_v;
            case BPF_OPI_ldxdw_v: return BPF_OPI_asidx_ldxdw_v;
            case BPF_OPI_stxw_v: return BPF_OPI_asidx_stxw_v;
            case BPF_OPI_stxdw_v: return BPF_OPI_asidx_stxdw_v;
            }
    }
    /* three slots: rX = rA; rX += rB; load through rX; with a byte load,
     * then maybe an operation on another register reading the byte */
    if (a == BPF_OPI_mov64x && b == BPF_OPI_add64x && other && s2 == x) {
        if (c == BPF_OPI_ldxb || c == BPF_OPI_ldxb_v) {
            int v = c == BPF_OPI_ldxb_v, op3 = slot_op(p, i + 3);
            unsigned z = slot_dst(p, i + 3);
            if (op3 == BPF_OPI_add64x && slot_src(p, i + 3) == d2)
                return v ? BPF_OPI_idx_ldxb_v_add64x : BPF_OPI_idx_ldxb_add64x;
            if (op3 == BPF_OPI_xor32x && slot_src(p, i + 3) == d2) {
                if (slot_op(p, i + 4) == BPF_OPI_mul32k && slot_dst(p, i + 4) == z)
                    return v ? BPF_OPI_idx_ldxb_v_xor_mul32k : BPF_OPI_idx_ldxb_xor_mul32k;
                return v ? BPF_OPI_idx_ldxb_v_xor32x : BPF_OPI_idx_ldxb_xor32x;
            }
        }
        switch (c) {
        case BPF_OPI_ldxb: return BPF_OPI_idx_ldxb;
        case BPF_OPI_ldxh: return BPF_OPI_idx_ldxh;
        case BPF_OPI_ldxw: return BPF_OPI_idx_ldxw;
        case BPF_OPI_ldxdw: return BPF_OPI_idx_ldxdw;
        case BPF_OPI_ldxb_v: return BPF_OPI_idx_ldxb_v;
        case BPF_OPI_ldxh_v: return BPF_OPI_idx_ldxh_v;
        case BPF_OPI_ldxw_v: return BPF_OPI_idx_ldxw_v;
        case BPF_OPI_ldxdw_v: return BPF_OPI_idx_ldxdw_v;
        }
    }
    /* rX <<= K; rX += rB; load or store through rX */
    if (a == BPF_OPI_lsh64k && b == BPF_OPI_add64x && other) {
        switch (c) {
        case BPF_OPI_ldxw: return s2 == x ? BPF_OPI_sidx_ldxw : BPF_OPI_lsh_add64x;
        case BPF_OPI_ldxdw: return s2 == x ? BPF_OPI_sidx_ldxdw : BPF_OPI_lsh_add64x;
        case BPF_OPI_ldxw_v: return s2 == x ? BPF_OPI_sidx_ldxw_v : BPF_OPI_lsh_add64x;
        case BPF_OPI_ldxdw_v: return s2 == x ? BPF_OPI_sidx_ldxdw_v : BPF_OPI_lsh_add64x;
        case BPF_OPI_stxw: return d2 == x ? BPF_OPI_sidx_stxw : BPF_OPI_lsh_add64x;
        case BPF_OPI_stxdw: return d2 == x ? BPF_OPI_sidx_stxdw : BPF_OPI_lsh_add64x;
        case BPF_OPI_stxw_v: return d2 == x ? BPF_OPI_sidx_stxw_v : BPF_OPI_lsh_add64x;
        case BPF_OPI_stxdw_v: return d2 == x ? BPF_OPI_sidx_stxdw_v : BPF_OPI_lsh_add64x;
        }
        return BPF_OPI_lsh_add64x;
    }
    switch (a) {
    case BPF_OPI_mov64x:
        if (!same)
            break;
        switch (b) {
        case BPF_OPI_add64k: return BPF_OPI_mov_add64k;
        case BPF_OPI_sub64k: return BPF_OPI_mov_sub64k;
        case BPF_OPI_mul64k: return BPF_OPI_mov_mul64k;
        case BPF_OPI_and64k: return BPF_OPI_mov_and64k;
        case BPF_OPI_or64k: return BPF_OPI_mov_or64k;
        case BPF_OPI_xor64k: return BPF_OPI_mov_xor64k;
        case BPF_OPI_lsh64k: return BPF_OPI_mov_lsh64k;
        case BPF_OPI_rsh64k: return BPF_OPI_mov_rsh64k;
        case BPF_OPI_arsh64k: return BPF_OPI_mov_arsh64k;
        }
        if (!other)
            break;
        if (b == BPF_OPI_sub64x && d2 == x && (c == BPF_OPI_add64k || c == BPF_OPI_sub64k))
            return c == BPF_OPI_add64k ? BPF_OPI_mov_sub_add64k : BPF_OPI_mov_sub_sub64k;
        switch (b) {
        case BPF_OPI_add64x: return BPF_OPI_mov_add64x;
        case BPF_OPI_sub64x: return BPF_OPI_mov_sub64x;
        case BPF_OPI_mul64x: return BPF_OPI_mov_mul64x;
        case BPF_OPI_and64x: return BPF_OPI_mov_and64x;
        case BPF_OPI_or64x: return BPF_OPI_mov_or64x;
        case BPF_OPI_xor64x: return BPF_OPI_mov_xor64x;
        }
        break;
    case BPF_OPI_mov32x:
        if (!same)
            break;
        switch (b) {
        case BPF_OPI_add32k: return BPF_OPI_mov_add32k;
        case BPF_OPI_and32k: return BPF_OPI_mov_and32k;
        case BPF_OPI_or32k: return BPF_OPI_mov_or32k;
        case BPF_OPI_xor32k: return BPF_OPI_mov_xor32k;
        case BPF_OPI_lsh32k: return BPF_OPI_mov_lsh32k;
        case BPF_OPI_rsh32k: return BPF_OPI_mov_rsh32k;
        }
        break;
    case BPF_OPI_stxdw:
        if (b == BPF_OPI_ldxdw)
            return BPF_OPI_stxdw_ldxdw;
        break;
    case BPF_OPI_neg32:
        if (b == BPF_OPI_and32k && same)
            return BPF_OPI_neg_and32k;
        break;
    case BPF_OPI_rsh32k:
        if (b == BPF_OPI_xor32x && other)
            return BPF_OPI_rsh_xor32x;
        break;
    case BPF_OPI_xor32x:
        if (b == BPF_OPI_mul32k && same)
            return BPF_OPI_xor_mul32k;
        break;
    case BPF_OPI_add64k:
        /* the compare reads rX as its destination (as its source: jgt/jge x) */
        if (b >= 0 && (b == BPF_OPI_jgt64x || b == BPF_OPI_jge64x ? s1 != x : !same))
            break;
        switch (b) {
        case BPF_OPI_jlt64k: return BPF_OPI_add_jlt64k;
        case BPF_OPI_jlt64x: return BPF_OPI_add_jlt64x;
        case BPF_OPI_jle64k: return BPF_OPI_add_jle64k;
        case BPF_OPI_jle64x: return BPF_OPI_add_jle64x;
        case BPF_OPI_jne64k: return BPF_OPI_add_jne64k;
        case BPF_OPI_jne64x: return BPF_OPI_add_jne64x;
        case BPF_OPI_jgt64x: return BPF_OPI_add_jgt64x;
        case BPF_OPI_jge64x: return BPF_OPI_add_jge64x;
        }
        break;
    case BPF_OPI_add32k:
        if (!same)
            break;
        switch (b) {
        case BPF_OPI_jlt32k: return BPF_OPI_add_jlt32k;
        case BPF_OPI_jlt32x: return BPF_OPI_add_jlt32x;
        case BPF_OPI_jle32k: return BPF_OPI_add_jle32k;
        case BPF_OPI_jne32k: return BPF_OPI_add_jne32k;
        case BPF_OPI_jne32x: return BPF_OPI_add_jne32x;
        }
        break;
    }
    return a;
}

void bpf_thread(struct mlos_bpf_prog *prog, int mode)
{
    const void *const *labels = NULL;

    if (mode == MLOS_BPF_RUN_CHECKED)
        bpf_interp_checked(NULL, NULL, 0, 0, NULL, &labels);
    else
        bpf_interp_fast(NULL, NULL, 0, 0, NULL, &labels);
    for (uint32_t i = 0; i < prog->n; i++)
        prog->code[i].op = labels[bpf_fused_op(prog, i)];
    prog->threaded = mode;
}

int mlos_bpf_run_ex(struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, enum mlos_bpf_mode mode,
                    uint64_t max_back_jumps, uint64_t *r0)
{
    /* Threaded code holds one instance's label addresses: re-thread on a
     * mode switch (rare: a program normally runs in one mode). */
    if (prog->threaded != (int)mode)
        bpf_thread(prog, mode);
    if (mode == MLOS_BPF_RUN_CHECKED)
        return bpf_interp_checked(prog, ctx, ctx_len, max_back_jumps, r0, NULL);
    return bpf_interp_fast(prog, ctx, ctx_len, 0, r0, NULL);
}

uint64_t mlos_bpf_run(struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len)
{
    uint64_t r0 = 0;
    enum mlos_bpf_mode mode = (prog->flags & MLOS_BPF_CHECKED) ? MLOS_BPF_RUN_CHECKED : MLOS_BPF_RUN_FAST;
    if (mlos_bpf_run_ex(prog, ctx, ctx_len, mode, (prog->flags & MLOS_BPF_TRUSTED) ? UINT64_MAX : 0, &r0) < 0)
        return 0;
    return r0;
}
