/* slices.h -- mid-slice pictures of a volume with its segmentation overlaid.
 *
 * Views are along the voxel axes, not world-oriented: axial is the x-y
 * plane at z = nz/2 (y up), coronal x-z at y = ny/2 (z up), sagittal y-z at
 * x = nx/2 (z up). Grey levels map the intensity window [lo, hi] to 0..255;
 * segmented voxels are blended 45% toward their class colour (CSF blue, GM
 * green, WM orange). Pixels are replicated by an integer factor (1..4) so
 * that the longer side is at least 256 pixels; anisotropic voxels are not
 * corrected for.
 */
#ifndef NEURO_SLICES_H
#define NEURO_SLICES_H

#include <stdint.h>

#include "neuro.h"

enum slice_view { SLICE_AXIAL, SLICE_CORONAL, SLICE_SAGITTAL };

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
                 enum slice_view view, uint8_t **rgb, int *w, int *h);

const char *slice_view_name(enum slice_view view); /* "axial", ... */

#endif
