"""``gaitscope validate``: projected mode on a real mocap trial, video mode on a rendered walk with a known
clock offset, and the clear errors (missing markers, lower-body set, no person, mismatched arguments)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.errors import InvalidInputError, MocapError, NoPersonError

REPO = Path(__file__).resolve().parents[2]
MOCAP = REPO / ".." / "shared" / "data" / "mocap"
OPENCAP_TRIAL = MOCAP / "opencap_lab_subject" / "MarkerData" / "walking3.trc"
CAMARGO_TRIAL = MOCAP / "camargo2021_circuit" / "levelground_ccw_fast_01_01.trc"

needs_data = pytest.mark.skipif(not OPENCAP_TRIAL.exists(), reason=f"real mocap data not found at {MOCAP}")


@pytest.fixture(scope="module")
def lifter():
    import torch

    from gaitscope.pipeline.lifter_choice import load_lifter

    torch.set_num_threads(2)
    return load_lifter()


def _parser():
    from gaitscope.cli import validate as validate_cli

    parser = argparse.ArgumentParser(prog="gaitscope")
    sub = parser.add_subparsers(dest="command", required=True)
    validate_cli.register_cli(sub)
    return parser


@needs_data
def test_projected_mode_cli_writes_finite_csvs_and_pdf(tmp_path, capsys, monkeypatch, lifter):
    from gaitscope.pipeline import lifter_choice

    monkeypatch.setattr(lifter_choice, "load_lifter", lambda checkpoint=None: lifter)  # load once per module
    args = _parser().parse_args(["validate", "--mocap", str(OPENCAP_TRIAL), "--views", "2", "--seed", "3",
                                 "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    out = tmp_path / "out"
    for name in ("agreement_angles.csv", "agreement_events.csv", "agreement_event_summary.csv",
                 "agreement_parameters.csv", "bland_altman.csv", "validation.pdf"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "validation.pdf").read_bytes()[:5] == b"%PDF-"
    angles = pd.read_csv(out / "agreement_angles.csv")
    assert set(angles["trial"]) == {"walking3.trc#view1", "walking3.trc#view2"}
    sag = angles[angles["angle"].isin(["knee_flexion", "hip_flexion"])]
    assert len(sag) == 8 and np.isfinite(sag["rmse_deg"]).all() and (sag["rmse_deg"] >= 0).all()
    events = pd.read_csv(out / "agreement_event_summary.csv")
    hs = events[events["kind"] == "heel_strike"]
    assert (hs["n_reference"] == 2).all()  # the two force-plate heel strikes of walking3
    assert np.isfinite(hs["mae_s"]).any()
    params = pd.read_csv(out / "agreement_parameters.csv")
    cad = params[params["name"] == "cadence"]
    assert len(cad) and cad["reference_source"].str.contains("force-plate").all()
    assert "walking3.trc#view1" in capsys.readouterr().out


@needs_data
def test_projected_mode_lifter_metrics_and_force_plate_reference(lifter):
    from gaitscope.training.validate import validate_mocap_projected

    v = validate_mocap_projected(OPENCAP_TRIAL, views=1, seed=0, lifter=lifter)
    assert v.mode == "projected" and v.event_source.startswith("force plates")
    m = v.lifter_metrics[0]
    assert all(math.isfinite(m[k]) and m[k] > 0 for k in ("mpjpe_mm", "pa_mpjpe_mm"))
    assert m["pa_mpjpe_mm"] <= m["mpjpe_mm"]  # Procrustes can only reduce the error
    assert v.results[0].extra["mpjpe_mm"] == m["mpjpe_mm"]


@needs_data
def test_lower_body_set_cannot_be_projected():
    from gaitscope.training.validate import validate_mocap_projected

    with pytest.raises(MocapError, match="lower-body marker set"):
        validate_mocap_projected(CAMARGO_TRIAL, views=1, lifter=object())


def _walk(duration_s: float = 3.0):
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    return simulate_walk(WalkParams(fps=30.0, duration_s=duration_s, height_m=1.75, seed=3, step_time_cv=0.03,
                                    step_length_cv=0.03))


def test_trc_without_knee_markers_gives_clear_error(tmp_path):
    from gaitscope.io.synthetic_mocap import plug_in_gait_markers, write_trc
    from gaitscope.training.validate import validate_mocap_projected

    walk = _walk(1.0)
    markers = {k: v for k, v in plug_in_gait_markers(walk.motion).items() if "KNE" not in k and "KNM" not in k}
    path = write_trc(tmp_path / "noknee.trc", markers, 30.0)
    with pytest.raises(MocapError, match="lacks markers required.*LKNE"):
        validate_mocap_projected(path, views=1, lifter=object())


def test_synthetic_trc_rebuilds_the_walker_joints(tmp_path):
    from gaitscope.io.mocap import load_motion
    from gaitscope.io.synthetic_mocap import write_walk_trc
    from gaitscope.skeleton import J

    walk = _walk(1.5)
    trial = load_motion(write_walk_trc(walk.motion, tmp_path / "w.trc", start_s=0.2, rate_hz=60.0))
    assert trial.marker_set == "plug-in-gait" and trial.motion.fps == 60.0
    legs = [J[n] for n in ("pelvis", "left_hip", "right_knee", "left_ankle", "thorax", "right_wrist")]
    got = trial.motion.xyz_m[::2][:10, legs]  # 60 Hz frames 0, 2, ... = walker frames 6, 7, ...
    want = walk.motion.xyz_m[6:16, legs]
    assert np.abs(got - want).max() < 0.002


@pytest.mark.slow  # BlazePose + lifter + embedding on a 3 s rendered video: about 20 s on 2 free cores
def test_video_mode_recovers_known_offset(tmp_path, lifter):
    """A rendered walk; its truth written as 60 Hz motion capture starting 0.4 s into the video."""
    from gaitscope.io.synthetic_mocap import write_walk_trc
    from gaitscope.synthetic.camera import side_view
    from gaitscope.synthetic.render import render_walk
    from gaitscope.training.validate import validate_video_against_mocap, write_validation_outputs

    walk = _walk(3.0)
    video = tmp_path / "walk.mp4"
    render_walk(walk, side_view(walk, width=480, height=270), video, seed=2)
    mocap = write_walk_trc(walk.motion, tmp_path / "walk.trc", start_s=0.4, rate_hz=60.0)
    v = validate_video_against_mocap(video, mocap, height_cm=175, lifter=lifter)
    res = v.results[0]
    assert abs(res.lag_s - (-0.4)) < 1 / 30  # within one video frame
    assert res.sync_r > 0.8
    assert "Zeni" in res.event_reference  # no plates in a TRC: the markers' own events, said so
    hs = res.summary("heel_strike")
    assert hs.n_reference >= 3 and hs.n_matched >= hs.n_reference - 1
    assert math.isfinite(res.angle("knee_flexion", "L").rmse_deg)
    paths = write_validation_outputs([v], tmp_path / "out")
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    assert "bland_altman" not in paths  # one trial: no Bland-Altman
    ev = pd.read_csv(paths["agreement_events"])
    assert set(ev["status"]) <= {"matched", "missed", "extra"}


def test_video_without_person_and_mismatched_arguments(tmp_path, lifter):
    import cv2

    from gaitscope.io.synthetic_mocap import write_walk_trc
    from gaitscope.training.validate import validate_video_against_mocap

    mocap = write_walk_trc(_walk(1.5).motion, tmp_path / "w.trc")
    video = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    for i in range(30):
        writer.write(np.full((240, 320, 3), 40 + i, np.uint8))
    writer.release()
    with pytest.raises(NoPersonError):
        validate_video_against_mocap(video, mocap, lifter=lifter)
    args = _parser().parse_args(["validate", "--mocap", str(mocap), str(mocap), "--video", str(video)])
    with pytest.raises(InvalidInputError, match="one --video per --mocap"):
        args.func(args)
