"""Lifting clips are normalised with a box over surrounding frames, as inference uses the whole video's box."""

from __future__ import annotations

import numpy as np
import torch

from gaitscope.models.datasets import (
    Corruption,
    Motion3DClipDataset,
    orthographic_sampler,
)
from gaitscope.records import Motion3D


def _crossing_walk(t: int = 240) -> Motion3D:
    """A stick figure crossing 4 m sideways in 8 s (30 fps): a 27-frame clip covers a small part of the path."""
    rng = np.random.default_rng(0)
    rest = rng.normal(0, 0.15, size=(17, 3)) + np.array([0.0, 0.0, 1.0])
    rest[0] = [0.0, 0.0, 1.0]
    xyz = np.repeat(rest[None], t, axis=0)
    xyz[..., 0] += np.linspace(0.0, 4.0, t)[:, None]
    return Motion3D(xyz.astype(np.float32), 30.0, (0.0, 0.0, 1.0), False, "test", "test")


def _extent(x: torch.Tensor) -> float:
    """Largest side of the clip's own 2D bounding box in normalised units (2.0 = fills the box)."""
    xy = x[..., :2].reshape(-1, 2)
    return float((xy.max(0).values - xy.min(0).values).max())


def test_clip_box_spans_context_not_just_the_clip():
    motion = _crossing_walk()
    ctx = Motion3DClipDataset([motion], orthographic_sampler(), Corruption.none(), clip_len=27, seed=0)
    own = Motion3DClipDataset([motion], orthographic_sampler(), Corruption.none(), clip_len=27, seed=0,
                              box_context_s=None)
    ext_ctx = [_extent(ctx[i][0]) for i in range(len(ctx))]
    ext_own = [_extent(own[i][0]) for i in range(len(own))]
    assert np.allclose(ext_own, 2.0, atol=1e-4)  # the old way: every clip fills [-1, 1]
    # with the context box the clip is a part of the walk, as in a whole-video box at inference
    assert np.median(ext_ctx) < 1.6 and min(ext_ctx) < 1.0
    assert max(ext_ctx) <= 2.0 + 1e-4


def test_context_box_keeps_input_and_target_in_the_same_units():
    ds = Motion3DClipDataset([_crossing_walk()], orthographic_sampler(), Corruption.none(), clip_len=27, seed=3)
    for i in (0, 3, len(ds) - 1):
        x, y = ds[i]
        assert x.shape == y.shape == (27, 17, 3)
        assert torch.allclose(y[:, 0], torch.zeros(27, 3))
        assert torch.allclose(y[..., :2], x[..., :2] - x[:, :1, :2], atol=1e-5)
        assert torch.equal(ds[i][0], x)  # deterministic per (seed, epoch, index)


def test_short_motion_still_gives_one_full_clip():
    m = _crossing_walk(12)
    ds = Motion3DClipDataset([m], orthographic_sampler(), Corruption.none(), clip_len=27)
    x, _ = ds[0]
    assert x.shape == (27, 17, 3) and torch.isfinite(x).all()
