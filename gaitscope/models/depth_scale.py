"""The knees' depth bend put on the scale of the anchored image-plane coordinates: the scale at which the limbs'
bones keep a fixed length (issue 20, oblique views).

Why. Anchoring (:mod:`gaitscope.models.anchoring`) takes each confident joint's x, y from the 2D detection and
its depth z from the lifter. The two sources need not agree on scale: a depth made for the lifter's own x, y
describes, with the detector's x, y, limbs whose length changes as they turn out of the image plane. In an
oblique view (walking line 30-45 deg from the optical axis) the sagittal plane lies mostly in depth, so a knee
bent too deep in depth gives sagittal segment inclinations too steep and a knee range too large: anchored, the
oblique near knee's range overshot by +11-12 deg (``benchmarks/video_accuracy.py``, 44 held-out cases).

Method. A rigid bone b of length L_b seen in frame t satisfies ``l_xy(b,t)^2 + k^2 dz(b,t)^2 = L_b^2``, where
``l_xy`` is its image-plane length (anchored detections), ``dz`` its depth extent (the lifter) and ``k`` the one
depth scale of the video. This is linear in ``(L_b^2, k^2)``, so ``k`` comes from one weighted least-squares
solve over all frames and bones (:func:`fit_depth_scale`) -- the fixed-length relation of Taylor (2000,
"Reconstruction of articulated objects from point correspondences in a single uncalibrated image", CVIU 80:349),
used for the unknown scale rather than for each joint's depth:

* bones: thigh, shank, upper arm, forearm of both sides (the segments long enough to turn in depth);
* each frame's equation weighted by the smaller anchoring weight of the bone's two joints (a bone whose x, y
  are the lifter's own says nothing about the mismatch) and divided by the bone's median squared length (every
  bone counts alike);
* ``L_b^2`` may change as a quadratic in time: the box normalisation has one scale per video, so a walker
  approaching the camera grows in the image (:mod:`gaitscope.models.preprocess`);
* a prior row ``PRIOR_WEIGHT * (k^2 - 1)``: where the bones hardly leave the image plane (a side view) the
  frames say little about ``k`` and it stays near 1 (side views: 0.85-1.1 in most cases; oblique 0.6-1.0);
* ``k`` is clipped to ``K_BOUNDS``.

Applied to the knees only (:func:`scale_knee_depth`): each knee's depth offset from its hip-ankle line is
multiplied by ``k``; the knee keeps its x, y and every other joint stays as it is (the lifter measures the legs
for the metre scale before this). Measured on the 176 held-out cases: oblique knee RMSE near / far 14.8 / 11.3 ->
12.2 / 9.5 deg, near knee range +11.0 -> +4.7 deg; events, steps and speed unchanged. Scaling the whole depth by
``k`` fixed the knee as well but shortened everything the feet's separation gives where that lies in depth
(oblique speed -7 -> -13 %, frontal step length -21 -> -43 %): the lifter's feet are placed about right, its
knees are bent too deep. Numbers: docs/validation.md, "Issue 20: the oblique knee overshoot and fixed bone
lengths".

Tries (the evaluation trials are held out from the lifter, not from this choice): on the 88 side and oblique
cases, with the lifter's output cached, variants were compared on a proxy (3D and sagittal knee angle against
the markers): Taylor's per-joint depth re-solve itself (``|dz| = sqrt(L^2 - l_xy^2)``, sign from the model:
oblique knee RMSE 15 -> 21-23 deg), exact lengths imposed along each bone, two-bone IK with fixed hip and ankle
(knee RMSE doubled), depth-weighted anchoring, a detection-to-model scale, the model's out-of-plane angle kept,
this scale with prior weight 1 or 0.1 and trend order 0, 1, 2, applied to the whole depth or to the knees (with
this ``k`` or one fitted to the knees alone). Seven went through the benchmark; this fit had three benchmark
runs: trend order 0 and 2 on the whole depth, then order 2 on the knees (and the last once more after the metre
scale was moved before it). ``PRIOR_WEIGHT = 1``, ``K_BOUNDS`` and ``TREND_ORDER = 2`` were not varied between
those runs beyond the trend order.
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
#: (hip, knee, ankle) of each leg.
LEG_CHAINS: tuple[tuple[int, int, int], ...] = (
    (J["right_hip"], J["right_knee"], J["right_ankle"]), (J["left_hip"], J["left_knee"], J["left_ankle"]),
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


def scale_knee_depth(xyz: np.ndarray, k: float) -> np.ndarray:
    """``xyz`` (T, J, 3) with each knee's depth offset from its hip-ankle line multiplied by ``k``.

    The offset is taken at the point of the hip-ankle line where the knee projects onto it in the image plane, so
    the knee keeps its x, y (the detection's) and only the depth of its bend changes; hips, ankles and every
    other joint are left exactly as they are."""
    out = np.array(xyz, dtype=np.float64, copy=True)
    for hip, knee, ankle in LEG_CHAINS:
        h, kn, a = out[:, hip], out[:, knee], out[:, ankle]
        ha = a[:, :2] - h[:, :2]
        frac = ((kn[:, :2] - h[:, :2]) * ha).sum(-1) / np.maximum((ha ** 2).sum(-1), 1e-12)
        line_z = h[:, 2] + np.clip(frac, 0.0, 1.0) * (a[:, 2] - h[:, 2])
        out[:, knee, 2] = line_z + k * (kn[:, 2] - line_z)
    return out


def correct_knee_depth(xyz: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, float]:
    """Root-relative anchored skeleton ``xyz`` (T, J, 3) with the knees' depth bend scaled by
    :func:`fit_depth_scale` (:func:`scale_knee_depth`); returns the new array and ``k``."""
    k = fit_depth_scale(xyz, conf)
    return scale_knee_depth(xyz, k), k


__all__ = ["K_BOUNDS", "LEG_CHAINS", "PRIOR_WEIGHT", "SCALE_BONES", "TREND_ORDER", "correct_knee_depth",
           "fit_depth_scale", "scale_knee_depth"]
