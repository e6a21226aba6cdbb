"""Left/right identity of the legs for a whole sequence, decided by a Viterbi path over "as detected" / "swapped".

Why: BlazePose labels the legs frame by frame. In side views it swaps them where they cross and may keep the
wrong labels for a whole swing phase (``../shared/data/README.md``); everything after 2D then mixes the two legs:
the far knee's range, stance times, heel strikes and step lengths. Stenum et al. 2021 (PLoS Comput Biol
17:e1008935, OpenPose, sagittal) correct such left/right switches before computing gait events; here the
labelling is decided for the whole sequence at once instead of frame by frame.

Model: a hidden state per frame, ``s_t = 1`` when the detector's left and right leg labels are exchanged; a
first-order chain whose cost at each frame boundary weighs two hypotheses about the detector's own labels:
they continue, or they flip between frames ``t-1`` and ``t``. The evidence is the motion of each leg point over
a short window (about 0.1 s) on each side of the boundary: a straight line (constant velocity) fitted to the
points before the boundary predicts the points after it (and the line after predicts the points before). A flip
where the legs cross keeps positions continuous, which a position test cannot see, but it exchanges the
velocities: the swinging foot would stop dead and the standing one take off at swing speed. Windows rather than
single frames make this visible above the detector's jitter at 60 fps as at 25 fps. Residuals are scaled by the
sequence's own typical residual (robust: a median, which rare flips do not move), robust themselves (Cauchy, so
one wild landmark cannot force a flip), and weighted by the visibility of each pair of points (interpolated
frames carry no weight). Further costs:

* **flips**: a fixed cost per change of state (the detector keeps its labels far more often than it flips);
* **agreement**: a small cost per frame labelled against the detector, which decides the labelling as a whole
  (both labellings of a sequence move alike) in favour of what the detector said most of the time.

Only the distal leg landmarks (knee, ankle, heel, foot index) are exchanged: the hips lie within a few pixels of
each other in the side views where swaps happen, and BlazePose's hip labels follow the torso.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Version of the correction; part of ``Keypoints2D.source`` so caches and stored analyses know it.
LEG_IDENTITY_VERSION = 1

#: BlazePose-33 landmark pairs (left, right) exchanged by a leg swap: knee, ankle, heel, foot index.
BLAZEPOSE_LEG_PAIRS: tuple[tuple[int, int], ...] = ((25, 26), (27, 28), (29, 30), (31, 32))
_HIPS = (23, 24)


@dataclass(frozen=True)
class LegIdentityParams:
    """Costs of the path. ``window_s``: the span of each side's straight-line fit; ``noise_scale``: residual, in
    multiples of the sequence's typical (median) residual, that costs about one unit."""

    window_s: float = 0.1
    noise_scale: float = 1.0
    flip_cost: float = 1.0
    against_detector_cost: float = 0.05
    min_visibility_weight: float = 0.05


@dataclass(frozen=True)
class LegIdentity:
    """The decided labelling: ``swapped[t]`` is True where the detector's leg labels were exchanged."""

    swapped: np.ndarray  # (T,) bool
    episodes: int  # runs of swapped frames

    def note(self) -> str | None:
        if not self.swapped.any():
            return None
        return (f"Left/right leg labels of the 2D detector were exchanged back in {self.episodes} stretch(es) "
                f"({int(self.swapped.sum())} frames), decided over the whole sequence from the legs' motion.")


def _runs(mask: np.ndarray) -> int:
    m = np.asarray(mask, dtype=np.int8)
    return int(np.sum(np.diff(np.concatenate([[0], m])) == 1))


def _leg_length_px(raw: np.ndarray) -> float:
    """Median hip-to-ankle distance in pixels (both legs), the unit of the motion residuals."""
    d = [np.linalg.norm(raw[:, h, :2] - raw[:, a, :2], axis=-1) for h, a in ((23, 27), (24, 28))]
    d = np.concatenate(d)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if d.size else 1.0


def _relabelled(raw: np.ndarray, swapped: bool) -> np.ndarray:
    """(T, 2, P, 2) leg points [left, right] x pairs x (x, y), as labelled by ``swapped``."""
    left = [p[0] for p in BLAZEPOSE_LEG_PAIRS]
    right = [p[1] for p in BLAZEPOSE_LEG_PAIRS]
    legs = np.stack([raw[:, left, :2], raw[:, right, :2]], axis=1)
    return legs[:, ::-1] if swapped else legs


def _line_predictor(k: int) -> np.ndarray:
    """(k, k) matrix P: ``P @ y`` predicts samples at times k..2k-1 from the least-squares line through y at 0..k-1."""
    tau = np.arange(k, dtype=float)
    design = np.stack([np.ones(k), tau], axis=1)
    ahead = np.stack([np.ones(k), tau + k], axis=1)
    return ahead @ np.linalg.pinv(design)


def _boundary_residuals(legs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Squared prediction residuals at every boundary t (between t-1 and t), for "labels continue" and "labels flip".

    ``legs``: (T, 2, P, 2). Returns two arrays (T, 2, P): summed over the k predicted frames, forward (line
    before -> points after) and backward (line after -> points before). Boundaries without k frames on both
    sides get zeros (no evidence).
    """
    t = legs.shape[0]
    keep = np.zeros(legs.shape[:3])
    flip = np.zeros(legs.shape[:3])
    if t < 2 * k:
        return keep, flip
    pred = _line_predictor(k)
    win = np.lib.stride_tricks.sliding_window_view(legs, k, axis=0)  # (T-k+1, 2, P, 2, k): frames w..w+k-1
    before, after = win[: t - 2 * k + 1], win[k:]  # boundary at b = w + k, for w = 0..T-2k
    fwd = np.einsum("ij,...j->...i", pred, before)  # predicted after-window from the before-window
    bwd = np.einsum("ij,...j->...i", pred, after[..., ::-1])[..., ::-1]  # predicted before-window, time reversed
    for out, other in ((keep, after), (flip, after[:, ::-1])):
        r_fwd = np.sum((fwd - other) ** 2, axis=(-2, -1))  # (B, 2, P)
        out[k: t - k + 1] += r_fwd
    for out, mine in ((keep, before), (flip, before[:, ::-1])):
        r_bwd = np.sum((bwd - mine) ** 2, axis=(-2, -1))
        out[k: t - k + 1] += r_bwd
    return keep, flip


def decide_leg_identity(
    raw: np.ndarray,
    fps: float,
    valid: np.ndarray | None = None,
    params: LegIdentityParams = LegIdentityParams(),
) -> LegIdentity:
    """The most likely labelling of the legs over the sequence (Viterbi over the two frame states).

    ``raw``: (T, 33, >=3) BlazePose landmarks in pixels (x, y, ..., visibility last). ``valid``: frames that were
    detected (False for frames filled across a gap; they carry no weight).
    """
    raw = np.asarray(raw, dtype=float)
    t = raw.shape[0]
    k = max(2, int(round(params.window_s * fps)))
    if t < 2 * k + 1:
        return LegIdentity(np.zeros(t, dtype=bool), 0)
    valid = np.ones(t, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    legs = np.nan_to_num(_relabelled(raw, False))  # (T, 2, P, 2): [left, right] as detected
    vis = np.stack([raw[:, [p[0] for p in BLAZEPOSE_LEG_PAIRS], -1], raw[:, [p[1] for p in BLAZEPOSE_LEG_PAIRS], -1]],
                   axis=1)
    weight = np.clip(np.nan_to_num(vis, nan=0.0), params.min_visibility_weight, 1.0)
    # a pair counts as much as its weaker side, so that both hypotheses weigh the same points alike
    weight = np.minimum(weight, weight[:, ::-1]) * valid[:, None, None]
    # a boundary's evidence counts only as much as the least trusted frame of its two windows
    w_min = np.lib.stride_tricks.sliding_window_view(weight, 2 * k, axis=0).min(axis=-1)  # (T-2k+1, 2, P)
    w_b = np.zeros_like(weight)
    w_b[k: t - k + 1] = w_min

    keep, flip = _boundary_residuals(legs, k)
    typical = np.median(keep[k: t - k + 1][w_b[k: t - k + 1] > 0]) if np.any(w_b > 0) else 0.0
    scale = max(params.noise_scale**2 * float(typical), 1e-9)
    # evidence for a flip of the detector's labels at each boundary (> 0: the legs move on as exchanged)
    evidence = np.sum(w_b * (np.log1p(keep / scale) - np.log1p(flip / scale)), axis=(1, 2))
    # Windows around one flip all see it: only the boundary where the evidence peaks (within +/- k) may flip, so
    # one flip is never counted twice.
    peak = evidence >= np.max(np.lib.stride_tricks.sliding_window_view(
        np.pad(evidence, k, constant_values=-np.inf), 2 * k + 1), axis=-1)
    move_cost = np.where(peak & (evidence > 0), params.flip_cost - evidence, np.inf)

    unary = np.array([0.0, params.against_detector_cost])
    score = unary.copy()
    back = np.zeros((t, 2), dtype=np.int8)
    for b in range(1, t):
        # staying in a state follows the detector's labels across this boundary; moving undoes a flip there
        stay = score
        move = score[::-1] + move_cost[b]
        back[b] = np.where(stay <= move, [0, 1], [1, 0])
        score = np.minimum(stay, move) + unary
    path = np.zeros(t, dtype=bool)
    state = int(np.argmin(score))
    for b in range(t - 1, -1, -1):
        path[b] = bool(state)
        state = int(back[b, state])
    return LegIdentity(path, _runs(path))


def apply_leg_identity(raw: np.ndarray, identity: LegIdentity) -> np.ndarray:
    """``raw`` with the leg landmarks of swapped frames exchanged (a copy)."""
    out = np.array(raw, copy=True)
    s = identity.swapped
    for left, right in BLAZEPOSE_LEG_PAIRS:
        out[s, left], out[s, right] = raw[s, right], raw[s, left]
    return out
