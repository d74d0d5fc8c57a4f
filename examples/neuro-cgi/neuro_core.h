/* neuro_core.h -- portable kernels and wire formats of the neuro analysis.
 *
 * Everything here except the "master side" section is compiled into every
 * slave image, including bare-metal ones: integer arithmetic and memory
 * only, no libm, no libc beyond memcpy/memset.
 *
 * Fixed-point representation (chosen over float because QEMU TCG runs
 * integer code as host code but float SSE through softfloat helpers; see
 * bench/bench_neuro.sh for the numbers):
 *   - The master quantizes the input to q = round((v - off) * qs), 0..4095
 *     (NEURO_Q_MAX); integer-valued inputs with a range <= 4095 get an
 *     integer qs, which makes the quantization exact.
 *   - Gaussian weights are integers summing to exactly 4096 (NEURO_W_ONE).
 *   - Three separable passes (z, y, x), each rounding to a fixed scale so
 *     that every accumulator fits a uint32:
 *       z: <2^24 >>8 -> q*16 (<2^16);  y: <2^28 >>8 -> q*256 (<2^20);
 *       x: <2^32 >>12 -> q*256.
 *     The smoothed value is f = q*256 (NEURO_F_SHIFT bits of fraction), so
 *     the intensity is off + f / (256 * qs).
 *   - Edges replicate the nearest voxel; a slab's input carries `radius`
 *     halo slices on each side inside the volume, and is clamped (hence
 *     replicated) where it ends at the volume's own edge.
 *
 * 1-D k-means on ordered values: each shard builds a histogram of its
 * masked f values (integers < NEURO_F_BINS) once, compacts it to its
 * distinct values with prefix counts and sums, so an assignment step is
 * two binary searches.
 * Assignment rule, exactly: with centers c0 <= c1 <= c2 the master sends
 * t1 = floor((c0+c1)/2) and t2 = floor((c1+c2)/2); a value x goes to class
 * 0 if x <= t1, 1 if t1 < x <= t2, else 2. For integer x this is the same
 * as "nearest center, ties to the lower class".
 *
 * Task arguments and results cross the wire as little-endian byte strings
 * of fixed size (NEURO_*_WIRE); the structs below are their host form, and
 * neuro_*_enc/dec convert. Bulk window offsets in arguments are checked by
 * the tasks.
 */
#ifndef NEURO_CORE_H
#define NEURO_CORE_H

#include <stddef.h>
#include <stdint.h>

#define NEURO_Q_MAX 4095u
#define NEURO_W_BITS 12
#define NEURO_W_ONE (1u << NEURO_W_BITS)
#define NEURO_F_SHIFT 8       /* f = q << NEURO_F_SHIFT (fraction bits of q) */
#define NEURO_MAX_RADIUS 31   /* sigma up to ~10 voxels */
#define NEURO_MAX_REGIONS 65535

/* ---- kernels ---- */

/* A rectangle of one slice, [x0, x1) x [y0, y1); empty when x0 >= x1 or
 * y0 >= y1. The smoothing kernels take one per output slice (or NULL: the
 * whole slice) and compute exactly the voxels inside it, bit for bit as
 * without boxes: the z and y passes run over the box grown by r, so only
 * the slice's own edges replicate. Outside the boxes out[] is unspecified
 * (the scalar kernel uses it for intermediate passes). Most of a head
 * volume is background nobody asks about. */
struct neuro_box {
    uint32_t x0, x1, y0, y1;
};

/* The smallest box of a slice (nx*ny voxels) holding every voxel with
 * mask != 0 or (idx given) idx != 0; empty (all 0) when there is none. */
void neuro_slice_box(const uint8_t *mask, const uint16_t *idx, int nx, int ny, struct neuro_box *b);

/* Smooth one slab in fixed point. in: nx*ny*nz_in quantized values
 * (<= NEURO_Q_MAX), slices [z_off, z_off+nz_out) of which are the slab; the
 * rest is halo, and z indexes are clamped to [0, nz_in). w[0..r]: one side
 * of the symmetric kernel (w[0] the center), w[0] + 2*sum(w[1..r]) ==
 * NEURO_W_ONE. out: nx*ny*nz_out values f. tmp: nx*ny + nx + 2r uint32.
 * boxes: nz_out boxes, or NULL (see struct neuro_box). */
void neuro_smooth_fixed(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const uint16_t *w,
                        int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes);

/* The same in float32, for measuring (weights sum to 1); out receives f
 * rounded from the float result, so both kernels feed the same k-means.
 * tmp: max(nx*ny, nx+2r) floats; slab: nx*ny floats. */
void neuro_smooth_float(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out, const float *w,
                        int r, uint32_t *out, float *tmp, float *slab);

/* Gather f of the voxels with mask != 0 into vals (returns their count). */
size_t neuro_gather_masked(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t *vals);

/* Bit-exact variants of neuro_smooth_fixed (which picks one per build):
 * the scalar tap-major loops (vectorised by the host compiler) and the
 * SWAR one for bare metal under TCG. tmp: nx*ny + nx + 2r uint32. */
void neuro_smooth_fixed_scalar(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out,
                               const uint16_t *w, int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes);
void neuro_smooth_fixed_swar(const uint16_t *in, int nx, int ny, int nz_in, int z_off, int nz_out,
                             const uint16_t *w, int r, uint32_t *out, uint32_t *tmp, const struct neuro_box *boxes);

/* Exact 1-D k-means statistics without sorting: smoothed values are
 * integers below NEURO_F_BINS, so a histogram of the masked ones orders
 * them. neuro_hist_masked adds 1 to hist[f[i]] for each voxel with
 * mask != 0 and returns their count, or (size_t)-1 if some f >=
 * nbins (those are not counted as themselves). neuro_hist_compact turns
 * hist[0..nbins) (8-byte aligned) into the d distinct values present, in
 * ascending order, vals[0..d), and pre[2i], pre[2i+1] = count and sum of
 * the values below vals[i], for i = 0..d (2d+2 entries); returns d. The
 * count and sum of the values <= t are then pre[2i], pre[2i+1] with
 * i = neuro_count_le(vals, d, t). */
#define NEURO_F_BINS (1u << 20)
size_t neuro_hist_masked(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t *hist, uint32_t nbins);
size_t neuro_hist_compact(const uint32_t *hist, uint32_t nbins, uint32_t *vals, uint64_t *pre);

/* Sort n values ascending (LSD radix, 11-bit digits). tmp: n values;
 * counts: 2048 entries of scratch. */
void neuro_sort_u32(uint32_t *a, uint32_t *tmp, size_t n, uint32_t *counts);

/* pre[i] = sum of a[0..i) for i in 0..n (n+1 entries). */
void neuro_prefix_u64(const uint32_t *a, size_t n, uint64_t *pre);

/* Number of values <= t in the ascending array a[0..n). */
size_t neuro_count_le(const uint32_t *a, size_t n, uint32_t t);

/* seg[i] = 0 where mask is 0, else 1 + class of f[i] by the rule above. */
void neuro_label(const uint32_t *f, const uint8_t *mask, size_t n, uint32_t t1, uint32_t t2, uint8_t *seg);

/* Per region index 1..nreg (idx 0: outside every region): voxel count,
 * sum of f, and voxels labelled GM (seg == 2). Adds into the arrays
 * (nreg+1 entries each; entry 0 unused). Indexes > nreg are ignored. */
void neuro_region_stats(const uint32_t *f, const uint8_t *seg, const uint16_t *idx, size_t n, uint32_t nreg,
                        uint64_t *cnt, uint64_t *sum, uint64_t *gm);

/* ---- wire formats (little-endian, fixed size) ---- */

#define NEURO_FLAG_FLOAT 1u /* smooth with the float kernel (benchmarks) */
#define NEURO_FLAG_BOXES 2u /* fixed kernel: only inside the boxes at box_off */

/* neuro_smooth: smooth the slab, order its masked values (histogram).
 * Bulk window, all offsets 8-byte aligned; dmax = min(m, NEURO_F_BINS):
 *   in_off      uint16 q, nx*ny*nz_in
 *   mask_off    uint8, nx*ny*nz_out (input > 0)
 *   f_off       uint32 f, nx*ny*nz_out (written)
 *   sorted_off  uint32, dmax: the d distinct masked values (written, ascending)
 *   prefix_off  uint64, 2*dmax+2: counts and sums below them (written)
 *   scratch_off scratch_len bytes: at least 4*NEURO_F_BINS + 8*(nx*ny + nx + 2r)
 *   box_off     with NEURO_FLAG_BOXES: nz_out boxes, uint32 x0 x1 y0 y1 each;
 *               every masked voxel must lie inside its slice's box, and f
 *               is only written inside the boxes
 * Bulk arrays are little-endian like everything on the wire; a big-endian
 * shard swaps them in place (the input is then consumed). */
struct neuro_smooth_arg {
    uint32_t nx, ny, nz_in, z_off, nz_out, radius, flags, m;
    uint64_t in_off, mask_off, f_off, sorted_off, prefix_off, scratch_off, scratch_len, box_off;
    uint32_t w[NEURO_MAX_RADIUS + 1]; /* fixed: integer weights; float: float bits */
};
#define NEURO_SMOOTH_ARG_WIRE (8 * 4 + 8 * 8 + (NEURO_MAX_RADIUS + 1) * 4)

/* Result: m, min, max and sum of f over the masked voxels (0 when m == 0),
 * d distinct values, and the time spent smoothing and ordering (shard
 * clock). */
struct neuro_smooth_res {
    uint64_t m, fmin, fmax, sum, smooth_ns, sort_ns, d;
};
#define NEURO_SMOOTH_RES_WIRE (7 * 8)

/* neuro_kstep: counts and sums of the masked values <= t1 and <= t2, from
 * the d distinct values and prefixes neuro_smooth left. */
struct neuro_kstep_arg {
    uint64_t sorted_off, prefix_off, d;
    uint32_t t1, t2;
};
#define NEURO_KSTEP_ARG_WIRE (3 * 8 + 2 * 4)
struct neuro_kstep_res {
    uint64_t n1, s1, n2, s2;
};
#define NEURO_KSTEP_RES_WIRE (4 * 8)

/* neuro_finish: write seg (uint8, n voxels) by the rule above and, if
 * nreg > 0, region statistics from idx (uint16, n) as 3*(nreg+1) uint64 at
 * stats_off: counts, then sums of f, then GM counts, little-endian. With
 * NEURO_FLAG_BOXES, the slab is n / (nx*ny) slices of nx*ny voxels, and
 * f, mask and idx are only read inside the boxes at box_off (those of
 * neuro_smooth): seg is 0 outside them. */
struct neuro_finish_arg {
    uint64_t n, f_off, mask_off, seg_off, idx_off, stats_off, box_off;
    uint32_t t1, t2, nreg, flags, nx, ny;
};
#define NEURO_FINISH_ARG_WIRE (7 * 8 + 6 * 4)

/* neuro_kmeans: every k-means step inside the slaves, run as a group call
 * (<mlos/coll.h>) on all of them at once: each rank counts its slab below
 * the thresholds as neuro_kstep does, the ranks allreduce the four sums
 * (u64, exact in any order) and all take the same step (neuro_kmeans_next),
 * until no voxel changes class or max_iter steps were taken. The argument
 * is the header below and one neuro_kmeans_slab per rank, in rank order;
 * every rank answers the same result. */
struct neuro_kmeans_arg {
    uint64_t c_bits[3];  /* initial centers, IEEE-754 binary64 bits */
    uint64_t mtot, stot; /* masked voxels in all slabs, and the sum of their f */
    uint32_t max_iter, n; /* n: ranks, = the group's size */
};
#define NEURO_KMEANS_ARG_WIRE (5 * 8 + 2 * 4)
struct neuro_kmeans_slab {
    uint64_t sorted_off, prefix_off, d; /* as in neuro_kstep_arg */
};
#define NEURO_KMEANS_SLAB_WIRE (3 * 8)
#define NEURO_KMEANS_MAX_ITER 100000
struct neuro_kmeans_res {
    uint64_t voxels[3], c_bits[3]; /* class sizes of the last step; final centers */
    uint32_t t1, t2, iterations, rounds; /* thresholds for neuro_finish; steps taken; allreduces run */
};
#define NEURO_KMEANS_RES_WIRE (6 * 8 + 4 * 4)

/* The k-means bookkeeping the master and the slaves share, so that both
 * paths take bit-identical steps: neuro_kmeans_start sets the thresholds
 * from the centers; neuro_kmeans_next takes one step's global sums
 * {n1, s1, n2, s2} (values <= t1, values <= t2) and returns 1 when done
 * (no label changed, or max_iter steps: centers and thresholds stay),
 * else 0 with new centers and thresholds. Plain double arithmetic, no
 * libm. */
struct neuro_kmeans {
    double c[3];
    uint64_t mtot, stot, prev_n1, prev_n2;
    uint64_t voxels[3];
    uint32_t t1, t2;
    int round, iterations, max_iter;
};
void neuro_kmeans_start(struct neuro_kmeans *k, const double c[3], uint64_t mtot, uint64_t stot, int max_iter);
int neuro_kmeans_next(struct neuro_kmeans *k, const uint64_t t[4]);

_Static_assert(sizeof(struct neuro_smooth_arg) == NEURO_SMOOTH_ARG_WIRE, "smooth arg has no padding");
_Static_assert(sizeof(struct neuro_smooth_res) == NEURO_SMOOTH_RES_WIRE, "smooth res has no padding");
_Static_assert(sizeof(struct neuro_kstep_arg) == NEURO_KSTEP_ARG_WIRE, "kstep arg has no padding");
_Static_assert(sizeof(struct neuro_kstep_res) == NEURO_KSTEP_RES_WIRE, "kstep res has no padding");
_Static_assert(sizeof(struct neuro_finish_arg) == NEURO_FINISH_ARG_WIRE, "finish arg has no padding");

_Static_assert(sizeof(struct neuro_kmeans_arg) == NEURO_KMEANS_ARG_WIRE, "kmeans arg has no padding");
_Static_assert(sizeof(struct neuro_kmeans_slab) == NEURO_KMEANS_SLAB_WIRE, "kmeans slab has no padding");
_Static_assert(sizeof(struct neuro_kmeans_res) == NEURO_KMEANS_RES_WIRE, "kmeans res has no padding");

void neuro_kmeans_arg_enc(const struct neuro_kmeans_arg *a, uint8_t *p);
void neuro_kmeans_arg_dec(const uint8_t *p, struct neuro_kmeans_arg *a);
void neuro_kmeans_slab_enc(const struct neuro_kmeans_slab *a, uint8_t *p);
void neuro_kmeans_slab_dec(const uint8_t *p, struct neuro_kmeans_slab *a);
void neuro_kmeans_res_enc(const struct neuro_kmeans_res *r, uint8_t *p);
void neuro_kmeans_res_dec(const uint8_t *p, struct neuro_kmeans_res *r);
/* binary64 <-> its bits, for the wire */
uint64_t neuro_f64_bits(double x);
double neuro_f64_from_bits(uint64_t b);
void neuro_smooth_arg_enc(const struct neuro_smooth_arg *a, uint8_t *p);
void neuro_smooth_arg_dec(const uint8_t *p, struct neuro_smooth_arg *a);
void neuro_smooth_res_enc(const struct neuro_smooth_res *r, uint8_t *p);
void neuro_smooth_res_dec(const uint8_t *p, struct neuro_smooth_res *r);
void neuro_kstep_arg_enc(const struct neuro_kstep_arg *a, uint8_t *p);
void neuro_kstep_arg_dec(const uint8_t *p, struct neuro_kstep_arg *a);
void neuro_kstep_res_enc(const struct neuro_kstep_res *r, uint8_t *p);
void neuro_kstep_res_dec(const uint8_t *p, struct neuro_kstep_res *r);
void neuro_finish_arg_enc(const struct neuro_finish_arg *a, uint8_t *p);
void neuro_finish_arg_dec(const uint8_t *p, struct neuro_finish_arg *a);

/* ---- master side (libm; defined in neuro_master.c) ---- */

/* Kernel radius for sigma: (int)(3*sigma + 0.5). */
int neuro_radius(double sigma);
/* Integer weights w[0..r] (one side) summing over the full kernel to
 * exactly NEURO_W_ONE, and the float weights wf[0..r] summing to 1.
 * Returns r, or -1 if sigma is not in (0, NEURO_MAX_RADIUS/3]. */
int neuro_weights(double sigma, uint16_t *w, float *wf);

#endif
