"""MediaPipe Pose landmark files (CSV, 33 normalised landmarks per row) as an input of the pipeline.

The synthetic files are written here from pixel positions chosen by the test, so the expected pixels, frame rate,
gaps and missing joints are known independently of the reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.errors import KeypointFormatError
from gaitscope.io.landmarks import estimate_aspect, is_landmark_file, load_mediapipe_csv
from gaitscope.pipeline.landmarks import mask_unseen, measurement_warnings
from gaitscope.records import Motion3D
from gaitscope.skeleton import BLAZEPOSE_LANDMARKS, J

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

B = {n: i for i, n in enumerate(BLAZEPOSE_LANDMARKS)}
PD_DIR = SHARED_DATA / "patients" / "video_tracking_pd" / "dataset"


def body_px(t: int, w: int, h: int, seed: int = 0) -> np.ndarray:
    """``(t, 33, 2)`` pixel positions of an upright person facing the camera, anatomical proportions
    (shoulder width 0.259 H, shoulders at 0.818 H and hips at 0.530 H of body height H), with a little sway."""
    rng = np.random.default_rng(seed)
    body_h = 0.8 * h
    cx, floor = 0.5 * w, 0.95 * h
    pts = np.zeros((t, 33, 2))
    pts[:] = [cx, floor - 0.9 * body_h]  # face points default: at the head
    def put(name: str, dx: float, frac: float) -> None:
        pts[:, B[name]] = [cx + dx * body_h, floor - frac * body_h]
    for side, s in (("left", 1), ("right", -1)):
        put(f"{side}_shoulder", s * 0.1295, 0.818)
        put(f"{side}_elbow", s * 0.14, 0.63)
        put(f"{side}_wrist", s * 0.14, 0.485)
        put(f"{side}_hip", s * 0.0955, 0.530)
        put(f"{side}_knee", s * 0.09, 0.285)
        put(f"{side}_ankle", s * 0.09, 0.039)
        put(f"{side}_heel", s * 0.09, 0.01)
        put(f"{side}_foot_index", s * 0.09, 0.0)
        put(f"{side}_ear", s * 0.04, 0.92)
    put("nose", 0.0, 0.93)
    pts += rng.normal(0, 1.0, pts.shape) + np.sin(np.arange(t) / 5.0)[:, None, None] * 3.0
    return pts


def write_csv(path: Path, px: np.ndarray, w: int, h: int, *, ts_us: np.ndarray | None = None, flag: bool = True,
              vis: np.ndarray | None = None, header: bool = False) -> Path:
    t = px.shape[0]
    norm = np.zeros((t, 33, 3 if vis is None else 4))
    norm[..., 0] = px[..., 0] / w
    norm[..., 1] = px[..., 1] / h
    norm[..., 2] = 0.01  # MediaPipe's relative z: ignored
    if vis is not None:
        norm[..., 3] = vis
    cols = [norm.reshape(t, -1)]
    if flag:
        cols.insert(0, np.ones((t, 1)))
    if ts_us is not None:
        cols.insert(0, ts_us[:, None])
    rows = np.concatenate(cols, axis=1)
    lines = [",".join(f"{v:.9g}" for v in r) for r in rows]
    if header:
        lines.insert(0, ",".join(f"c{k}" for k in range(rows.shape[1])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reads_timestamped_file_into_h36m_pixels_with_gap_and_cut_feet(tmp_path):
    w, h, t = 640, 480, 40
    px = body_px(t, w, h)
    px[10:20, B["left_ankle"], 1] = h * 1.08  # below the frame: MediaPipe's extrapolation
    keep = np.ones(t, bool)
    keep[25] = False  # a dropped frame (timestamp jump)
    ts = np.arange(t)[keep] * 40_000.0 + 123_456.0  # 25 fps in microseconds
    f = write_csv(tmp_path / "walk.csv", px[keep], w, h, ts_us=ts)
    kp = load_mediapipe_csv(f, width=w, height=h)

    assert kp.fps == pytest.approx(25.0, rel=1e-9)
    assert kp.n_frames == t and (kp.width, kp.height) == (w, h)
    assert kp.interpolated.tolist() == [k == 25 for k in range(t)]
    ok = keep.copy()
    # direct joints keep their pixel position (to the 9 significant digits written)
    np.testing.assert_allclose(kp.xy_px[ok, J["right_knee"]], px[ok, B["right_knee"]], atol=1e-3)
    np.testing.assert_allclose(kp.xy_px[ok, J["left_wrist"]], px[ok, B["left_wrist"]], atol=1e-3)
    pelvis = 0.5 * (px[:, B["left_hip"]] + px[:, B["right_hip"]])
    np.testing.assert_allclose(kp.xy_px[ok, J["pelvis"]], pelvis[ok], atol=1e-3)
    # the dropped frame is filled halfway between its neighbours
    np.testing.assert_allclose(kp.xy_px[25, J["right_knee"]],
                               0.5 * (px[24, B["right_knee"]] + px[26, B["right_knee"]]), atol=1e-3)
    # outside the image = missing: confidence 0 and no position, in the H36M joints and in raw
    assert (kp.conf[10:20, J["left_ankle"]] == 0).all()
    assert np.isnan(kp.xy_px[10:20, J["left_ankle"]]).all()
    assert np.isnan(kp.raw[10:20, B["left_ankle"], :2]).all()
    assert (kp.conf[:10, J["left_ankle"]] == 1).all() and (kp.conf[20:, J["left_ankle"]] == 1).all()
    assert (kp.conf[:, J["right_ankle"]] == 1).all()
    assert any("outside the image" in n for n in kp.notes)


def test_visibility_column_header_and_no_timestamps(tmp_path):
    w, h, t = 1280, 720, 30
    px = body_px(t, w, h, seed=1)
    vis = np.full((t, 33), 0.9)
    vis[:, B["right_elbow"]] = 0.1  # below the default visibility floor (0.2)
    f = write_csv(tmp_path / "v.csv", px, w, h, flag=False, vis=vis, header=True)
    with pytest.raises(KeypointFormatError, match="frame rate"):
        load_mediapipe_csv(f, width=w, height=h)
    kp = load_mediapipe_csv(f, fps=50.0, width=w, height=h)
    assert kp.fps == 50.0 and kp.n_frames == t
    np.testing.assert_allclose(kp.conf[:, J["right_knee"]], 0.9, atol=1e-6)
    assert (kp.conf[:, J["right_elbow"]] == 0).all()
    np.testing.assert_allclose(kp.xy_px[:, J["left_knee"]], px[:, B["left_knee"]], atol=1e-3)


@pytest.mark.parametrize("w,h,name", [(1920, 1080, "16:9"), (1080, 1920, "9:16"), (1440, 1920, "3:4")])
def test_image_aspect_is_estimated_from_body_proportions(tmp_path, w, h, name):
    px = body_px(60, w, h, seed=2)
    f = write_csv(tmp_path / "a.csv", px, w, h, ts_us=np.arange(60) * 33_333.0)
    kp = load_mediapipe_csv(f)
    assert kp.width / kp.height == pytest.approx(w / h, rel=0.01)
    assert any(name in n and "assumed" in n for n in kp.notes)
    # with the size given nothing is assumed
    kp2 = load_mediapipe_csv(f, width=w, height=h)
    assert not any("assumed" in n for n in kp2.notes)
    seen = np.ones((60, 33), bool)
    norm = np.stack([px[..., 0] / w, px[..., 1] / h], axis=-1)
    assert estimate_aspect(norm, seen)[0] == name


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("1,2,3\n4,5,6\n", "values per row"),
    (",".join(["0.5"] * 101) + "\n" + "1,2," + ",".join(["x"] * 99) + "\n", "not numbers"),
    (",".join(["0.5"] * 101) + "\n" + ",".join(["0.5"] * 100) + "\n", "different numbers of values"),
])
def test_bad_files_are_refused_clearly(tmp_path, content, match):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(KeypointFormatError, match=match):
        load_mediapipe_csv(f, fps=30)


def test_cli_refuses_a_bad_landmark_file_with_exit_2(tmp_path, capsys):
    from gaitscope.cli.main import main

    f = tmp_path / "bad.csv"
    f.write_text("1,2,3\n")
    assert is_landmark_file(f)
    assert main(["analyze", str(f), "--no-db", "--quiet"]) == 2
    assert "values per row" in capsys.readouterr().err


def test_lifted_joints_not_seen_in_2d_become_missing(tmp_path):
    w, h, t = 640, 480, 40
    px = body_px(t, w, h)
    px[5:15, B["right_ankle"], 1] = h * 1.2
    f = write_csv(tmp_path / "m.csv", px, w, h, ts_us=np.arange(t) * 33_333.0)
    kp = load_mediapipe_csv(f, width=w, height=h)
    motion = Motion3D(xyz_m=np.ones((t, 17, 3)), fps=kp.fps, up=(0.0, -1.0, 0.0), root_relative=True,
                      scale_source="test", source="lifter:test@0")
    masked = mask_unseen(motion, kp)
    assert np.isnan(masked.xyz_m[5:15, J["right_ankle"]]).all()
    assert np.isfinite(np.delete(masked.xyz_m[5:15], J["right_ankle"], axis=1)).all()
    assert np.isfinite(masked.xyz_m[15:]).all() and np.isfinite(masked.xyz_m[:5]).all()
    assert any("right_ankle 25 %" in n for n in masked.notes)
    warn = measurement_warnings(kp)
    assert any("right_ankle in 25 % of frames" in w_ for w_ in warn)


def test_real_pd_walk_through_analyze(tmp_path):
    """Smoke test on a real clinic recording (Deng et al. 2024, CC BY-NC-ND: read in place, never copied)."""
    f = PD_DIR / "31917" / "google_31917_off_gait.csv"
    if not f.exists():
        pytest.skip(f"real PD landmark file not available: {f} (needs ../shared/data beside the repository)")
    from gaitscope.pipeline.dispatch import analyze_file

    res = analyze_file(f, db_url=None)
    assert res.keypoints.source == "mediapipe-landmarks-csv"
    assert 25.0 < res.keypoints.fps < 35.0
    assert len(res.report.strides) >= 2
    # feet leave the frame in this walk: the analysis says so and the 3D ankles are missing there
    assert any("Outside the image" in w for w in res.report.warnings)
    unseen = res.keypoints.conf[:, J["left_ankle"]] == 0
    assert unseen.any() and np.isnan(res.motion.xyz_m[unseen, J["left_ankle"]]).all()
    speed = res.report.parameter("speed", "both").value
    assert 0.2 < speed < 2.0  # m/s: a walking person, whatever the disease


def test_batch_manifest_takes_landmark_files(tmp_path):
    """A manifest row naming a landmark CSV goes through the landmark pipeline (done for a real walk, a clear
    landmark-format failure for a broken file), stored under the manifest's patient."""
    f = PD_DIR / "31917" / "google_31917_off_gait.csv"
    if not f.exists():
        pytest.skip(f"real PD landmark file not available: {f} (needs ../shared/data beside the repository)")
    from gaitscope.pipeline.batch import read_items, run_batch

    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"path,patient\n{f.resolve()},PD-31917\n{bad},PD-X\n")
    summary = run_batch(read_items(manifest), db_url=f"sqlite:///{tmp_path / 'b.db'}", workers=1)
    by_name = {r.item.path.name: r for r in summary.results}
    assert by_name[f.name].status == "done", by_name[f.name].message
    assert by_name["bad.csv"].status == "failed" and "values per row" in by_name["bad.csv"].message
