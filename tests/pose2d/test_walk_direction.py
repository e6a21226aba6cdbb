"""BlazePose on mirrored frames where the person walks toward the image's left: the mapping back, which stretches
are mirrored, and the detector on a real clip and its mirror image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gaitscope.pose2d import walk_direction as wd
from gaitscope.skeleton import BLAZEPOSE_LANDMARKS

#: Frames of the real clip used (of 135): enough for the leftward stretch (>= 0.5 s) and the tracker to settle.
N_FRAMES = 60
REAL_CLIP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "video" / "sarwesh_side" / "sarwesh_side.mp4"


def _partner(name: str) -> str:
    for a, b in (("left", "right"), ("right", "left")):
        if a in name:
            return name.replace(a, b)
    return name


def test_flip_permutation_exchanges_every_left_landmark_with_its_right_partner():
    names = list(BLAZEPOSE_LANDMARKS)
    assert len(wd.BLAZEPOSE_FLIP_PERMUTATION) == len(names) == 33
    for i, j in enumerate(wd.BLAZEPOSE_FLIP_PERMUTATION):
        assert names[j] == _partner(names[i]), (names[i], names[j])


def test_landmarks_found_on_a_mirrored_frame_map_back_exactly():
    rng = np.random.default_rng(0)
    width = 640
    true = rng.uniform(0, 1, (5, 33, 4)).astype(np.float32) * np.array([width, 360, 1, 1], dtype=np.float32)
    # What a detector returns on the mirrored frame: x mirrored, and the person's apparent sides exchanged.
    seen = np.empty_like(true)
    for i, name in enumerate(BLAZEPOSE_LANDMARKS):
        seen[:, list(BLAZEPOSE_LANDMARKS).index(_partner(name))] = true[:, i]
    seen[..., 0] = width - seen[..., 0]
    np.testing.assert_allclose(wd.unmirror_landmarks(seen, width), true, atol=1e-4)


def _walk(xs: np.ndarray, leg_px: float = 200.0) -> np.ndarray:
    """(T, 33, 4) landmarks: hips at x, ankles one leg length below; only what the direction reads."""
    raw = np.full((len(xs), 33, 4), np.nan)
    for h, a, dx in ((23, 27, 10.0), (24, 28, -10.0)):
        raw[:, h, 0], raw[:, h, 1] = xs + dx, 300.0
        raw[:, a, 0], raw[:, a, 1] = xs + dx, 300.0 + leg_px
    return raw


def test_leftward_stretches_are_the_walks_toward_the_left():
    fps = 30.0
    t = np.arange(0, 3, 1 / fps)
    speed = 1.5 * 200.0  # 1.5 leg lengths per second, a slow walk
    assert wd.leftward_stretches(_walk(1500 - speed * t), fps) == [(0, len(t))]
    assert wd.leftward_stretches(_walk(100 + speed * t), fps) == []
    assert wd.leftward_stretches(_walk(np.full(len(t), 800.0)), fps) == []  # standing
    # There and back: only the way back, give or take the smoothing of a second around the turn.
    there_back = np.concatenate([100 + speed * t, 100 + speed * 3 - speed * t])
    (a, b), = wd.leftward_stretches(_walk(there_back), fps)
    assert abs(a - len(t)) <= fps and b == 2 * len(t)
    # A sway of the hips while turning (under the speed for under half a second) is not a walk.
    sway = 800 - 0.3 * 200 * np.sin(2 * np.pi * t)
    assert wd.leftward_stretches(_walk(sway), fps) == []


def test_splice_keeps_the_first_pass_where_the_mirrored_pass_lost_the_person():
    first = np.zeros((10, 33, 4))
    second = np.ones((4, 33, 4))
    second[1] = np.nan
    out = wd.splice(first, second, 3)
    assert (out[[3, 5, 6]] == 1).all() and (out[4] == 0).all() and (out[:3] == 0).all() and (out[7:] == 0).all()


def test_switch_turns_it_off(monkeypatch):
    from gaitscope.pose2d.detect import detector_source, engine_tag

    monkeypatch.delenv(wd.ENV_SWITCH, raising=False)
    default = (detector_source("mediapipe"), engine_tag("mediapipe"))
    monkeypatch.setenv(wd.ENV_SWITCH, "0")
    off = (detector_source("mediapipe"), engine_tag("mediapipe"))
    monkeypatch.setenv(wd.ENV_SWITCH, "1")
    on = (detector_source("mediapipe"), engine_tag("mediapipe"))
    assert off[0] + "+mirrorleft" == on[0] and off[1] + "-ml" == on[1]
    assert default == on  # on by default


@pytest.mark.slow
@pytest.mark.realdata
def test_real_clip_walking_left_is_detected_as_its_mirror_image_walking_right(tmp_path, monkeypatch):
    """The real clip walks right to left. Its mirror image (written losslessly) walks left to right and is
    detected as it is; mapped back, that must be what the product returns for the original (which mirrors it
    internally), to the pixel but for the tracker's warm-up."""
    if not REAL_CLIP.exists():
        pytest.skip(f"real clip not available: {REAL_CLIP}")
    from gaitscope.io.blazepose_map import blazepose_to_h36m
    from gaitscope.pose2d.detect import detect_keypoints

    cap = cv2.VideoCapture(str(REAL_CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    flipped = tmp_path / "flipped.avi"
    out = cv2.VideoWriter(str(flipped), cv2.VideoWriter_fourcc(*"FFV1"), fps, (w, h))
    for _ in range(N_FRAMES):  # the first second: the walker already crosses to the left
        ok, frame = cap.read()
        assert ok
        out.write(cv2.flip(frame, 1))
    out.release()
    cap.release()

    monkeypatch.setenv(wd.ENV_SWITCH, "1")  # the default, pinned
    product = detect_keypoints(REAL_CLIP, workers=1, stop=N_FRAMES)
    assert any("mirrored frames" in note for note in product.notes), product.notes
    as_mirror = detect_keypoints(flipped, workers=1)
    assert not any("mirrored frames" in note for note in as_mirror.notes)  # it walks right: nothing mirrored
    back_xy, back_conf = blazepose_to_h36m(wd.unmirror_landmarks(as_mirror.raw, w))
    common = np.intersect1d(product.frame_index, as_mirror.frame_index)
    a = product.xy_px[np.searchsorted(product.frame_index, common)]
    b = back_xy[np.searchsorted(as_mirror.frame_index, common)]
    err = np.linalg.norm(a - b, axis=-1)
    assert np.median(err) < 2.0  # px in a 1080p frame, body about 700 px
