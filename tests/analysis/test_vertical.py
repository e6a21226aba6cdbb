"""The camera's roll from the motion itself (gaitscope/analysis/vertical.py).

Truth: the synthetic walker seen by a camera rolled by a known angle about the walking direction; the true
vertical in the camera's axes is the rotated (0, -1, 0), independent of the code under test.
"""

import dataclasses

import numpy as np
import pytest
from analysis_helpers import rotation, to_camera_root_relative

from gaitscope.analysis.filtering import smooth_and_fill
from gaitscope.analysis.vertical import estimate_vertical
from gaitscope.skeleton import J
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk

#: Stated tolerance: the walker's trunk sways symmetrically, so what is left is noise (15 mm) after 6 Hz smoothing.
ROLL_TOL_DEG = 1.0


def _rolled(seed: int, roll_deg: float):
    w = simulate_walk(WalkParams(seed=seed))
    m = to_camera_root_relative(w.motion, yaw_deg=0.0)  # side view: camera x = walking direction
    r = rotation("x", roll_deg)  # a phone held crooked: turned about the walking direction
    xyz = m.xyz_m @ r.T + np.random.default_rng(seed).normal(0.0, 0.015, m.xyz_m.shape)
    return w, dataclasses.replace(m, xyz_m=xyz), r @ np.array([0.0, -1.0, 0.0])


def _smooth(m):
    ok = np.ones(m.n_frames, bool)
    return np.stack([smooth_and_fill(m.xyz_m[:, j], ok, m.fps, 6.0)[0] for j in range(m.xyz_m.shape[1])], axis=1)


@pytest.mark.parametrize("seed,roll", [(1, 0.0), (2, 10.0), (3, -15.0), (4, 6.0)])
def test_roll_of_the_camera_is_recovered_from_the_motion(seed, roll):
    _, m, true_up = _rolled(seed, roll)
    est = estimate_vertical(_smooth(m), m.up)
    assert est.used
    err = np.degrees(np.arccos(np.clip(np.dot(est.up, true_up), -1.0, 1.0)))
    assert err < ROLL_TOL_DEG, f"vertical off by {err:.2f} deg"
    assert abs(abs(est.roll_deg) - abs(roll)) < ROLL_TOL_DEG


def test_without_an_upper_body_the_hip_line_gives_the_roll():
    _, m, true_up = _rolled(5, 12.0)
    xyz = _smooth(m)
    for name in ("spine", "thorax", "nose", "head", "left_shoulder", "right_shoulder", "left_elbow",
                 "right_elbow", "left_wrist", "right_wrist"):
        xyz[:, J[name]] = np.nan
    est = estimate_vertical(xyz, m.up)
    err = np.degrees(np.arccos(np.clip(np.dot(est.up, true_up), -1.0, 1.0)))
    assert est.used and err < 2.0


def test_a_rolled_camera_no_longer_shows_as_step_width_and_obliquity():
    """End to end: the camera roll of 12 deg made a fixed pelvic obliquity and a step width error; with the
    estimate, both match the walker's truth as from a level camera (within 1 deg and 1.5 cm)."""
    from gaitscope.analysis.report import analyze_gait

    _, rolled, _ = _rolled(6, 12.0)
    level = dataclasses.replace(rolled, xyz_m=rolled.xyz_m @ rotation("x", 12.0))  # undo the roll: truth's axes
    a, b = analyze_gait(rolled), analyze_gait(level)
    ob_a = a.angles["pelvis_obliquity_L"].mean()
    ob_b = b.angles["pelvis_obliquity_L"].mean()
    assert abs(ob_a - ob_b) < 1.0
    sw_a, sw_b = a.parameter("step_width").value, b.parameter("step_width").value
    assert abs(sw_a - sw_b) < 0.015
    assert any("Camera roll estimated from the motion" in x for x in a.warnings)
