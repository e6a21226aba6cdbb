"""Session 7 (#23): another encoder's embeddings of the real-patient walks, everything else kept from the base cache.

A synthetic landmark file (pixels chosen here) and a hand-written base cache stand in for the patients' data, so
the expected arrays are known without the code under test: the embedding must be the encoder's own embedding of
that file (computed directly through the pipeline's lift_landmarks), every other array the base cache's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gaitscope.errors import InvalidInputError
from gaitscope.io.landmarks import load_mediapipe_csv
from gaitscope.models.configs import get_config
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.inference import Lifter, pick_device
from gaitscope.pipeline.landmarks import lift_landmarks
from gaitscope.training import pd_real
from tests.io.test_landmarks_io import body_px, write_csv


def _encoder(seed: int) -> Lifter:
    import torch

    cfg = replace(get_config("small"), dim_feat=16, depth=1, maxlen=9)
    torch.manual_seed(seed)
    return Lifter(DSTformer(**cfg.model_kwargs()), cfg, cfg.name, f"test-seed{seed}", {}, pick_device("cpu"))


@pytest.fixture()
def data(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    (root / pd_real.SCORES_FILE).write_bytes(b"")  # data_root only checks that the workbook is there
    t = 30
    f = write_csv(root / "google_101_off_gait.csv", body_px(t, 640, 480), 640, 480,
                  ts_us=np.arange(t) * 33_333.0)
    base = tmp_path / "base"
    base.mkdir()
    n = load_mediapipe_csv(f).n_frames
    arrays = {"embedding_frames": np.zeros((n, 512), np.float16), "model": np.array("shipped@1"),
              "strides": np.array([[2, 14], [14, 27]]), "fps": np.array(30.0), "kinematic": np.arange(5.0),
              "landmarks": np.full((n, 33, 3), 0.5, np.float32)}
    np.savez_compressed(base / "101_off.npz", **arrays)
    return root, base, f, arrays


def test_only_the_embedding_changes_and_it_is_the_encoders_own(data, tmp_path, monkeypatch):
    root, base, f, arrays = data
    enc = _encoder(1)
    out = pd_real.build_encoder_cache(enc, base, tmp_path / "enc", root)
    got = out["101_off"]
    _, direct = lift_landmarks(load_mediapipe_csv(f), enc)  # with the mirrored pass, as walk_features
    assert got["embedding_frames"].shape == (len(arrays["embedding_frames"]), 512)
    assert np.array_equal(got["embedding_frames"], direct.per_frame.astype(np.float16))
    assert np.abs(got["embedding_frames"].astype(float)).max() > 0  # not the base's zeros
    for k in ("strides", "fps", "kinematic", "landmarks"):
        assert np.array_equal(got[k], arrays[k]), k
    assert str(got["model"]) == f"{enc.name}@{enc.version}" and str(got["base_model"]) == "shipped@1"
    # cached: a second call with the same encoder lifts nothing
    monkeypatch.setattr("gaitscope.pipeline.landmarks.lift_landmarks",
                        lambda *a, **k: pytest.fail("re-lifted a cached walk"))
    again = pd_real.build_encoder_cache(enc, base, tmp_path / "enc", root)
    assert np.array_equal(again["101_off"]["embedding_frames"], got["embedding_frames"])


def test_missing_base_cache_or_frame_mismatch_is_refused(data, tmp_path):
    root, base, _, arrays = data
    with pytest.raises(InvalidInputError, match="base cache"):
        pd_real.build_encoder_cache(_encoder(1), tmp_path / "nothing", tmp_path / "enc", root)
    # the embedding was computed before the base was needed: with the base there, nothing is lifted again
    assert (tmp_path / "enc" / "101_off.npz").exists()
    np.savez_compressed(base / "101_off.npz", **{**arrays, "embedding_frames": np.zeros((3, 512), np.float16)})
    with pytest.raises(ValueError, match="embedded frames"):
        pd_real.build_encoder_cache(_encoder(1), base, tmp_path / "enc2", root)
