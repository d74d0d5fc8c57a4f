/* libos/bpf/bpf_verify.c -- the verifier for untrusted eBPF programs.
 *
 * Pass 1 (structure): every slot decodes (bpf_classify); functions are the
 * ranges from insn 0 and each local call target to the next; jumps stay in
 * their function; the call graph has no cycle and nests at most
 * MLOS_BPF_MAX_FRAMES deep; nothing is unreachable and no path falls off
 * the end. A backward jump that closes a cycle is a loop [header, jump]:
 * entered only at its header, nested in or apart from other loops, with a
 * conditional jump at its bottom as its only back-edge. Other backward
 * jumps (tails compilers place earlier) are plain edges.
 *
 * Pass 2 (abstract interpretation): without the loops' back-edges the
 * control-flow graph is acyclic; the verifier walks it in a topological
 * order (program order when every backward jump is a loop's) with a
 * current state, pushes the state of each taken jump to its target and
 * joins the states that meet there (sound: the joined state over-
 * approximates every path into the instruction). A loop is analysed at its
 * header: its body is walked from the entry state, the back-edge's state
 * joined in, again, widening bounds that keep moving (the counter's up to
 * the loop bound first), until the header's state holds; then the loop
 * must be shown to end (loop_ends). A local call walks the callee with the
 * caller's arguments, once per call site. Within a path the state is exact
 * up to these domains:
 *
 *   register   uninit | scalar [umin, umax] (unsigned range; constants
 *              are umin == umax) | ptr_to_ctx + [omin, omax] |
 *              ptr_to_stack + [omin, omax] (relative to r10) |
 *              ptr_to_region(i) + [omin, omax], or a pointer whose offset
 *              is unbounded (may not be dereferenced).
 *   stack      per byte: initialised or not; per aligned 8-byte slot: the
 *              register state spilled there by a 64-bit store, if any.
 *
 * Conditional jumps refine scalar ranges on each edge (unsigned compares,
 * and signed ones when both sides are non-negative) and prune edges that
 * constants make impossible. Joins take range unions; a register that is
 * a pointer on one path and anything else (or a pointer into another
 * object) on another becomes "mixed": it may only be overwritten, since as
 * a number it would carry the address; uninit on any path stays uninit.
 *
 * No address leaks. A verified program cannot turn a host address into a
 * number: pointers are spilled to the stack only as whole aligned 8-byte
 * slots and read back only as such (a partial, misaligned or overlapping
 * read of a spilled pointer is refused, a partial overwrite leaves the
 * rest of its bytes unreadable); helpers that read memory refuse ranges
 * holding spilled pointers; pointers are never stored into the context or
 * regions, returned, or combined by ALU operations other than adding a
 * number or subtracting two pointers into the same object; and
 * conditional jumps on pointers are limited to outcomes that depend only
 * on offsets (see check_ptr_jump).
 *
 * Rejected, each with "insn N: ..." : back-edges, unreachable code, falling
 * off the end, reads of uninitialised registers or stack bytes, writes to
 * r10, loads/stores through non-pointers or pointers with unbounded
 * offsets, variable stack offsets, accesses outside the context, the
 * 512-byte stack or a region, stores to read-only memory, reads of part of
 * a region pointer, stores over region pointers, stores of pointers into
 * ctx or regions (address leaks), arithmetic on pointers other than 64-bit
 * add/sub of a scalar and pointer - pointer, helpers outside the hook's
 * whitelist or with wrongly typed arguments, exit with r0 uninitialised or
 * a pointer. Division and modulo by zero are not rejected: RFC 9669 defines
 * them (quotient 0, remainder = dividend) and the interpreter follows it.
 */
#include <string.h>

#include "bpf_impl.h"
#include "mlos_error.h"

/* T_MIXED: a pointer on some paths into an instruction and a number (or a
 * pointer into another object) on others. Turning it into a number would
 * leak the address on the pointer paths, and it is no pointer on the
 * others: it can only be overwritten. */
enum vtype { T_UNINIT = 0, T_SCALAR, T_CTX, T_STACK, T_REGION, T_MIXED };

struct vreg {
    uint8_t type;
    uint8_t region;    /* T_REGION: which */
    uint8_t unbounded; /* pointer: offset unknown */
    uint64_t umin, umax; /* T_SCALAR */
    int64_t omin, omax;  /* pointers */
};

#define NSLOTS (MLOS_BPF_STACK_SIZE / 8)
#define MAX_OFF (1ll << 29) /* larger offsets make a pointer unbounded */

struct vstate {
    struct vreg r[MLOS_BPF_NREGS];
    uint8_t init[MLOS_BPF_STACK_SIZE / 8]; /* bit per stack byte */
    uint8_t spilled[NSLOTS];
    struct vreg slot[NSLOTS];
};

struct verifier {
    const struct mlos_bpf_insn *insns;
    uint32_t n;
    const struct mlos_bpf_hook_desc *hook;
    uint8_t *opi;
    struct vstate **pending; /* joined state waiting at each jump target */
    char *err;
    size_t el;
    uint8_t *fstart;         /* 1 where a function starts: insn 0 and every local call target */
    struct vreg *ret;        /* the walk in progress: R0 joined over its exits */
    int *returns;            /* ... and whether any exit was reached */
    uint32_t steps;          /* instructions visited, against MAX_STEPS */
    uint32_t *loop_end;      /* at a loop header: 1 + the insn of its back-edge, else 0 */
    uint8_t *rtcheck;        /* accesses to variable-length regions, or NULL */
    int acyclic_back;        /* some backward jump closes no cycle: walk in topological order */
    struct vstate *back;     /* the loop being analysed: its back-edge's taken state, joined */
    int back_seen;
    struct vreg back_ctr;    /* ... and the counter just before that jump, joined */
    struct vreg back_bound;  /* ... and the bound (a register compared with), joined */
};

/* Each local call verifies its callee again with the caller's arguments,
 * so nested calls multiply the work: bound it. */
#define MAX_STEPS (1u << 20)

static const char *const tname[] = {"uninitialised",    "a scalar",         "a context pointer",
                                    "a stack pointer",  "a region pointer", "a pointer on some paths"};

static int is_ptr(const struct vreg *r) { return r->type >= T_CTX && r->type <= T_REGION; }
/* Holds address bits on at least one path. */
static int ptrish(const struct vreg *r) { return r->type >= T_CTX; }
static int is_const(const struct vreg *r) { return r->type == T_SCALAR && r->umin == r->umax; }
static struct vreg scalar(uint64_t lo, uint64_t hi) { return (struct vreg){T_SCALAR, 0, 0, lo, hi, 0, 0}; }
static struct vreg konst(uint64_t v) { return scalar(v, v); }
static struct vreg unknown(void) { return scalar(0, UINT64_MAX); }
static uint64_t size_max(int size) { return size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1; }
static uint64_t fill_below(uint64_t v) /* smallest 2^k-1 >= v */
{
    for (int s = 1; s < 64; s <<= 1)
        v |= v >> s;
    return v;
}

static void join_reg(struct vreg *a, const struct vreg *b)
{
    if (a->type == T_UNINIT || b->type == T_UNINIT) {
        *a = (struct vreg){0};
    } else if (a->type == T_SCALAR && b->type == T_SCALAR) {
        a->umin = a->umin < b->umin ? a->umin : b->umin;
        a->umax = a->umax > b->umax ? a->umax : b->umax;
    } else if (a->type == b->type && a->type != T_MIXED && a->region == b->region) {
        a->omin = a->omin < b->omin ? a->omin : b->omin;
        a->omax = a->omax > b->omax ? a->omax : b->omax;
        a->unbounded |= b->unbounded;
    } else {
        *a = (struct vreg){T_MIXED, 0, 0, 0, 0, 0, 0}; /* never a number, never dereferenced */
    }
}

static void join_state(struct vstate *a, const struct vstate *b)
{
    for (int i = 0; i < MLOS_BPF_NREGS; i++)
        join_reg(&a->r[i], &b->r[i]);
    for (int i = 0; i < (int)sizeof(a->init); i++)
        a->init[i] &= b->init[i];
    for (int i = 0; i < NSLOTS; i++) {
        if (a->spilled[i] && b->spilled[i]) {
            join_reg(&a->slot[i], &b->slot[i]);
            a->spilled[i] = a->slot[i].type != T_UNINIT;
        } else if ((a->spilled[i] && ptrish(&a->slot[i])) || (b->spilled[i] && ptrish(&b->slot[i]))) {
            /* A pointer on one path, plain bytes on the other: the slot
             * keeps its spill record so partial reads stay refused. */
            a->spilled[i] = 1;
            a->slot[i] = (struct vreg){T_MIXED, 0, 0, 0, 0, 0, 0};
        } else {
            a->spilled[i] = 0;
        }
    }
}

static int push(struct verifier *v, uint32_t target, const struct vstate *st)
{
    if (v->pending[target]) {
        join_state(v->pending[target], st);
        return 0;
    }
    v->pending[target] = bpf_alloc(sizeof(*st));
    if (!v->pending[target])
        return MLOS_ENOMEM;
    *v->pending[target] = *st;
    return 0;
}

/* ---- registers ---- */

static int need_init(struct verifier *v, uint32_t pc, const struct vstate *st, unsigned r)
{
    if (st->r[r].type == T_UNINIT)
        return bpf_fail(v->err, v->el, pc, "r%u is read before it is initialised", r);
    if (st->r[r].type == T_MIXED)
        return bpf_fail(v->err, v->el, pc,
                        "r%u holds a pointer on some paths into here and a number or another pointer on others", r);
    return 0;
}

static int writable_reg(struct verifier *v, uint32_t pc, unsigned r)
{
    if (r == 10)
        return bpf_fail(v->err, v->el, pc, "r10 is read-only (frame pointer)");
    return 0;
}

/* Keep pointer offsets small so later arithmetic cannot overflow int64. */
static void clamp_ptr(struct vreg *p)
{
    if (p->omin < -MAX_OFF || p->omax > MAX_OFF)
        p->unbounded = 1;
    if (p->unbounded)
        p->omin = p->omax = 0;
}

/* ---- scalar arithmetic ---- */

static struct vreg clip32(struct vreg r)
{
    if (r.umin == r.umax) /* a 32-bit operation sees a constant's low half */
        return konst((uint32_t)r.umin);
    if (r.umax > UINT32_MAX)
        return scalar(0, UINT32_MAX);
    return r;
}

/* dst (scalar, or uninit for MOV) op src (scalar) -> scalar. */
static struct vreg scalar_alu(const struct mlos_bpf_insn *in, struct vreg a, struct vreg b)
{
    int is64 = BPF_CLASS(in->code) == BPF_ALU64;
    unsigned width = is64 ? 64 : 32;
    uint8_t op = BPF_OP(in->code);
    uint64_t lim = is64 ? UINT64_MAX : UINT32_MAX;
    struct vreg r;

    if (is_const(&b) && (op == BPF_MOV || is_const(&a)))
        return konst(bpf_alu_eval(in, a.umin, b.umin));
    if (op == BPF_END) /* before the 32-bit clip: le64 keeps all 64 bits */
        return in->imm == 64 ? (!is64 && BPF_SRC(in->code) == BPF_TO_LE ? a : unknown())
                             : in->imm == 16 ? scalar(0, 0xffff) : scalar(0, UINT32_MAX);
    if (!is64) {
        a = clip32(a);
        b = clip32(b);
    }
    switch (op) {
    case BPF_MOV:
        r = in->off ? unknown() : b; /* MOVSX: only constants are tracked */
        break;
    case BPF_ADD:
        if (is_const(&b) && b.umin > (lim >> 1)) { /* a negative constant: "i += -1" is "i -= 1" */
            uint64_t nb = lim - b.umin + 1;
            r = a.umin >= nb ? scalar(a.umin - nb, a.umax - nb) : unknown();
        } else {
            r = a.umax <= UINT64_MAX - b.umax ? scalar(a.umin + b.umin, a.umax + b.umax) : unknown();
        }
        break;
    case BPF_SUB:
        r = a.umin >= b.umax ? scalar(a.umin - b.umax, a.umax - b.umin) : unknown();
        break;
    case BPF_MUL:
        r = a.umax <= UINT32_MAX && b.umax <= UINT32_MAX ? scalar(a.umin * b.umin, a.umax * b.umax) : unknown();
        break;
    case BPF_DIV:
        if (in->off)
            r = unknown();
        else if (is_const(&b))
            r = b.umin ? scalar(a.umin / b.umin, a.umax / b.umin) : konst(0);
        else
            r = scalar(0, a.umax);
        break;
    case BPF_MOD:
        if (in->off)
            r = unknown();
        else if (is_const(&b) && b.umin)
            r = scalar(0, a.umax < b.umin - 1 ? a.umax : b.umin - 1);
        else
            r = scalar(0, a.umax); /* x % 0 = x, else below x */
        break;
    case BPF_AND:
        r = scalar(0, a.umax < b.umax ? a.umax : b.umax);
        break;
    case BPF_OR:
    case BPF_XOR:
        r = scalar(0, fill_below(a.umax > b.umax ? a.umax : b.umax));
        break;
    case BPF_LSH:
        if (is_const(&b)) {
            unsigned s = (unsigned)(b.umin & (width - 1));
            r = a.umax <= (lim >> s) ? scalar(a.umin << s, a.umax << s) : unknown();
        } else {
            r = unknown();
        }
        break;
    case BPF_RSH:
        if (is_const(&b)) {
            unsigned s = (unsigned)(b.umin & (width - 1));
            r = scalar(a.umin >> s, a.umax >> s);
        } else {
            r = scalar(0, a.umax);
        }
        break;
    case BPF_ARSH: /* a non-negative value shifts like RSH */
        if (is_const(&b) && a.umax <= (lim >> 1)) {
            unsigned s = (unsigned)(b.umin & (width - 1));
            r = scalar(a.umin >> s, a.umax >> s);
        } else {
            r = unknown();
        }
        break;

    default: /* NEG, MOVSX: only constants are tracked */
        r = unknown();
    }
    return is64 ? r : clip32(r);
}

static const char *alu_name(const struct mlos_bpf_insn *in)
{
    static const char *const names[16] = {"add", "sub", "mul", "div", "or", "and", "lsh", "rsh",
                                          "neg", "mod", "xor", "mov", "arsh", "byte swap", "?", "?"};
    return names[BPF_OP(in->code) >> 4];
}

static int do_alu(struct verifier *v, uint32_t pc, struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int is64 = BPF_CLASS(in->code) == BPF_ALU64, x = BPF_SRC(in->code) == BPF_X;
    uint8_t op = BPF_OP(in->code);
    struct vreg *d = &st->r[in->dst], s;
    int rc;

    if ((rc = writable_reg(v, pc, in->dst)) < 0)
        return rc;
    if (op == BPF_END)
        x = 0; /* the source bit selects byte order, not a register */
    if (x && (rc = need_init(v, pc, st, in->src)) < 0)
        return rc;
    if (op != BPF_MOV && (rc = need_init(v, pc, st, in->dst)) < 0)
        return rc;
    s = x ? st->r[in->src] : konst((uint64_t)(int64_t)in->imm);

    if (!is_ptr(&s) && (op == BPF_MOV || !is_ptr(d))) {
        *d = scalar_alu(in, op == BPF_MOV ? konst(0) : *d, s);
        return 0;
    }
    /* A pointer is involved. */
    if (is64 && op == BPF_MOV && !in->off) {
        *d = s;
        return 0;
    }
    if (!is64 || (op != BPF_ADD && op != BPF_SUB))
        return bpf_fail(v->err, v->el, pc, "%s on %s (r%u) is not allowed: only 64-bit add/sub of a scalar",
                        alu_name(in), is_ptr(d) ? tname[d->type] : tname[s.type], is_ptr(d) ? in->dst : in->src);
    if (is_ptr(d) && is_ptr(&s)) {
        if (op == BPF_SUB && d->type == s.type && d->region == s.region) {
            *d = unknown(); /* distance between two pointers: a number */
            return 0;
        }
        return bpf_fail(v->err, v->el, pc, "%s of two pointers (r%u, r%u) is not allowed", alu_name(in), in->dst,
                        in->src);
    }
    if (!is_ptr(d)) { /* scalar + pointer */
        if (op == BPF_SUB)
            return bpf_fail(v->err, v->el, pc, "scalar r%u minus pointer r%u is not allowed", in->dst, in->src);
        struct vreg sc = *d;
        *d = s;
        s = sc;
    }
    if (is_const(&s) && (int64_t)s.umin >= -MAX_OFF && (int64_t)s.umin <= MAX_OFF) {
        int64_t k = (int64_t)s.umin; /* immediate, or a register holding a small constant */
        d->omin += op == BPF_ADD ? k : -k;
        d->omax += op == BPF_ADD ? k : -k;
    } else if (s.umax > (uint64_t)MAX_OFF) {
        d->unbounded = 1;
    } else if (op == BPF_ADD) {
        d->omin += (int64_t)s.umin;
        d->omax += (int64_t)s.umax;
    } else {
        d->omin -= (int64_t)s.umax;
        d->omax -= (int64_t)s.umin;
    }
    clamp_ptr(d);
    return 0;
}

/* ---- memory ---- */

static int stack_init(const struct vstate *st, int64_t b) { return st->init[b >> 3] >> (b & 7) & 1; }

/* Check an access of size bytes at register regno + off (size may exceed
 * 8 for helper arguments). On success *kind is the pointer type and *lo the
 * constant low offset (stack, ctx) for the caller's bookkeeping. */
static int check_access(struct verifier *v, uint32_t pc, const struct vstate *st, unsigned regno, int64_t off,
                        uint64_t size, int write, const char *what)
{
    const struct vreg *p = &st->r[regno];
    const struct mlos_bpf_hook_desc *h = v->hook;
    int64_t lo, hi;

    if (p->type == T_UNINIT)
        return bpf_fail(v->err, v->el, pc, "r%u is not initialised: cannot %s", regno, what);
    if (p->type == T_MIXED)
        return bpf_fail(v->err, v->el, pc, "r%u is not a pointer on every path into here: cannot %s", regno, what);
    if (!is_ptr(p))
        return bpf_fail(v->err, v->el, pc, "r%u is not a pointer: cannot %s", regno, what);
    if (p->unbounded)
        return bpf_fail(v->err, v->el, pc, "r%u is %s with an unbounded offset: cannot %s", regno, tname[p->type],
                        what);
    if (size > (uint64_t)MAX_OFF)
        return bpf_fail(v->err, v->el, pc, "access size %llu too large", (unsigned long long)size);
    lo = p->omin + off;
    hi = p->omax + off + (int64_t)size;
    switch (p->type) {
    case T_CTX:
        if (lo < 0 || hi > (int64_t)h->ctx_size)
            return bpf_fail(v->err, v->el, pc, "cannot %s ctx[%lld, %lld): outside the %u-byte context", what,
                            (long long)lo, (long long)hi, (unsigned)h->ctx_size);
        if (write && !h->ctx_writable)
            return bpf_fail(v->err, v->el, pc, "cannot %s: the context of hook '%s' is read-only", what, h->name);
        for (int i = 0; i < h->nregions; i++) {
            int64_t f = h->regions[i].ctx_off, lf = h->regions[i].len_off;
            int64_t gf = h->regions[i].grant_off;
            if (write && h->regions[i].variable && lo < lf + 8 && hi > lf)
                return bpf_fail(v->err, v->el, pc, "cannot %s over the length of region %d at ctx+%lld", what, i,
                                (long long)lf);
            if (write && h->regions[i].variable && h->regions[i].grant && lo < gf + 4 && hi > gf)
                return bpf_fail(v->err, v->el, pc, "cannot %s over the access grant of region %d at ctx+%lld", what,
                                i, (long long)gf);
            if (lo >= f + 8 || hi <= f)
                continue;
            if (write)
                return bpf_fail(v->err, v->el, pc, "cannot %s over the region pointer at ctx+%lld", what,
                                (long long)f);
            if (!(lo == f && hi == f + 8 && size == 8 && p->omin == p->omax && what[0] == 'l'))
                return bpf_fail(v->err, v->el, pc, "cannot %s part of the region pointer at ctx+%lld", what,
                                (long long)f);
        }
        return 0;
    case T_STACK:
        if (p->omin != p->omax)
            return bpf_fail(v->err, v->el, pc, "variable stack offset: cannot %s", what);
        if (lo < -MLOS_BPF_STACK_SIZE || hi > 0)
            return bpf_fail(v->err, v->el, pc, "cannot %s stack [r10%+lld, r10%+lld): outside the %d-byte frame",
                            what, (long long)lo, (long long)hi, MLOS_BPF_STACK_SIZE);
        if (!write)
            for (int64_t b = lo; b < hi; b++)
                if (!stack_init(st, b + MLOS_BPF_STACK_SIZE))
                    return bpf_fail(v->err, v->el, pc, "cannot %s uninitialised stack at r10%+lld", what,
                                    (long long)b);
        return 0;
    case T_REGION: {
        const struct mlos_bpf_region_desc *r = &h->regions[p->region];
        if (lo < 0 || hi > (int64_t)r->size)
            return bpf_fail(v->err, v->el, pc, "cannot %s region %u [%lld, %lld): outside its %u bytes", what,
                            p->region, (long long)lo, (long long)hi, (unsigned)r->size);
        if (write && !r->writable)
            return bpf_fail(v->err, v->el, pc, "cannot %s: region %u is read-only", what, p->region);
        if (r->variable) {
            if (what[0] == 'p') /* a helper would need the length now */
                return bpf_fail(v->err, v->el, pc,
                                "cannot %s of variable-length region %u to a helper (its length is known only "
                                "at run time)",
                                what, p->region);
            if (v->rtcheck)
                v->rtcheck[pc] = (uint8_t)(1 + p->region); /* which region to check against */
        }
        return 0;
    }
    }
    return bpf_fail(v->err, v->el, pc, "internal: bad pointer type");
}

/* Record a store of size bytes at stack offset lo (const); val is the
 * stored register for a spill, or NULL. */
static void stack_write(struct vstate *st, int64_t lo, int size, const struct vreg *val)
{
    int64_t b0 = lo + MLOS_BPF_STACK_SIZE;
    /* A store over part of a spilled pointer leaves the rest of its bytes
     * in memory: they become unreadable rather than plain numbers. */
    for (int64_t s = b0 >> 3; size > 0 && s <= (b0 + size - 1) >> 3; s++)
        if (st->spilled[s] && ptrish(&st->slot[s]) && !(b0 <= s * 8 && b0 + size >= s * 8 + 8))
            st->init[s] = 0;
    for (int64_t b = b0; b < b0 + size; b++) {
        st->init[b >> 3] |= (uint8_t)(1u << (b & 7));
        st->spilled[b >> 3] = 0;
    }
    if (val && size == 8 && (b0 & 7) == 0) {
        st->spilled[b0 >> 3] = 1;
        st->slot[b0 >> 3] = *val;
    }
}

/* The first slot in stack bytes [b0, b0 + size) (frame-relative, 0 = the
 * bottom) that holds a spilled pointer, or -1. */
static int64_t ptr_slot_in(const struct vstate *st, int64_t b0, uint64_t size)
{
    for (int64_t s = b0 >> 3; size > 0 && s <= (b0 + (int64_t)size - 1) >> 3; s++)
        if (s >= 0 && s < NSLOTS && st->spilled[s] && ptrish(&st->slot[s]))
            return s;
    return -1;
}

static int do_load(struct verifier *v, uint32_t pc, struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int size = BPF_SIZE(in->code) == BPF_B ? 1 : BPF_SIZE(in->code) == BPF_H ? 2 : BPF_SIZE(in->code) == BPF_W ? 4 : 8;
    int sx = BPF_MODE(in->code) == BPF_MEMSX;
    const struct vreg *p = &st->r[in->src];
    struct vreg res = sx ? unknown() : scalar(0, size_max(size));
    int rc;

    if ((rc = writable_reg(v, pc, in->dst)) < 0)
        return rc;
    if ((rc = check_access(v, pc, st, in->src, in->off, (uint64_t)size, 0, "load")) < 0)
        return rc;
    if (p->type == T_CTX) {
        int64_t lo = p->omin + in->off;
        for (int i = 0; i < v->hook->nregions; i++)
            if (lo == v->hook->regions[i].ctx_off)
                res = (struct vreg){T_REGION, (uint8_t)i, 0, 0, 0, 0, 0};
    } else if (p->type == T_STACK) {
        int64_t b0 = p->omin + in->off + MLOS_BPF_STACK_SIZE, s = ptr_slot_in(st, b0, (uint64_t)size);
        /* A spilled pointer comes back only whole: any other read would
         * make some of its bytes a number. */
        if (s >= 0 && !(size == 8 && b0 == s * 8))
            return bpf_fail(v->err, v->el, pc, "%d-byte read of part of the pointer spilled at r10%+lld", size,
                            (long long)(s * 8 - MLOS_BPF_STACK_SIZE));
        if (size == 8 && (b0 & 7) == 0 && st->spilled[b0 >> 3])
            res = st->slot[b0 >> 3]; /* fill: the spilled register comes back */
    }
    st->r[in->dst] = res;
    return 0;
}

static int do_store(struct verifier *v, uint32_t pc, struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int size = BPF_SIZE(in->code) == BPF_B ? 1 : BPF_SIZE(in->code) == BPF_H ? 2 : BPF_SIZE(in->code) == BPF_W ? 4 : 8;
    int reg = BPF_CLASS(in->code) == BPF_STX;
    const struct vreg *p = &st->r[in->dst];
    struct vreg val = reg ? st->r[in->src] : konst((uint64_t)(int64_t)in->imm);
    int rc;

    if (reg && (rc = need_init(v, pc, st, in->src)) < 0)
        return rc;
    if ((rc = check_access(v, pc, st, in->dst, in->off, (uint64_t)size, 1, "store")) < 0)
        return rc;
    if (is_ptr(&val) && p->type != T_STACK)
        return bpf_fail(v->err, v->el, pc, "storing pointer r%u into %s memory would leak it", in->src,
                        p->type == T_CTX ? "context" : "region");
    if (is_ptr(&val) && (size != 8 || ((p->omin + in->off) & 7) != 0))
        return bpf_fail(v->err, v->el, pc, "a pointer (r%u) may only be spilled as a whole aligned 8-byte slot",
                        in->src);
    if (p->type == T_STACK)
        stack_write(st, p->omin + in->off, size, &val);
    return 0;
}

/* An atomic read-modify-write: a load and a store of the same bytes.
 * Memory must be readable and writable, the operand a number (a pointer
 * would be stored, and with FETCH the old bytes come back as a number, so
 * spilled pointers are off limits too). */
static int do_atomic(struct verifier *v, uint32_t pc, struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int size = BPF_SIZE(in->code) == BPF_W ? 4 : 8;
    const struct vreg *p = &st->r[in->dst];
    int cmpx = in->imm == BPF_CMPXCHG, rc;

    if ((rc = need_init(v, pc, st, in->src)) < 0 || (cmpx && (rc = need_init(v, pc, st, 0)) < 0))
        return rc;
    if (is_ptr(&st->r[in->src]) || (cmpx && is_ptr(&st->r[0])))
        return bpf_fail(v->err, v->el, pc, "atomic operation with pointer r%u as operand would leak it",
                        is_ptr(&st->r[in->src]) ? in->src : 0);
    if ((in->imm & BPF_FETCH) && !cmpx && (rc = writable_reg(v, pc, in->src)) < 0)
        return rc;
    if ((rc = check_access(v, pc, st, in->dst, in->off, (uint64_t)size, 0, "load")) < 0 ||
        (rc = check_access(v, pc, st, in->dst, in->off, (uint64_t)size, 1, "store")) < 0)
        return rc;
    if (p->type == T_STACK) {
        int64_t lo = p->omin + in->off, s = ptr_slot_in(st, lo + MLOS_BPF_STACK_SIZE, (uint64_t)size);
        if (s >= 0)
            return bpf_fail(v->err, v->el, pc, "atomic operation on the pointer spilled at r10%+lld",
                            (long long)(s * 8 - MLOS_BPF_STACK_SIZE));
        stack_write(st, lo, size, NULL);
    }
    if (cmpx)
        st->r[0] = scalar(0, size_max(size));
    else if (in->imm & BPF_FETCH)
        st->r[in->src] = scalar(0, size_max(size));
    return 0;
}

/* ---- calls ---- */

static int do_call(struct verifier *v, uint32_t pc, struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    const struct mlos_bpf_helper *h = mlos_bpf_helper_get(in->imm);
    uint64_t size = 0;
    int rc;

    if (!h || !(v->hook->helpers & MLOS_BPF_HELPER_BIT(in->imm)))
        return bpf_fail(v->err, v->el, pc, "helper %d (%s) is not allowed at hook '%s'", (int)in->imm,
                        h ? h->name : "unknown", v->hook->name);
    for (unsigned i = 0; i < 5; i++) {
        const struct vreg *a = &st->r[i + 1];
        if (h->args[i] == MLOS_BPF_ARG_NONE)
            continue;
        if (a->type == T_UNINIT)
            return bpf_fail(v->err, v->el, pc, "helper %s: argument r%u is not initialised", h->name, i + 1);
        if (a->type == T_MIXED)
            return bpf_fail(v->err, v->el, pc, "helper %s: argument r%u holds a pointer on some paths only", h->name,
                            i + 1);
        if ((h->args[i] == MLOS_BPF_ARG_SCALAR || h->args[i] == MLOS_BPF_ARG_SIZE) && a->type != T_SCALAR)
            return bpf_fail(v->err, v->el, pc, "helper %s: argument r%u must be a scalar, not %s", h->name, i + 1,
                            tname[a->type]);
        if (h->args[i] == MLOS_BPF_ARG_SIZE) {
            if (a->umax > 65536)
                return bpf_fail(v->err, v->el, pc, "helper %s: size r%u is not bounded (max %llu)", h->name, i + 1,
                                (unsigned long long)a->umax);
            size = a->umax;
        }
    }
    for (unsigned i = 0; i < 5; i++) {
        int w = h->args[i] == MLOS_BPF_ARG_PTR_WRITE;
        if (h->args[i] != MLOS_BPF_ARG_PTR_READ && !w)
            continue;
        if (!is_ptr(&st->r[i + 1]))
            return bpf_fail(v->err, v->el, pc, "helper %s: argument r%u must be a pointer, not %s", h->name, i + 1,
                            tname[st->r[i + 1].type]);
        if (size && (rc = check_access(v, pc, st, i + 1, 0, size, w, w ? "pass writable memory" : "pass memory")) < 0)
            return rc;
        if (size && !w && st->r[i + 1].type == T_STACK) {
            int64_t s = ptr_slot_in(st, st->r[i + 1].omin + MLOS_BPF_STACK_SIZE, size);
            if (s >= 0) /* its bytes would reach the result (hash, equality) or the console */
                return bpf_fail(v->err, v->el, pc, "helper %s would read the pointer spilled at r10%+lld", h->name,
                                (long long)(s * 8 - MLOS_BPF_STACK_SIZE));
        }
        if (w && st->r[i + 1].type == T_STACK)
            stack_write(st, st->r[i + 1].omin, (int)size, NULL);
    }
    for (int i = 1; i <= 5; i++)
        st->r[i] = (struct vreg){0}; /* caller-saved: clobbered */
    st->r[0] = scalar(0, h->ret_max);
    return 0;
}

/* ---- conditional jumps ---- */

static uint8_t negate(uint8_t op)
{
    switch (op) {
    case BPF_JEQ: return BPF_JNE;
    case BPF_JNE: return BPF_JEQ;
    case BPF_JGT: return BPF_JLE;
    case BPF_JLE: return BPF_JGT;
    case BPF_JGE: return BPF_JLT;
    case BPF_JLT: return BPF_JGE;
    }
    return 0xff;
}

static uint8_t swap_sides(uint8_t op) /* c op x  <=>  x swap(op) c */
{
    switch (op) {
    case BPF_JGT: return BPF_JLT;
    case BPF_JLT: return BPF_JGT;
    case BPF_JGE: return BPF_JLE;
    case BPF_JLE: return BPF_JGE;
    }
    return op;
}

/* Narrow x to the values where "x op c" holds; 0 if there are none. */
static int refine(struct vreg *x, uint8_t op, uint64_t c)
{
    switch (op) {
    case BPF_JEQ:
        if (c < x->umin || c > x->umax)
            return 0;
        x->umin = x->umax = c;
        return 1;
    case BPF_JNE:
        if (x->umin == c && x->umax == c)
            return 0;
        if (x->umin == c)
            x->umin++;
        else if (x->umax == c)
            x->umax--;
        return 1;
    case BPF_JGT:
        if (x->umax <= c)
            return 0;
        if (x->umin <= c)
            x->umin = c + 1;
        return 1;
    case BPF_JGE:
        if (x->umax < c)
            return 0;
        if (x->umin < c)
            x->umin = c;
        return 1;
    case BPF_JLT:
        if (x->umin >= c)
            return 0;
        if (x->umax >= c)
            x->umax = c - 1;
        return 1;
    case BPF_JLE:
        if (x->umin > c)
            return 0;
        if (x->umax > c)
            x->umax = c;
        return 1;
    }
    return 1; /* not refinable: both edges stay possible */
}

/* Narrow two ranges to the values where "a op b" holds; 0 if none. */
static int refine_both(struct vreg *a, uint8_t op, struct vreg *b)
{
    switch (op) {
    case BPF_JGT:
    case BPF_JGE:
        return refine_both(b, op == BPF_JGT ? BPF_JLT : BPF_JLE, a);
    case BPF_JLT: /* a < b: a <= b.umax - 1, b >= a.umin + 1 */
        if (a->umin >= b->umax)
            return 0;
        if (a->umax > b->umax - 1)
            a->umax = b->umax - 1;
        if (b->umin < a->umin + 1)
            b->umin = a->umin + 1;
        return 1;
    case BPF_JLE:
        if (a->umin > b->umax)
            return 0;
        if (a->umax > b->umax)
            a->umax = b->umax;
        if (b->umin < a->umin)
            b->umin = a->umin;
        return 1;
    case BPF_JEQ: {
        uint64_t lo = a->umin > b->umin ? a->umin : b->umin, hi = a->umax < b->umax ? a->umax : b->umax;
        if (lo > hi)
            return 0;
        a->umin = b->umin = lo;
        a->umax = b->umax = hi;
        return 1;
    }
    }
    return 1;
}

/* The same for the offsets of two pointers into one object: check_ptr_jump
 * let the compare through only if both lie inside it, where addresses
 * compare as their offsets do (so a pointer walk's bound is learnt). */
static int refine_ptr(struct vreg *a, uint8_t op, struct vreg *b)
{
    switch (op) {
    case BPF_JGT:
    case BPF_JGE:
        return refine_ptr(b, op == BPF_JGT ? BPF_JLT : BPF_JLE, a);
    case BPF_JLT:
        if (a->omin >= b->omax)
            return 0;
        if (a->omax > b->omax - 1)
            a->omax = b->omax - 1;
        if (b->omin < a->omin + 1)
            b->omin = a->omin + 1;
        return 1;
    case BPF_JLE:
        if (a->omin > b->omax)
            return 0;
        if (a->omax > b->omax)
            a->omax = b->omax;
        if (b->omin < a->omin)
            b->omin = a->omin;
        return 1;
    case BPF_JEQ: {
        int64_t lo = a->omin > b->omin ? a->omin : b->omin, hi = a->omax < b->omax ? a->omax : b->omax;
        if (lo > hi)
            return 0;
        a->omin = b->omin = lo;
        a->omax = b->omax = hi;
        return 1;
    }
    case BPF_JNE:
        if (b->omin != b->omax) {
            struct vreg *t = a;
            a = b, b = t;
        }
        if (b->omin != b->omax)
            return 1;
        if (a->omin == b->omin && a->omax == b->omin)
            return 0;
        if (a->omin == b->omin)
            a->omin++;
        else if (a->omax == b->omin)
            a->omax--;
        return 1;
    }
    return 1;
}

/* Apply the outcome (taken or not) of the jump at pc to st; 0 if that
 * outcome is impossible. */
static int branch(const struct mlos_bpf_insn *in, struct vstate *st, int taken)
{
    int is32 = BPF_CLASS(in->code) == BPF_JMP32, x = BPF_SRC(in->code) == BPF_X;
    uint8_t op = BPF_OP(in->code);
    struct vreg *d = &st->r[in->dst], *s = x ? &st->r[in->src] : NULL;
    struct vreg k = konst(is32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm);
    uint64_t lim = is32 ? UINT32_MAX : UINT64_MAX;

    if (!s)
        s = &k;
    if (d->type != T_SCALAR || s->type != T_SCALAR) {
        /* pointers: only two into one object, 64-bit, teach anything */
        if (is32 || s == &k || s == d || !is_ptr(d) || !is_ptr(s) || d->type != s->type || d->region != s->region ||
            d->unbounded || s->unbounded)
            return 1;
        if (!taken)
            op = negate(op);
        return op == 0xff ? 1 : refine_ptr(d, op, s);
    }
    if (is_const(d) && is_const(s))
        return bpf_jmp_eval(in->code, d->umin, s->umin) == taken;
    if (d->umax > lim || s->umax > lim)
        return 1; /* 32-bit compare of wider values: low halves unknown */
    /* Signed compares of non-negative values are unsigned compares. */
    if (d->umax <= (lim >> 1) && s->umax <= (lim >> 1)) {
        if (op == BPF_JSGT) op = BPF_JGT;
        if (op == BPF_JSGE) op = BPF_JGE;
        if (op == BPF_JSLT) op = BPF_JLT;
        if (op == BPF_JSLE) op = BPF_JLE;
    }
    if (!taken)
        op = negate(op);
    if (op == 0xff)
        return 1;
    if (is_const(s))
        return refine(d, op, s->umin);
    if (is_const(d) && s != &k)
        return refine(s, swap_sides(op), d->umin);
    if (s == d) /* one register on both sides: nothing to learn */
        return 1;
    return refine_both(d, op, s) && d->umin <= d->umax && s->umin <= s->umax;
}

/* Is pointer p inside its object, one past the end allowed? Such a
 * pointer cannot have wrapped around the address space. */
static int in_object(const struct verifier *v, const struct vreg *p)
{
    int64_t lo = 0, hi = 0;
    if (p->unbounded)
        return 0;
    switch (p->type) {
    case T_CTX: hi = v->hook->ctx_size; break;
    case T_STACK: lo = -MLOS_BPF_STACK_SIZE; break;
    case T_REGION: hi = v->hook->regions[p->region].size; break;
    }
    return p->omin >= lo && p->omax <= hi;
}

static const char *jmp_name(uint8_t op)
{
    static const char *const names[16] = {"ja",  "jeq", "jgt", "jge", "jset", "jne",  "jsgt", "jsge",
                                          "call", "exit", "jlt", "jle", "jslt", "jsle", "?", "?"};
    return names[op >> 4];
}

/* The roles in a loop's back-edge "if c op K goto header": *ctr = c, *bnd =
 * the register holding K or -1 for an immediate; "if K > c" (jgt/jge, as
 * compilers emit for older targets) reads as "if c < K" (jlt/jle). */
static uint8_t loop_shape(const struct mlos_bpf_insn *in, unsigned *ctr, int *bnd)
{
    uint8_t op = BPF_OP(in->code);
    int x = BPF_SRC(in->code) == BPF_X;
    if (x && (op == BPF_JGT || op == BPF_JGE)) {
        *ctr = in->src;
        *bnd = in->dst;
        return op == BPF_JGT ? BPF_JLT : BPF_JLE;
    }
    *ctr = in->dst;
    *bnd = x ? in->src : -1;
    return op;
}

/* Conditional jumps on pointers, so that no outcome depends on where an
 * object lies in memory:
 *   - a pointer may be tested against the constant 0 (jeq/jne): hook
 *     pointers are never null, so the outcome is known;
 *   - two pointers into the same object (the context, the stack or one
 *     region), both with offsets proven inside it (one past the end
 *     allowed), may be compared with 64-bit jeq/jne/jgt/jge/jlt/jle: an
 *     object never wraps around the address space, so the outcome is the
 *     comparison of their offsets;
 *   - anything else (jset, signed or 32-bit compares, a pointer against a
 *     number, pointers into different objects) is refused.
 * Returns 1 (normal), 0 for "never taken", 2 for "always taken", or a
 * negative error. */
static int check_ptr_jump(struct verifier *v, uint32_t pc, const struct vstate *st)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int x = BPF_SRC(in->code) == BPF_X;
    uint8_t op = BPF_OP(in->code);
    const struct vreg *d = &st->r[in->dst], *s = x ? &st->r[in->src] : NULL;
    const struct vreg *p = is_ptr(d) ? d : s;
    unsigned pr = is_ptr(d) ? in->dst : in->src;

    if (!is_ptr(d) && !(s && is_ptr(s)))
        return 1;
    if (op == BPF_JSET || op == BPF_JSGT || op == BPF_JSGE || op == BPF_JSLT || op == BPF_JSLE)
        if (op == BPF_JSET || (s && is_ptr(d) && is_ptr(s)))
            return bpf_fail(v->err, v->el, pc, "%s on %s (r%u) would reveal address bits", jmp_name(op),
                            tname[p->type], pr);
    if (!(s && is_ptr(d) && is_ptr(s))) { /* a pointer and a number */
        const struct vreg *n = is_ptr(d) ? s : d;
        int zero = n ? is_const(n) && n->umin == 0 : in->imm == 0;
        if (zero && (op == BPF_JEQ || op == BPF_JNE) && BPF_CLASS(in->code) == BPF_JMP)
            return op == BPF_JNE ? 2 : 0;
        if (BPF_CLASS(in->code) == BPF_JMP32)
            return bpf_fail(v->err, v->el, pc, "32-bit compare of %s (r%u) would reveal address bits",
                            tname[p->type], pr);
        return bpf_fail(v->err, v->el, pc, "comparing %s (r%u) with a number would reveal address bits",
                        tname[p->type], pr);
    }
    if (BPF_CLASS(in->code) == BPF_JMP32)
        return bpf_fail(v->err, v->el, pc, "32-bit compare of %s (r%u) would reveal address bits", tname[d->type],
                        in->dst);
    if (d->type != s->type || d->region != s->region)
        return bpf_fail(v->err, v->el, pc, "comparing %s (r%u) with %s (r%u) would reveal address bits",
                        tname[d->type], in->dst, tname[s->type], in->src);
    if (!in_object(v, d) || !in_object(v, s))
        return bpf_fail(v->err, v->el, pc,
                        "comparing %s (r%u) outside its object (or with an unbounded offset) would reveal address "
                        "bits",
                        tname[d->type], in_object(v, d) ? in->src : in->dst);
    return 1;
}

static int do_cond_jump(struct verifier *v, uint32_t pc, struct vstate *st, int *live)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int x = BPF_SRC(in->code) == BPF_X, rc;
    uint32_t target = pc + 1 + (uint32_t)(int32_t)in->off;
    struct vstate *t;

    if ((rc = need_init(v, pc, st, in->dst)) < 0 || (x && (rc = need_init(v, pc, st, in->src)) < 0))
        return rc;
    if ((rc = check_ptr_jump(v, pc, st)) < 0)
        return rc;
    if (rc == 0) /* decided: never taken */
        return 0;
    if (rc == 2) {
        *live = 0;
        return push(v, target, st);
    }
    t = bpf_alloc(sizeof(*t));
    if (!t)
        return MLOS_ENOMEM;
    *t = *st;
    rc = 0;
    if (target <= pc && v->loop_end[target] == pc + 1) { /* the back-edge of the loop being analysed (do_loop) */
        unsigned ctr;
        int bnd;
        (void)loop_shape(in, &ctr, &bnd);
        struct vreg bound = bnd >= 0 ? st->r[bnd] : konst(0);
        if (v->back_seen) {
            join_reg(&v->back_ctr, &st->r[ctr]);
            join_reg(&v->back_bound, &bound);
        } else {
            v->back_ctr = st->r[ctr];
            v->back_bound = bound;
        }
        if (branch(in, t, 1)) {
            if (v->back_seen)
                join_state(v->back, t);
            else
                *v->back = *t;
            v->back_seen = 1;
        }
    } else if (branch(in, t, 1)) {
        rc = push(v, target, t);
    }
    bpf_release(t);
    if (!branch(in, st, 0))
        *live = 0;
    return rc;
}

/* ---- passes ---- */

/* Jump target of the slot at pc (classified as op), or -1 if none. */
static int64_t jump_target(const struct mlos_bpf_insn *in, uint32_t pc, int op)
{
    if (op == BPF_OPI_ja || op == BPF_OPI_ja32)
        return (int64_t)pc + 1 + (op == BPF_OPI_ja ? in->off : in->imm);
    if (op >= BPF_OPI_jeq64k && op <= BPF_OPI_jsle32x)
        return (int64_t)pc + 1 + in->off;
    return -1;
}

static int falls_through(int op) { return op != BPF_OPI_exit && op != BPF_OPI_ja && op != BPF_OPI_ja32; }

static uint32_t func_end(const struct verifier *v, uint32_t start)
{
    uint32_t e = start + 1;
    while (e < v->n && !v->fstart[e])
        e++;
    return e;
}

/* Frames the call graph can stack, from function 0: no recursion, at most
 * MLOS_BPF_MAX_FRAMES deep. Iterative depth-first search with the height
 * (frames a function needs, itself included) memoised per function. */
static int call_depth(struct verifier *v, const uint8_t *reach)
{
    struct { uint32_t f, pc; } stk[MLOS_BPF_MAX_FRAMES];
    uint8_t *h = bpf_alloc(v->n); /* by start insn: 0 unknown, else height */
    uint8_t *on = bpf_alloc(v->n);
    int sp = 0, rc = 0;

    if (!h || !on) {
        rc = MLOS_ENOMEM;
        goto out;
    }
    memset(h, 0, v->n);
    memset(on, 0, v->n);
    stk[0].f = 0, stk[0].pc = 0, on[0] = 1, h[0] = 1;
    sp = 1;
    while (sp) {
        uint32_t f = stk[sp - 1].f, e = func_end(v, f), pc = stk[sp - 1].pc;
        while (pc < e && !(reach[pc] && v->opi[pc] == BPF_OPI_call_local))
            pc++;
        if (pc >= e) { /* done: hand the height up */
            on[f] = 0;
            sp--;
            if (sp && h[stk[sp - 1].f] < h[f] + 1)
                h[stk[sp - 1].f] = (uint8_t)(h[f] + 1);
            continue;
        }
        stk[sp - 1].pc = pc + 1;
        uint32_t g = pc + 1 + (uint32_t)v->insns[pc].imm;
        if (on[g]) {
            rc = bpf_fail(v->err, v->el, pc, "recursive call to the function at insn %u", (unsigned)g);
            goto out;
        }
        if (h[g]) {
            if (sp + h[g] > MLOS_BPF_MAX_FRAMES) {
                rc = bpf_fail(v->err, v->el, pc, "calls nest deeper than %d frames", MLOS_BPF_MAX_FRAMES);
                goto out;
            }
            if (h[f] < h[g] + 1)
                h[f] = (uint8_t)(h[g] + 1);
            continue;
        }
        if (sp == MLOS_BPF_MAX_FRAMES) {
            rc = bpf_fail(v->err, v->el, pc, "calls nest deeper than %d frames", MLOS_BPF_MAX_FRAMES);
            goto out;
        }
        stk[sp].f = g, stk[sp].pc = g, on[g] = 1, h[g] = 1;
        sp++;
    }
out:
    bpf_release(h);
    bpf_release(on);
    return rc;
}

/* Does the backward jump at b to t close a cycle (t reaches b)? Compilers
 * also jump backward to shared tail code placed earlier; such a jump is
 * no loop. Depth-first search inside the function [f, end); work has room
 * for n entries. Returns 1, 0, or MLOS_ENOMEM. */
static int cycles(struct verifier *v, uint32_t t, uint32_t b, uint32_t f, uint32_t end, uint32_t *work)
{
    uint32_t nw = 0;
    uint8_t *seen = bpf_alloc(v->n);
    int found = 0;

    if (!seen)
        return MLOS_ENOMEM;
    memset(seen, 0, v->n);
    seen[t] = 1;
    work[nw++] = t;
    while (nw && !found) {
        uint32_t pc = work[--nw], next = pc + (v->opi[pc] == BPF_OPI_lddw ? 2 : 1);
        int64_t j = jump_target(&v->insns[pc], pc, v->opi[pc]);
        if (pc == b) {
            found = 1;
            break;
        }
        if (j >= (int64_t)f && j < (int64_t)end && !seen[j]) {
            seen[j] = 1;
            work[nw++] = (uint32_t)j;
        }
        if (falls_through(v->opi[pc]) && next < end && !seen[next]) {
            seen[next] = 1;
            work[nw++] = next;
        }
    }
    bpf_release(seen);
    return found;
}

/* A back-edge at insn b to insn h: a loop [h, b] with a conditional jump
 * at its bottom, the only way back to h, and nested in or apart from the
 * loops found so far (which all end before b). */
static int note_loop(struct verifier *v, uint32_t h, uint32_t b, int op)
{
    if (op == BPF_OPI_ja || op == BPF_OPI_ja32)
        return bpf_fail(v->err, v->el, b, "loop at insn %u: cannot prove it ends: its back-edge is unconditional",
                        (unsigned)h);
    if (v->loop_end[h])
        return bpf_fail(v->err, v->el, b, "loop at insn %u has a second back-edge (the first is at insn %u)",
                        (unsigned)h, (unsigned)(v->loop_end[h] - 1));
    for (uint32_t l = 0; l < h; l++)
        if (v->loop_end[l] && v->loop_end[l] - 1 >= h)
            return bpf_fail(v->err, v->el, b, "loop at insn %u overlaps the loop at insn %u without nesting in it",
                            (unsigned)h, (unsigned)l);
    v->loop_end[h] = b + 1;
    return 0;
}

/* A loop is entered only at its first instruction: no jump from outside
 * lands inside it (the analysis walks the body from the header). */
static int loop_entries(struct verifier *v)
{
    uint32_t first = v->n; /* the first loop header: jumps below it enter no loop */
    for (uint32_t l = 0; l < v->n && first == v->n; l++)
        if (v->loop_end[l])
            first = l;
    for (uint32_t pc = 0; pc < v->n && first < v->n; pc++) {
        int64_t t = jump_target(&v->insns[pc], pc, v->opi[pc]);
        if (t < 0)
            continue;
        /* forward from before the loop, or backward from after it */
        for (uint32_t l = first; l < (uint32_t)t; l++)
            if (v->loop_end[l] && (int64_t)(v->loop_end[l] - 1) >= t && (pc < l || pc > v->loop_end[l] - 1))
                return bpf_fail(v->err, v->el, pc,
                                "jump to insn %lld enters the loop at insn %u in the middle (only its first "
                                "instruction may be jumped to)",
                                (long long)t, (unsigned)l);
    }
    return 0;
}

/* Decode every slot, then find what is reachable from insn 0 along every
 * edge (back-edges included, so code reached only through a loop is
 * reported as the loop it is, not as dead code). Functions are the ranges
 * from one function start to the next; jumps stay inside their function,
 * which ends in an exit or a jump. */
static int structure(struct verifier *v)
{
    uint8_t *reach = bpf_alloc(v->n);
    uint32_t *work = bpf_alloc(v->n * sizeof(*work)), nw = 0, f = 0, fend = 0;
    int rc = 0;

    if (!reach || !work) {
        rc = MLOS_ENOMEM;
        goto out;
    }
    memset(v->fstart, 0, v->n);
    v->fstart[0] = 1;
    for (uint32_t pc = 0; pc < v->n; pc++) {
        int op = bpf_classify(v->insns, pc, v->n, v->err, v->el);
        if (op < 0) {
            rc = op;
            goto out;
        }
        v->opi[pc] = (uint8_t)op;
        if (op == BPF_OPI_call_local)
            v->fstart[pc + 1 + v->insns[pc].imm] = 1;
    }
    memset(reach, 0, v->n);
    reach[0] = 1;
    work[nw++] = 0;
    while (nw) {
        uint32_t pc = work[--nw];
        int op = v->opi[pc];
        int64_t t = jump_target(&v->insns[pc], pc, op);
        uint32_t next = pc + (op == BPF_OPI_lddw ? 2 : 1);
        if (op == BPF_OPI_call_local)
            t = (int64_t)pc + 1 + v->insns[pc].imm;
        if (t >= 0 && !reach[t]) {
            reach[t] = 1;
            work[nw++] = (uint32_t)t;
        }
        if (falls_through(op) && next < v->n && !reach[next]) {
            reach[next] = 1;
            work[nw++] = next;
        }
    }
    for (uint32_t pc = 0; pc < v->n; pc++) {
        int op = v->opi[pc];
        int64_t t = jump_target(&v->insns[pc], pc, op);
        uint32_t next = pc + (op == BPF_OPI_lddw ? 2 : 1);
        if (v->fstart[pc]) /* the end once per function: the jumps of a long one must not rescan it */
            f = pc, fend = func_end(v, f);
        if (!reach[pc] || op == BPF_OPI_lddw_hi)
            continue;
        if (t >= 0 && (t < (int64_t)f || t >= (int64_t)fend)) {
            rc = bpf_fail(v->err, v->el, pc, "jump to insn %lld leaves the function at insn %u", (long long)t,
                          (unsigned)f);
            goto out;
        }
        if (t >= 0 && t <= (int64_t)pc && (rc = cycles(v, (uint32_t)t, pc, f, fend, work)) < 0)
            goto out;
        if (rc == 1 && (rc = note_loop(v, (uint32_t)t, pc, op)) < 0)
            goto out;
        if (rc == 0 && t >= 0 && t <= (int64_t)pc)
            v->acyclic_back = 1;
        rc = 0;
        if (falls_through(op) && next >= v->n) {
            rc = bpf_fail(v->err, v->el, pc, "execution falls off the end of the program");
            goto out;
        }
        if (falls_through(op) && v->fstart[next]) {
            rc = bpf_fail(v->err, v->el, pc, "execution falls off the end of the function at insn %u into the one "
                          "at insn %u", (unsigned)f, (unsigned)next);
            goto out;
        }
    }
    for (uint32_t pc = 0; pc < v->n; pc++)
        if (!reach[pc] && v->opi[pc] != BPF_OPI_lddw_hi) {
            rc = bpf_fail(v->err, v->el, pc, "unreachable instruction (no path from insn 0 leads here)");
            goto out;
        }
    if ((rc = loop_entries(v)) < 0)
        goto out;
    for (uint32_t pc = 0; pc < v->n && v->acyclic_back; pc++) {
        int64_t t = jump_target(&v->insns[pc], pc, v->opi[pc]);
        if (!reach[pc] || t < 0 || t > (int64_t)pc || v->loop_end[t] == pc + 1)
            continue;
        for (uint32_t l = 0; l <= pc; l++)
            if (v->loop_end[l] && l <= t && v->loop_end[l] - 1 >= pc) {
                rc = bpf_fail(v->err, v->el, pc, "backward jump to insn %lld inside the loop at insn %u is not its "
                              "back-edge", (long long)t, (unsigned)l);
                goto out;
            }
    }
    rc = call_depth(v, reach);
out:
    bpf_release(reach);
    bpf_release(work);
    return rc;
}

static int walk(struct verifier *v, uint32_t start, uint32_t end, struct vstate *st, struct vreg *ret,
                int *returns);

/* A local call: the callee is verified for this call site, with the
 * caller's R1..R5, a fresh frame and R6..R9 unreadable (they are the
 * caller's, saved and restored by the VM). A stack pointer cannot be
 * passed: it would point into the caller's frame, which the callee's
 * state does not describe. Afterwards R0 is the join of the callee's
 * exits, R1..R5 are clobbered, R6..R10 and the caller's stack unchanged. */
static int do_local_call(struct verifier *v, uint32_t pc, struct vstate *st, int *live)
{
    uint32_t target = pc + 1 + (uint32_t)v->insns[pc].imm;
    struct vstate *cs;
    struct vreg ret = {0};
    int returns = 0, rc;

    for (unsigned i = 1; i <= 5; i++)
        if (st->r[i].type == T_STACK)
            return bpf_fail(v->err, v->el, pc,
                            "passing stack pointer r%u to the function at insn %u is not supported", i,
                            (unsigned)target);
    cs = bpf_alloc(sizeof(*cs));
    if (!cs)
        return MLOS_ENOMEM;
    memset(cs, 0, sizeof(*cs));
    for (unsigned i = 1; i <= 5; i++)
        cs->r[i] = st->r[i];
    cs->r[10] = (struct vreg){T_STACK, 0, 0, 0, 0, 0, 0};
    rc = walk(v, target, func_end(v, target), cs, &ret, &returns);
    bpf_release(cs);
    if (rc < 0)
        return rc;
    if (!returns) {
        *live = 0; /* no path through the callee comes back */
        return 0;
    }
    for (int i = 1; i <= 5; i++)
        st->r[i] = (struct vreg){0};
    st->r[0] = ret;
    return 0;
}

static int step(struct verifier *v, uint32_t pc, struct vstate *st, int *live)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int op = v->opi[pc], rc;

    switch (BPF_CLASS(in->code)) {
    case BPF_ALU:
    case BPF_ALU64:
        return do_alu(v, pc, st);
    case BPF_LD: /* lddw */
        if ((rc = writable_reg(v, pc, in->dst)) < 0)
            return rc;
        st->r[in->dst] = konst((uint64_t)(uint32_t)in->imm | (uint64_t)(uint32_t)v->insns[pc + 1].imm << 32);
        return 0;
    case BPF_LDX:
        return do_load(v, pc, st);
    case BPF_ST:
    case BPF_STX:
        if (op == BPF_OPI_atomicw || op == BPF_OPI_atomicdw)
            return do_atomic(v, pc, st);
        return do_store(v, pc, st);
    }
    if (op == BPF_OPI_call)
        return do_call(v, pc, st);
    if (op == BPF_OPI_call_local)
        return do_local_call(v, pc, st, live);
    if (op == BPF_OPI_exit) {
        if (st->r[0].type == T_UNINIT)
            return bpf_fail(v->err, v->el, pc, "exit with r0 not initialised");
        if (st->r[0].type == T_MIXED)
            return need_init(v, pc, st, 0);
        if (is_ptr(&st->r[0]))
            return bpf_fail(v->err, v->el, pc, "exit with r0 holding %s (would leak an address)", tname[st->r[0].type]);
        if (*v->returns)
            join_reg(v->ret, &st->r[0]);
        else
            *v->ret = st->r[0];
        *v->returns = 1;
        *live = 0;
        return 0;
    }
    if (op == BPF_OPI_ja || op == BPF_OPI_ja32) {
        *live = 0;
        return push(v, pc + 1 + (uint32_t)(op == BPF_OPI_ja ? in->off : in->imm), st);
    }
    return do_cond_jump(v, pc, st, live);
}

static int do_loop(struct verifier *v, uint32_t h, struct vstate *st, int *live);
static int walk_rpo(struct verifier *v, uint32_t start, uint32_t end, struct vstate *st, int *live);

/* The states waiting at pc (jumps to it) merge into the walk's state, or
 * become it when the walk itself cannot reach pc. */
static void take_pending(struct verifier *v, uint32_t pc, struct vstate *st, int *live)
{
    if (!v->pending[pc])
        return;
    if (*live)
        join_state(st, v->pending[pc]);
    else
        *st = *v->pending[pc];
    bpf_release(v->pending[pc]);
    v->pending[pc] = NULL;
    *live = 1;
}

/* One more instruction visit, within the verifier's total budget. */
static int count_step(struct verifier *v, uint32_t pc)
{
    if (++v->steps > MAX_STEPS)
        return bpf_fail(v->err, v->el, pc, "program too complex to verify (over %u instruction visits)", MAX_STEPS);
    return 0;
}

/* Walk [start, end) in program order from state st, which ends as the
 * state after the last instruction (*live: whether it is reachable). A
 * loop header is handed to do_loop, except start when hdr says the walk is
 * that loop's body. */
static int walk_range(struct verifier *v, uint32_t start, uint32_t end, struct vstate *st, int *live, int64_t hdr)
{
    int rc = 0;
    for (uint32_t pc = start; pc < end; pc++) {
        if (v->opi[pc] == BPF_OPI_lddw_hi)
            continue;
        take_pending(v, pc, st, live);
        if (!*live)
            continue; /* no feasible path reaches it (constants decided) */
        if ((rc = count_step(v, pc)) < 0)
            return rc;
        if (v->loop_end[pc] && (int64_t)pc != hdr) {
            if ((rc = do_loop(v, pc, st, live)) < 0)
                return rc;
            pc = v->loop_end[pc] - 1; /* continue after the back-edge */
            continue;
        }
        if ((rc = step(v, pc, st, live)) < 0) {
            if (rc == MLOS_ENOMEM)
                bpf_fail(v->err, v->el, pc, "out of memory in the verifier");
            return rc;
        }
    }
    return 0;
}

/* Walk the function [start, end) in a topological order of its acyclic
 * part (reverse postorder without the loops' back-edges), for code where
 * some backward jumps are no loops, so program order is not one. A loop
 * is analysed whole at its header (do_loop walks its body, which holds no
 * such jumps) and its body skipped afterwards. */
static int walk_rpo(struct verifier *v, uint32_t start, uint32_t end, struct vstate *st, int *live)
{
    uint32_t *order = bpf_alloc(v->n * sizeof(*order)), *stk = bpf_alloc(v->n * sizeof(*stk)), no = 0, ns = 0;
    uint8_t *seen = bpf_alloc(v->n), *nsucc = bpf_alloc(v->n);
    int rc = 0;

    if (!order || !stk || !seen || !nsucc) {
        rc = MLOS_ENOMEM;
        goto out;
    }
    memset(seen, 0, v->n);
    memset(nsucc, 0, v->n);
    seen[start] = 1;
    stk[ns++] = start;
    while (ns) { /* iterative depth-first search; nsucc: successors tried so far */
        uint32_t pc = stk[ns - 1], next = pc + (v->opi[pc] == BPF_OPI_lddw ? 2 : 1), succ = UINT32_MAX;
        int64_t t = jump_target(&v->insns[pc], pc, v->opi[pc]);
        if (t >= 0 && t <= (int64_t)pc && v->loop_end[t] == pc + 1)
            t = -1; /* a loop's back-edge: not part of the order */
        while (nsucc[pc] < 2 && succ == UINT32_MAX) {
            int k = nsucc[pc]++;
            if (k == 0 && falls_through(v->opi[pc]) && next < end)
                succ = next;
            else if (k == 1 && t >= 0)
                succ = (uint32_t)t;
            if (succ != UINT32_MAX && seen[succ])
                succ = UINT32_MAX;
        }
        if (succ == UINT32_MAX) {
            order[no++] = pc;
            ns--;
        } else {
            seen[succ] = 1;
            stk[ns++] = succ;
        }
    }
    memset(seen, 0, v->n); /* now: inside a loop already analysed */
    for (uint32_t i = no; i-- > 0;) {
        uint32_t pc = order[i], next = pc + (v->opi[pc] == BPF_OPI_lddw ? 2 : 1);
        if (seen[pc]) {
            /* inside a loop analysed whole: nothing from outside may enter
             * it here (structure() refuses such jumps) */
            if (v->pending[pc]) {
                rc = bpf_fail(v->err, v->el, pc, "internal: a path enters the middle of a loop");
                goto out;
            }
            continue;
        }
        take_pending(v, pc, st, live);
        if (!*live)
            continue;
        if ((rc = count_step(v, pc)) < 0) {
            goto out;
        }
        if (v->loop_end[pc]) {
            uint32_t b = v->loop_end[pc] - 1;
            if ((rc = do_loop(v, pc, st, live)) < 0)
                goto out;
            memset(seen + pc + 1, 1, b - pc);
            next = b + 1;
        } else if ((rc = step(v, pc, st, live)) < 0) {
            if (rc == MLOS_ENOMEM)
                bpf_fail(v->err, v->el, pc, "out of memory in the verifier");
            goto out;
        }
        /* fall through to next: keep going if it comes next in the order */
        if (*live && !(i > 0 && order[i - 1] == next)) {
            if (next < end && (rc = push(v, next, st)) < 0)
                goto out;
            *live = 0;
        }
    }
out:
    if (rc == MLOS_ENOMEM)
        bpf_fail(v->err, v->el, start, "out of memory in the verifier");
    bpf_release(order);
    bpf_release(stk);
    bpf_release(seen);
    bpf_release(nsucc);
    return rc;
}

/* Walk the function [start, end) from state st, joining R0 at its exits
 * into *ret. */
static int walk(struct verifier *v, uint32_t start, uint32_t end, struct vstate *st, struct vreg *ret, int *returns)
{
    struct vreg *oret = v->ret;
    int *oreturns = v->returns, live = 1, rc;

    v->ret = ret;
    v->returns = returns;
    rc = v->acyclic_back ? walk_rpo(v, start, end, st, &live) : walk_range(v, start, end, st, &live, -1);
    v->ret = oret;
    v->returns = oreturns;
    return rc;
}

/* ---- bounded loops ---- */

static int reg_eq(const struct vreg *a, const struct vreg *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == T_SCALAR)
        return a->umin == b->umin && a->umax == b->umax;
    if (is_ptr(a))
        return a->region == b->region && a->unbounded == b->unbounded && a->omin == b->omin && a->omax == b->omax;
    return 1;
}

static int state_eq(const struct vstate *a, const struct vstate *b)
{
    for (int i = 0; i < MLOS_BPF_NREGS; i++)
        if (!reg_eq(&a->r[i], &b->r[i]))
            return 0;
    if (memcmp(a->init, b->init, sizeof(a->init)) || memcmp(a->spilled, b->spilled, sizeof(a->spilled)))
        return 0;
    for (int i = 0; i < NSLOTS; i++)
        if (a->spilled[i] && !reg_eq(&a->slot[i], &b->slot[i]))
            return 0;
    return 1;
}

/* Where widening may stop for a loop's counter before its limit: hi/lo
 * for a number counting up/down (the loop bound, so that "i in [i0, N-1]"
 * or "i in [1, n0]" is tried as the invariant first), phi for a pointer
 * walked up to a bound pointer (its offset). */
struct wcap {
    uint64_t hi, lo;
    int64_t phi;
};
#define NO_CAP ((struct wcap){UINT64_MAX, 0, INT64_MAX})

/* j = old joined with a new pass: push every bound that moved to its
 * limit, or to the counter's cap first. */
static void widen_reg(struct vreg *j, const struct vreg *old, struct wcap cap)
{
    if (j->type == T_SCALAR && old->type == T_SCALAR) {
        if (j->umin < old->umin)
            j->umin = j->umin >= cap.lo ? cap.lo : 0;
        if (j->umax > old->umax)
            j->umax = j->umax <= cap.hi ? cap.hi : UINT64_MAX;
    } else if (is_ptr(j) && is_ptr(old) && (j->omin != old->omin || j->omax != old->omax)) {
        if (cap.phi != INT64_MAX && !j->unbounded && j->omin >= old->omin && j->omax <= cap.phi) {
            j->omax = cap.phi;
            return;
        }
        j->unbounded = 1;
        clamp_ptr(j);
    }
}

/* The loop's bound K of "if c op K goto header": *k and 1, or 0 if the
 * bound is not known. */
static int loop_bound(const struct mlos_bpf_insn *in, const struct vstate *st, uint64_t *k)
{
    unsigned ctr;
    int bnd;
    (void)loop_shape(in, &ctr, &bnd);
    if (bnd < 0) {
        *k = BPF_CLASS(in->code) == BPF_JMP32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm;
        return 1;
    }
    if (st->r[bnd].type != T_SCALAR)
        return 0;
    *k = st->r[bnd].umax;
    return 1;
}

static int writes_reg(const struct verifier *v, uint32_t pc, unsigned r)
{
    const struct mlos_bpf_insn *in = &v->insns[pc];
    int op = v->opi[pc];
    switch (BPF_CLASS(in->code)) {
    case BPF_ALU:
    case BPF_ALU64:
    case BPF_LD:
    case BPF_LDX:
        return op != BPF_OPI_lddw_hi && in->dst == r;
    case BPF_STX:
        if (op == BPF_OPI_atomicw || op == BPF_OPI_atomicdw)
            return in->imm == BPF_CMPXCHG ? r == 0 : (in->imm & BPF_FETCH) && in->src == r;
        return 0;
    }
    return (op == BPF_OPI_call || op == BPF_OPI_call_local) && r <= 5;
}

/* The step of counter c in the loop [h, b): its one write, an add or sub
 * of a constant, at *w; 0 if it has no such single write. */
static int64_t counter_step(const struct verifier *v, uint32_t h, uint32_t b, unsigned c, int64_t *w)
{
    *w = -1;
    for (uint32_t pc = h; pc < b; pc++) {
        if (!writes_reg(v, pc, c))
            continue;
        if (*w >= 0)
            return 0;
        *w = pc;
    }
    if (*w < 0)
        return 0;
    const struct mlos_bpf_insn *in = &v->insns[*w];
    uint8_t cls = BPF_CLASS(in->code);
    if ((cls != BPF_ALU && cls != BPF_ALU64) || BPF_SRC(in->code) != BPF_K)
        return 0;
    if (BPF_OP(in->code) == BPF_ADD)
        return in->imm;
    if (BPF_OP(in->code) == BPF_SUB)
        return -(int64_t)in->imm;
    return 0;
}

/* Does the write at w run once on every pass of the loop [h, b]? Not
 * jumped over from earlier in the body, not inside an inner loop. 0 and
 * *from the insn that jumps over it (or the inner loop's header). */
static int every_pass(const struct verifier *v, uint32_t h, uint32_t b, int64_t w, uint32_t *from, int *inner)
{
    for (uint32_t pc = h; pc < (uint32_t)w; pc++) {
        int64_t t = jump_target(&v->insns[pc], pc, v->opi[pc]);
        if (t > w && t <= (int64_t)b) {
            *from = pc, *inner = 0;
            return 0;
        }
    }
    for (uint32_t l = h + 1; l < b; l++)
        if (v->loop_end[l] && l <= w && (int64_t)(v->loop_end[l] - 1) >= w) {
            *from = l, *inner = 1;
            return 0;
        }
    return 1;
}

/* Does the loop [h, b] end? It must count with "if c op K goto h" at b,
 * c written in the loop by exactly one add or sub of a constant k that
 * runs once on every pass (not inside an inner loop, not jumped over), K
 * constant or a number (or pointer) the loop does not change. Three
 * shapes, each bounded by a count of passes:
 *   up:     a number, c += k (k > 0), jlt/jle/jne K; c + k unable to wrap,
 *           for jne a step of 1 with c never above K: at most
 *           (K - c0) / k + 1 passes, c0 being c's least value on entry;
 *   down:   a number, c -= k (k > 0), jgt/jge/jne (or jsgt/jsge of
 *           non-negative values) against a constant K, c unable to wrap
 *           below 0: c0 >= k on entry and K >= k - 1 (jgt) or K >= k
 *           (jge), for jne a step of 1 with c0 > K; at most (c0 - K) / k
 *           + 1 passes, c0 being c's largest value on entry;
 *   walk:   a pointer, c += k (k > 0), jlt/jle/jne of a pointer into the
 *           same object that the loop does not change (both proven
 *           inside it, so neither wraps), for jne a step of 1 with c never
 *           past the bound: at most (end - c0) / k + 1 passes. */
static int loop_ends(struct verifier *v, uint32_t h, uint32_t b, const struct vstate *entry, const struct vstate *fin)
{
    const struct mlos_bpf_insn *in = &v->insns[b];
    int is32 = BPF_CLASS(in->code) == BPF_JMP32, bnd;
    unsigned c;
    uint8_t op = loop_shape(in, &c, &bnd);
    uint64_t lim = is32 ? UINT32_MAX : UINT64_MAX, K = 0, c0, trips, step;
    int64_t w = -1, sstep;

#define NOT_PROVEN(fmt, ...) bpf_fail(v->err, v->el, b, "loop at insn %u: cannot prove it ends: " fmt, (unsigned)h, ##__VA_ARGS__)
    for (uint32_t pc = h; pc < b; pc++) {
        if (bnd >= 0 && writes_reg(v, pc, (unsigned)bnd))
            return NOT_PROVEN("its bound r%d changes in the loop (insn %u)", bnd, (unsigned)pc);
        if (!writes_reg(v, pc, c))
            continue;
        if (w >= 0)
            return NOT_PROVEN("its counter r%u is written at insns %lld and %u (want one add of a constant)", c,
                              (long long)w, (unsigned)pc);
        w = pc;
    }
    if (w < 0)
        return NOT_PROVEN("its counter r%u does not change in the loop", c);
    const struct mlos_bpf_insn *inc = &v->insns[w];
    sstep = counter_step(v, h, b, c, &w);
    if (BPF_CLASS(inc->code) != (is32 ? BPF_ALU : BPF_ALU64) || sstep == 0)
        return NOT_PROVEN("its counter r%u changes at insn %lld by other than a %d-bit add or subtract of a nonzero "
                          "constant",
                          c, (long long)w, is32 ? 32 : 64);
    step = sstep > 0 ? (uint64_t)sstep : (uint64_t)-sstep;
    uint32_t from;
    int inner;
    if (!every_pass(v, h, b, w, &from, &inner))
        return inner ? NOT_PROVEN("the step of r%u at insn %lld is inside the inner loop at insn %u", c, (long long)w,
                                  (unsigned)from)
                     : NOT_PROVEN("the step of r%u at insn %lld is jumped over from insn %u", c, (long long)w,
                                  (unsigned)from);

    if (is_ptr(&entry->r[c])) { /* a pointer walk */
        const struct vreg *p0 = &entry->r[c], *e = &v->back_bound;
        if (sstep < 0)
            return NOT_PROVEN("its pointer r%u walks down (only walks up to a bound are proven)", c);
        if (op != BPF_JLT && op != BPF_JLE && op != BPF_JNE)
            return NOT_PROVEN("its back-edge is a %s, not jlt/jle/jne of a pointer against its bound", jmp_name(op));
        if (bnd < 0 || !is_ptr(e) || e->type != p0->type || e->region != p0->region || e->unbounded || p0->unbounded)
            return NOT_PROVEN("its pointer r%u is not compared with a bounded pointer into the same object", c);
        if (op == BPF_JNE && (step != 1 || !is_ptr(&v->back_ctr) || v->back_ctr.unbounded ||
                              v->back_ctr.omax > e->omin))
            return NOT_PROVEN("jne needs a pointer that steps by 1 and never passes its bound");
        int64_t span = e->omax - p0->omin; /* offsets are within 2^29: no overflow */
        trips = span <= 0 ? 1 : op == BPF_JLE ? (uint64_t)span / step + 1 : ((uint64_t)span + step - 1) / step;
    } else if (entry->r[c].type != T_SCALAR) {
        return NOT_PROVEN("its counter r%u is not a number on entry", c);
    } else if (sstep < 0) { /* counting down */
        if (bnd >= 0)
            return NOT_PROVEN("its counter r%u counts down to a register (want a constant bound)", c);
        K = is32 ? (uint32_t)in->imm : (uint64_t)(int64_t)in->imm;
        if ((op == BPF_JSGT || op == BPF_JSGE) && K <= (lim >> 1) && entry->r[c].umax <= (lim >> 1))
            op = op == BPF_JSGT ? BPF_JGT : BPF_JGE; /* non-negative on both sides: unsigned */
        if (op != BPF_JGT && op != BPF_JGE && op != BPF_JNE)
            return NOT_PROVEN("its counter r%u counts down, but its back-edge is a %s, not jgt/jge/jne against a "
                              "constant (or jsgt/jsge of non-negative values)",
                              c, jmp_name(op));
        if (op == BPF_JNE && step != 1)
            return NOT_PROVEN("jne needs a counter that steps by 1 and never passes its bound (r%u steps by %llu)", c,
                              (unsigned long long)step);
        if (entry->r[c].umax > lim)
            return NOT_PROVEN("its counter r%u is wider than the %d-bit compare", c, is32 ? 32 : 64);
        c0 = entry->r[c].umax;
        if (op == BPF_JGT ? K < step - 1 : op == BPF_JGE ? K < step : 0)
            return NOT_PROVEN("r%u - %llu may wrap around below 0 before the loop stops at %llu", c,
                              (unsigned long long)step, (unsigned long long)K);
        if (op == BPF_JNE ? entry->r[c].umin <= K : entry->r[c].umin < step)
            return NOT_PROVEN("r%u may be %llu on entry, and counting down from there passes its bound", c,
                              (unsigned long long)entry->r[c].umin);
        if (c0 <= K)
            trips = 1;
        else if (op == BPF_JGE)
            trips = (c0 - K) / step + 1;
        else
            trips = (c0 - K + step - 1) / step;
    } else { /* counting up */
        if (op != BPF_JLT && op != BPF_JLE && op != BPF_JNE)
            return NOT_PROVEN("its back-edge is a %s, not jlt/jle/jne of a counter against its bound", jmp_name(op));
        if (bnd >= 0 && v->back_bound.type != T_SCALAR)
            return NOT_PROVEN("its bound r%d is not a number", bnd);
        if (bnd >= 0) /* the largest value it has at the back-edge; the low half for jmp32 */
            K = v->back_bound.umax > lim ? lim : v->back_bound.umax;
        else
            (void)loop_bound(in, fin, &K);
        if (op == BPF_JLE ? K > lim - step : K > lim - (step - 1))
            return NOT_PROVEN("r%u + %llu may wrap around before reaching %llu", c, (unsigned long long)step,
                              (unsigned long long)K);
        if (op == BPF_JNE && (step != 1 || v->back_ctr.type != T_SCALAR || v->back_ctr.umax > K))
            return NOT_PROVEN("jne needs a counter that steps by 1 and never passes its bound (r%u may reach %llu)", c,
                              (unsigned long long)v->back_ctr.umax);
        c0 = entry->r[c].umax > lim ? 0 : entry->r[c].umin;
        /* passes: jlt/jne ceil((K - c0) / k), jle floor((K - c0) / k) + 1, at
         * least one (the test is at the bottom); the wrap check above keeps
         * K + k - 1 from overflowing */
        if (K <= c0)
            trips = 1;
        else if (op == BPF_JLE)
            trips = (K - c0) / step + 1;
        else
            trips = (K - c0 + step - 1) / step;
    }
    if (trips > MLOS_BPF_MAX_TRIPS)
        return NOT_PROVEN("it may run %llu times, more than %u", (unsigned long long)trips, MLOS_BPF_MAX_TRIPS);
#undef NOT_PROVEN
    return 0;
}

/* Analyse the loop at h: iterate its body from the entry state until the
 * state at the header stops growing (widening after two passes), then
 * prove that it ends. Exits from any pass are pushed to their targets (a
 * later pass only adds to them). st ends as the state after the back-edge
 * not taken. */
#define LOOP_PASSES 8
static int do_loop(struct verifier *v, uint32_t h, struct vstate *st, int *live)
{
    uint32_t b = v->loop_end[h] - 1;
    struct vstate *entry = bpf_alloc(sizeof(*entry)), *hs = bpf_alloc(sizeof(*hs)), *back = bpf_alloc(sizeof(*back));
    struct vstate *obk = v->back;
    struct vreg octr = v->back_ctr;
    int oseen = v->back_seen, rc = 0, pass;
    uint64_t K;
    const struct mlos_bpf_insn *bin = &v->insns[b];

    if (!entry || !hs || !back) {
        rc = MLOS_ENOMEM;
        goto out;
    }
    *entry = *st;
    *hs = *st;
    unsigned ctr;
    int bnd;
    int64_t w;
    uint8_t lop = loop_shape(bin, &ctr, &bnd);
    int64_t dir = counter_step(v, h, b, ctr, &w);
    struct wcap cap = NO_CAP;
    int walk = 0;          /* a walked pointer with one offset on entry: */
    int64_t walk_from = 0; /* ... that offset */
    if (is_ptr(&st->r[ctr]) && bnd >= 0 && is_ptr(&st->r[bnd]) && !st->r[bnd].unbounded && dir > 0) {
        /* a pointer walked up to a bound pointer; from an exact start it
         * steps on a lattice, so its offsets at the header round down to
         * it (a word walk to the end of a region then stays inside) */
        const struct vreg *p0 = &st->r[ctr];
        cap.phi = st->r[bnd].omax - (lop == BPF_JLE ? 0 : 1);
        if (!p0->unbounded && p0->omin == p0->omax && cap.phi > p0->omin) {
            walk = 1;
            walk_from = p0->omin;
            cap.phi -= (cap.phi - walk_from) % dir;
        }
    }
    else if (dir < 0 && bnd < 0 && loop_bound(bin, st, &K))
        cap.lo = K + (lop == BPF_JGE || lop == BPF_JSGE ? 0 : 1); /* counting down: stays above the bound */
    else if (loop_bound(bin, st, &K) && K > 0)
        cap.hi = lop == BPF_JLE ? K : K - 1;
    /* Pointers stepped beside a counted-up counter (what compilers make of
     * a[i], b[i] in "for (i = 0; i < n; i++)"): each written once per pass
     * by p += k from one offset on entry, so after j passes p is o0 + j*k,
     * and j is at most (cap - c0) / step of the counter. */
    struct wcap pcap[MLOS_BPF_NREGS];
    for (int i = 0; i < MLOS_BPF_NREGS; i++)
        pcap[i] = NO_CAP;
    if (dir > 0 && cap.hi != UINT64_MAX && st->r[ctr].type == T_SCALAR && cap.hi >= st->r[ctr].umin) {
        uint64_t jmax = (cap.hi - st->r[ctr].umin) / (uint64_t)dir;
        for (unsigned i = 0; i < MLOS_BPF_NREGS; i++) {
            const struct vreg *p0 = &st->r[i];
            int64_t pw, k = i == ctr ? 0 : counter_step(v, h, b, i, &pw);
            uint32_t from;
            int inner;
            if (k <= 0 || !is_ptr(p0) || p0->unbounded || p0->omin != p0->omax ||
                BPF_CLASS(v->insns[pw].code) != BPF_ALU64 || !every_pass(v, h, b, pw, &from, &inner))
                continue;
            if (jmax > (uint64_t)(1 << 29) / (uint64_t)k)
                continue; /* further than any object reaches */
            pcap[i].phi = p0->omin + (int64_t)jmax * k;
        }
    }
    for (pass = 0; pass < LOOP_PASSES; pass++) {
        int lv = 1;
        *st = *hs;
        v->back = back;
        v->back_seen = 0;
        if ((rc = walk_range(v, h, b + 1, st, &lv, h)) < 0)
            goto out;
        *live = lv;
        if (!v->back_seen)
            break; /* never goes round: a straight line */
        join_state(back, hs); /* back = hs joined with the back-edge state */
        if (walk) { /* a walked pointer is p0 + j * k at the header */
            struct vreg *p = &back->r[ctr];
            if (is_ptr(p) && !p->unbounded && p->omin == walk_from && p->omax > walk_from)
                p->omax -= (p->omax - walk_from) % dir;
        }
        for (int i = 0; i < MLOS_BPF_NREGS; i++) { /* stepped beside the counter: o0 + j*k <= phi */
            struct vreg *p = &back->r[i];
            if (pcap[i].phi != INT64_MAX && is_ptr(p) && !p->unbounded && p->omax > pcap[i].phi)
                p->omax = pcap[i].phi;
        }
        if (state_eq(back, hs))
            break;
        if (pass >= 1) {
            for (int i = 0; i < MLOS_BPF_NREGS; i++)
                widen_reg(&back->r[i], &hs->r[i], i == (int)ctr ? cap : pcap[i]);
            for (int i = 0; i < NSLOTS; i++)
                if (back->spilled[i] && hs->spilled[i])
                    widen_reg(&back->slot[i], &hs->slot[i], NO_CAP);
        }
        *hs = *back;
    }
    if (pass == LOOP_PASSES) {
        rc = bpf_fail(v->err, v->el, h, "loop at insn %u: no invariant found in %d passes", (unsigned)h, LOOP_PASSES);
        goto out;
    }
    if (v->back_seen)
        rc = loop_ends(v, h, b, entry, hs);
out:
    if (rc == MLOS_ENOMEM)
        bpf_fail(v->err, v->el, h, "out of memory in the verifier");
    v->back = obk;
    v->back_ctr = octr;
    v->back_seen = oseen;
    bpf_release(entry);
    bpf_release(hs);
    bpf_release(back);
    return rc;
}

int mlos_bpf_verify(const struct mlos_bpf_insn *insns, uint32_t n, const struct mlos_bpf_hook_desc *hook,
                    char *err, size_t err_len)
{
    return bpf_verify_ex(insns, n, hook, NULL, err, err_len);
}

int bpf_verify_ex(const struct mlos_bpf_insn *insns, uint32_t n, const struct mlos_bpf_hook_desc *hook,
                  uint8_t *rtcheck, char *err, size_t err_len)
{
    struct verifier v = {.insns = insns, .n = n, .hook = hook, .err = err, .el = err_len};
    struct vstate *st = NULL;
    struct vreg ret;
    int rc, returns = 0;

    if (n == 0 || n > MLOS_BPF_MAX_INSNS)
        return bpf_fail(err, err_len, 0, "program must have 1..%u instructions", (unsigned)MLOS_BPF_MAX_INSNS);
    v.opi = bpf_alloc(n);
    v.fstart = bpf_alloc(n);
    v.loop_end = bpf_alloc(n * sizeof(*v.loop_end));
    v.pending = bpf_alloc(n * sizeof(*v.pending));
    st = bpf_alloc(sizeof(*st));
    if (!v.opi || !v.fstart || !v.loop_end || !v.pending || !st) {
        rc = MLOS_ENOMEM;
        bpf_fail(err, err_len, 0, "out of memory in the verifier");
        goto out;
    }
    memset(v.pending, 0, n * sizeof(*v.pending));
    memset(v.loop_end, 0, n * sizeof(*v.loop_end));
    v.rtcheck = rtcheck;
    if (rtcheck)
        memset(rtcheck, 0, n);
    if ((rc = structure(&v)) < 0) {
        if (rc == MLOS_ENOMEM)
            bpf_fail(err, err_len, 0, "out of memory in the verifier");
        goto out;
    }
    memset(st, 0, sizeof(*st));
    st->r[1] = (struct vreg){T_CTX, 0, 0, 0, 0, 0, 0};
    st->r[10] = (struct vreg){T_STACK, 0, 0, 0, 0, 0, 0};
    rc = walk(&v, 0, func_end(&v, 0), st, &ret, &returns);
out:
    if (v.pending)
        for (uint32_t i = 0; i < n; i++)
            bpf_release(v.pending[i]);
    bpf_release(v.pending);
    bpf_release(v.opi);
    bpf_release(v.fstart);
    bpf_release(v.loop_end);
    bpf_release(st);
    return rc;
}
