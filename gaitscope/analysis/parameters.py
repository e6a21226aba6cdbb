"""Strides and spatiotemporal parameters from gait events and joint positions.

Definitions (Perry & Burnfield, *Gait Analysis*, 2nd ed. 2010; Whittle, *Gait Analysis*, 4th ed. 2007; the
GAITRite conventions of the reference table):

* stride = heel strike to the next heel strike of the same foot; step = contralateral heel strike to this
  foot's heel strike (the step that ends the stride);
* step length = distance along the progression between the two ankles (or heels) at this foot's heel strike,
  which needs no pelvis travel, so it works on root-relative lifter output (Stenum et al. 2021 measure it
  the same way from video); step width = lateral distance between them at the same instant (left minus
  right, so a crossing step is negative);
* stride length = displacement of the foot between its two heel strikes when the pelvis travels (lab or
  synthetic data), else the sum of the two step lengths in the stride -- times
  :data:`ANKLE_STEPS_TO_STRIDE` when the steps are measured between ankle joints (root-relative lifter output
  has no heels): at each heel strike the trailing foot has already rolled forward over its forefoot and the
  leading one over its heel, so two ankle-to-ankle separations fall about 9 % short of the distance the foot
  travels (see the constant);
* speed = pelvis displacement / stride time when the pelvis travels, else stride length / stride time;
* stance % = heel strike to toe off of the same foot; double support % = initial (heel strike to
  contralateral toe off) plus terminal (contralateral heel strike to own toe off) double support;
* cadence = 120 / stride time (steps per minute);
* arm swing = range of shoulder flexion over the stride (degrees); knee_rom / hip_rom = range of knee / hip
  flexion over the stride (max - min), averaged over strides;
* variability = SD and coefficient of variation over strides; symmetry = symmetry index
  SI = 2 (L - R) / (L + R) x 100 (Robinson et al. 1987, J Manipulative Physiol Ther 10:172) and symmetry ratio
  larger / smaller (recommended by Patterson et al. 2010, Gait & Posture 31:241).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from gaitscope.analysis.frames import Bout, GaitFrame
from gaitscope.analysis.normative import NormalRange
from gaitscope.records import GaitEvent, ParameterSummary, Stride
from gaitscope.skeleton import J

_PREFIX = {"L": "left", "R": "right"}
_OTHER = {"L": "R", "R": "L"}

#: Stride length / (sum of the stride's two ankle-to-ankle step lengths at heel strike) when the pelvis does not
#: travel (root-relative input without heel points: every video). The ankles are not where the feet are planted:
#: at heel strike the leading ankle is still to roll forward over the heel and the trailing one has rolled
#: forward over the forefoot (heel rise), so the two separations miss part of the distance the foot travels
#: (Perry & Burnfield 2010, the three rockers). Measured on the lifter's TRAINING marker trials only
#: (``benchmarks/stride_ratio.py``: Horst et al. 2019 S01 trials 9, 11, 14-17, the strides whose
#: travelling-marker heel stride and root-relative ankle steps both exist; walks slower than 0.5 m/s -- CMU
#: 131_02's start-stop strides -- are not steady gait and were left out): 1.100 (SD 0.001, 6 strides). A ratio,
#: not an offset: on the held-out trials' markers (13 strides, four people, 1.2-1.9 m/s) the ratio is
#: 1.095 (SD 0.013) while the missing length per stature varies 3.5 times more (CV 18 % vs 1.2 %); and a ratio
#: shrinks with short, flat-footed steps (Parkinson's), where an offset would add length that is not there.
ANKLE_STEPS_TO_STRIDE = 1.10

#: name -> (label, unit, Stride attribute or None when derived)
PARAMETERS: dict[str, tuple[str, str]] = {
    "cadence": ("Cadence", "steps/min"),
    "speed": ("Walking speed", "m/s"),
    "stride_time": ("Stride time", "s"),
    "step_time": ("Step time", "s"),
    "stride_length": ("Stride length", "m"),
    "step_length": ("Step length", "m"),
    "stance_pct": ("Stance", "%"),
    "swing_pct": ("Swing", "%"),
    "double_support_pct": ("Double support", "%"),
    "step_width": ("Step width", "m"),
    "arm_swing": ("Arm swing (shoulder flexion range)", "deg"),
    "knee_rom": ("Knee flexion range of motion", "deg"),
    "hip_rom": ("Hip flexion range of motion", "deg"),
}

_STRIDE_COLUMN = {
    "stride_time": "stride_time_s",
    "step_time": "step_time_s",
    "stride_length": "stride_length_m",
    "step_length": "step_length_m",
    "stance_pct": "stance_pct",
    "swing_pct": "swing_pct",
    "double_support_pct": "double_support_pct",
    "step_width": "step_width_m",
    "speed": "speed_m_s",
}

SYMMETRY_OF = ("step_length", "step_time", "stride_length", "stance_pct", "swing_pct", "arm_swing", "knee_rom")
VARIABILITY_OF = ("stride_time", "step_time", "stride_length", "step_length", "step_width", "stance_pct")


@dataclass(frozen=True)
class StrideWindow:
    """A stride with the arm-swing range, before it becomes a :class:`Stride` record."""

    stride: Stride
    arm_swing_deg: float
    start_time_frame: float
    end_time_frame: float
    knee_rom_deg: float = float("nan")
    hip_rom_deg: float = float("nan")
    #: heel strikes of the other foot inside the stride (a real stride has exactly one), and whether the other
    #: foot has heel strikes in this bout at all (else alternation cannot be checked)
    contralateral_strikes: int = 1
    contralateral_seen: bool = True
    #: how far (m) the foot moved FORWARD relative to the pelvis during its stance, beyond where it struck
    #: (a planted foot only moves backward relative to the pelvis; much more than noise means the legs were
    #: swapped or merged there)
    stance_forward_m: float = float("nan")


def _at_many(series: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Vectorised :func:`_at` for an array of fractional frames."""
    i = np.clip(np.floor(ts).astype(int), 0, len(series) - 2)
    w = np.clip(ts - i, 0.0, 1.0)[:, None]
    return (1 - w) * series[i] + w * series[i + 1]


def _foot_point(xyz: np.ndarray, feet: dict[str, np.ndarray] | None, side: str) -> np.ndarray:
    name = f"{_PREFIX[side]}_heel"
    if feet and name in feet:
        return feet[name]
    return xyz[:, J[f"{_PREFIX[side]}_ankle"]]


def _at(series: np.ndarray, t: float) -> np.ndarray:
    """Linear interpolation of a ``(T, ...)`` series at fractional frame ``t``."""
    i = int(np.clip(np.floor(t), 0, len(series) - 2))
    w = float(np.clip(t - i, 0.0, 1.0))
    return (1 - w) * series[i] + w * series[i + 1]


def build_strides(
    events: tuple[GaitEvent, ...],
    xyz: np.ndarray,
    frame: GaitFrame,
    fps: float,
    bouts: list[Bout],
    angles: pd.DataFrame,
    feet: dict[str, np.ndarray] | None = None,
) -> list[StrideWindow]:
    """One :class:`Stride` per pair of consecutive heel strikes of a foot inside one bout.

    Lengths use the heel points when ``feet`` has them (GAITRite and the synthetic truth measure heel to
    heel), else the ankle joints (a few centimetres shorter: the leading foot is dorsiflexed, the trailing
    one plantarflexed at heel strike).
    """
    tf = {k: sorted(e.time_s * fps for e in events if (e.side, e.kind) == k)
          for k in [(s, kind) for s in "LR" for kind in ("heel_strike", "toe_off")]}
    out: list[StrideWindow] = []
    heels = bool(feet) and all(f"{_PREFIX[s]}_heel" in feet for s in "LR")

    def in_bout(t0: float, t1: float) -> bool:
        return any(b.start <= t0 and t1 <= b.stop - 1 for b in bouts)

    def between(times: list[float], lo: float, hi: float) -> list[float]:
        return [t for t in times if lo < t < hi]

    for s in ("L", "R"):
        c = _OTHER[s]
        a_s, a_c = _foot_point(xyz, feet, s), _foot_point(xyz, feet, c)
        pelvis = xyz[:, J["pelvis"]]
        hs = tf[(s, "heel_strike")]
        for t0, t1 in zip(hs[:-1], hs[1:]):
            if not in_bout(t0, t1):
                continue
            stride_t = (t1 - t0) / fps
            lat = _at(frame.lateral, t1)
            to = between(tf[(s, "toe_off")], t0, t1)
            chs = between(tf[(c, "heel_strike")], t0, t1)
            cto = between(tf[(c, "toe_off")], t0, chs[0]) if chs else []
            stance = (to[0] - t0) / fps / stride_t * 100 if len(to) == 1 else np.nan
            step_t = (t1 - chs[-1]) / fps if len(chs) == 1 else np.nan
            step_len = _max_separation(a_s, a_c, frame.forward, t1, 0.1 * (t1 - t0))
            stance_end = to[0] if len(to) == 1 else t0 + 0.6 * (t1 - t0)
            stance_fwd = _forward_excursion(a_s - pelvis, frame.forward, t0, stance_end)
            width = float((_at(a_s, t1) - _at(a_c, t1)) @ lat) * (1.0 if s == "L" else -1.0)
            if len(chs) == 1 and len(cto) == 1 and len(to) == 1 and to[0] > chs[0]:
                ds = ((cto[0] - t0) + (to[0] - chs[0])) / fps / stride_t * 100
            else:
                ds = np.nan
            if frame.travels:
                f_mean = _at(frame.forward, (t0 + t1) / 2)
                stride_len = float((_at(a_s, t1) - _at(a_s, t0)) @ f_mean)
                speed = float((_at(pelvis, t1) - _at(pelvis, t0)) @ f_mean) / stride_t
            else:
                if len(chs) == 1:
                    prev_step = _max_separation(a_c, a_s, frame.forward, chs[0], 0.1 * (t1 - t0))
                    stride_len = (step_len + prev_step) * (1.0 if heels else ANKLE_STEPS_TO_STRIDE)
                else:
                    stride_len = np.nan
                speed = stride_len / stride_t
            i0, i1 = int(np.floor(t0)), int(np.ceil(t1)) + 1
            rom = {}
            for key, col in (("arm", "shoulder_flexion"), ("knee", "knee_flexion"), ("hip", "hip_flexion")):
                col = f"{col}_{s}"
                seg = angles[col].to_numpy()[i0:i1] if col in angles else np.array([np.nan])
                rom[key] = float(np.ptp(seg)) if np.all(np.isfinite(seg)) else float("nan")
            stride = Stride(
                side=s,
                start_frame=int(round(t0)),
                end_frame=int(round(t1)),
                stride_time_s=float(stride_t),
                stride_length_m=float(stride_len),
                step_time_s=float(step_t),
                step_length_m=step_len,
                stance_pct=float(stance),
                swing_pct=float(100 - stance) if np.isfinite(stance) else float("nan"),
                double_support_pct=float(ds),
                step_width_m=width,
                speed_m_s=float(speed),
                toe_off_frame=int(round(to[0])) if len(to) == 1 else None,
            )
            bout_of = [b for b in bouts if b.start <= t0 and t1 <= b.stop - 1]
            seen = any(bout_of[0].start <= t <= bout_of[0].stop - 1 for t in tf[(c, "heel_strike")])
            out.append(StrideWindow(stride, rom["arm"], t0, t1, rom["knee"], rom["hip"], len(chs), seen,
                                    stance_fwd))
    out.sort(key=lambda w: (w.start_time_frame, w.stride.side))
    return out


#: Stride plausibility (see :func:`drop_implausible_strides`): a stride shorter than this fraction of the walk's
#: median stride time, or longer than ``MAX_STRIDE_TIME_RATIO`` times it, cannot be one stride of a steady walk
#: (stride-time CV is 2-3 % in healthy adults and rarely above 10-15 % even in Parkinson's disease or after a
#: stroke: Hausdorff 2005, J NeuroEng Rehabil 2:19); neither can a step shorter than ``MIN_STEP_RATIO`` of the
#: median step (step-length asymmetry ratios after stroke reach about 1.5-2, Patterson et al. 2010).
MIN_STRIDE_TIME_RATIO = 0.6
MAX_STRIDE_TIME_RATIO = 1.6
MIN_STEP_RATIO = 0.35
#: Fewer strides than this: no walk-relative rule (the median of two strides says nothing about which is wrong).
MIN_STRIDES_FOR_RELATIVE_RULES = 3
#: No walking stride is shorter: 0.6 s is a cadence of 200 steps/min, beyond the fastest walking of adults
#: (about 140-150 steps/min; Tudor-Locke et al. 2018, Br J Sports Med 52:776) and of toddlers (about 180).
MIN_STRIDE_TIME_S = 0.6
#: A stride this much longer than the one before it (either foot) hides a missed heel strike: stride time
#: changes little from one stride to the next (CV 2-3 % healthy, rarely above 10-15 % in patients; Hausdorff
#: 2005), and a missed heel strike makes a stride about 1.5-2 times the previous one.
MAX_STRIDE_GROWTH = 1.4
#: A planted foot only moves backward relative to the pelvis; forward beyond this during stance (lifter jitter
#: after 6 Hz smoothing is about 1-2 cm) means the 2D detector swapped or merged the legs there.
STANCE_FORWARD_TOL_M = 0.08


def drop_implausible_strides(windows: list[StrideWindow]) -> tuple[list[StrideWindow], list[str]]:
    """The strides that can be real, and a note for each one dropped (never averaged into the result).

    A stride is dropped when it is shorter than any walking stride (:data:`MIN_STRIDE_TIME_S`), more than
    :data:`MAX_STRIDE_GROWTH` times the stride before it, when the other foot's heel strikes do not alternate
    with it (none or two inside it, where that foot was seen striking in the bout), when its step is not forward,
    or, with at least :data:`MIN_STRIDES_FOR_RELATIVE_RULES` strides, when its time or its step length is far
    from the walk's median (the constants above). Such strides come from missed or spurious events (a swap of the
    legs, a foot the detector lost), not from the patient: a clinician must not read them as variability.

    A stride whose foot was not still in stance (it moved forward relative to the pelvis by more than
    :data:`STANCE_FORWARD_TOL_M`: the legs' labels were swapped or merged inside it) is kept for what needs no
    labels -- its times and step length, from the heel strikes and the feet's separation found on the front foot
    -- and its stance, swing, double support and joint ranges are left out, with a note. Dropping it whole left a
    real walk (the side clip ``sarwesh_side``, heel strikes within 3 frames of the video's) with no stride at all.
    """
    times = np.array([w.stride.stride_time_s for w in windows], dtype=float)
    steps = np.array([w.stride.step_length_m for w in windows], dtype=float)
    relative = len(windows) >= MIN_STRIDES_FOR_RELATIVE_RULES
    med_t = float(np.nanmedian(times)) if relative and np.isfinite(times).any() else float("nan")
    med_s = float(np.nanmedian(steps)) if relative and np.isfinite(steps).any() else float("nan")
    kept, notes = [], []
    prev_t = float("nan")  # the last kept stride before, in time order (either foot)
    for w, t, step in zip(windows, times, steps):
        st = w.stride
        where = f"{'Left' if st.side == 'L' else 'Right'} stride at frames {st.start_frame}-{st.end_frame}"
        why, cause = None, "missed or spurious gait event"
        if np.isfinite(t) and t < MIN_STRIDE_TIME_S:
            why = f"its time {t:.2f} s is shorter than any walking stride ({MIN_STRIDE_TIME_S:.1f} s)"
        elif np.isfinite(prev_t) and np.isfinite(t) and t > MAX_STRIDE_GROWTH * prev_t:
            why = f"its time {t:.2f} s is more than {MAX_STRIDE_GROWTH:g} times the stride before it ({prev_t:.2f} s)"
        elif w.contralateral_seen and w.contralateral_strikes != 1:
            why = (f"the other foot struck {w.contralateral_strikes} times inside it (heel strikes must alternate)")
        elif np.isfinite(step) and step <= 0:
            why = f"its step length is {step:.2f} m (the foot did not land ahead of the other)"
        elif np.isfinite(med_t) and not MIN_STRIDE_TIME_RATIO * med_t <= t <= MAX_STRIDE_TIME_RATIO * med_t:
            why = f"its time {t:.2f} s is far from the walk's median stride time {med_t:.2f} s"
        elif np.isfinite(med_s) and np.isfinite(step) and step < MIN_STEP_RATIO * med_s:
            why = f"its step length {step:.2f} m is below {MIN_STEP_RATIO:.0%} of the walk's median step {med_s:.2f} m"
        if why is None:
            if np.isfinite(w.stance_forward_m) and w.stance_forward_m > STANCE_FORWARD_TOL_M:
                w = _without_labelled_values(w)
                notes.append(f"{where}: stance, swing, double support and the joint ranges not measured: the foot "
                             f"moved {w.stance_forward_m:.2f} m forward relative to the pelvis during its stance (a "
                             "planted foot only moves backward), so the legs were swapped or merged there, e.g. by "
                             "the 2D detector; its timing and step length are kept (the heel strikes and steps are "
                             "found on the front foot, whichever label it has).")
            kept.append(w)
            prev_t = t if np.isfinite(t) else prev_t
        else:
            notes.append(f"{where} left out: {why}; it cannot be a real stride ({cause}).")
    return kept, notes


def _without_labelled_values(w: StrideWindow) -> StrideWindow:
    """``w`` with the values that need the legs' labels inside the stride (the toe off of this foot, hence stance,
    swing and double support; the per-leg joint ranges) set to not measured. The stride's times and its step length
    come from the heel strikes and the feet's separation, found label-free (:mod:`gaitscope.analysis.events`)."""
    nan = float("nan")
    stride = replace(w.stride, stance_pct=nan, swing_pct=nan, double_support_pct=nan, toe_off_frame=None)
    return replace(w, stride=stride, knee_rom_deg=nan, hip_rom_deg=nan)


def _forward_excursion(rel: np.ndarray, fwd: np.ndarray, t0: float, t1: float) -> float:
    """Largest forward movement of a foot relative to the pelvis (``rel`` (T, 3)) during ``[t0, t1]`` (m, >= 0):
    how far it came forward again from the farthest back it had been. Zero for a planted foot, which only
    moves backward relative to the pelvis; a swap of the legs shows as a jump forward."""
    ts = np.arange(t0, t1 + 1e-9, 0.5)
    ts = ts[(ts >= 0) & (ts <= len(rel) - 1)]
    if ts.size < 2:
        return float("nan")
    x = (_at_many(rel, ts) * _at_many(fwd, ts)).sum(-1)
    if not np.isfinite(x).all():
        return float("nan")
    return float(np.max(x - np.minimum.accumulate(x)))


def _max_separation(lead: np.ndarray, trail: np.ndarray, fwd: np.ndarray, t: float, half_window: float) -> float:
    """Largest separation of the feet along the progression within +/- ``half_window`` frames of ``t``.

    The feet are farthest apart around initial contact, both planted (double support), so the maximum near the
    detected heel strike is the distance between where the two feet are planted, insensitive to a frame or two
    of event-timing error.
    """
    ts = np.arange(t - half_window, t + half_window + 1e-9, 0.25)
    ts = ts[(ts >= 0) & (ts <= len(lead) - 1)]
    if ts.size == 0:
        return float("nan")
    d = ((_at_many(lead, ts) - _at_many(trail, ts)) * _at_many(fwd, ts)).sum(-1)
    if not np.isfinite(d).any():
        return float("nan")
    # The events put the striking foot in front (events.py finds heel strikes on the front foot, whichever
    # label it has), so the step is the feet's largest separation, whatever its sign: a negative one only says
    # that the 2D detector had the labels swapped at that instant.
    return float(np.nanmax(np.abs(d)))


def _stats(v: np.ndarray) -> tuple[float, float, float, int]:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    m = float(v.mean())
    sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    cv = float(100 * sd / abs(m)) if v.size > 1 and m != 0 else float("nan")
    return m, sd, cv, int(v.size)


def _flag(value: float, rng: NormalRange | None) -> str:
    if rng is None or not np.isfinite(value):
        return "unknown"
    if value < rng.low:
        return "low"
    if value > rng.high:
        return "high"
    return "normal"


def summarize(
    windows: list[StrideWindow],
    normals: dict[str, NormalRange] | None = None,
    curve_rom: dict[tuple[str, str], float] | None = None,
) -> tuple[ParameterSummary, ...]:
    """Per-side and overall summaries, then variability (``<name>_cv``) and symmetry entries.

    ``curve_rom`` maps ``(parameter, side)`` (e.g. ``("knee_rom", "L")``) to the range of the side's mean
    curve: with noisy input the per-stride range is inflated by the noise peaks, while the mean over strides
    is not, so when given it replaces the per-stride mean as the value (SD stays the per-stride SD).
    """
    normals = normals or {}
    curve_rom = curve_rom or {}
    rows: list[ParameterSummary] = []
    by_side: dict[str, dict[str, np.ndarray]] = {}
    for side in ("L", "R", "both"):
        ws = [w for w in windows if side == "both" or w.stride.side == side]
        vals: dict[str, np.ndarray] = {}
        for name in PARAMETERS:
            if name == "cadence":
                v = 120.0 / np.array([w.stride.stride_time_s for w in ws], dtype=float)
            elif name == "arm_swing":
                v = np.array([w.arm_swing_deg for w in ws], dtype=float)
            elif name == "knee_rom":
                v = np.array([w.knee_rom_deg for w in ws], dtype=float)
            elif name == "hip_rom":
                v = np.array([w.hip_rom_deg for w in ws], dtype=float)
            else:
                v = np.array([getattr(w.stride, _STRIDE_COLUMN[name]) for w in ws], dtype=float)
            vals[name] = v
        by_side[side] = vals
        for name, (label, unit) in PARAMETERS.items():
            if name in ("cadence", "speed") and side != "both":
                continue
            m, sd, cv, n = _stats(vals[name])
            if name == "cadence" and n:
                st = vals["stride_time"]
                m = float(120.0 / np.nanmean(st))  # cadence of the mean stride, not mean of ratios
            if name in ("knee_rom", "hip_rom"):
                sides = ("L", "R") if side == "both" else (side,)
                roms = [curve_rom[(name, s)] for s in sides if (name, s) in curve_rom]
                if roms:
                    m = float(np.mean(roms))
            rng = normals.get(name)
            rows.append(ParameterSummary(
                name=name, label=label, unit=unit, side=side, value=m, sd=sd, cv_pct=cv, n=n,
                normal_low=rng.low if rng else float("nan"),
                normal_high=rng.high if rng else float("nan"),
                normal_source=rng.source if rng else "no reference value available",
                flag=_flag(m, rng),  # type: ignore[arg-type]
            ))
    for name in VARIABILITY_OF:
        label, _ = PARAMETERS[name]
        for side in ("L", "R", "both"):
            m, sd, cv, n = _stats(by_side[side][name])
            rows.append(ParameterSummary(
                name=f"{name}_cv", label=f"{label} variability (CV)", unit="%", side=side, value=cv,
                sd=float("nan"), cv_pct=float("nan"), n=n,
                normal_source="no reference value available",
            ))
    for name in SYMMETRY_OF:
        label, _ = PARAMETERS[name]
        left, _, _, nl = _stats(by_side["L"][name])
        right, _, _, nr = _stats(by_side["R"][name])
        left = curve_rom.get((name, "L"), left)
        right = curve_rom.get((name, "R"), right)
        si = 200.0 * (left - right) / (left + right) if nl and nr and (left + right) != 0 else float("nan")
        ratio = max(left, right) / min(left, right) if nl and nr and min(left, right) > 0 else float("nan")
        rows.append(ParameterSummary(
            name=f"{name}_symmetry_index", label=f"{label} symmetry index (2(L-R)/(L+R))", unit="%",
            side="both", value=float(si), n=min(nl, nr), normal_source="0 = symmetric; no reference range",
        ))
        rows.append(ParameterSummary(
            name=f"{name}_symmetry_ratio", label=f"{label} symmetry ratio (larger/smaller)", unit="ratio",
            side="both", value=float(ratio), n=min(nl, nr), normal_source="1 = symmetric; no reference range",
        ))
    return tuple(rows)
