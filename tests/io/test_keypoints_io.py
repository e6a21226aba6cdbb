"""Keypoint import/export: COCO-17 / AlphaPose and OpenPose BODY_25 JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitscope.errors import KeypointFormatError
from gaitscope.io.blazepose_map import blazepose_to_h36m
from gaitscope.io.keypoints import BODY25, COCO17, load_coco_json, load_openpose_dir, save_coco_json, save_openpose_dir
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import J

C = {n: i for i, n in enumerate(COCO17)}
O = {n: i for i, n in enumerate(BODY25)}


def blazepose_kp(t: int = 25, first_frame: int = 3, seed: int = 0) -> Keypoints2D:
    """A Keypoints2D as detect_keypoints makes it (random landmarks, some below the visibility floor)."""
    rng = np.random.default_rng(seed)
    raw = np.zeros((t, 33, 4))
    raw[..., :2] = rng.uniform(50, 1800, (t, 33, 2))
    raw[..., 2] = rng.normal(0, 100, (t, 33))
    raw[..., 3] = rng.uniform(0, 1, (t, 33))
    xy, conf = blazepose_to_h36m(raw)
    return Keypoints2D(
        xy_px=xy, conf=conf, fps=59.7, width=1920, height=1080, frame_index=np.arange(first_frame, first_frame + t),
        interpolated=np.zeros(t, bool), source="blazepose-full/mediapipe-0.10.14", raw=raw.astype(np.float32),
        raw_format="blazepose33",
    )


def coco_points(rng: np.random.Generator, offset: float = 0.0) -> np.ndarray:
    pts = np.zeros((17, 3))
    pts[:, :2] = rng.uniform(100, 600, (17, 2)) + offset
    pts[:, 2] = rng.uniform(0.3, 1.0, 17)
    return pts


def det(image_id, pts, score=None, idx=None) -> dict:
    d = {"image_id": image_id, "category_id": 1, "keypoints": [float(v) for v in pts.reshape(-1)]}
    if score is not None:
        d["score"] = score
    if idx is not None:
        d["idx"] = idx
    return d


def write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---------------------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------------------


def test_coco_round_trip(tmp_path):
    kp = blazepose_kp()
    save_coco_json(kp, tmp_path / "kp.json")
    back = load_coco_json(tmp_path / "kp.json", fps=kp.fps, width=kp.width, height=kp.height)
    np.testing.assert_allclose(back.xy_px, kp.xy_px, atol=1e-3)
    np.testing.assert_allclose(back.conf, kp.conf, atol=1e-3)
    assert back.frame_index.tolist() == kp.frame_index.tolist()
    assert (back.fps, back.width, back.height) == (kp.fps, kp.width, kp.height)
    assert back.source == "coco-json" and back.raw_format == "coco17" and back.raw.shape == (kp.n_frames, 17, 4)
    assert not back.interpolated.any() and back.notes == ()
    # a second round trip through the imported record (eyes/ears now from its raw COCO points) is exact too
    save_coco_json(back, tmp_path / "kp2.json")
    again = load_coco_json(tmp_path / "kp2.json", fps=kp.fps, width=kp.width, height=kp.height)
    np.testing.assert_allclose(again.raw, back.raw, atol=1e-3)


def test_openpose_round_trip(tmp_path):
    kp = blazepose_kp()
    files = save_openpose_dir(kp, tmp_path / "op", stem="walk")
    assert len(files) == kp.n_frames and files[0].name == "walk_000000000003_keypoints.json"
    back = load_openpose_dir(tmp_path / "op", fps=kp.fps, width=kp.width, height=kp.height)
    np.testing.assert_allclose(back.xy_px, kp.xy_px, atol=1e-3)
    np.testing.assert_allclose(back.conf, kp.conf, atol=1e-3)
    assert back.frame_index.tolist() == kp.frame_index.tolist()
    assert back.raw_format == "openpose_body25"
    # heels came from BlazePose's heels
    np.testing.assert_allclose(back.raw[:, O["left_heel"], :2], kp.raw[:, 29, :2], atol=1e-3)
    # and a list of files (shuffled) works as well as the folder
    back2 = load_openpose_dir([str(f) for f in reversed(files)], fps=kp.fps, width=kp.width, height=kp.height)
    np.testing.assert_allclose(back2.xy_px, kp.xy_px, atol=1e-3)


# ---------------------------------------------------------------------------------------------------------
# Conversion and person choice
# ---------------------------------------------------------------------------------------------------------


def test_coco_to_h36m_mapping(tmp_path):
    pts = coco_points(np.random.default_rng(1))
    kp = load_coco_json(write(tmp_path / "a.json", [det(0, pts), det(1, pts)]), fps=30, width=640, height=480)
    x, s = pts[:, :2], pts[:, 2]
    pelvis = (x[C["left_hip"]] + x[C["right_hip"]]) / 2
    thorax = (x[C["left_shoulder"]] + x[C["right_shoulder"]]) / 2
    ears = (x[C["left_ear"]] + x[C["right_ear"]]) / 2
    np.testing.assert_allclose(kp.xy_px[0, J["pelvis"]], pelvis, atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["spine"]], (pelvis + thorax) / 2, atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["head"]], ears + 0.5 * (ears - thorax), atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["right_ankle"]], x[C["right_ankle"]], atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["left_wrist"]], x[C["left_wrist"]], atol=1e-3)
    assert kp.conf[0, J["pelvis"]] == pytest.approx(min(s[C["left_hip"]], s[C["right_hip"]]), abs=1e-6)
    assert kp.conf[0, J["nose"]] == pytest.approx(s[C["nose"]], abs=1e-6)


def test_openpose_to_h36m_uses_midhip_and_neck(tmp_path):
    rng = np.random.default_rng(2)
    pts = np.column_stack([rng.uniform(100, 600, (25, 2)), rng.uniform(0.5, 1, 25)])
    doc = {"people": [{"pose_keypoints_2d": pts.reshape(-1).tolist()}]}
    write(tmp_path / "x_000000000000_keypoints.json", doc)
    write(tmp_path / "x_000000000001_keypoints.json", doc)
    kp = load_openpose_dir(tmp_path, fps=25, width=640, height=480)
    np.testing.assert_allclose(kp.xy_px[0, J["pelvis"]], pts[O["mid_hip"], :2], atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["thorax"]], pts[O["neck"], :2], atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["right_hip"]], pts[O["right_hip"], :2], atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[0, J["left_shoulder"]], pts[O["left_shoulder"], :2], atol=1e-3)


def test_alphapose_tracks_keep_the_longest_track(tmp_path):
    rng = np.random.default_rng(3)
    a, b = coco_points(rng), coco_points(rng, offset=300)
    dets = [det(f"{k}.jpg", a, score=2.5, idx=1) for k in range(10)]
    dets += [det(f"{k}.jpg", b, score=3.0, idx=2) for k in range(4)]  # more confident, but seen in fewer frames
    kp = load_coco_json(write(tmp_path / "ap.json", dets), fps=30, width=1000, height=1000)
    assert kp.n_frames == 10 and kp.frame_index.tolist() == list(range(10))
    np.testing.assert_allclose(kp.raw[0, :, :2], a[:, :2], atol=1e-3)
    assert any("kept track 1" in n for n in kp.notes)


def test_without_tracks_the_highest_score_wins_each_frame(tmp_path):
    rng = np.random.default_rng(4)
    a, b = coco_points(rng), coco_points(rng, offset=300)
    dets = [det(k, a, score=0.9) for k in range(5)] + [det(2, b, score=0.4)]
    kp = load_coco_json(write(tmp_path / "c.json", dets), fps=30, width=1000, height=1000)
    np.testing.assert_allclose(kp.raw[2, :, :2], a[:, :2], atol=1e-3)
    assert any("1 frame(s) held several people" in n for n in kp.notes)


def test_coco_dataset_format_gives_image_size(tmp_path):
    pts = coco_points(np.random.default_rng(5))
    data = {
        "images": [{"id": 10 + k, "file_name": f"f{k}.jpg", "width": 1280, "height": 720} for k in range(3)],
        "annotations": [
            {"image_id": 10 + k, "keypoints": pts.reshape(-1).tolist(), "num_keypoints": 17} for k in range(3)
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    kp = load_coco_json(write(tmp_path / "ds.json", data), fps=30)
    assert (kp.width, kp.height) == (1280, 720) and kp.frame_index.tolist() == [0, 1, 2]


def test_unknown_image_size_is_estimated_and_noted(tmp_path):
    pts = coco_points(np.random.default_rng(6))
    kp = load_coco_json(write(tmp_path / "n.json", [det(0, pts), det(1, pts)]), fps=30)
    assert kp.width >= pts[:, 0].max() and kp.height >= pts[:, 1].max()
    assert any("estimated" in n for n in kp.notes)


def test_gaps_are_filled_or_split(tmp_path):
    rng = np.random.default_rng(7)
    pts = coco_points(rng)
    short = [det(k, pts + [k, 0, 0]) for k in list(range(0, 10)) + list(range(13, 20))]
    kp = load_coco_json(write(tmp_path / "s.json", short), fps=30, width=1000, height=1000)
    assert kp.n_frames == 20 and kp.interpolated.tolist() == [10 <= k < 13 for k in range(20)]
    np.testing.assert_allclose(kp.xy_px[11, J["nose"], 0], pts[C["nose"], 0] + 11, atol=1e-3)
    long = [det(k, pts) for k in list(range(0, 10)) + list(range(40, 60))]
    kp = load_coco_json(write(tmp_path / "l.json", long), fps=30, width=1000, height=1000)
    assert kp.frame_index.tolist() == list(range(40, 60))
    assert any("Kept frames 40-59" in n for n in kp.notes)


# ---------------------------------------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, words",
    [
        ("[{\"image_id\": 0, \"keypoints\": [1, 2", "not valid json"),
        (json.dumps({"foo": 1}), "not a coco"),
        (json.dumps([]), "no detections"),
        (json.dumps([{"image_id": 0}]), "'keypoints'"),
        (json.dumps([{"image_id": 0, "keypoints": [1.0] * 50}]), "expected 51 numbers"),
        (json.dumps([{"image_id": 0, "keypoints": ["a"] * 51}]), "not numbers"),
        (json.dumps({"images": [{"id": 1}], "annotations": [{"image_id": 2, "keypoints": [1.0] * 51}]}), "not among"),
    ],
)
def test_malformed_coco(tmp_path, content, words):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(KeypointFormatError) as e:
        load_coco_json(p, fps=30)
    assert words in str(e.value).lower() and e.value.hint


def test_malformed_openpose(tmp_path):
    write(tmp_path / "a_000000000000_keypoints.json", {"version": 1.3})
    with pytest.raises(KeypointFormatError, match="no 'people' list"):
        load_openpose_dir(tmp_path, fps=30)
    write(tmp_path / "a_000000000000_keypoints.json", {"people": [{"pose_keypoints_2d": [1.0] * 54}]})
    with pytest.raises(KeypointFormatError, match="COCO-18"):
        load_openpose_dir(tmp_path, fps=30)
    write(tmp_path / "a_000000000000_keypoints.json", {"people": []})
    with pytest.raises(KeypointFormatError, match="no person"):
        load_openpose_dir(tmp_path, fps=30)
    with pytest.raises(KeypointFormatError, match="No OpenPose JSON files"):
        load_openpose_dir(_empty_dir(tmp_path), fps=30)


def _empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_missing_file_and_bad_fps(tmp_path):
    with pytest.raises(KeypointFormatError, match="does not exist"):
        load_coco_json(tmp_path / "none.json", fps=30)
    p = write(tmp_path / "ok.json", [det(0, coco_points(np.random.default_rng(8)))])
    for fps in (0, -5, float("nan"), "fast"):
        with pytest.raises(KeypointFormatError, match="frame rate"):
            load_coco_json(p, fps=fps)
