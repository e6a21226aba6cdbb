"""The figure and cameras of the video of real motion (gaitscope.training.real_motion_video).

Truth is independent: a synthetic walk whose stature, segment lengths and leg motion are known; the upper body
added to a lower-body set must have Winter's (2009) segment lengths and swing each arm against its own thigh;
view angles follow from the camera geometry.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.skeleton import J
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk
from gaitscope.training.real_motion_video import (
    VideoCase,
    _view_deg,
    add_upper_body,
    default_cases,
    real_walk,
    stature_m,
)

UPPER = [J[n] for n in ("spine", "thorax", "nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                        "right_shoulder", "right_elbow", "right_wrist")]


@pytest.fixture(scope="module")
def walk():
    return simulate_walk(WalkParams(fps=100.0, duration_s=3.0, height_m=1.80, seed=3))


def test_stature_from_the_legs_within_4_percent(walk):
    assert stature_m(walk.motion.xyz_m) == pytest.approx(1.80, rel=0.04)


def test_upper_body_of_a_lower_body_set_has_winter_lengths_and_counter_swinging_arms(walk):
    xyz = np.asarray(walk.motion.xyz_m, float).copy()
    xyz[:, UPPER] = np.nan  # a lower-body marker set
    out = add_upper_body(xyz, 1.80)
    assert np.isfinite(out).all()
    assert np.allclose(out[:, J["pelvis"]], walk.motion.xyz_m[:, J["pelvis"]])  # legs untouched
    upper_arm = np.linalg.norm(out[:, J["left_elbow"]] - out[:, J["left_shoulder"]], axis=-1)
    forearm = np.linalg.norm(out[:, J["left_wrist"]] - out[:, J["left_elbow"]], axis=-1)
    assert upper_arm == pytest.approx(np.full(len(out), 0.186 * 1.80), rel=1e-6)
    assert forearm == pytest.approx(np.full(len(out), 0.146 * 1.80), rel=1e-6)
    assert (out[:, J["thorax"], 2] - out[:, J["pelvis"], 2]).mean() == pytest.approx(0.29 * 1.80, rel=0.02)
    # forward component (walking direction +x) of the left wrist and left knee relative to their roots
    wrist = out[:, J["left_wrist"], 0] - out[:, J["left_shoulder"], 0]
    knee = out[:, J["left_knee"], 0] - out[:, J["left_hip"], 0]
    assert np.corrcoef(wrist, knee)[0, 1] < -0.8  # the left arm swings back while the left knee comes forward


def test_markers_present_are_kept(walk):
    out = add_upper_body(walk.motion.xyz_m, 1.80)
    assert np.array_equal(out, walk.motion.xyz_m)


def test_real_walk_resamples_to_the_video_rate_with_the_floor_at_zero(walk):
    rw = real_walk(walk.motion, 30.0, crop_s=(0.5, 2.5))
    m = rw.walk.motion
    assert m.fps == 30.0 and m.n_frames == 60  # frames 50..249 at 100 fps: 1.99 s -> 0..1.967 s at 30 fps
    assert rw.t0_s == pytest.approx(0.5)
    lowest = min(float(np.min(v[:, 2])) for v in m.feet.values())
    assert lowest == pytest.approx(0.0, abs=1e-9)
    assert abs(rw.walk.params.heading_deg) < 5.0  # the synthetic walker goes along +x


@pytest.mark.parametrize("yaw,expected", [(0.0, 90.0), (180.0, 90.0), (30.0, 120.0), (-30.0, 60.0),
                                          (89.0, 179.0), (-89.0, 1.0), (50.0, 140.0)])
def test_view_angle_between_walking_direction_and_optical_axis(yaw, expected):
    assert _view_deg(yaw) == pytest.approx(expected, abs=1e-6)


def test_cases_cover_both_rates_both_cameras_and_have_distinct_cache_keys():
    cases = default_cases(("side", "oblique", "frontal", "back"))
    assert {c.fps for c in cases} == {30.0, 60.0} and {c.camera for c in cases} == {"fixed", "panning"}
    assert {c.from_right for c in cases if c.view == "side"} == {True, False}
    assert len({c.key for c in cases}) == len(cases)
    assert VideoCase("a/b.trc", "side").near_side == "L" and VideoCase("a/b.trc", "back").near_side is None


def test_a_case_is_the_same_whichever_views_and_trials_are_asked_for():
    everything = {(c.trial, c.view, c.camera, c.fps, c.crop_s): c for c in default_cases(
        ("side", "oblique", "frontal", "back"))}
    for c in default_cases(("back",), (60.0,), trials=("bmclab/data/walk1.trc",)) + default_cases(("side",)):
        assert everything[(c.trial, c.view, c.camera, c.fps, c.crop_s)] == c
