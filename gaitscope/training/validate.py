"""Validation mode: how well does the video pipeline agree with motion capture? (``gaitscope validate``)

Two ways, both ending in :func:`gaitscope.analysis.agreement.compare_reports`:

* **video + mocap** (:func:`validate_video_against_mocap`): a lab films a walk while its marker system records
  it. The video goes through the product's own path (:func:`gaitscope.pipeline.steps.run_stages`: BlazePose
  -> lifter -> analysis), the markers through :func:`gaitscope.io.mocap.load_motion` and the same
  analysis; the two clocks are aligned by cross-correlating knee and hip angles
  (:func:`gaitscope.analysis.agreement.sync_reports`). This is the protocol of OpenCap's validation (Uhlrich et
  al. 2023) and of Stenum et al. 2021, offered to any lab.
* **mocap only** (:func:`validate_mocap_projected`): no video needed. The marker motion is projected through
  random cameras (:func:`gaitscope.training.lifter_data.sample_camera_path`), the measured BlazePose error
  (:mod:`gaitscope.training.noise_model`) is added, the lifter lifts it and the analysis runs; the result is
  compared with the analysis of the markers themselves and with the force-plate events. The clocks are the
  same by construction. It isolates lifter + analysis from the detector's real failures (so it is an upper
  bound on video accuracy), and it also gives the lifter's MPJPE / PA-MPJPE on real walking.

Reference events are the force-plate ones when the trial has plates (or C3D event labels); otherwise the
marker-based Zeni events of the reference analysis, with a note that says so. Reference cadence and step length
come from the plate-bounded steps when there are any (:func:`plate_step_values`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gaitscope.errors import AnalysisError, InvalidInputError, MocapError
from gaitscope.records import GaitEvent, GaitReport, Motion3D
from gaitscope.skeleton import J

if TYPE_CHECKING:  # the agreement module pulls in scipy.signal (~1 s): `gaitscope --help` must not pay for it
    from gaitscope.analysis.agreement import AgreementResult

PROJECTED_FPS = 30.0  # the video rate a phone records at; mocap is resampled to it before projection
#: Joints a projection needs besides the head (nose/head top are filled from the trunk when missing).
_BODY = [j for j in range(17) if j not in (J["nose"], J["head"])]


@dataclass(frozen=True)
class TrialValidation:
    """The validation of one motion-capture trial: one :class:`AgreementResult` per view (projected mode)
    or one (video mode), the reference analysis, the test analyses and, in projected mode, lifter metrics."""

    trial: str
    mode: str  # "video" or "projected"
    results: tuple[AgreementResult, ...]
    reference: GaitReport
    tests: tuple[GaitReport, ...]
    event_source: str
    lifter_metrics: tuple[dict[str, float], ...] = ()
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------------
# Analysis that survives short trials
# ---------------------------------------------------------------------------------------------------------


def as_lifted(motion: Motion3D) -> Motion3D:
    """Marker motion as a lifter returns it: root-relative (pelvis subtracted, no travel) and without heel or toe
    points. The analysis of this against the analysis of the markers themselves isolates what the product's
    definitions do to a number, with no detector or lifter error (``benchmarks/stride_ratio.py``)."""
    xyz = np.asarray(motion.xyz_m, dtype=np.float64)
    return replace(motion, xyz_m=(xyz - xyz[:, :1]).astype(np.float32), root_relative=True, feet={})


def analyze_or_partial(motion: Motion3D, height_m: float | None = None) -> GaitReport:
    """:func:`analyze_gait`, or, when the trial holds no complete stride (a lab trial of 1.3 s over two force
    plates), a partial report with the events and joint angles only, so events and angles can still be
    compared. Other analysis errors propagate."""
    from gaitscope.analysis.report import ANALYSIS_VERSION, analyze_gait

    try:
        return analyze_gait(motion, height_m=height_m)
    except AnalysisError as exc:
        if not exc.message.startswith(("No complete stride", "No straight walking")):
            raise
        reason = exc.message
    from gaitscope.analysis import events as ev
    from gaitscope.analysis import frames as fr
    from gaitscope.analysis.filtering import smooth_and_fill
    from gaitscope.analysis.kinematics import joint_angles
    from gaitscope.analysis.report import camera_vertical
    from gaitscope.skeleton import FOOT_POINTS

    fps = float(motion.fps)
    valid = np.ones(motion.n_frames, bool) if motion.valid is None else np.asarray(motion.valid, bool)
    raw = np.asarray(motion.xyz_m, float)
    xyz = np.full_like(raw, np.nan)
    usable = np.ones(motion.n_frames, bool)
    for j in range(17):
        if np.isfinite(raw[:, j]).all(axis=1).mean() < 0.05:
            continue
        xyz[:, j], ok = smooth_and_fill(raw[:, j], valid, fps)
        if j in (0, 1, 2, 3, 4, 5, 6):
            usable &= ok
    feet = {k: smooth_and_fill(np.asarray(motion.feet[k], float), valid, fps)[0] for k in FOOT_POINTS
            if k in motion.feet}
    masked = np.where(usable[:, None, None], xyz, np.nan)
    up, _ = camera_vertical(masked, motion)  # as analyze_gait does
    stride_s = fr.estimate_stride_period_s(masked, fps, np.asarray(up))
    frame, _ = fr.build_gait_frame(masked, fps, up, motion.root_relative, stride_s)
    state = fr.frame_states(xyz, usable, frame, fps, stride_s, motion.view_yaw_rad)
    spans = [(b.start, b.stop) for b in fr.split_bouts(state, fps, min_s=stride_s)]
    if not spans:  # a lab trial shorter than the stride-long bout the full analysis asks for: take it whole
        idx = np.flatnonzero(usable)
        spans = [(int(idx[0]), int(idx[-1]) + 1)] if len(idx) else []
    events = ev.detect_events(xyz, frame, fps, stride_s, spans, feet or None,
                              label_free=not ev.walks_along_depth(frame, motion.root_relative),
                              video_ends=motion.root_relative)
    angles = joint_angles(xyz, frame, feet or None)
    angles[~usable] = np.nan
    angles = angles.loc[:, angles.notna().any()]
    angles.insert(0, "time_s", np.arange(motion.n_frames) / fps)
    angles.index.name = "frame"
    params = _step_parameters(events, xyz, feet, frame.forward, fps)
    return GaitReport(fps=fps, n_frames=motion.n_frames, duration_s=motion.duration_s, events=events, strides=(),
                      parameters=params, curves=(), scores={}, scale_note="", source=motion.source,
                      analysis_version=ANALYSIS_VERSION,
                      warnings=(f"partial analysis (events and angles only): {reason}",), angles=angles)


def _step_parameters(events, xyz, feet, forward, fps) -> tuple:
    """Cadence, step time and step length from the steps (contralateral heel strikes 0.3-1.0 s apart) of a
    trial too short for a stride: step length = heel (else ankle) separation along the walk at the second
    heel strike, as in :mod:`gaitscope.analysis.parameters`."""
    from gaitscope.records import ParameterSummary

    hs = sorted((e for e in events if e.kind == "heel_strike"), key=lambda e: e.time_s)
    times, lengths = [], []
    for a, b in zip(hs, hs[1:]):
        dt = b.time_s - a.time_s
        if a.side == b.side or not 0.3 < dt < 1.0:
            continue
        times.append(dt)
        f = int(np.clip(b.frame, 0, len(xyz) - 1))
        point = {s: (feet.get(f"{n}_heel") if feet and f"{n}_heel" in feet else xyz[:, J[f"{n}_ankle"]])
                 for s, n in (("L", "left"), ("R", "right"))}
        d = float(np.dot(point[b.side][f] - point[a.side][f], forward[f]))
        if math.isfinite(d):
            lengths.append(abs(d))
    out = []
    if times:
        out.append(ParameterSummary("cadence", "Cadence", "steps/min", "both", 60.0 / float(np.mean(times)),
                                    n=len(times)))
        out.append(ParameterSummary("step_time", "Step time", "s", "both", float(np.mean(times)), n=len(times)))
    if lengths:
        out.append(ParameterSummary("step_length", "Step length", "m", "both", float(np.mean(lengths)),
                                    n=len(lengths)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------------
# Reference side
# ---------------------------------------------------------------------------------------------------------


def plate_step_values(events: Sequence[GaitEvent], motion: Motion3D,
                      label: str = "force-plate") -> dict[tuple[str, str], tuple[float, str]]:
    """Cadence and step length of the steps the reference events bound (contralateral heel strikes 0.3-1.0 s
    apart while the pelvis moves at >= 80 % of its cruising speed, so steps from or into standing are left
    out). Step length is the distance between the two heels along the walk at the second heel strike."""
    if not events or "left_heel" not in motion.feet or "right_heel" not in motion.feet:
        return {}
    fps = motion.fps
    pel = np.asarray(motion.xyz_m[:, J["pelvis"], :2], float)
    speed = np.linalg.norm(np.gradient(pel, axis=0), axis=-1) * fps
    k = max(int(0.2 * fps), 1)
    ok = np.isfinite(speed)
    speed = np.convolve(np.where(ok, speed, 0.0), np.ones(k), "same") / np.maximum(
        np.convolve(ok.astype(float), np.ones(k), "same"), 1.0)
    cruise = np.nanpercentile(speed, 90)
    hs = sorted((e for e in events if e.kind == "heel_strike"), key=lambda e: e.time_s)
    times, lengths = [], []
    n = motion.n_frames
    for a, b in zip(hs, hs[1:]):
        dt = b.time_s - a.time_s
        fa, fb = min(max(a.frame, 0), n - 1), min(max(b.frame, 0), n - 1)
        if a.side == b.side or not 0.3 < dt < 1.0 or min(speed[fa], speed[fb]) < 0.8 * cruise:
            continue
        lead = motion.feet["left_heel" if b.side == "L" else "right_heel"][fb]
        trail = motion.feet["left_heel" if a.side == "L" else "right_heel"][fb]
        fwd = np.asarray(motion.xyz_m[min(fb + 5, n - 1), 0] - motion.xyz_m[max(fa - 5, 0), 0], float)
        fwd[2] = 0.0
        if not np.linalg.norm(fwd) > 0:
            continue
        length = float(np.dot(lead - trail, fwd / np.linalg.norm(fwd)))
        times.append(dt)
        if math.isfinite(length):
            lengths.append(length)
    out: dict[tuple[str, str], tuple[float, str]] = {}
    if times:
        out[("cadence", "both")] = (60.0 / float(np.mean(times)), f"{label} steps (n={len(times)})")
    if lengths:
        out[("step_length", "both")] = (float(np.mean(lengths)), f"{label} steps (heels, n={len(lengths)})")
    return out


def _reference(trial) -> tuple[GaitReport, tuple[GaitEvent, ...], str, dict, list[str]]:
    notes: list[str] = []
    reference = analyze_or_partial(trial.motion)
    if trial.events:
        events, source = tuple(trial.events), trial.event_source
    else:
        events = tuple(reference.events)
        source = "marker-based events (Zeni et al. 2008) of the motion capture"
        notes.append(f"{Path(trial.path).name}: no force plates or C3D events; the reference events are the "
                     "markers' own Zeni events (about 10-40 ms from force-plate timing)")
        if not events:
            raise MocapError(f"{Path(trial.path).name}: no gait event could be found, neither from force plates "
                             "nor from the markers.", hint="Use a trial with at least one step of steady walking.")
    label = "force-plate" if trial.event_source.startswith("force plates") else trial.event_source
    values = plate_step_values(events, trial.motion, label) if trial.events else {}
    return reference, events, source, values, notes


# ---------------------------------------------------------------------------------------------------------
# Projected mode
# ---------------------------------------------------------------------------------------------------------


def world_for_projection(motion: Motion3D) -> tuple[np.ndarray, int]:
    """Z-up world joints with every joint finite (heads filled from the trunk, inner gaps interpolated), the
    floor near z = 0, and the number of frames cut at the start (so clocks can be kept aligned).

    Raises :class:`MocapError` for lower-body marker sets: a camera sees arms and trunk, and the lifter
    expects them (projecting NaN would be meaningless)."""
    from gaitscope.io.mocap.world import complete_world_joints

    xyz = np.asarray(motion.xyz_m, dtype=np.float64).copy()
    absent = [j for j in _BODY if not np.isfinite(xyz[:, j]).all(axis=1).any()]
    if absent:
        from gaitscope.skeleton import H36M_JOINTS

        raise MocapError(
            f"The motion capture has no {', '.join(H36M_JOINTS[j] for j in absent)} joint(s) (a lower-body marker "
            "set): it cannot be projected to a camera view for the video-free validation.",
            hint="Use a full-body trial (trunk, shoulders, elbows, wrists markers), or validate with a real video "
                 "(--video), which needs only the legs in the motion capture.",
        )
    return complete_world_joints(xyz, motion.up, min_complete=8)


def _view_angle_deg(gt_cam: np.ndarray, up_cam: np.ndarray) -> float:
    """Angle between the walking direction and the camera's optical axis, in the ground plane: 90 = side
    view, 0 = walking toward the camera's looking direction (seen from behind), 180 = toward the camera."""
    travel = gt_cam[-1, J["pelvis"]] - gt_cam[0, J["pelvis"]]
    up = np.asarray(up_cam, float) / np.linalg.norm(up_cam)
    travel = travel - np.dot(travel, up) * up
    axis = np.array([0.0, 0.0, 1.0]) - up[2] * up
    den = np.linalg.norm(travel) * np.linalg.norm(axis)
    if not den > 0:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(np.dot(travel, axis) / den, -1.0, 1.0))))


class _RecordingLifter:
    """Wraps a lifter and keeps the Motion3D of the last :meth:`lift` (``projected_case`` returns arrays)."""

    def __init__(self, lifter) -> None:
        self.lifter = lifter
        self.last: Motion3D | None = None

    def lift(self, kp, **kw) -> Motion3D:
        self.last = self.lifter.lift(kp, **kw)
        return self.last

    @property
    def source(self) -> str:
        return getattr(self.lifter, "source", "?")


def validate_mocap_projected(
    mocap: str | Path,
    views: int = 3,
    seed: int = 0,
    lifter=None,
    noise=None,
    *,
    height_cm: float | None = None,
    fps: float = PROJECTED_FPS,
) -> TrialValidation:
    """Mocap -> random camera -> measured BlazePose noise -> lifter -> analysis, against the mocap's own
    analysis and its force-plate events; ``views`` random cameras (seeded). ``height_cm`` is the height given
    to the lifter (default: the stature estimated from the mocap's own legs, as a clinician would enter the
    measured height)."""
    from gaitscope.analysis.agreement import compare_reports
    from gaitscope.io.mocap import load_motion
    from gaitscope.training.lifter_data import resample_motion
    from gaitscope.training.lifter_eval import joint_errors_mm, projected_case, sagittal_angle_rmse

    if views < 1:
        raise InvalidInputError(f"views must be at least 1, got {views}.")
    if height_cm is not None and not 50.0 <= height_cm <= 250.0:
        raise InvalidInputError(f"Height {height_cm} cm is outside 50-250 cm.", "Give the height in centimetres.")
    trial = load_motion(mocap)
    name = Path(mocap).name
    world, first = world_for_projection(trial.motion)
    reference, events, ev_source, values, notes = _reference(trial)
    if lifter is None:
        from gaitscope.pipeline.lifter_choice import load_lifter

        lifter = load_lifter()
    if noise is None:
        from gaitscope.training.noise_model import NoiseModel

        noise = NoiseModel.from_json()
    rec = _RecordingLifter(lifter)
    m_world = Motion3D(world, trial.motion.fps, (0.0, 0.0, 1.0), False, trial.motion.scale_source,
                       trial.motion.source)
    m30 = resample_motion(m_world, fps)
    lag_s = first / trial.motion.fps  # test clock starts at the first fully visible frame
    rng = np.random.default_rng(seed)
    height_m = height_cm / 100.0 if height_cm else None
    results, tests, metrics = [], [], []
    for v in range(views):
        case = projected_case(rec, np.asarray(m30.xyz_m, float), m30.fps, rng, noise, height_m=height_m)
        motion = rec.last
        errs = joint_errors_mm(case["pred"], case["gt"])
        met = {"mpjpe_mm": float(errs["mpjpe"].mean()), "pa_mpjpe_mm": float(errs["pa_mpjpe"].mean()),
               "view_deg": _view_angle_deg(case["gt"], case["up"])}
        met.update({f"lifter_{k}": val for k, val in sagittal_angle_rmse(case["pred"], case["gt"], case["up"],
                                                                        case["fps"]).items()})
        try:
            test = analyze_or_partial(motion)
        except AnalysisError as exc:
            notes.append(f"{name} view {v + 1}: the lifted motion could not be analyzed ({exc.message})")
            continue
        res = compare_reports(test, reference, lag_s, reference_events=events, event_reference=ev_source,
                              reference_values=values, name=f"{name}#view{v + 1}", notes=notes)
        results.append(replace(res, extra=met))
        tests.append(test)
        metrics.append(met)
    if not results:
        raise AnalysisError(f"{name}: none of the {views} projected views could be analyzed.",
                            "The trial may be too short; use a trial with at least one full step.")
    setup = f"lifter {rec.source}; {views} random camera(s), seed {seed}; 2D at {fps:g} fps with measured noise"
    return TrialValidation(trial=name, mode="projected", results=tuple(results), reference=reference,
                           tests=tuple(tests), event_source=ev_source, lifter_metrics=tuple(metrics),
                           notes=(*notes, setup))


# ---------------------------------------------------------------------------------------------------------
# Video mode
# ---------------------------------------------------------------------------------------------------------


def validate_video_against_mocap(
    video: str | Path,
    mocap: str | Path,
    height_cm: float | None = None,
    lifter=None,
    *,
    max_lag_s: float = 5.0,
    workers: int = 2,
) -> TrialValidation:
    """Run the product's video path and compare it with the simultaneous motion capture (synchronised by
    cross-correlation). Raises :class:`~gaitscope.errors.NoPersonError` when the video has no person,
    :class:`~gaitscope.analysis.agreement.SyncError` when the two cannot be aligned, :class:`MocapError` when the
    mocap lacks the leg markers."""
    from gaitscope.analysis.agreement import compare_reports, sync_reports
    from gaitscope.io.mocap import load_motion
    from gaitscope.pipeline.steps import AnalysisOptions, run_stages

    trial = load_motion(mocap)
    reference, events, ev_source, values, notes = _reference(trial)
    result = run_stages(video, AnalysisOptions(height_cm=height_cm, workers=workers), lifter=lifter)
    test = result.report
    est = sync_reports(test, reference, max_lag_s=max_lag_s)
    notes.append(f"synchronised by knee/hip angle cross-correlation: reference = video + {est.lag_s:+.3f} s "
                 f"(r = {est.r:.2f} over {est.overlap_s:.1f} s)")
    if height_cm is None:
        notes.append("no subject height given: video lengths rest on an assumed height")
    res = compare_reports(test, reference, est.lag_s, reference_events=events, event_reference=ev_source,
                          reference_values=values, name=f"{Path(video).name} vs {Path(mocap).name}",
                          sync_r=est.r, notes=notes)
    return TrialValidation(trial=Path(mocap).name, mode="video", results=(res,), reference=reference,
                           tests=(test,), event_source=ev_source, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------


def _concat(frames):
    import pandas as pd

    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_validation_outputs(validations: Sequence[TrialValidation], out_dir: str | Path) -> dict[str, Path]:
    """``agreement_angles.csv``, ``agreement_events.csv`` (every match) + ``agreement_event_summary.csv``,
    ``agreement_parameters.csv``, ``bland_altman.csv`` (several results only) and ``validation.pdf``."""
    from gaitscope.analysis.agreement import bland_altman_table
    from gaitscope.pipeline.output_files import staged_outputs
    from gaitscope.reports.agreement_pdf import write_validation_pdf

    out = Path(out_dir)
    results = [r for v in validations for r in v.results]
    paths: dict[str, Path] = {}
    tables = {
        "agreement_angles.csv": _concat([r.angles_frame() for r in results]),
        "agreement_events.csv": _concat([r.events_frame() for r in results]),
        "agreement_event_summary.csv": _concat([r.event_summary_frame() for r in results]),
        "agreement_parameters.csv": _concat([r.parameters_frame() for r in results]),
    }
    if len(results) > 1:
        tables["bland_altman.csv"] = bland_altman_table(results)
    with staged_outputs(out) as staging:  # all or nothing: a full disk leaves no half-written file
        for fname, df in tables.items():
            df.to_csv(staging / fname, index=False, float_format="%.6g")
            paths[fname.removesuffix(".csv")] = out / fname
        write_validation_pdf(results, staging / "validation.pdf", notes=[n for v in validations for n in v.notes])
    paths["pdf"] = out / "validation.pdf"
    return paths


def summary_table(validations: Sequence[TrialValidation]) -> list[dict[str, Any]]:
    """One row per result (see :func:`gaitscope.analysis.agreement.summary_row`)."""
    from gaitscope.analysis.agreement import summary_row

    return [{"trial": r.name, **summary_row(r)} for v in validations for r in v.results]


__all__ = [
    "TrialValidation",
    "analyze_or_partial",
    "plate_step_values",
    "summary_table",
    "validate_mocap_projected",
    "validate_video_against_mocap",
    "world_for_projection",
    "write_validation_outputs",
]

