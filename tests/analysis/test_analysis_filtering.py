"""Low-pass filtering and gap filling (gaitscope/analysis/filtering.py)."""

import numpy as np
import pytest

from gaitscope.analysis.filtering import fill_gaps, filtfilt_correction, lowpass, runs, smooth_and_fill

FPS = 30.0


def test_lowpass_keeps_gait_band_and_removes_jitter_without_lag():
    t = np.arange(300) / FPS
    slow = np.sin(2 * np.pi * 1.0 * t)  # stride frequency
    fast = 0.5 * np.sin(2 * np.pi * 12.0 * t)  # jitter
    out = lowpass(slow + fast, FPS, cutoff_hz=6.0)
    core = slice(30, -30)
    assert np.max(np.abs(out[core] - slow[core])) < 0.03
    # zero lag: the peak of the filtered 1 Hz wave is where the true peak is
    assert abs(np.argmax(out[30:60]) - np.argmax(slow[30:60])) == 0


def test_cutoff_is_the_minus_3db_point_of_the_zero_lag_filter():
    t = np.arange(3000) / 250.0
    x = np.sin(2 * np.pi * 6.0 * t)
    out = lowpass(x, 250.0, cutoff_hz=6.0)
    gain = np.std(out[500:-500]) / np.std(x[500:-500])
    assert gain == pytest.approx(1 / np.sqrt(2), abs=0.02)
    assert filtfilt_correction(4) == pytest.approx(0.896, abs=1e-3)


def test_lowpass_handles_short_runs_and_nan_and_low_fps():
    x = np.r_[np.arange(10.0), np.nan, np.arange(3.0)]
    out = lowpass(x, FPS)
    assert np.isnan(out[10])
    assert np.allclose(out[11:], [0, 1, 2])  # 3 samples: left untouched
    assert np.all(np.isfinite(out[:10]))
    out10 = lowpass(np.random.default_rng(0).normal(size=100), 10.0, cutoff_hz=6.0)  # cutoff above Nyquist
    assert np.all(np.isfinite(out10))


def test_fill_gaps_fills_short_interior_gaps_only():
    x = np.linspace(0, 1, 40)[:, None] * np.ones((1, 3))
    valid = np.ones(40, bool)
    valid[10:13] = False  # 0.1 s gap: filled
    valid[20:35] = False  # 0.5 s gap: stays missing
    valid[:2] = False  # leading frames: never extrapolated
    filled, usable = fill_gaps(x, valid, FPS, max_gap_s=0.25)
    assert np.allclose(filled[10:13], x[10:13], atol=1e-9)
    assert usable[10:13].all()
    assert not usable[20:35].any() and np.isnan(filled[20:35]).all()
    assert not usable[:2].any()


def test_nan_values_count_as_missing_even_when_valid_says_true():
    x = np.ones((20, 2))
    x[5] = np.nan
    sm, usable = smooth_and_fill(x, None, FPS)
    assert usable[5] and np.allclose(sm[5], 1.0)


def test_runs():
    assert runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert runs(np.zeros(3, bool)) == []
