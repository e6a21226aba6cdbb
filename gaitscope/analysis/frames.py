"""Body-fixed gait frame, walking direction, and straight walking bouts.

Why: every gait quantity is defined along the walking direction (progression), across it (lateral) or
vertically, never along a camera axis. A lifter returns joints in the camera frame with the pelvis removed,
motion capture and the synthetic walker in a lab frame with the pelvis travelling; the same numbers must
come out of both. So the analysis builds its own frame per frame:

* vertical = the ``up`` vector the source declares (never guessed);
* progression = the horizontal direction of pelvis travel when the pelvis travels (OpenCap's gait module and
  Stenum et al. 2021 use the walking direction); otherwise (root-relative lifter output, treadmill) the facing
  direction of the body, from the hip and shoulder lines (left minus right, crossed with up), smoothed over
  one stride so that pelvic rotation and sway cancel;
* lateral = up x progression, pointing to the subject's left.

The facing direction rests on the left/right labels. It is checked with the foot motion: during stance a
foot moves backwards relative to the pelvis for longer (about 60 % of the cycle) and more slowly than it
moves forwards in swing, so the median foot velocity along a correct progression axis is negative.

Turns and standing are trimmed and the rest split into straight walking bouts: a turn is a heading rate above
``TURN_RATE_DEG_S`` (after one-stride smoothing, straight walking stays well below it), standing is a foot
that stops moving relative to the other foot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import periodogram

from gaitscope.analysis.filtering import runs
from gaitscope.skeleton import J

TURN_RATE_DEG_S = 30.0  # smoothed heading rate above which frames count as turning
TRAVEL_SPEED_M_S = 0.2  # pelvis speed above which travel defines the progression direction
STILL_FOOT_SD_M = 0.05  # SD over one stride of the ankle separation below which the subject stands
TURN_MARGIN_S = 0.3  # frames trimmed on each side of a turn or a stop
DEFAULT_STRIDE_S = 1.1


@dataclass(frozen=True)
class GaitFrame:
    """Per-frame orthonormal gait frame: ``forward``, ``lateral`` (left), ``up``; each ``(T, 3)``."""

    forward: np.ndarray
    lateral: np.ndarray
    up: np.ndarray
    heading_deg: np.ndarray  # (T,) unwrapped heading in the horizontal plane (degrees)
    method: str  # how the progression direction was obtained
    travels: bool  # True when the pelvis travels (walking speed can come from pelvis displacement)

    def to_local(self, v: np.ndarray) -> np.ndarray:
        """Express vectors ``(T, ..., 3)`` in (progression, lateral, vertical) coordinates."""
        shape = (v.shape[0],) + (1,) * (v.ndim - 2) + (3,)
        f = self.forward.reshape(shape)
        l = self.lateral.reshape(shape)
        u = self.up.reshape(shape)
        return np.stack([(v * f).sum(-1), (v * l).sum(-1), (v * u).sum(-1)], axis=-1)


@dataclass(frozen=True)
class Bout:
    """A straight walking stretch, frames ``[start, stop)``."""

    start: int
    stop: int

    @property
    def n_frames(self) -> int:
        return self.stop - self.start


def horizontal_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane perpendicular to ``up`` (right-handed: e1 x e2 = up)."""
    up = np.asarray(up, dtype=float)
    up = up / np.linalg.norm(up)
    axis = np.eye(3)[int(np.argmin(np.abs(up)))]
    e1 = axis - up * (axis @ up)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    return e1, e2


def _horizontal_unit(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    h = v - np.outer(v @ up, up)
    n = np.linalg.norm(h, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return h / n


def estimate_stride_period_s(xyz: np.ndarray, fps: float, up: np.ndarray) -> float:
    """Dominant stride period from the horizontal ankle separation (it oscillates once per stride).

    Uses the periodogram of both horizontal components, searched in 0.3-2.0 Hz (stride times 0.5-3.3 s);
    orientation-free, so it works before the walking direction is known.
    """
    sep = xyz[:, J["left_ankle"]] - xyz[:, J["right_ankle"]]
    sep = sep - np.outer(sep @ up, up)
    good = np.all(np.isfinite(sep), axis=1)
    sep = sep[good]
    if sep.shape[0] < max(8, int(fps)):
        return DEFAULT_STRIDE_S
    sep = sep - sep.mean(axis=0)
    n = max(sep.shape[0], int(64 * fps))  # zero-pad: a 1/64 Hz frequency grid
    f, p = periodogram(sep, fs=fps, axis=0, nfft=n, detrend=False)
    power = p.sum(axis=1)
    band = (f >= 0.3) & (f <= 2.0)
    if not band.any() or power[band].max() <= 0:
        return DEFAULT_STRIDE_S
    return float(1.0 / f[band][np.argmax(power[band])])


def build_gait_frame(
    xyz: np.ndarray, fps: float, up: tuple[float, float, float], root_relative: bool, stride_s: float
) -> tuple[GaitFrame, list[str]]:
    """Build the per-frame gait frame from smoothed joints ``(T, 17, 3)``; returns it and warnings."""
    warnings: list[str] = []
    u = np.asarray(up, dtype=float)
    u = u / np.linalg.norm(u)
    t = xyz.shape[0]
    win = max(3, int(round(stride_s * fps)))

    # Facing direction from the hip and shoulder lines (left minus right), smoothed over a stride.
    shoulders = xyz[:, J["left_shoulder"]] - xyz[:, J["right_shoulder"]]
    shoulders = np.where(np.isfinite(shoulders), shoulders, 0.0)  # sources without an upper body: hips alone
    lat = (xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]]) + 0.5 * shoulders
    lat = _horizontal_unit(lat, u)
    lat = _nan_uniform(lat, win)
    facing = _horizontal_unit(np.cross(lat, u), u)

    # Travel direction from the pelvis displacement, smoothed over a stride (sway cancels).
    travels = False
    fwd = facing
    method = "facing direction (hip and shoulder lines), checked with foot motion"
    if not root_relative:
        vel = np.gradient(xyz[:, J["pelvis"]], axis=0) * fps
        vel = vel - np.outer(vel @ u, u)
        vel = _nan_uniform(vel, win)
        speed = np.linalg.norm(vel, axis=1)
        moving = speed > TRAVEL_SPEED_M_S
        if np.nanmean(moving) > 0.3:
            travels = True
            with np.errstate(invalid="ignore", divide="ignore"):
                tdir = vel / speed[:, None]
            fwd = np.where(moving[:, None], tdir, facing)
            method = "pelvis travel (facing direction where the pelvis stands still)"
            agree = np.nanmedian((tdir * facing).sum(1)[moving])
            if agree < 0:
                warnings.append(
                    "The body faces away from the direction of travel (walking backwards, or left and right "
                    "are swapped); progression follows the travel direction."
                )

    # Without pelvis travel, the axis along which the feet swing back and forth is a steadier progression
    # direction than the hip/shoulder lines, whose depth a monocular lifter estimates poorly in a side view.
    if not travels:
        axis = _foot_excursion_axis(xyz, u, 2 * win)
        if np.isfinite(axis).all(axis=1).mean() > 0.5:
            dots = (axis * facing).sum(1)
            if np.nanmedian(dots) < 0:
                axis = -axis
            fwd = np.where(np.isfinite(axis).all(axis=1)[:, None], axis, facing)
            method = "axis of the feet's fore-aft swing, oriented by the hip/shoulder lines and foot motion"

    # Check the facing direction with the foot motion (feet move backwards relative to the pelvis longer).
    if not travels:
        votes = []
        for side in ("left_ankle", "right_ankle"):
            rel = xyz[:, J[side]] - xyz[:, J["pelvis"]]
            v = np.gradient((rel * fwd).sum(1)) * fps
            votes.append(np.nanmedian(v))
        if np.all(np.isfinite(votes)) and np.mean(votes) > 0:
            fwd = -fwd
            warnings.append(
                "Foot motion says the subject faces the other way than the hip/shoulder labels do: left and "
                "right may be swapped in the 3D input; sides are reported as labelled."
            )

    fwd = _fill_nan_rows(fwd)
    fwd = _horizontal_unit(fwd, u)
    lateral = np.cross(u[None, :], fwd)
    e1, e2 = horizontal_basis(u)
    heading = np.degrees(np.unwrap(np.arctan2(fwd @ e2, fwd @ e1)))
    up_t = np.broadcast_to(u, (t, 3)).copy()
    return GaitFrame(fwd, lateral, up_t, heading, method, travels), warnings


def _foot_excursion_axis(xyz: np.ndarray, u: np.ndarray, win: int) -> np.ndarray:
    """Per-frame horizontal unit axis of the ankle separation's largest variance over ``win`` frames.

    In walking the feet pass each other along the direction of progression, so the separation vector varies
    mostly along it (step width changes little). Frames whose window is not clearly elongated (ratio of the
    variances under 4, or too little swing to count as walking) get NaN. The sign is made continuous in time;
    the caller orients it.
    """
    sep = xyz[:, J["left_ankle"]] - xyz[:, J["right_ankle"]]
    sep = sep - np.outer(sep @ u, u)
    e1, e2 = horizontal_basis(u)
    a, b = sep @ e1, sep @ e2
    ab = np.stack([a, b, a * a, b * b, a * b], axis=1)
    m = _nan_uniform(ab, win)
    cxx = m[:, 2] - m[:, 0] ** 2
    cyy = m[:, 3] - m[:, 1] ** 2
    cxy = m[:, 4] - m[:, 0] * m[:, 1]
    tr, det = cxx + cyy, cxx * cyy - cxy**2
    disc = np.sqrt(np.clip(tr**2 / 4 - det, 0.0, None))
    l1, l2 = tr / 2 + disc, tr / 2 - disc
    theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    axis = np.cos(theta)[:, None] * e1[None, :] + np.sin(theta)[:, None] * e2[None, :]
    ok = np.isfinite(l1) & (l1 > STILL_FOOT_SD_M**2) & (l1 > 4.0 * np.clip(l2, 0.0, None))
    axis[~ok] = np.nan
    prev = None
    for i in np.flatnonzero(ok):
        if prev is not None and axis[i] @ prev < 0:
            axis[i] = -axis[i]
        prev = axis[i]
    return axis


def _nan_uniform(x: np.ndarray, win: int) -> np.ndarray:
    """Moving average over ``win`` frames that ignores NaN rows."""
    good = np.all(np.isfinite(x), axis=1)
    xs = np.where(good[:, None], x, 0.0)
    num = uniform_filter1d(xs, size=win, axis=0, mode="nearest")
    den = uniform_filter1d(good.astype(float), size=win, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den[:, None]
    out[den < 1e-6] = np.nan
    return out


def _fill_nan_rows(x: np.ndarray) -> np.ndarray:
    """Copy the nearest finite row into NaN rows (frames without any direction information)."""
    good = np.all(np.isfinite(x), axis=1)
    if good.all() or not good.any():
        return x
    idx = np.flatnonzero(good)
    pos = np.arange(len(x))
    right = idx[np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)]
    left = idx[np.clip(np.searchsorted(idx, pos) - 1, 0, len(idx) - 1)]
    return x[np.where(np.abs(left - pos) < np.abs(right - pos), left, right)]


def frame_states(
    xyz: np.ndarray, usable: np.ndarray, frame: GaitFrame, fps: float, stride_s: float,
    view_yaw_rad: np.ndarray | None = None,
) -> np.ndarray:
    """Label each frame "walk", "turn", "still" or "gap" (object array of strings).

    ``view_yaw_rad`` (:attr:`gaitscope.records.Motion3D.view_yaw_rad`) is added to the heading before the turn
    rate is taken: a fixed camera's lifted walker seems to turn by the change of its viewing angle (about 40 deg
    across the real side clip), which is not a turn of the walker. Only the turn test uses it; every quantity
    is measured in the body's own gait frame, which a rotation of the whole frame does not change.
    """
    t = xyz.shape[0]
    win = max(3, int(round(stride_s * fps)))
    state = np.full(t, "walk", dtype=object)

    heading = frame.heading_deg
    yaw = None if view_yaw_rad is None else np.asarray(view_yaw_rad, dtype=float)
    if yaw is not None and np.isfinite(yaw).any():
        heading = heading + np.degrees(_fill_nan_rows(yaw[:, None])[:, 0])
    rate = np.abs(np.gradient(heading)) * fps
    rate = uniform_filter1d(rate, size=max(3, win // 2), mode="nearest")
    turning = rate > TURN_RATE_DEG_S

    sep = ((xyz[:, J["left_ankle"]] - xyz[:, J["right_ankle"]]) * frame.forward).sum(1)
    sep = np.where(usable, sep, np.nan)
    m = _nan_uniform(sep[:, None], win)[:, 0]
    m2 = _nan_uniform((sep**2)[:, None], win)[:, 0]
    sd = np.sqrt(np.clip(m2 - m**2, 0.0, None))
    still = sd < STILL_FOOT_SD_M

    margin = int(round(TURN_MARGIN_S * fps))
    for mask, name in ((still, "still"), (turning, "turn")):
        for a, b in runs(mask):
            state[max(0, a - margin) : min(t, b + margin)] = name
    state[~usable] = "gap"
    return state


def split_bouts(state: np.ndarray, fps: float, min_s: float = 1.0) -> list[Bout]:
    """Contiguous "walk" stretches at least ``min_s`` long."""
    return [Bout(a, b) for a, b in runs(state == "walk") if (b - a) >= min_s * fps]
