"""The measured BlazePose noise model: the shipped JSON loads, and sampling reproduces its statistics."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.skeleton import NUM_JOINTS, J
from gaitscope.training.noise_model import NOISE_JSON, NoiseModel, body_frame, fit_noise_model


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
    # view-dependent occlusion, measured: the elbow facing away from a side camera is lost most of the time, in
    # runs of about a second; facing the camera it is always found
    elbow = m.occlusion["groups"]["elbow"]
    assert m.occlusion["facing_deg"][0] == 0.0 and m.occlusion["facing_deg"][-1] == 180.0
    assert elbow["missing"][-1] > 0.5 and elbow["missing"][0] < 0.05
    assert elbow["run_len"][-1] > 10.0
    knee_conf = [float(np.dot(h, np.linspace(0.025, 0.975, 20))) for h in m.occlusion["groups"]["knee"]["conf_hist"]]
    assert knee_conf[-1] < knee_conf[0] - 0.2  # the far knee's visibility is much lower


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


# -- view-dependent occlusion ------------------------------------------------------------------------------------


def test_facing_angle_of_the_left_side():
    from gaitscope.training.noise_model import facing_left_deg

    xyz = np.zeros((1, NUM_JOINTS, 3))
    xyz[:, J["left_hip"]] = (0.0, 0.1, 1.0)  # walking along +x: the left side points to +y
    xyz[:, J["right_hip"]] = (0.0, -0.1, 1.0)
    xyz[:, J["pelvis"]] = (0.0, 0.0, 1.0)
    for cam, expected in (((0, 5, 1.5), 0.0), ((0, -5, 1.5), 180.0), ((5, 0, 1.0), 90.0), ((-3, 3, 0.5), 45.0)):
        assert facing_left_deg(xyz, np.array(cam, float))[0] == pytest.approx(expected, abs=1e-6)


def _occlusion_model(missing_far: float = 0.8, run_far: float = 25.0) -> NoiseModel:
    """The shipped model with known occlusion statistics: only the elbow is lost, and only facing away."""
    from gaitscope.training.noise_model import FACING_BINS_DEG, LIMB_TYPES

    m = NoiseModel.from_json(NOISE_JSON)
    nb = len(FACING_BINS_DEG)
    flat = [0.0] * 20
    flat[-1] = 1.0  # visibility ~1 when kept
    low = [0.0] * 20
    low[5] = 1.0  # visibility 0.25-0.30
    groups = {}
    for name in LIMB_TYPES:
        g = {"missing": [0.0] * nb, "run_len": [1.0] * nb, "conf_hist": [flat] * nb, "std_scale": [1.0] * nb}
        if name == "elbow":
            g["missing"] = [0.0] * (nb - 1) + [missing_far]
            g["run_len"] = [1.0] * (nb - 1) + [run_far]
            g["conf_hist"] = [flat] * (nb - 2) + [low, low]
        groups[name] = g
    occ = {"facing_deg": list(FACING_BINS_DEG), "groups": groups, "conf_ar1": 0.9}
    return NoiseModel(**{**m.__dict__, "occlusion": occ, "dropout": [0.0] * NUM_JOINTS})


def test_far_side_joints_are_dropped_in_long_runs_as_measured():
    from gaitscope.training.noise_model import fit_occlusion

    m = _occlusion_model()
    xy, fwd = _clean_walk_2d(3000)
    facing = np.full(len(xy), 180.0)  # the left side faces away from the camera all the time
    rng = np.random.default_rng(4)
    draws = [m.sample(xy, rng, fwd, facing_left_deg=facing) for _ in range(3)]
    for _, conf in draws:
        assert (conf[:, J["right_elbow"]] > 0.9).all()  # the near elbow: always there, visibility ~1
        far = conf[:, J["left_elbow"]]
        assert 0.7 < (far == 0).mean() < 0.9
        assert ((far[far > 0] > 0.24) & (far[far > 0] < 0.31)).all()  # the far elbow's measured visibility
    refit = fit_occlusion(draws, [xy] * 3, [facing] * 3)
    elbow = refit["groups"]["elbow"]
    # the far bin (180 deg) holds the left elbow, the near bin (0 deg) the right one
    assert elbow["missing"][-1] == pytest.approx(0.8, abs=0.08)
    assert elbow["missing"][0] == 0.0
    assert elbow["run_len"][-1] == pytest.approx(25.0, rel=0.35)  # runs, not per-frame flicker (mean 1.25)
    # a faster camera keeps the run DURATION: twice the frames per run at twice the frame rate
    _, conf60 = m.sample(xy, np.random.default_rng(5), fwd, fps=2 * m.fps, facing_left_deg=facing)
    runs60 = fit_occlusion([(xy, conf60)], [xy], [facing])["groups"]["elbow"]["run_len"][-1]
    assert runs60 > 1.4 * 25.0


def test_without_facing_or_statistics_sampling_is_per_frame_as_before():
    m = _occlusion_model()
    xy, fwd = _clean_walk_2d(2000)
    _, conf = m.sample(xy, np.random.default_rng(6), fwd)  # no view given: the pooled per-frame dropout (0 here)
    assert (conf > 0).all()
    legacy = NoiseModel(**{**m.__dict__, "occlusion": None, "dropout": [0.3] * NUM_JOINTS})
    _, conf = legacy.sample(xy, np.random.default_rng(6), fwd, facing_left_deg=np.full(len(xy), 180.0))
    assert (conf == 0).mean() == pytest.approx(0.3, abs=0.02)


def test_noise_json_without_occlusion_still_loads(tmp_path):
    import json

    d = json.loads(NOISE_JSON.read_text())
    d.pop("occlusion", None)
    p = tmp_path / "old.json"
    p.write_text(json.dumps(d))
    m = NoiseModel.from_json(p)
    assert m.occlusion is None and m.n_frames == d["n_frames"]


def test_fit_pair_gain_recovers_a_known_shrinkage_and_sampling_applies_it():
    """A detector that keeps 40 % of the feet's vertical separation (and all of the horizontal one) in frontal
    views, but all of it in side views: the fit finds that per approach angle, and the sampler reproduces it."""
    from gaitscope.training.noise_model import fit_pair_gain

    xy, fwd = _clean_walk_2d(400)
    t = np.arange(len(xy))
    la, ra = J["left_ankle"], J["right_ankle"]
    xy[:, la, 1] += 30.0 * np.sin(t / 5.0)  # the feet move apart vertically (a frontal view's depth cue)
    xy[:, ra, 1] -= 30.0 * np.sin(t / 5.0)
    det = xy.copy()
    half = len(xy) // 2  # first half frontal (approach 0 deg), second half a side view (90 deg)
    mid = 0.5 * (det[:half, la] + det[:half, ra])
    diff = det[:half, la] - det[:half, ra]
    diff[:, 1] *= 0.4  # u is vertical here (the trunk points up the image)
    det[:half, la], det[:half, ra] = mid + 0.5 * diff, mid - 0.5 * diff
    approach = np.where(t < half, 0.0, 90.0)
    pg = fit_pair_gain([(det, np.ones((len(xy), NUM_JOINTS)))], [xy], [fwd], [approach])
    ank = pg["groups"]["ankle"]
    assert ank["gain_u"][0] == pytest.approx(0.4, abs=0.02) and ank["gain_v"][0] == pytest.approx(1.0, abs=0.02)
    assert ank["gain_u"][4] == pytest.approx(1.0, abs=0.02)
    model = NoiseModel.from_json(NOISE_JSON)
    from dataclasses import replace

    model = replace(model, pair_gain=pg)
    u, v, _ = body_frame(xy, fwd)
    out = model.apply_pair_gain(xy, approach, u, v)
    sep_in, sep_out = xy[:half, la, 1] - xy[:half, ra, 1], out[:half, la, 1] - out[:half, ra, 1]
    assert np.allclose(sep_out, 0.4 * sep_in, atol=0.5)
    assert np.allclose(out[half:], xy[half:], atol=0.5)  # side half untouched
    assert np.allclose(out[:, J["pelvis"]], xy[:, J["pelvis"]])  # only the pairs move


def test_shipped_noise_json_measures_the_feet_drawn_together():
    """Measured on the rendered walks: BlazePose keeps only about half to three quarters of the feet's vertical
    separation in the image (the depth cue of a frontal or rear view), most shrunk in those views."""
    from gaitscope.training.noise_model import approach_deg

    m = NoiseModel.from_json(NOISE_JSON)
    assert m.pair_gain is not None
    pg = m.pair_gain
    assert pg["approach_deg"][0] == 0.0 and pg["approach_deg"][-1] == 180.0
    ank = pg["groups"]["ankle"]
    assert min(ank["frames"]) >= 100  # measured in every bin, frontal and rear included
    assert ank["gain_u"][0] < 0.7 and ank["gain_u"][-1] < 0.7  # frontal, rear
    assert all(0.1 <= g <= 1.5 for g in ank["gain_u"] + ank["gain_v"])
    # the convention: a camera the body faces is at 0 deg, one behind it at 180 deg
    xyz = np.zeros((1, NUM_JOINTS, 3))
    xyz[0, J["left_hip"]] = (0.0, 0.1, 1.0)  # left is +y, so the front (left x up) is +x
    xyz[0, J["right_hip"]] = (0.0, -0.1, 1.0)
    xyz[0, J["pelvis"]] = (0.0, 0.0, 1.0)
    assert approach_deg(xyz, np.array([5.0, 0.0, 1.5]))[0] == pytest.approx(0.0, abs=1e-6)
    assert approach_deg(xyz, np.array([-5.0, 0.0, 1.5]))[0] == pytest.approx(180.0, abs=1e-6)
