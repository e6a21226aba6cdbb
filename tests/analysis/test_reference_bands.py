"""Ranges of motion and the GPS get a normal band and a flag (issue 21 point 4), from the reference set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gaitscope.analysis.normative import DATA_DIR
from gaitscope.analysis.report import analyze_gait
from gaitscope.analysis.scores import expected_reference_gps
from gaitscope.records import GaitCurve
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk


@pytest.fixture(scope="module")
def report():
    return analyze_gait(simulate_walk(WalkParams(duration_s=8.0, seed=2)).motion, height_m=1.7)


def _schwartz(speed: str, variable: str) -> pd.DataFrame:
    long = pd.read_csv(DATA_DIR / "schwartz2008" / "schwartz2008_kinematics_long.csv")
    return long[(long["speed"] == speed) & (long["variable"] == variable)].sort_values("pct_gait_cycle")


def test_knee_range_of_motion_has_the_band_of_the_reference_curve(report):
    """Truth read straight off the published table (2 % steps): knee flexion peak - trough of the mean curve,
    -/+ 2 x sqrt(SD at peak^2 + SD at trough^2), for the speed class the report matched."""
    speed = "Free" if "'Free'" in " ".join(report.warnings) else None
    assert speed, "the synthetic walker walks at the free speed class"
    knee = _schwartz(speed, "Knee Flex/Extension")
    hi, lo = knee["mean_deg"].idxmax(), knee["mean_deg"].idxmin()
    centre = knee.loc[hi, "mean_deg"] - knee.loc[lo, "mean_deg"]
    spread = np.hypot(knee.loc[hi, "sd_deg"], knee.loc[lo, "sd_deg"])
    p = report.parameter("knee_rom", "L")
    assert p.normal_low == pytest.approx(centre - 2 * spread, abs=1.0)  # 1 deg: 101-point resampling of 2 % steps
    assert p.normal_high == pytest.approx(centre + 2 * spread, abs=1.0)
    assert p.flag in ("low", "normal", "high") and "Schwartz" in p.normal_source
    assert report.parameter("hip_rom", "both").flag != "unknown"


def test_gps_has_a_normal_value_and_a_flag(report):
    gps = report.parameter("gps")
    assert gps.value == pytest.approx(report.scores["GPS"])
    assert gps.normal_high > 2.8 and "Baker" in gps.normal_source and "CHILDREN" in gps.normal_source
    assert gps.flag == ("high" if gps.value > gps.normal_high else "normal")


def _curve(name: str, side: str, sd: float) -> GaitCurve:
    pct = np.linspace(0, 100, 101)
    return GaitCurve(name=name, side=side, unit="deg", pct=pct, mean=np.zeros(101), sd=np.zeros(101), n_strides=3,
                     normal_mean=np.zeros(101), normal_sd=np.full(101, sd))


def test_expected_gps_is_the_rms_band_sd_pooled_like_the_gps():
    """Knee SD 3 on both sides and pelvic obliquity SD 6 (counted once, as in Baker's GPS):
    sqrt((9 + 9 + 36) / 3) = sqrt(18)."""
    curves = [_curve("knee_flexion", "L", 3.0), _curve("knee_flexion", "R", 3.0),
              _curve("pelvis_obliquity", "L", 6.0), _curve("pelvis_obliquity", "R", 6.0)]
    scores = {"GVS_knee_flexion_L": 1.0, "GVS_knee_flexion_R": 1.0, "GVS_pelvis_obliquity_L": 1.0,
              "GVS_pelvis_obliquity_R": 1.0}
    assert expected_reference_gps(curves, scores) == pytest.approx(np.sqrt(18.0))
    assert np.isnan(expected_reference_gps(curves, {}))
