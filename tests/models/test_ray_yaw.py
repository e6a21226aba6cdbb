"""Lifted frames turned from their viewing ray back to the camera's axes (gaitscope.models.ray_yaw)."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.models.ray_yaw import ray_azimuth, turn_to_camera_axes
from gaitscope.skeleton import J
from gaitscope.synthetic import walker
from gaitscope.synthetic.truth import WalkParams


def test_azimuth_of_the_centre_and_the_edges():
    phi = np.degrees(ray_azimuth(np.array([960.0, 1920.0, 0.0, np.nan]), 1920, hfov_deg=60.0))
    np.testing.assert_allclose(phi[:3], [0.0, 30.0, -30.0], atol=1e-9)
    assert np.isnan(phi[3])


def _camera_frames(seconds: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic walk in camera axes (x right, y down, z away), root-relative, walking along +x: (T, 17, 3) and
    the pelvis's world x (m) of each frame."""
    w = walker.simulate_walk(WalkParams(seed=3, duration_s=seconds))
    world = np.asarray(w.motion.xyz_m, dtype=np.float64)  # Z up, walking along world X
    cam = np.stack([world[..., 0], -world[..., 2], world[..., 1]], axis=-1)  # camera looks along world +Y
    return cam - cam[:, :1], world[:, J["pelvis"], 0]


def test_a_walk_seen_along_its_rays_is_turned_back_exactly():
    truth, _ = _camera_frames()
    t = len(truth)
    phi = np.radians(np.linspace(25.0, -25.0, t))  # a walker crossing a fixed camera's view
    # What a lifter reports: the body as seen along the ray, i.e. turned by -phi about the vertical.
    seen = turn_to_camera_axes(truth, -phi)
    np.testing.assert_allclose(turn_to_camera_axes(seen, phi), truth, atol=1e-9)
    # and the heading of the hip line drifts by the whole 50 deg before the correction, not after
    def heading(x):
        lat = x[:, J["left_hip"]] - x[:, J["right_hip"]]
        return np.degrees(np.unwrap(np.arctan2(lat[:, 2], lat[:, 0])))
    assert np.ptp(heading(seen)) - np.ptp(heading(truth)) > 40.0
    np.testing.assert_allclose(heading(turn_to_camera_axes(seen, phi)), heading(truth), atol=1e-6)


def test_unknown_azimuths_take_the_nearest_and_none_known_changes_nothing():
    truth, _ = _camera_frames(2.0)
    phi = np.full(len(truth), np.nan)
    np.testing.assert_array_equal(turn_to_camera_axes(truth, phi), truth)
    phi[10] = 0.3
    turned = turn_to_camera_axes(truth, phi)
    np.testing.assert_allclose(turned, turn_to_camera_axes(truth, np.full(len(truth), 0.3)), atol=1e-12)
    # lengths never change
    np.testing.assert_allclose(np.linalg.norm(turned, axis=-1), np.linalg.norm(truth, axis=-1), atol=1e-12)


def test_lifter_turns_frames_by_the_pelvis_ray_and_says_so(tiny_config):
    from gaitscope.models.inference import Lifter
    from gaitscope.records import Keypoints2D

    t = 20
    truth, _ = _camera_frames(1.0)
    truth = truth[:t]
    xy = np.zeros((t, 17, 2), np.float32)
    xy[:, 0, 0] = 1600.0  # pelvis at the right of a 1920-px image: azimuth 30 deg x 640/960
    kp = Keypoints2D(xy, np.ones((t, 17), np.float32), 30.0, 1920, 1080, np.arange(t), np.zeros(t, bool), "test")
    lifter = Lifter.untrained(tiny_config, seed=0, device="cpu")
    lifter.anchor_2d = False  # the pose as given, so the rotation is all that differs
    assert lifter.ray_yaw is False  # opt-in
    lifter.ray_yaw = True

    class _Norm:
        mode, center_px, half_size_px = "box", (0.0, 0.0), 1.0

    on = lifter._motion(truth.astype(np.float32), truth[..., :2], kp, _Norm(), 1.75, True)
    lifter.ray_yaw = False
    off = lifter._motion(truth.astype(np.float32), truth[..., :2], kp, _Norm(), 1.75, True)
    assert "+rayyaw" in on.source and "+rayyaw" not in off.source
    assert any("viewing ray" in n for n in on.notes)
    phi = float(ray_azimuth(np.array([1600.0]), 1920)[0])
    assert phi == pytest.approx(np.arctan(640.0 / (960.0 / np.tan(np.radians(30.0)))))
    np.testing.assert_allclose(on.xyz_m, turn_to_camera_axes(off.xyz_m.astype(np.float64), np.full(t, phi)),
                               atol=1e-5)
    # Off (the default), the frames stay as lifted and the analysis is told the ray instead (for its turn test):
    # a turn by +phi about camera y is a turn by -phi about up = (0, -1, 0).
    assert on.view_yaw_rad is None and "+viewyaw" in off.source
    np.testing.assert_allclose(off.view_yaw_rad, np.full(t, -phi), atol=1e-12)
