"""Lifted joints anchored to the detected 2D in the image plane: the detector gives x and y where it is sure,
the lifter gives depth everywhere and x, y where the detector is not (issue 20).

Why. A lifter trained to minimise a mean error regresses toward the mean pose where its input is ambiguous; our
small bundled lifter does so most on the leg farther from the camera, whose BlazePose scores are lower. Measured
on video of real motion (held-out marker trials rendered as video, ``benchmarks/video_accuracy.py``, side views),
BlazePose's own 2D knee angle of the far leg spans its range within about 5 deg of the truth, while the lifted
far knee came out 13-15 deg short; with the image-plane coordinates taken from the confident detections the
lifted range matches the truth within 2 deg (docs/validation.md has the tables). The depth, which a single camera
cannot see, stays the lifter's: that is the part only it can give. Confidence-weighted blending rather than a
hard switch keeps joints the detector half-sees continuous; below ``lo`` the detector says it does not know, and
the lifter's guess (made from the other joints and the neighbouring frames) is kept. The same division of labour
underlies reprojection-consistent fitting in video-based biomechanics (e.g. OpenCap Monocular's optimisation
against the 2D keypoints, Uhlrich et al. 2023; Pose2Sim's keypoint-weighted fitting, Pagnon et al. 2022), here in
its simplest closed form.
"""

from __future__ import annotations

import numpy as np

#: Confidence below which the lifter's x, y are kept, and the span over which the detection's weight rises to 1.
ANCHOR_LO = 0.3
ANCHOR_SPAN = 0.4


def anchor_weights(conf: np.ndarray, lo: float = ANCHOR_LO, span: float = ANCHOR_SPAN) -> np.ndarray:
    """``(T, J)`` detection confidences -> ``(T, J)`` weights of the detected x, y: 0 up to ``lo``, rising linearly
    to 1 at ``lo + span``; a joint is anchored only when the root (pelvis, joint 0) is known in that frame too,
    because the detection enters relative to it."""
    conf = np.nan_to_num(np.asarray(conf, dtype=np.float64))
    w = np.clip((conf - lo) / span, 0.0, 1.0)
    return w * (conf[:, :1] > 0)


def anchor_to_detections(pred: np.ndarray, x_norm: np.ndarray, conf: np.ndarray, lo: float = ANCHOR_LO,
                         span: float = ANCHOR_SPAN) -> np.ndarray:
    """Root-relative lifter output ``pred`` (T, J, 3) in the model's normalised units with its x, y blended toward
    the detections ``x_norm`` (T, J, >=2, the same normalisation: the model's input) by :func:`anchor_weights`.
    Depth (channel 2) is the lifter's, unchanged."""
    pred = np.asarray(pred, dtype=np.float64) - np.asarray(pred, dtype=np.float64)[:, :1]
    det = np.asarray(x_norm, dtype=np.float64)[..., :2]
    det = det - det[:, :1]
    w = anchor_weights(conf, lo, span)[..., None]
    out = pred.copy()
    out[..., :2] = w * det + (1.0 - w) * pred[..., :2]
    return out


__all__ = ["ANCHOR_LO", "ANCHOR_SPAN", "anchor_to_detections", "anchor_weights"]
