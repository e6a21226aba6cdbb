"""Similarity (Procrustes) alignment, the step behind every PA-MPJPE the project reports.

PA-MPJPE removes rotation, scale and translation per frame before measuring, so pose shape is judged apart from
global placement (Human3.6M protocol 2; MotionBERT reports it for 3D pose and mesh). One implementation serves the
lifter's evaluation and the mesh head's metrics, so their numbers are comparable.
"""

from __future__ import annotations

import numpy as np


def procrustes_align(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Similarity-align ``pred`` ``(..., J, 3)`` to ``target`` (rotation, scale, translation; Umeyama 1991)."""
    mu_p, mu_t = pred.mean(axis=-2, keepdims=True), target.mean(axis=-2, keepdims=True)
    p, t = pred - mu_p, target - mu_t
    h = np.swapaxes(p, -1, -2) @ t
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
    fix = np.ones(s.shape)
    fix[..., -1] = d
    r = np.swapaxes(vt, -1, -2) @ (fix[..., :, None] * np.swapaxes(u, -1, -2))
    scale = (s * fix).sum(axis=-1) / np.maximum((p**2).sum(axis=(-1, -2)), 1e-12)
    return scale[..., None, None] * (p @ np.swapaxes(r, -1, -2)) + mu_t
