"""Gait features of a clinic walk that need no complete stride, and embedding pooling over the whole walk.

Why: on the real-patient walks (Deng et al. 2024 recordings) the 3D gait analysis found no complete straight
stride in 20 of 44 walks (feet out of the image, short walks, turns), so the stride-based parameters are missing
exactly where the patients are most impaired. The features here are measured on whatever part of the body is in
view, from the 2D MediaPipe landmarks ``(T, 33, 3)`` (normalised x, y and time in s; NaN = not in the image), in
torso lengths (mid-shoulder to mid-hip, the one segment that is almost always visible) so that the distance to the
camera cancels:

* **arm swing** amplitude per side and its asymmetry: the wrist relative to its shoulder, band-passed to the gait
  band, amplitude along its main axis (peak-to-peak of the equivalent sinusoid, ``2 * sqrt(2) * RMS``); reduced
  and asymmetric arm swing is an early PD sign (Lewek et al., Gait Posture 2010, whose asymmetry angle is used).
* **trunk** lean: angle of the hip-to-shoulder line from the image vertical (median and SD); in a side view this is
  the forward flexion (stoop), in a frontal view the lateral lean.
* **cadence** from oscillation spectra (Welch): the left-minus-right ankle (else wrist) signal oscillates at the
  stride frequency, so steps/min = 120 x its peak frequency in 0.3-1.6 Hz; and the share of power within
  +-0.15 Hz of that peak (regularity; Moe-Nilssen & Helbostad, J Biomech 2004 use the same idea on trunk acceleration).
* **smoothness**: RMS jerk of the low-passed (6 Hz, Winter 2009) mid-hip path relative to that of a pure sinusoid
  at the stride frequency with the same RMS velocity (1 for a perfectly smooth periodic path, larger when jerky);
  after Hogan & Sternad, J Mot Behav 2009 (dimensionless jerk); stored as log10 (it spans 1 to 10^4 on the
  clinic walks, where landmark jitter dominates the third derivative).
* **progression**: median sideways speed of the mid-hip in torso lengths/s (side views) and the rate of change of
  the apparent torso length, ``|d ln(torso)/dt|`` in 1/s (= speed/distance when walking towards or away from the
  camera). Walking speed in body heights/s would need the feet, which are often out of view.
* **knee** range: 5-95 % range of the 2D hip-knee-ankle angle over the frames in which all three are visible.
* **turning**: share of time turned sideways (shoulder width < 50 % of its 90th percentile, the trick Deng et al.
  use to drop sideways segments) and the mean duration of a turn in s (en-bloc, slow turns in PD: Crenna et al.,
  Gait Posture 2007).

Embedding pooling (:func:`embedding_stats`, :func:`embedding_cycle`): the lifter's per-frame embedding summarized
over the walk by mean, SD and 10/50/90 % quantiles per channel, plus each channel's share of power at the walk's
stride frequency; and gait-cycle-normalised pooling (each cycle resampled to a few phase bins, averaged over
cycles), cycles from the gait analysis when it found strides, else cut at the spectral stride period.

Every function takes arrays and returns numbers (no I/O), so each has a unit test on synthetic input with known
truth (``tests/training/test_pd_features.py``).
"""

from __future__ import annotations

import warnings

import numpy as np

# MediaPipe Pose landmark indices
NOSE, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN = 23, 24, 25, 26, 27, 28

#: Stride frequency band (Hz): 0.3-1.6 Hz = 36-192 steps/min, wide enough for shuffling and brisk walkers.
STRIDE_BAND = (0.3, 1.6)
GAIT_FEATURE_NAMES: tuple[str, ...] = (
    "arm_swing_left", "arm_swing_right", "arm_swing_mean", "arm_swing_asymmetry_deg",
    "trunk_lean_median_deg", "trunk_lean_sd_deg",
    "cadence_steps_per_min", "stride_peak_power_share",
    "log10_jerk_ratio",
    "progression_lateral_per_s", "approach_rate_per_s",
    "knee_range_left_deg", "knee_range_right_deg",
    "turning_share", "turn_duration_s",
)


def _fps(ts: np.ndarray) -> float:
    d = np.diff(ts[np.isfinite(ts)])
    d = d[d > 0]
    return 1.0 / float(np.median(d)) if len(d) else 30.0


def _fill(s: np.ndarray, min_share: float = 0.5, min_n: int = 16) -> np.ndarray | None:
    """The series with gaps linearly interpolated, or None when too little of it was seen."""
    ok = np.isfinite(s)
    if ok.sum() < min_n or ok.mean() < min_share:
        return None
    return np.interp(np.arange(len(s)), np.flatnonzero(ok), s[ok])


def _bandpass(s: np.ndarray, fps: float, lo: float = STRIDE_BAND[0], hi: float = 3.0) -> np.ndarray:
    """Zero-phase Butterworth band-pass (scipy.signal), the gait band; high cut kept below Nyquist."""
    from scipy.signal import butter, sosfiltfilt

    hi = min(hi, 0.45 * fps)
    sos = butter(2, [lo, hi], btype="band", fs=fps, output="sos")
    if len(s) <= 3 * (2 * sos.shape[0] + 1):
        return s - s.mean()
    return sosfiltfilt(sos, s - s.mean())


def _lowpass(s: np.ndarray, fps: float, cut: float = 6.0) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, min(cut, 0.45 * fps), btype="low", fs=fps, output="sos")
    if len(s) <= 3 * (2 * sos.shape[0] + 1):
        return s
    return sosfiltfilt(sos, s)


def torso_length(xy: np.ndarray) -> float:
    """Median mid-shoulder to mid-hip distance (image units) over the frames where all four are seen."""
    sh = 0.5 * (xy[:, L_SH] + xy[:, R_SH])
    hip = 0.5 * (xy[:, L_HIP] + xy[:, R_HIP])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = float(np.nanmedian(np.linalg.norm(sh - hip, axis=-1)))
    return t if np.isfinite(t) and t > 0 else float("nan")


def swing_amplitude(traj: np.ndarray, fps: float) -> float:
    """Peak-to-peak amplitude (same unit as ``traj``) of a 2D oscillation ``(T, 2)`` along its main axis, from the
    band-passed signal: ``2 * sqrt(2) * RMS`` (exact for a sinusoid, robust to single outliers)."""
    cols = [_fill(traj[:, k]) for k in range(traj.shape[1])]
    if any(c is None for c in cols):
        return float("nan")
    bp = np.stack([_bandpass(c, fps) for c in cols], axis=1)
    ev = np.linalg.eigvalsh(np.cov(bp.T))
    return float(2.0 * np.sqrt(2.0) * np.sqrt(max(ev[-1], 0.0)))


def asymmetry_angle(left: float, right: float) -> float:
    """Lewek et al. 2010 arm-swing asymmetry angle in degrees: ``45 - atan(max/min)`` scaled so 0 = symmetric and
    45 = one arm not swinging (their percentage form divides by 90 and multiplies by 100)."""
    if not (np.isfinite(left) and np.isfinite(right)) or max(left, right) <= 0:
        return float("nan")
    lo, hi = min(left, right), max(left, right)
    return float(np.degrees(np.arctan2(hi, lo)) - 45.0)


def stride_frequency(signal: np.ndarray, fps: float) -> tuple[float, float]:
    """Peak frequency (Hz) of ``signal`` in :data:`STRIDE_BAND` (parabolic interpolation between Welch bins) and
    the share of the band's power within +-0.15 Hz of it (Welch periodogram, 8 s segments)."""
    from scipy.signal import welch

    s = _fill(signal)
    if s is None or len(s) < 2 * fps:
        return float("nan"), float("nan")
    f, p = welch(s - s.mean(), fs=fps, nperseg=min(len(s), int(round(8 * fps))), detrend="linear")
    band = (f >= STRIDE_BAND[0]) & (f <= STRIDE_BAND[1])
    if not band.any() or p[band].sum() <= 0:
        return float("nan"), float("nan")
    i = int(np.flatnonzero(band)[np.argmax(p[band])])
    f_peak = float(f[i])
    if 0 < i < len(f) - 1 and min(p[i - 1], p[i], p[i + 1]) > 0:  # parabolic interpolation on log power:
        a, b, c = np.log(p[i - 1]), np.log(p[i]), np.log(p[i + 1])  # sub-bin peak (Welch bins are 1/8 Hz)
        den = a - 2 * b + c
        if den < 0:  # a true local maximum: the vertex lies within half a bin (clipped at the band edge)
            f_peak += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) * float(f[1] - f[0])
    near = band & (np.abs(f - f_peak) <= 0.15 + 1e-9)
    return f_peak, float(p[near].sum() / p[band].sum())


def jerk_ratio(path: np.ndarray, fps: float, stride_hz: float) -> float:
    """RMS jerk of a ``(T, 2)`` path over that of a sinusoid at ``stride_hz`` with the same RMS velocity:
    ``rms(jerk) / (rms(velocity) * (2 pi f)^2)`` after a 6 Hz low-pass. 1 for a pure sinusoid."""
    cols = [_fill(path[:, k]) for k in range(path.shape[1])]
    if any(c is None for c in cols) or not np.isfinite(stride_hz) or stride_hz <= 0:
        return float("nan")
    p = np.stack([_bandpass(_lowpass(c, fps), fps, STRIDE_BAND[0] / 2, 6.0) for c in cols], axis=1)
    v = np.gradient(p, 1.0 / fps, axis=0)
    j = np.gradient(np.gradient(v, 1.0 / fps, axis=0), 1.0 / fps, axis=0)
    edge = int(round(fps))  # filter and derivative edge effects
    v, j = v[edge:-edge], j[edge:-edge]
    rms_v = np.sqrt(np.mean(np.sum(v**2, axis=1))) if len(v) else 0.0
    if rms_v <= 0:
        return float("nan")
    rms_j = np.sqrt(np.mean(np.sum(j**2, axis=1)))
    return float(rms_j / (rms_v * (2 * np.pi * stride_hz) ** 2))


def joint_angle_2d(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at ``b`` (degrees, 180 = straight) between ``b->a`` and ``b->c`` per frame; NaN where unseen."""
    u, w = a - b, c - b
    cos = np.sum(u * w, axis=-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _range(s: np.ndarray, min_n: int = 20) -> float:
    s = s[np.isfinite(s)]
    return float(np.percentile(s, 95) - np.percentile(s, 5)) if len(s) >= min_n else float("nan")


def turning(xy: np.ndarray, fps: float, torso: float) -> tuple[float, float]:
    """Share of frames turned sideways and the mean length (s) of those episodes: shoulder width (in torso
    lengths) below half its 90th percentile, smoothed over 0.3 s; episodes shorter than 0.3 s ignored."""
    w = np.linalg.norm(xy[:, L_SH] - xy[:, R_SH], axis=-1) / torso
    w = _fill(w)
    if w is None:
        return float("nan"), float("nan")
    k = max(1, int(round(0.3 * fps)))
    w = np.convolve(w, np.ones(k) / k, mode="same")
    side = w < 0.5 * np.percentile(w, 90)
    # episodes of consecutive sideways frames
    d = np.diff(np.concatenate([[0], side.astype(int), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    lengths = (ends - starts) / fps
    lengths = lengths[lengths >= 0.3]
    return float(side.mean()), (float(lengths.mean()) if len(lengths) else 0.0)


def gait_features_2d(lm: np.ndarray) -> np.ndarray:
    """The :data:`GAIT_FEATURE_NAMES` of one walk from ``(T, 33, 3)`` landmarks (x, y normalised, time in s;
    NaN = out of the image). NaN for what the visible part cannot show."""
    xy = np.asarray(lm[..., :2], dtype=np.float64)
    fps = _fps(np.asarray(lm[:, 0, 2], dtype=np.float64))
    torso = torso_length(xy)
    out = dict.fromkeys(GAIT_FEATURE_NAMES, float("nan"))
    if not np.isfinite(torso):
        return np.array([out[n] for n in GAIT_FEATURE_NAMES])
    # arm swing: wrist relative to its own shoulder, torso lengths
    left = swing_amplitude((xy[:, L_WR] - xy[:, L_SH]) / torso, fps)
    right = swing_amplitude((xy[:, R_WR] - xy[:, R_SH]) / torso, fps)
    out["arm_swing_left"], out["arm_swing_right"] = left, right
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["arm_swing_mean"] = float(np.nanmean([left, right]))
    out["arm_swing_asymmetry_deg"] = asymmetry_angle(left, right)
    # trunk lean from the image vertical (y grows downwards): hip -> shoulder
    sh = 0.5 * (xy[:, L_SH] + xy[:, R_SH])
    hip = 0.5 * (xy[:, L_HIP] + xy[:, R_HIP])
    v = sh - hip
    lean = np.degrees(np.arctan2(np.abs(v[:, 0]), -v[:, 1]))
    if np.isfinite(lean).sum() >= 16:
        out["trunk_lean_median_deg"] = float(np.nanmedian(lean))
        out["trunk_lean_sd_deg"] = float(np.nanstd(lean))
    # cadence: L-R ankle difference (both axes, the larger oscillation), else wrists
    f_stride, share = float("nan"), float("nan")
    for a, b in ((L_AN, R_AN), (L_WR, R_WR)):
        diff = (xy[:, a] - xy[:, b]) / torso
        cands = [stride_frequency(diff[:, k], fps) + (np.nanstd(diff[:, k]),) for k in range(2)]
        cands = [c for c in cands if np.isfinite(c[0])]
        if cands:
            f_stride, share, _ = max(cands, key=lambda c: c[2])
            break
    out["cadence_steps_per_min"] = 120.0 * f_stride if np.isfinite(f_stride) else float("nan")
    out["stride_peak_power_share"] = share
    jr = jerk_ratio(hip / torso, fps, f_stride)
    out["log10_jerk_ratio"] = float(np.log10(jr)) if np.isfinite(jr) and jr > 0 else float("nan")
    # progression
    hx = _fill(hip[:, 0] / torso)
    if hx is not None:
        out["progression_lateral_per_s"] = float(np.median(np.abs(np.gradient(_lowpass(hx, fps, 1.0))) * fps))
    tl = np.linalg.norm(sh - hip, axis=-1)
    ltl = _fill(np.log(np.where(tl > 0, tl, np.nan)))
    if ltl is not None:
        out["approach_rate_per_s"] = float(np.median(np.abs(np.gradient(_lowpass(ltl, fps, 0.5))) * fps))
    # knee range in view
    out["knee_range_left_deg"] = _range(joint_angle_2d(xy[:, L_HIP], xy[:, L_KN], xy[:, L_AN]))
    out["knee_range_right_deg"] = _range(joint_angle_2d(xy[:, R_HIP], xy[:, R_KN], xy[:, R_AN]))
    out["turning_share"], out["turn_duration_s"] = turning(xy, fps, torso)
    return np.array([out[n] for n in GAIT_FEATURE_NAMES])


# ---------------------------------------------------------------------------------------------------------
# Embedding pooling over the walk
# ---------------------------------------------------------------------------------------------------------

QUANTILES: tuple[float, ...] = (10.0, 50.0, 90.0)
PHASE_BINS = 4


def spectral_share_at(frames: np.ndarray, fps: float, f0: float, half_width: float = 0.15) -> np.ndarray:
    """Per channel of ``(T, D)``: share of its power (0.2 Hz to Nyquist) within ``f0 +- half_width`` Hz
    (periodogram of the mean-removed channel). NaN when ``f0`` is unknown or the walk too short."""
    from scipy.signal import periodogram

    d = frames.shape[1]
    if not np.isfinite(f0) or frames.shape[0] < 2 * fps:
        return np.full(d, np.nan)
    f, p = periodogram(frames - frames.mean(axis=0), fs=fps, axis=0, detrend="linear")
    total = p[f >= 0.2].sum(axis=0)
    near = p[np.abs(f - f0) <= half_width].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, near / total, np.nan)


def embedding_stats(frames: np.ndarray, fps: float, stride_hz: float) -> np.ndarray:
    """Mean, SD, 10/50/90 % quantiles and the power share at the stride frequency of every channel of a
    ``(T, D)`` per-frame embedding: ``6 * D`` numbers."""
    frames = np.asarray(frames, dtype=np.float64)
    q = np.percentile(frames, QUANTILES, axis=0)
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0), *q,
                           spectral_share_at(frames, fps, stride_hz)])


def cycles(n_frames: int, fps: float, strides: np.ndarray, stride_hz: float) -> list[tuple[int, int]]:
    """Gait cycles as frame ranges: the analysis' strides when it found at least 2, else consecutive stride
    periods ``1 / stride_hz`` (or 1 s when that is unknown) over the whole walk."""
    st = [(int(a), int(b)) for a, b in np.asarray(strides).reshape(-1, 2) if b - a >= 3]
    if len(st) >= 2:
        return st
    period = int(round(fps / stride_hz)) if np.isfinite(stride_hz) and stride_hz > 0 else int(round(fps))
    period = max(period, 4)
    return [(a, a + period) for a in range(0, n_frames - period + 1, period)] or [(0, n_frames)]


def embedding_cycle(frames: np.ndarray, fps: float, strides: np.ndarray, stride_hz: float,
                    bins: int = PHASE_BINS) -> np.ndarray:
    """Gait-cycle-normalised pooling: each cycle split into ``bins`` equal phase bins, the bin means averaged over
    cycles, then their SD over cycles: ``2 * bins * D`` numbers."""
    frames = np.asarray(frames, dtype=np.float64)
    per = []
    for a, b in cycles(len(frames), fps, strides, stride_hz):
        edges = np.linspace(a, b, bins + 1).round().astype(int)
        per.append(np.concatenate([frames[edges[k]:max(edges[k + 1], edges[k] + 1)].mean(axis=0)
                                   for k in range(bins)]))
    per_a = np.stack(per)
    return np.concatenate([per_a.mean(axis=0), per_a.std(axis=0)])
