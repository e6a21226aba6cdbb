"""Validation of ``analyze_gait`` against the synthetic walker's ground truth, and robustness checks.

Tolerances (issue "Gait analysis"): cadence 2 %, stride time 3 %, step length 5 %, stance 3 points, knee
flexion ROM 3 deg, events 2 frames at 30 fps. Step length is compared with the walker's heel-to-heel truth
when heel/toe points are given, and with its ankle-to-ankle truth (``extra["step_length_ankle_<S>"]``) when
only the 17 joints are (lifter output).

Event timing: Zeni's coordinate extrema come before the walker's heel strikes (its foot is parked about 40 ms
before contact), as they do on force-plate data (Horst 2019, OpenCap, BMClab, Camargo 2021: 15-50 ms early);
the analysis reports heel strikes 30 ms after the extremum (``HEEL_STRIKE_LATENCY_S``), which brings stance %
within 3 points of the truth (``test_stance_pct_within_3_points``; it was an expected failure before that
correction). The latency's size is checked against the walker's contact times in
tests/analysis/test_analysis_events.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from analysis_helpers import (
    add_noise,
    concat_with_turn,
    drop_frames,
    event_errors_frames,
    to_camera_root_relative,
    without_feet,
)

from gaitscope.analysis import analyze_gait
from gaitscope.errors import AnalysisError
from gaitscope.synthetic import walker
from gaitscope.synthetic.truth import WalkParams

WALKS = {
    "normal": WalkParams(seed=11),
    "slow": WalkParams(seed=12, cadence_steps_min=88, step_length_m=0.50, stance_pct=64),
    "fast": WalkParams(seed=13, cadence_steps_min=128, step_length_m=0.82, stance_pct=57),
    "asymmetric": WalkParams(seed=14, step_asymmetry=0.25, step_time_cv=0.02, step_length_cv=0.02),
    "parkinsonian": WalkParams(seed=15, shuffle=0.8, knee_rom_scale=0.6, hip_rom_scale=0.7, arm_swing_scale=0.2,
                               trunk_flexion_deg=20, festination=0.5, step_time_cv=0.04, step_length_cv=0.05,
                               cadence_steps_min=118, step_length_m=0.55),
    "tall_60fps_diagonal": WalkParams(seed=16, fps=60, height_m=1.9, heading_deg=135),
}
_CACHE: dict = {}


def walk(name: str):
    if name not in _CACHE:
        _CACHE[name] = walker.simulate_walk(WALKS[name])
    return _CACHE[name]


def analyzed(name: str, feet: bool):
    key = (name, feet)
    if key not in _CACHE:
        w = walk(name)
        _CACHE[key] = analyze_gait(w.motion if feet else without_feet(w.motion))
    return _CACHE[key]


def inner_events(w, margin_s: float = 0.4):
    """Truth events away from the ends of the recording (Zeni needs an extremum with both neighbours)."""
    return tuple(e for e in w.truth.events if margin_s < e.time_s < w.motion.duration_s - margin_s)


def rel_err(a: float, b: float) -> float:
    return abs(a / b - 1.0)


@pytest.mark.parametrize("feet", [True, False], ids=["heel_toe", "17_joints"])
@pytest.mark.parametrize("name", list(WALKS))
def test_spatiotemporal_parameters_match_truth(name, feet):
    w, r = walk(name), analyzed(name, feet)
    t = w.truth
    assert rel_err(r.parameter("cadence").value, t.cadence_steps_min) < 0.02
    for s in ("L", "R"):
        assert rel_err(r.parameter("stride_time", s).value, t.stride_time_s[s]) < 0.03
        step_truth = t.step_length_m[s] if feet else t.extra[f"step_length_ankle_{s}"]
        assert rel_err(r.parameter("step_length", s).value, step_truth) < 0.05
        assert rel_err(r.parameter("step_time", s).value, t.step_time_s[s]) < 0.03
        assert abs(r.parameter("knee_rom", s).value - t.knee_rom_deg[s]) < 3.0
    assert rel_err(r.parameter("speed").value, t.speed_m_s) < 0.03  # world frame: from pelvis travel
    assert abs(r.parameter("step_width").value - t.step_width_m) < 0.02


@pytest.mark.parametrize("name", list(WALKS))
def test_events_within_two_frames_at_30fps_with_heel_and_toe_points(name):
    w, r = walk(name), analyzed(name, True)
    scale = 30.0 / w.motion.fps  # express errors in 30 fps frames
    for kind in ("heel_strike", "toe_off"):
        err, recall = event_errors_frames(inner_events(w), r.events, w.motion.fps, kind)
        assert recall >= 0.95, kind
        assert np.max(np.abs(err * scale)) <= 2.0, kind


@pytest.mark.parametrize("name", list(WALKS))
def test_events_from_17_joints(name):
    """Ankle stands in for heel and toe: heel strikes within 2 frames; toe off (the ankle's backward extremum,
    moved by ``TOE_OFF_ANKLE_LATENCY_S``) within 3 frames."""
    w, r = walk(name), analyzed(name, False)
    scale = 30.0 / w.motion.fps
    hs, rec_hs = event_errors_frames(inner_events(w), r.events, w.motion.fps, "heel_strike")
    to, rec_to = event_errors_frames(inner_events(w), r.events, w.motion.fps, "toe_off")
    assert rec_hs >= 0.95 and rec_to >= 0.95
    assert np.max(np.abs(hs * scale)) <= 2.0
    assert np.max(np.abs(to * scale)) <= 3.0


@pytest.mark.parametrize("name", ["normal", "slow", "parkinsonian"])
def test_stance_pct_within_3_points(name):
    w, r = walk(name), analyzed(name, True)
    for s in ("L", "R"):
        assert abs(r.parameter("stance_pct", s).value - w.truth.stance_pct[s]) < 3.0


def test_stance_and_double_support_track_the_truth_across_walks():
    """Whatever the walker's constant offset, stance % must rise with the true stance % (slow > normal > fast)."""
    st = {n: analyzed(n, True).parameter("stance_pct").value for n in ("fast", "normal", "slow")}
    ds = {n: analyzed(n, True).parameter("double_support_pct").value for n in ("fast", "normal", "slow")}
    truth = {n: walk(n).truth.stance_pct["L"] for n in st}
    assert truth["fast"] < truth["normal"] < truth["slow"]
    assert st["fast"] < st["normal"] < st["slow"]
    assert ds["fast"] < ds["normal"] < ds["slow"]
    offsets = [st[n] - truth[n] for n in st]
    assert np.ptp(offsets) < 1.5  # a constant bias, not noise


def test_asymmetry_and_variability_are_detected():
    sym = analyzed("normal", True)
    asym = analyzed("asymmetric", True)
    pd_walk = analyzed("parkinsonian", True)
    t = walk("asymmetric").truth
    si_truth = 200 * (t.step_length_m["L"] - t.step_length_m["R"]) / (t.step_length_m["L"] + t.step_length_m["R"])
    si = asym.parameter("step_length_symmetry_index").value
    assert abs(si - si_truth) < 2.0 and si < -15  # right steps 25 % longer
    assert asym.parameter("step_length_symmetry_ratio").value == pytest.approx(
        max(t.step_length_m.values()) / min(t.step_length_m.values()), rel=0.03)
    assert abs(sym.parameter("step_length_symmetry_index").value) < 1.0
    assert pd_walk.parameter("step_length_cv").value > 3 * sym.parameter("step_length_cv").value
    assert pd_walk.parameter("arm_swing").value < 0.4 * sym.parameter("arm_swing").value
    # Stiff knee: knee flexion deviates more from the reference (GVS) and the GPS rises. (Healthy-vs-PD GPS is
    # not compared: the walker's swing-phase ankle and hip curves differ from clinical norms, which dominates.)
    stiff = analyze_gait(walker.simulate_walk(dataclasses.replace(WALKS["normal"], knee_rom_scale=0.5)).motion)
    assert stiff.scores["GVS_knee_flexion_L"] > sym.scores["GVS_knee_flexion_L"] + 5
    assert stiff.scores["GPS"] > sym.scores["GPS"]


# ----------------------------------------------------------------------------------------------------------
# Robustness
# ----------------------------------------------------------------------------------------------------------


def _check_core(r, w, step_tol=0.05, knee_tol=3.0, feet=False):
    t = w.truth
    assert rel_err(r.parameter("cadence").value, t.cadence_steps_min) < 0.02
    for s in ("L", "R"):
        assert rel_err(r.parameter("stride_time", s).value, t.stride_time_s[s]) < 0.03
        step_truth = t.step_length_m[s] if feet else t.extra[f"step_length_ankle_{s}"]
        assert rel_err(r.parameter("step_length", s).value, step_truth) < step_tol
    knee = np.mean([r.parameter("knee_rom", s).value - t.knee_rom_deg[s] for s in ("L", "R")])
    assert abs(knee) < knee_tol


@pytest.mark.parametrize("seed", [0, 1])
def test_noisy_joints_25mm(seed):
    """Lifter-level noise (25 mm per joint and frame, white): looser step and knee tolerances."""
    w = walk("normal")
    r = analyze_gait(add_noise(without_feet(w.motion), 0.025, seed=seed))
    _check_core(r, w, step_tol=0.08, knee_tol=6.0)
    err, recall = event_errors_frames(inner_events(w), r.events, w.motion.fps, "heel_strike")
    assert recall >= 0.9 and np.mean(np.abs(err)) <= 2.0


@pytest.mark.parametrize("yaw", [30.0, 200.0])
def test_root_relative_camera_frame_gives_the_same_answer(yaw):
    w = walk("normal")
    world = analyzed("normal", False)
    r = analyze_gait(to_camera_root_relative(w.motion, yaw_deg=yaw))
    _check_core(r, w)
    # speed now comes from stride length / stride time (ankle-based, a few % short of the heel truth)
    assert rel_err(r.parameter("speed").value, w.truth.speed_m_s) < 0.08
    assert "root-relative" in r.scale_note
    for name in ("knee_flexion", "hip_flexion", "hip_abduction"):
        a = next(c for c in world.curves if c.name == name and c.side == "L")
        b = next(c for c in r.curves if c.name == name and c.side == "L")
        assert np.max(np.abs(a.mean - b.mean)) < 1.0, name  # camera-independent angles


def test_root_relative_with_heel_and_toe_points():
    w = walk("normal")
    r = analyze_gait(to_camera_root_relative(w.motion, yaw_deg=75.0, keep_feet=True))
    _check_core(r, w, feet=True)
    assert rel_err(r.parameter("speed").value, w.truth.speed_m_s) < 0.03


def test_walking_towards_the_camera():
    w = walker.simulate_walk(dataclasses.replace(WALKS["normal"], heading_deg=90.0, seed=21))
    r = analyze_gait(to_camera_root_relative(w.motion, yaw_deg=0.0))  # walks along the camera's depth axis
    _check_core(r, w)


def test_missing_frames_nan_and_valid_mask():
    w = walk("normal")
    r = analyze_gait(drop_frames(without_feet(w.motion), 0.10, seed=3))
    _check_core(r, w)
    assert r.angles.shape[0] == w.motion.n_frames


def test_long_gap_splits_the_walk_and_is_reported():
    w = walk("normal")
    m = without_feet(w.motion)
    xyz, valid = m.xyz_m.copy(), np.ones(m.n_frames, bool)
    valid[110:130] = False  # 0.67 s: too long to fill
    xyz[~valid] = np.nan
    r = analyze_gait(dataclasses.replace(m, xyz_m=xyz, valid=valid))
    assert any("missing" in x for x in r.warnings)
    assert not any(s.start_frame < 120 < s.end_frame for s in r.strides)
    assert np.isnan(r.angles["knee_flexion_L"].to_numpy()[115])
    _check_core(r, w)


def test_turn_is_trimmed_and_walking_on_both_sides_is_kept():
    a = walker.simulate_walk(dataclasses.replace(WALKS["normal"], duration_s=5.0, seed=31))
    b = walker.simulate_walk(dataclasses.replace(WALKS["normal"], duration_s=5.0, seed=32))
    m = concat_with_turn(a.motion, b.motion, turn_deg=180.0, turn_s=1.5)
    r = analyze_gait(m)
    turn_start, turn_end = a.motion.n_frames, a.motion.n_frames + int(1.5 * a.motion.fps)
    assert any("turning" in x for x in r.warnings)
    assert not any(s.start_frame < turn_end and s.end_frame > turn_start for s in r.strides)
    assert any(s.end_frame < turn_start for s in r.strides) and any(s.start_frame > turn_end for s in r.strides)
    assert rel_err(r.parameter("cadence").value, a.truth.cadence_steps_min) < 0.02


def test_too_short_raises_analysis_error():
    m = without_feet(walk("normal").motion)
    short = dataclasses.replace(m, xyz_m=m.xyz_m[:25], valid=None)
    with pytest.raises(AnalysisError, match="stride"):
        analyze_gait(short)
    with pytest.raises(AnalysisError, match="too short"):
        analyze_gait(dataclasses.replace(m, xyz_m=m.xyz_m[:5], valid=None))


def test_standing_still_raises_analysis_error():
    m = without_feet(walk("normal").motion)
    still = np.repeat(m.xyz_m[:1], 200, axis=0) + np.random.default_rng(0).normal(0, 0.003, (200, 17, 3))
    with pytest.raises(AnalysisError, match="walking"):
        analyze_gait(dataclasses.replace(m, xyz_m=still, valid=None))
