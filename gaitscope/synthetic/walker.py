"""A kinematic walker whose gait parameters are known exactly.

Why a hand-built walker and not motion capture: every later stage (2D detection, 3D lifting, event detection,
parameters, classifiers) needs a ground truth that is exact, dense and tunable (shuffling, asymmetry,
festination...). Real recordings give none of the three at once.

How it is built (footprints first, so the truth is true by construction):

1. **Event schedule.** Heel strikes alternate between the feet. The time between two strikes is
   ``60 / cadence`` and the heel moves forward by one step length; both get per-step noise
   (``step_time_cv``, ``step_length_cv``), festination shortens steps and raises cadence with time, and
   ``step_asymmetry`` makes right steps longer than left ones. Toe-off of a foot happens at
   ``stance_pct`` of its own stride (heel strike to next ipsilateral heel strike).
2. **Stance foot.** A rigid foot (heel, ankle, toe tip) rolls over the ground without sliding: it rotates
   about the planted heel after heel strike (heel rocker), lies flat, then rotates about the planted toe tip
   until toe-off (forefoot rocker), as described by Perry's rockers (Perry & Burnfield, *Gait Analysis*,
   2nd ed., 2010).
3. **Pelvis.** Travels forward through fixed points tied to the footprints (so speed = step length x
   cadence), sways toward the stance foot and rotates about the vertical axis. Its height is *solved*: each
   stance leg wishes the height that gives a normal stance knee-flexion pattern (Winter 1991: about 5 deg at
   strike, 15-20 deg in loading response, near extension at mid-stance, rising toward toe-off); the leading
   leg starts wishing shortly before its strike, the pelvis takes the lower wish, and the result is smoothed
   and kept low enough that a stance knee never has to straighten past 4 deg (so knee angular velocities
   stay physiological around heel strike).
4. **Legs.** Analytic two-link inverse kinematics from the hip to the ankle, with the knee in front; thigh and
   shank lengths from Winter's anthropometric table (Winter, *Biomechanics and Motor Control of Human
   Movement*, 4th ed., 2009: thigh 0.245 H, shank 0.246 H, ankle height 0.039 H, foot length 0.152 H),
   rescaled to ``leg_length_ratio``. So knee flexion arises from geometry and bone lengths are exact. In
   swing, the ankle follows forward kinematics of smooth thigh and knee angle curves that start at the
   toe-off pose and end at the next footprint (peak knee flexion about 60 deg, a small late-swing hip flexion
   overshoot), corrected so the foot leaves and reaches the ground moving (no pause at the events) and never
   goes below the floor; then the same inverse kinematics places the knee.
5. **Trunk, head, arms.** A rigid trunk pitched by ``trunk_flexion_deg``; arms swing opposite to the legs,
   scaled by ``arm_swing_scale``.

Coordinate frame: world, metres, Z up; the walker progresses along ``heading_deg`` (0 = +X) in the XY plane,
starting with the pelvis near the origin at t = 0.

Definitions used for :class:`~gaitscope.synthetic.truth.GaitTruth` (all measured on the generated motion, and
only over events that fall inside the recording, ``0 <= t <= (T - 1) / fps``):

- *heel strike*: the instant the heel point touches the ground (it is on the ground until heel-off);
  *toe-off*: the instant the toe tip leaves the ground.
- *step length* (side S): distance along the progression direction from the contralateral heel to the heel of
  S at the heel strike of S, i.e. between the two **heel points** at that instant. (The trailing heel may have
  started to rise; it moves forward by under 1 cm then.) ``extra["step_length_ankle_<S>"]`` gives the same
  distance between the **ankle joints**, which is a little shorter (the leading foot is dorsiflexed, the
  trailing one plantarflexed).
- *step time* (side S): contralateral heel strike to heel strike of S. *stride time / length* (side S): heel
  strike of S to the next heel strike of S; length measured between the two heel positions.
- *cadence*: 60 / mean step time (steps per minute), all steps.
- *speed*: horizontal pelvis displacement from the first to the last heel strike, divided by the time between.
- *stance %* (side S): (toe-off - heel strike) / stride time x 100, mean over strides.
- *double support %*: time with both feet on the ground over a stride, as a percent of the stride (both
  double-support periods), mean over strides.
- *step width*: lateral distance between the left and right heel positions at successive heel strikes.
- *knee flexion* = 180 deg - angle(hip, knee, ankle). *hip flexion* = angle, in the trunk's sagittal plane,
  between the thigh (hip to knee) and the downward trunk axis (thorax to pelvis), positive with the knee in
  front. ROM = max - min over each complete stride, averaged over strides (evaluated on a 1 kHz grid).
- ``extra``: ``step_length_ankle_L/R`` (ankle-to-ankle step length, see above), ``n_strides_L/R``,
  ``step_length_cv_pct`` and ``step_time_cv_pct`` (realised variability), ``max_toe_height_swing_m`` and
  ``min_toe_clearance_m`` (toe height in swing: peak, and minimum over mid-swing), ``leg_length_m``,
  ``thigh_m``, ``shank_m``.

What the pathology knobs do: ``shuffle`` shortens steps (x(1 - 0.35 shuffle)), flattens heel strike and
push-off and lowers swing knee flexion and foot clearance; ``knee_rom_scale`` < 1 flexes the stance knee (it
no longer extends: 5 deg + 32 deg x (1 - scale) at best), scales loading-response and swing flexion and
push-off; swing flexion stays high enough for the foot to clear the floor; ``hip_rom_scale`` only scales the
small late-swing hip flexion overshoot and has almost no effect on hip range: in a walker whose feet never
slide, hip range is set by step length relative to leg length (reduce ``step_length_m`` or raise ``shuffle``
to reduce it); ``festination`` raises cadence by up to 35 % and shortens steps by up to 45 % linearly over the
walk.

Event timing as seen by pelvis-relative detectors: on these walks Zeni's method (Zeni et al. 2008) finds toe-off
within 0.3 frame of the truth and heel strike about 1 frame (30-40 ms) early at 30 fps, as on real walking
with force plates (heel strike 0-40 ms early), because the swing limb retracts before contact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from gaitscope.records import GaitEvent, Motion3D
from gaitscope.skeleton import FOOT_POINTS, NUM_JOINTS, J
from gaitscope.synthetic.truth import GaitTruth, SyntheticWalk, WalkParams

__all__ = ["BodyDims", "simulate_walk", "make_cohort", "knee_flexion_deg", "hip_flexion_deg"]

_DENSE_HZ = 1000.0  # grid on which the pelvis height is solved and on which ROM truth is evaluated
# Swing shape and end velocities (see _Walker._swing_raw and _Walker._swing_adjust). Tuned so that, as on real
# data, pelvis-relative events (Zeni 2008) fall within about a frame of the true ones at 30 fps and joint
# angular velocities stay in the physiological range (knee below about 450 deg/s).
_LAUNCH_FWD = 0.7  # toe forward velocity at toe-off, fraction of pelvis speed
_LAUNCH_UP = 0.1  # toe upward velocity at toe-off, m/s
_IMPACT_FWD = 0.3  # heel forward velocity at heel strike, fraction of pelvis speed
_IMPACT_DOWN = 0.05  # heel downward velocity at heel strike, m/s
_KNEE_EXTENDED = 0.95  # fraction of swing by which the knee has extended to its heel-strike angle
_THIGH_FORWARD = 0.8  # fraction of swing by which the thigh has swung forward to its heel-strike angle
_END_TAU = 0.15  # fraction of swing over which the end-velocity corrections fade
_HIP_OVERSHOOT_DEG = 3.0  # late-swing hip flexion above the heel-strike angle (swing-limb retraction)
_HIP_OVERSHOOT_PEAK = 0.93  # fraction of swing at which it peaks
_MIN_STANCE_KNEE_DEG = 4.0  # the pelvis is never so high that a stance knee must straighten beyond this
_MIN_SWING_KNEE_DEG = 3.0  # nor does a swing ankle move out of the reach this leaves
_SIDES = ("L", "R")


# ---------------------------------------------------------------------------------------------------------
# Body dimensions
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyDims:
    """Segment lengths in metres (Winter 2009 proportions of standing height H)."""

    height: float
    thigh: float  # hip joint centre to knee
    shank: float  # knee to ankle
    ankle_height: float  # ankle above the sole with the foot flat
    heel_to_ankle: float  # horizontal heel point -> ankle with the foot flat
    foot_length: float  # heel point -> toe tip
    hip_half_width: float  # pelvis centre -> hip joint centre
    pelvis_to_spine: float
    spine_to_thorax: float
    thorax_to_nose: float  # vertical part
    nose_forward: float
    nose_to_head_top: float
    shoulder_half_width: float
    shoulder_drop: float
    upper_arm: float
    forearm: float

    @classmethod
    def from_height(cls, height_m: float, leg_length_ratio: float = 0.53) -> "BodyDims":
        h = float(height_m)
        ankle_h = 0.039 * h
        leg = leg_length_ratio * h - ankle_h  # hip joint centre to ankle, straight leg
        return cls(
            height=h,
            thigh=leg * 0.245 / 0.491,
            shank=leg * 0.246 / 0.491,
            ankle_height=ankle_h,
            heel_to_ankle=0.035 * h,
            foot_length=0.152 * h,
            hip_half_width=0.052 * h,
            pelvis_to_spine=0.14 * h,
            spine_to_thorax=(0.82 - leg_length_ratio - 0.14) * h,
            thorax_to_nose=0.11 * h,
            nose_forward=0.035 * h,
            nose_to_head_top=0.075 * h,
            shoulder_half_width=0.115 * h,
            shoulder_drop=0.015 * h,
            upper_arm=0.186 * h,
            forearm=0.146 * h,
        )

    @property
    def leg(self) -> float:
        return self.thigh + self.shank


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)  # quintic: zero velocity and acceleration at the ends


def _bump(q: np.ndarray, peak: float) -> np.ndarray:
    """A smooth hump on [0, 1]: zero with zero slope at both ends, 1 at ``peak``.

    ``(q/p)^a ((1-q)/(1-p))^c`` with the smaller exponent 2, so both ends are flat and the curve has bounded
    curvature (a fractional power would make velocities spike at the ends).
    """
    if peak <= 0.5:
        a, c = 2.0, 2.0 * (1.0 - peak) / peak
    else:
        a, c = 2.0 * peak / (1.0 - peak), 2.0
    q = np.clip(q, 0.0, 1.0)
    return (q / peak) ** a * ((1.0 - q) / (1.0 - peak)) ** c


def _rot2(phi: np.ndarray, x: np.ndarray | float, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (forward, up) vectors by pitch ``phi`` (rad, positive lifts the toe)."""
    c, s = np.cos(phi), np.sin(phi)
    return x * c - z * s, x * s + z * c


def _knee_distance(body: BodyDims, knee_flex_rad: np.ndarray | float) -> np.ndarray:
    """Hip-ankle distance for a given knee flexion (law of cosines)."""
    return np.sqrt(body.thigh**2 + body.shank**2 + 2 * body.thigh * body.shank * np.cos(knee_flex_rad))


def _leg_ik(hip: np.ndarray, ankle: np.ndarray, forward: np.ndarray, l1: float, l2: float) -> np.ndarray:
    """Knee position for hip (N,3) and ankle (N,3), knee bending toward ``forward`` (3,). Exact bone lengths.

    When the ankle is out of reach the leg is straightened toward it (callers keep a margin so this does not
    happen in practice).
    """
    v = ankle - hip
    d = np.linalg.norm(v, axis=-1, keepdims=True)
    u = v / np.maximum(d, 1e-9)
    d = np.clip(d, abs(l1 - l2) + 1e-6, l1 + l2)
    a = (l1**2 - l2**2 + d**2) / (2 * d)
    r = np.sqrt(np.maximum(l1**2 - a**2, 0.0))
    n = forward[None, :] - np.sum(forward[None, :] * u, axis=-1, keepdims=True) * u
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    return hip + a * u + r * n


def knee_flexion_deg(xyz: np.ndarray, side: str) -> np.ndarray:
    """Knee flexion = 180 deg - angle(hip, knee, ankle), for H36M joints ``xyz`` (T,17,3)."""
    pre = "left" if side == "L" else "right"
    hip, knee, ankle = (xyz[:, J[f"{pre}_{n}"]] for n in ("hip", "knee", "ankle"))
    a, b = hip - knee, ankle - knee
    cos = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def hip_flexion_deg(xyz: np.ndarray, side: str, forward: np.ndarray) -> np.ndarray:
    """Sagittal angle between the thigh and the downward trunk axis (thorax -> pelvis), knee-forward positive.

    ``forward`` (3,) is the walking direction; the sagittal plane is spanned by the trunk axis and the part
    of ``forward`` orthogonal to it.
    """
    pre = "left" if side == "L" else "right"
    down = xyz[:, J["pelvis"]] - xyz[:, J["thorax"]]
    down /= np.linalg.norm(down, axis=-1, keepdims=True)
    fwd = forward[None, :] - np.sum(forward[None, :] * down, -1, keepdims=True) * down
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    thigh = xyz[:, J[f"{pre}_knee"]] - xyz[:, J[f"{pre}_hip"]]
    return np.degrees(np.arctan2(np.sum(thigh * fwd, -1), np.sum(thigh * down, -1)))


# ---------------------------------------------------------------------------------------------------------
# Event schedule and footprints (local frame: x forward, y left, z up)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Schedule:
    hs_t: np.ndarray  # (K,) heel-strike times, alternating feet
    side: np.ndarray  # (K,) "L"/"R"
    heel_x: np.ndarray  # (K,) heel position at strike (forward)
    heel_y: np.ndarray  # (K,) lateral
    to_t: np.ndarray  # (K,) toe-off of the foot that struck at k (K-2 valid; last two extrapolated)


def _make_schedule(p: WalkParams, rng: np.random.Generator) -> _Schedule:
    base_step_t = 60.0 / p.cadence_steps_min
    lead_in = 3.0 * 2 * base_step_t  # three strides before t = 0 so the walk is steady from frame 0
    t_end = p.duration_s + 3.0 * 2 * base_step_t
    stance = p.stance_pct / 100.0
    first_side = "L" if rng.random() < 0.5 else "R"
    t = -lead_in - rng.random() * base_step_t
    times, sides, xs, ys = [], [], [], []
    x = 0.0
    k = 0
    while t < t_end:
        side = first_side if k % 2 == 0 else ("R" if first_side == "L" else "L")
        progress = float(np.clip(t / p.duration_s, 0.0, 1.0))
        cad = p.cadence_steps_min * (1.0 + 0.35 * p.festination * progress)
        step_len = p.step_length_m * (1.0 - 0.45 * p.festination * progress) * (1.0 - 0.35 * p.shuffle)
        step_len *= 1.0 + (0.5 if side == "R" else -0.5) * p.step_asymmetry
        z_t, z_l = np.clip(rng.standard_normal(2), -2.5, 2.5)
        step_t = 60.0 / cad * (1.0 + p.step_time_cv * z_t)
        step_len *= 1.0 + p.step_length_cv * z_l
        if k > 0:
            t += step_t
            x += step_len
        times.append(t)
        sides.append(side)
        xs.append(x)
        ys.append((0.5 if side == "L" else -0.5) * p.step_width_m)
        k += 1
    hs = np.array(times)
    to = np.empty_like(hs)
    to[:-2] = hs[:-2] + stance * (hs[2:] - hs[:-2])
    to[-2:] = hs[-2:] + stance * (hs[-3] - hs[-5])
    return _Schedule(hs, np.array(sides), np.array(xs), np.array(ys), to)


# ---------------------------------------------------------------------------------------------------------
# The walker
# ---------------------------------------------------------------------------------------------------------


class _Walker:
    """Evaluates the walk at arbitrary times once the schedule and pelvis height are fixed."""

    def __init__(self, p: WalkParams) -> None:
        if not 50.0 < p.stance_pct < 80.0:
            raise ValueError(f"stance_pct must be between 50 and 80 % (walking has double support), got {p.stance_pct}")
        if p.cadence_steps_min <= 0 or p.step_length_m <= 0 or p.duration_s <= 0 or p.fps <= 0:
            raise ValueError("cadence, step length, duration and fps must be positive")
        self.p = p
        self.body = BodyDims.from_height(p.height_m, p.leg_length_ratio)
        rng = np.random.default_rng(p.seed)
        self.s = _make_schedule(p, rng)
        b, sh = self.body, float(np.clip(p.shuffle, 0.0, 1.0))
        self.shuffle = sh
        # foot pitch at heel strike (toe up) and at toe-off (toe down): flatter when shuffling
        self.phi_hs = np.radians(16.0 * (1.0 - 0.75 * sh))
        self.phi_to = np.radians(-38.0 * (1.0 - 0.5 * sh) * (0.8 + 0.2 * min(p.knee_rom_scale, 1.0)))
        self.q_flat = 0.16  # fraction of stance when the foot becomes flat
        self.q_heel_off = 0.45  # fraction of stance when the heel starts to rise
        # pelvis forward position at each heel strike: midway between the heels, shifted toward the lead foot
        xs = self.s.heel_x
        c = np.empty_like(xs)
        c[1:] = 0.5 * (xs[1:] + xs[:-1])
        c[0] = xs[0] - 0.5 * (xs[1] - xs[0])
        c += 0.28 * b.foot_length
        self.x0 = float(PchipInterpolator(self.s.hs_t, c)(0.0))
        self._px = PchipInterpolator(self.s.hs_t, c - self.x0)
        self._vx = self._px.derivative()
        self.heel_x = xs - self.x0
        # lateral sway toward the stance foot (mid-stance) and pelvis yaw (leading hip forward at strike)
        mid = 0.5 * (self.s.hs_t[:-1] + self.s.hs_t[1:])
        sway = np.where(self.s.side[:-1] == "L", 1.0, -1.0) * (0.018 + 0.1 * p.step_width_m)
        self._py = PchipInterpolator(mid, sway, extrapolate=True)
        yaw = np.where(self.s.side == "L", -1.0, 1.0) * np.radians(4.0) * min(1.0, p.step_length_m / 0.7)
        self._yaw = PchipInterpolator(self.s.hs_t, yaw)
        self.theta_over = np.radians(_HIP_OVERSHOOT_DEG) * p.hip_rom_scale  # late-swing hip flexion overshoot
        self._adjust_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._build_pelvis_height()

    # ----- gait phase helpers -----
    def _side_steps(self, side: str) -> np.ndarray:
        return np.flatnonzero(self.s.side == side)

    def stance_desired_knee(self, q: np.ndarray) -> np.ndarray:
        """Desired stance knee flexion (rad) at fraction ``q`` of stance (Winter 1991 shape)."""
        ks = self.p.knee_rom_scale
        base = np.radians(5.0 + 32.0 * max(0.0, 1.0 - ks))  # reduced knee range: flexed knees (Parkinsonian)
        loading = np.radians(15.0) * ks * (1.0 - 0.5 * self.shuffle) * _bump(q / 0.65, 0.38)
        # late stance knee flexion rises toward the toe-off value (the heel lifts)
        late = np.radians(10.0) * _smoothstep((q - 0.55) / 0.45)
        return base + loading + late

    # ----- stance foot -----
    def _stance_foot(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heel, ankle and toe (N,3) of the foot that struck at step ``k``, during its stance."""
        b = self.body
        q = (t - self.s.hs_t[k]) / (self.s.to_t[k] - self.s.hs_t[k])
        hx, hy = self.heel_x[k], self.s.heel_y[k]
        phi = np.zeros_like(q)
        early = q < self.q_flat
        phi[early] = self.phi_hs * (1.0 - q[early] / self.q_flat) ** 2  # foot slaps down fastest at strike
        late = q > self.q_heel_off
        phi[late] = self.phi_to * ((q[late] - self.q_heel_off) / (1.0 - self.q_heel_off)) ** 3
        n = len(t)
        heel, ankle, toe = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))
        for arr in (heel, ankle, toe):
            arr[:, 1] = hy
        # heel pivot (and flat foot: phi = 0)
        hp = ~late
        heel[hp, 0] = hx
        ax, az = _rot2(phi[hp], b.heel_to_ankle, b.ankle_height)
        ankle[hp, 0], ankle[hp, 2] = hx + ax, az
        tx, tz = _rot2(phi[hp], b.foot_length, 0.0)
        toe[hp, 0], toe[hp, 2] = hx + tx, tz
        # toe pivot
        tpx = hx + b.foot_length
        toe[late, 0] = tpx
        ex, ez = _rot2(phi[late], -b.foot_length, 0.0)
        heel[late, 0], heel[late, 2] = tpx + ex, ez
        ax, az = _rot2(phi[late], b.heel_to_ankle - b.foot_length, b.ankle_height)
        ankle[late, 0], ankle[late, 2] = tpx + ax, az
        return heel, ankle, toe

    # ----- pelvis -----
    def _pelvis_xy_yaw(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._px(t), self._py(t), self._yaw(t)

    def _hip_xy(self, t: np.ndarray, side: str) -> np.ndarray:
        x, y, yaw = self._pelvis_xy_yaw(t)
        sgn = 1.0 if side == "L" else -1.0
        hw = self.body.hip_half_width
        return np.stack([x - sgn * hw * np.sin(yaw), y + sgn * hw * np.cos(yaw)], axis=-1)

    def _build_pelvis_height(self) -> None:
        b = self.body
        t0, t1 = self.s.hs_t[2], self.s.hs_t[-3]
        t = np.arange(t0, t1, 1.0 / _DENSE_HZ)
        h_des = {sd: np.full(len(t), np.nan) for sd in _SIDES}
        h_max = {sd: np.full(len(t), np.nan) for sd in _SIDES}
        d_max = _knee_distance(b, np.radians(_MIN_STANCE_KNEE_DEG))
        # the leading leg starts to claim the pelvis a little before its heel strikes (the body falls onto it):
        # before the strike, its wish is computed with the foot already in its strike pose
        pre = max(0.05, 0.35 * (self.p.stance_pct / 100.0 - 0.5) * 2 * 60.0 / self.p.cadence_steps_min)
        for k in range(len(self.s.hs_t) - 2):
            m = (t >= self.s.hs_t[k] - pre) & (t <= self.s.to_t[k])
            if not m.any():
                continue
            sd = str(self.s.side[k])
            tk = np.maximum(t[m], self.s.hs_t[k])
            _, ankle, _ = self._stance_foot(k, tk)
            hip = self._hip_xy(t[m], sd)
            dh2 = (hip[:, 0] - ankle[:, 0]) ** 2 + (hip[:, 1] - ankle[:, 1]) ** 2
            q = (tk - self.s.hs_t[k]) / (self.s.to_t[k] - self.s.hs_t[k])
            d = _knee_distance(b, self.stance_desired_knee(q))
            wish = ankle[:, 2] + np.sqrt(np.maximum(d**2 - dh2, 0.0))
            h_des[sd][m] = np.fmin(h_des[sd][m], wish)
            real = t[m] >= self.s.hs_t[k]
            h_max[sd][m] = np.where(real, ankle[:, 2] + np.sqrt(np.maximum(d_max**2 - dh2, 0.0)), h_max[sd][m])
        # where both legs have a wish (double support and just before a strike) the pelvis is as low as the
        # lower one asks: both knees then flex at least as much as wished
        h = np.fmin(h_des["L"], h_des["R"])
        if np.isnan(h).any():  # flight phase cannot happen with stance > 50 %, but be safe
            h = np.interp(t, t[~np.isnan(h)], h[~np.isnan(h)])
        cap = np.fmin(h_max["L"], h_max["R"])
        sig = 0.03 * _DENSE_HZ
        h = gaussian_filter1d(np.minimum(h, cap), sigma=sig, mode="nearest")
        # smoothing may lift the pelvis above what a stance leg can reach: lower it by a smooth envelope of
        # the excess (max filter wider than the Gaussian's support keeps the envelope above the excess)
        excess = np.maximum(h - cap, 0.0)
        if excess.any():
            env = maximum_filter1d(excess, size=int(8 * sig) + 1, mode="nearest")
            h = h - 1.05 * gaussian_filter1d(env, sigma=sig, mode="nearest")
        h = np.minimum(h, cap)
        self._ht, self._hz = t, h

    def pelvis(self, t: np.ndarray) -> np.ndarray:
        x, y, _ = self._pelvis_xy_yaw(t)
        return np.stack([x, y, np.interp(t, self._ht, self._hz)], axis=-1)

    def hip(self, t: np.ndarray, side: str) -> np.ndarray:
        return np.concatenate([self._hip_xy(t, side), np.interp(t, self._ht, self._hz)[:, None]], axis=-1)

    # ----- swing -----
    def _sagittal_angles(self, hip: np.ndarray, ankle: np.ndarray) -> tuple[float, float]:
        """Thigh angle from the vertical and knee flexion (rad) in the leg plane, for one hip/ankle pair."""
        b = self.body
        dx = ankle[0] - hip[0]
        r = np.hypot(ankle[1] - hip[1], ankle[2] - hip[2])
        d = min(np.hypot(dx, r), b.leg - 1e-9)
        kappa = np.pi - np.arccos((b.thigh**2 + b.shank**2 - d**2) / (2 * b.thigh * b.shank))
        alpha = np.arccos((b.thigh**2 + d**2 - b.shank**2) / (2 * b.thigh * d))
        return float(np.arctan2(dx, r) + alpha), float(kappa)

    def _stance_angles(self, k: int, t: float, direction: float) -> tuple[float, float, float, float]:
        """Thigh angle, knee flexion (rad) and their one-sided rates (rad/s) of stance ``k`` at time ``t``."""
        eps = 1e-5
        sd = str(self.s.side[k])
        out = []
        for tt in (t, t + direction * eps):
            _, ankle, _ = self._stance_foot(k, np.array([tt]))
            out.append(self._sagittal_angles(self.hip(np.array([tt]), sd)[0], ankle[0]))
        (th, ka), (th2, ka2) = out
        return th, ka, (th2 - th) / (direction * eps), (ka2 - ka) / (direction * eps)

    def _swing_raw(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ankle (N,3) and foot pitch (N,) in swing from smooth thigh/knee angle curves (before adjustment).

        Thigh and knee angles go smoothly from the toe-off pose to the heel-strike pose, leaving and arriving
        with the stance leg's angular velocities (so the leg does not pause at either event), plus a knee
        flexion hump (peak about 60 deg at 30 % of swing) and a small late-swing hip flexion overshoot (the
        swing limb retracts before contact).
        """
        p = self.p
        sd = str(self.s.side[k])
        t_to, t_hs = self.s.to_t[k], self.s.hs_t[k + 2]
        dur = t_hs - t_to
        _, a0, _ = (x[0] for x in self._stance_foot(k, np.array([t_to])))
        _, a1, _ = (x[0] for x in self._stance_foot(k + 2, np.array([t_hs])))
        th0, ka0, dth0, dka0 = self._stance_angles(k, t_to, -1.0)
        th1, ka1, dth1, dka1 = self._stance_angles(k + 2, t_hs, +1.0)
        dka1 = float(np.clip(dka1, -3.0, 3.0))  # guard: near full extension knee rates can spike
        q = np.clip((t - t_to) / dur, 0.0, 1.0)

        tau = 0.2
        b0 = np.where(q < tau, q * (1.0 - q / tau) ** 3, 0.0)  # slope 1 at q = 0, gone by q = tau
        r = 1.0 - q
        b1 = np.where(r < tau, -r * (1.0 - r / tau) ** 3, 0.0)  # slope 1 at q = 1, zero before 1 - tau

        def ends(v0: float, v1: float) -> np.ndarray:
            return dur * (v0 * b0 + v1 * b1)

        g = 1.0 - (1.0 - np.minimum(q / _THIGH_FORWARD, 1.0)) ** 2  # the thigh swings forward at once (ease-out)
        theta = th0 + (th1 - th0) * g + self.theta_over * _bump(q, _HIP_OVERSHOOT_PEAK)
        knee_peak = np.radians(62.0) * p.knee_rom_scale * (1.0 - 0.45 * self.shuffle)
        lin = ka0 + (ka1 - ka0) * _smoothstep(q / _KNEE_EXTENDED)
        lin_peak = ka0 + (ka1 - ka0) * _smoothstep(np.array(0.3 / _KNEE_EXTENDED))
        kappa = lin + ends(dka0, dka1) + max(knee_peak - lin_peak, 0.0) * _bump(q, 0.3)
        del dth0, dth1  # the thigh's end rates are restored by the Cartesian end-velocity correction
        kappa = np.maximum(kappa, np.radians(1.0))
        b = self.body
        hip = self.hip(t, sd)
        # forward kinematics in the leg plane: (forward, radial-down) coordinates
        fx = b.thigh * np.sin(theta) + b.shank * np.sin(theta - kappa)
        rr = b.thigh * np.cos(theta) + b.shank * np.cos(theta - kappa)
        y = a0[1] + (a1[1] - a0[1]) * _smoothstep(q)
        dy = y - hip[:, 1]
        dz = -np.sqrt(np.maximum(rr**2 - dy**2, 0.0))
        ankle = np.stack([hip[:, 0] + fx, y, hip[:, 2] + dz], axis=-1)
        phi = self.phi_to * (1.0 - _smoothstep(q / 0.55)) + self.phi_hs * _smoothstep((q - 0.45) / 0.45)
        return ankle, phi

    def _foot_points(self, ankle: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heel and toe (N,3) of a rigid foot with its ankle at ``ankle`` and pitch ``phi`` (local frame)."""
        b = self.body
        heel, toe = ankle.copy(), ankle.copy()
        ex, ez = _rot2(phi, -b.heel_to_ankle, -b.ankle_height)
        heel[:, 0] += ex
        heel[:, 2] += ez
        ex, ez = _rot2(phi, b.foot_length - b.heel_to_ankle, -b.ankle_height)
        toe[:, 0] += ex
        toe[:, 2] += ez
        return heel, toe

    def _stance_rates(self, k: int, t: float, direction: float) -> tuple[np.ndarray, float]:
        """Ankle velocity (3,) and foot pitch rate of stance ``k`` at time ``t``, one-sided (direction -1/+1)."""
        eps = 1e-5
        tt = np.array([t, t + direction * eps])
        heel, ankle, toe = self._stance_foot(k, tt)
        phi = np.arctan2(toe[:, 2] - heel[:, 2], toe[:, 0] - heel[:, 0])
        return (ankle[1] - ankle[0]) / (direction * eps), float((phi[1] - phi[0]) / (direction * eps))

    def _swing_adjust(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Corrections added to the raw swing (q grid; ankle (Q,3) metres; pitch (Q,) rad); cached.

        1. End velocities. The swing must not pause at either event. A correction with unit slope at one
           end that dies out within a quarter of the swing, applied to the ankle and the foot pitch, gives the
           swing the stance foot's velocity at both events plus a *launch* and an *impact* velocity of the
           whole foot: the toe leaves the ground moving forward at about walking speed and upward, and the
           heel lands still moving forward at 80 % of walking speed and downward. Real toe markers are
           already moving at force-plate toe-off (contact fades while the foot rolls over the toes) and heels
           land with a residual forward and downward velocity (Winter 1992, J Mot Behav 24:1). This keeps
           pelvis-relative event detectors (Zeni et al. 2008, Gait Posture 27:710) within a frame of the true
           events, as on real data; the stance foot stays planted (the velocity jumps happen at contact).
        2. Terminal swing: the heel should descend toward the footprint rather than dip at mid-swing and rise
           again (that would fake a second "strike" for vertical-heel event detectors). The dip is filled by
           lifting the leg to the reverse running maximum of the heel height; then a minimum toe/heel
           clearance is kept (smaller when shuffling).
        """
        if k in self._adjust_cache:
            return self._adjust_cache[k]
        t_to, t_hs = self.s.to_t[k], self.s.hs_t[k + 2]
        dur = t_hs - t_to
        qg = np.linspace(0.0, 1.0, 401)
        ankle, phi = self._swing_raw(k, t_to + qg * dur)
        eps = 1e-5
        a_e, p_e = self._swing_raw(k, np.array([t_to + eps, t_hs - eps]))
        v_raw0, v_raw1 = (a_e[0] - ankle[0]) / eps, (ankle[-1] - a_e[1]) / eps
        w_raw0, w_raw1 = (p_e[0] - phi[0]) / eps, (phi[-1] - p_e[1]) / eps
        v_st0, w_st0 = self._stance_rates(k, t_to, -1.0)
        v_st1, w_st1 = self._stance_rates(k + 2, t_hs, +1.0)
        # the foot leaves the ground already moving and lands still moving (see the docstring)
        v_st0 = v_st0 + np.array([_LAUNCH_FWD * float(self._vx(t_to)), 0.0, _LAUNCH_UP])
        v_st1 = v_st1 + np.array([_IMPACT_FWD * float(self._vx(t_hs)), 0.0, -_IMPACT_DOWN])
        tau = _END_TAU
        b0 = np.where(qg < tau, qg * (1.0 - qg / tau) ** 3, 0.0)  # slope 1 at q = 0, gone by q = tau
        r = 1.0 - qg
        b1 = np.where(r < tau, -r * (1.0 - r / tau) ** 3, 0.0)  # slope 1 at q = 1
        d_ankle = dur * (b0[:, None] * (v_st0 - v_raw0)[None, :] + b1[:, None] * (v_st1 - v_raw1)[None, :])
        d_phi = dur * (b0 * (w_st0 - w_raw0) + b1 * (w_st1 - w_raw1))
        heel, toe = self._foot_points(ankle + d_ankle, phi + d_phi)
        lift = np.maximum.accumulate(heel[::-1, 2])[::-1] - heel[:, 2]
        lift[: int(np.argmax(heel[:, 2])) + 1] = 0.0  # only after the early-swing heel peak
        lift = gaussian_filter1d(lift, sigma=12.0, mode="nearest") * _smoothstep(qg / 0.3) * _smoothstep((1 - qg) / 0.1)
        # keep heel and toe above the floor with a margin that grows from zero at the events to the minimum
        # clearance (smaller when shuffling): a smooth envelope of what is missing, then an exact top-up
        clearance_min = 0.012 * (1.0 - 0.8 * self.shuffle)
        margin = clearance_min * np.minimum(1.0, np.minimum(qg, 1.0 - qg) / 0.1)
        z_low = np.minimum(heel[:, 2], toe[:, 2]) + lift
        need = np.maximum(margin - z_low, 0.0)
        if need.any():
            lift = lift + 1.2 * gaussian_filter1d(maximum_filter1d(need, size=15, mode="nearest"), 4.0, mode="nearest")
            lift = lift + np.maximum(margin - (np.minimum(heel[:, 2], toe[:, 2]) + lift), 0.0)
        lift[0] = lift[-1] = 0.0
        d_ankle[:, 2] += lift
        self._adjust_cache[k] = (qg, d_ankle, d_phi)
        return qg, d_ankle, d_phi

    def _swing_foot(self, k: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Heel, ankle, toe (N,3) of the foot between its toe-off after step k and its strike at step k+2."""
        t_to, t_hs = self.s.to_t[k], self.s.hs_t[k + 2]
        q = (t - t_to) / (t_hs - t_to)
        ankle, phi = self._swing_raw(k, t)
        qg, d_ankle, d_phi = self._swing_adjust(k)
        ankle = ankle + np.stack([np.interp(q, qg, d_ankle[:, i]) for i in range(3)], axis=-1)
        phi = phi + np.interp(q, qg, d_phi)
        # guard: the end corrections must not carry the ankle out of the leg's reach (bone lengths are exact)
        hip = self.hip(t, str(self.s.side[k]))
        v = ankle - hip
        d = np.linalg.norm(v, axis=-1, keepdims=True)
        d_ok = _knee_distance(self.body, np.radians(_MIN_SWING_KNEE_DEG))
        ankle = np.where(d > d_ok, hip + v * (d_ok / np.maximum(d, 1e-9)), ankle)
        heel, toe = self._foot_points(ankle, phi)
        # guard: between the adjustment grid's nodes the foot may graze the floor by a fraction of a millimetre
        deficit = np.maximum(-np.minimum(heel[:, 2], toe[:, 2]), 0.0)
        for arr in (heel, ankle, toe):
            arr[:, 2] += deficit
        return heel, ankle, toe

    # ----- whole body -----
    def feet(self, t: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(t)
        heel, ankle, toe = np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.full((n, 3), np.nan)
        for k in self._side_steps(side):
            if k + 2 >= len(self.s.hs_t):
                break
            m = (t >= self.s.hs_t[k]) & (t <= self.s.to_t[k])
            if m.any():
                heel[m], ankle[m], toe[m] = self._stance_foot(k, t[m])
            m = (t > self.s.to_t[k]) & (t < self.s.hs_t[k + 2])
            if m.any():
                heel[m], ankle[m], toe[m] = self._swing_foot(k, t[m])
        if np.isnan(ankle).any():
            raise RuntimeError("walker schedule does not cover the requested times")
        return heel, ankle, toe

    def joints(self, t: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """H36M joints (N,17,3) and foot points in the local frame."""
        b, p = self.body, self.p
        n = len(t)
        xyz = np.zeros((n, NUM_JOINTS, 3))
        pel = self.pelvis(t)
        xyz[:, J["pelvis"]] = pel
        fwd = np.array([1.0, 0.0, 0.0])
        feet: dict[str, np.ndarray] = {}
        for sd, pre in (("L", "left"), ("R", "right")):
            hip = self.hip(t, sd)
            heel, ankle, toe = self.feet(t, sd)
            xyz[:, J[f"{pre}_hip"]] = hip
            xyz[:, J[f"{pre}_ankle"]] = ankle
            xyz[:, J[f"{pre}_knee"]] = _leg_ik(hip, ankle, fwd, b.thigh, b.shank)
            feet[f"{pre}_heel"], feet[f"{pre}_toe"] = heel, toe
        # trunk: pitch forward by trunk_flexion (+ a small step-frequency oscillation), counter-rotating yaw
        _, _, yaw = self._pelvis_xy_yaw(t)
        # pelvis/trunk tilt oscillates twice per stride, tilting forward most around each toe-off (as the
        # pelvis does in normal gait, by a few degrees)
        tilt = 1.5
        stance = p.stance_pct / 100.0
        phase2 = 2.0 * (self._phase(t, "L") - (stance - 0.5))
        pitch = np.radians(p.trunk_flexion_deg + tilt * np.cos(2 * np.pi * phase2))
        tyaw = -0.6 * yaw

        def trunk(fw: float, lat: float, up: float) -> np.ndarray:
            # rotate (fw, lat, up) by pitch (about y) then yaw (about z), relative to the pelvis
            x1 = fw * np.cos(pitch) + up * np.sin(pitch)
            z1 = -fw * np.sin(pitch) + up * np.cos(pitch)
            x2 = x1 * np.cos(tyaw) - lat * np.sin(tyaw)
            y2 = x1 * np.sin(tyaw) + lat * np.cos(tyaw)
            return pel + np.stack([x2, y2, z1], axis=-1)

        h_sp = b.pelvis_to_spine
        h_th = h_sp + b.spine_to_thorax
        xyz[:, J["spine"]] = trunk(-0.01 * b.height, 0.0, h_sp)
        xyz[:, J["thorax"]] = trunk(0.0, 0.0, h_th)
        xyz[:, J["nose"]] = trunk(b.nose_forward, 0.0, h_th + b.thorax_to_nose)
        xyz[:, J["head"]] = trunk(b.nose_forward - 0.03 * b.height, 0.0, h_th + b.thorax_to_nose + b.nose_to_head_top)
        # arms: shoulder flexion opposite to the ipsilateral leg, elbow flexes as the arm comes forward
        for sd, pre in (("L", "left"), ("R", "right")):
            sgn = 1.0 if sd == "L" else -1.0
            sh = trunk(0.0, sgn * b.shoulder_half_width, h_th - b.shoulder_drop)
            xyz[:, J[f"{pre}_shoulder"]] = sh
            c = np.cos(2 * np.pi * self._phase(t, sd))  # +1 at ipsilateral heel strike (leg forward)
            amp = p.arm_swing_scale
            flex = np.radians(-4.0 - 18.0 * amp * c)  # arm back when the leg is forward
            elbow_flex = np.radians(16.0 + 12.0 * amp * (0.5 - 0.5 * c))
            abd = np.radians(7.0)
            for name, length, ang, start in (
                ("elbow", b.upper_arm, flex, sh),
                ("wrist", b.forearm, flex + elbow_flex, None),
            ):
                # direction in the trunk frame: down, rotated forward by ang and outward by abd
                dfw = np.sin(ang) * np.cos(abd)
                dlat = sgn * np.sin(abd)
                dup = -np.cos(ang) * np.cos(abd)
                vec = trunk(dfw * length, dlat * length, dup * length) - pel
                base = start if start is not None else xyz[:, J[f"{pre}_elbow"]]
                xyz[:, J[f"{pre}_{name}"]] = base + vec
        return xyz, feet

    def _phase(self, t: np.ndarray, side: str) -> np.ndarray:
        """Stride phase in [0,1) of ``side`` (0 at its heel strike), piecewise linear in time."""
        ts = self.s.hs_t[self._side_steps(side)]
        i = np.clip(np.searchsorted(ts, t, side="right") - 1, 0, len(ts) - 2)
        return (t - ts[i]) / (ts[i + 1] - ts[i])


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------


def _to_world(arr: np.ndarray, heading_deg: float) -> np.ndarray:
    a = np.radians(heading_deg)
    c, s = np.cos(a), np.sin(a)
    out = arr.copy()
    out[..., 0] = c * arr[..., 0] - s * arr[..., 1]
    out[..., 1] = s * arr[..., 0] + c * arr[..., 1]
    return out


def _truth(w: _Walker, n_frames: int) -> GaitTruth:
    p, s = w.p, w.s
    t_last = (n_frames - 1) / p.fps
    inside = (s.hs_t >= 0.0) & (s.hs_t <= t_last)
    events: list[GaitEvent] = []
    for k in range(len(s.hs_t)):
        for kind, tt in (("heel_strike", s.hs_t[k]), ("toe_off", s.to_t[k])):
            if 0.0 <= tt <= t_last:
                events.append(GaitEvent(side=str(s.side[k]), kind=kind, frame=int(round(tt * p.fps)), time_s=float(tt)))
    events.sort(key=lambda e: e.time_s)
    idx = np.flatnonzero(inside)
    if len(idx) < 2:
        raise ValueError(
            f"a {p.duration_s:.1f} s walk holds fewer than two heel strikes, so it has no gait parameters: "
            "make duration_s at least two step times long"
        )

    def heel_x_at(k: int, side: str) -> float:
        heel, _, _ = w.feet(np.array([s.hs_t[k]]), side)
        return float(heel[0, 0])

    def ankle_x_at(k: int, side: str) -> float:
        _, ankle, _ = w.feet(np.array([s.hs_t[k]]), side)
        return float(ankle[0, 0])

    step_t: dict[str, list[float]] = {"L": [], "R": []}
    step_l: dict[str, list[float]] = {"L": [], "R": []}
    step_la: dict[str, list[float]] = {"L": [], "R": []}
    widths: list[float] = []
    for k in idx[1:]:
        sd, other = str(s.side[k]), str(s.side[k - 1])
        step_t[sd].append(s.hs_t[k] - s.hs_t[k - 1])
        step_l[sd].append(heel_x_at(k, sd) - heel_x_at(k, other))
        step_la[sd].append(ankle_x_at(k, sd) - ankle_x_at(k, other))
        widths.append(abs(s.heel_y[k] - s.heel_y[k - 1]))
    stride_t: dict[str, list[float]] = {"L": [], "R": []}
    stride_l: dict[str, list[float]] = {"L": [], "R": []}
    stance: dict[str, list[float]] = {"L": [], "R": []}
    dsup: list[float] = []
    knee_rom: dict[str, list[float]] = {"L": [], "R": []}
    hip_rom: dict[str, list[float]] = {"L": [], "R": []}
    clearance: list[float] = []
    min_clear: list[float] = []
    fwd = np.array([1.0, 0.0, 0.0])
    for k in idx:
        if k + 2 > idx[-1]:
            continue
        sd = str(s.side[k])
        ts = s.hs_t[k + 2] - s.hs_t[k]
        stride_t[sd].append(ts)
        stride_l[sd].append(s.heel_x[k + 2] - s.heel_x[k])
        stance[sd].append(100.0 * (s.to_t[k] - s.hs_t[k]) / ts)
        # double support: from this strike to the other foot's toe-off, and from the other strike to our toe-off
        dsup.append(100.0 * ((s.to_t[k - 1] - s.hs_t[k]) + (s.to_t[k] - s.hs_t[k + 1])) / ts)
        td = np.arange(s.hs_t[k], s.hs_t[k + 2], 1.0 / _DENSE_HZ)
        xyz, feet = w.joints(td)
        knee = knee_flexion_deg(xyz, sd)
        hipf = hip_flexion_deg(xyz, sd, fwd)
        knee_rom[sd].append(float(knee.max() - knee.min()))
        hip_rom[sd].append(float(hipf.max() - hipf.min()))
        pre = "left" if sd == "L" else "right"
        sw = td > s.to_t[k]
        if sw.any():
            toe_z = feet[f"{pre}_toe"][sw, 2]
            clearance.append(float(toe_z.max()))
            mid = slice(len(toe_z) // 4, 3 * len(toe_z) // 4 + 1)
            min_clear.append(float(toe_z[mid].min()))
    t_first, t_last_hs = s.hs_t[idx[0]], s.hs_t[idx[-1]]
    pel = w.pelvis(np.array([t_first, t_last_hs]))
    speed = float(np.linalg.norm(pel[1, :2] - pel[0, :2]) / (t_last_hs - t_first))
    all_steps = np.diff(s.hs_t[idx])

    def mean(d: dict[str, list[float]]) -> dict[str, float]:
        return {k: float(np.mean(v)) if v else float("nan") for k, v in d.items()}

    extra = {
        "step_length_ankle_L": mean(step_la)["L"],
        "step_length_ankle_R": mean(step_la)["R"],
        "n_strides_L": float(len(stride_t["L"])),
        "n_strides_R": float(len(stride_t["R"])),
        "step_length_cv_pct": float(100 * np.std(step_l["L"] + step_l["R"]) / np.mean(step_l["L"] + step_l["R"]))
        if step_l["L"] + step_l["R"]
        else float("nan"),
        "step_time_cv_pct": float(100 * np.std(all_steps) / np.mean(all_steps)),
        "max_toe_height_swing_m": float(np.mean(clearance)) if clearance else float("nan"),
        "min_toe_clearance_m": float(np.mean(min_clear)) if min_clear else float("nan"),
        "leg_length_m": w.body.leg + w.body.ankle_height,
        "thigh_m": w.body.thigh,
        "shank_m": w.body.shank,
    }
    return GaitTruth(
        events=tuple(events),
        cadence_steps_min=float(60.0 / np.mean(all_steps)),
        speed_m_s=speed,
        stride_time_s=mean(stride_t),
        stride_length_m=mean(stride_l),
        step_time_s=mean(step_t),
        step_length_m=mean(step_l),
        stance_pct=mean(stance),
        double_support_pct=float(np.mean(dsup)) if dsup else float("nan"),
        step_width_m=float(np.mean(widths)),
        knee_rom_deg=mean(knee_rom),
        hip_rom_deg=mean(hip_rom),
        extra=extra,
    )


def simulate_walk(params: WalkParams) -> SyntheticWalk:
    """Generate a walk (world frame, Z up, metres) and its exact :class:`GaitTruth`. Deterministic in ``seed``.

    See the module docstring for how the motion is built and how every truth value is defined.
    """
    w = _Walker(params)
    n = int(round(params.duration_s * params.fps))
    t = np.arange(n) / params.fps
    xyz, feet = w.joints(t)
    xyz = _to_world(xyz, params.heading_deg)
    feet = {name: _to_world(feet[name], params.heading_deg) for name in FOOT_POINTS}
    motion = Motion3D(
        xyz_m=xyz,
        fps=float(params.fps),
        up=(0.0, 0.0, 1.0),
        root_relative=False,
        scale_source="synthetic ground truth",
        source="synthetic",
        valid=np.ones(n, dtype=bool),
        feet=feet,
        notes=(f"synthetic walker, seed {params.seed}",),
    )
    return SyntheticWalk(params=params, motion=motion, truth=_truth(w, n))


def make_cohort(
    n_subjects: int, seed: int = 0, duration_s: float = 8.0, fps: float = 30.0
) -> list[tuple[int, WalkParams]]:
    """Sample ``n_subjects`` walkers with a UPDRS-gait-like severity (0 normal .. 3 severe) each.

    Severity drives the Parkinsonian knobs (shorter shuffling steps, less arm swing and knee range, stooped
    trunk, festination, more variability; Hausdorff 2009 and Morris 1994 describe these features), on top of
    healthy between-subject variability in height, cadence and step length. Returns ``(severity, params)``.
    """
    rng = np.random.default_rng(seed)
    out: list[tuple[int, WalkParams]] = []
    for i in range(n_subjects):
        sev = int(rng.integers(0, 4))
        s = sev / 3.0
        height = float(np.clip(rng.normal(1.70, 0.09), 1.50, 1.95))
        jitter = lambda sd: float(rng.normal(0.0, sd))  # noqa: E731
        params = WalkParams(
            fps=fps,
            duration_s=duration_s,
            height_m=height,
            cadence_steps_min=float(np.clip(110.0 + 6.0 * s + jitter(6.0), 85.0, 140.0)),
            step_length_m=float(np.clip(height * (0.41 - 0.10 * s) + jitter(0.03), 0.30, 0.90)),
            step_asymmetry=float(jitter(0.02 + 0.06 * s)),
            stance_pct=float(np.clip(60.0 + 4.0 * s + jitter(1.0), 55.0, 72.0)),
            step_width_m=float(np.clip(0.10 + 0.03 * s + jitter(0.02), 0.04, 0.25)),
            knee_rom_scale=float(np.clip(1.0 - 0.35 * s + jitter(0.05), 0.4, 1.1)),
            hip_rom_scale=float(np.clip(1.0 - 0.35 * s + jitter(0.05), 0.4, 1.1)),
            arm_swing_scale=float(np.clip(1.0 - 0.8 * s + jitter(0.1), 0.0, 1.3)),
            trunk_flexion_deg=float(np.clip(3.0 + 18.0 * s + jitter(2.0), 0.0, 35.0)),
            shuffle=float(np.clip(0.8 * s + jitter(0.05), 0.0, 1.0)),
            festination=float(np.clip((s - 0.5) * 0.8 + jitter(0.05), 0.0, 1.0)),
            step_length_cv=float(np.clip(0.02 + 0.04 * s + jitter(0.005), 0.0, 0.15)),
            step_time_cv=float(np.clip(0.015 + 0.03 * s + jitter(0.005), 0.0, 0.15)),
            heading_deg=0.0,
            leg_length_ratio=float(np.clip(rng.normal(0.53, 0.01), 0.49, 0.57)),
            seed=int(rng.integers(0, 2**31 - 1)) + i,
        )
        out.append((sev, params))
    return out


def with_params(walk: SyntheticWalk, **changes: object) -> SyntheticWalk:
    """Re-simulate ``walk`` with some parameters changed (convenience for experiments)."""
    return simulate_walk(replace(walk.params, **changes))
