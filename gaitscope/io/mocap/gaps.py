"""Short marker gaps: fill them; long ones stay NaN (the frame is then marked invalid, never invented)."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator


def fill_short_gaps(xyz: np.ndarray, max_gap: int) -> tuple[np.ndarray, int]:
    """Fill interior NaN runs of at most ``max_gap`` frames per marker with shape-preserving cubic (PCHIP)
    interpolation, which does not overshoot like a natural spline near a heel strike. Returns the filled copy
    and the number of marker-frames filled. Leading/trailing gaps are left alone (nothing to interpolate from).
    """
    out = xyz.copy()
    filled = 0
    t = np.arange(xyz.shape[0])
    for m in range(xyz.shape[1]):
        ok = np.isfinite(xyz[:, m]).all(axis=-1)
        if ok.all() or ok.sum() < 4:
            continue
        bad = ~ok
        d = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
        todo = [(a, b) for a, b in zip(starts, ends) if a > 0 and b < len(t) and b - a <= max_gap]
        if not todo:
            continue
        f = PchipInterpolator(t[ok], xyz[ok, m], axis=0)
        for a, b in todo:
            out[a:b, m] = f(t[a:b])
            filled += b - a
    return out, filled
