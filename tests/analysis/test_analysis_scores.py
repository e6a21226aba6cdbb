"""Gait Variable Scores and the Gait Profile Score (gaitscope/analysis/scores.py), by hand."""

import numpy as np
import pytest

from gaitscope.analysis.normative import PCT
from gaitscope.analysis.scores import compute_scores, gait_profile_score, gait_variable_score
from gaitscope.records import GaitCurve


def _curve(name, side, mean, ref):
    return GaitCurve(name=name, side=side, unit="deg", pct=PCT, mean=np.asarray(mean, float), sd=np.zeros(101),
                     n_strides=3, normal_mean=None if ref is None else np.asarray(ref, float),
                     normal_sd=None if ref is None else np.ones(101))


def test_gvs_is_rms_difference():
    ref = np.zeros(101)
    assert gait_variable_score(np.full(101, 3.0), ref) == pytest.approx(3.0)
    # a square wave of +/-4 deg: RMS 4
    sq = np.where(np.arange(101) % 2 == 0, 4.0, -4.0)
    assert gait_variable_score(sq, ref) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        gait_variable_score(np.zeros(51), ref)


def test_gps_against_a_hand_computed_value():
    ref = 20 * np.sin(np.linspace(0, 2 * np.pi, 101))
    curves = [
        _curve("knee_flexion", "L", ref + 3.0, ref),  # GVS 3
        _curve("knee_flexion", "R", ref + 4.0, ref),  # GVS 4
        _curve("hip_flexion", "L", ref - 12.0, ref),  # GVS 12
        _curve("hip_flexion", "R", ref, ref),  # GVS 0
        _curve("trunk_tilt", "L", ref + 50, ref),  # not a GPS variable: ignored
        _curve("hip_abduction", "L", ref + 9, None),  # no reference: ignored
    ]
    s = compute_scores(curves)
    assert s["GVS_knee_flexion_L"] == pytest.approx(3.0)
    assert s["GVS_hip_flexion_L"] == pytest.approx(12.0)
    # GPS = sqrt((3^2 + 4^2 + 12^2 + 0^2) / 4) = sqrt(169 / 4) = 6.5
    assert s["GPS"] == pytest.approx(6.5)
    assert s["GPS_L"] == pytest.approx(np.sqrt((9 + 144) / 2))
    assert s["GPS_R"] == pytest.approx(np.sqrt(16 / 2))
    assert "GVS_trunk_tilt_L" not in s and "GVS_hip_abduction_L" not in s
    assert gait_profile_score([]) != gait_profile_score([])  # NaN for no variables


def test_no_reference_no_gps():
    assert compute_scores([_curve("knee_flexion", "L", np.zeros(101), None)]) == {}


def test_gps_of_three_variables_computed_by_hand():
    """Three variables on the left side, each differing from its reference by a different pattern.

    pelvis_obliquity: patient - reference alternates +1, -1, +1, ... over the 101 samples
        every squared difference is 1          -> GVS = sqrt(101 * 1 / 101)  = 1
    hip_flexion:      patient = reference + 1 everywhere (a constant offset on a sine-shaped curve)
                                               -> GVS = sqrt(101 * 1 / 101)  = 1
    knee_flexion:     patient - reference = +5 on samples 0-49 and -5 on samples 50-100
        every squared difference is 25         -> GVS = sqrt(101 * 25 / 101) = 5
    GPS = RMS of the three GVS = sqrt((1^2 + 1^2 + 5^2) / 3) = sqrt(27 / 3) = sqrt(9) = 3
    Only the left side has curves, so GPS_L = 3 too and there is no GPS_R.
    """
    k = np.arange(101)
    ref_pelvis = 3 * np.cos(np.linspace(0, 2 * np.pi, 101))
    ref_hip = 30 * np.sin(np.linspace(0, 2 * np.pi, 101)) + 10
    ref_knee = 60 * np.sin(np.linspace(0, np.pi, 101)) ** 2 + 5
    curves = [
        _curve("pelvis_obliquity", "L", ref_pelvis + np.where(k % 2 == 0, 1.0, -1.0), ref_pelvis),
        _curve("hip_flexion", "L", ref_hip + 1.0, ref_hip),
        _curve("knee_flexion", "L", ref_knee + np.where(k < 50, 5.0, -5.0), ref_knee),
    ]
    s = compute_scores(curves)
    assert s["GVS_pelvis_obliquity_L"] == pytest.approx(1.0)
    assert s["GVS_hip_flexion_L"] == pytest.approx(1.0)
    assert s["GVS_knee_flexion_L"] == pytest.approx(5.0)
    assert s["GPS"] == pytest.approx(3.0)
    assert s["GPS_L"] == pytest.approx(3.0)
    assert "GPS_R" not in s


def test_gvs_is_averaged_over_cycles_as_baker_defines_it():
    """Two cycles at +2 and -2 deg from the reference: their mean curve IS the reference (RMS 0), but each cycle
    deviates by 2 deg, so Baker's GVS (per cycle, then averaged) is 2."""
    ref = 40 * np.sin(np.linspace(0, np.pi, 101)) ** 2
    cycles = np.vstack([ref + 2.0, ref - 2.0])
    curve = _curve("knee_flexion", "L", cycles.mean(0), ref)
    assert compute_scores([curve])["GVS_knee_flexion_L"] == pytest.approx(0.0)  # without the cycles
    s = compute_scores([curve], cycles={("knee_flexion", "L"): cycles})
    assert s["GVS_knee_flexion_L"] == pytest.approx(2.0)
    # unequal cycles: (1 + 3) / 2 = 2 (an RMS over cycles would give sqrt(5))
    s = compute_scores([curve], cycles={("knee_flexion", "L"): np.vstack([ref + 1.0, ref - 3.0])})
    assert s["GVS_knee_flexion_L"] == pytest.approx(2.0)


def test_pelvis_counts_once_in_the_overall_gps():
    """Baker 2009: the overall GPS takes the pelvic variables from one side only; each side's GPS has its own.

    pelvis_rotation L: GVS 6, R: GVS 2 (overall uses L only); knee L: 3, knee R: 4.
    GPS = sqrt((3^2 + 4^2 + 6^2) / 3) = sqrt(61 / 3); GPS_L = sqrt((9 + 36) / 2); GPS_R = sqrt((16 + 4) / 2).
    """
    ref = np.zeros(101)
    curves = [
        _curve("pelvis_rotation", "L", ref + 6.0, ref),
        _curve("pelvis_rotation", "R", ref - 2.0, ref),
        _curve("knee_flexion", "L", ref + 3.0, ref),
        _curve("knee_flexion", "R", ref - 4.0, ref),
    ]
    s = compute_scores(curves)
    assert s["GPS"] == pytest.approx(np.sqrt(61 / 3))
    assert s["GPS_L"] == pytest.approx(np.sqrt(45 / 2))
    assert s["GPS_R"] == pytest.approx(np.sqrt(20 / 2))
    # only the right side has pelvis: that one is used
    s = compute_scores(curves[1:])
    assert s["GPS"] == pytest.approx(np.sqrt((9 + 16 + 4) / 3))


def test_scores_are_typed_values_that_still_read_and_store_as_the_flat_names():
    """Issue 25: a variable's curve and side are fields, not parts of a key string taken apart by each reader; the
    flat names stay what the database and CSV store, and a stored mapping reads back to the same typed values."""
    from gaitscope.records import GaitReport, GaitScores, VariableScore

    ref = np.zeros(101)
    s = compute_scores([_curve("knee_flexion", "L", ref + 3.0, ref), _curve("pelvis_obliquity", "R", ref + 2.0, ref),
                        _curve("hip_flexion", "R", ref + 6.0, ref)])
    assert isinstance(s, GaitScores)
    got = sorted((v.curve, v.side, round(v.gvs_deg, 9)) for v in s.variables)
    assert got == [("hip_flexion", "R", 6.0), ("knee_flexion", "L", 3.0), ("pelvis_obliquity", "R", 2.0)]
    assert all(isinstance(v, VariableScore) for v in s.variables)
    assert s.variable_names() == ["hip_flexion", "knee_flexion", "pelvis_obliquity"]
    assert s.gps == pytest.approx(np.sqrt((9 + 4 + 36) / 3)) and s.gps_left == pytest.approx(3.0)
    stored = {k: float(v) for k, v in s.items()}  # what the database keeps (JSON)
    assert sorted(stored) == ["GPS", "GPS_L", "GPS_R", "GVS_hip_flexion_R", "GVS_knee_flexion_L",
                              "GVS_pelvis_obliquity_R"]
    back = GaitScores.from_mapping(stored)
    assert back == s and back.variables == s.variables and back.gps_right == s.gps_right
    # a report built with the flat mapping (stored analyses, examples) holds the typed record
    report = GaitReport(fps=30.0, n_frames=0, duration_s=0.0, events=(), strides=(), parameters=(), curves=(),
                        scores=stored, scale_note="", source="", analysis_version="")
    assert isinstance(report.scores, GaitScores) and report.scores.gps == pytest.approx(s.gps)
