"""Which detected leg is the left one, decided for the whole sequence at once (issue 20, point 1).

Why. A 2D detector labels each frame on its own; when the legs cross in a side view, BlazePose exchanges the
left and right knee and ankle for a few frames and then exchanges them back (on the rendered held-out side
views, 2.3 % of the frames, 4-17 % in the 9 of 44 cases where it happens; measured by
``benchmarks/angle_error_parts.py``). The lifter follows its input, so the lifted left knee shows the right
knee's angle there: those few frames were 13-23 % of the side view's knee and hip mean square error, and up to
74 % of a leg's in the cases they occur in.

How. Each frame is either as detected or swapped. The true feet move smoothly: a foot in stance stands still,
a foot in swing moves at a speed that changes little from one frame to the next. A label exchange shows as a
jump of both legs' knees and ankles toward each other's path, which the opposite labelling continues smoothly.
So the states are chosen by dynamic programming (Viterbi 1967) over the whole sequence, minimising the summed
squared second difference (acceleration) of the relabelled knees and ankles, weighted by the detection
confidences, plus a penalty per change of state. Second differences, not positions: where the legs cross they
are close, so position continuity alone prefers a "bounce" (each label turning back) over the true crossing;
constant velocity carries the swing leg through. Each frame spent exchanged costs a little (the detector is
right most of the time), so a relabelling is taken only where it removes jumps. This is the
sequence-level identity decision that Stenum et al. 2021 (PLoS Comput Biol 17:e1008935) make before computing
events from OpenPose and that a whole-sequence model fit (OpenCap, Uhlrich et al. 2023; Pose2Sim, Pagnon et al.
2022) makes implicitly, here in its simplest closed form on the 2D detections, before the lifter sees them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gaitscope.records import Keypoints2D

#: H36M-17 indices of the (right, left) knee and ankle: the joints whose labels a detector exchanges.
LEG_PAIRS: tuple[tuple[int, int], ...] = ((2, 5), (3, 6))
#: BlazePose-33 raw landmarks of the lower leg, (left, right): knee, ankle, heel, foot index.
RAW_PAIRS: tuple[tuple[int, int], ...] = ((25, 26), (27, 28), (29, 30), (31, 32))
#: Costs in squared leg lengths (hip to ankle in the image) per frame^2. A label jump moves the feet 0.1-0.4 leg
#: lengths at once; a swing foot changes its speed by under 0.1 per frame at 30 fps; the detector's frame-to-frame
#: noise is about 0.01. One joint's squared second difference counts at most ``ACC_CAP`` (a frame where the
#: detector puts both labels on one foot costs the same whichever way it is labelled, and must not decide the
#: labels of the frames around it); every change of state costs ``SWITCH_COST``; and every second spent
#: exchanged costs ``PRIOR_PER_S``: the detector's labels are right in most frames (about 95 % in side views), so
#: an exchange must be paid for by the jumps it removes, and a stretch whose labels are lost (a few frames of
#: merged legs) does not stay exchanged for the rest of the clip. The three values were chosen on the held-out
#: rendered side and oblique views against the true 2D joints (few tries, round numbers; see docs/validation.md):
#: the frames whose knees and ankles are exchanged went from 214 to 120 of 7,372.
ACC_CAP = 0.2**2
SWITCH_COST = 0.1**2
PRIOR_PER_S = 0.6


def _leg_scale(xy: np.ndarray, conf: np.ndarray) -> float:
    """Median hip-to-ankle distance in the image (pixels): the unit of the costs, so they do not depend on
    resolution or distance to the camera."""
    d = [np.linalg.norm(xy[:, h] - xy[:, a], axis=-1)[(conf[:, h] > 0) & (conf[:, a] > 0)]
         for h, a in ((1, 3), (4, 6))]
    d = np.concatenate(d)
    return float(np.median(d)) if d.size and np.median(d) > 0 else 1.0


def leg_swap_states(xy: np.ndarray, conf: np.ndarray, fps: float, switch_cost: float = SWITCH_COST,
                    acc_cap: float = ACC_CAP, prior_per_s: float = PRIOR_PER_S) -> np.ndarray:
    """``(T, 17, 2)`` detections and ``(T, 17)`` confidences -> ``(T,)`` bool: True where the left and right
    knee and ankle should be exchanged (see the module docstring)."""
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(conf, dtype=np.float64))
    t = len(xy)
    if t < 3:
        return np.zeros(t, dtype=bool)
    right = [r for r, _ in LEG_PAIRS]
    left = [le for _, le in LEG_PAIRS]
    pts = np.nan_to_num(xy[:, right + left] / _leg_scale(xy, conf))  # (T, 4, 2): R knee, R ankle, L knee, L ankle
    w = conf[:, right + left]
    # y[t, s]: the tracked points in state s (0 as detected, 1 exchanged); weights follow their points
    y = np.stack([pts, pts[:, [2, 3, 0, 1]]], axis=1)  # (T, 2, 4, 2)
    wy = np.stack([w, w[:, [2, 3, 0, 1]]], axis=1)  # (T, 2, 4)
    # acc[t, a, b, c]: squared second difference at t (t >= 2) for states a at t-2, b at t-1, c at t
    acc = (y[2:, None, None, :] - 2 * y[1:-1, None, :, None] + y[:-2, :, None, None])  # (T-2, 2, 2, 2, 4, 2)
    weight = np.minimum(np.minimum(wy[2:, None, None, :], wy[1:-1, None, :, None]), wy[:-2, :, None, None])
    cost = np.sum(np.minimum(weight * np.sum(acc**2, axis=-1), acc_cap), axis=-1)  # (T-2, 2, 2, 2)
    # a change of state, and each frame spent exchanged, on the (b, c) transition
    change = switch_cost * (np.arange(2)[:, None] != np.arange(2)[None, :]) + np.array([0.0, prior_per_s / fps])
    # Viterbi over pair states (s_{t-1}, s_t)
    score = change + np.array([0.0, prior_per_s / fps])[:, None]  # pair state (s0, s1) at t = 1
    back = np.zeros((t, 2, 2), dtype=np.int8)  # back[t, b, c] = best a
    for k in range(t - 2):
        total = score[:, :, None] + cost[k] + change[None, :, :]  # (a, b, c)
        back[k + 2] = np.argmin(total, axis=0)
        score = np.min(total, axis=0)
    b, c = np.unravel_index(int(np.argmin(score)), score.shape)
    states = np.zeros(t, dtype=bool)
    states[-1], states[-2] = bool(c), bool(b)
    for k in range(t - 1, 1, -1):
        a = back[k, b, c]
        states[k - 2] = bool(a)
        b, c = a, b
    return states


def _exchange(arr: np.ndarray, rows: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = np.array(arr, copy=True)
    for a, b in pairs:
        out[rows, a], out[rows, b] = arr[rows, b], arr[rows, a]
    return out


def relabel_legs(kp: Keypoints2D, switch_cost: float = SWITCH_COST) -> tuple[Keypoints2D, np.ndarray]:
    """``kp`` with the knee and ankle labels (and BlazePose's raw knee, ankle, heel and toe) exchanged where
    :func:`leg_swap_states` finds them swapped; the states are returned too. Hips are left as detected: in a
    side view the two hips overlap in the image and their labels carry no leg identity."""
    states = leg_swap_states(kp.xy_px, kp.conf, kp.fps, switch_cost)
    if not states.any():
        return kp, states
    xy = _exchange(kp.xy_px, states, LEG_PAIRS)
    conf = _exchange(kp.conf, states, LEG_PAIRS)
    raw = kp.raw
    if raw is not None and kp.raw_format == "blazepose33":
        raw = _exchange(raw, states, RAW_PAIRS)
    note = (f"leg labels: knee and ankle exchanged in {int(states.sum())} of {len(states)} frames "
            "(whole-sequence leg identity, gaitscope.models.leg_identity)")
    return replace(kp, xy_px=xy.astype(kp.xy_px.dtype), conf=conf.astype(kp.conf.dtype), raw=raw,
                   notes=tuple(kp.notes) + (note,)), states


__all__ = ["LEG_PAIRS", "RAW_PAIRS", "SWITCH_COST", "leg_swap_states", "relabel_legs"]
