"""The video evaluation of real motion: rendered held-out recordings through the clinician's path (issue 19).

Each :class:`~gaitscope.training.real_motion_video.VideoCase` is rendered (cached), then goes through the code
of ``gaitscope analyze --no-db``: BlazePose (:func:`gaitscope.pose2d.detect.detect_keypoints`, cached per
video and detector version), the bundled lifter and :func:`gaitscope.pipeline.steps.analyze_motion` with
the subject's stature as the entered height. A lab trial of 1.3 s holds no complete stride, which the product
refuses to analyze; then :func:`gaitscope.training.validate.analyze_or_partial` gives the events, angles and
step values the comparison needs (the row says ``partial``).

The comparison is ``gaitscope validate``'s (:func:`gaitscope.analysis.agreement.compare_reports`) against the
markers' own analysis of the same stretch and the force-plate events (the markers' Zeni events where there are
no plates). The clocks are known: the video starts at recording time ``t0_s``, so the reference is cut there
and the lag is 0 (no cross-correlation that could hide a timing error).

:func:`case_rows` flattens one result into rows per leg (L, R; with "near"/"far" for side and oblique views)
and one "both" row, which ``benchmarks/video_accuracy.py`` aggregates into one table per view class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from gaitscope.errors import AnalysisError
from gaitscope.records import GaitReport, Motion3D
from gaitscope.training.mocap_trials import refuse_training_trial
from gaitscope.training.real_motion_video import CACHE_DIR, DEFAULT_MOCAP_DIR, VideoCase, render_case, shift_events

#: Heel strikes / toe offs within this time of either end of the clip: Zeni's rule needs the foot to come
#: forward and go back around the event, which a clip that starts or ends at it cannot show.
EDGE_S = 0.15


@dataclass(frozen=True)
class CaseResult:
    """One case evaluated: the agreement, both analyses, and whether the product's full analysis ran."""

    case: VideoCase
    meta: dict
    result: Any  # AgreementResult
    test: GaitReport
    reference: GaitReport
    full_analysis: bool
    duration_s: float
    #: (view angle in degrees, near leg) estimated on the lifted motion, as the product grades a recording
    view_estimate: tuple[float | None, str | None] = (None, None)


def _cut_trial(trial, t0_s: float, duration_s: float):
    """The recording from ``t0_s`` for ``duration_s`` (the rendered stretch) on the video's clock, and its
    events inside it."""
    m: Motion3D = trial.motion
    a = int(round(t0_s * m.fps))
    b = min(m.n_frames, a + int(math.ceil(duration_s * m.fps)) + 1)
    feet = {k: np.asarray(v)[a:b] for k, v in m.feet.items()}
    valid = None if m.valid is None else np.asarray(m.valid)[a:b]
    cut = replace(m, xyz_m=np.asarray(m.xyz_m)[a:b], valid=valid, feet=feet)
    events = tuple(e for e in shift_events(trial.events, t0_s, m.fps) if 0.0 <= e.time_s <= duration_s)
    return replace(trial, motion=cut, events=events)


def evaluate_case(case: VideoCase, lifter, *, mocap_dir: str | Path = DEFAULT_MOCAP_DIR,
                  cache_dir: str | Path = CACHE_DIR, max_s: float | None = None) -> CaseResult:
    """Render (or reuse) ``case``, analyze the video as an upload, compare with the markers and plates."""
    from gaitscope.analysis.agreement import compare_reports
    from gaitscope.analysis.reliability import estimate_view
    from gaitscope.io.mocap import load_motion
    from gaitscope.pipeline.steps import analyze_motion, lift_and_embed
    from gaitscope.pose2d.detect import cached_detection
    from gaitscope.training.validate import _reference, analyze_or_partial

    refuse_training_trial(case.trial)
    video, meta = render_case(case, mocap_dir, cache_dir, max_s=max_s)
    kp = cached_detection(video, meta["key"], cache_dir)  # the upload's defaults
    height_m = round(float(meta["height_m"]), 2)  # as a clinician enters it, to the centimetre
    motion, _ = lift_and_embed(lifter, kp, height_m=height_m)
    view_estimate = estimate_view(motion)
    try:
        test, full = analyze_motion(motion, height_m=height_m), True
    except AnalysisError as exc:
        if not exc.message.startswith(("No complete stride", "No straight walking")):
            raise
        test, full = analyze_or_partial(motion, height_m=height_m), False
    duration = meta["n_frames"] / case.fps
    trial = _cut_trial(load_motion(Path(mocap_dir) / case.trial), float(meta["t0_s"]), duration)
    reference, events, ev_source, values, notes = _reference(trial)
    res = compare_reports(test, reference, 0.0, reference_events=events, event_reference=ev_source,
                          reference_values=values, name=case.name, notes=notes)
    return CaseResult(case, meta, res, test, reference, full, duration, view_estimate)


def _angle_range(report: GaitReport, col: str, t: np.ndarray) -> float:
    """max - min of an angle over the times ``t`` (on the report's clock), NaN when absent."""
    if report.angles is None or col not in report.angles.columns:
        return float("nan")
    tt = report.angles["time_s"].to_numpy(float)
    v = report.angles[col].to_numpy(float)
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return float("nan")
    vi = np.interp(t, tt[ok], v[ok], left=np.nan, right=np.nan)
    vi = vi[np.isfinite(vi)]
    return float(vi.max() - vi.min()) if vi.size > 2 else float("nan")


def _param(res, name: str, side: str, pct: bool = False) -> float:
    try:
        p = res.parameter(name, side)
    except KeyError:
        return float("nan")
    return float(p.pct_error if pct else p.error)


def _events(cr: CaseResult, side: str | None, kind: str) -> dict[str, float]:
    """Timing MAE (ms and test frames) and misses (away from the clip's ends) against the force-plate events;
    spurious test events against the markers' own (Zeni) events, which see every step: force plates see only
    the feet that land on them, so a real heel strike beside the plates is not spurious."""
    from gaitscope.analysis.agreement import match_events

    res, duration_s = cr.result, cr.duration_s
    sel = [e for e in res.events if e.kind == kind and (side is None or e.side == side)]
    errs = np.array([e.error_s for e in sel if e.status == "matched"])

    def inner(t: float) -> bool:
        return EDGE_S <= t <= duration_s - EDGE_S

    ref = [e for e in cr.reference.events if e.kind == kind and (side is None or e.side == side)]
    tst = [e for e in cr.test.events if e.kind == kind and (side is None or e.side == side)]
    spurious = sum(m.status == "extra" and inner(m.test_time_s) for m in match_events(tst, ref, 0.0))

    return {
        f"{kind}_mae_ms": float(1000 * np.abs(errs).mean()) if errs.size else float("nan"),
        f"{kind}_mae_frames": float(np.abs(errs).mean() * res.test_fps) if errs.size else float("nan"),
        f"{kind}_ref": float(sum(e.status != "extra" and inner(e.reference_time_s) for e in sel)),
        f"{kind}_missed": float(sum(e.status == "missed" and inner(e.reference_time_s) for e in sel)),
        f"{kind}_spurious": float(spurious),
    }


def case_rows(cr: CaseResult) -> list[dict[str, Any]]:
    """Rows of one case: one per leg (``side`` L/R, ``leg`` near/far/"-") and one ``side`` "both"."""
    res, case = cr.result, cr.case
    t = np.arange(0.0, cr.duration_s, 1.0 / 60.0)
    base = {"case": case.name, "trial": case.trial, "view": case.view, "camera": case.camera, "fps": case.fps,
            "view_deg": cr.meta.get("view_deg", float("nan")), "full_analysis": cr.full_analysis}
    rows = []
    for side in ("L", "R"):
        leg = "-" if case.near_side is None else ("near" if side == case.near_side else "far")
        row = {**base, "side": side, "leg": leg}
        for angle in ("knee_flexion", "hip_flexion"):
            try:
                row[f"{angle}_rmse_deg"] = res.angle(angle, side).rmse_deg
            except KeyError:
                row[f"{angle}_rmse_deg"] = float("nan")
            col = f"{angle}_{side}"
            row[f"{angle}_rom_err_deg"] = _angle_range(cr.test, col, t) - _angle_range(cr.reference, col, t)
            row[f"{angle}_rom_ref_deg"] = _angle_range(cr.reference, col, t)
        for name in ("stance_pct", "swing_pct"):
            row[f"{name}_err"] = _param(res, name, side)
        row["stride_length_err_m"] = _param(res, "stride_length", side)
        row["step_length_err_m"] = _param(res, "step_length", side)
        row.update(_events(cr, side, "heel_strike"))
        row.update(_events(cr, side, "toe_off"))
        rows.append(row)
    both = {**base, "side": "both", "leg": "both",
            "double_support_pct_err": _param(res, "double_support_pct", "both"),
            "step_length_err_m": _param(res, "step_length", "both"),
            "step_length_err_pct": _param(res, "step_length", "both", pct=True),
            "stride_length_err_m": _param(res, "stride_length", "both"),
            "speed_err_pct": _param(res, "speed", "both", pct=True),
            "cadence_err_pct": _param(res, "cadence", "both", pct=True)}
    both.update(_events(cr, None, "heel_strike"))
    both.update(_events(cr, None, "toe_off"))
    rows.append(both)
    return rows


def _estimated(cr: CaseResult) -> tuple[str, str | None]:
    """(view class, near leg) as the product estimates them from the lifted motion: the error model is looked up
    by the estimated class, so it is fitted and checked by it too (a side view read as oblique uses the oblique
    entries)."""
    from gaitscope.analysis.reliability import view_class

    angle, near = cr.view_estimate
    return view_class(angle), near


def _leg(view: str, near: str | None, side: str) -> str:
    """"near"/"far" of a leg in a side or oblique view, the side itself in frontal/back views, "both" for both
    (as :func:`gaitscope.analysis.intervals.leg_key`)."""
    if side not in ("L", "R"):
        return "both"
    if view not in ("side", "oblique") or near not in ("L", "R"):
        return side
    return "near" if side == near else "far"


def parameter_rows(cr: CaseResult) -> list[dict[str, Any]]:
    """One row per parameter the test measured (derived ones included): the test's value, stride SD and number
    of strides beside the reference value, for fitting and checking the error model of the 95 % intervals
    (:mod:`gaitscope.analysis.intervals`, issue 21). The reference value is the one ``gaitscope validate``
    compares with (force-plate steps where the trial has plates, else the markers' own analysis). ``view`` is the
    estimated view class (``rendered_view`` the rendering camera's)."""
    case = cr.case
    view, near = _estimated(cr)
    ref = {(p.name, p.side): p.reference for p in cr.result.parameters}
    ref_all = {(p.name, p.side): p.value for p in cr.reference.parameters}
    base = {"case": case.name, "trial": case.trial, "view": view, "rendered_view": case.view, "camera": case.camera,
            "fps": case.fps, "view_deg": cr.meta.get("view_deg", float("nan")), "full_analysis": cr.full_analysis}
    rows = []
    for p in cr.test.parameters:
        r = ref.get((p.name, p.side), ref_all.get((p.name, p.side), float("nan")))
        if not (math.isfinite(p.value) and math.isfinite(r)):
            continue
        rows.append({**base, "name": p.name, "side": p.side, "leg": _leg(view, near, p.side), "unit": p.unit,
                     "value": float(p.value), "sd": float(p.sd), "n": int(p.n), "reference": float(r)})
    return rows


def curve_rows(cr: CaseResult) -> list[dict[str, Any]]:
    """One row per curve and % of the gait cycle that both analyses have: the test's mean, SD over strides and
    number of strides beside the reference's mean (each cut at its own heel strikes); views as
    :func:`parameter_rows`."""
    case = cr.case
    view, near = _estimated(cr)
    ref = {(c.name, c.side): c for c in cr.reference.curves}
    base = {"case": case.name, "trial": case.trial, "view": view, "rendered_view": case.view, "camera": case.camera,
            "fps": case.fps, "full_analysis": cr.full_analysis}
    rows = []
    for c in cr.test.curves:
        rc = ref.get((c.name, c.side))
        if rc is None:
            continue
        for i, pct in enumerate(np.asarray(c.pct, float)):
            m, r = float(c.mean[i]), float(rc.mean[i])
            if math.isfinite(m) and math.isfinite(r):
                rows.append({**base, "name": c.name, "side": c.side, "leg": _leg(view, near, c.side), "unit": c.unit,
                             "pct": float(pct), "value": m, "sd": float(c.sd[i]), "n": int(c.n_strides),
                             "reference": r})
    return rows


__all__ = ["EDGE_S", "CaseResult", "case_rows", "curve_rows", "evaluate_case", "parameter_rows"]
