"""The LiteRT BlazePose engine: its geometry, its heat-map refinement, engine choice, and agreement with MediaPipe."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitscope.errors import GaitscopeError
from gaitscope.pose2d import blazepose_litert as bl
from gaitscope.pose2d.detect import detect_keypoints, resolve_engine

SAMPLE = Path(__file__).resolve().parents[2] / "gaitscope" / "data" / "sample" / "walk_side.mp4"
needs_litert = pytest.mark.skipif(not bl.litert_available(), reason="ai-edge-litert is not installed")


def test_anchor_grid_matches_the_detector_output():
    """2254 anchors: 28x28x2 (stride 8) + 14x14x2 (stride 16) + 7x7x6 (three stride-32 layers)."""
    a = bl.ssd_anchors()
    assert a.shape == (28 * 28 * 2 + 14 * 14 * 2 + 7 * 7 * 6, 2) == (2254, 2)
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0])
    assert np.allclose(a[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(a[-1], [6.5 / 7, 6.5 / 7]) and np.allclose(a[-6], a[-1])


def test_roi_from_alignment_points_is_upright_for_a_standing_person():
    roi = bl.Roi.from_alignment(np.array([100.0, 200.0]), np.array([100.0, 120.0]))  # kp1 straight above kp0
    assert roi.rotation == pytest.approx(0.0) and roi.size == pytest.approx(2 * 80 * 1.25)
    lying = bl.Roi.from_alignment(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # head to the right
    assert lying.rotation == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("rotation", [0.0, 0.4, -1.2])
def test_crop_and_back_projection_agree(rotation):
    """A dot warped into the 256x256 crop maps back to where it was in the image (within a pixel)."""
    img = np.zeros((480, 640, 3), np.uint8)
    dot = np.array([350.0, 210.0])
    cv2.circle(img, (int(dot[0]), int(dot[1])), 3, (255, 255, 255), -1)
    roi = bl.Roi(cx=320.0, cy=240.0, size=300.0, rotation=rotation)
    crop = cv2.warpAffine(img, roi.warp_matrix(256), (256, 256), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    ys, xs = np.nonzero(crop[..., 0] > 64)
    uv = np.array([[xs.mean() / 256, ys.mean() / 256]])
    back = roi.to_image(uv)[0]
    assert np.linalg.norm(back - (dot + 0.5)) < 1.5


def test_heatmap_refinement_moves_confident_landmarks_only():
    n, k = 64, 3
    heat = np.full((n, n, k), -10.0, np.float32)
    yy, xx = np.mgrid[0:n, 0:n]
    # channel 0: a confident peak at cell (20, 30) (row, col); channel 1: weak everywhere; channel 2: peak at edge
    heat[..., 0] = 8.0 * np.exp(-((yy - 20) ** 2 + (xx - 30) ** 2) / 2.0) - 4.0
    heat[..., 2] = 8.0 * np.exp(-((yy - 0) ** 2 + (xx - 63) ** 2) / 2.0) - 4.0
    uv = np.array([[30.5 / n, 20.2 / n], [0.5, 0.5], [62.0 / n, 1.0 / n]])
    out = bl.refine_with_heatmap(uv, heat)
    assert out[0] * n == pytest.approx([30.0, 20.0], abs=0.05)  # pulled onto the peak's cell index
    assert np.array_equal(out[1], uv[1])  # no confident cell: left alone
    assert out[2, 0] * n > 62.0 and out[2, 1] * n < 1.0  # cells off the map count as zero


def test_one_euro_follows_fast_motion_and_damps_jitter():
    f = bl.OneEuro(min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0)
    rng = np.random.default_rng(0)
    still = [f.apply(np.array([100.0 + rng.normal(0, 2.0)]), 1 / 300) for _ in range(60)]
    # MediaPipe's pose setting (beta 80) smooths little: jitter of sd 2 px on a 300-px body comes out at ~1.3
    assert np.std(np.concatenate(still[30:])) < 1.6
    slow = bl.OneEuro(min_cutoff=0.05, beta=0.0, derivate_cutoff=1.0)  # without the speed term: heavy smoothing
    calm = [slow.apply(np.array([100.0 + rng.normal(0, 2.0)]), 1 / 300) for _ in range(60)]
    assert np.std(np.concatenate(calm[30:])) < 0.3
    moved = [f.apply(np.array([100.0 + 15.0 * i]), 1 / 300) for i in range(1, 11)]
    assert moved[-1][0] > 100.0 + 15.0 * 10 - 3.0  # a fast move (15 px per frame) is followed within 3 px


def test_engine_choice(monkeypatch):
    monkeypatch.setenv("GAITSCOPE_POSE_ENGINE", "mediapipe")
    assert resolve_engine() == "mediapipe"
    assert resolve_engine("auto") in ("litert", "mediapipe")
    monkeypatch.setenv("GAITSCOPE_POSE_ENGINE", "openpose")
    with pytest.raises(GaitscopeError) as e:
        resolve_engine()
    assert "openpose" in str(e.value) and "litert" in e.value.hint
    monkeypatch.setattr(bl, "litert_available", lambda: False)
    assert resolve_engine("auto") == "mediapipe"
    with pytest.raises(GaitscopeError) as e:
        resolve_engine("litert")
    assert "ai-edge-litert" in str(e.value)


def _frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SAMPLE))
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return out


@needs_litert
def test_litert_agrees_with_mediapipe_on_the_sample():
    """Same networks, re-implemented tracking: landmarks within a few pixels of MediaPipe's on a 409-px-tall walker.

    Measured on the first 120 frames: median 1.9-3 px per body part, visibility differences about 0.01. The
    95th percentile is larger at the feet (up to about 30 px) where the network itself hesitates between the
    crossing ankles in a side view and a sub-pixel difference of the crop decides.
    """
    import mediapipe as mp

    frames = _frames(120)
    h, w = frames[0].shape[:2]
    ref = np.full((len(frames), 33, 4), np.nan)
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True) as pose:
        for i, f in enumerate(frames):
            r = pose.process(f)
            if r.pose_landmarks:
                ref[i] = [(p.x, p.y, p.z, p.visibility) for p in r.pose_landmarks.landmark]
    ours = np.full_like(ref, np.nan)
    with bl.BlazePoseLiteRT() as pose:
        for i, f in enumerate(frames):
            r = pose.process(f)
            if r is not None:
                ours[i] = r
    assert np.isfinite(ref[:, 0, 0]).all() and np.isfinite(ours[:, 0, 0]).all()
    d = np.hypot((ref[..., 0] - ours[..., 0]) * w, (ref[..., 1] - ours[..., 1]) * h)
    body = [11, 12, 23, 24, 25, 26, 27, 28]  # shoulders, hips, knees, ankles
    assert np.median(d[:, body]) < 4.0
    assert np.percentile(d[:, body], 90) < 15.0
    assert np.median(np.abs(ref[..., 3] - ours[..., 3])) < 0.03


@needs_litert
def test_detect_keypoints_with_litert_on_the_sample(monkeypatch):
    monkeypatch.setenv("GAITSCOPE_POSE_ENGINE", "litert")
    kp = detect_keypoints(SAMPLE, workers=1, stop=60)
    assert kp.source.startswith("blazepose-full/litert-") and kp.n_frames == 60
    assert np.isfinite(kp.xy_px).all() and (kp.conf[:, 0] > 0.8).all()


def test_no_person_in_an_empty_frame_with_litert():
    if not bl.litert_available():
        pytest.skip("ai-edge-litert is not installed")
    with bl.BlazePoseLiteRT() as pose:
        assert pose.process(np.zeros((360, 640, 3), np.uint8)) is None



@pytest.mark.parametrize("workers", [1, 2])
def test_detection_can_be_cancelled_and_stops_its_processes(monkeypatch, workers):
    """The pipeline starts 2D first and cancels it when the video is found analyzed: it must stop promptly."""
    import multiprocessing
    import threading
    import time

    from gaitscope.pose2d import detect as detect_mod

    monkeypatch.setattr(detect_mod, "MIN_FRAMES_PER_WORKER", 30)
    cancel = threading.Event()
    t0 = time.perf_counter()

    def progress(done, total):
        cancel.set()  # after the first frames

    with pytest.raises(detect_mod.DetectionCancelled):
        detect_keypoints(SAMPLE, workers=workers, progress=progress, cancel=cancel)
    assert time.perf_counter() - t0 < 20
    deadline = time.time() + 10
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


def test_background_detection_hands_its_error_to_the_caller(monkeypatch):
    from gaitscope.errors import NoPersonError
    from gaitscope.io.video import probe_video
    from gaitscope.pose2d import detect as detect_mod
    from gaitscope.pose2d.detect_background import BackgroundDetection

    def nobody(info, workers=2, progress=None, cancel=None, **kw):
        raise NoPersonError("No person was found in the video.", "Film the whole body.")

    monkeypatch.setattr(detect_mod, "detect_keypoints", nobody)
    job = BackgroundDetection(probe_video(SAMPLE), workers=1)
    with pytest.raises(NoPersonError, match="No person"):
        job.result()
    assert not job.running


def test_detector_processes_do_not_rerun_the_parents_main_script(monkeypatch, tmp_path):
    """Under Streamlit ``__main__`` is the dashboard script; spawned detector processes must not execute it."""
    import sys
    import types

    from gaitscope.pose2d import detect as detect_mod

    script = tmp_path / "app.py"
    script.write_text("raise SystemExit('the main script ran in a detector process')\n")
    fake_main = types.ModuleType("__main__")
    fake_main.__file__ = str(script)
    fake_main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", fake_main)
    monkeypatch.setattr(detect_mod, "MIN_FRAMES_PER_WORKER", 30)
    kp = detect_keypoints(SAMPLE, workers=2, stop=80)
    assert kp.n_frames == 80 and np.isfinite(kp.xy_px).all()
    assert sys.modules["__main__"] is fake_main  # put back after the processes started
