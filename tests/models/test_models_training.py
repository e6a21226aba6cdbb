"""Losses, datasets and the training loop (overfitting, crash and resume, schedule, logging)."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
import torch

from gaitscope.models.checkpoints import load_checkpoint
from gaitscope.models.datasets import (
    CameraView,
    ClipDataset,
    Corruption,
    Motion3DClipDataset,
    TensorClipDataset,
    corrupt,
    orthographic_sampler,
    pinhole_view,
)
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.heads import ClassificationHead, EncoderClassifier
from gaitscope.models.losses import (
    LEFT_ANKLE,
    RIGHT_ANKLE,
    LossWeights,
    feet_separation_loss,
    mpjpe,
    n_mpjpe,
    pose3d_loss,
    velocity_loss,
)
from gaitscope.models.training import (
    ClassificationObjective,
    Pose3DObjective,
    TrainConfig,
    load_train_state,
    lr_factor,
    train,
)
from gaitscope.records import Motion3D

# -- losses ---------------------------------------------------------------------------------------------------------


def test_losses_behave():
    y = torch.randn(2, 5, 17, 3)
    assert mpjpe(y + torch.tensor([3.0, 4.0, 0.0]), y).item() == pytest.approx(5.0)
    assert n_mpjpe(2.5 * y, y).item() == pytest.approx(0.0, abs=1e-5)
    assert mpjpe(2.5 * y, y).item() > 0.5
    assert velocity_loss(y + 1.0, y).item() == pytest.approx(0.0, abs=1e-6)
    assert velocity_loss(y[:, :1] * 3, y[:, :1]).item() == 0.0
    total, terms = pose3d_loss(y + 0.1, y, LossWeights(limb=1.0))
    assert set(terms) == {"mpjpe", "n_mpjpe", "velocity", "limb"}
    expected = terms["mpjpe"] + 0.5 * terms["n_mpjpe"] + 20 * terms["velocity"] + terms["limb"]
    assert total.item() == pytest.approx(expected, rel=1e-5)


def test_feet_separation_loss_sees_what_mpjpe_does_not():
    """Two predictions with the same MPJPE: both ankles 3 cm forward (separation right) and the ankles 3 cm
    toward each other (each step 6 cm short). Only the second is charged by the feet term, by exactly 6 cm."""
    y = torch.randn(2, 5, 17, 3)
    y[..., LEFT_ANKLE, :] = y[..., RIGHT_ANKLE, :] + torch.tensor([0.4, 0.0, 0.1])  # left foot 40 cm ahead
    ahead = y.clone()
    ahead[..., [LEFT_ANKLE, RIGHT_ANKLE], 0] += 0.03
    closer = y.clone()
    closer[..., LEFT_ANKLE, 0] -= 0.03
    closer[..., RIGHT_ANKLE, 0] += 0.03
    assert mpjpe(ahead, y).item() == pytest.approx(mpjpe(closer, y).item(), rel=1e-5)
    assert feet_separation_loss(ahead, y).item() == pytest.approx(0.0, abs=1e-6)
    assert feet_separation_loss(closer, y).item() == pytest.approx(0.06, rel=1e-4)
    swapped = y.clone()
    swapped[..., [LEFT_ANKLE, RIGHT_ANKLE], :] = y[..., [RIGHT_ANKLE, LEFT_ANKLE], :]
    assert feet_separation_loss(swapped, y).item() == pytest.approx(2 * (0.4**2 + 0.1**2) ** 0.5, rel=1e-4)
    total, terms = pose3d_loss(closer, y, LossWeights(feet=2.0))
    assert terms["feet"] == pytest.approx(0.06, rel=1e-4)
    assert total.item() == pytest.approx(terms["mpjpe"] + 0.5 * terms["n_mpjpe"] + 20 * terms["velocity"]
                                         + 2.0 * terms["feet"], rel=1e-5)
    assert "feet" not in pose3d_loss(closer, y)[1]  # the published objective by default


# -- datasets -------------------------------------------------------------------------------------------------------


def walking_motion(t: int = 100, seed: int = 0) -> Motion3D:
    """A crude Z-up stick figure moving forward with swinging limbs (enough structure for tests)."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0, 0.2, size=(17, 3)) + np.array([0, 0, 1.0])
    rest[0] = [0, 0, 1.0]
    phase = np.linspace(0, 4 * np.pi, t)
    xyz = np.repeat(rest[None], t, axis=0)
    xyz[:, [2, 3, 12, 13], 0] += 0.2 * np.sin(phase)[:, None]
    xyz[:, [5, 6, 15, 16], 0] -= 0.2 * np.sin(phase)[:, None]
    xyz[..., 0] += np.linspace(0, 3, t)[:, None]
    return Motion3D(xyz.astype(np.float32), 30.0, (0.0, 0.0, 1.0), False, "test", "test")


def test_motion_dataset_pairs_are_consistent_and_deterministic():
    motions = [walking_motion(100), walking_motion(20, 1)]
    ds = Motion3DClipDataset(motions, orthographic_sampler(), Corruption.none(), clip_len=27)
    assert isinstance(ds, ClipDataset)
    assert len(ds) == 4 + 1  # 100 frames -> starts 0, 27, 54, 73; the 20-frame motion is stretched to one clip
    x, y = ds[0]
    assert x.shape == y.shape == (27, 17, 3) and x.dtype == torch.float32
    assert torch.all(x[..., 2] == 1.0)
    assert x[..., :2].abs().max() <= 1.0 + 1e-6
    assert torch.allclose(y[:, 0], torch.zeros(27, 3))  # root-relative target
    assert torch.allclose(y[..., :2], x[..., :2] - x[:, :1, :2], atol=1e-5)  # target xy = clean input xy
    assert torch.equal(ds[0][0], x)  # same epoch, same item -> same pair
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], x)  # a new camera per epoch
    assert ds[4][0].shape == (27, 17, 3)


def test_corruption_masks_and_lowers_confidence():
    clean = np.ones((200, 17, 3), dtype=np.float32) * 0.1
    noisy = corrupt(clean, Corruption(offset_std=0.02, joint_mask_p=0.05, frame_mask_p=0.1), np.random.default_rng(0))
    zero = np.all(noisy == 0, axis=-1)
    assert 0.08 < zero.mean() < 0.25  # ~ 1 - 0.95 * 0.9
    kept = ~zero
    assert np.all(noisy[..., 2][kept] < 1.0) and np.all(noisy[..., 2][kept] > 0.0)
    assert np.abs(noisy[..., :2][kept] - 0.1).mean() > 0.005
    assert np.array_equal(corrupt(clean, Corruption.none(), np.random.default_rng(0)), clean)


def test_pinhole_view_gives_depth_in_pixel_units():
    xyz = np.array([[[0.0, 0.0, 4.0]] * 17], dtype=np.float64)
    xyz[0, 1] = [0.5, 0.0, 5.0]
    v = pinhole_view(xyz, focal_px=1000.0, width=1000, height=800)
    assert isinstance(v, CameraView)
    assert np.allclose(v.xy_px[0, 0], [500, 400]) and np.allclose(v.xy_px[0, 1], [600, 400])
    assert np.isclose(v.z_px[0, 1], 1.0 * 1000 / 4.0)


# -- training loop --------------------------------------------------------------------------------------------------


def _tiny(cfg, seed=0) -> DSTformer:
    torch.manual_seed(seed)
    return DSTformer(**cfg.model_kwargs())


def test_model_overfits_a_tiny_batch(tmp_path, tiny_config):
    # A lifting-like target: image-plane xy of the input plus a fixed depth per joint, root-relative.
    tiny_config = replace(tiny_config, depth=1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 17, 3, generator=g)
    depth = 0.5 * torch.randn(17, generator=g)
    y = torch.cat([x[..., :2], depth.expand(2, 4, 17)[..., None]], dim=-1)
    y = y - y[:, :, :1]
    model = _tiny(tiny_config)
    objective = Pose3DObjective(LossWeights(nmpjpe=0.0, velocity=0.0))
    with torch.no_grad():
        start = objective(model, (x, y), torch.device("cpu"))[0].item()
    cfg = TrainConfig(steps=100, batch_size=2, lr=5e-3, weight_decay=0.0, grad_clip=None, ckpt_every=1000,
                      progress=False)
    res = train(model, TensorClipDataset(x, y), objective, cfg, tmp_path, export_config=tiny_config,
                metadata={"model_version": "overfit-test", "training_data": "2 random clips"})
    assert res.last_loss < start / 10, (start, res.last_loss)
    exported = load_checkpoint(tmp_path / "model.pt")
    assert exported.metadata["model_version"] == "overfit-test"
    assert exported.metadata["training"]["steps"] == 100
    with torch.no_grad():
        assert torch.equal(exported.model.eval()(x), model.eval()(x))


class _Crash(RuntimeError):
    pass


def test_resume_after_crash_matches_uninterrupted_run(tmp_path, tiny_config):
    ds = Motion3DClipDataset([walking_motion(80)], orthographic_sampler(), Corruption(), clip_len=16, stride=8)
    cfg = TrainConfig(steps=6, batch_size=3, lr=1e-3, warmup_steps=2, ckpt_every=2, progress=False)

    full = _tiny(tiny_config)
    train(full, ds, Pose3DObjective(), cfg, tmp_path / "full")

    calls = {"n": 0}

    def crashing(model, batch, device):
        calls["n"] += 1
        if calls["n"] == 5:  # dies during step 5, after the checkpoint of step 4
            raise _Crash("power cut")
        return Pose3DObjective()(model, batch, device)

    crashed = _tiny(tiny_config)
    with pytest.raises(_Crash):
        train(crashed, ds, crashing, cfg, tmp_path / "run")
    assert load_train_state(tmp_path / "run" / "last.pt")["step"] == 4

    resumed = _tiny(tiny_config, seed=99)  # a fresh process would build a fresh model
    res = train(resumed, ds, Pose3DObjective(), cfg, tmp_path / "run")
    assert res.resumed_from == 4 and res.step == 6
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    with (tmp_path / "run" / "metrics.csv").open() as fh:
        steps = [int(r["step"]) for r in csv.DictReader(fh)]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_lr_schedule_warmup_cosine_and_step():
    cfg = TrainConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == pytest.approx(1.0)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.55)
    assert lr_factor(110, cfg) == pytest.approx(0.1)
    step = TrainConfig(steps=100, schedule="step", step_size=10, gamma=0.5)
    assert lr_factor(25, step) == pytest.approx(0.25)


def test_classification_finetuning_with_frozen_backbone(tmp_path, tiny_config):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 12, 17, 3, generator=g)
    labels = torch.tensor([0, 1] * 4)
    x[labels == 1, ..., 0] += 0.5  # separable classes
    backbone = _tiny(tiny_config)
    frozen = {k: v.clone() for k, v in backbone.state_dict().items()}
    head = ClassificationHead(tiny_config.dim_rep, 2, hidden=(16,), dropout=0.1)
    model = EncoderClassifier(backbone, head, freeze_backbone=True)
    cfg = TrainConfig(steps=40, batch_size=8, lr=1e-2, schedule="constant", ckpt_every=100, progress=False)
    res = train(model, TensorClipDataset(x, labels), ClassificationObjective(class_weights=(1.0, 1.0)), cfg, tmp_path)
    for k, v in backbone.state_dict().items():
        assert torch.equal(v, frozen[k]), k
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(-1) == labels).float().mean().item()
    assert acc == 1.0 and res.last_loss < 0.3
    assert set(model.state_dict()) >= {"backbone.temp_embed", "head.mlp.1.weight"}
