/* libos/bpf/bpf_interp.c -- two instances of the threaded interpreter
 * (bpf_interp_body.h): fast (no run-time checks: verified or trusted code)
 * and checked (every memory access and helper pointer bounds-checked, a
 * budget on backward jumps), plus the checked mode's range table.
 */
#include <string.h>

#include "bpf_impl.h"
#include "mlos_error.h"

/* A memory range a run may touch, with its access limits precomputed: an
 * access of 2^k bytes at a, a write if w, is inside iff a - lo < lim[4 * w
 * + k]. One subtraction and one compare, and no wrap-around case: a below
 * lo wraps to at least 2^64 - lo, above every limit since lo + len does
 * not wrap. A limit is 0 (nothing passes) where the range is shorter than
 * the access or, for writes, read-only. */
struct bpf_range {
    uint64_t lo, len;
    int writable;
    uint64_t lim[8];
};

static void bpf_range_set(struct bpf_range *r, uint64_t lo, uint64_t hi, int writable)
{
    r->lo = lo;
    r->len = hi - lo;
    r->writable = writable;
    for (int k = 0; k < 4; k++) {
        uint64_t size = 1u << k, lim = r->len >= size ? r->len - size + 1 : 0;
        r->lim[k] = lim;
        r->lim[4 + k] = writable ? lim : 0;
    }
}

/* The size index k of a 2^k-byte access (a constant in every handler). */
#define BPF_SZI(sz) ((sz) == 1 ? 0 : (sz) == 2 ? 1 : (sz) == 4 ? 2 : 3)
#define BPF_LIM(r, a, sz, w) ((uint64_t)(a) - (r)->lo < (r)->lim[4 * (w) + BPF_SZI(sz)])

/* One limit of a variable region, for _v accesses: the interpreter keeps
 * eight per region (reads then writes, by size index), 128 bytes, so that
 * the upper nibble of a _v slot's dst (the region's index, times 16) times
 * 8 is the byte offset of its region's row. */
struct bpf_vlim {
    uint64_t lo, lim;
};
_Static_assert(sizeof(struct bpf_vlim) * 8 == 16 << 3, "a region's row of limits is its dst nibble times 8");

/* The regions the hook declares (only the variable-length ones if
 * only_var) whose fields lie inside ctx, read once at the start of a run:
 * a program that rewrites them later cannot widen its own access. A
 * variable region's length is its length field capped at the declared
 * size, and its grant field can take write access away. */
static int bpf_region_ranges(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, int only_var,
                             struct bpf_range *out)
{
    int n = 0;
    for (int i = 0; i < prog->hook.nregions && ctx; i++) {
        const struct mlos_bpf_region_desc *r = &prog->hook.regions[i];
        uint64_t base, size = r->size;
        if ((only_var && !r->variable) || (uint64_t)r->ctx_off + 8 > ctx_len)
            continue;
        int w = r->writable;
        if (r->variable) {
            uint64_t l;
            if ((uint64_t)r->len_off + 8 > ctx_len || (r->grant && (uint64_t)r->grant_off + 4 > ctx_len))
                continue;
            l = bpf_load_le((uintptr_t)ctx + r->len_off, 8);
            size = l < size ? l : size;
            if (r->grant && !(bpf_load_le((uintptr_t)ctx + r->grant_off, 4) & 1))
                w = 0;
        }
        base = bpf_load_le((uintptr_t)ctx + r->ctx_off, 8);
        if (base && base + size > base)
            bpf_range_set(&out[n++], base, base + size, w);
    }
    return n;
}

/* Ranges for one run: ctx, stack, and each region the hook declares whose
 * pointer field lies inside ctx (read once, at the start: a program that
 * rewrites the field later cannot widen its own access). */
static int bpf_ranges(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, uint64_t *stack,
                      struct bpf_range *out, int *stack_index)
{
    /* Regions first: loops over data make most accesses there. */
    int n = bpf_region_ranges(prog, ctx, ctx_len, 0, out);
    uint64_t c = (uint64_t)(uintptr_t)ctx;

    /* Only the current frame: the entry function's at first (calls move
     * the range, so no function reads another's or unwritten frames). */
    *stack_index = n;
    bpf_range_set(&out[n++], (uint64_t)(uintptr_t)stack + (MLOS_BPF_MAX_FRAMES - 1) * MLOS_BPF_STACK_SIZE,
                  (uint64_t)(uintptr_t)stack + MLOS_BPF_MAX_FRAMES * MLOS_BPF_STACK_SIZE, 1);
    if (ctx && ctx_len)
        bpf_range_set(&out[n++], c, c + ctx_len, prog->hook.ctx_writable);
    return n;
}

/* Per region index: the variable region's limits for this run (row i of
 * out, struct bpf_vlim), nothing passing for the others. */
static void bpf_var_ranges(const struct mlos_bpf_prog *prog, void *ctx, size_t ctx_len, struct bpf_vlim *out)
{
    for (int i = 0; i < prog->hook.nregions; i++) {
        struct mlos_bpf_prog one = *prog; /* the one region, through the common reader */
        struct bpf_range r;
        memset(&out[8 * i], 0, 8 * sizeof(*out));
        if (!prog->hook.regions[i].variable)
            continue;
        one.hook.nregions = 1;
        one.hook.regions[0] = prog->hook.regions[i];
        if (bpf_region_ranges(&one, ctx, ctx_len, 1, &r) == 1)
            for (int k = 0; k < 8; k++)
                out[8 * i + k] = (struct bpf_vlim){r.lo, r.lim[k]};
    }
}

/* Any size (a helper's buffer). */
static inline int bpf_range_ok(const struct bpf_range *m, int n, uint64_t a, uint64_t size, int write)
{
    for (int i = 0; i < n; i++) {
        uint64_t o = a - m[i].lo;
        if (o < m[i].len && m[i].len - o >= size && (!write || m[i].writable))
            return 1;
    }
    return 0;
}

/* An instruction's access, of a constant size: the limits. */
#define BPF_RANGE_OK(m, n, a, sz, w)                                                                             \
    ({                                                                                                           \
        int ok_ = 0;                                                                                             \
        for (int i_ = 0; i_ < (n); i_++)                                                                         \
            if (BPF_LIM(&(m)[i_], (a), (sz), (w))) {                                                             \
                ok_ = 1;                                                                                         \
                break;                                                                                           \
            }                                                                                                    \
        ok_;                                                                                                     \
    })

/* A helper call: whitelisted by the hook, pointer arguments inside the
 * ranges for the size its SIZE argument gives. */
static int bpf_helper_args_ok(const struct mlos_bpf_prog *prog, int32_t id, const uint64_t *R,
                              const struct bpf_range *m, int n)
{
    const struct mlos_bpf_helper *h = mlos_bpf_helper_get(id);
    uint64_t size = 0;

    if (!h || !(prog->hook.helpers & MLOS_BPF_HELPER_BIT(id)))
        return 0;
    for (int i = 0; i < 5; i++)
        if (h->args[i] == MLOS_BPF_ARG_SIZE)
            size = R[i + 1];
    for (int i = 0; i < 5; i++) {
        if (h->args[i] != MLOS_BPF_ARG_PTR_READ && h->args[i] != MLOS_BPF_ARG_PTR_WRITE)
            continue;
        if (size && !bpf_range_ok(m, n, R[i + 1], size, h->args[i] == MLOS_BPF_ARG_PTR_WRITE))
            return 0;
    }
    return 1;
}

#define BPF_INTERP_NAME bpf_interp_fast
#define BPF_CHECKED 0
#include "bpf_interp_body.h"
#undef BPF_INTERP_NAME
#undef BPF_CHECKED

#define BPF_INTERP_NAME bpf_interp_checked
#define BPF_CHECKED 1
#include "bpf_interp_body.h"
#undef BPF_INTERP_NAME
#undef BPF_CHECKED
