/* slices.h -- mid-slice pictures of a volume with its segmentation overlaid.
 *
 * Views are anatomical, from the image's voxel-to-world transform
 * (neuro_volume.affine, NIfTI's RAS+ world), in the radiological
 * convention a clinician reads: axial seen from the feet (subject's right
 * on the picture's left, anterior up), coronal seen from the front (right
 * on the left, superior up), sagittal seen from the subject's left
 * (anterior on the left, superior up). Each view is the middle slice of
 * the voxel axis closest to its normal; the voxel axes are matched to the
 * world axes by direction (an oblique scan is shown in its nearest
 * orthogonal orientation, not resampled; slice_orient says by how much it
 * is tilted). Pixels are square in millimetres: nearest-voxel sampling at
 * the finer voxel spacing (times an integer zoom 1..4 so that the longer
 * side is at least 256 pixels, at most SLICE_MAX_SIDE), so anisotropic
 * voxels keep their true aspect. Grey levels map the intensity window
 * [lo, hi] to 0..255; segmented voxels are blended 45% toward their class
 * colour (CSF blue, GM green, WM orange).
 */
#ifndef NEURO_SLICES_H
#define NEURO_SLICES_H

#include <stdint.h>

#include "neuro.h"

enum slice_view { SLICE_AXIAL, SLICE_CORONAL, SLICE_SAGITTAL };

#define SLICE_MAX_SIDE 1024

/* How the voxel axes lie in the world. For world axis w (0: x, left to
 * right; 1: y, posterior to anterior; 2: z, inferior to superior):
 * axis[w] the voxel axis along it, toward_plus[w] whether that voxel index
 * grows toward the world's plus side (right, anterior, superior). mm[j]:
 * voxel spacing along voxel axis j. known: 0 when the header had neither
 * qform nor sform (the voxel axes are then taken as RAS, which may be
 * wrong). oblique_deg: the largest angle between a voxel axis and the
 * world axis it was matched to. */
struct slice_orient {
    int axis[3];
    int toward_plus[3];
    double mm[3];
    int known;
    double oblique_deg;
};

void slice_orient_of(const struct neuro_volume *v, struct slice_orient *o);

/* The anatomical direction at a side of a view's picture: side 0 left,
 * 1 right, 2 top, 3 bottom; "R", "L", "A", "P", "S" or "I". */
const char *slice_marker(enum slice_view view, int side);

struct slice_window {
    float lo, hi;
};

/* lo = 0 (or the minimum if negative), hi = the 99.5th percentile of the
 * positive voxels (the maximum if there are few), so bright outliers do not
 * wash out the picture. The percentile is taken on a regular sample of
 * about 2^20 voxels when the volume is larger. */
void slice_window_auto(const struct neuro_volume *v, struct slice_window *w);

/* Class colours, index 1..3, RGB (also used for the report's legend). */
extern const uint8_t slice_class_rgb[4][3];

/* Render one view. seg may be NULL (no overlay) and must match v's grid.
 * On success returns 0 with a malloc'ed RGB image (*w x *h); -1 if out of
 * memory. */
int slice_render(const struct neuro_volume *v, const struct neuro_labels *seg, const struct slice_window *win,
                 const struct slice_orient *o, enum slice_view view, uint8_t **rgb, int *w, int *h);

const char *slice_view_name(enum slice_view view); /* "axial", ... */

#endif
