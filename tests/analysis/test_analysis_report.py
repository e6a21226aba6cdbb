"""The ``GaitReport`` that ``analyze_gait`` returns: every field filled, names stable, errors clear."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import to_camera_root_relative, without_feet

from gaitscope.analysis import ANALYSIS_VERSION, analyze_gait
from gaitscope.analysis.normative import CurveReference
from gaitscope.errors import AnalysisError
from gaitscope.records import GaitReport
from gaitscope.synthetic import walker
from gaitscope.synthetic.truth import WalkParams

BASE_NAMES = ("cadence", "speed", "stride_time", "step_time", "stride_length", "step_length", "stance_pct",
              "swing_pct", "double_support_pct", "step_width", "arm_swing")


@pytest.fixture(scope="module")
def walk():
    return walker.simulate_walk(WalkParams(seed=7))


@pytest.fixture(scope="module")
def report(walk) -> GaitReport:
    return analyze_gait(without_feet(walk.motion), age=35, sex="F")


def test_report_is_complete(report, walk):
    assert report.fps == walk.motion.fps and report.n_frames == walk.motion.n_frames
    assert report.duration_s == pytest.approx(walk.motion.duration_s)
    assert report.analysis_version == ANALYSIS_VERSION and report.source == "synthetic"
    assert report.scale_note and report.events and report.strides and report.curves
    names = {p.name for p in report.parameters}
    for n in BASE_NAMES:
        assert n in names, n
        assert np.isfinite(report.parameter(n).value), n
    for n in ("stride_time_cv", "step_length_cv", "step_length_symmetry_index", "step_length_symmetry_ratio",
              "stance_pct_symmetry_index", "knee_rom", "hip_rom"):
        assert n in names, n
    for n in BASE_NAMES[2:]:
        assert {"L", "R", "both"} <= {p.side for p in report.parameters if p.name == n}, n
    p = report.parameter("stride_time")
    assert p.n == len(report.strides) and np.isfinite(p.sd) and np.isfinite(p.cv_pct)
    # frames: tables for the database / CSV export
    assert len(report.events_frame()) == len(report.events)
    assert len(report.strides_frame()) == len(report.strides)
    assert set(report.curves_frame().curve) >= {"knee_flexion", "hip_flexion", "pelvis_obliquity", "trunk_tilt"}


def test_normal_ranges_and_flags(report):
    cad = report.parameter("cadence")
    assert cad.normal_low < cad.normal_high and cad.flag == "normal"
    assert "female" in cad.normal_source and "30-39" in cad.normal_source
    assert report.parameter("arm_swing").flag == "unknown"
    assert all(p.flag in ("low", "normal", "high", "unknown") for p in report.parameters)


def test_slow_short_steps_are_flagged_low():
    w = walker.simulate_walk(WalkParams(seed=8, cadence_steps_min=90, step_length_m=0.38))
    r = analyze_gait(without_feet(w.motion), age=45, sex="M")
    assert r.parameter("speed").flag == "low"
    assert r.parameter("step_length").flag == "low"
    assert r.parameter("cadence").flag == "low"


def test_angles_dataframe(report, walk):
    a = report.angles
    assert isinstance(a, pd.DataFrame) and len(a) == walk.motion.n_frames
    assert a.index.name == "frame" and "time_s" in a
    for col in ("knee_flexion_L", "knee_flexion_R", "hip_flexion_L", "hip_abduction_R", "pelvis_tilt",
                "pelvis_obliquity_L", "trunk_tilt", "shoulder_flexion_L", "elbow_flexion_R"):
        assert col in a, col
    assert "ankle_dorsiflexion_L" not in a


def test_curves_have_101_points_bands_and_labelled_children_reference(report):
    knee = next(c for c in report.curves if c.name == "knee_flexion" and c.side == "L")
    assert knee.pct.shape == (101,) and knee.pct[0] == 0 and knee.pct[-1] == 100
    assert knee.n_strides >= 3 and np.all(knee.sd >= 0)
    assert knee.normal_mean is not None and "CHILDREN" in knee.normal_source
    tilt = next(c for c in report.curves if c.name == "pelvis_tilt")
    assert tilt.normal_mean is None and tilt.normal_source
    assert any("CHILDREN" in w for w in report.warnings)
    assert any("Ankle dorsiflexion" in w for w in report.warnings)


def test_scores(report):
    assert report.scores["GPS"] > 0
    gvs = {k for k in report.scores if k.startswith("GVS_")}
    assert "GVS_knee_flexion_L" in gvs and "GVS_hip_flexion_R" in gvs
    assert not any("ankle" in k for k in gvs)


SCHWARTZ = Path(__file__).resolve().parents[2] / "gaitscope" / "data" / "normative" / "schwartz2008"
#: Schwartz 2008's Plug-in-Gait variables in gaitscope's conventions, stated here from the paper and
#: gaitscope/analysis/kinematics.py's definitions (not read from the code's map): hip abduction is PiG's
#: adduction with the sign flipped; hip flexion is the thigh to the vertical = PiG hip flexion - PiG pelvic tilt;
#: the others are PiG's own.
PIG = {"knee_flexion": [(+1, "Knee Flex/Extension")], "hip_abduction": [(-1, "Hip Ad/Abduction")],
       "pelvis_obliquity": [(+1, "Pelvic Up/Down Obliquity")], "pelvis_rotation": [(+1, "Pelvic Int/External Rotation")],
       "hip_flexion": [(+1, "Hip Flex/Extension"), (-1, "Pelvic Ant/Posterior Tilt")]}


def _published(long: pd.DataFrame, speed_class: str, curve: str) -> np.ndarray:
    """The Schwartz 2008 curve of ``curve`` in gaitscope's conventions, on 101 points (linear interpolation)."""
    pct = np.linspace(0.0, 100.0, 101)
    ref = np.zeros(101)
    for sign, var in PIG[curve]:
        sub = long[(long.speed == speed_class) & (long.variable == var)].sort_values("pct_gait_cycle")
        assert len(sub) > 10, (speed_class, var)
        ref += sign * np.interp(pct, sub.pct_gait_cycle.to_numpy(float), sub.mean_deg.to_numpy(float))
    return ref


def test_reference_bands_are_the_published_curves_in_our_conventions():
    """Every band the GVS/GPS use equals the published curve converted as stated in PIG (a sign error in the
    reference map fails here whatever the subject's curve looks like)."""
    long = pd.read_csv(SCHWARTZ / "schwartz2008_kinematics_long.csv")
    ref = CurveReference.schwartz2008()
    for speed_class in long.speed.unique():
        for curve in PIG:
            band = ref.band(speed_class, curve)
            assert band is not None, (speed_class, curve)
            np.testing.assert_allclose(band.mean, _published(long, speed_class, curve), atol=1e-9,
                                       err_msg=f"{speed_class} {curve}")


def test_gps_equals_bakers_score_against_the_published_reference(report):
    """GVS and GPS recomputed from the published Schwartz 2008 table (read here) and Baker 2009's definitions:
    GVS = RMS difference over the cycle to the reference mean, averaged over cycles; GPS = RMS of the GVS with the
    pelvic variables once (left side). The report keeps only the mean curve and its SD, so the cycle average is
    bracketed: RMS(mean curve - ref) <= GVS <= sqrt(RMS(mean - ref)^2 + mean(SD^2)) (triangle inequality and
    Jensen). A sign error in the reference map (e.g. hip abduction not flipped) moves the GVS far outside that."""
    long = pd.read_csv(SCHWARTZ / "schwartz2008_kinematics_long.csv")
    lo: dict[tuple[str, str], float] = {}
    hi: dict[tuple[str, str], float] = {}
    for c in report.curves:
        if c.name not in PIG or c.n_strides == 0:
            continue
        ref = _published(long, c.normal_source.split("; ")[1], c.name)
        rms = float(np.sqrt(np.mean((c.mean - ref) ** 2)))
        lo[(c.name, c.side)], hi[(c.name, c.side)] = rms, float(np.sqrt(rms**2 + np.mean(c.sd**2)))
        got = report.scores[f"GVS_{c.name}_{c.side}"]
        assert rms - 1e-6 <= got <= hi[(c.name, c.side)] + 1e-6, (c.name, c.side, rms, got, hi[(c.name, c.side)])
    assert {n for n, _ in lo} == set(PIG)
    pelvic = ("pelvis_obliquity", "pelvis_rotation")
    keys = [k for k in lo if k[0] not in pelvic] + [(n, "L") for n in pelvic]

    def pooled(d):
        return float(np.sqrt(np.mean([d[k] ** 2 for k in keys])))

    assert pooled(lo) - 1e-6 <= report.scores["GPS"] <= pooled(hi) + 1e-6
    assert pooled(hi) - pooled(lo) < 0.5  # the bracket is tight for the walker's regular cycles


def test_ankle_curves_with_heel_and_toe(walk):
    r = analyze_gait(walk.motion)
    assert any(c.name == "ankle_dorsiflexion" for c in r.curves)
    assert "GVS_ankle_dorsiflexion_L" in r.scores
    assert not any("Ankle dorsiflexion" in w for w in r.warnings)


def test_scale_notes_and_height_rescaling(walk):
    m = to_camera_root_relative(walk.motion)
    # issue 25: the scale is read from the motion's values; the text is only quoted (here it says 999 cm on purpose)
    assumed = dataclasses.replace(m, scale_source="assumed height 999 cm", scale_height_m=1.70, scale_assumed=True)
    r = analyze_gait(assumed)
    assert "ASSUMED" in r.scale_note and r.height_m is None
    r2 = analyze_gait(assumed, height_m=1.87)
    assert "rescaled" in r2.scale_note and "assumed 170 cm" in r2.scale_note and r2.height_m == 1.87
    assert r2.parameter("step_length").value == pytest.approx(1.1 * r.parameter("step_length").value, rel=1e-3)
    assert r2.parameter("cadence").value == pytest.approx(r.parameter("cadence").value, rel=1e-6)
    subject = dataclasses.replace(m, scale_source="subject height 172 cm", scale_height_m=1.72)
    assert analyze_gait(subject).height_m == 1.72
    truth = analyze_gait(walk.motion)
    assert "synthetic ground truth" in truth.scale_note and truth.height_m is None
    with pytest.raises(AnalysisError, match="implausible"):
        analyze_gait(m, height_m=17.0)


def test_replaceable_curve_reference(walk, tmp_path):
    pct = np.arange(0, 101, 10)
    p = tmp_path / "ref.csv"
    pd.DataFrame({"curve": "knee_flexion", "pct": pct, "mean": 0.0 * pct, "sd": 5.0}).to_csv(p, index=False)
    r = analyze_gait(walk.motion, curve_reference=CurveReference.from_csv(p, source="Lab X adults"))
    knee = next(c for c in r.curves if c.name == "knee_flexion" and c.side == "L")
    assert "Lab X" in knee.normal_source and np.allclose(knee.normal_mean, 0)
    # Baker's GVS averages the per-cycle RMS differences: at least the mean curve's RMS, at most that plus the
    # stride-to-stride spread, sqrt(rms(mean)^2 + mean(sd^2))
    of_mean = np.sqrt(np.mean(knee.mean**2))
    assert of_mean - 1e-9 <= r.scores["GVS_knee_flexion_L"] <= np.sqrt(of_mean**2 + np.mean(knee.sd**2)) + 1e-9
    assert not any("CHILDREN" in w for w in r.warnings)


def test_no_valid_frame_and_nan_only_raise():
    w = walker.simulate_walk(WalkParams(seed=9, duration_s=3.0))
    m = without_feet(w.motion)
    with pytest.raises(AnalysisError, match="no valid frame"):
        analyze_gait(dataclasses.replace(m, valid=np.zeros(m.n_frames, bool)))


def test_lower_body_only_source_is_analyzed_and_a_missing_leg_joint_is_an_error(walk):
    """Lower-body marker sets give no upper-body joints (NaN throughout): walking is still analyzed."""
    from gaitscope.skeleton import J

    xyz = walk.motion.xyz_m.copy()
    upper = [J[n] for n in ("spine", "thorax", "nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                            "right_shoulder", "right_elbow", "right_wrist")]
    xyz[:, upper] = np.nan
    r = analyze_gait(dataclasses.replace(walk.motion, xyz_m=xyz))
    assert any("no spine" in w for w in r.warnings)
    assert "knee_flexion_L" in r.angles and "trunk_tilt" not in r.angles and "elbow_flexion_L" not in r.angles
    assert r.parameter("cadence").value == pytest.approx(walk.truth.cadence_steps_min, rel=0.02)
    assert not np.isfinite(r.parameter("arm_swing").value) and r.parameter("arm_swing").n == 0
    xyz[:, J["left_knee"]] = np.nan
    with pytest.raises(AnalysisError, match="left_knee"):
        analyze_gait(dataclasses.replace(walk.motion, xyz_m=xyz))
