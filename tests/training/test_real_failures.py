"""Training pairs from BlazePose's detections of rendered training trials (issue 20 point 2).

The leakage rule both ways: this builder renders only the lifter's training trials, never a trial the video
evaluation measures on; and its targets are the markers' joints in the detections' normalisation, checked here
against a camera with known geometry (no ../shared/data needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.errors import InvalidInputError
from gaitscope.records import Keypoints2D
from gaitscope.synthetic.camera import CameraTrack, PerspectiveCamera
from gaitscope.training.mocap_trials import EVAL_MOCAP, TRAIN_MOCAP
from gaitscope.training.real_failures import (
    DetectedClips,
    DetectedPair,
    EvaluationTrialError,
    MixedDataset,
    detected_pair,
    pair_arrays,
    refuse_evaluation_trial,
    training_cases,
)
from gaitscope.training.real_motion_video import VideoCase, default_cases


def _key(p: str) -> str:
    parts = Path(p).parts
    return f"{parts[-2]}/{parts[-1]}".lower()


@pytest.mark.parametrize("trial", EVAL_MOCAP)
def test_every_evaluation_trial_is_refused(trial, tmp_path):
    for path in (trial, f"/elsewhere/{trial}", trial.upper()):
        with pytest.raises(EvaluationTrialError) as err:
            refuse_evaluation_trial(path)
        assert isinstance(err.value, InvalidInputError)
    with pytest.raises(EvaluationTrialError):  # before any file is read
        detected_pair(VideoCase(trial, "side"), tmp_path / "no_data", tmp_path / "cache")


def test_training_cases_hold_only_training_trials_and_never_an_evaluation_look():
    cases = training_cases(("side", "oblique", "frontal", "back"))
    assert {_key(c.trial) for c in cases} == {_key(t) for t in TRAIN_MOCAP}
    assert not {_key(c.trial) for c in cases} & {_key(t) for t in EVAL_MOCAP}
    eval_keys = {c.key for c in default_cases(("side", "oblique", "frontal", "back"))}
    assert not {c.key for c in cases} & eval_keys
    assert len({c.key for c in cases}) == len(cases)
    side = training_cases(("side",))
    assert {(c.camera, c.fps) for c in side} == {("fixed", 30.0), ("fixed", 60.0), ("panning", 30.0),
                                                 ("panning", 60.0)}
    assert {c.from_right for c in side} == {False, True}


def test_a_subset_of_trials_keeps_each_case_and_refuses_any_other_trial():
    every = training_cases(("side", "back"))
    subset = (TRAIN_MOCAP[0], TRAIN_MOCAP[3])
    some = training_cases(("side", "back"), trials=subset)
    assert len(some) == 2 * 2 * 4  # two trials, two views, fixed/panning x 30/60 fps
    assert {c.trial for c in some} == set(subset)
    assert set(some) <= set(every)  # same seeds and looks (cache keys) as in the full set
    with pytest.raises(EvaluationTrialError):
        training_cases(("side",), trials=(TRAIN_MOCAP[0], EVAL_MOCAP[0]))
    with pytest.raises(InvalidInputError, match="not training trials"):
        training_cases(("side",), trials=("horst2019_S01/c3d/S01_0099_Gait.c3d",))


def _camera() -> CameraTrack:
    cam = PerspectiveCamera.look_at((0.0, -4.0, 1.0), (0.0, 0.0, 1.0), width=1280, height=720, hfov_deg=60.0)
    return CameraTrack.static(cam, 5)


def test_targets_are_the_true_joints_in_the_detections_normalisation():
    rng = np.random.default_rng(0)
    xyz = np.zeros((5, 17, 3))
    xyz[..., 0] = rng.uniform(-0.3, 0.3, (5, 17))
    xyz[..., 2] = rng.uniform(0.1, 1.7, (5, 17))
    xyz[:, 0] = [0.0, 0.0, 1.0]  # the root (pelvis) straight ahead of the camera, 4 m away
    xyz[:, 3] = [0.0, 0.5, 1.0]  # a joint 0.5 m further from the camera than the root
    track = _camera()
    px = track.project(xyz)
    kp = Keypoints2D(px, np.ones((5, 17)), 30.0, 1280, 720, np.arange(5), np.zeros(5, bool), "test")
    x, y = pair_arrays(kp, track, xyz)
    # a perfect detection: input minus its root is the target's 2D
    np.testing.assert_allclose(x[..., :2] - x[:, :1, :2], y[..., :2], atol=1e-5)
    # depth: 0.5 m behind the root at 4 m, scaled like the image plane (f / 4 m / half box in pixels)
    half = (px[..., 0].max() - px[..., 0].min()) / 2  # the box is wider than tall here? take the larger side
    half = max(half, (px[..., 1].max() - px[..., 1].min()) / 2)
    f = track.base.fx
    np.testing.assert_allclose(y[:, 3, 2], 0.5 * f / 4.0 / half, rtol=1e-4)
    np.testing.assert_allclose(y[:, 0], 0.0, atol=1e-7)


def test_rows_follow_the_detections_frame_index():
    xyz = np.zeros((5, 17, 3))
    xyz[..., 2] = 1.0
    xyz[:, 1, 0] = np.arange(5) * 0.1  # a joint that moves frame by frame
    track = _camera()
    px = track.project(xyz)
    keep = np.array([1, 3, 4])  # the detector lost frames 0 and 2
    kp = Keypoints2D(px[keep], np.ones((3, 17)), 30.0, 1280, 720, keep, np.zeros(3, bool), "test")
    x, y = pair_arrays(kp, track, xyz)
    np.testing.assert_allclose(x[..., :2] - x[:, :1, :2], y[..., :2], atol=1e-5)


def _pairs(n: int = 3, t: int = 20) -> list[DetectedPair]:
    rng = np.random.default_rng(1)
    return [DetectedPair(f"p{i}", rng.normal(size=(t, 17, 3)).astype(np.float32),
                         rng.normal(size=(t, 17, 3)).astype(np.float32), 30.0) for i in range(n)]


def test_clips_are_deterministic_per_epoch_and_index_and_cut_from_the_pairs():
    ds = DetectedClips(_pairs(), clip_len=9, seed=3, flip_p=0.0, joint_mask_p=0.0, frame_mask_p=0.0)
    x, y = ds[4]
    x2, _ = ds[4]
    np.testing.assert_array_equal(x.numpy(), x2.numpy())
    assert x.shape == (9, 17, 3) and y.shape == (9, 17, 3)
    p_i, s = ds.index[4]
    np.testing.assert_array_equal(y.numpy(), ds.pairs[p_i].y[s : s + 9])


def test_mixed_dataset_draws_the_asked_share_from_the_detections():
    class Base:
        def __len__(self):
            return 400

        def __getitem__(self, i):
            import torch

            return torch.full((9, 17, 3), 99.0), torch.full((9, 17, 3), 99.0)

    mixed = MixedDataset(Base(), DetectedClips(_pairs(), clip_len=9), share=0.4, seed=0)
    from_detections = np.mean([float(mixed[i][1][0, 0, 0]) != 99.0 for i in range(len(mixed))])
    assert 0.33 < from_detections < 0.47  # binomial(400, 0.4): sd 0.024
