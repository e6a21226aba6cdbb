"""The measured BlazePose noise model: the shipped JSON loads, and sampling reproduces its statistics."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.platform.noise_model import NOISE_JSON, NoiseModel, body_frame, fit_noise_model
from gaitscope.skeleton import J, NUM_JOINTS


def _clean_walk_2d(n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """A side-view-like clean 2D skeleton moving right across the image (pixels), and its travel direction."""
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 40.0, size=(NUM_JOINTS, 2))
    base[J["pelvis"]] = (0.0, 0.0)
    base[J["thorax"]] = (0.0, -160.0)  # trunk 160 px, pointing up the image
    for side, dx in (("right", 40.0), ("left", -40.0)):  # legs apart, so a swap is visible
        base[J[f"{side}_knee"]] = (dx, 120.0)
        base[J[f"{side}_ankle"]] = (1.5 * dx, 240.0)
    t = np.arange(n)
    xy = base[None] + np.stack([300 + 0.5 * t, 400 + 0 * t], axis=-1)[:, None, :]
    xy = xy + 5.0 * np.sin(t / 7.0)[:, None, None]  # some motion
    fwd = np.tile([1.0, 0.0], (n, 1))
    return xy, fwd


def test_shipped_noise_json_loads_with_sane_values():
    m = NoiseModel.from_json(NOISE_JSON)
    assert np.asarray(m.bias_uv).shape == (NUM_JOINTS, 2)
    std = np.asarray(m.std_uv)
    assert std.shape == (NUM_JOINTS, 2)
    # BlazePose on rendered walks: a few percent of the trunk length, never zero, never a whole trunk
    assert (std > 0.003).all() and (std < 0.3).all()
    assert 0.0 <= m.ar1 < 1.0
    assert all(0.0 <= d < 0.5 for d in m.dropout)
    assert set(m.swap_rate) == {"legs", "arms"}
    assert np.allclose(np.asarray(m.conf_hist).sum(axis=1), 1.0, atol=1e-3)
    assert m.n_frames >= 200  # measured, not guessed


def test_body_frame_axes():
    xy, fwd = _clean_walk_2d(10)
    u, v, s = body_frame(xy, fwd)
    assert np.allclose(u, [0.0, -1.0])  # image y down: "up the body" is -y
    assert np.allclose(v, [1.0, 0.0])  # toward the travel direction
    assert np.allclose(s, 160.0)


def test_sampling_reproduces_the_measured_statistics():
    m = NoiseModel.from_json(NOISE_JSON)
    m = NoiseModel(**{**m.__dict__, "swap_rate": {"legs": 0.05, "arms": 0.0}, "swap_mean_len": {"legs": 4.0, "arms": 1.0}})
    xy, fwd = _clean_walk_2d(1500)
    rng = np.random.default_rng(1)
    draws = [m.sample(xy, rng, fwd) for _ in range(8)]  # errors are correlated in time: pool sequences
    refit = fit_noise_model(draws, [xy] * 8, [fwd] * 8, fps=m.fps)
    noisy, conf = draws[0]
    assert np.allclose(refit.bias_uv, m.bias_uv, atol=0.008)
    assert np.allclose(refit.std_uv, m.std_uv, rtol=0.2, atol=0.003)
    assert abs(refit.ar1 - m.ar1) < 0.08
    assert np.allclose(refit.dropout, m.dropout, atol=0.02)
    assert refit.swap_rate["legs"] == pytest.approx(0.05, abs=0.03)
    # confidence of kept joints follows the histogram: compare the means
    centres = np.linspace(0.025, 0.975, 20)
    for j in (J["right_knee"], J["left_elbow"]):
        expected = float(np.dot(m.conf_hist[j], centres))
        got = float(conf[conf[:, j] > 0, j].mean())
        assert got == pytest.approx(expected, abs=0.03)


def test_sampling_spread_scales_and_fps_keeps_correlation_time():
    m = NoiseModel.from_json(NOISE_JSON)
    m = NoiseModel(**{**m.__dict__, "swap_rate": {"legs": 0.0, "arms": 0.0}})
    xy, fwd = _clean_walk_2d(3000)
    a, _ = m.sample(xy, np.random.default_rng(2), fwd, scale=1.0)
    b, _ = m.sample(xy, np.random.default_rng(2), fwd, scale=2.0)
    sa = np.std(a[:, J["left_knee"]] - xy[:, J["left_knee"]], axis=0)
    sb = np.std(b[:, J["left_knee"]] - xy[:, J["left_knee"]], axis=0)
    assert sb == pytest.approx(2 * sa, rel=0.05)  # same random draws: exactly twice the spread
    c, _ = m.sample(xy, np.random.default_rng(3), fwd, fps=2 * m.fps)
    e = c[:, J["left_knee"], 0] - xy[:, J["left_knee"], 0]
    e = e - e.mean()
    lag1 = float(np.sum(e[1:] * e[:-1]) / np.sum(e * e))
    assert lag1 == pytest.approx(np.sqrt(m.ar1), abs=0.06)  # twice the frame rate: half the decay per frame
