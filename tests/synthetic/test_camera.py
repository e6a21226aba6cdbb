"""Pinhole camera, framing helpers and moving cameras."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from gaitscope.skeleton import J
from gaitscope.synthetic.camera import (
    CameraTrack,
    PerspectiveCamera,
    frontal_view,
    oblique_view,
    sample_random_camera,
    side_view,
    tracking_side_view,
    tracking_view,
    walk_points,
)
from gaitscope.synthetic.truth import SyntheticWalk, WalkParams
from gaitscope.synthetic.walker import simulate_walk


@lru_cache(maxsize=None)
def short_walk() -> SyntheticWalk:
    return simulate_walk(WalkParams(duration_s=4.0, seed=1))


def test_known_point_projections() -> None:
    cam = PerspectiveCamera.look_at((0.0, -5.0, 1.0), (0.0, 0.0, 1.0), width=640, height=480, fx=500.0)
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 1.0])), [320.0, 240.0], atol=1e-9)
    # looking along +y with Z up: +x is image right, +z is image up
    np.testing.assert_allclose(cam.project(np.array([1.0, 0.0, 1.0])), [320.0 + 100.0, 240.0], atol=1e-9)
    np.testing.assert_allclose(cam.project(np.array([0.0, 0.0, 2.0])), [320.0, 240.0 - 100.0], atol=1e-9)
    np.testing.assert_allclose(cam.project(np.array([1.0, 5.0, 1.0])), [320.0 + 50.0, 240.0], atol=1e-9)
    assert cam.depth(np.array([0.0, 0.0, 1.0])) == pytest.approx(5.0)
    assert np.isnan(cam.project(np.array([0.0, -6.0, 1.0]))).all()  # behind the camera
    np.testing.assert_allclose(cam.position, [0.0, -5.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(cam.K, [[500, 0, 320], [0, 500, 240], [0, 0, 1]])
    # batch shapes are kept
    assert cam.project(np.zeros((3, 4, 3)) + [0, 0, 1]).shape == (3, 4, 2)


def test_field_of_view_and_serialisation() -> None:
    cam = PerspectiveCamera.look_at((2.0, 3.0, 1.5), (0.0, 0.0, 1.0), width=1280, height=720, hfov_deg=60.0)
    assert cam.hfov_deg == pytest.approx(60.0)
    np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    back = PerspectiveCamera.from_dict(cam.to_dict())
    pts = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(back.project(pts), cam.project(pts))
    with pytest.raises(ValueError):
        PerspectiveCamera.look_at((0, 0, 0), (0, 0, 1))  # straight up: no defined roll


@pytest.mark.parametrize("make", [side_view, oblique_view, frontal_view])
def test_static_views_keep_the_whole_walk_in_the_image(make) -> None:  # type: ignore[no-untyped-def]
    w = short_walk()
    cam = make(w)
    assert cam.contains(walk_points(w), margin_px=20).all()
    assert (cam.depth(w.motion.xyz_m) > 0.5).all()


def test_side_view_sees_progression_across_and_frontal_view_sees_it_in_depth() -> None:
    w = short_walk()
    pel = w.motion.xyz_m[:, J["pelvis"]]
    side, front = side_view(w), frontal_view(w)
    u_side = side.project(pel)[:, 0]
    assert abs(u_side[-1] - u_side[0]) > 0.4 * side.width
    u_front = front.project(pel)[:, 0]
    assert abs(u_front[-1] - u_front[0]) < 0.1 * front.width
    d = front.depth(pel)
    assert d[-1] < d[0] - 3.0  # coming toward the camera


def test_tracking_camera_follows_the_walker() -> None:
    w = short_walk()
    tr = tracking_side_view(w)
    assert isinstance(tr, CameraTrack) and tr.n_frames == w.motion.n_frames and not tr.is_static
    uv = tr.project(walk_points(w))
    assert np.isfinite(uv).all()
    assert (uv[..., 0] >= 0).all() and (uv[..., 0] < tr.width).all()
    assert (uv[..., 1] >= 0).all() and (uv[..., 1] < tr.height).all()
    u_pel = tr.project(w.motion.xyz_m)[:, J["pelvis"], 0]
    assert u_pel.std() < 0.05 * tr.width
    # per-frame projection equals projecting with each frame's own camera
    i = 17
    np.testing.assert_allclose(tr.project(w.motion.xyz_m)[i], tr.at(i).project(w.motion.xyz_m[i]), atol=1e-9)
    # a camera slower than the walker lets them cross the frame
    cross = tracking_view(w, 180.0, follow=0.5)
    u = cross.project(w.motion.xyz_m)[:, J["pelvis"], 0]
    assert u[-1] - u[0] > 0.2 * cross.width  # from the right side the walker moves rightward on screen


def test_random_cameras_are_reproducible_and_frame_the_walk() -> None:
    w = short_walk()
    a = [sample_random_camera(np.random.default_rng(3), w) for _ in range(2)]
    np.testing.assert_allclose(a[0].R, a[1].R)
    np.testing.assert_allclose(a[0].t, a[1].t)
    rng = np.random.default_rng(5)
    yaws = []
    for _ in range(4):
        cam = sample_random_camera(rng, w)
        assert cam.contains(walk_points(w)).all()
        assert 40.0 <= cam.hfov_deg <= 75.0
        yaws.append(float(np.degrees(np.arctan2(cam.forward[1], cam.forward[0]))))
    assert np.ptp(yaws) > 10.0  # viewpoints differ
