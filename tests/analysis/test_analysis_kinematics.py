"""Joint-angle conventions (gaitscope/analysis/kinematics.py) on hand-built poses."""

import numpy as np
import pytest

from gaitscope.analysis.frames import GaitFrame
from gaitscope.analysis.kinematics import joint_angles
from gaitscope.skeleton import NUM_JOINTS, J


def _frame(t: int) -> GaitFrame:
    """World = gait frame: x forward, y left, z up."""
    return GaitFrame(
        forward=np.tile([1.0, 0, 0], (t, 1)), lateral=np.tile([0, 1.0, 0], (t, 1)),
        up=np.tile([0, 0, 1.0], (t, 1)), heading_deg=np.zeros(t), method="test", travels=True,
    )


def standing() -> np.ndarray:
    """Upright standing pose (one frame), metres: all segments vertical."""
    p = np.zeros((NUM_JOINTS, 3))
    for side, y in (("left", 0.1), ("right", -0.1)):
        p[J[f"{side}_hip"]] = [0, y, 0.9]
        p[J[f"{side}_knee"]] = [0, y, 0.5]
        p[J[f"{side}_ankle"]] = [0, y, 0.1]
        p[J[f"{side}_shoulder"]] = [0, 1.8 * y, 1.4]
        p[J[f"{side}_elbow"]] = [0, 1.8 * y, 1.1]
        p[J[f"{side}_wrist"]] = [0, 1.8 * y, 0.85]
    p[J["pelvis"]] = [0, 0, 0.9]
    p[J["spine"]] = [0, 0, 1.15]
    p[J["thorax"]] = [0, 0, 1.4]
    p[J["nose"]] = [0.05, 0, 1.55]
    p[J["head"]] = [0, 0, 1.7]
    return p[None]


def _rot_about(p: np.ndarray, pivot: np.ndarray, axis: str, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    r = {"y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]), "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]])}[axis]
    return (p - pivot) @ r.T + pivot


def test_standing_is_zero():
    a = joint_angles(standing(), _frame(1)).iloc[0]
    for col in ("hip_flexion_L", "knee_flexion_R", "hip_abduction_L", "pelvis_obliquity_L", "pelvis_tilt",
                "trunk_tilt", "shoulder_flexion_L", "elbow_flexion_R", "pelvis_rotation_R"):
        assert a[col] == pytest.approx(0.0, abs=1e-9), col


def test_hip_and_knee_flexion_signs_and_magnitudes():
    p = standing()[0]
    hip = p[J["left_hip"]].copy()
    # flex the left thigh 30 deg (knee forward): rotating about +y by -30 deg moves the knee to +x
    for j in ("left_knee", "left_ankle"):
        p[J[j]] = _rot_about(p[J[j]], hip, "y", -30)
    # then flex the knee 45 deg more (shank rotates backwards relative to the thigh)
    knee = p[J["left_knee"]].copy()
    p[J["left_ankle"]] = _rot_about(p[J["left_ankle"]], knee, "y", 45)
    a = joint_angles(p[None], _frame(1)).iloc[0]
    assert a["hip_flexion_L"] == pytest.approx(30.0, abs=1e-6)
    assert a["knee_flexion_L"] == pytest.approx(45.0, abs=1e-6)
    assert a["hip_flexion_R"] == pytest.approx(0.0, abs=1e-9)


def test_knee_hyperextension_is_negative():
    p = standing()[0]
    knee = p[J["right_knee"]].copy()
    p[J["right_ankle"]] = _rot_about(p[J["right_ankle"]], knee, "y", -10)  # shank forward of the thigh line
    assert joint_angles(p[None], _frame(1)).iloc[0]["knee_flexion_R"] == pytest.approx(-10.0, abs=1e-6)


def test_hip_abduction_positive_away_from_midline_both_sides():
    p = standing()[0]
    for side, deg in (("left", 20), ("right", -20)):  # rotation about +x: +20 swings a hanging leg to +y
        hip = p[J[f"{side}_hip"]].copy()
        for j in (f"{side}_knee", f"{side}_ankle"):
            p[J[j]] = _rot_about(p[J[j]], hip, "x", deg)
    a = joint_angles(p[None], _frame(1)).iloc[0]
    assert a["hip_abduction_L"] == pytest.approx(20.0, abs=1e-6)
    assert a["hip_abduction_R"] == pytest.approx(20.0, abs=1e-6)


def test_pelvic_hike_reads_as_obliquity_up_and_stance_hip_adduction():
    p = standing()[0]
    p[J["left_hip"], 2] += 0.2 * np.tan(np.radians(5))  # left hip 5 deg higher, legs stay vertical
    a = joint_angles(p[None], _frame(1)).iloc[0]
    assert a["pelvis_obliquity_L"] == pytest.approx(5.0, abs=0.01)
    assert a["pelvis_obliquity_R"] == pytest.approx(-5.0, abs=0.01)
    assert a["hip_abduction_L"] < -4.5  # vertical thigh under a hiked pelvis = adduction
    assert a["hip_abduction_R"] > 4.5


def test_trunk_lean_shoulder_and_elbow():
    p = standing()[0]
    pelvis = p[J["pelvis"]].copy()
    upper = [J[n] for n in ("spine", "thorax", "nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                            "right_shoulder", "right_elbow", "right_wrist")]
    p[upper] = _rot_about(p[upper], pelvis, "y", 15)  # whole upper body leans forward 15 deg
    el = p[J["left_elbow"]].copy()
    p[J["left_wrist"]] = _rot_about(p[J["left_wrist"]], el, "y", -90)  # elbow bent 90 deg, forearm forward
    a = joint_angles(p[None], _frame(1)).iloc[0]
    assert a["trunk_tilt"] == pytest.approx(15.0, abs=1e-6)
    assert a["shoulder_flexion_L"] == pytest.approx(0.0, abs=1e-6)  # arm still along the trunk
    assert a["elbow_flexion_L"] == pytest.approx(90.0, abs=1e-6)


def test_ankle_and_foot_progression_only_with_feet():
    p = standing()
    a = joint_angles(p, _frame(1))
    assert "ankle_dorsiflexion_L" not in a
    feet = {
        "left_heel": np.array([[-0.05, 0.1, 0.0]]), "left_toe": np.array([[0.20, 0.1, 0.0]]),
        "right_heel": np.array([[-0.05, -0.1, 0.0]]),
        # right toes 10 deg up and pointing 15 deg outward (external = negative)
        "right_toe": np.array([[0.25 * np.cos(np.radians(10)) * np.cos(np.radians(15)) - 0.05,
                                -0.1 - 0.25 * np.cos(np.radians(10)) * np.sin(np.radians(15)),
                                0.25 * np.sin(np.radians(10))]]),
    }
    a = joint_angles(p, _frame(1), feet).iloc[0]
    assert a["ankle_dorsiflexion_L"] == pytest.approx(0.0, abs=1e-6)
    assert a["ankle_dorsiflexion_R"] == pytest.approx(10.0, abs=1e-6)
    assert a["foot_progression_L"] == pytest.approx(0.0, abs=1e-6)
    assert a["foot_progression_R"] == pytest.approx(-15.0, abs=1e-6)
