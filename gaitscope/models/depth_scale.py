"""The lifter's depth put on the scale of the anchored image-plane coordinates, chosen so the limbs' bones keep a
fixed length (issue 20, oblique views).

Why. Anchoring (:mod:`gaitscope.models.anchoring`) takes each confident joint's x, y from the 2D detection and
its depth z from the lifter. The two sources need not agree on scale: a depth made for the lifter's own x, y
describes, with the detector's x, y, limbs whose length changes as they turn out of the image plane. Measured on
the held-out video evaluation (``benchmarks/video_accuracy.py``, 44 oblique cases), the anchored thigh and shank
vary by 10-12 % of their length from frame to frame (side views 5-7 %), and the depth that keeps them rigid is
0.6-0.95 of the lifter's (median about 0.85). In an oblique view (walking line 30-45 deg from the optical axis)
the sagittal plane lies mostly in depth, so a depth too deep by a factor turns into sagittal segment
inclinations too steep and a knee range too large: the anchored near knee's range overshot by +11.7 deg.

Method. A rigid bone b of length L_b seen in frame t satisfies ``l_xy(b,t)^2 + k^2 dz(b,t)^2 = L_b^2``, where
``l_xy`` is its image-plane length (anchored detections), ``dz`` its depth extent (the lifter) and ``k`` the one
depth scale of the video. This is linear in ``(L_b^2, k^2)``, so ``k`` comes from one weighted least-squares
solve over all frames and bones -- the fixed-length relation of Taylor (2000, "Reconstruction of articulated
objects from point correspondences in a single uncalibrated image", CVIU 80:349), used here for the unknown
scale rather than for each joint's depth, so the lifter's depth keeps its signs and shape:

* bones: thigh, shank, upper arm, forearm of both sides (the segments long enough to turn in depth);
* each frame's equation weighted by the smaller anchoring weight of the bone's two joints (a bone whose x, y
  are the lifter's own says nothing about the mismatch) and divided by the bone's median squared length (every
  bone counts alike);
* ``L_b^2`` may change as a quadratic in time: the box normalisation has one scale per video, so a walker
  approaching the camera grows in the image (:mod:`gaitscope.models.preprocess`);
* a prior row ``PRIOR_WEIGHT * (k^2 - 1)``: where the bones hardly leave the image plane (a side view) the
  frames say little about ``k`` and it stays near 1 (side views: k 0.85-1.1 in most cases);
* ``k`` is clipped to ``K_BOUNDS``.

What it changed (docs/validation.md, "Issue 20: the oblique knee overshoot and fixed bone lengths"; 176 cases of
the held-out video evaluation): oblique knee RMSE near / far 15.0 / 11.6 -> 12.5 / 9.5 deg, near knee range
+11.7 -> +7.5 deg, frontal and back knee RMSE 4-5 deg lower; no side number worse beyond its noise. But the
feet's separation lies in depth too in those views, and it shrinks with the depth: oblique walking speed -7.0 ->
-12.7 %, frontal step length -21 -> -43 %. So it is **off by default** (``GAITSCOPE_DEPTH_SCALE=1`` turns it
on, ``+zfit`` in the lifter source): the depth error is not one scale for the whole body.

Tries (the evaluation trials are held out from the lifter, not from this choice): on the 88 side and oblique
cases, these variants were compared on a proxy (3D and sagittal knee angle against the markers, lifter output
cached): the per-joint depth re-solve of Taylor 2000 itself (``|dz| = sqrt(L^2 - l_xy^2)``, sign from the model:
oblique knee RMSE 15 -> 21-23 deg, worse), exact lengths imposed along each bone (steps 2 cm shorter),
two-bone IK with fixed ankles (knee RMSE doubled), depth-weighted anchoring, a detection-to-model scale, the
model's out-of-plane angle kept, and this depth scale with prior weight 1 or 0.1 and trend order 0, 1, 2. Five
went through the benchmark (depth-weighted anchoring, out-of-plane angle, detection scale, exact lengths, and
this fit with trend order 0 and 2). The constants ``PRIOR_WEIGHT = 1``, ``K_BOUNDS`` and ``TREND_ORDER = 2`` are
the second of those two benchmark tries of the fit (order 0 made a side hip range worse beyond noise).
"""

from __future__ import annotations

import numpy as np

from gaitscope.models.anchoring import anchor_weights
from gaitscope.skeleton import J

#: (parent, child) of the bones whose length fixes the depth scale: thighs, shanks, upper arms, forearms.
SCALE_BONES: tuple[tuple[int, int], ...] = (
    (J["right_hip"], J["right_knee"]), (J["right_knee"], J["right_ankle"]),
    (J["left_hip"], J["left_knee"]), (J["left_knee"], J["left_ankle"]),
    (J["left_shoulder"], J["left_elbow"]), (J["left_elbow"], J["left_wrist"]),
    (J["right_shoulder"], J["right_elbow"]), (J["right_elbow"], J["right_wrist"]),
)
#: Weight of the prior ``k^2 = 1`` against the frames' equations (each of weight <= 1, unit-free).
PRIOR_WEIGHT = 1.0
#: The depth scale is kept within these bounds.
K_BOUNDS = (0.5, 1.5)
#: Degree of the polynomial in time allowed for each bone's squared image length (the walker's image size).
TREND_ORDER = 2


def fit_depth_scale(xyz: np.ndarray, conf: np.ndarray, bones=SCALE_BONES, prior_weight: float = PRIOR_WEIGHT,
                    bounds: tuple[float, float] = K_BOUNDS, trend_order: int = TREND_ORDER) -> float:
    """The depth scale ``k`` that keeps ``bones`` of the anchored skeleton ``xyz`` (T, J, 3; x, y anchored, z the
    lifter's, any unit) at a fixed length, from the detections' confidences ``conf`` (T, J); see the module
    docstring. 1.0 when no bone has an anchored frame."""
    xyz = np.asarray(xyz, dtype=np.float64)
    w = anchor_weights(conf)
    t = len(xyz)
    tt = np.linspace(-1.0, 1.0, t) if t > 1 else np.zeros(1)
    per_bone = trend_order + 1
    n_unknown = len(bones) * per_bone + 1
    blocks, rhs, weights = [], [], []
    for i, (a, c) in enumerate(bones):
        d = xyz[:, c] - xyz[:, a]
        wb = np.minimum(w[:, a], w[:, c])
        ok = (wb > 0) & np.isfinite(d).all(axis=-1)
        if ok.sum() < per_bone + 1:
            continue
        ref = float(np.median((d[ok] ** 2).sum(-1)))
        if not ref > 0:
            continue
        block = np.zeros((int(ok.sum()), n_unknown))
        for p in range(per_bone):
            block[:, i * per_bone + p] = tt[ok] ** p
        block[:, -1] = -d[ok, 2] ** 2 / ref
        blocks.append(block)
        rhs.append((d[ok, :2] ** 2).sum(-1) / ref)
        weights.append(wb[ok])
    if not blocks:
        return 1.0
    sw = np.sqrt(np.concatenate(weights))
    a_mat = np.concatenate(blocks) * sw[:, None]
    b_vec = np.concatenate(rhs) * sw
    prior = np.zeros((1, n_unknown))
    prior[0, -1] = np.sqrt(prior_weight)
    a_mat = np.vstack([a_mat, prior])
    b_vec = np.append(b_vec, np.sqrt(prior_weight))
    sol, *_ = np.linalg.lstsq(a_mat, b_vec, rcond=None)
    return float(np.clip(np.sqrt(max(sol[-1], 0.0)), *bounds))


def scale_depth_to_fixed_bones(xyz: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, float]:
    """Root-relative anchored skeleton ``xyz`` (T, J, 3) with its depth multiplied by :func:`fit_depth_scale`;
    returns the new array and ``k``. x and y are unchanged."""
    k = fit_depth_scale(xyz, conf)
    out = np.array(xyz, dtype=np.float64, copy=True)
    out[..., 2] *= k
    return out, k


__all__ = ["K_BOUNDS", "PRIOR_WEIGHT", "SCALE_BONES", "TREND_ORDER", "fit_depth_scale", "scale_depth_to_fixed_bones"]
