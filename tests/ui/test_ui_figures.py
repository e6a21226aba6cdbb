"""Plotly figures, tables and the skeleton overlay: pure functions of records, no Streamlit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from gaitscope.records import Motion3D
from gaitscope.reports.plots import curves_by_side, ordered_curve_names, reference_note
from gaitscope.skeleton import J
from gaitscope.ui import plots, tables
from gaitscope.ui.example_records import example_keypoints, example_motion, example_predictions, example_report
from gaitscope.ui.overlay import draw_skeleton, overlay_frame, read_frame


def test_curve_figure_has_reference_band_and_both_sides():
    report = example_report()
    fig = plots.gait_curve_figure(curves_by_side(report.curves, "knee_flexion"))
    names = [t.name for t in fig.data]
    assert "reference ±1 SD" in names
    assert any(n.startswith("left") for n in names) and any(n.startswith("right") for n in names)
    left = next(t for t in fig.data if t.name.startswith("left ("))
    knee_l = curves_by_side(report.curves, "knee_flexion")["L"]
    np.testing.assert_allclose(left.y, knee_l.mean)
    assert fig.layout.xaxis.title.text == "% gait cycle"


def test_curve_without_reference_has_no_band_and_is_named_in_the_note():
    report = example_report()
    knee = [replace(c, normal_mean=None, normal_sd=None) for c in report.curves if c.name == "knee_flexion"]
    fig = plots.gait_curve_figure({c.side: c for c in knee})
    assert not any("reference" in (t.name or "") for t in fig.data)
    assert "No reference band for: Knee flexion" in reference_note(knee)
    assert "children's reference values" in reference_note(report.curves)


def test_curve_figures_follow_clinical_order():
    names = [n for n, _ in plots.gait_curve_figures(example_report())]
    assert names == ordered_curve_names(example_report().curves)
    assert names.index("pelvis_tilt") < names.index("hip_flexion") < names.index("knee_flexion") < names.index(
        "ankle_dorsiflexion")


def test_skeleton_3d_animation_is_upright_light_and_follows_the_walker():
    motion = example_motion(n_frames=300)
    fig = plots.skeleton_3d_figure(motion, max_frames=50)
    assert len(fig.frames) == 50
    assert [t.name for t in fig.data] == ["left", "right", "centre"]
    # the head is above the pelvis on the plot's z axis, and "follow" keeps the pelvis near x=0
    centre = fig.frames[-1].data[2]
    zs = [z for z in centre.z if z is not None]
    xs = [x for x in centre.x if x is not None]
    assert max(zs) > min(zs) + 0.5
    assert max(abs(x) for x in xs) < 0.5


def test_rotation_to_z_up_for_camera_frames():
    for up in [(0.0, -1.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (0.6, 0.0, 0.8)]:
        r = plots.rotation_to_z_up(up)
        np.testing.assert_allclose(r @ np.array(up), [0, 0, 1], atol=1e-9)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)


def test_y_down_motion_is_drawn_upright():
    m = example_motion(n_frames=10)
    flipped = Motion3D(xyz_m=m.xyz_m[..., [0, 2, 1]] * [1, -1, 1], fps=m.fps, up=(0.0, -1.0, 0.0),
                       root_relative=True, scale_source="x", source="lifter:test@0")
    fig = plots.skeleton_3d_figure(flipped)
    centre = fig.data[2]
    z_head = centre.z[list(centre.z).index(None) - 1] if None in centre.z else None
    pelvis_z = centre.z[0]
    assert z_head is not None and z_head > pelvis_z


def test_gvs_prediction_and_trend_figures():
    report = example_report()
    gvs = plots.gvs_figure(report.scores)
    assert "GPS (overall)" in list(gvs.data[0].y)
    assert "Knee flexion (R)" in list(gvs.data[0].y)
    pred = plots.prediction_figure(example_predictions()[0])
    assert list(pred.data[0].x) == pytest.approx([82.0, 18.0])
    trends = pd.DataFrame({
        "visit_date": ["2026-01-01", "2026-03-01", "2026-01-01", "2026-03-01"],
        "parameter": ["Cadence", "Cadence", "Walking speed", "Walking speed"],
        "value": [100.0, 108.0, 0.9, 1.1], "normal_low": [95.0, 95.0, 1.0, 1.0],
        "normal_high": [125.0, 125.0, 1.6, 1.6], "analysis_id": [1, 2, 1, 2]})
    fig = plots.trend_figure(trends)
    values = [list(t.y) for t in fig.data if t.mode == "lines+markers"]
    assert values == [[100.0, 108.0], [0.9, 1.1]]
    assert any(t.fill == "tonexty" for t in fig.data)  # the normal range band


def test_spatiotemporal_table_puts_sides_side_by_side_and_flags_values():
    params = example_report().parameters
    table = tables.spatiotemporal_table(params)
    assert list(table.columns) == tables.SPATIOTEMPORAL_COLUMNS
    assert len(table) == len({p.name for p in params})  # one row per parameter, not per side
    step = table[table["Parameter"] == "Step length"].iloc[0]
    assert (step["Left"], step["Right"], step["Both sides"]) == ("0.68 ± 0.01", "0.70 ± 0.01", "0.69 ± 0.01")
    assert list(table["Parameter"][:2]) == ["Walking speed", "Cadence"]  # whole-walk parameters first
    bad = tables.out_of_range_cells(params)
    assert [(table["Parameter"][i], col) for i, col in bad] == [("Double support", "Both sides")]
    assert table[table["Parameter"] == "Double support"]["Flag"].item() == "high"
    assert table[table["Parameter"] == "Step width"]["Flag"].item() == "-"
    css = tables.styled_spatiotemporal(params).to_html().split("</style>")[0]
    red_selectors = css.split("{")[0]  # the one rule that carries the red background
    r = table.index[table["Parameter"] == "Double support"][0]
    assert "#fde0dc" in css and f"_row{r}_col4" in red_selectors and f"_row{r}_col6" in red_selectors
    assert red_selectors.count("_row") == 2  # the value and its flag, nothing else


def test_overlay_draws_the_skeleton_where_the_joints_are():
    kp = example_keypoints(example_motion(n_frames=20), width=200, height=150)
    img = draw_skeleton(None, kp, 5)
    assert img.shape == (150, 200, 3)
    x, y = kp.xy_px[5, J["left_knee"]].round().astype(int)
    patch = img[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3)
    assert (patch != 235).any()  # something was drawn on the grey canvas at the knee
    assert (img[0, 0] == 235).all()  # and not everywhere


def test_overlay_reads_a_real_frame(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (200, 150))
    for i in range(12):
        frame = np.full((150, 200, 3), 20 * i % 255, np.uint8)
        writer.write(frame)
    writer.release()
    frame = read_frame(path, 10)
    assert frame is not None and frame.shape == (150, 200, 3)
    assert abs(int(frame.mean()) - 200) < 15  # frame 10 was painted 200, not frame 0
    kp = example_keypoints(example_motion(n_frames=12), width=200, height=150)
    assert overlay_frame(path, kp, 10).shape == (150, 200, 3)
    assert read_frame(tmp_path / "missing.mp4", 0) is None


@pytest.mark.parametrize("height_m, expected", [(1.72, 172.0), (1.685, 168.5), (None, None)])
def test_height_used_is_the_reports_typed_height(height_m, expected):
    from types import SimpleNamespace

    from gaitscope.ui.views.results import height_used_cm

    bundle = SimpleNamespace(report=SimpleNamespace(height_m=height_m, scale_note="subject height 999 cm"))
    assert height_used_cm(bundle) == expected  # the prose is for people; it is not read back


def test_overlay_video_is_written_as_playable_webm(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from gaitscope.ui.overlay import render_overlay_video

    src = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for _ in range(12):
        writer.write(np.full((240, 320, 3), 90, np.uint8))
    writer.release()
    kp = example_keypoints(example_motion(n_frames=12), width=320, height=240)
    calls = []
    out = render_overlay_video(src, kp, tmp_path / "out" / "o.webm", max_width=160,
                               progress=lambda d, t: calls.append((d, t)))
    assert out.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # a Matroska/WebM file
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (120, 160, 3)
    assert (np.abs(frame.astype(int) - 90).sum(axis=2) > 60).any()  # the skeleton is drawn on the grey frames
    assert calls[-1][0] == 12 and not list((tmp_path / "out").glob("*.part.webm"))


def test_curve_band_is_the_95_percent_interval_when_the_analysis_gave_one():
    report = example_report()
    knee_l = curves_by_side(report.curves, "knee_flexion")["L"]
    lo, hi = knee_l.mean - 7.5, knee_l.mean + 9.0  # an asymmetric interval (a bias widens one side)
    fig = plots.gait_curve_figure({"L": replace(knee_l, ci_low=lo, ci_high=hi)})
    band = next(t for t in fig.data if (t.name or "").endswith("95 % interval"))
    np.testing.assert_allclose(band.y, np.concatenate([hi, lo[::-1]]))
    # without an interval the band is mean +/- 1 SD over strides
    fig = plots.gait_curve_figure({"L": replace(knee_l, ci_low=None, ci_high=None)})
    band = next(t for t in fig.data if (t.name or "").endswith("±1 SD") and t.name.startswith("left"))
    np.testing.assert_allclose(band.y, np.concatenate([knee_l.mean + knee_l.sd, (knee_l.mean - knee_l.sd)[::-1]]))
