"""Loading official MotionBERT checkpoint layouts and our own format."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from gaitscope.errors import CheckpointError
from gaitscope.models.checkpoints import (
    infer_config,
    load_checkpoint,
    read_checkpoint_file,
    save_checkpoint,
)
from gaitscope.models.configs import get_config
from gaitscope.models.dstformer import DSTformer


@pytest.fixture
def model(tiny_config) -> DSTformer:
    torch.manual_seed(1)
    return DSTformer(**tiny_config.model_kwargs()).eval()


def _out(m: DSTformer, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        return m(torch.randn(1, 7, 17, 3, generator=g))


def test_pose_layout_with_module_prefix_loads_strictly_and_reproduces(tmp_path, model, tiny_config):
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    path = tmp_path / "latest_epoch.bin"
    torch.save({"epoch": 89, "lr": 1e-4, "min_loss": np.float64(37.2), "model_pos": sd}, path)
    loaded = load_checkpoint(path)
    assert loaded.config.model_kwargs() == tiny_config.model_kwargs()  # inferred from shapes
    assert loaded.report.container == "model_pos"
    assert loaded.report.n_loaded == len(sd)
    assert loaded.report.skipped == ()
    assert loaded.report.info == {"epoch": 89, "lr": 1e-4, "min_loss": 37.2}
    assert torch.equal(_out(loaded.model), _out(model))


def test_task_layout_loads_backbone_and_reports_task_head(tmp_path, model):
    sd = {f"module.backbone.{k}": v.clone() for k, v in model.state_dict().items()}
    sd["module.head.fc1.weight"] = torch.zeros(8, 4)
    sd["module.head.bn.running_mean"] = torch.zeros(8)
    path = tmp_path / "best_epoch.bin"
    torch.save({"epoch": 3, "best_acc": 0.9, "model": sd}, path)
    loaded = load_checkpoint(path)
    assert loaded.report.container == "model"
    skipped = dict(loaded.report.skipped)
    assert set(skipped) == {"head.fc1.weight", "head.bn.running_mean"}
    assert "task head" in skipped["head.fc1.weight"]
    assert torch.equal(_out(loaded.model), _out(model))


def test_mismatching_3d_head_is_skipped_and_reported(tmp_path, model):
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    sd["module.head.weight"] = torch.zeros(6, sd["module.head.weight"].shape[1])
    sd["module.head.bias"] = torch.zeros(6)
    torch.save({"model_pos": sd}, tmp_path / "a.bin")
    loaded = load_checkpoint(tmp_path / "a.bin", config=_config_of(model))
    reasons = dict(loaded.report.skipped)
    assert "head.weight" in reasons and "[6, 48]" in reasons["head.weight"]
    assert torch.equal(loaded.model.pre_logits.fc.weight, model.pre_logits.fc.weight)
    assert "head.weight" in loaded.report.summary()


def _config_of(model: DSTformer):
    return infer_config(model.state_dict())


def test_wrong_backbone_shape_names_key_and_both_shapes(tmp_path, model):
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    sd["module.blocks_ts.1.mlp_s.fc1.weight"] = torch.zeros(10, 32)
    torch.save({"model_pos": sd}, tmp_path / "bad.bin")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "bad.bin", config=_config_of(model))
    msg = str(err.value)
    assert "blocks_ts.1.mlp_s.fc1.weight" in msg and "[64, 32]" in msg and "[10, 32]" in msg


def test_missing_and_unexpected_keys_are_named(tmp_path, model):
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()}
    del sd["module.blocks_st.0.attn_t.qkv.bias"]
    sd["module.extra.weight"] = torch.zeros(2)
    torch.save({"model_pos": sd}, tmp_path / "bad.bin")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "bad.bin", config=_config_of(model))
    assert "missing key(s): blocks_st.0.attn_t.qkv.bias" in str(err.value)
    assert "unexpected key(s): extra.weight" in str(err.value)


def test_config_mismatch_names_shapes(tmp_path, model):
    torch.save({"model_pos": model.state_dict()}, tmp_path / "tiny.bin")
    with pytest.raises(CheckpointError, match=r"temp_embed expected \[1, 243, 1, 128\]"):
        load_checkpoint(tmp_path / "tiny.bin", config="small")


def test_missing_file_says_where_to_put_the_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="No model checkpoint at .*Put the official MotionBERT file there"):
        load_checkpoint(tmp_path / "nope" / "latest_epoch.bin")


def test_damaged_file_is_a_checkpoint_error(tmp_path):
    p = tmp_path / "broken.bin"
    p.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        read_checkpoint_file(p)


def test_arbitrary_objects_need_explicit_trust(tmp_path, model):
    p = tmp_path / "with_args.bin"
    torch.save({"model_pos": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, p)
    with pytest.raises(CheckpointError, match="trust_checkpoint=True"):
        load_checkpoint(p)
    loaded = load_checkpoint(p, trust_checkpoint=True)
    assert torch.equal(_out(loaded.model), _out(model))


def test_infer_config_recognises_published_models():
    for name in ("motionbert", "motionbert-lite"):
        cfg = get_config(name)
        sd = DSTformer(**cfg.model_kwargs()).state_dict()
        assert infer_config(sd) == cfg


def test_own_format_round_trip_is_exact_and_weights_only(tmp_path, model, tiny_config):
    path = save_checkpoint(
        tmp_path / "ours.pt",
        model,
        tiny_config,
        metadata={"model_version": "test-1", "training_data": "unit test", "metrics": {"mpjpe_mm": 55.0}},
    )
    raw = torch.load(path, weights_only=True)  # no pickled objects beyond tensors / builtins
    assert raw["format"] == "gaitscope-dstformer"
    loaded = load_checkpoint(path)
    assert loaded.config == tiny_config
    assert loaded.metadata["model_version"] == "test-1"
    assert loaded.metadata["metrics"] == {"mpjpe_mm": 55.0}
    assert torch.equal(_out(loaded.model, 5), _out(model, 5))
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(tmp_path / "x.pt", model, tiny_config, metadata={"bad": object()})


def test_convert_official_to_safe_format(tmp_path, model):
    src = tmp_path / "official.bin"
    torch.save({"model_pos": {f"module.{k}": v for k, v in model.state_dict().items()},
                "args": argparse.Namespace(lr=0.1)}, src)
    from gaitscope.models.checkpoints import convert_official_checkpoint

    dst = convert_official_checkpoint(src, tmp_path / "mb.pt", model_version="mb-official-1", trust_checkpoint=True)
    loaded = load_checkpoint(dst)  # no trust needed any more
    assert loaded.metadata["model_version"] == "mb-official-1"
    assert loaded.metadata["converted_from"] == str(src)
    assert torch.equal(_out(loaded.model), _out(model))
