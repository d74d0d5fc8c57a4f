#!/usr/bin/python3
"""Independent reference for the neuro-cgi analysis (nibabel + scipy + numpy).

    /usr/bin/python3 reference.py IMAGE [--atlas FILE] [--sigma S] [--max-iter N]

Prints one JSON object: centers, voxels and ml per class (CSF, GM, WM),
iterations, regions (label, voxels, mean_smoothed, gm_ml) when an atlas is
given, and the wall time of each stage in ms (load, smooth, kmeans, regions,
total) so benchmarks can put the C pipeline beside it.

The pipeline follows neuro.h:
  * smoothing: scipy.ndimage.gaussian_filter(float64, sigma, mode='nearest',
    truncate=3.0), i.e. radius int(3*sigma+0.5), normalised weights;
  * k-means k=3 on the smoothed values of voxels whose input is > 0;
    initial centers lo+(hi-lo)*(1/6,3/6,5/6); assignment to the nearest
    center with ties to the lower class (np.argmin takes the first); a class
    left empty keeps its center; one iteration = one center update followed
    by a re-assignment; stop when no label changes or after max_iter
    updates;
  * classes are already ordered by center (1-D Lloyd keeps the order).
"""
import argparse
import json
import time

import nibabel as nib
import numpy as np
from scipy import ndimage


def kmeans3(x, max_iter):
    lo, hi = float(x.min()), float(x.max())
    c = np.array([lo + (hi - lo) * f for f in (1 / 6, 3 / 6, 5 / 6)])

    def assign(c):
        return np.argmin(np.abs(x[:, None] - c[None, :]), axis=1)

    labels = assign(c)
    it = 0
    while it < max_iter:
        for k in range(3):
            sel = labels == k
            if sel.any():
                c[k] = x[sel].mean()
        it += 1
        new = assign(c)
        if np.array_equal(new, labels):
            break
        labels = new
    return c, labels, it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('image')
    ap.add_argument('--atlas')
    ap.add_argument('--sigma', type=float, default=1.5)
    ap.add_argument('--max-iter', type=int, default=50)
    a = ap.parse_args()

    t0 = time.perf_counter()
    img = nib.load(a.image)
    vol = np.asarray(img.get_fdata(dtype=np.float64))
    if vol.ndim == 4 and vol.shape[3] == 1:
        vol = vol[..., 0]
    zooms = img.header.get_zooms()[:3]
    voxel_ml = abs(float(zooms[0]) * float(zooms[1]) * float(zooms[2])) / 1000.0
    t1 = time.perf_counter()
    sm = ndimage.gaussian_filter(vol, a.sigma, mode='nearest', truncate=3.0)
    t2 = time.perf_counter()
    mask = vol > 0
    x = sm[mask]
    c, labels, it = kmeans3(x, a.max_iter)
    seg = np.zeros(vol.shape, dtype=np.uint8)
    seg[mask] = labels + 1
    t3 = time.perf_counter()
    counts = [int((labels == k).sum()) for k in range(3)]
    out = {
        'dims': list(vol.shape),
        'centers': [float(v) for v in c],
        'voxels': counts,
        'ml': [n * voxel_ml for n in counts],
        'iterations': it,
    }
    regions = []
    if a.atlas:
        at = np.asarray(nib.load(a.atlas).dataobj).astype(np.int64)
        if at.ndim == 4:
            at = at[..., 0]
        if at.shape != vol.shape:
            raise SystemExit('atlas grid %s differs from image %s' % (at.shape, vol.shape))
        lab = at.ravel()
        nz = lab != 0
        ids, inv = np.unique(lab[nz], return_inverse=True)
        n = np.bincount(inv)
        s = np.bincount(inv, weights=sm.ravel()[nz])
        g = np.bincount(inv, weights=(seg.ravel()[nz] == 2).astype(np.float64))
        for i, lid in enumerate(ids):
            regions.append({'label': int(lid), 'voxels': int(n[i]), 'mean_smoothed': float(s[i] / n[i]),
                            'gm_ml': float(g[i]) * voxel_ml})
        out['regions'] = regions
    t4 = time.perf_counter()
    ms = lambda d: round(d * 1000.0, 3)
    out['time_ms'] = {'load': ms(t1 - t0), 'smooth': ms(t2 - t1), 'kmeans': ms(t3 - t2), 'regions': ms(t4 - t3),
                      'total': ms(t4 - t0)}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
