"""The pipeline end to end on the bundled sample: real video decoding and BlazePose, real analysis and database.

The 3D stage is replaced by an oracle that returns the walker's true 3D motion for the detected frames, so these
tests check the wiring and the all-or-nothing storage independently of the lifter's accuracy (which
``tests/training/test_lifter_*.py`` and ``benchmarks/lifter_accuracy.py`` measure; the bundled lifter on the
sample video: ``tests/training/test_lifter_bundled.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gaitscope.cli.main import SAMPLE_DIR, SAMPLE_VIDEO
from gaitscope.errors import GaitscopeError, VideoError
from gaitscope.pipeline.steps import AnalysisOptions, analyze_video
from gaitscope.records import Keypoints2D, Motion3D, MotionEmbedding

TRUTH = json.loads((SAMPLE_DIR / "walk_side.json").read_text())["truth_summary"]


class OracleLifter:
    """Stands in for the 3D lifter: the sample's true world-frame motion for the frames that were detected."""

    name = "oracle"
    version = "truth"

    def __init__(self, fail_at_lift: bool = False) -> None:
        self.fail_at_lift = fail_at_lift
        self._npz = np.load(SAMPLE_DIR / "walk_side.npz")

    def lift(self, kp: Keypoints2D, height_m=None, flip_tta=True) -> Motion3D:
        if self.fail_at_lift:
            raise RuntimeError("simulated crash inside the 3D stage")
        xyz = self._npz["xyz_m"][kp.frame_index]
        return Motion3D(xyz_m=xyz, fps=kp.fps, up=(0.0, 0.0, 1.0), root_relative=False,
                        scale_source="synthetic ground truth", source="oracle@truth")

    def embed(self, kp: Keypoints2D, keep_per_joint: bool = False) -> MotionEmbedding:
        feats = kp.xy_px.reshape(kp.n_frames, -1)[:, :8].astype(np.float32)
        return MotionEmbedding(pooled=feats.mean(0), per_frame=feats, model_name="oracle", model_version="truth")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Analyze the sample once into a fresh SQLite database; other tests build on this state."""
    tmp = tmp_path_factory.mktemp("pipeline")
    url = f"sqlite:///{tmp / 'gaitscope.db'}"
    result = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-001", options=AnalysisOptions(height_cm=170),
                           out_dir=tmp / "out", lifter=OracleLifter())
    return url, result, tmp


def _count(url: str, table: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as c:
        n = c.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(n)


def test_sample_video_is_analyzed_stored_and_exported(stored):
    url, result, tmp = stored
    report = result.report
    heel_strikes = [e for e in report.events if e.kind == "heel_strike"]
    assert len(heel_strikes) >= 6
    # Cadence from real BlazePose frame timing and the true 3D: within 2 % of the walker's truth.
    assert report.parameter("cadence").value == pytest.approx(TRUTH["cadence"], rel=0.02)
    assert report.parameter("step_length").value == pytest.approx(TRUTH["step_length"], rel=0.05)
    assert result.analysis_id is not None and result.recording_id is not None
    params = pd.read_csv(result.outputs["parameters"])
    assert {"name", "side", "value", "unit", "normal_low", "normal_high", "flag"} <= set(params.columns)
    assert "cadence" in set(params["name"])
    assert len(pd.read_csv(result.outputs["strides"])) == len(report.strides)
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(result.outputs["pdf"]).pages)
    assert "P-001" in text and "Cadence" in text


def test_reanalysing_the_same_video_is_idempotent(stored):
    url, first, _ = stored
    n_analyses = _count(url, "analysis")
    # the same inputs (height included: another height is another analysis, tests/pipeline/test_reanalysis.py)
    again = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-001", options=AnalysisOptions(height_cm=170),
                          lifter=OracleLifter())
    assert again.reused
    assert again.recording_id == first.recording_id
    assert again.analysis_id == first.analysis_id
    assert _count(url, "analysis") == n_analyses


def test_a_crash_mid_pipeline_marks_the_recording_failed_and_loses_nothing(stored, tmp_path):
    url, first, _ = stored
    before = {t: _count(url, t) for t in ("analysis", "gait_parameter", "pose_sequence")}
    # A different video (re-encoded copy: another content hash) whose 3D stage crashes.
    import cv2

    copy = tmp_path / "copy.avi"
    cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
    writer = cv2.VideoWriter(str(copy), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (1280, 720))
    for _ in range(60):
        ok, frame = cap.read()
        writer.write(frame)
    writer.release()
    cap.release()
    with pytest.raises(RuntimeError, match="simulated crash"):
        analyze_video(copy, db_url=url, patient_code="P-001", lifter=OracleLifter(fail_at_lift=True))
    after = {t: _count(url, t) for t in before}
    assert after == before
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT status, error FROM recording ORDER BY id")).all()
    engine.dispose()
    assert rows[0][0] == "done"
    assert rows[-1][0] == "failed" and "simulated crash" in rows[-1][1]


def test_a_corrupt_upload_gives_a_clear_error_and_stores_nothing(stored, tmp_path):
    url, _, _ = stored
    before = _count(url, "recording")
    half = tmp_path / "half_written.mp4"
    data = SAMPLE_VIDEO.read_bytes()
    half.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError) as err:
        analyze_video(half, db_url=url, patient_code="P-001", lifter=OracleLifter())
    assert "video" in str(err.value).lower()
    assert _count(url, "recording") == before


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    from gaitscope.cli.main import main

    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video")
    code = main(["analyze", str(bogus), "--no-db", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("gaitscope: ") and "Traceback" not in err
    assert isinstance(VideoError("x"), GaitscopeError)


def test_pipeline_refuses_a_database_whose_schema_is_behind(tmp_path):
    from gaitscope.db.migrate import upgrade
    from gaitscope.errors import SchemaOutdatedError
    from gaitscope.pipeline import storage

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url)
    with pytest.MonkeyPatch.context() as mp:
        from gaitscope.db import migrate

        mp.setattr(migrate, "head_revision", lambda: "9999_future")
        with pytest.raises(SchemaOutdatedError, match="gaitscope db upgrade"):
            storage.open_db(url)
    # At head the same database opens normally.
    storage.open_db(url).dispose()


def test_the_active_classifier_head_predicts_on_each_new_analysis(stored, tmp_path):
    """A head registered as active runs on the next analysis; its prediction is stored with its version."""
    import cv2

    from gaitscope.db import load_predictions, open_database
    from gaitscope.models.classifiers import LinearProbe
    from gaitscope.models.features import kinematic_names, kinematic_vector
    from gaitscope.pipeline.prediction import RegisteredHead, save_head

    url, first, _ = stored
    rng = np.random.default_rng(0)
    base = np.nan_to_num(kinematic_vector(first.report))
    x = base[None, :] * (1.0 + 0.1 * rng.standard_normal((40, base.size)))
    y = np.repeat(np.arange(4), 10)
    head = RegisteredHead(estimator=LinearProbe().fit(x, y), name="updrs_gait", version="test-1",
                          feature_set="kinematic", class_names=("0", "1", "2", "3"),
                          kinematic_feature_names=tuple(kinematic_names()), training_data="random test data")
    database = open_database(url)
    with database.session() as s:
        save_head(s, head, active=True)

    clip = tmp_path / "short.avi"
    cap = cv2.VideoCapture(str(SAMPLE_VIDEO))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (1280, 720))
    for _ in range(120):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    result = analyze_video(clip, db_url=url, patient_code="P-002", lifter=OracleLifter())
    assert len(result.predictions) == 1
    pred = result.predictions[0]
    assert pred.head_name == "updrs_gait" and pred.head_version == "test-1"
    assert sum(pred.probabilities) == pytest.approx(1.0)
    with database.read_session() as s:
        stored_preds = load_predictions(s, result.analysis_id)
    assert [p.predicted for p in stored_preds] == [pred.predicted]
    database.dispose()
