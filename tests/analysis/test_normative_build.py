"""A lab's own reference set from healthy walks (gaitscope/analysis/normative_build.py): statistics, files, use.

Four synthetic healthy walkers with different cadences stand in for a lab's volunteers; the expected bands are
computed here independently from their reports.
"""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest

from gaitscope.analysis.normative import PCT, CurveReference, SpatiotemporalReference
from gaitscope.analysis.normative_build import (
    ReferenceSet,
    build_reference,
    bundled_reference_set,
    leg_length_from_motion,
    load_reference_set,
    save_reference_set,
)
from gaitscope.analysis.report import analyze_gait
from gaitscope.analysis.scores import gait_variable_score
from gaitscope.synthetic import walker
from gaitscope.synthetic.truth import WalkParams

CADENCES = (100.0, 106.0, 112.0, 118.0)


@pytest.fixture(scope="module")
def lab():
    walks = [walker.simulate_walk(WalkParams(seed=20 + i, duration_s=4.0, cadence_steps_min=c,
                                             step_length_m=0.62 + 0.03 * i))
             for i, c in enumerate(CADENCES)]
    reports = [analyze_gait(w.motion) for w in walks]
    legs = [leg_length_from_motion(w.motion) for w in walks]
    return walks, reports, legs


def _side_mean(report, curve):
    return np.mean([c.mean for c in report.curves if c.name == curve], axis=0)


def test_bands_are_between_subject_mean_and_sd(lab):
    _, reports, legs = lab
    ref = build_reference(reports, name="lab A", leg_lengths_m=legs)
    assert ref.n_subjects == 4 and not ref.children
    per_subject = np.array([_side_mean(r, "knee_flexion") for r in reports])
    mean, sd = ref.curves.bands[("all", "knee_flexion")]
    np.testing.assert_allclose(mean, per_subject.mean(0), atol=1e-9)
    np.testing.assert_allclose(sd, per_subject.std(0, ddof=1), atol=1e-9)
    assert mean.shape == PCT.shape and sd.max() > 0
    # dimensionless speed of the class: mean of v / sqrt(g L) over subjects
    v_hat = [r.parameter("speed").value / np.sqrt(9.81 * leg) for r, leg in zip(reports, legs)]
    assert ref.curves.class_speeds["all"] == pytest.approx(np.mean(v_hat))
    assert 0.8 < legs[0] < 1.0  # 0.53 x 1.70 m = 0.90 m


def test_spatiotemporal_ranges_are_mean_plus_minus_two_sd(lab):
    _, reports, legs = lab
    ref = build_reference(reports, name="lab A", leg_lengths_m=legs, ages=[30, 41, 25, 55])
    cad = np.array([r.parameter("cadence").value for r in reports])
    ranges, notes = ref.spatiotemporal.ranges(age=35, sex="F")
    assert ranges["cadence"].low == pytest.approx(cad.mean() - 2 * cad.std(ddof=1), rel=1e-6)
    assert ranges["cadence"].high == pytest.approx(cad.mean() + 2 * cad.std(ddof=1), rel=1e-6)
    assert "lab A" in ranges["cadence"].source and not notes
    assert "speed" in ranges and "stance_pct" in ranges
    # ages 25-55 recorded as the band; an older patient is told the nearest band was used
    _, notes = ref.spatiotemporal.ranges(age=80)
    assert any("outside the reference table" in n for n in notes)


def test_walks_of_one_subject_are_averaged_before_the_between_subject_sd(lab):
    _, reports, _ = lab
    ref = build_reference(reports, name="pairs", subject_ids=["a", "a", "b", "b"])
    assert ref.n_subjects == 2
    a = (_side_mean(reports[0], "knee_flexion") + _side_mean(reports[1], "knee_flexion")) / 2
    b = (_side_mean(reports[2], "knee_flexion") + _side_mean(reports[3], "knee_flexion")) / 2
    mean, sd = ref.curves.bands[("all", "knee_flexion")]
    np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-9)
    np.testing.assert_allclose(sd, np.abs(a - b) / np.sqrt(2), atol=1e-9)  # SD (ddof=1) of two values


def test_one_subject_is_not_a_reference(lab):
    _, reports, _ = lab
    with pytest.raises(ValueError, match="at least 2 subjects"):
        build_reference(reports[:2], name="x", subject_ids=["same", "same"])


def test_split_by_speed_class(lab):
    _, reports, _ = lab
    # leg lengths chosen so that v / sqrt(g L) puts two subjects in "Very Slow" (0.17) and two in "Free" (0.43)
    speeds = [r.parameter("speed").value for r in reports]
    fake_legs = [(v / target) ** 2 / 9.81 for v, target in zip(speeds, (0.17, 0.18, 0.42, 0.44))]
    ref = build_reference(reports, name="speeds", leg_lengths_m=fake_legs, by_speed=True)
    assert ref.curves.speed_classes == ["Free", "Very Slow"]
    assert all(v["n_subjects"] == 2 for v in ref.meta["speed_classes"].values())
    assert ref.curves.class_speeds["Free"] == pytest.approx(0.43)
    # a patient at dimensionless speed 0.40 is compared with the Free class
    assert ref.curves.match_class(0.40 * np.sqrt(9.81 * 0.9), 0.9)[0] == "Free"


def test_saved_set_loads_with_the_existing_loaders(lab, tmp_path):
    _, reports, legs = lab
    ref = build_reference(reports, name="lab A", leg_lengths_m=legs)
    path = save_reference_set(ref, tmp_path / "sets" / "labA.json")
    meta = json.loads(path.read_text())
    assert meta["format"] == "gaitscope-normative" and meta["n_subjects"] == 4 and meta["children"] is False
    # each companion file is in the format of the loaders that already existed
    curves = CurveReference.from_csv(tmp_path / "sets" / meta["curves"], source="x")
    stp = SpatiotemporalReference.from_csv(tmp_path / "sets" / meta["spatiotemporal"])
    np.testing.assert_allclose(curves.bands[("all", "knee_flexion")][0], ref.curves.bands[("all", "knee_flexion")][0],
                               atol=1e-3)
    assert stp.ranges()[0]["cadence"].low == pytest.approx(ref.spatiotemporal.ranges()[0]["cadence"].low, rel=1e-5)
    loaded = load_reference_set(path)
    assert loaded.name == "lab A" and loaded.n_subjects == 4 and loaded.path == path
    assert loaded.identity == ref.identity  # what analyses are stored under survives the round trip
    assert loaded.identity != bundled_reference_set().identity
    # a lone curve CSV is a set too (no spatiotemporal table: the bundled one stays in use)
    alone = load_reference_set(tmp_path / "sets" / meta["curves"])
    assert alone.spatiotemporal is None and ("all", "knee_flexion") in alone.curves.bands


@pytest.mark.parametrize("content, match", [("{not json", "not a gaitscope reference manifest"),
                                            ('{"format": "other"}', "not a gaitscope reference set")])
def test_bad_files_are_refused_with_a_reason(tmp_path, content, match):
    p = tmp_path / "x.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_reference_set(p)
    with pytest.raises(ValueError, match="does not exist"):
        load_reference_set(tmp_path / "missing.json")


def test_missing_companion_file_is_named(lab, tmp_path):
    _, reports, _ = lab
    path = save_reference_set(build_reference(reports, name="b"), tmp_path / "b.json")
    (tmp_path / "b.curves.csv").unlink()
    with pytest.raises(ValueError, match="b.curves.csv"):
        load_reference_set(path)


def test_gps_is_computed_against_the_chosen_reference(lab):
    walks, reports, legs = lab
    ref = build_reference(reports, name="lab A", leg_lengths_m=legs)
    rep = analyze_gait(walks[1].motion, curve_reference=ref.curves, spatiotemporal_reference=ref.spatiotemporal)
    knee = next(c for c in rep.curves if c.name == "knee_flexion" and c.side == "L")
    band_mean = ref.curves.bands[("all", "knee_flexion")][0]
    np.testing.assert_allclose(knee.normal_mean, band_mean)
    # Baker's per-cycle GVS lies between the GVS of the mean curve and that plus the stride-to-stride spread
    of_mean = gait_variable_score(knee.mean, band_mean)
    assert of_mean - 1e-9 <= rep.scores["GVS_knee_flexion_L"] <= np.sqrt(of_mean**2 + np.mean(knee.sd**2)) + 1e-9
    assert "lab A" in knee.normal_source
    assert any("relative to lab A" in w for w in rep.warnings)
    assert not any("CHILDREN" in w for w in rep.warnings)
    # a member of a healthy lab set is closer to it than to the children's set at the same speed
    bundled = analyze_gait(walks[1].motion)
    assert rep.scores["GPS"] < bundled.scores["GPS"]
    assert any("CHILDREN" in w for w in bundled.warnings)
    assert rep.parameter("cadence").flag == "normal"


def test_reference_set_record_is_frozen(lab):
    _, reports, _ = lab
    ref = build_reference(reports, name="f")
    assert isinstance(ref, ReferenceSet)
    with pytest.raises(FrozenInstanceError):
        ref.name = "g"  # type: ignore[misc]
    assert replace(ref, name="g").identity.startswith("g#")
