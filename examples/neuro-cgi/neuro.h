/* neuro.h -- brain MRI tissue analysis spread over mlos slave shards.
 *
 * Pipeline (exactly; tests compare against an independent nibabel+scipy
 * implementation):
 *   1. Gaussian smoothing, sigma in voxels (default 1.5), separable, kernel
 *      radius (int)(3*sigma + 0.5) voxels (scipy's truncate=3.0), normalised
 *      weights, edges replicate the nearest voxel (scipy mode='nearest').
 *   2. Tissue classes by k-means, k=3, on the smoothed values of voxels whose
 *      INPUT value is > 0. Initial centers lo+(hi-lo)*(1/6, 3/6, 5/6) where
 *      lo/hi are the min/max of those smoothed values. Lloyd iterations until
 *      no label changes or 50 iterations; ties go to the lower class. Classes
 *      ordered by center: 1 CSF, 2 GM, 3 WM. Volumes in mL from the voxel size
 *      (|pixdim1*pixdim2*pixdim3| mm^3 / 1000).
 *   3. Optional atlas (same grid): for each nonzero region label, voxel count,
 *      mean smoothed intensity over the region, and GM volume (mL) inside it.
 * The volume is split along z into slabs, one per shard; smoothing needs a
 * halo of `radius` slices on each side; k-means reduces per-class sums and
 * counts across shards every iteration.
 */
#ifndef NEURO_H
#define NEURO_H

#include <stddef.h>
#include <stdint.h>

#include "mlos.h"

/* A volume as float32, x fastest: v[x + nx*(y + ny*z)]. */
struct neuro_volume {
    int nx, ny, nz;
    double dx, dy, dz;   /* voxel size, mm (absolute values) */
    float *data;         /* malloc'ed, owned by the struct */
    /* Where the voxels are in the scanner's world (NIfTI-1 "RAS+": +x to
     * the subject's right, +y anterior, +z superior), from the header:
     * world_mm = affine * (i, j, k, 1). xform says which transform it is:
     * NEURO_XFORM_SFORM (sform_code > 0, preferred as the NIfTI standard
     * asks), NEURO_XFORM_QFORM (qform_code > 0: quaternion, offsets and
     * pixdim with qfac), or NEURO_XFORM_NONE (neither: the old ANALYZE
     * "method 1", diag(dx, dy, dz), whose orientation nobody knows). A
     * transform that is not finite or is singular is passed over. */
    int xform;
    double affine[3][4];
};

#define NEURO_XFORM_NONE 0
#define NEURO_XFORM_QFORM 1
#define NEURO_XFORM_SFORM 2

/* A label volume (atlas or segmentation), same layout. */
struct neuro_labels {
    int nx, ny, nz;
    int32_t *data;       /* malloc'ed */
};

/* Parse NIfTI-1 (.nii, or .nii.gz when the buffer starts with the gzip
 * magic) from memory. Accepts dim[0] 3, or 4 with dim[4] == 1; datatypes
 * uint8, int8, int16, uint16, int32, uint32, float32, float64; either byte
 * order; applies scl_slope/scl_inter. Returns 0, or -1 with a clear English
 * reason in err (not NIfTI, truncated, unsupported datatype, wrong
 * dimensions, too large: more than max_voxels). */
int neuro_nifti_read(const uint8_t *buf, size_t len, size_t max_voxels, struct neuro_volume *out, char *err,
                     size_t errlen);
int neuro_nifti_read_labels(const uint8_t *buf, size_t len, size_t max_voxels, struct neuro_labels *out,
                            char *err, size_t errlen);
/* The grid of a NIfTI-1 buffer from its header alone (inflating only the
 * first 348 bytes of a .nii.gz), for starting shards early. Returns 0, or
 * -1 for anything neuro_nifti_read would refuse at the header (which then
 * says why). */
int neuro_nifti_peek(const uint8_t *buf, size_t len, size_t max_voxels, int *nx, int *ny, int *nz);
void neuro_volume_free(struct neuro_volume *v);
void neuro_labels_free(struct neuro_labels *l);

struct neuro_opts {
    double sigma;            /* default 1.5 when 0 */
    int shards;              /* slave shards to use; 0: decide from size (neuro_plan_shards) */
    const char *arch;        /* "x86_64" (default), "ppc" or "process" */
    const struct neuro_labels *atlas; /* NULL: no per-region table */
    int max_iter;            /* default 50 */
    int kvm;                 /* 1: bare-metal x86_64 slaves under KVM (mlos_spawn_opts.kvm) */
    struct neuro_prestart *prestart; /* shards started by neuro_prestart, or NULL */
    /* NULL: slaves on this host, their windows written and read in place.
     * Else where the pool places them (mlos_cluster_placement: slaves behind
     * node agents): slabs go in by mlos_put, results come back by
     * mlos_node_get, and the k-means group runs over the agents' copies of
     * the group memory (mlos_group.h; or the master reduces, master_reduce).
     * Results are the same bit for bit. */
    const struct mlos_pool_placement *placement;
    int smoothed_volume;     /* 1: fill res->smoothed with the whole smoothed volume. 0: leave it
                              * NULL, and the shards smooth only the voxels the results need
                              * (inside the image's mask or an atlas region; same results) */
    /* benchmarks and tests only (0: off) */
    int float_kernel;        /* 1: smooth with the float32 kernel instead of fixed point */
    int master_reduce;       /* 1: the master reduces every k-means step (a round trip per step).
                              * 0: the slaves run all steps in one group call, allreducing among
                              * themselves (every kind) */
    int test_crash_slab;     /* 1-based slab whose shard is made to crash once (builtin "crash" */
    int test_crash_iter;     /*   task): with master_reduce in place of k-means step test_crash_iter
                              *   (0-based), else just before the slaves' k-means group call */
};

struct neuro_region {
    int32_t label;
    uint64_t voxels;
    double mean_smoothed;
    double gm_ml;
};

struct neuro_shard_timing {
    char arch[16];
    uint32_t shard_id;
    int z0, z1;              /* slab [z0, z1) */
    /* host clock: spawn to HELLO, puts, smooth call (smooth + sort) round
     * trip, k-means step round trips summed, finish call + reading back */
    double spawn_ms, put_ms, smooth_ms, kmeans_ms, regions_ms;
    int replaced;            /* times this slab's shard was lost and replaced */
};

struct neuro_result {
    double centers[3];       /* CSF, GM, WM centers (smoothed intensity) */
    uint64_t voxels[3];
    double ml[3];            /* tissue volumes, mL */
    int iterations;
    struct neuro_labels seg; /* 0 background, 1 CSF, 2 GM, 3 WM */
    struct neuro_volume smoothed;   /* data NULL unless opts->smoothed_volume */
    struct neuro_region *regions;
    size_t nregions;
    struct neuro_shard_timing *timing;
    int nshards;
    double total_ms;         /* neuro_analyze wall time */
    double prep_ms;          /* master: quantize input, masks, atlas index */
};

/* File name of neuro's own slave image for a shard kind ("x86_64", "ppc",
 * "process"), looked up with mlos_image_find ($MLOS_IMAGE_PATH), or NULL
 * for another kind. The stock images lack neuro's tasks. */
const char *neuro_image_name(const char *arch);

/* How many shards to use for a volume of nvox voxels (1..max_shards). */
int neuro_plan_shards(size_t nvox, int max_shards);

/* Run the whole analysis on slave shards driven from loop. Returns 0 or a
 * negative MLOS_E* code with the reason in err. The shards are a pool of
 * fixed membership (mlos_pool.h): one lost mid-run -- dead, crashed, or
 * frozen and fenced by the heartbeats -- is replaced, its slab put again
 * and its step re-run; the result is unchanged. */
/* Start an analysis's shards before its volume is decoded: a bare-metal
 * shard boots in about the time a gzipped head volume takes to inflate.
 * nx, ny, nz: the volume's grid (its header tells); with_atlas: whether an
 * atlas will be given (the shards' windows are sized for its index); opts:
 * as neuro_analyze will get them (copied). Then set opts->prestart for
 * neuro_analyze, which takes the shards over whatever happens (and starts
 * afresh if the volume does not fit them), or give them back with
 * neuro_prestart_cancel, which stops them and waits until they are gone.
 * Runs the loop only in neuro_analyze / neuro_prestart_cancel. */
struct neuro_prestart;
int neuro_prestart(uv_loop_t *loop, int nx, int ny, int nz, int with_atlas, const struct neuro_opts *opts,
                   struct neuro_prestart **out, char *err, size_t errlen);
void neuro_prestart_cancel(struct neuro_prestart *p);

int neuro_analyze(uv_loop_t *loop, const struct neuro_volume *vol, const struct neuro_opts *opts,
                  struct neuro_result *res, char *err, size_t errlen);
void neuro_result_free(struct neuro_result *res);

#endif
