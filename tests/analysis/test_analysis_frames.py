"""Gait frame, walking direction, turns and bouts (gaitscope/analysis/frames.py)."""

import dataclasses

import numpy as np
import pytest
from analysis_helpers import concat_with_turn, to_camera_root_relative, without_feet

from gaitscope.analysis.filtering import smooth_and_fill
from gaitscope.analysis.frames import (
    build_gait_frame,
    estimate_stride_period_s,
    frame_states,
    horizontal_basis,
    split_bouts,
)
from gaitscope.synthetic import walker
from gaitscope.synthetic.truth import WalkParams


def _walk(**kw):
    return walker.simulate_walk(WalkParams(**{"seed": 5, **kw}))


@pytest.mark.parametrize("up", [(0, 0, 1.0), (0, -1.0, 0), (0.6, 0.8, 0)])
def test_horizontal_basis_is_orthonormal_and_right_handed(up):
    u = np.array(up)
    e1, e2 = horizontal_basis(u)
    assert abs(e1 @ u) < 1e-12 and abs(e2 @ u) < 1e-12 and abs(e1 @ e2) < 1e-12
    assert np.allclose(np.cross(e1, e2), u)


def test_stride_period_from_ankle_separation():
    w = _walk(cadence_steps_min=100)
    assert estimate_stride_period_s(w.motion.xyz_m, w.motion.fps, np.array([0, 0, 1.0])) == pytest.approx(1.2, rel=0.03)


@pytest.mark.parametrize("heading", [0.0, 60.0, -150.0])
def test_world_frame_progression_follows_pelvis_travel(heading):
    w = _walk(heading_deg=heading)
    m = w.motion
    f, warn = build_gait_frame(m.xyz_m, m.fps, m.up, m.root_relative, 1.1)
    expected = np.array([np.cos(np.radians(heading)), np.sin(np.radians(heading)), 0])
    assert f.travels and not warn
    assert np.min(f.forward[15:-15] @ expected) > np.cos(np.radians(3))
    assert np.allclose(f.lateral, np.cross([0, 0, 1.0], f.forward))  # lateral points to the left


@pytest.mark.parametrize("yaw", [0.0, 90.0, 230.0])
def test_root_relative_camera_frame_uses_facing_direction(yaw):
    w = _walk()
    m = to_camera_root_relative(w.motion, yaw_deg=yaw)
    f, warn = build_gait_frame(m.xyz_m, m.fps, m.up, m.root_relative, 1.1)
    # the walking direction (world +x) expressed in the camera frame
    world_to_cam = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    a = np.radians(yaw)
    expected = world_to_cam @ np.array([np.cos(a), np.sin(a), 0])
    assert not f.travels and not warn
    assert np.min(f.forward[15:-15] @ expected) > np.cos(np.radians(5))
    assert np.allclose(f.forward @ np.array([0, -1.0, 0]), 0, atol=1e-9)  # horizontal


def test_swapped_left_right_labels_are_detected_by_foot_motion():
    w = _walk()
    m = to_camera_root_relative(w.motion)
    swap = list(range(17))
    for a, b in ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)):
        swap[a], swap[b] = b, a
    xyz = m.xyz_m[:, swap]
    f, warn = build_gait_frame(xyz, m.fps, m.up, True, 1.1)
    f_ok, _ = build_gait_frame(m.xyz_m, m.fps, m.up, True, 1.1)
    assert warn and "swapped" in warn[0]
    assert np.median((f.forward * f_ok.forward).sum(1)) > 0.99  # still the true walking direction


def test_turn_and_standing_are_excluded_from_bouts():
    a, b = _walk(duration_s=4.0), _walk(duration_s=4.0, seed=6)
    m = concat_with_turn(a.motion, b.motion, 120.0, turn_s=1.5)
    still = np.repeat(m.xyz_m[-1:], 60, axis=0)  # 2 s standing at the end
    m = dataclasses.replace(m, xyz_m=np.concatenate([m.xyz_m, still]))
    xyz, usable = smooth_and_fill(m.xyz_m, None, m.fps)
    f, _ = build_gait_frame(xyz, m.fps, m.up, False, 1.1)
    state = frame_states(xyz, usable, f, m.fps, 1.1)
    bouts = split_bouts(state, m.fps, min_s=1.1)
    n_a, n_turn = a.motion.n_frames, int(1.5 * m.fps)
    assert len(bouts) == 2
    assert bouts[0].start < 10 and bouts[0].stop <= n_a + 5
    assert bouts[1].start >= n_a + n_turn - 5
    assert (state[-40:] == "still").all()
    assert (state[n_a + 10 : n_a + n_turn - 10] == "turn").all()


def test_straight_walk_is_one_bout_even_with_17_joints_only():
    w = _walk()
    m = without_feet(w.motion)
    xyz, usable = smooth_and_fill(m.xyz_m, None, m.fps)
    f, _ = build_gait_frame(xyz, m.fps, m.up, False, 1.1)
    state = frame_states(xyz, usable, f, m.fps, 1.1)
    assert (state == "walk").all()
    assert len(split_bouts(state, m.fps)) == 1


def test_root_relative_side_view_with_flat_depth_still_finds_the_walking_direction():
    """A monocular lifter in a side view gets depth (camera z) poorly: the hip and shoulder lines, which run
    along the depth axis, collapse. The feet's fore-aft swing still gives the progression direction."""
    from gaitscope.analysis.report import analyze_gait

    w = _walk()
    m = to_camera_root_relative(w.motion, yaw_deg=0.0)
    xyz = m.xyz_m.copy()
    xyz[..., 2] *= 0.05  # depth flattened to 5 %: left/right hips nearly coincide in depth
    xyz += np.random.default_rng(0).normal(0.0, 0.015, xyz.shape)  # plus the lifter's jitter
    flat = dataclasses.replace(m, xyz_m=xyz)
    f, _ = build_gait_frame(flat.xyz_m, flat.fps, flat.up, flat.root_relative, 1.1)
    assert np.min(np.abs(f.forward[15:-15] @ np.array([1.0, 0, 0]))) > np.cos(np.radians(5))
    report = analyze_gait(flat)
    assert report.parameter("cadence").value == pytest.approx(w.truth.cadence_steps_min, rel=0.02)


def _seen_along_rays(m, distance_m: float):
    """A straight walk as a lifter reports it from a fixed camera ``distance_m`` from the walking line: each frame
    turned about the vertical by its viewing ray's azimuth phi = atan(x / d) (x: pelvis position along the line,
    0 in front of the camera). Returns the Motion3D (camera axes, root-relative) and the angle that turns each frame
    back to the camera's axes about up = (0, -1, 0), i.e. -phi (a turn by +phi about camera y)."""
    from gaitscope.models.ray_yaw import turn_to_camera_axes

    x = m.xyz_m[:, 0, 0] - m.xyz_m[:, 0, 0].mean()  # world X = camera x; centred on the camera
    phi = np.arctan(x / distance_m)
    cam = to_camera_root_relative(m)
    seen = turn_to_camera_axes(np.asarray(cam.xyz_m, dtype=float), -phi)
    return dataclasses.replace(cam, xyz_m=seen), -phi


def test_walker_crossing_a_fixed_camera_is_not_read_as_turning_when_the_ray_is_known():
    """1.3 m/s, 1.6 m from the camera: the viewing ray sweeps ~45 deg/s as the walker passes in front of it, above
    the 30 deg/s turn threshold; the walk is straight. Truth: the walker's own heading never changes."""
    w = _walk(duration_s=5.0)  # 110 steps/min of 0.70 m: 1.28 m/s
    m, yaw = _seen_along_rays(without_feet(w.motion), distance_m=1.6)
    xyz, usable = smooth_and_fill(m.xyz_m, None, m.fps)
    f, _ = build_gait_frame(xyz, m.fps, m.up, True, 1.1)
    naive = frame_states(xyz, usable, f, m.fps, 1.1)
    assert (naive == "turn").sum() > 0.5 * m.fps  # the trap: without the ray it reads as turning
    state = frame_states(xyz, usable, f, m.fps, 1.1, view_yaw_rad=yaw)
    assert (state == "turn").sum() == 0
    assert len(split_bouts(state, m.fps)) == 1


def test_a_real_turn_is_still_a_turn_with_the_ray_known():
    """Ray correction must not hide a turn of the walker: a 120 deg turn in 1.5 s, camera far (rays nearly
    constant)."""
    a, b = _walk(duration_s=4.0), _walk(duration_s=4.0, seed=6)
    m = concat_with_turn(a.motion, b.motion, 120.0, turn_s=1.5)
    cam = to_camera_root_relative(m)
    xyz, usable = smooth_and_fill(cam.xyz_m, None, cam.fps)
    f, _ = build_gait_frame(xyz, cam.fps, cam.up, True, 1.1)
    yaw = -np.arctan(np.linspace(-2.0, 2.0, cam.n_frames) / 20.0)  # 20 m away: 11 deg over the whole walk
    state = frame_states(xyz, usable, f, cam.fps, 1.1, view_yaw_rad=yaw)
    n_a, n_turn = a.motion.n_frames, int(1.5 * cam.fps)
    assert (state[n_a + 10 : n_a + n_turn - 10] == "turn").all()
