"""Renderer and bundled sample: decodable videos, and a figure BlazePose finds where the truth says it is.

Measured on the bundled sample (first 60 frames, BlazePose full via mediapipe 0.10.14, model_complexity=1,
video mode), median 2D error vs the projected H36M truth; shank length in the image is about 137 px:

    joint        median px   % shank   mean bias (x, y) px     (whole 210-frame video: median px)
    left_hip         5.3       3.9      ( 3.0,  1.4)            6.4
    right_hip        6.9       5.0      ( 2.0, -3.8)            5.1
    left_knee        7.8       5.7      (-3.8, -3.0)            7.5
    right_knee       3.5       2.5      ( 1.9, -0.1)            4.4
    left_ankle      13.1       9.6      (-0.5, -10.0)          13.3
    right_ankle      8.5       6.3      ( 8.9, -4.5)            8.9

(The camera is on the walker's right: the left leg is the far, partly hidden one.) BlazePose's hip landmarks
sit a few pixels off the H36M hip joint centres; its ankles sit 4-11 px higher than our ankle joints and, on the
near leg, about 10 px further forward (it marks the malleoli, not the joint centre). Detection: 60/60 frames (210/210
over the whole video). Tolerances below are about 1.6x the measured medians.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitscope.skeleton import FOOT_POINTS, H36M_JOINTS, J
from gaitscope.synthetic.camera import PerspectiveCamera, side_view
from gaitscope.synthetic.render import random_appearance, render_background, render_frames, render_walk
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk

SAMPLE = Path(__file__).resolve().parents[2] / "gaitscope" / "data" / "sample"

# joint -> (BlazePose landmark index, tolerance on the median error in pixels)
TOLERANCE_PX = {
    "left_hip": (23, 10.0),
    "right_hip": (24, 11.0),
    "left_knee": (25, 13.0),
    "right_knee": (26, 7.0),
    "left_ankle": (27, 21.0),
    "right_ankle": (28, 14.0),
}


def read_video(path: Path) -> tuple[list[np.ndarray], float, int, int]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps, w, h


def test_render_writes_a_decodable_video_of_the_right_shape(tmp_path: Path) -> None:
    walk = simulate_walk(WalkParams(duration_s=2.0, fps=25.0, seed=3))
    cam = side_view(walk, width=320, height=240)
    res = render_walk(walk, cam, tmp_path / "clip.mp4", seed=1)
    assert res.n_frames == 50 and res.codec in ("avc1", "mp4v")
    frames, fps, w, h = read_video(tmp_path / "clip.mp4")
    assert (w, h) == (320, 240)
    assert fps == pytest.approx(25.0)
    assert len(frames) == 50
    # the person is drawn: pixels around the projected pelvis differ from the empty background
    bg = render_background(cam, random_appearance(1))
    u, v = cam.project(walk.motion.xyz_m[0, J["pelvis"]]).astype(int)
    assert np.abs(frames[0][v - 3 : v + 4, u - 3 : u + 4].astype(int) - bg[v - 3 : v + 4, u - 3 : u + 4]).mean() > 10


def test_frames_are_deterministic_and_seeds_change_the_look() -> None:
    walk = simulate_walk(WalkParams(duration_s=2.0, seed=3))
    cam = PerspectiveCamera.look_at((1.0, -4.0, 0.9), (1.0, 0.0, 0.85), width=256, height=192, hfov_deg=60.0)
    a = next(render_frames(walk, cam, seed=5))
    b = next(render_frames(walk, cam, seed=5))
    c = next(render_frames(walk, cam, seed=6))
    assert a.shape == (192, 256, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 5
    looks = {random_appearance(s).background for s in range(12)}
    assert looks == {"plain", "gradient", "noise"}


def test_sample_files_are_complete_small_and_consistent() -> None:
    if not (SAMPLE / "walk_side.mp4").exists():
        pytest.skip("bundled sample missing: run `python -m gaitscope.synthetic.make_sample`")
    total = sum(p.stat().st_size for p in SAMPLE.iterdir() if p.is_file())
    assert total < 3_000_000
    meta = json.loads((SAMPLE / "walk_side.json").read_text())
    z = np.load(SAMPLE / "walk_side.npz")
    t = meta["n_frames"]
    assert (meta["width"], meta["height"], meta["fps"]) == (1280, 720, 30.0)
    assert 6.0 <= t / meta["fps"] <= 8.0
    assert z["xy_px"].shape == (t, 17, 2) and z["xyz_m"].shape == (t, 17, 3) and z["feet_xyz_m"].shape == (t, 4, 3)
    assert tuple(z["joint_names"]) == H36M_JOINTS and tuple(z["foot_point_names"]) == FOOT_POINTS
    # the stored pixels are the projection of the stored world joints with the stored camera
    cam_xyz = z["xyz_m"].astype(float) @ z["R"].T + z["t"][:, None, :]
    uv = (cam_xyz[..., :2] / cam_xyz[..., 2:]) * np.diag(z["K"])[:2] + z["K"][:2, 2]
    np.testing.assert_allclose(uv, z["xy_px"], atol=0.05)
    assert (z["xy_px"] >= 0).all() and (z["xy_px"][..., 0] < 1280).all() and (z["xy_px"][..., 1] < 720).all()
    hs = [e for e in meta["truth"]["events"] if e["kind"] == "heel_strike"]
    assert len(hs) >= 9  # at least four strides of each foot in view
    cap = cv2.VideoCapture(str(SAMPLE / "walk_side.mp4"))
    n = 0
    while cap.grab():  # demux and decode every frame without converting it
        n += 1
    assert n == t
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (1280, 720)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    cap.release()


def test_blazepose_finds_the_sample_walker_near_the_truth() -> None:
    mp = pytest.importorskip("mediapipe")
    if not (SAMPLE / "walk_side.mp4").exists():
        pytest.skip("bundled sample missing: run `python -m gaitscope.synthetic.make_sample`")
    z = np.load(SAMPLE / "walk_side.npz")
    xy = z["xy_px"]
    width, height = (int(v) for v in z["image_size"])
    cap = cv2.VideoCapture(str(SAMPLE / "walk_side.mp4"))
    errors: dict[str, list[float]] = {name: [] for name in TOLERANCE_PX}
    n, found = 60, 0
    with mp.solutions.pose.Pose(model_complexity=1, static_image_mode=False) as pose:
        for i in range(n):
            ok, frame = cap.read()
            assert ok
            res = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            if res.pose_landmarks is None:
                continue
            found += 1
            lm = res.pose_landmarks.landmark
            for name, (k, _) in TOLERANCE_PX.items():
                p = np.array([lm[k].x * width, lm[k].y * height])
                errors[name].append(float(np.linalg.norm(p - xy[i, J[name]])))
    cap.release()
    assert found >= 0.95 * n
    medians = {name: float(np.median(e)) for name, e in errors.items()}
    for name, (_, tol) in TOLERANCE_PX.items():
        assert medians[name] < tol, f"{name}: median error {medians[name]:.1f} px (tolerance {tol} px)"


def test_bundled_sample_is_in_sync_with_the_walker() -> None:
    """If the walker changes, the bundled truth goes stale: regenerate it with make_sample."""
    if not (SAMPLE / "walk_side.npz").exists():
        pytest.skip("bundled sample missing: run `python -m gaitscope.synthetic.make_sample`")
    from gaitscope.synthetic.make_sample import SAMPLE_PARAMS, sample_camera

    walk = simulate_walk(SAMPLE_PARAMS)
    z = np.load(SAMPLE / "walk_side.npz")
    meta = json.loads((SAMPLE / "walk_side.json").read_text())
    stale = "the bundled sample is stale: run `python -m gaitscope.synthetic.make_sample`"
    assert np.abs(z["xyz_m"] - walk.motion.xyz_m).max() < 1e-5, stale
    assert meta["truth"]["cadence_steps_min"] == pytest.approx(walk.truth.cadence_steps_min), stale
    assert meta["params"] == walk.params.to_dict(), stale
    np.testing.assert_allclose(z["t"], sample_camera(walk).translations(), atol=1e-9, err_msg=stale)


def test_girth_widens_the_figure_in_proportion() -> None:
    """``girth`` scales every limb radius: a 1.2x wider figure covers more of the frame than 1.0x, 0.85x less
    (the body's silhouette area grows with the radii; its length does not change)."""
    walk = simulate_walk(WalkParams(fps=30.0, duration_s=2.0, seed=5))
    cam = side_view(walk, width=320, height=180)
    bg = render_background(cam, random_appearance(2)).astype(np.int16)

    def covered(g: float) -> int:
        frame = next(render_frames(walk, cam, random_appearance(2), girth=g)).astype(np.int16)
        return int((np.abs(frame - bg).sum(axis=-1) > 30).sum())

    thin, normal, wide = covered(0.85), covered(1.0), covered(1.2)
    assert thin < normal < wide
    assert 1.08 < wide / normal < 1.35  # limbs are long thin shapes: area grows about with the width
