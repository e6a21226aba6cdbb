"""Reliability from the recording (issue 21 point 2): the camera's view of the walk, the legs' visibility and the
usable strides grade every parameter, and only reliable numbers are flagged.

The view estimate is checked on the synthetic walker filmed by the synthetic cameras (gaitscope.synthetic.camera):
the motion a perfect lifter would return is the walker's joints in the camera's frame, and the exact view angle
is the angle between the walker's heading and the camera's optical axis in the horizontal plane.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gaitscope.analysis.reliability import (
    LIMITED,
    NOT_MEASURABLE,
    RELIABLE,
    apply_reliability,
    assess,
    estimate_view,
    grade,
    view_class,
)
from gaitscope.analysis.report import analyze_gait
from gaitscope.records import Keypoints2D, RecordingQuality
from gaitscope.skeleton import NUM_JOINTS, J
from gaitscope.synthetic.camera import frontal_view, oblique_view, side_view, view_from_angle
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk


@pytest.fixture(scope="module")
def walk():
    return simulate_walk(WalkParams(duration_s=8.0, seed=4))


def filmed(walk, cam):
    """The walk as a perfect lifter returns it from ``cam``: camera frame, pelvis removed."""
    xyz = walk.motion.xyz_m @ cam.R.T + cam.t
    xyz = xyz - xyz[:, J["pelvis"]: J["pelvis"] + 1]
    up = cam.R @ np.array([0.0, 0.0, 1.0])
    return replace(walk.motion, xyz_m=xyz, up=tuple(up / np.linalg.norm(up)), root_relative=True, feet={},
                   source="lifter:test@1", scale_source="subject height 170 cm")


def true_angle(walk, cam) -> float:
    """Angle between the walker's heading and the optical axis, horizontal plane of the world (Z up)."""
    pel = walk.motion.xyz_m[:, J["pelvis"], :2]
    heading = pel[-1] - pel[0]
    axis = cam.R[2, :2]  # the camera's +z in world coordinates, horizontal part
    c = heading @ axis / (np.linalg.norm(heading) * np.linalg.norm(axis))
    return float(np.degrees(np.arccos(np.clip(c, -1, 1))))


@pytest.mark.parametrize("make, expected_class", [
    (lambda w: side_view(w), "side"),
    (lambda w: side_view(w, from_left=False), "side"),
    (lambda w: oblique_view(w, angle_deg=50.0), "oblique"),  # the video evaluation's obliques: yaw 45-60 deg
    (lambda w: frontal_view(w), "frontal"),
    (lambda w: view_from_angle(w, -89.0), "back"),
])
def test_view_angle_of_the_filmed_walker(walk, make, expected_class):
    cam = make(walk)
    angle, near = estimate_view(filmed(walk, cam))
    assert angle == pytest.approx(true_angle(walk, cam), abs=3.0)  # 3 deg: trunk sway about the heading
    assert view_class(angle) == expected_class


def test_near_leg_is_the_leg_on_the_camera_side(walk):
    assert estimate_view(filmed(walk, side_view(walk, from_left=True)))[1] == "L"
    assert estimate_view(filmed(walk, side_view(walk, from_left=False)))[1] == "R"


def test_no_camera_for_motion_capture_or_the_world_frame(walk):
    assert estimate_view(walk.motion) == (None, None)
    assert view_class(None) == "no camera"


def _q(view, angle=None, near="L", vis=None, strides=8):
    return RecordingQuality(view=view, view_angle_deg=angle, near_leg=near, leg_visibility=vis or {},
                            usable_strides=strides)


def test_grading_rules_follow_the_validation_tables():
    side, front = _q("side", 90.0), _q("frontal", 175.0)
    assert grade("cadence", "both", side)[0] == RELIABLE
    assert grade("cadence", "both", front)[0] == RELIABLE  # cadence holds from the front (4.6 % MAE)
    assert grade("step_width", "both", side)[0] == NOT_MEASURABLE  # across the line of sight
    assert grade("step_length", "both", front)[0] == NOT_MEASURABLE  # depth: -23 % from the front
    assert grade("hip_rom", "L", side)[0] == RELIABLE
    assert grade("knee_rom", "L", side)[0] == LIMITED  # near leg: usable
    assert grade("knee_rom", "R", side)[0] == LIMITED  # far leg: 5.8 deg short since the legs are anchored
    assert grade("knee_rom", "L", _q("oblique", 40.0))[0] == NOT_MEASURABLE  # oblique: 11 deg too large
    assert grade("stance_pct", "L", side)[0] == RELIABLE  # -1.1 (1.6) %pt
    assert "frontal view" in grade("step_length", "both", front)[1]
    # a leg hidden most of the time, few strides, variability from too few strides
    hidden = _q("side", 90.0, vis={"L": 0.95, "R": 0.3})
    assert grade("stride_time", "R", hidden)[0] == NOT_MEASURABLE
    assert "right leg was seen in only 30 %" in grade("stride_time", "R", hidden)[1]
    assert grade("stride_time", "L", hidden)[0] == RELIABLE
    assert grade("cadence", "both", _q("side", 90.0, strides=1))[0] == LIMITED
    assert grade("stride_time_cv", "L", _q("side", 90.0, strides=3))[0] == NOT_MEASURABLE
    # motion capture: no view to grade
    assert grade("step_width", "both", _q("no camera", near=None))[0] == RELIABLE


def test_unreliable_numbers_are_never_flagged_and_the_report_says_why(walk):
    cam = frontal_view(walk)
    motion = filmed(walk, cam)
    report = analyze_gait(motion, height_m=1.7)
    # make step length abnormal: the frontal view may not flag it
    params = tuple(replace(p, flag="low") if p.name == "step_length" else p for p in report.parameters)
    graded = apply_reliability(replace(report, parameters=params), assess(report, motion))
    step = graded.parameter("step_length")
    assert step.reliability == NOT_MEASURABLE and step.flag == "unknown"
    assert graded.parameter("cadence").reliability == RELIABLE
    assert graded.quality.view == "frontal"
    text = " ".join(graded.warnings)
    assert "Not flagged, because the number is not reliable here (frontal view" in text and "Step length" in text
    assert "How to film better" in text and "Film from the side" in text
    assert apply_reliability(graded, assess(graded, motion)) == graded  # idempotent (stored reports)


def test_leg_visibility_from_the_2d_confidences(walk):
    t = 50
    conf = np.ones((t, NUM_JOINTS), dtype=np.float32)
    conf[:40, J["right_knee"]] = 0.1  # right knee unseen in 80 % of frames
    kp = Keypoints2D(xy_px=np.zeros((t, NUM_JOINTS, 2), np.float32), conf=conf, fps=30.0, width=640, height=480,
                     frame_index=np.arange(t), interpolated=np.zeros(t, bool), source="synthetic")
    report = analyze_gait(walk.motion, height_m=1.7)
    q = assess(report, walk.motion, kp)
    assert q.leg_visibility == {"L": 1.0, "R": pytest.approx(0.2)}


def test_csv_and_pdf_carry_the_grades_and_the_filming_advice(walk, tmp_path):
    import pandas as pd

    pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency")
    from gaitscope.reports.csv_report import write_csv_reports
    from gaitscope.reports.pdf_report import ReportContext, write_pdf_report

    motion = filmed(walk, frontal_view(walk))
    report = analyze_gait(motion, height_m=1.7)
    graded = apply_reliability(report, assess(report, motion))
    params = pd.read_csv(write_csv_reports(graded, tmp_path)["parameters"])
    assert list(params.columns)[-5:] == ["flag", "reliability", "ci_low", "ci_high", "ci_note"]
    row = params[(params["name"] == "step_length") & (params["side"] == "both")].iloc[0]
    assert row["reliability"] == "not measurable" and row["flag"] == "unknown"
    assert params[params["name"] == "cadence"]["reliability"].iloc[0] == "reliable"
    pdf = write_pdf_report(graded, tmp_path / "r.pdf", context=ReportContext())
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages).split())
    assert "Reliability of this recording" in text and "frontal" in text
    assert "How to film better" in text and "not reported" in text


def test_a_negative_step_width_is_not_measurable_whatever_the_view(walk):
    """The crowd video of issue 21 reported a step width of -0.21 m as "low": no real step is that."""
    report = analyze_gait(walk.motion, height_m=1.7)
    params = tuple(replace(p, value=-0.21, flag="low") if p.name == "step_width" else p for p in report.parameters)
    graded = apply_reliability(replace(report, parameters=params), _q("no camera", near=None))
    width = graded.parameter("step_width")
    assert width.reliability == NOT_MEASURABLE and width.flag == "unknown"
    assert "at or below 0" in " ".join(graded.warnings)


def test_every_number_that_is_not_reported_says_why(walk):
    motion = filmed(walk, side_view(walk))
    report = analyze_gait(motion, height_m=1.7)
    graded = apply_reliability(report, assess(report, motion))
    text = " ".join(graded.warnings)
    assert graded.parameter("step_width").reliability == NOT_MEASURABLE
    assert "Not reported (side view" in text and "Step width" in text
