"""Motion-capture files through ``analyze`` (store, reports, bad input), re-analysis short-circuit, reference sets.

The mocap tests read real lab files from ../shared/data/mocap and skip when it is absent; the video
short-circuit test uses the bundled sample with a stand-in 2D detector and 3D lifter (the stages' accuracy is
tested elsewhere; here only whether they run).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from gaitscope.cli.main import SAMPLE_DIR, SAMPLE_VIDEO, main
from gaitscope.errors import AnalysisError, InvalidInputError, MocapError
from gaitscope.pipeline.dispatch import analyze_file
from gaitscope.pipeline.mocap import analyze_mocap
from gaitscope.pipeline.steps import AnalysisOptions, analyze_video
from gaitscope.records import Keypoints2D, Motion3D, MotionEmbedding

MOCAP = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mocap"
HORST = MOCAP / "horst2019_S01" / "c3d"
BMC = MOCAP / "bmclab" / "data"
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(), reason=f"real mocap data not found at {MOCAP} "
                                                            "(../shared/data/mocap beside the repository)")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """No test may read or write the user's own defaults (~/.gaitscope)."""
    monkeypatch.setenv("GAITSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GAITSCOPE_NORMATIVE", raising=False)


def _rows(url: str, sql: str) -> list:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        rows = c.execute(sa.text(sql)).all()
    engine.dispose()
    return rows


def _ids(url: str, table: str) -> list[int]:
    return [int(r[0]) for r in _rows(url, f"SELECT id FROM {table} ORDER BY id")]


def _count(url: str, table: str) -> int:
    return int(_rows(url, f"SELECT COUNT(*) FROM {table}")[0][0])


def _pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(path).pages)


@pytest.fixture(scope="module")
def horst_db(tmp_path_factory):
    """Analyze one Horst 2019 C3D trial (full-body Plug-in-Gait-like markers, static trial beside it) once."""
    if not MOCAP.is_dir():
        pytest.skip(f"real mocap data not found at {MOCAP}")
    tmp = tmp_path_factory.mktemp("mocap")
    url = f"sqlite:///{tmp / 'g.db'}"
    result = analyze_mocap(HORST / "S01_0011_Gait.c3d", db_url=url, patient_code="LAB-01", out_dir=tmp / "out")
    return url, result, tmp


@needs_mocap
def test_c3d_is_analyzed_stored_as_mocap_and_reported(horst_db):
    url, result, _ = horst_db
    path = HORST / "S01_0011_Gait.c3d"
    assert result.kind == "mocap" and result.keypoints is None and result.embedding is None
    assert result.report.parameter("cadence").value == pytest.approx(114, abs=4)  # plates: 113.6 steps/min
    rec = _rows(url, "SELECT kind, sha256, fps, duration_s, status, original_name, width FROM recording")
    assert len(rec) == 1
    kind, sha, fps, duration, status, name, width = rec[0]
    assert (kind, status, name, width) == ("mocap", "done", "S01_0011_Gait.c3d", None)
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fps == pytest.approx(250.0) and duration == pytest.approx(result.motion.n_frames / 250.0)
    # no 2D pose, the 3D motion stored; the analysis names marker set and file format
    poses = _rows(url, "SELECT kind, model_name, model_version, n_frames FROM pose_sequence")
    assert [(p[0], p[1], p[2]) for p in poses] == [("3d", "mocap:horst2019", "c3d")]
    assert poses[0][3] == result.motion.n_frames
    src = _rows(url, "SELECT source, model_name, model_version FROM analysis")
    assert src == [("mocap:horst2019@c3d", "mocap:horst2019", "c3d")]
    # same exports as a video; the PDF says the source is motion capture, not a video
    assert {"parameters", "strides", "events", "curves", "pdf"} <= set(result.outputs)
    text = _pdf_text(result.outputs["pdf"])
    assert "Motion-capture file" in text and "S01_0011_Gait.c3d" in text and "250.0 Hz" in text
    assert "marker-based motion capture" in text and "MediaPipe" not in text and "Resolution" not in text
    # the stored analysis loads back as records
    from gaitscope.db import analysis_records as repository
    from gaitscope.db import open_database

    db = open_database(url)
    with db.read_session() as s:
        report, motion, kp, emb, _ = repository.load_analysis(s, result.analysis_id)
    assert kp is None and emb is None and motion.source == "mocap:horst2019@c3d"
    assert report.parameter("cadence").value == pytest.approx(result.report.parameter("cadence").value)


@needs_mocap
def test_reanalysing_a_mocap_file_loads_the_stored_analysis(horst_db, monkeypatch):
    url, first, _ = horst_db
    from gaitscope.pipeline import normative_choice

    runs = []
    real = normative_choice.analyze_with
    monkeypatch.setattr(normative_choice, "analyze_with", lambda *a, **k: runs.append(1) or real(*a, **k))
    again = analyze_mocap(HORST / "S01_0011_Gait.c3d", db_url=url, patient_code="LAB-01")
    assert again.reused and again.analysis_id == first.analysis_id and again.recording_id == first.recording_id
    assert runs == []
    assert again.report.parameter("cadence").value == pytest.approx(first.report.parameter("cadence").value)
    assert _count(url, "analysis") == 1
    forced = analyze_mocap(HORST / "S01_0011_Gait.c3d", db_url=url, patient_code="LAB-01", force=True)
    assert runs == [1] and not forced.reused
    # the rerun replaces the stored analysis of the same inputs: the database holds what was exported
    assert _count(url, "analysis") == 1 and _ids(url, "analysis") == [forced.analysis_id]


@needs_mocap
def test_a_failing_mocap_analysis_marks_its_recording_failed_and_loses_nothing(horst_db):
    url, _, _ = horst_db
    before = {t: _count(url, t) for t in ("analysis", "gait_parameter", "pose_sequence")}
    # trial 0002 holds less than one complete stride: readable, but not analysable
    with pytest.raises(AnalysisError, match="No complete stride"):
        analyze_mocap(HORST / "S01_0002_Gait.c3d", db_url=url, patient_code="LAB-01")
    assert {t: _count(url, t) for t in before} == before
    rows = _rows(url, "SELECT original_name, kind, status, error FROM recording ORDER BY id")
    assert rows[0][2] == "done"
    assert rows[-1][:3] == ("S01_0002_Gait.c3d", "mocap", "failed") and "No complete stride" in rows[-1][3]


@needs_mocap
def test_lower_body_marker_set_is_analyzed_from_the_legs(tmp_path):
    """bmclab walk1.trc has 28 leg markers only: no trunk, head or arm joints at all."""
    result = analyze_mocap(BMC / "walk1.trc")
    xyz = result.motion.xyz_m
    assert np.isnan(xyz[:, 7:]).all()  # the upper body is absent, not stubbed
    rep = result.report
    assert result.report.source == "mocap:bmclab@trc"
    assert len(rep.strides) >= 2 and {s.side for s in rep.strides} == {"L", "R"}
    assert rep.parameter("cadence").value == pytest.approx(108.6, abs=3)  # the plates' cadence is 108-110
    knee = rep.angles["knee_flexion_L"].to_numpy()
    assert np.isfinite(knee).mean() > 0.9  # no frame dropped for the missing trunk/arms
    assert "trunk_tilt" not in rep.angles and "GPS" in rep.scores
    assert any("no spine" in w for w in rep.warnings)


@needs_mocap
def test_cli_dispatches_on_the_extension(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    rc = main(["analyze", str(BMC / "walk1.trc"), "--db", url, "--quiet",
               "--patient", "P-9"])
    out = capsys.readouterr().out
    assert rc == 0 and "Motion capture:" in out and "mocap:bmclab@trc" in out and "Stored: recording 1" in out
    # an OpenSim table is motion-capture input too, refused with a typed error and a hint; nothing stored
    mot = MOCAP / "camargo2021_circuit" / "levelground_ccw_fast_01_01_ik.mot"
    rc = main(["analyze", str(mot), "--db", url, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "OpenSim table" in err and "Traceback" not in err
    assert _count(url, "recording") == 1
    with pytest.raises(MocapError):
        analyze_file(mot, db_url=url)
    assert _count(url, "recording") == 1


@needs_mocap
def test_a_lab_reference_set_is_built_selected_and_stored_beside(tmp_path, capsys, monkeypatch):
    lab = tmp_path / "healthy"
    (lab / "S01").mkdir(parents=True)
    for name in ("S01_0001_Static.c3d", "S01_0011_Gait.c3d", "S01_0002_Gait.c3d"):  # static skipped, 0002 fails
        shutil.copy(HORST / name, lab / "S01" / name)
    for name in ("walk1.trc", "Gait.c3d"):
        shutil.copy(BMC / name, lab / name)  # directly in DIR: one subject each
    out = tmp_path / "sets" / "lab.json"
    assert main(["normative", "build", str(lab), "--out", str(out), "--name", "Lab healthy adults"]) == 0
    text = capsys.readouterr().out
    assert "3 subjects" in text and "skipped S01_0002_Gait.c3d" in text
    meta = json.loads(out.read_text())
    assert meta["n_subjects"] == 3 and sorted(meta["sources"]) == ["Gait.c3d", "S01/S01_0011_Gait.c3d", "walk1.trc"]

    url = f"sqlite:///{tmp_path / 'g.db'}"
    trial = HORST / "S01_0011_Gait.c3d"
    bundled = analyze_mocap(trial, db_url=url)
    chosen = analyze_mocap(trial, db_url=url, options=AnalysisOptions(normative=str(out)))
    assert not chosen.reused and chosen.analysis_id != bundled.analysis_id  # stored beside, not mistaken for it
    assert "reference Lab healthy adults#" in chosen.report.analysis_version
    assert any("relative to Lab healthy adults" in w for w in chosen.report.warnings)
    assert any("CHILDREN" in w for w in bundled.report.warnings)
    assert not any("CHILDREN" in w for w in chosen.report.warnings)
    assert chosen.report.parameter("cadence").normal_source.startswith("Lab healthy adults")
    # the environment variable selects it by default; the same analysis is then found again
    monkeypatch.setenv("GAITSCOPE_NORMATIVE", str(out))
    again = analyze_mocap(trial, db_url=url)
    assert again.reused and again.analysis_id == chosen.analysis_id
    monkeypatch.delenv("GAITSCOPE_NORMATIVE")
    # `normative use` records the default; `normative list` shows it
    assert main(["normative", "use", str(out)]) == 0
    capsys.readouterr()
    assert main(["normative", "list"]) == 0
    listing = capsys.readouterr().out
    assert "* Lab healthy adults" in listing and "schwartz2008" in listing
    assert analyze_mocap(trial, db_url=url).analysis_id == chosen.analysis_id
    assert main(["normative", "use", "schwartz2008"]) == 0
    assert analyze_mocap(trial, db_url=url).analysis_id == bundled.analysis_id
    # an unknown choice fails before anything is stored
    n = _count(url, "recording")
    with pytest.raises(InvalidInputError, match="not found"):
        analyze_mocap(BMC / "walk2.trc", db_url=url, options=AnalysisOptions(normative="no-such-set"))
    assert _count(url, "recording") == n


# ---------------------------------------------------------------------------------------------------------
# Video: the short-circuit before the 2D stage
# ---------------------------------------------------------------------------------------------------------


class _TruthLifter:
    """The sample's true world-frame motion for the detected frames (the lifter's accuracy is not at stake)."""

    name = "truth"
    version = "t1"
    source = "truth@t1"

    def __init__(self) -> None:
        self._npz = np.load(SAMPLE_DIR / "walk_side.npz")

    def lift(self, kp: Keypoints2D, height_m=None, flip_tta=True) -> Motion3D:
        return Motion3D(xyz_m=self._npz["xyz_m"][kp.frame_index], fps=kp.fps, up=(0.0, 0.0, 1.0),
                        root_relative=False, scale_source="synthetic ground truth", source=self.source)

    def embed(self, kp: Keypoints2D, keep_per_joint: bool = False) -> MotionEmbedding:
        feats = kp.xy_px.reshape(kp.n_frames, -1)[:, :8].astype(np.float32)
        return MotionEmbedding(pooled=feats.mean(0), per_frame=feats, model_name=self.name,
                               model_version=self.version)


def test_reanalysing_a_stored_video_skips_every_stage(tmp_path, monkeypatch):
    from gaitscope.pose2d import detect

    z = np.load(SAMPLE_DIR / "walk_side.npz")
    calls = []

    def fake_detect(info, workers=2, progress=None, **kw):
        calls.append(info.sha256)
        n = z["xy_px"].shape[0]
        return Keypoints2D(xy_px=z["xy_px"].astype(np.float32), conf=np.ones((n, 17), np.float32), fps=info.fps,
                           width=info.width, height=info.height, frame_index=np.arange(n),
                           interpolated=np.zeros(n, bool), source="synthetic")

    monkeypatch.setattr(detect, "detect_keypoints", fake_detect)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    first = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", lifter=_TruthLifter())
    assert len(calls) == 1 and not first.reused and first.kind == "video"

    # The 2D stage starts in the background while the lifter loads; the stored analysis found, it is cancelled
    # and nothing it would have produced is used.
    cancelled = []

    def blocked_until_cancelled(info, workers=2, progress=None, cancel=None, **kw):
        progress(1, 10)
        assert cancel.wait(10), "the background 2D detection was not cancelled"
        cancelled.append(True)
        raise detect.DetectionCancelled("2D detection was cancelled.")

    monkeypatch.setattr(detect, "detect_keypoints", blocked_until_cancelled)
    seen = []
    again = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", lifter=_TruthLifter(),
                          out_dir=tmp_path / "out", progress=lambda st, d, t: seen.append((st, d, t)))
    assert cancelled == [True]
    assert again.reused and again.analysis_id == first.analysis_id and again.recording_id == first.recording_id
    seen = [st for st, d, t in seen if (d, t) != (1, 10)]
    assert again.keypoints is not None and again.keypoints.n_frames == first.keypoints.n_frames
    assert again.report.parameter("cadence").value == pytest.approx(first.report.parameter("cadence").value)
    assert (tmp_path / "out" / "report.pdf").exists() and "store" in seen
    assert _count(url, "analysis") == 1

    # another lifter version is a new analysis: the stages run
    class Other(_TruthLifter):
        version = "t2"
        source = "truth@t2"

    monkeypatch.setattr(detect, "detect_keypoints", fake_detect)
    other = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", lifter=Other())
    assert not other.reused and other.analysis_id != first.analysis_id and len(calls) == 2

    # force reruns every stage and its analysis replaces the stored one of the same inputs (issue 18: the
    # database must hold what the rerun exported)
    forced = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", lifter=_TruthLifter(), force=True)
    assert len(calls) == 3 and not forced.reused
    assert _count(url, "analysis") == 2 and first.analysis_id not in _ids(url, "analysis")
    assert forced.analysis_id in _ids(url, "analysis")
