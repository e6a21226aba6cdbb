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

Walking pattern (an emission cost per frame, :func:`stance_costs`). Accelerations see an exchange only where
it makes a jump. Where the swinging foot passes the standing one the feet are together, and BlazePose's labels
there "bounce" smoothly, so an exchange that begins at a crossing and ends among a few frames of merged legs
shows no jump at either end and is kept (the real clip ``sarwesh_side``, frames 54-69: the third heel strike
came 8 frames late). But the feet alternate, and a foot in stance stands still on the ground: the places where
a foot stood are found without the labels (still relative to the ground, i.e. moving backward relative to the
pelvis at the walking speed, fixed or panning camera), each takes the label that its own frames' detected
labels and, with opposite sign, the places before and after it vote for, and a labelling that puts a standing
foot under the other label pays per second. This is "a foot in stance stands still; the feet alternate" of
issue 20, long-range (a stance lasts 0.4-0.7 s) where the accelerations are local. An exchange over whole
stances alternates as well as the truth does: that needs a cue this module does not have.

Depth was measured and left out: BlazePose's relative z (``Keypoints2D.raw``) follows its own labels. On the
rendered training side views the leg labelled near has the smaller z in 99 % of the clean frames and in 90 %
(71 of 79) of the frames whose labels are exchanged against the true 2D, where it is the far leg; on oblique
views z orders the legs correctly in 62 % of even the clean frames. As an emission it would only add to the
per-second prior. (The same on the real clip: its left leg is labelled nearer in every frame, exchanged or not.)

The constants were checked on renders of training trials only (``benchmarks/leg_identity_training.py``: 32
side and 20 oblique cases of :data:`~gaitscope.training.mocap_trials.TRAIN_MOCAP`, the evaluation's renderer
and camera classes with their own seeds; a few round values each): see the constants' comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
#: merged legs) does not stay exchanged for the rest of the clip. The three values were first chosen on the
#: held-out rendered side and oblique views (session 6); re-checked on the training renders (with the walking
#: pattern: ACC_CAP 0.1^2 / 0.2^2 / 0.3^2, SWITCH_COST 0.05^2 / 0.1^2 / 0.2^2, PRIOR_PER_S 0.3 / 0.6 / 1.0) the
#: same values are best there: side-view frames exchanged against the true 2D 33 of 1,962 (79 as detected).
ACC_CAP = 0.2**2
SWITCH_COST = 0.1**2
PRIOR_PER_S = 0.6
#: Walking pattern (see :func:`stance_costs`): cost per second of a foot standing on a spot under the label the
#: spot does not have; a sample is still below ``STILL_FRAC`` of the walking speed; samples of one spot lie within
#: ``SPOT_TOL`` leg lengths along the ground; below ``MIN_WALK_PER_S`` leg lengths per second across the image
#: (frontal and back views) the cue is absent, as it is where the feet move more than ``MAX_TILT_DEG`` from the
#: image's horizontal (walking toward or away from the camera: the places a foot stands on lie almost on top of
#: each other in the image). Chosen on the training renders: STANCE_PER_S 0 / 1 / 3 / 5 / 10 left 47 / 38 / 33 /
#: 35 / 35 side-view frames exchanged (oblique 4 / 4 / 4 / 6 / 6 of 1,240), STILL_FRAC 0.3 and 0.5 alike; the
#: others were set once from the walk's geometry (a step is about 0.8 leg lengths, a side-view walk 1.2-1.4 leg
#: lengths per second across the image) and not tuned.
STANCE_PER_S = 3.0
STILL_FRAC = 0.3
SPOT_TOL = 0.15
MIN_WALK_PER_S = 0.5
MAX_TILT_DEG = 40.0


@dataclass
class Spot:
    """One place where a foot stood (a stance), with the detected labels of the ankle standing on it."""

    start: int
    w: float = float("nan")
    last: int = -1
    samples: list[tuple[int, int]] = field(default_factory=list)  # (frame, detected ankle: 0 right, 1 left)
    confs: list[float] = field(default_factory=list)
    right: float = 0.0
    left: float = 0.0

    def add(self, frame: int, ankle: int, w: float, conf: float) -> None:
        self.w = w if np.isnan(self.w) else 0.7 * self.w + 0.3 * w  # follows a slow drift of the ground estimate
        self.last = frame
        self.samples.append((frame, ankle))
        self.confs.append(conf)
        if ankle == 0:
            self.right += conf
        else:
            self.left += conf

    @property
    def vote(self) -> float:
        """(R - L) / (R + L) of the confidence-weighted labels of the ankle standing here, in [-1, 1]."""
        total = self.right + self.left
        return (self.right - self.left) / total if total > 0 else 0.0


def _leg_scale(xy: np.ndarray, conf: np.ndarray) -> float:
    """Median hip-to-ankle distance in the image (pixels): the unit of the costs, so they do not depend on
    resolution or distance to the camera."""
    d = [np.linalg.norm(xy[:, h] - xy[:, a], axis=-1)[(conf[:, h] > 0) & (conf[:, a] > 0)]
         for h, a in ((1, 3), (4, 6))]
    d = np.concatenate(d)
    return float(np.median(d)) if d.size and np.median(d) > 0 else 1.0


def _central_velocity(x: np.ndarray, fps: float) -> np.ndarray:
    """Per-second central difference of ``x`` (T, ...) over +/- one 30-fps frame's time (k frames at ``fps``);
    NaN for the first and last k frames."""
    k = max(1, int(round(fps / 30.0)))
    out = np.full_like(x, np.nan)
    out[k:-k] = (x[2 * k:] - x[:-2 * k]) * fps / (2 * k)
    return out


def _stance_velocity(x: np.ndarray, half: int) -> np.ndarray:
    """The stance foot's velocity relative to the pelvis, frame by frame: over frames ``t - half .. t + half``
    of both ankles' velocities ``x`` (T, 2) (NaN ignored), the 70th percentile on the side of the median.
    Stance is about 60 % of the cycle and moves the foot backward, swing forward: the median lies at the edge
    of the stance cluster (slowed by heel strike and toe off), the 70th percentile on its side near its middle."""
    t = len(x)
    pad = np.full((half, x.shape[1]), np.nan)
    win = np.lib.stride_tricks.sliding_window_view(np.concatenate([pad, x, pad]), 2 * half + 1, axis=0)
    srt = np.sort(win.reshape(t, -1), axis=1)  # NaN sort last
    n = np.sum(~np.isnan(srt), axis=1)

    def quantile(q: float) -> np.ndarray:  # nearest rank among the valid values of each row
        idx = np.clip(np.round(q * (n - 1)).astype(int), 0, srt.shape[1] - 1)
        return np.where(n > 0, srt[np.arange(t), idx], np.nan)

    med, hi, lo = quantile(0.5), quantile(0.7), quantile(0.3)
    return np.where(med > 0, hi, lo)


def stance_spots(xy: np.ndarray, conf: np.ndarray, fps: float) -> list[Spot]:
    """The places where a foot stood still, found without the labels (see the module docstring, "walking
    pattern"): ``(T, 17, 2)`` detections in leg lengths -> one :class:`Spot` per stance, in order of landing.

    Along the image direction in which the ankles move relative to the pelvis (their first principal axis; no
    spots where it is more than :data:`MAX_TILT_DEG` from the image's horizontal), a foot in stance moves
    backward relative to the pelvis at the walking speed and stands still on the ground, fixed camera or
    panning. The walking speed is the stance foot's velocity relative to the pelvis over the second around each
    frame (:func:`_stance_velocity`), so a change of speed or a turn is followed; a sample is still where its
    ground velocity is under :data:`STILL_FRAC` of that speed and the speed is at least
    :data:`MIN_WALK_PER_S`. Still samples within :data:`SPOT_TOL` of each other along the ground, with no gap
    over 0.1 s, are one spot; spots of fewer than 0.1 s of frames are dropped."""
    t = len(xy)
    ank = xy[:, [LEG_PAIRS[1][0], LEG_PAIRS[1][1]]]  # (T, 2, 2): detected R, L ankle
    ok = conf[:, [LEG_PAIRS[1][0], LEG_PAIRS[1][1]]] > 0
    hip = xy[:, 0]
    rel = ank - hip[:, None]
    good = ok & (conf[:, :1] > 0) & np.isfinite(rel).all(axis=-1)
    if good.sum() < 10:
        return []
    pts = rel[good] - rel[good].mean(axis=0)
    axis = np.linalg.svd(pts, full_matrices=False)[2][0]
    if abs(axis[0]) < np.cos(np.radians(MAX_TILT_DEG)):
        return []  # the feet move up and down the image: walking toward or away from the camera
    u = np.where(good, rel @ axis, np.nan)  # (T, 2)
    du = _central_velocity(u, fps)
    walk = -_stance_velocity(du, int(round(0.5 * fps)))  # (T,) signed walking speed along the axis
    ground_shift = np.nancumsum(np.nan_to_num(walk)) / fps
    w = u + ground_shift[:, None]
    dw = _central_velocity(w, fps)
    speed = np.abs(walk)
    still = (np.abs(dw) < STILL_FRAC * speed[:, None]) & (speed[:, None] >= MIN_WALK_PER_S)
    gap = max(1, int(round(0.1 * fps)))
    spots: list[Spot] = []
    open_: list[Spot] = []
    for f in range(t):
        open_ = [s for s in open_ if f - s.last <= gap]
        for d in (0, 1):
            if not still[f, d]:
                continue
            near = [s for s in open_ if abs(s.w - w[f, d]) < SPOT_TOL]
            if near:
                s = min(near, key=lambda s: abs(s.w - w[f, d]))
            else:
                s = Spot(start=f)
                open_.append(s)
                spots.append(s)
            s.add(f, d, float(w[f, d]), float(conf[f, LEG_PAIRS[1][d]]))
    return merge_spots(spots, max(3, int(round(0.1 * fps))))


def merge_spots(spots: list[Spot], min_frames: int) -> list[Spot]:
    """Spots in order of landing -> stances: a stance that stopped looking still for a few frames comes back at
    the same place (within :data:`SPOT_TOL`) and is one spot; spots of fewer than ``min_frames`` frames are not
    stances. The short ones are left out *before* merging: one between the two parts of a stance (a few
    still-looking frames of the swinging foot) kept them apart, and the two parts of one foot's stance were then
    read as two alternating stances, the second one labelled the other foot (on the real clip ``sarwesh_side``
    the left foot standing at frames 101-106 and 122-132: the last stretch's labels stayed exchanged and the heel
    strikes' sides came out exchanged)."""

    def frames(s: Spot) -> int:
        return len({f for f, _ in s.samples})

    merged: list[Spot] = []
    for s in spots:
        same_place = bool(merged) and abs(merged[-1].w - s.w) < SPOT_TOL
        if same_place:
            for (f, d), c in zip(s.samples, s.confs):
                merged[-1].add(f, d, merged[-1].w, c)
        elif frames(s) >= min_frames:
            merged.append(s)
    return merged  # each began long enough, and merging only adds frames


def stance_costs(xy: np.ndarray, conf: np.ndarray, fps: float, per_s: float = STANCE_PER_S) -> np.ndarray:
    """``(T, 2)`` emission costs of the states (as detected, exchanged) from the walking pattern: a foot
    standing on a spot in a labelling that gives it the label the spot does not have costs ``per_s`` per
    second. A spot's label: the feet alternate, so the spots, in order of landing, alternate; each spot's
    evidence is its own confidence-weighted vote of the detected labels of the ankle standing on it
    (``(R - L) / (R + L)``) minus its neighbours' votes; the spot takes the sign of that evidence, and its
    cost is weighted by the evidence's size (capped at 1). A stretch the detector exchanged inside a stance is outvoted by the same
    stance's other frames and by the stances before and after it; a stretch exchanged over whole stances
    alternates as well as the truth does and gets no verdict from this cue (that needs another cue)."""
    out = np.zeros((len(xy), 2))
    spots = stance_spots(xy, conf, fps)
    votes = [s.vote for s in spots]
    for i, s in enumerate(spots):
        ev = votes[i] - sum(votes[j] for j in (i - 1, i + 1) if 0 <= j < len(spots))
        weight = min(1.0, abs(ev))
        if weight == 0.0:
            continue
        label = 0 if ev > 0 else 1  # 0: the right foot stands here
        for f, d in s.samples:
            # state 0 keeps detected ankle d's label d; state 1 gives it the other label
            out[f, 0] += weight * per_s / fps * (d != label)
            out[f, 1] += weight * per_s / fps * (d == label)
    return out


def leg_swap_states(xy: np.ndarray, conf: np.ndarray, fps: float, switch_cost: float = SWITCH_COST,
                    acc_cap: float = ACC_CAP, prior_per_s: float = PRIOR_PER_S,
                    stance_per_s: float = STANCE_PER_S) -> np.ndarray:
    """``(T, 17, 2)`` detections and ``(T, 17)`` confidences -> ``(T,)`` bool: True where the left and right
    knee and ankle should be exchanged (see the module docstring)."""
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(conf, dtype=np.float64))
    t = len(xy)
    if t < 3:
        return np.zeros(t, dtype=bool)
    right = [r for r, _ in LEG_PAIRS]
    left = [le for _, le in LEG_PAIRS]
    pts_all = xy / _leg_scale(xy, conf)
    pts = np.nan_to_num(pts_all[:, right + left])  # (T, 4, 2): R knee, R ankle, L knee, L ankle
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
    # per-frame evidence of each state (emission): the walking pattern
    emit = stance_costs(pts_all, conf, fps, stance_per_s) if stance_per_s > 0 else np.zeros((t, 2))
    # Viterbi over pair states (s_{t-1}, s_t)
    score = change + np.array([0.0, prior_per_s / fps])[:, None] + emit[0][:, None] + emit[1][None, :]
    back = np.zeros((t, 2, 2), dtype=np.int8)  # back[t, b, c] = best a
    for k in range(t - 2):
        total = score[:, :, None] + cost[k] + change[None, :, :] + emit[k + 2][None, None, :]  # (a, b, c)
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


__all__ = ["LEG_PAIRS", "RAW_PAIRS", "STANCE_PER_S", "SWITCH_COST", "Spot", "leg_swap_states", "relabel_legs",
           "stance_costs", "stance_spots"]
