"""benchmarks/gpu.py: without CUDA it says so and exits 0; its peak table and FLOP count are right."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message; this machine has CUDA")
def test_without_cuda_prints_a_clear_line_and_exits_0():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "benchmarks/gpu.py: no CUDA device here (torch.cuda.is_available() is False); nothing to measure."
    )


def _gpu_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gpu  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return gpu


def test_peak_table_picks_the_most_specific_name():
    gpu = _gpu_module()
    assert gpu.peak_tflops_for("NVIDIA H200") == 989.5
    assert gpu.peak_tflops_for("NVIDIA H100 PCIe") == 756.0
    assert gpu.peak_tflops_for("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu.peak_tflops_for("NVIDIA L4") == 121.0
    assert gpu.peak_tflops_for("NVIDIA L40S") == 362.0
    assert gpu.peak_tflops_for("Some Future GPU") is None


def test_flop_count_matches_a_hand_count_of_the_linear_layers():
    """Independent truth: 2 x (tokens x in x out) summed over every linear layer, plus the attention products
    (2 x 2 x tokens x keys x C per attention module: q k^T and att v), for the small configuration."""
    from gaitscope.models.configs import get_config

    gpu = _gpu_module()
    cfg = get_config("small")
    f, j, c, hidden, depth, rep = 11, 17, cfg.dim_feat, int(cfg.dim_feat * cfg.mlp_ratio), cfg.depth, cfg.dim_rep
    tokens = f * j
    per_half = tokens * (c * 3 * c + c * c + c * hidden + hidden * c)  # qkv, proj, fc1, fc2
    linear = tokens * 3 * c + depth * 2 * 2 * per_half + depth * tokens * 2 * c * 2 + tokens * (c * rep + rep * 3)
    attention = depth * 2 * (2 * tokens * j * c + 2 * tokens * f * c)  # per stream: one spatial, one temporal
    assert gpu.flops_per_clip("small", f) == 2 * (linear + attention)
