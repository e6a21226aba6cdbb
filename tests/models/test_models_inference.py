"""Preprocessing, sliding windows, flip TTA, metric scaling and embeddings of the Lifter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaitscope.models.checkpoints import save_checkpoint
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.embed import pool_clips
from gaitscope.models.inference import Lifter, estimate_height_units
from gaitscope.models.preprocess import (
    blend_weights,
    flip_skeleton,
    normalise_keypoints,
    sliding_window_apply,
    window_starts,
)
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import H36M_FLIP_PERMUTATION


def make_kp(t: int = 40, seed: int = 0, width: int = 640, height: int = 480) -> Keypoints2D:
    """A smooth, roughly person-shaped 2D track."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([250, 100], [390, 420], size=(17, 2))
    drift = np.linspace(0, 60, t)[:, None, None] * np.array([1.0, 0.0])
    wobble = 5 * np.sin(np.linspace(0, 6, t))[:, None, None]
    xy = (base[None] + drift + wobble).astype(np.float32)
    conf = rng.uniform(0.5, 1.0, size=(t, 17)).astype(np.float32)
    return Keypoints2D(xy, conf, 30.0, width, height, np.arange(t), np.zeros(t, bool), "test")


@pytest.fixture
def lifter(tiny_config) -> Lifter:
    return Lifter.untrained(tiny_config, seed=0, device="cpu")


# -- normalisation ------------------------------------------------------------------------------------------------


def test_box_normalisation_uses_whole_video_square_and_zeroes_missing_joints():
    kp = make_kp(30)
    conf = kp.conf.copy()
    conf[3, 5] = 0.0  # a missing joint
    kp = Keypoints2D(kp.xy_px, conf, kp.fps, kp.width, kp.height, kp.frame_index, kp.interpolated, "test")
    x, norm = normalise_keypoints(kp, "box")
    assert x.shape == (30, 17, 3) and x.dtype == np.float32
    assert np.all(x[3, 5] == 0)
    known = conf > 0
    span = x[..., :2][known]
    # The longer side of the box spans exactly [-1, 1]; the shorter one is centred inside it.
    longer = np.argmax(np.ptp(kp.xy_px[known], axis=0))
    assert np.isclose(span[:, longer].min(), -1, atol=1e-5) and np.isclose(span[:, longer].max(), 1, atol=1e-5)
    other = 1 - longer
    assert np.isclose(span[:, other].min(), -span[:, other].max(), atol=1e-5)
    assert np.allclose(x[..., 2][known], conf[known])
    assert np.allclose(norm.to_pixels(x[..., :2][known]), kp.xy_px[known], atol=1e-3)


def test_pixel_normalisation_centres_on_the_image():
    kp = make_kp(5, width=800, height=400)
    x, norm = normalise_keypoints(kp, "pixel")
    assert norm.center_px == (400.0, 200.0) and norm.half_size_px == 200.0
    assert np.allclose(x[..., 0], (kp.xy_px[..., 0] - 400) / 200, atol=1e-5)


def test_flip_is_an_involution_and_swaps_sides():
    x = np.random.default_rng(0).normal(size=(4, 17, 3)).astype(np.float32)
    f = flip_skeleton(x)
    assert np.array_equal(flip_skeleton(f), x)
    assert np.array_equal(f[:, 1, 0], -x[:, 4, 0]) and np.array_equal(f[:, 1, 2], x[:, 4, 2])
    assert H36M_FLIP_PERMUTATION[1] == 4
    assert torch.equal(flip_skeleton(torch.from_numpy(x)), torch.from_numpy(f))


# -- windows ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, window, stride", [(5, 10, 5), (10, 10, 5), (11, 10, 5), (100, 27, 9), (250, 243, 121)])
def test_windows_cover_every_frame_and_stay_inside(n, window, stride):
    starts = window_starts(n, window, stride)
    length = min(window, n)
    covered = np.zeros(n, int)
    for s in starts:
        assert 0 <= s and s + length <= n
        covered[s : s + length] += 1
    assert covered.min() >= 1
    assert starts[-1] + length == n


def test_blending_reproduces_a_framewise_function_exactly():
    x = torch.randn(100, 17, 3)
    out = sliding_window_apply(lambda b: 2 * b + 1, x, window=27, stride=9, batch_size=3)
    assert torch.allclose(out, 2 * x + 1, atol=1e-5)
    assert blend_weights(27).min() > 0


def test_sliding_window_equals_single_pass_when_the_sequence_fits(lifter, tiny_config):
    x, _ = normalise_keypoints(make_kp(50))
    with torch.inference_mode():
        direct = lifter.model(torch.from_numpy(x)[None])[0].numpy()
    windowed = lifter.predict_normalised(x, flip_tta=False)  # maxlen 64 >= 50: one window
    assert np.array_equal(windowed, direct)
    # A short sequence is run at its own length (no padding); a different window size changes nothing.
    assert np.array_equal(lifter.predict_normalised(x, flip_tta=False, window=60), direct)


def test_long_sequences_are_blended_across_windows(lifter):
    x, _ = normalise_keypoints(make_kp(150))
    out = lifter.predict_normalised(x, flip_tta=False, window=40, stride=20)
    assert out.shape == (150, 17, 3) and np.isfinite(out).all()
    # Frames covered by one window only (the very start) equal that window's own prediction.
    with torch.inference_mode():
        first = lifter.model(torch.from_numpy(x[:40])[None])[0].numpy()
    assert np.allclose(out[:5], first[:5], atol=1e-5)


def test_flip_tta_is_mirror_equivariant(lifter):
    x, _ = normalise_keypoints(make_kp(30))
    a = lifter.predict_normalised(x, flip_tta=True)
    b = lifter.predict_normalised(flip_skeleton(x), flip_tta=True)
    assert np.allclose(b, flip_skeleton(a), atol=1e-5)
    # Without the averaging an untrained model is not equivariant: the check above can fail.
    a0 = lifter.predict_normalised(x, flip_tta=False)
    b0 = lifter.predict_normalised(flip_skeleton(x), flip_tta=False)
    assert not np.allclose(b0, flip_skeleton(a0), atol=1e-3)


# -- records -------------------------------------------------------------------------------------------------------


def test_lift_returns_root_relative_metres_scaled_to_height(lifter):
    kp = make_kp(90)
    m = lifter.lift(kp, height_m=1.80, window=40, stride=20)
    assert m.xyz_m.shape == (90, 17, 3)
    assert m.root_relative and np.allclose(m.xyz_m[:, 0], 0)
    assert m.up == (0.0, -1.0, 0.0)
    assert m.source == "lifter:tiny@untrained-seed0+legid3+anchor2d+kneez+viewyaw" and m.fps == 30.0
    # The legs are measured before the knees' depth correction (gaitscope.models.depth_scale), which moves only
    # the knees: exact without it, within 1 % with it.
    assert np.isclose(estimate_height_units(m.xyz_m.astype(np.float64)), 1.80, rtol=1e-2)
    lifter.knee_depth = False
    exact = lifter.lift(kp, height_m=1.80, window=40, stride=20)
    lifter.knee_depth = True
    assert np.isclose(estimate_height_units(exact.xyz_m.astype(np.float64)), 1.80, rtol=1e-4)
    assert m.scale_source.startswith("subject height 180 cm")
    assumed = lifter.lift(kp, window=40, stride=20)
    assert assumed.scale_source.startswith("assumed height 170 cm")
    assert np.allclose(assumed.xyz_m * 1.80 / 1.70, m.xyz_m, atol=1e-5)
    assert m.valid is not None and m.valid.all()


def test_lift_accepts_very_short_sequences(lifter):
    for t in (1, 2, 3):
        assert lifter.lift(make_kp(t)).xyz_m.shape == (t, 17, 3)


def test_lift_rejects_implausible_height(lifter):
    with pytest.raises(ValueError, match="height_m"):
        lifter.lift(make_kp(5), height_m=172)


def test_embed_shapes_and_pooling(lifter, tiny_config):
    kp = make_kp(70)
    e = lifter.embed(kp, keep_per_joint=True, window=40, stride=20)
    d = tiny_config.dim_rep
    assert e.pooled.shape == (d,) and e.per_frame.shape == (70, d) and e.per_joint.shape == (70, 17, d)
    assert np.allclose(e.per_frame, e.per_joint.mean(axis=1), atol=1e-6)
    assert np.allclose(e.pooled, e.per_joint.mean(axis=(0, 1)), atol=1e-6)
    assert e.model_name == "tiny" and e.model_version == "untrained-seed0"
    assert lifter.embed(kp).per_joint is None
    clips = pool_clips(e.per_frame, clip_len=30)
    assert clips.shape == (3, d) and np.allclose(clips[0], e.per_frame[:30].mean(axis=0))


@pytest.mark.parametrize("flip_tta", [True, False])
@pytest.mark.parametrize("frames", [20, 70])  # one window, and several blended windows
def test_lift_and_embed_in_one_pass_equals_the_two_separate_passes(lifter, flip_tta, frames):
    kp = make_kp(frames, seed=3)
    motion, emb = lifter.lift_and_embed(kp, height_m=1.7, flip_tta=flip_tta)
    alone = lifter.lift(kp, height_m=1.7, flip_tta=flip_tta)
    emb_alone = lifter.embed(kp)
    np.testing.assert_allclose(motion.xyz_m, alone.xyz_m, atol=1e-5)
    assert motion.notes == alone.notes and motion.scale_source == alone.scale_source
    assert np.array_equal(motion.valid, alone.valid) and motion.source == alone.source
    np.testing.assert_allclose(emb.per_frame, emb_alone.per_frame, atol=1e-5)
    np.testing.assert_allclose(emb.pooled, emb_alone.pooled, atol=1e-5)
    assert (emb.model_name, emb.model_version) == (emb_alone.model_name, emb_alone.model_version)
    with pytest.raises(ValueError, match="height_m"):
        lifter.lift_and_embed(kp, height_m=170)


def test_lifter_from_saved_checkpoint_gives_identical_output(tmp_path, lifter):
    path = save_checkpoint(tmp_path / "m.pt", lifter.model, lifter.config, {"model_version": "v7"})
    again = Lifter.from_checkpoint(path, device="cpu")
    assert again.version == "v7" and again.name == "tiny"
    kp = make_kp(20)
    assert np.array_equal(again.lift(kp, height_m=1.6).xyz_m, lifter.lift(kp, height_m=1.6).xyz_m)


def test_untrained_is_seeded_and_leaves_global_rng_alone(tiny_config):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = Lifter.untrained(tiny_config, seed=4, device="cpu")
    after = torch.rand(1)
    b = Lifter.untrained(tiny_config, seed=4, device="cpu")
    assert torch.equal(before, after)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert isinstance(a.model, DSTformer)


def test_non_finite_coordinates_count_as_missing():
    kp = make_kp(10)
    xy = kp.xy_px.copy()
    xy[2, 7] = np.nan
    kp = Keypoints2D(xy, kp.conf, kp.fps, kp.width, kp.height, kp.frame_index, kp.interpolated, "test")
    x, _ = normalise_keypoints(kp)
    assert np.isfinite(x).all() and np.all(x[2, 7] == 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_autocast_matches_cpu(tiny_config):
    kp = make_kp(100)
    cpu = Lifter.untrained(tiny_config, seed=0, device="cpu")
    gpu = Lifter.untrained(tiny_config, seed=0, device="cuda")
    a = cpu.predict_normalised(normalise_keypoints(kp)[0], window=40, stride=20)
    b = gpu.predict_normalised(normalise_keypoints(kp)[0], window=40, stride=20)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()  # bf16 autocast
    assert gpu.embed(kp).pooled.shape == (tiny_config.dim_rep,)


def test_cpu_bf16_is_opt_in_close_to_fp32_and_recorded_in_source():
    """The bf16 CPU path is off by default, says so in ``source`` when on, and stays near the fp32 numbers."""
    import numpy as np

    from gaitscope.models.inference import Lifter

    plain = Lifter.untrained("small", device="cpu")
    fast = Lifter.untrained("small", device="cpu")
    fast.cpu_bf16 = True
    assert not plain.cpu_bf16 and "+cpu-bf16" not in plain.source and fast.source.endswith("+cpu-bf16")
    x = np.random.default_rng(0).uniform(-1, 1, (60, 17, 3)).astype(np.float32)
    a, b = plain.predict_normalised(x), fast.predict_normalised(x)
    scale = np.abs(a).max()
    # bf16 keeps 8 mantissa bits (relative rounding 2**-9 = 0.2 %) per product: a few tenths of a percent overall.
    assert 0 < np.abs(a - b).max() < 0.02 * scale


@pytest.mark.parametrize("frames", [20, 70])
def test_lift_and_embed_pooled_per_window_equals_keeping_every_joint(lifter, frames):
    """The flat-memory path (joint mean per window, before blending) gives the numbers of the path that keeps the
    whole (T, 17, D) representation and averages it afterwards."""
    kp = make_kp(frames, seed=4)
    motion, emb = lifter.lift_and_embed(kp, height_m=1.7)
    motion_full, emb_full = lifter.lift_and_embed(kp, height_m=1.7, keep_per_joint=True)
    assert emb.per_joint is None and emb_full.per_joint.shape == (frames, 17, emb.per_frame.shape[1])
    np.testing.assert_allclose(motion.xyz_m, motion_full.xyz_m, atol=1e-6)
    np.testing.assert_allclose(emb.per_frame, emb_full.per_joint.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(emb.pooled, emb_full.pooled, atol=1e-6)


def test_blend_equals_a_hand_written_weighted_mean_of_the_windows():
    """The in-place blend gives, frame by frame, the Hann-weighted mean of every window's output (written out
    here with NumPy in float64), for a nonlinear function whose windows disagree."""
    x = torch.randn(130, 17, 3, generator=torch.Generator().manual_seed(2))

    def fn(b: torch.Tensor) -> torch.Tensor:  # depends on the whole window, so overlapping windows differ
        return torch.tanh(b) + b.mean(dim=1, keepdim=True)

    out = sliding_window_apply(fn, x, window=40, stride=20, batch_size=3).numpy()
    xn, w = x.numpy().astype(np.float64), blend_weights(40).astype(np.float64)
    num, den = np.zeros((130, 17, 3)), np.zeros(130)
    for s in window_starts(130, 40, 20):
        win = xn[s : s + 40]
        num[s : s + 40] += w[:, None, None] * (np.tanh(win) + win.mean(axis=0, keepdims=True))
        den[s : s + 40] += w
    np.testing.assert_allclose(out, num / den[:, None, None], atol=1e-6)
