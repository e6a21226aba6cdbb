"""BlazePose on mirrored frames where the person walks toward the image's left (issue 20).

On by default (``GAITSCOPE_MIRROR_LEFTWARD=0`` turns it off). It shipped off in session 7 because with it on
``gaitscope validate`` synchronised a rendered test walk with its motion capture one stride off (two offsets a
stride apart correlated within 0.005); the synchronisation now settles such near-ties by overlap
(:func:`gaitscope.analysis.agreement.estimate_lag`), and the turn the mirrored real clip seemed to make is read
net of the viewing ray (:attr:`gaitscope.records.Motion3D.view_yaw_rad`).

Why. On the held-out video evaluation of real motion (``benchmarks/video_accuracy.py``, side views) BlazePose
is not left-right symmetric: where the walker crosses the image from right to left it exchanges and merges the
legs far more often (8 of the 9 side cases with swapped stretches), and the lifted knee and hip curves are
worse -- knee RMSE near / far 8.3 / 10.5 deg against 6.2 / 6.6 for walkers crossing left to right, the far
knee's range -7.8 (9.8) deg short against -1.7 (4.5). Running the detector on the horizontally mirrored frames of
the right-to-left cases, then mirroring the landmarks back, brought them to 7.0 / 8.3 deg and -3.0 (5.9); doing
the same to the left-to-right cases made those worse (9.6 / 8.6 deg, -4.9 (8.6)): the asymmetry is the
detector's and follows the direction of travel on the screen, not the clothing or the camera. So every
stretch where the person travels toward the image's left is detected again on mirrored frames. The choice of
direction is one binary decision, taken on the held-out cases (said in docs/validation.md).

How. Travel direction from the mid-hip's horizontal image velocity, smoothed over a second and measured in leg
lengths per second (hip to ankle in the image), so that it does not depend on resolution or distance. A stretch
is re-detected when the person moves left faster than :data:`MIN_SPEED_LEGS_PER_S` for at least
:data:`MIN_STRETCH_S`; standing, turning on the spot and walking toward or away from the camera are left as they
are. Mirroring a frame exchanges the person's apparent sides, so the landmarks are mapped back by ``x -> width -
x`` and by exchanging every left landmark with its right partner.
"""

from __future__ import annotations

import numpy as np

from gaitscope.settings import settings

#: BlazePose-33 landmark index -> its mirror partner (nose and the mouth's centre have none; the mouth corners,
#: eyes, ears, and every limb landmark exchange left and right).
BLAZEPOSE_FLIP_PERMUTATION: tuple[int, ...] = (
    0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24, 23, 26, 25, 28, 27,
    30, 29, 32, 31,
)
#: Leftward travel slower than this (leg lengths per second; walking is about 1.5-2.5) is not a walk across the
#: image: a turn, a step on the spot, or a walk toward or away from the camera.
MIN_SPEED_LEGS_PER_S = 0.5
#: Shorter leftward stretches are left alone (a turn's swing of the hips).
MIN_STRETCH_S = 0.5
#: Environment switch (:class:`gaitscope.settings.Settings` ``mirror_leftward``), ON by default:
#: ``GAITSCOPE_MIRROR_LEFTWARD=0`` detects every frame as it is (comparisons).
ENV_SWITCH = "GAITSCOPE_MIRROR_LEFTWARD"

#: BlazePose-33 indices of the left and right hip (their midpoint is where the person is).
HIPS = (23, 24)
_ANKLES = (27, 28)


def mirror_leftward_enabled() -> bool:
    """Whether leftward stretches are detected on mirrored frames (on unless the environment says ``0``)."""
    return settings().mirror_leftward


def unmirror_landmarks(raw: np.ndarray, width: int) -> np.ndarray:
    """``(T, 33, 4)`` landmarks (x_px, y_px, z, visibility) found on mirrored frames -> the original image.

    Pixel centres: column ``c`` of the mirrored frame is column ``width - 1 - c`` of the original, so an x in
    continuous pixel coordinates (0 at the left edge, ``width`` at the right) maps to ``width - x``."""
    out = np.asarray(raw, dtype=np.float32)[:, list(BLAZEPOSE_FLIP_PERMUTATION)].copy()
    out[..., 0] = width - out[..., 0]
    return out


def _leg_length_px(raw: np.ndarray) -> float:
    d = [np.linalg.norm(raw[:, h, :2] - raw[:, a, :2], axis=-1) for h, a in zip(HIPS, _ANKLES)]
    d = np.concatenate(d)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if d.size and np.median(d) > 0 else float("nan")


def leftward_stretches(raw: np.ndarray, fps: float) -> list[tuple[int, int]]:
    """``[start, stop)`` row ranges of ``raw`` (``(T, 33, >=2)`` pixels, NaN where no person) where the person
    travels toward the image's left for at least :data:`MIN_STRETCH_S`."""
    # Imported here, after the first detection pass: the 2D stage's start-up (which this module is part of)
    # does not wait for SciPy.
    from scipy.ndimage import uniform_filter1d

    from gaitscope.analysis.filtering import runs

    raw = np.asarray(raw, dtype=np.float64)
    t = raw.shape[0]
    leg = _leg_length_px(raw)
    if t < 3 or not np.isfinite(leg):
        return []
    x = raw[:, list(HIPS), 0].mean(axis=1)
    known = np.isfinite(x)
    if known.sum() < 3:
        return []
    idx = np.arange(t)
    x = np.interp(idx, idx[known], x[known])
    win = max(3, int(round(fps)))
    v = uniform_filter1d(np.gradient(x) * fps / leg, win, mode="nearest")
    left = (v < -MIN_SPEED_LEGS_PER_S) & known
    return [(a, b) for a, b in runs(left) if (b - a) >= MIN_STRETCH_S * fps]


def splice(raw: np.ndarray, mirrored: np.ndarray, start: int) -> np.ndarray:
    """``raw`` with rows ``start:start+len(mirrored)`` replaced where the mirrored pass found the person (rows it
    lost keep the first pass's landmarks)."""
    out = np.array(raw, copy=True)
    found = np.isfinite(mirrored[..., 0]).any(axis=1)
    rows = np.arange(start, start + len(mirrored))[found]
    out[rows] = mirrored[found]
    return out


__all__ = [
    "BLAZEPOSE_FLIP_PERMUTATION", "ENV_SWITCH", "HIPS", "MIN_SPEED_LEGS_PER_S", "MIN_STRETCH_S", "leftward_stretches",
    "mirror_leftward_enabled", "splice", "unmirror_landmarks",
]
