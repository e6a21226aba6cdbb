"""Action recognition head (official MotionBERT layout), its checkpoints, input normalisation, few-shot matching
and activity segmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitscope.errors import CheckpointError, InvalidInputError
from gaitscope.models.action import (
    ActionNet,
    action_clip,
    confusion_matrix,
    crop_scale,
    load_action_checkpoint,
    predict_logits,
    resample_indices,
    save_action_checkpoint,
)
from gaitscope.models.action_matching import ActionMatcher, ActivitySegment, segment_activities
from gaitscope.models.configs import DSTformerConfig
from gaitscope.models.dstformer import DSTformer
from gaitscope.records import Keypoints2D, Motion3D

CFG = DSTformerConfig(name="act-tiny", dim_feat=32, dim_rep=24, depth=1, num_heads=4, mlp_ratio=2.0, maxlen=48)
HIDDEN, N_CLS = 40, 5


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def official_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random action checkpoint as MotionBERT's train_action.py writes it (DataParallel prefixes)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sd = {f"module.backbone.{k}": v.clone() for k, v in DSTformer(**CFG.model_kwargs()).state_dict().items()}
    width = CFG.dim_rep * CFG.num_joints
    sd.update({
        "module.head.bn.weight": torch.rand(HIDDEN, generator=g) + 0.5,
        "module.head.bn.bias": torch.randn(HIDDEN, generator=g),
        "module.head.bn.running_mean": torch.randn(HIDDEN, generator=g) * 0.1,
        "module.head.bn.running_var": torch.rand(HIDDEN, generator=g) + 0.5,
        "module.head.bn.num_batches_tracked": torch.tensor(1234),
        "module.head.fc1.weight": torch.randn(HIDDEN, width, generator=g) * 0.05,
        "module.head.fc1.bias": torch.randn(HIDDEN, generator=g) * 0.1,
        "module.head.fc2.weight": torch.randn(N_CLS, HIDDEN, generator=g) * 0.1,
        "module.head.fc2.bias": torch.randn(N_CLS, generator=g) * 0.1,
    })
    return sd


def _save_official(path, sd) -> None:
    torch.save({"epoch": 10, "lr": [1e-4], "optimizer": None, "model": sd, "best_acc": 91.5}, path)


def test_official_action_checkpoint_loads_shape_for_shape_and_computes_the_official_head(tmp_path):
    sd = official_state_dict()
    path = tmp_path / "best_epoch.bin"
    _save_official(path, sd)
    loaded = load_action_checkpoint(path)
    model = loaded.model
    assert loaded.version == "class" and model.head.num_classes == N_CLS
    assert loaded.report.container == "model" and loaded.report.n_loaded == len(sd)
    assert loaded.report.info["best_acc"] == 91.5
    ours = model.state_dict()
    assert set(ours) == {k.removeprefix("module.") for k in sd}
    for k, v in sd.items():
        assert torch.equal(ours[k.removeprefix("module.")], v), k
    # logits = fc2(relu(bn(fc1(mean over persons of flatten(mean over time of the representation)))))
    x = torch.randn(3, 2, 20, 17, 3)
    with torch.no_grad():
        rep = model.backbone.get_representation(x.reshape(6, 20, 17, 3)).reshape(3, 2, 20, 17, -1)
        feat = rep.mean(dim=2).reshape(3, 2, -1).mean(dim=1)
        h = feat @ sd["module.head.fc1.weight"].T + sd["module.head.fc1.bias"]
        h = (h - sd["module.head.bn.running_mean"]) / torch.sqrt(sd["module.head.bn.running_var"] + 1e-5)
        h = torch.relu(h * sd["module.head.bn.weight"] + sd["module.head.bn.bias"])
        expected = h @ sd["module.head.fc2.weight"].T + sd["module.head.fc2.bias"]
    np.testing.assert_allclose(predict_logits(model, x), expected.numpy(), rtol=1e-4, atol=1e-5)
    # persons are pooled by a mean: their order does not matter
    np.testing.assert_allclose(predict_logits(model, x.flip(1)), expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("key, shape", [("module.head.fc1.weight", (HIDDEN, 17 * 20)),
                                        ("module.head.bn.running_var", (HIDDEN + 1,)),
                                        ("module.backbone.pos_embed", (1, 17, 16))])
def test_a_wrong_shape_is_a_checkpoint_error_naming_the_key(tmp_path, key, shape):
    sd = official_state_dict()
    sd[key] = torch.zeros(shape)
    path = tmp_path / "bad.bin"
    _save_official(path, sd)
    bare = key.removeprefix("module.").removeprefix("backbone.")
    with pytest.raises(CheckpointError, match=bare.replace(".", r"\.")):
        load_action_checkpoint(path, config=CFG)


def test_missing_head_key_class_count_and_non_action_files_are_refused(tmp_path):
    sd = official_state_dict()
    del sd["module.head.bn.running_mean"]
    _save_official(tmp_path / "a.bin", sd)
    with pytest.raises(CheckpointError, match=r"missing key\(s\): head\.bn\.running_mean"):
        load_action_checkpoint(tmp_path / "a.bin")
    _save_official(tmp_path / "b.bin", official_state_dict())
    with pytest.raises(CheckpointError, match="5 classes"):
        load_action_checkpoint(tmp_path / "b.bin", num_classes=60)
    pose_only = {k: v for k, v in official_state_dict().items() if "head." not in k or "backbone" in k}
    torch.save({"model_pos": {k.replace("backbone.", ""): v for k, v in pose_only.items()}}, tmp_path / "c.bin")
    with pytest.raises(CheckpointError, match="no action head"):
        load_action_checkpoint(tmp_path / "c.bin")


def test_one_shot_embedding_checkpoint_layout(tmp_path):
    sd = {k: v for k, v in official_state_dict().items() if "head.bn" not in k and "head.fc2" not in k}
    _save_official(tmp_path / "oneshot.bin", sd)
    loaded = load_action_checkpoint(tmp_path / "oneshot.bin")
    assert loaded.version == "embed"
    emb = predict_logits(loaded.model, torch.randn(2, 2, 8, 17, 3))
    assert emb.shape == (2, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_our_format_round_trip_keeps_class_names_and_outputs(tmp_path):
    torch.manual_seed(3)
    model = ActionNet.build(CFG, 3, hidden_dim=HIDDEN, class_names=("walk", "sit-to-stand", "squat")).eval()
    path = save_action_checkpoint(tmp_path / "m.pt", model, CFG, {"n_frames": 16})
    loaded = load_action_checkpoint(path)
    assert loaded.model.class_names == ("walk", "sit-to-stand", "squat")
    assert loaded.metadata["n_frames"] == 16 and loaded.config == CFG
    x = torch.randn(2, 2, 16, 17, 3)
    np.testing.assert_allclose(predict_logits(loaded.model, x), predict_logits(model, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(CheckpointError, match="classes"):
        load_action_checkpoint(path, num_classes=4)


def test_action_clip_reproduces_the_official_box_normalisation_and_resampling():
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, (2, 30, 17, 2))
    xy[1] += 200
    conf = np.ones((2, 30, 17))
    conf[0, 0, 0] = 0.0
    clip = action_clip(xy, conf, n_frames=45, scale_ratio=2.0)
    assert clip.shape == (2, 45, 17, 3) and clip.dtype == np.float32
    known = clip[..., 2] > 0
    # the box of every confident joint, enlarged twice, fills [-0.5, 0.5] along its longer side
    longer = np.argmax(np.ptp(xy[conf > 0], axis=0))
    assert clip[..., longer][known].min() == pytest.approx(-0.5, abs=1e-5)
    assert clip[..., longer][known].max() == pytest.approx(0.5, abs=1e-5)
    assert (clip[0, 0, 0] == 0).all()  # unknown joint: all zeros
    np.testing.assert_array_equal(resample_indices(30, 45)[:4], [0, 0, 1, 2])
    np.testing.assert_array_equal(resample_indices(300, 3), [0, 100, 200])
    single = action_clip(xy[0], None, n_frames=10)
    assert single.shape == (2, 10, 17, 3) and (single[1] == 0).all()  # the "fake" second person
    assert (crop_scale(xy[:, :1, :1], np.ones((2, 1, 1))) == 0).all()  # fewer than 4 joints: nothing
    with pytest.raises(InvalidInputError):
        action_clip(np.zeros((10, 17, 3)))


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 0]])


# ---------------------------------------------------------------------------------------------------------
# Few-shot matching and segmentation
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return DSTformer(**DSTformerConfig(name="m", dim_feat=32, dim_rep=32, depth=1, num_heads=4, maxlen=64)
                     .model_kwargs()).eval()


def _clip2d(action: str, subject_seed: int, n_frames: int = 40, yaw: float = 0.0) -> np.ndarray:
    """(T, 17, 3) colour-pixel keypoints + confidence of one synthetic action."""
    from gaitscope.models import ntu
    from gaitscope.models.ntu_synthetic import body_joints, to_camera

    rng = np.random.default_rng(subject_seed)
    xyz = to_camera(body_joints(action, n_frames, rng.uniform(1.5, 1.9), rng.uniform(0.85, 1.15)), yaw)
    xy, conf = ntu.kinect_to_h36m(ntu.project_points(xyz))
    return np.concatenate([xy, conf[..., None]], axis=-1)


ACTIONS = ("walk", "sit-to-stand", "arm raise", "squat")


def test_matcher_fit_predict_score_beats_chance_with_one_example_per_class(backbone):
    matcher = ActionMatcher(backbone, n_frames=32)
    support = [_clip2d(a, 1) for a in ACTIONS]
    assert matcher.fit(support, ACTIONS) is matcher
    assert matcher.classes_ == ACTIONS and matcher.prototypes_.shape[0] == 4
    np.testing.assert_allclose(np.linalg.norm(matcher.prototypes_, axis=1), 1.0, rtol=1e-5)
    # an example is closest to its own prototype (similarity 1 up to float error)
    np.testing.assert_allclose(np.diag(matcher.similarities(support)), 1.0, atol=1e-5)
    queries = [_clip2d(a, s, yaw=y) for s, y in ((2, 10.0), (3, -10.0)) for a in ACTIONS]
    labels = [a for _ in range(2) for a in ACTIONS]
    # random encoder weights: the tolerance is "clearly above chance" (0.25), measured 0.75 with this seed
    assert matcher.score(queries, labels) >= 0.5
    assert set(matcher.predict(queries)) <= set(ACTIONS)
    with pytest.raises(InvalidInputError, match="fit"):
        ActionMatcher(backbone).predict(queries)
    with pytest.raises(InvalidInputError):
        matcher.fit(support, ACTIONS[:2])


def test_matcher_accepts_keypoints_and_motion_records(backbone):
    clip = _clip2d("arm raise", 5)
    kp = Keypoints2D(xy_px=clip[..., :2].astype(np.float32), conf=clip[..., 2].astype(np.float32), fps=30.0,
                     width=1920, height=1080, frame_index=np.arange(len(clip)),
                     interpolated=np.zeros(len(clip), bool), source="synthetic")
    from gaitscope.models import ntu
    from gaitscope.models.ntu_synthetic import body_joints

    xyz, _ = ntu.kinect_to_h36m(body_joints("arm raise", 40))
    motion = Motion3D(xyz_m=xyz.astype(np.float32), fps=30.0, up=(0.0, 1.0, 0.0), root_relative=False,
                      scale_source="synthetic ground truth", source="synthetic")
    matcher = ActionMatcher(backbone, n_frames=32).fit([_clip2d(a, 1) for a in ACTIONS], ACTIONS)
    emb = matcher.embed([kp, clip])
    np.testing.assert_allclose(emb[0], emb[1], atol=1e-5)  # record and array give the same embedding
    assert matcher.embed([motion]).shape == emb[:1].shape


def test_segment_activities_finds_the_order_and_boundary_of_a_recording(backbone):
    matcher = ActionMatcher(backbone, n_frames=32).fit([_clip2d("walk", 1, 60), _clip2d("arm raise", 1, 60)],
                                                       ["walk", "arm raise"])
    recording = np.concatenate([_clip2d("walk", 7, 60), _clip2d("arm raise", 7, 60)])  # 2 s + 2 s at 30 fps
    segs = segment_activities(recording, matcher, window_s=1.0, hop_s=0.5, fps=30.0)
    assert all(isinstance(s, ActivitySegment) for s in segs)
    assert segs[0].label == "walk" and segs[-1].label == "arm raise"
    assert segs[0].start_s == 0.0 and segs[-1].end_s == pytest.approx(4.0)
    assert all(a.end_s == b.start_s and a.label != b.label for a, b in zip(segs, segs[1:]))
    change = next(s.start_s for s in segs if s.label == "arm raise")
    assert 1.25 <= change <= 2.75
    assert all(-1.0 <= s.similarity <= 1.0 for s in segs)
    windows = segment_activities(recording, matcher, window_s=1.0, hop_s=0.5, fps=30.0, merge=False)
    assert len(windows) == 7 and windows[0].end_s - windows[0].start_s == pytest.approx(1.0)
    strict = segment_activities(recording, matcher, window_s=1.0, hop_s=0.5, fps=30.0, min_similarity=1.01)
    assert [s.label for s in strict] == ["unknown"]
    with pytest.raises(InvalidInputError, match="frame rate"):
        segment_activities(recording, matcher)


def test_training_augmentation_moves_only_known_joints_and_varies_by_epoch():
    from gaitscope.models.action import ActionClipDataset, random_move

    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, (20, 17, 2))
    conf = np.ones((20, 17))
    conf[:, 3] = 0.0
    moved = random_move(xy, conf, np.random.default_rng(1))
    assert moved.shape == xy.shape and not np.allclose(moved, xy)
    np.testing.assert_array_equal(moved[:, 3], xy[:, 3])  # unknown joints untouched
    # rigid per frame (rotation + uniform scale): ratios of distances within a frame are kept
    d = lambda p: np.linalg.norm(p[:, 0] - p[:, 1], axis=-1) / np.linalg.norm(p[:, 0] - p[:, 2], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(moved), d(xy), rtol=1e-9)
    ds = ActionClipDataset([(xy, conf)], [2], n_frames=16, augment=True, seed=0)
    a, label = ds[0]
    assert a.shape == (2, 16, 17, 3) and int(label) == 2
    assert torch.equal(ds[0][0], a)  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], a)
    fixed = ActionClipDataset([(xy, conf)], [2], n_frames=16)
    np.testing.assert_allclose(fixed[0][0].numpy(), action_clip(xy, conf, 16))
