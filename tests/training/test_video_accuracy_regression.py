"""Regression guard of the video evaluation of real motion (issue 19): two short held-out cases end to end.

Each case is rendered from scratch (real marker recording -> figure -> mp4v video), goes through BlazePose, the
bundled lifter and the analysis as an upload does, and is compared with the markers' own analysis and the
force-plate events (``gaitscope validate``'s comparison). The errors must stay within what was measured when
this guard was written (2026-12-05, renderer ``rmv1``, ``benchmarks/video_accuracy.py --views side``) plus a
stated margin, so that a change that makes the numbers a clinician reads worse fails CI. A change that makes
them better should lower the bounds here (issue 20 will).

Re-measured 2026-12-05 (session 7) after leg identity from the walking pattern, the knee-depth correction and
the stride ratio: every bound tightened or kept except the first case's both-feet step length (5.5 -> 9.2 %;
over the 44 side cases the step error is unchanged within its spread). The hip bounds and the first case's near
knee RMSE were kept (their old values still hold).

Re-measured in session 8 with the mirrored detection on by default (the first case walks toward the image's
left): its knee RMSE 6.4 / 6.5 -> 4.7 / 4.9 deg, heel strikes 15.6 -> 11.3 ms; its far hip RMSE 2.9 -> 3.9 deg,
far knee range -7.0 -> -11.3 deg and step 9.2 -> 10.6 % got worse in this one 1.45 s case (over the 44 side cases
the far knee range improved, -4.8 -> -3.2 deg, and hip RMSE and step did not change beyond noise), so those
bounds follow the new values. The second case walks right and is unchanged.

Margins: +2.5 deg on angle RMSE, +6 deg on range-of-motion error, +25 ms on event timing, no missed heel
strike, +5 points on percentage errors.
"""

from __future__ import annotations

import pytest

from gaitscope.training.real_motion_video import DEFAULT_MOCAP_DIR, default_cases

#: (trial, case seed) -> measured values; the cases are the benchmark's own (default_cases)
MEASURED = {
    # Horst S01 trial 18, camera on the walker's left (near leg L, walking toward the image's left: detected on
    # mirrored frames), fixed, 30 fps, 1.45 s: no complete stride
    ("horst2019_S01/c3d/S01_0018_Gait.c3d", 100): {
        "near_knee_rmse": 4.7, "far_knee_rmse": 4.9, "hip_rmse": 3.9, "near_knee_rom_err": 0.9,
        "far_knee_rom_err": -11.3, "hs_mae_ms": 11.3, "step_pct": 10.6, "cadence_pct": -1.1},
    # BMClab walk1 (lower-body markers: upper body added), camera on the right (near leg R), 30 fps, 2.4 s
    ("bmclab/data/walk1.trc", 128): {
        "near_knee_rmse": 3.5, "far_knee_rmse": 5.0, "hip_rmse": 3.0, "near_knee_rom_err": 0.2,
        "far_knee_rom_err": -10.3, "hs_mae_ms": 5.0, "step_pct": 1.3, "cadence_pct": -0.8},
}
MARGIN = {"rmse": 2.5, "rom": 6.0, "ms": 25.0, "pct": 5.0}


@pytest.fixture(scope="module")
def lifter():
    from gaitscope.pipeline.lifter_choice import load_lifter

    return load_lifter()


@pytest.mark.realdata  # about 10 s on 2 idle cores (render, BlazePose, lift, analyze, compare)
@pytest.mark.parametrize("trial,seed", list(MEASURED))
def test_rendered_held_out_walk_stays_within_measured_errors(trial, seed, lifter, tmp_path):
    if not (DEFAULT_MOCAP_DIR / trial).exists():
        pytest.skip(f"motion capture not found at {DEFAULT_MOCAP_DIR / trial} (needs ../shared/data)")
    from gaitscope.training.video_eval import case_rows, evaluate_case

    case = next(c for c in default_cases(("side",), (30.0, 60.0)) if c.trial == trial and c.seed == seed)
    assert case.fps == 30.0 and case.camera == "fixed"
    cr = evaluate_case(case, lifter, cache_dir=tmp_path)  # renders from scratch
    rows = {r["leg"]: r for r in case_rows(cr)}
    m = MEASURED[(trial, seed)]
    near, far, both = rows["near"], rows["far"], rows["both"]
    assert near["knee_flexion_rmse_deg"] <= m["near_knee_rmse"] + MARGIN["rmse"]
    assert far["knee_flexion_rmse_deg"] <= m["far_knee_rmse"] + MARGIN["rmse"]
    for leg in (near, far):
        assert leg["hip_flexion_rmse_deg"] <= m["hip_rmse"] + MARGIN["rmse"]
    assert abs(near["knee_flexion_rom_err_deg"]) <= abs(m["near_knee_rom_err"]) + MARGIN["rom"]
    assert abs(far["knee_flexion_rom_err_deg"]) <= abs(m["far_knee_rom_err"]) + MARGIN["rom"]
    assert both["heel_strike_ref"] >= 1 and both["heel_strike_missed"] == 0
    assert both["heel_strike_mae_ms"] <= m["hs_mae_ms"] + MARGIN["ms"]
    assert abs(both["step_length_err_pct"]) <= abs(m["step_pct"]) + MARGIN["pct"]
    assert abs(both["cadence_err_pct"]) <= abs(m["cadence_pct"]) + MARGIN["pct"]
