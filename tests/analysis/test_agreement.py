"""Agreement between two analyses: synchronisation, angle RMSE/bias, event matching, Bland-Altman."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gaitscope.analysis.agreement import (
    SyncError,
    bland_altman,
    bland_altman_table,
    compare_reports,
    estimate_lag,
    match_events,
    summarize_events,
    sync_reports,
)
from gaitscope.records import GaitEvent, GaitReport, ParameterSummary

STRIDE_S = 1.1


def _gait_signal(t: np.ndarray) -> np.ndarray:
    """Knee-like signal: stride-periodic with a slow drift of phase, so one stride apart is not identical."""
    ph = 2 * np.pi * t / STRIDE_S + 0.4 * np.sin(2 * np.pi * t / 3.7)
    return 30 + 25 * np.sin(ph) + 10 * np.sin(2 * ph + 0.5)


def _report(fps: float, duration_s: float, t0: float = 0.0, angle_offset: float = 0.0, events=(), parameters=(),
            extra_error=None) -> GaitReport:
    """A report whose clock starts at walk time ``t0``: angle columns are functions of the walk time."""
    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    walk_t = t + t0
    err = 0.0 if extra_error is None else extra_error(walk_t)
    df = pd.DataFrame({
        "time_s": t,
        "knee_flexion_L": _gait_signal(walk_t) + angle_offset + err,
        "knee_flexion_R": _gait_signal(walk_t + STRIDE_S / 2) + angle_offset + err,
        "hip_flexion_L": 0.5 * _gait_signal(walk_t - 0.1) - 10 + angle_offset + err,
        "hip_flexion_R": 0.5 * _gait_signal(walk_t - 0.1 + STRIDE_S / 2) - 10 + angle_offset + err,
    })
    return GaitReport(fps=fps, n_frames=n, duration_s=n / fps, events=tuple(events), strides=(),
                      parameters=tuple(parameters), curves=(), scores={}, scale_note="", source="test",
                      analysis_version="test", angles=df)


def _heel_strikes(t0: float, duration_s: float, fps: float, offset_s: float = 0.0) -> list[GaitEvent]:
    """Heel strikes at walk times k * stride (L) and k * stride + stride/2 (R), on the clock starting at t0."""
    out = []
    for k in range(20):
        for side, phase in (("L", 0.0), ("R", STRIDE_S / 2)):
            tw = 0.2 + k * STRIDE_S + phase + offset_s
            tc = tw - t0
            if 0 <= tc < duration_s:
                out.append(GaitEvent(side, "heel_strike", int(round(tc * fps)), tc))
    return sorted(out, key=lambda e: e.time_s)


# ---------------------------------------------------------------------------------------------------------
# estimate_lag
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("true_lag", [0.437, -0.81, 0.0])
def test_lag_recovered_within_a_frame_across_rates(true_lag):
    fps_a, fps_b = 30.0, 100.0
    ta = np.arange(0, 6, 1 / fps_a)
    tb = np.arange(0, 9, 1 / fps_b)
    a = np.stack([_gait_signal(ta + 1.5), _gait_signal(ta + 1.5 + STRIDE_S / 2)], axis=1)
    # b(t + lag) = a(t)  <=>  b(t) = a(t - lag)
    b = np.stack([_gait_signal(tb - true_lag + 1.5), _gait_signal(tb - true_lag + 1.5 + STRIDE_S / 2)], axis=1)
    est = estimate_lag(a, b, fps_a, fps_b, max_lag_s=3.0)
    assert abs(est.lag_s - true_lag) < 1 / fps_a
    assert abs(est.lag_s - true_lag) < 0.005  # sub-frame refinement: well inside one 30 fps frame
    assert est.r > 0.99


def test_lag_with_gaps_and_noise():
    rng = np.random.default_rng(1)
    fps = 30.0
    t = np.arange(0, 5, 1 / fps)
    a = _gait_signal(t) + rng.normal(0, 2, len(t))
    b = _gait_signal(t - 0.3) + rng.normal(0, 2, len(t))
    b[40:55] = np.nan
    est = estimate_lag(a, b, fps, fps)
    assert abs(est.lag_s - 0.3) < 1 / fps


def _walk_with_stride_jitter(t: np.ndarray, seed: int = 0) -> np.ndarray:
    """Knee and hip flexion of both legs of a steady walk whose stride durations vary with a 3 % CV (the
    synthetic walker's default): one stride apart the signal is nearly, not exactly, the same."""
    rng = np.random.default_rng(seed)
    durations = STRIDE_S * (1 + 0.03 * rng.standard_normal(40))
    starts = np.concatenate([[-5.0], -5.0 + np.cumsum(durations)])
    k = np.searchsorted(starts, t, side="right") - 1
    ph = 2 * np.pi * (k + (t - starts[k]) / durations[k])

    def knee(p):
        return 30 + 25 * np.sin(p) + 10 * np.sin(2 * p + 0.5)

    return np.stack([knee(ph), knee(ph + np.pi), 0.5 * knee(ph - 0.5) - 10, 0.5 * knee(ph + np.pi - 0.5) - 10], 1)


def test_lag_near_tie_one_stride_apart_goes_to_the_fuller_overlap():
    """A video (30 fps, 3.9 s) inside a motion-capture trial (60 Hz, 5 s) that starts 1.0 s earlier; the video's
    angles are noisy (SD 4 deg) and noisier over its last 0.9 s (walker leaving the frame, +SD 6 deg). One stride
    later the noisy tail falls outside the trial and the correlation is a hair higher (0.969 vs 0.965, like the
    rendered walk the fresh-clone CI synchronised one stride off); the true offset overlaps the whole video
    and must win the near-tie."""
    fa, fb, true_lag = 30.0, 60.0, 1.0
    tb = np.arange(0, 5.0, 1 / fb)
    ta = np.arange(0, 3.9, 1 / fa)
    rng = np.random.default_rng(7)
    a = _walk_with_stride_jitter(ta + true_lag) + rng.normal(0, 4, (len(ta), 4))
    a[ta > 3.0] += rng.normal(0, 6, ((ta > 3.0).sum(), 4))
    b = _walk_with_stride_jitter(tb)
    by_r_alone = estimate_lag(a, b, fa, fb, max_lag_s=3.0, tie_z=0.0)
    assert abs(by_r_alone.lag_s - (true_lag + STRIDE_S)) < 0.1  # the trap is real: r alone is one stride off
    est = estimate_lag(a, b, fa, fb, max_lag_s=3.0)
    assert abs(est.lag_s - true_lag) < 1 / fa
    assert est.overlap_s > 3.8


def test_lag_clear_winner_is_not_overruled_by_overlap():
    """Without the noisy tail the true offset correlates clearly best and stays chosen (tie_r only breaks
    near-ties: 0.998 against 0.983 one stride later); and a partial true overlap (the trial starts 1.2 s into a 3.9 s video: 69 % of it overlaps) is still found."""
    fa, fb = 30.0, 60.0
    rng = np.random.default_rng(3)
    tb = np.arange(0, 5.0, 1 / fb)
    b = _walk_with_stride_jitter(tb)
    ta = np.arange(0, 3.9, 1 / fa)
    a = _walk_with_stride_jitter(ta - 1.2) + rng.normal(0, 1, (len(ta), 4))  # video time 1.2 s = trial time 0
    est = estimate_lag(a, b, fa, fb, max_lag_s=3.0)
    assert abs(est.lag_s - (-1.2)) < 1 / fa
    assert est.r > 0.99


def test_lag_refuses_constant_signal():
    with pytest.raises(SyncError):
        estimate_lag(np.ones(50), np.ones(60), 30.0, 30.0)


def test_sync_reports_recovers_clock_offset_and_rejects_unrelated_walks():
    ref = _report(100.0, 6.0, t0=0.0)
    test = _report(30.0, 4.0, t0=1.25)  # test time 0 = reference time 1.25
    est = sync_reports(test, ref)
    assert abs(est.lag_s - 1.25) < 1 / 30
    rng = np.random.default_rng(0)
    noise = _report(30.0, 4.0)
    noise.angles.iloc[:, 1:] = rng.normal(size=(len(noise.angles), 4)).cumsum(axis=0)
    with pytest.raises(SyncError, match="could not be synchronised"):
        sync_reports(noise, ref)


# ---------------------------------------------------------------------------------------------------------
# compare_reports: angles
# ---------------------------------------------------------------------------------------------------------


def test_constant_offset_gives_rmse_and_bias_equal_to_offset():
    ref_events = _heel_strikes(0.0, 6.0, 100.0)
    ref = _report(100.0, 6.0, t0=0.0, events=ref_events)
    test = _report(30.0, 5.0, t0=0.5, angle_offset=2.0)
    res = compare_reports(test, ref, lag_s=0.5, reference_events=ref_events, event_reference="plates")
    knee = res.angle("knee_flexion", "L")
    assert knee.basis == "reference events"
    assert knee.n_strides >= 3
    assert knee.bias_deg == pytest.approx(2.0, abs=0.05)
    assert knee.rmse_deg == pytest.approx(2.0, abs=0.05)
    assert knee.r > 0.999
    np.testing.assert_allclose(knee.test_mean - knee.ref_mean, 2.0, atol=0.1)


def test_sinusoidal_error_gives_rmse_amp_over_root_two_and_zero_bias():
    ref_events = _heel_strikes(0.0, 8.0, 100.0)
    ref = _report(100.0, 8.0, events=ref_events)
    amp = 4.0
    test = _report(50.0, 8.0, extra_error=lambda t: amp * np.sin(2 * np.pi * t / STRIDE_S * 3))
    res = compare_reports(test, ref, 0.0, reference_events=ref_events)
    hip = res.angle("hip_flexion", "R")
    assert hip.rmse_deg == pytest.approx(amp / math.sqrt(2), rel=0.05)
    assert abs(hip.bias_deg) < 0.3


def test_wrong_lag_is_visible_in_rmse():
    ref_events = _heel_strikes(0.0, 6.0, 100.0)
    ref = _report(100.0, 6.0, events=ref_events)
    test = _report(30.0, 5.0, t0=0.5)
    good = compare_reports(test, ref, 0.5, reference_events=ref_events).angle("knee_flexion", "L").rmse_deg
    bad = compare_reports(test, ref, 0.6, reference_events=ref_events).angle("knee_flexion", "L").rmse_deg
    assert good < 0.5
    assert bad > 5


def test_without_reference_events_falls_back_and_says_so():
    ref = _report(100.0, 6.0, events=_heel_strikes(0.0, 6.0, 100.0))
    test = _report(30.0, 6.0)
    res = compare_reports(test, ref, 0.0)
    assert any("Zeni" in n for n in res.notes)
    assert res.angle("knee_flexion", "L").basis == "reference events"
    short_ref = _report(100.0, 0.9, events=())
    res2 = compare_reports(_report(30.0, 0.9), short_ref, 0.0)
    assert res2.angle("knee_flexion", "L").basis == "time series"
    assert res2.angle("knee_flexion", "L").rmse_deg < 0.5


# ---------------------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------------------


def _ev(side, kind, t, fps=30.0):
    return GaitEvent(side, kind, int(round(t * fps)), t)


def test_event_matching_with_misses_extras_and_one_to_one():
    ref = [_ev("L", "heel_strike", 1.00), _ev("R", "heel_strike", 1.55), _ev("L", "toe_off", 1.70),
           _ev("L", "heel_strike", 2.10)]
    # test clock: reference = test + 0.5
    test = [
        _ev("L", "heel_strike", 0.52),  # -> 1.02: +20 ms
        _ev("L", "heel_strike", 0.47),  # -> 0.97: -30 ms, second candidate for the same reference: extra
        _ev("R", "heel_strike", 1.10),  # -> 1.60: +50 ms
        _ev("R", "toe_off", 1.20),  # wrong kind/foot for L toe off: extra (inside the covered span)
        _ev("L", "heel_strike", 1.90),  # -> 2.40: 300 ms from 2.10, outside the window: L HS 2.10 missed
        _ev("R", "heel_strike", 5.00),  # far outside the reference span: ignored
    ]
    m = match_events(test, ref, lag_s=0.5, window_s=0.15)
    matched = [x for x in m if x.status == "matched"]
    assert sorted(round(x.error_s, 3) for x in matched) == [0.02, 0.05]
    assert sum(x.status == "missed" for x in m) == 2  # L toe off, L HS at 2.10
    extras = [x for x in m if x.status == "extra"]
    # the second L HS candidate and the R toe off; the late L HS (2.40) is past the span the reference covers
    assert len(extras) == 2
    s = {x.kind: x for x in summarize_events(m, 30.0)}
    hs = s["heel_strike"]
    assert (hs.n_reference, hs.n_matched, hs.n_missed) == (3, 2, 1)
    assert hs.mean_s == pytest.approx(0.035)
    assert hs.mae_s == pytest.approx(0.035)
    assert hs.mae_frames == pytest.approx(0.035 * 30)
    assert hs.sd_s == pytest.approx(np.std([0.02, 0.05], ddof=1))
    assert s["toe_off"].n_matched == 0 and math.isnan(s["toe_off"].mean_s)


def test_compare_reports_event_errors_from_shifted_events():
    ref_events = _heel_strikes(0.0, 6.0, 100.0)
    ref = _report(100.0, 6.0, events=ref_events)
    test_events = _heel_strikes(0.5, 5.0, 30.0, offset_s=0.02)  # every test event 20 ms late
    test = _report(30.0, 5.0, t0=0.5, events=test_events)
    res = compare_reports(test, ref, 0.5, reference_events=ref_events)
    hs = res.summary("heel_strike")
    assert hs.n_matched == len(test_events)
    assert hs.mean_s == pytest.approx(0.02, abs=1e-6)
    assert hs.n_missed == len(ref_events) - len(test_events)


# ---------------------------------------------------------------------------------------------------------
# parameters and Bland-Altman
# ---------------------------------------------------------------------------------------------------------


def test_parameter_errors_and_reference_override():
    p_ref = (ParameterSummary("cadence", "Cadence", "steps/min", "both", 100.0),
             ParameterSummary("step_length", "Step length", "m", "both", 0.70),
             ParameterSummary("cadence_cv", "Cadence CV", "%", "both", 2.0))
    p_test = (ParameterSummary("cadence", "Cadence", "steps/min", "both", 110.0),
              ParameterSummary("step_length", "Step length", "m", "both", 0.63),
              ParameterSummary("cadence_cv", "Cadence CV", "%", "both", 3.0))
    ref = _report(100.0, 3.0, parameters=p_ref)
    test = _report(30.0, 3.0, parameters=p_test)
    res = compare_reports(test, ref, 0.0, reference_values={("step_length", "both"): (0.60, "force plates")})
    cad = res.parameter("cadence")
    assert (cad.error, cad.pct_error, cad.reference_source) == (pytest.approx(10.0), pytest.approx(10.0),
                                                                 "reference analysis")
    st = res.parameter("step_length")
    assert st.reference == 0.60 and st.error == pytest.approx(0.03) and st.pct_error == pytest.approx(5.0)
    assert st.reference_source == "force plates"
    assert "cadence_cv" not in set(res.parameters_frame()["name"])


def test_bland_altman_known_numbers():
    ba = bland_altman([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.7])
    d = np.array([-0.1, 0.1, -0.2, 0.3])
    assert ba.n == 4
    assert ba.bias == pytest.approx(0.025)
    assert ba.sd == pytest.approx(d.std(ddof=1))
    assert ba.loa_low == pytest.approx(0.025 - 1.96 * d.std(ddof=1))
    assert ba.loa_high == pytest.approx(0.025 + 1.96 * d.std(ddof=1))
    np.testing.assert_allclose(ba.means, [1.05, 1.95, 3.1, 3.85])
    one = bland_altman([1.0, np.nan], [2.0, 1.0])
    assert one.n == 1 and one.bias == -1.0 and math.isnan(one.loa_high)


def test_bland_altman_table_across_trials():
    results = []
    for tv, rv in ((110.0, 100.0), (104.0, 100.0), (99.0, 101.0)):
        ref = _report(100.0, 3.0, parameters=(ParameterSummary("cadence", "Cadence", "steps/min", "both", rv),))
        test = _report(30.0, 3.0, parameters=(ParameterSummary("cadence", "Cadence", "steps/min", "both", tv),))
        results.append(compare_reports(test, ref, 0.0))
    table = bland_altman_table(results)
    row = table[table["quantity"] == "cadence"].iloc[0]
    assert row["n"] == 3
    assert row["bias"] == pytest.approx(np.mean([10.0, 4.0, -2.0]))
    assert row["sd"] == pytest.approx(np.std([10.0, 4.0, -2.0], ddof=1))
