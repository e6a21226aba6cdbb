"""Upload checks, form validation, background jobs, the data adapter and the demo data (no Streamlit)."""

from __future__ import annotations

import io
import threading
from datetime import date

import pytest

from gaitscope.errors import AnalysisError, DuplicateError, InvalidInputError, VideoError
from gaitscope.ui import data, jobs
from gaitscope.ui.uploads import find_video, save_upload, sniff_video
from gaitscope.ui.validation import validate_patient

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


# --------------------------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("head, expected", [
    (MP4_HEAD, "mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "mov"),
    (b"RIFF\x00\x10\x00\x00AVI LIST", "avi"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm", "webm"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska", "mkv"),
    (b"\x00\x00\x01\xba\x44\x00", "mpg"),
    (b"FLV\x01\x05", "flv"),
    (b"<html><script>alert(1)</script>", None),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None),
    (b"", None),
])
def test_sniff_video_by_content(head, expected):
    assert sniff_video(head) == expected


def test_save_upload_uses_a_generated_name_and_hashes_content(tmp_path):
    payload = MP4_HEAD + b"\x01" * 5000
    saved = save_upload(io.BytesIO(payload), "../../etc/passwd.mp4", directory=tmp_path)
    assert saved.path.parent == tmp_path
    assert saved.path.name == f"{saved.sha256}.mp4"
    assert saved.path.read_bytes() == payload
    assert saved.original_name == "passwd.mp4"  # display only
    assert find_video(saved.sha256, tmp_path) == saved.path
    assert find_video("../../x", tmp_path) is None
    assert [p.name for p in tmp_path.iterdir()] == [saved.path.name]  # no temporary file left behind


def test_save_upload_checks_type_by_content_not_name(tmp_path):
    with pytest.raises(VideoError, match="not a video"):
        save_upload(io.BytesIO(b"just some text, named like a video" * 20), "walk.mp4", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_upload_enforces_the_size_limit(tmp_path, monkeypatch):
    with pytest.raises(InvalidInputError, match="limit"):
        save_upload(io.BytesIO(MP4_HEAD), "a.mp4", size_bytes=10_000, max_bytes=1_000, directory=tmp_path)
    # a declared size that lies is caught while copying
    with pytest.raises(InvalidInputError, match="larger than"):
        save_upload(io.BytesIO(MP4_HEAD + b"\0" * 5000), "a.mp4", size_bytes=10, max_bytes=1_000,
                    directory=tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("GAITSCOPE_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(InvalidInputError):
        save_upload(io.BytesIO(MP4_HEAD + b"\0" * 5000), "a.mp4", directory=tmp_path)


# --------------------------------------------------------------------------------------------- validation


def test_validate_patient_accepts_a_clean_form():
    p = validate_patient(" P-0042 ", sex="F", birth_year=1960, height_cm=165.5, notes="  <script>x</script> ",
                         today=date(2026, 1, 1))
    assert (p.code, p.sex, p.birth_year, p.height_cm, p.notes) == ("P-0042", "F", 1960, 165.5, "<script>x</script>")


@pytest.mark.parametrize("kwargs, message", [
    (dict(code=""), "code is required"),
    (dict(code="John Smith"), "not valid"),
    (dict(code="P-1", height_cm=300), "outside 50-250"),
    (dict(code="P-1", height_cm=20), "outside 50-250"),
    (dict(code="P-1", birth_year=1850), "Birth year 1850"),
    (dict(code="P-1", birth_year=2030), "Birth year 2030"),
    (dict(code="P-1", sex="Q"), "Sex must be"),
])
def test_validate_patient_rejects_bad_fields(kwargs, message):
    code = kwargs.pop("code")
    with pytest.raises(InvalidInputError, match=message):
        validate_patient(code, today=date(2026, 1, 1), **kwargs)


# --------------------------------------------------------------------------------------------- jobs


def test_job_reports_progress_and_result():
    gate = threading.Event()

    def work(progress):
        progress("a", 1, 2)
        gate.wait(5)
        progress("a", 2, 2)
        progress("b", 1, 1)
        return 42

    def on_result(job, result):
        job.analysis_id = result

    job = jobs.start_job("test", ("a", "b"), work, on_result)
    for _ in range(200):
        if job.snapshot().progress.get("a") == (1, 2):
            break
        threading.Event().wait(0.01)
    snap = job.snapshot()
    assert snap.status == "running" and snap.overall_fraction() == pytest.approx(0.25)
    gate.set()
    done = jobs.wait(job, 5)
    assert done.status == "done" and done.analysis_id == 42 and done.overall_fraction() == 1.0
    assert jobs.get_job(job.id) is job


def test_job_failure_keeps_the_clinician_message():
    def work(progress):
        progress("a", 0, 1)
        raise AnalysisError("The walk is too short for one stride.", "Record at least 4 steps.")

    snap = jobs.wait(jobs.start_job("t", ("a",), work), 5)
    assert snap.status == "failed"
    assert snap.error == "The walk is too short for one stride. Record at least 4 steps."
    assert snap.detail == ""


def test_job_internal_error_is_explained_and_keeps_the_traceback():
    snap = jobs.wait(jobs.start_job("t", ("a",), lambda progress: 1 / 0), 5)
    assert snap.status == "failed" and "Internal error (ZeroDivisionError)" in snap.error
    assert "Traceback" in snap.detail


# --------------------------------------------------------------------------------------------- data + demo


@pytest.fixture()
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'ui.db'}"
    yield url
    data.forget_database(url)


def test_patient_create_update_search_and_duplicates(db_url):
    data.create_patient(validate_patient("P-1", height_cm=170, diagnosis="Parkinson"), db_url)
    data.create_patient(validate_patient("Q-2"), db_url)
    with pytest.raises(DuplicateError):
        data.create_patient(validate_patient("P-1"), db_url)
    assert list(data.patients_frame(db_url)["code"]) == ["P-1", "Q-2"]
    assert list(data.patients_frame(db_url, "parkin")["code"]) == ["P-1"]
    assert list(data.patients_frame(db_url, "%")["code"]) == []  # plain text, no SQL wildcards
    data.update_patient("P-1", validate_patient("P-1b", height_cm=171, diagnosis="Parkinson"), db_url)
    assert data.get_patient_input("P-1b", db_url).height_cm == 171
    with pytest.raises(DuplicateError):
        data.update_patient("P-1b", validate_patient("Q-2"), db_url)


def test_result_history_and_trends_of_a_stored_analysis(db_url):
    from gaitscope.db import create_patient, create_visit, get_patient, register_recording, save_analysis
    from gaitscope.ui.example_records import example_keypoints, example_motion, example_predictions, example_report

    db = data.database(db_url)
    ids = []
    for i, (day, cadence) in enumerate([(date(2026, 1, 5), 100.0), (date(2026, 4, 5), 110.0)]):
        with db.session() as s:
            p = get_patient(s, "P-7") or create_patient(s, "P-7", height_cm=172)
            v = create_visit(s, p, visit_date=day)
            rec = register_recording(s, v, sha256=f"{i:064x}", original_name=f"walk{i}.mp4", kind="video", fps=30.0,
                                     duration_s=2.0, width=320, height=240, size_bytes=1000)
            motion = example_motion()
            a = save_analysis(s, rec, keypoints2d=example_keypoints(motion), motion3d=motion,
                              report=example_report(cadence=cadence), embedding=None,
                              predictions=list(example_predictions()), model_name="lifter:test",
                              model_version="1", analysis_version="a1", pipeline_version="p1")
            s.flush()
            ids.append(a.id)
    bundle = data.load_result(ids[1], db_url)
    assert bundle.patient_code == "P-7" and bundle.original_name == "walk1.mp4"
    assert bundle.report.parameter("cadence").value == 110.0
    assert bundle.keypoints is not None and bundle.keypoints.n_frames == 60
    assert bundle.predictions[0].predicted == "healthy"
    history = data.patient_history("P-7", db_url)
    assert list(history["status"]) == ["done", "done"] and list(history["analysis_id"]) == ids[::-1]
    trend = data.trends("P-7", db_url)
    cad = trend[trend["parameter"] == "Cadence"].sort_values("visit_date")
    assert list(cad["value"]) == [100.0, 110.0]
    assert set(trend["parameter"]) == {"Cadence", "Walking speed", "Step length"}
    assert list(data.analyses_frame(db_url)["analysis_id"]) == ids[::-1]
    # the upload flow relabels a recording found by its content hash (file name shown, notes on the visit)
    assert data.label_recording(db_url, f"{1:064x}", original_name="clinic walk.mov", notes="<b>limp</b>")
    assert not data.label_recording(db_url, "f" * 64, original_name="x")
    history = data.patient_history("P-7", db_url)
    assert history["file"].iloc[0] == "clinic walk.mov" and history["visit_notes"].iloc[0] == "<b>limp</b>"


def test_demo_data_fills_an_empty_database_once(db_url):
    from gaitscope.ui.demo_data import ensure_demo_data

    first = ensure_demo_data(db_url, analyse_sample=False)
    assert first.created
    patients = data.patients_frame(db_url)
    assert set(patients["code"]) == {"DEMO-001", "DEMO-002"}
    assert not ensure_demo_data(db_url, analyse_sample=False).created
    assert len(data.patients_frame(db_url)) == 2
    trend = data.trends("DEMO-001", db_url)
    speeds = trend[trend["parameter"] == "Walking speed"].sort_values("visit_date")["value"].tolist()
    assert len(speeds) == 3 and speeds[0] < speeds[-1]  # the demo patient improves over the visits
    bundle = data.load_result(int(data.analyses_frame(db_url)["analysis_id"].iloc[0]), db_url)
    assert bundle.keypoints is not None and bundle.report.curves
    assert any("Demo data" in w for w in bundle.report.warnings)


def test_demo_data_leaves_a_used_database_alone(db_url):
    from gaitscope.ui.demo_data import ensure_demo_data

    data.create_patient(validate_patient("REAL-1"), db_url)
    assert not ensure_demo_data(db_url, analyse_sample=False).created
    assert list(data.patients_frame(db_url)["code"]) == ["REAL-1"]
