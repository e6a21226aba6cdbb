"""``analyze_gait``: from a 3D motion to the numbers a gait clinician reads (:class:`GaitReport`).

Order of work (each step in its own module):

1. :mod:`filtering` - fill short gaps (PCHIP), low-pass 6 Hz zero-lag Butterworth;
2. :mod:`vertical` - for 3D in a camera's axes, the camera's roll from the motion (mean trunk);
   :mod:`frames` - stride period, body-fixed gait frame (progression / lateral / vertical), turns and
   standing trimmed, straight walking bouts;
3. :mod:`kinematics` - joint angles over time in documented conventions;
4. :mod:`events` - heel strike / toe off per foot, Zeni et al. 2008, with a quality per event;
5. :mod:`parameters` - strides, spatiotemporal parameters, variability, symmetry;
6. :mod:`normative` - normal ranges (age/sex) and speed-matched curve bands;
7. :mod:`scores` - GVS / GPS (Baker et al. 2009).

It works on any 3D source: lifter output (root-relative, camera frame, up = (0, -1, 0)), motion capture and
the synthetic walker (world frame, pelvis travelling). A motion with no analysable walking raises
:class:`gaitscope.errors.AnalysisError` instead of returning zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline

from gaitscope.analysis import events as ev
from gaitscope.analysis import frames as fr
from gaitscope.analysis.filtering import DEFAULT_CUTOFF_HZ, smooth_and_fill
from gaitscope.analysis.kinematics import has_ankle, joint_angles
from gaitscope.analysis.normative import PCT, CurveReference, SpatiotemporalReference, rom_range
from gaitscope.analysis.parameters import StrideWindow, build_strides, drop_implausible_strides, summarize
from gaitscope.analysis.scores import GPS_VARIABLES, TD_GPS_SD_DEG, compute_scores, expected_reference_gps
from gaitscope.analysis.vertical import estimate_vertical
from gaitscope.errors import AnalysisError
from gaitscope.records import GaitCurve, GaitReport, GaitScores, Motion3D, ParameterSummary
from gaitscope.skeleton import FOOT_POINTS, H36M_JOINTS, NUM_JOINTS, J

ANALYSIS_VERSION = ("gaitscope-analysis 0.3.4 (camera roll from the motion, Zeni 2008 events on the front/back foot, "
                    "events at a bout's ends as the data confirm them, left/right doubts said, "
                    "ankle toe-off latency, root-relative stride from ankle steps x 1.10, implausible strides left "
                    "out, stance not measured across a leg swap, turns net of the viewing ray, "
                    "Baker 2009 per-cycle GVS, 6 Hz Butterworth, Schwartz 2008 bands, ROM bands, GPS normal value)")

#: curve name -> (angle column stem, sided column?)
CURVES: dict[str, bool] = {
    "hip_flexion": True,
    "hip_abduction": True,
    "knee_flexion": True,
    "ankle_dorsiflexion": True,
    "foot_progression": True,
    "pelvis_tilt": False,
    "pelvis_obliquity": True,
    "pelvis_rotation": True,
    "trunk_tilt": False,
    "trunk_obliquity": True,
    "shoulder_flexion": True,
    "elbow_flexion": True,
}

MIN_FRAMES = 8
NOTED_ROLL_DEG = 1.0  # a camera roll found in the motion is reported from this size on
LEG_JOINTS = frozenset(J[n] for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                                      "right_ankle"))
NOISY_MM = 8.0  # jitter above which per-stride ranges of motion are replaced by the mean curve's range
# Winter 2009 (Biomechanics and Motor Control of Human Movement, Fig. 4.1) segment lengths as height fractions:
_THIGH_SHANK_PER_HEIGHT = 0.491  # greater trochanter (0.530) to floor minus ankle height (0.039)
_LEG_PER_HEIGHT = 0.530  # greater trochanter height


@dataclass(frozen=True)
class _Prepared:
    """The motion in metres, low-passed and gap-filled, with what is known about each frame."""

    fps: float
    xyz_raw: np.ndarray  # (T, 17, 3) scaled, as the source gave it
    xyz: np.ndarray  # (T, 17, 3) smoothed and filled
    valid: np.ndarray  # (T,) the source's own validity
    usable: np.ndarray  # (T,) frames the analysis may use
    feet: dict[str, np.ndarray]
    scale_note: str
    height_used: float | None
    cutoff_hz: float = DEFAULT_CUTOFF_HZ


@dataclass(frozen=True)
class _Walking:
    """Where the person walks straight: the gait frame, the stride period and the bouts of straight walking."""

    frame: fr.GaitFrame
    stride_s: float
    bouts: list[fr.Bout]


def analyze_gait(
    motion: Motion3D,
    *,
    height_m: float | None = None,
    age: float | None = None,
    sex: str | None = None,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
    curve_reference: CurveReference | None = None,
    spatiotemporal_reference: SpatiotemporalReference | None = None,
) -> GaitReport:
    """Analyze one walk. ``height_m`` (subject height) rescales lengths that rest on an assumed height and
    refines the leg length used for speed matching; ``age`` (years) and ``sex`` ("M"/"F") select normal
    ranges. ``curve_reference`` / ``spatiotemporal_reference`` replace the bundled reference data.

    The steps, each a function below: prepare the joints (:func:`_prepare`), find the straight walking
    (:func:`_find_walking`), angles, events and strides (:func:`_strides`), reference values
    (:func:`_references`), curves and scores, then the parameters. Each step adds its caveats to ``warnings``."""
    warnings: list[str] = []
    prep = _prepare(motion, height_m, cutoff_hz, warnings)
    walking = _find_walking(prep, motion, warnings)
    angles, events, windows = _strides(prep, walking, motion, warnings)
    normals, cref, speed_class = _references(prep, windows, height_m, age, sex, curve_reference,
                                             spatiotemporal_reference, warnings)
    curves, cycles = _curves(angles, windows, cref, speed_class)
    scores = _scores(curves, cycles, prep.feet, warnings)
    parameters = _parameters(prep, windows, curves, scores, normals, cref, speed_class, warnings)

    t = motion.n_frames
    angles.insert(0, "time_s", np.arange(t) / prep.fps)
    angles.index.name = "frame"
    return GaitReport(
        fps=prep.fps,
        n_frames=t,
        duration_s=t / prep.fps,
        events=events,
        strides=tuple(w.stride for w in windows),
        parameters=parameters,
        curves=tuple(curves),
        scores=scores,
        scale_note=prep.scale_note,
        source=motion.source,
        analysis_version=ANALYSIS_VERSION,
        warnings=tuple(warnings),
        angles=angles,
        height_m=prep.height_used,
    )


def _prepare(motion: Motion3D, height_m: float | None, cutoff_hz: float, warnings: list[str]) -> _Prepared:
    """Check the input, scale it to metres and low-pass it (gaps up to 0.25 s filled)."""
    fps = float(motion.fps)
    t = motion.n_frames
    if t < MIN_FRAMES:
        raise AnalysisError(
            f"The motion has only {t} frames ({t / fps:.2f} s): too short for one stride.",
            "Record at least 3-4 s of steady walking (several strides).",
        )
    if not cutoff_hz > 0:
        raise ValueError(f"cutoff_hz must be positive, got {cutoff_hz}")
    if height_m is not None and not (0.5 <= height_m <= 2.5):
        raise AnalysisError(f"Height {height_m} m is implausible.", "Give the subject's height in metres, e.g. 1.72.")

    xyz_raw = np.asarray(motion.xyz_m, dtype=float)
    valid = np.ones(t, dtype=bool) if motion.valid is None else np.asarray(motion.valid, dtype=bool)
    scale, scale_note, height_used = _scale(motion, xyz_raw, valid, height_m)
    xyz_raw = xyz_raw * scale

    if not np.any(valid & np.any(np.isfinite(xyz_raw.reshape(t, -1)), axis=1)):
        raise AnalysisError("The motion has no valid frame.", "Check the 3D reconstruction of this recording.")
    xyz, usable, absent = _smooth_joints(xyz_raw, valid, fps, cutoff_hz)
    if absent:
        warnings.append(
            "The 3D source has no " + ", ".join(H36M_JOINTS[j] for j in absent) + " joint(s): the angles that need "
            "them are not reported."
        )
    feet = {}
    for name in FOOT_POINTS:
        if name in motion.feet:
            f, _ = smooth_and_fill(np.asarray(motion.feet[name], dtype=float) * scale, valid, fps, cutoff_hz)
            feet[name] = f
    if usable.mean() < 1.0:
        warnings.append(
            f"{100 * (1 - usable.mean()):.0f} % of frames were missing and could not be filled (gaps longer "
            "than 0.25 s); they are left out."
        )
    if not usable.any():
        raise AnalysisError("The motion has no valid frame.", "Check the 3D reconstruction of this recording.")
    return _Prepared(fps, xyz_raw, xyz, valid, usable, feet, scale_note, height_used, cutoff_hz)


def _find_walking(prep: _Prepared, motion: Motion3D, warnings: list[str]) -> _Walking:
    """The vertical, the gait frame and the stretches of straight walking (turns and standing left out)."""
    fps, xyz, usable = prep.fps, prep.xyz, prep.usable
    t = len(xyz)
    up_declared, roll_note = camera_vertical(np.where(usable[:, None, None], xyz, np.nan), motion)
    if roll_note:
        warnings.append(roll_note)
    up = np.asarray(up_declared, dtype=float)
    stride_s = fr.estimate_stride_period_s(np.where(usable[:, None, None], xyz, np.nan), fps, up)
    frame, frame_warn = fr.build_gait_frame(
        np.where(usable[:, None, None], xyz, np.nan), fps, up_declared, motion.root_relative, stride_s
    )
    warnings += frame_warn
    state = fr.frame_states(xyz, usable, frame, fps, stride_s, motion.view_yaw_rad)
    bouts = fr.split_bouts(state, fps, min_s=stride_s)
    n_turn = int(np.sum(state == "turn"))
    n_still = int(np.sum(state == "still"))
    if n_turn:
        warnings.append(f"{n_turn / fps:.1f} s of turning were left out of the analysis.")
    if n_still:
        warnings.append(f"{n_still / fps:.1f} s of standing still (or no stepping) were left out.")
    if not bouts:
        raise AnalysisError(
            f"No straight walking of at least one stride ({stride_s:.1f} s) was found in {t / fps:.1f} s of motion "
            f"(turning {n_turn / fps:.1f} s, standing {n_still / fps:.1f} s, missing {np.sum(state == 'gap') / fps:.1f} s).",
            "Record the subject walking straight for several strides.",
        )
    return _Walking(frame, stride_s, bouts)


def _strides(prep: _Prepared, walking: _Walking, motion: Motion3D, warnings: list[str]):
    """Joint angles over time, gait events and the strides that can exist: ``(angles, events, windows)``."""
    fps, xyz, feet = prep.fps, prep.xyz, prep.feet
    t = len(xyz)
    frame, bouts = walking.frame, walking.bouts
    angles = joint_angles(xyz, frame, feet or None)
    angles[~prep.usable] = np.nan
    angles = angles.loc[:, angles.notna().any()]  # angles the source cannot give (no such joints)
    measured = prep.valid & np.all(np.isfinite(prep.xyz_raw[:, sorted(LEG_JOINTS)]), axis=(1, 2))
    events = ev.detect_events(xyz, frame, fps, walking.stride_s, [(b.start, b.stop) for b in bouts], feet or None,
                              measured=measured, label_free=not ev.walks_along_depth(frame, motion.root_relative),
                              cutoff_hz=prep.cutoff_hz, video_ends=motion.root_relative, notes=warnings)
    windows, dropped = drop_implausible_strides(build_strides(events, xyz, frame, fps, bouts, angles, feet or None))
    warnings += dropped
    if not windows:
        raise AnalysisError(
            f"No complete stride (heel strike to heel strike of the same foot) was found in {t / fps:.1f} s of "
            f"motion ({len(events)} gait events detected)"
            + (f"; {len(dropped)} found could not be real and were left out ({' '.join(dropped)})" if dropped else "")
            + ".",
            "The recording is too short or the subject is not walking; record several strides of steady walking.",
        )
    sides = {w.stride.side for w in windows}
    if len(windows) < 4:
        warnings.append(f"Only {len(windows)} complete strides: variability (SD, CV) and symmetry are unreliable.")
    if len(sides) < 2:
        warnings.append(f"Complete strides were found for one foot only ({sorted(sides)[0]}); symmetry is not available.")
    if not has_ankle(feet):
        warnings.append(
            "Gait events come from the ankle joints (no heel/toe points): on real walking with force plates this "
            "finds heel strike and toe off 20-60 ms early (Zeni et al. 2008 coordinate method)."
        )
    low_q = [e for e in events if e.quality < 0.5]
    if low_q:
        warnings.append(f"{len(low_q)} of {len(events)} gait events are uncertain (quality < 0.5).")
    return angles, events, windows


def _references(prep: _Prepared, windows, height_m: float | None, age: float | None, sex: str | None,
                curve_reference: CurveReference | None, spatiotemporal_reference: SpatiotemporalReference | None,
                warnings: list[str]):
    """Normal ranges for the spatiotemporal parameters (age, sex) and the curve reference's speed class:
    ``(normals, curve reference, speed class)``."""
    st_ref = spatiotemporal_reference or SpatiotemporalReference.default()
    normals, notes = st_ref.ranges(age, sex)
    warnings += notes
    speeds = np.array([w.stride.speed_m_s for w in windows])
    speed = float(np.nanmean(speeds)) if np.isfinite(speeds).any() else None
    leg = _leg_length(prep.xyz, prep.usable, height_m)
    cref = curve_reference or CurveReference.schwartz2008()
    speed_class, class_note = cref.match_class(speed, leg)
    if cref.children:
        warnings.append(
            f"Joint-angle bands are CHILDREN's reference values ({cref.name}; {class_note}); no adult curve set "
            "with documented provenance is bundled."
        )
    else:  # a lab's own (or another) reference: say which one the bands and the GPS compare against
        warnings.append(f"Joint-angle bands and GVS/GPS are relative to {cref.name} ({class_note}).")
    return normals, cref, speed_class


def _scores(curves, cycles, feet: dict[str, np.ndarray], warnings: list[str]) -> GaitScores:
    """GVS and GPS (Baker et al. 2009), with what they could not include."""
    if not has_ankle(feet):
        warnings.append(
            "Ankle dorsiflexion and foot progression cannot be measured from 17 joints (no heel/toe points); "
            "they are not reported."
        )
    scores = compute_scores(curves, cycles=cycles)
    used = scores.variable_names()
    if used:
        missing = [v for v in GPS_VARIABLES if v not in used]
        warnings.append(
            f"GPS (Baker et al. 2009: GVS per gait cycle, averaged; pelvic variables counted once) from {len(used)} "
            f"variables ({', '.join(used)}); Baker's other variables "
            f"({', '.join(missing + ['pelvis tilt', 'hip rotation'])}) are not measurable here, so the GPS is "
            "not directly comparable with a marker-based GPS."
        )
    return scores


def _parameters(prep: _Prepared, windows, curves, scores: GaitScores, normals, cref: CurveReference, speed_class,
                warnings: list[str]) -> tuple[ParameterSummary, ...]:
    """The spatiotemporal parameters, ranges of motion and GPS over the strides, with their normal ranges."""
    # ROM is max - min per stride, averaged (the clinical definition). With noisy joints that is inflated by
    # the noise peaks, so above NOISY_MM of high-frequency jitter the ROM of the mean curve is used instead.
    jitter_mm = _jitter_mm(prep.xyz_raw, prep.xyz, prep.valid)
    curve_rom = None
    if jitter_mm > NOISY_MM:
        curve_rom = {
            (f"{c.name.split('_')[0]}_rom", c.side): float(np.ptp(c.mean))
            for c in curves
            if c.name in ("knee_flexion", "hip_flexion")
        }
        warnings.append(
            f"The 3D joints jitter by about {jitter_mm:.0f} mm from frame to frame; ranges of motion are read from "
            "the mean curve over strides rather than stride by stride."
        )
    # Ranges of motion get the normal band of the reference curves they come from (same speed class).
    for param, curve in (("knee_rom", "knee_flexion"), ("hip_rom", "hip_flexion")):
        band = cref.band(speed_class, curve)
        if band is not None:
            normals[param] = rom_range(band, curve.replace("_", " "))
    return summarize(windows, normals, curve_rom) + _gps_parameters(scores, curves, cref)


def camera_vertical(xyz: np.ndarray, motion: Motion3D) -> tuple[tuple[float, float, float], str | None]:
    """The vertical to analyze ``xyz`` (smoothed, NaN where unusable) with, and the note to report, if any.

    World-frame motion (motion capture, the walker) keeps its declared vertical. In a camera's axes (lifter
    output) the camera's roll about the walking direction is estimated from the motion
    (:func:`~gaitscope.analysis.vertical.estimate_vertical`), except in frontal and back views: there the
    walking line it turns about rests on the lifter's depth, its weakest axis, so the declared vertical stays
    (a reasoned choice; on the rendered back views it made no measurable difference either way).
    """
    if not motion.root_relative:
        return motion.up, None
    stride_s = fr.estimate_stride_period_s(xyz, motion.fps, np.asarray(motion.up, dtype=float))
    frame, _ = fr.build_gait_frame(xyz, motion.fps, motion.up, True, stride_s)
    if ev.walks_along_depth(frame, True):
        return motion.up, None
    vertical = estimate_vertical(xyz, motion.up)
    note = vertical.note if vertical.used and vertical.tilt_deg >= NOTED_ROLL_DEG else None
    return vertical.up, note


def _gps_parameters(scores: GaitScores, curves, cref: CurveReference) -> tuple[ParameterSummary, ...]:
    """The GPS as a parameter with a normal value and a flag (``name="gps"``, side both/L/R).

    Normal value: the GPS a subject of the reference set would get against its own bands
    (:func:`~gaitscope.analysis.scores.expected_reference_gps`, over the variables measured here); flagged "high"
    above it + 2 x 1.4 deg, the SD of the GPS of typically developing children (Baker et al. 2009, Gait Posture
    30:265). With the bundled bands this is a CHILDREN's reference, and the source says so.
    """
    expected = expected_reference_gps(curves, scores)
    if not np.isfinite(expected):
        return ()
    high = expected + 2 * TD_GPS_SD_DEG
    who = "typically developing CHILDREN (Schwartz et al. 2008 bands)" if cref.children else cref.name
    source = (f"GPS expected for {who} over the variables measured here: {expected:.1f} deg (RMS of the reference "
              f"band SD); upper limit + 2 x {TD_GPS_SD_DEG} deg, the SD of the GPS of typically developing "
              "children (Baker et al. 2009, Gait Posture 30:265)")
    out = []
    for value, side in ((scores.gps, "both"), (scores.gps_left, "L"), (scores.gps_right, "R")):
        if value is None or not np.isfinite(value):
            continue
        out.append(ParameterSummary(name="gps", label="Gait Profile Score (GPS)", unit="deg", side=side,
                                    value=float(value), normal_low=0.0, normal_high=float(high),
                                    normal_source=source, flag="high" if value > high else "normal"))
    return tuple(out)


def on_source_timeline(report: GaitReport, first_frame: int, *, frame_index: np.ndarray | None = None,
                       time_s: np.ndarray | None = None) -> GaitReport:
    """``report`` with its frames and times counted from the start of the source instead of from the motion's
    first row.

    The 2D stage keeps one stretch of a video (the longest with one credible person), so the motion's row 0 is
    video frame ``first_frame``; a clinician looking for a heel strike must find it at the frame and second the
    exported tables give. Events (frame, time), strides (start, end, toe-off frame) and the angle table (its
    ``frame`` index and ``time_s`` column) are shifted; everything else (durations, parameters, curves) does not
    depend on where the clock starts. Times stay ``frame / fps`` (sub-frame event times shift by the same
    ``first_frame / fps``).

    A variable-frame-rate video's rows are on an even clock that drifts from the video's own frames wherever the
    rate changes; then ``frame_index`` (the video frame of each row) and ``time_s`` (each row's time on the
    video's clock, :attr:`~gaitscope.records.Keypoints2D.time_s`) map every row instead: an event at a fractional
    row gets the time interpolated between its rows and the video frame of the nearest row.
    """
    from dataclasses import replace

    if time_s is not None and frame_index is not None:
        return _on_video_clock(report, np.asarray(frame_index), np.asarray(time_s, dtype=float))
    off = int(first_frame)
    if off == 0:
        return report
    if off < 0:
        raise ValueError(f"first_frame must be >= 0, got {first_frame}")
    dt = off / float(report.fps)
    events = tuple(replace(e, frame=int(e.frame) + off, time_s=float(e.time_s) + dt) for e in report.events)
    strides = tuple(replace(s, start_frame=int(s.start_frame) + off, end_frame=int(s.end_frame) + off,
                            toe_off_frame=None if s.toe_off_frame is None else int(s.toe_off_frame) + off)
                    for s in report.strides)
    angles = report.angles
    if angles is not None:
        angles = angles.copy()
        angles.index = angles.index + off
        if "time_s" in angles:
            angles["time_s"] = angles["time_s"] + dt
    return replace(report, events=events, strides=strides, angles=angles)


def _on_video_clock(report: GaitReport, frame_index: np.ndarray, time_s: np.ndarray) -> GaitReport:
    """:func:`on_source_timeline` for rows with their own video frame and time (variable frame rate)."""
    from dataclasses import replace

    n = len(frame_index)
    if len(time_s) != n or n < 1:
        raise ValueError(f"frame_index and time_s must have one entry per row, got {n} and {len(time_s)}")
    rows = np.arange(n, dtype=float)

    def frame_of(row: float) -> int:
        return int(frame_index[int(np.clip(round(row), 0, n - 1))])

    fps = float(report.fps)
    events = tuple(replace(e, frame=frame_of(e.time_s * fps), time_s=float(np.interp(e.time_s * fps, rows, time_s)))
                   for e in report.events)
    strides = tuple(replace(s, start_frame=frame_of(s.start_frame), end_frame=frame_of(s.end_frame),
                            toe_off_frame=None if s.toe_off_frame is None else frame_of(s.toe_off_frame))
                    for s in report.strides)
    angles = report.angles
    if angles is not None:
        angles = angles.copy()
        idx = np.clip(np.asarray(angles.index, dtype=int), 0, n - 1)
        if "time_s" in angles:
            angles["time_s"] = time_s[idx]
        angles.index = pd.Index(frame_index[idx], name=angles.index.name)
    return replace(report, events=events, strides=strides, angles=angles)


def _jitter_mm(raw: np.ndarray, smooth: np.ndarray, valid: np.ndarray) -> float:
    """Median over joints of the RMS difference between raw and low-passed positions (mm): the input's noise."""
    d = np.linalg.norm(raw - smooth, axis=-1)[valid]  # (frames, joints), NaN where a joint is missing
    n = np.isfinite(d).sum(axis=0)
    per_joint = np.sqrt(np.nansum(d**2, axis=0)[n > 0] / n[n > 0])
    return float(1000 * np.median(per_joint)) if per_joint.size else 0.0


def _smooth_joints(
    xyz: np.ndarray, valid: np.ndarray, fps: float, cutoff_hz: float
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Fill and filter each joint on its own; returns ``(xyz, usable, absent_joints)``.

    A frame is usable when all the leg joints (pelvis, hips, knees, ankles) are, so a marker set without an
    upper body (lower-body motion capture) or a flickering wrist marker does not discard walking frames; the
    angles that need a missing joint are NaN. Raises :class:`AnalysisError` when a leg joint is absent.
    """
    t = xyz.shape[0]
    out = np.full_like(xyz, np.nan)
    usable = np.ones(t, dtype=bool)
    absent = []
    for j in range(NUM_JOINTS):
        finite = np.all(np.isfinite(xyz[:, j]), axis=1) & valid
        if finite.mean() < 0.05:  # (practically) never measured: a joint this source does not have
            absent.append(j)
            continue
        out[:, j], ok = smooth_and_fill(xyz[:, j], valid, fps, cutoff_hz)
        if j in LEG_JOINTS:
            usable &= ok
    missing_legs = [H36M_JOINTS[j] for j in absent if j in LEG_JOINTS]
    if missing_legs:
        raise AnalysisError(
            f"The 3D motion has no {', '.join(missing_legs)} joint: gait cannot be analyzed without the pelvis, "
            "hips, knees and ankles.",
            "Use a marker set or 3D source that provides the lower-body joints.",
        )
    return out, usable, absent


def _thigh_shank_m(xyz: np.ndarray, usable: np.ndarray) -> float:
    segs = []
    for s in ("left", "right"):
        hip, knee, ank = xyz[:, J[f"{s}_hip"]], xyz[:, J[f"{s}_knee"]], xyz[:, J[f"{s}_ankle"]]
        segs.append(np.linalg.norm(knee - hip, axis=1) + np.linalg.norm(ank - knee, axis=1))
    v = np.concatenate([x[usable & np.isfinite(x)] for x in segs])
    return float(np.median(v)) if v.size else float("nan")


def _leg_length(xyz: np.ndarray, usable: np.ndarray, height_m: float | None) -> float | None:
    """Leg length (greater trochanter to floor): 0.53 x height, else from thigh + shank lengths (Winter)."""
    if height_m is not None:
        return _LEG_PER_HEIGHT * height_m
    ts = _thigh_shank_m(xyz, usable)
    return ts * _LEG_PER_HEIGHT / _THIGH_SHANK_PER_HEIGHT if np.isfinite(ts) else None


def _scale(motion: Motion3D, xyz: np.ndarray, valid: np.ndarray,
           height_m: float | None) -> tuple[float, str, float | None]:
    """Scale factor for lengths, the note that says where metres come from, and the subject height they now rest
    on (None: an assumed height or the source's own unit). Reads the motion's typed scale
    (``scale_height_m``, ``scale_assumed``); ``scale_source`` is quoted for people, never parsed."""
    src = motion.scale_source or "unknown scale"
    if motion.scale_assumed and height_m is not None:
        if motion.scale_height_m:
            old = float(motion.scale_height_m)
            basis = f"the assumed {old * 100:.0f} cm"
        else:
            old = _thigh_shank_m(xyz, valid) / _THIGH_SHANK_PER_HEIGHT
            basis = f"a skeleton-estimated height of {old * 100:.0f} cm"
        if np.isfinite(old) and old > 0:
            return height_m / old, (
                f"Lengths rescaled to the subject height {height_m * 100:.0f} cm given for this analysis "
                f"(the 3D source used {basis}: '{src}'). Step/stride length and speed scale with the height."
            ), height_m
    if motion.scale_assumed:
        return 1.0, (
            f"Lengths in metres rest on an ASSUMED body height ('{src}'): step and stride length and speed are "
            "only as right as that assumption (scale with the true height). Enter the subject's height."
        ), None
    subject = motion.scale_height_m
    if motion.root_relative:
        return 1.0, (
            f"Lengths in metres rest on '{src}'; the pelvis does not travel (root-relative 3D), so speed is "
            "stride length / stride time."
        ), subject
    return 1.0, f"Lengths in metres from '{src}'.", subject


def _normalise(values: np.ndarray, w: StrideWindow) -> np.ndarray:
    """Resample one stride of a signal onto 0-100 % (101 points) with a cubic spline through the frames.

    Cubic rather than linear interpolation because at 25-30 fps the swing-phase knee peak usually falls
    between two frames; a straight line between them cuts about 1 deg off the peak. A gap inside the
    stride gives NaN (no curve is invented).
    """
    lo = max(int(np.floor(w.start_time_frame)) - 2, 0)
    hi = min(int(np.ceil(w.end_time_frame)) + 3, len(values))
    seg = values[lo:hi]
    if hi - lo < 4 or not np.all(np.isfinite(seg)):
        return np.full(PCT.shape, np.nan)
    t = w.start_time_frame + PCT / 100.0 * (w.end_time_frame - w.start_time_frame)
    return CubicSpline(np.arange(lo, hi, dtype=float), seg)(t)


def _curves(angles: pd.DataFrame, windows: list[StrideWindow], cref: CurveReference,
            speed_class: str) -> tuple[list[GaitCurve], dict[tuple[str, str], np.ndarray]]:
    """The mean curve per angle and side over its strides, and the strides' single cycles (for Baker's GVS)."""
    out = []
    cycles: dict[tuple[str, str], np.ndarray] = {}
    for name, sided in CURVES.items():
        for side in ("L", "R"):
            col = f"{name}_{side}" if sided else name
            if col not in angles:
                continue
            values = angles[col].to_numpy(float)
            whole = CubicSpline(np.arange(len(values), dtype=float), values) if np.all(np.isfinite(values)) else None
            stack = [
                whole(w.start_time_frame + PCT / 100.0 * (w.end_time_frame - w.start_time_frame))
                if whole is not None else _normalise(values, w)
                for w in windows if w.stride.side == side
            ]
            stack = [c for c in stack if np.all(np.isfinite(c))]
            if not stack:
                continue
            arr = np.vstack(stack)
            cycles[(name, side)] = arr
            band = cref.band(speed_class, name)
            out.append(GaitCurve(
                name=name, side=side, unit="deg", pct=PCT.copy(), mean=arr.mean(0),
                sd=arr.std(0, ddof=1) if len(arr) > 1 else np.zeros(PCT.shape), n_strides=len(arr),
                normal_mean=band.mean if band else None, normal_sd=band.sd if band else None,
                normal_source=band.source if band else "no reference band (not comparable or not published)",
            ))
    return out, cycles
