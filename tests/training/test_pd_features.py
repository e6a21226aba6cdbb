"""Stride-free gait features and embedding pooling (gaitscope.training.pd_features) on synthetic walks whose truth
is known by construction: a sinusoidal arm swing of given amplitude, a trunk tilted by a given angle, feet that
oscillate at a given stride frequency, a walker that drifts sideways at a given speed, two turns of given length."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.training import pd_features as pf

FPS = 30.0
T_S = 24.0
TORSO = 0.2  # image units: shoulders at y=0.3, hips at y=0.5


def _walk(*, swing_l=0.6, swing_r=0.3, stride_hz=0.9, lean_deg=0.0, drift=0.0, turns=(), feet=True,
          tremor_hz=0.0) -> np.ndarray:
    """``(T, 33, 3)`` landmarks of a synthetic walk; swings are peak-to-peak in torso lengths, ``drift`` the
    sideways speed in image units/s, ``turns`` ``(start_s, length_s)`` with the shoulders edge-on."""
    t = np.arange(int(T_S * FPS)) / FPS
    n = len(t)
    lm = np.full((n, 33, 3), np.nan)
    lm[..., 2] = t[:, None]
    ph = 2 * np.pi * stride_hz * t
    hip = np.stack([0.5 + drift * t, np.full(n, 0.5)], axis=1)
    if tremor_hz:
        hip[:, 1] += 0.004 * np.sin(2 * np.pi * tremor_hz * t)
    hip[:, 1] += 0.01 * np.sin(ph)  # a smooth bob at the stride frequency
    lean = np.radians(lean_deg)
    sh_mid = hip + TORSO * np.stack([np.full(n, np.sin(lean)), np.full(n, -np.cos(lean))], axis=1)
    width = np.full(n, 0.1)
    for start, length in turns:
        width[(t >= start) & (t < start + length)] = 0.01
    for side, sgn in ((pf.L_SH, 1), (pf.R_SH, -1)):
        lm[:, side, 0] = sh_mid[:, 0] + sgn * width / 2
        lm[:, side, 1] = sh_mid[:, 1]
    for side, sgn in ((pf.L_HIP, 1), (pf.R_HIP, -1)):
        lm[:, side, 0] = hip[:, 0] + sgn * 0.04
        lm[:, side, 1] = hip[:, 1]
    for wr, sh, amp, sgn in ((pf.L_WR, pf.L_SH, swing_l, 1), (pf.R_WR, pf.R_SH, swing_r, -1)):
        lm[:, wr, 0] = lm[:, sh, 0] + sgn * 0.5 * amp * TORSO * np.sin(ph)  # opposite phases, as in gait
        lm[:, wr, 1] = lm[:, sh, 1] + 0.25
    lm[:, pf.NOSE, :2] = np.stack([sh_mid[:, 0], sh_mid[:, 1] - 0.08], axis=1)
    if feet:
        for an, kn, hp, sgn in ((pf.L_AN, pf.L_KN, pf.L_HIP, 1), (pf.R_AN, pf.R_KN, pf.R_HIP, -1)):
            lm[:, kn, 0] = lm[:, hp, 0]
            lm[:, kn, 1] = lm[:, hp, 1] + 0.2
            lm[:, an, 0] = lm[:, kn, 0] + sgn * 0.05 * np.sin(ph)
            lm[:, an, 1] = lm[:, kn, 1] + 0.2
    return lm


def _feat(lm: np.ndarray) -> dict[str, float]:
    return dict(zip(pf.GAIT_FEATURE_NAMES, pf.gait_features_2d(lm)))


def test_arm_swing_amplitude_and_lewek_asymmetry():
    f = _feat(_walk(swing_l=0.6, swing_r=0.3))
    assert f["arm_swing_left"] == pytest.approx(0.6, rel=0.05)
    assert f["arm_swing_right"] == pytest.approx(0.3, rel=0.05)
    # Lewek et al. 2010: 45 deg - atan(small/large) in degrees = atan(0.6/0.3) - 45 = 18.43 deg
    assert f["arm_swing_asymmetry_deg"] == pytest.approx(np.degrees(np.arctan(2.0)) - 45.0, abs=1.5)
    sym = _feat(_walk(swing_l=0.4, swing_r=0.4))
    assert sym["arm_swing_asymmetry_deg"] == pytest.approx(0.0, abs=1.0)


def test_cadence_from_the_ankle_spectrum_and_wrists_when_feet_are_out_of_view():
    f = _feat(_walk(stride_hz=0.9))
    assert f["cadence_steps_per_min"] == pytest.approx(108.0, abs=2.0)  # 2 steps per stride
    assert f["stride_peak_power_share"] > 0.8  # a pure oscillation: all band power at the peak
    # a peak at the band edge is not extrapolated beyond half a Welch bin
    edge = pf.stride_frequency(np.sin(2 * np.pi * 0.2 * np.arange(600) / FPS), FPS)[0]
    assert pf.STRIDE_BAND[0] <= edge <= pf.STRIDE_BAND[0] + 0.0625 + 1e-9
    no_feet = _feat(_walk(stride_hz=0.75, feet=False))
    assert no_feet["cadence_steps_per_min"] == pytest.approx(90.0, abs=2.0)
    assert np.isnan(no_feet["knee_range_left_deg"])


def test_trunk_lean_is_the_angle_from_vertical():
    assert _feat(_walk(lean_deg=12.0))["trunk_lean_median_deg"] == pytest.approx(12.0, abs=0.5)
    assert _feat(_walk(lean_deg=0.0))["trunk_lean_median_deg"] == pytest.approx(0.0, abs=0.5)


def test_jerk_ratio_is_one_for_a_sinusoid_and_grows_with_tremor():
    t = np.arange(int(20 * FPS)) / FPS
    path = np.stack([np.zeros_like(t), 0.3 * np.sin(2 * np.pi * 1.0 * t)], axis=1)
    assert pf.jerk_ratio(path, FPS, 1.0) == pytest.approx(1.0, rel=0.05)
    smooth = _feat(_walk())["log10_jerk_ratio"]
    shaky = _feat(_walk(tremor_hz=5.0))["log10_jerk_ratio"]
    assert smooth == pytest.approx(0.0, abs=0.05)  # the synthetic hip bobs as a pure sinusoid at the stride rate
    assert shaky > smooth + np.log10(2.0)


def test_progression_speed_in_torso_lengths_per_second():
    f = _feat(_walk(drift=0.05))  # 0.05 image units/s with a 0.2 torso = 0.25 torso lengths/s
    assert f["progression_lateral_per_s"] == pytest.approx(0.25, rel=0.05)
    assert f["approach_rate_per_s"] == pytest.approx(0.0, abs=0.01)  # torso size constant


def test_turns_share_and_duration():
    f = _feat(_walk(turns=((5.0, 2.0), (15.0, 2.0))))
    assert f["turning_share"] == pytest.approx(4.0 / T_S, abs=0.03)
    assert f["turn_duration_s"] == pytest.approx(2.0, abs=0.3)
    assert _feat(_walk())["turn_duration_s"] == 0.0


def test_knee_range_of_a_known_angle_oscillation():
    t = np.arange(600) / FPS
    ang = np.radians(165.0 + 15.0 * np.sin(2 * np.pi * 0.9 * t))  # knee angle 150..180 deg
    knee = np.zeros((len(t), 2))
    hip = np.tile([0.0, -1.0], (len(t), 1))
    ankle = np.stack([np.sin(ang), -np.cos(ang)], axis=1)  # angle at the knee between hip (up) and ankle
    a = pf.joint_angle_2d(hip, knee, ankle)
    assert np.allclose(a, np.degrees(ang), atol=1e-6)
    # 5-95 % range of 15 sin(phase) over whole cycles: 2 * 15 * sin(0.45 pi)
    assert pf._range(a) == pytest.approx(30.0 * np.sin(0.45 * np.pi), abs=0.3)


def test_embedding_stats_quantiles_and_power_at_the_stride_frequency():
    rng = np.random.default_rng(0)
    t = np.arange(int(20 * FPS)) / FPS
    frames = np.stack([np.sin(2 * np.pi * 0.8 * t), rng.normal(size=len(t))], axis=1)
    v = pf.embedding_stats(frames, FPS, 0.8).reshape(6, 2)  # mean, sd, q10, q50, q90, power share
    assert v[0] == pytest.approx(frames.mean(axis=0))
    assert v[1] == pytest.approx(frames.std(axis=0))
    assert v[4, 0] == pytest.approx(np.sin(0.4 * np.pi), abs=0.02)  # 90 % quantile of a sinusoid
    assert v[5, 0] > 0.95  # all of a sinusoid's power at its frequency
    assert v[5, 1] < 0.1  # white noise: ~0.3 Hz of the 0.2-15 Hz band
    assert np.isnan(pf.embedding_stats(frames, FPS, float("nan"))[-1])


def test_embedding_cycle_pools_by_gait_phase():
    period = 30
    n = 10 * period
    phase = (np.arange(n) % period) / period  # a ramp 0..1 within every cycle
    frames = phase[:, None]
    strides = np.array([[k * period, (k + 1) * period] for k in range(9)])
    v = pf.embedding_cycle(frames, FPS, strides, 1.0, bins=4)
    # bin means of a 0..1 ramp in 4 bins (frames 0-7, 8-14, 15-22, 23-29 of 30), identical in every cycle
    edges = np.linspace(0, period, 5).round().astype(int)
    expect = [phase[edges[k]:edges[k + 1]].mean() for k in range(4)]
    assert v[:4] == pytest.approx(expect, abs=1e-9)
    assert v[4:] == pytest.approx(np.zeros(4), abs=1e-9)
    # no strides from the analysis: cut at the spectral stride period (1 Hz at 30 fps = 30 frames)
    assert pf.cycles(n, FPS, np.zeros((0, 2)), 1.0)[:2] == [(0, 30), (30, 60)]
    v2 = pf.embedding_cycle(frames, FPS, np.zeros((0, 2)), 1.0, bins=4)
    assert v2[:4] == pytest.approx(expect, abs=1e-9)


def test_unseen_body_gives_nan_not_numbers():
    lm = _walk()
    lm[:, :, :2] = np.nan
    assert np.isnan(pf.gait_features_2d(lm)).all()
