"""Upload checks, form validation, background jobs, the data adapter and the demo data (no Streamlit)."""

from __future__ import annotations

import io
import threading
from datetime import date

import pytest

from gaitscope.db.auth import CurrentUser
from gaitscope.errors import AccessDeniedError, AnalysisError, DuplicateError, InvalidInputError, VideoError
from gaitscope.ui import data, jobs
from gaitscope.ui.uploads import receive_upload
from gaitscope.ui.validation import validate_patient

PW = "correct horse battery"
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


# --------------------------------------------------------------------------------------------- uploads


@pytest.fixture()
def cheap_hasher():
    from argon2 import PasswordHasher

    from gaitscope.db import auth

    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    auth.set_password_hasher(previous)


def _users(url: str) -> dict[str, CurrentUser]:
    """A clinician and a viewer of site A, a clinician of site B; patient P-A1 at site A."""
    from gaitscope.db import auth, create_patient

    out = {}
    with data.database(url).session() as s:
        for name, role, site in (("dr_a", "clinician", "A"), ("view_a", "viewer", "A"), ("dr_b", "clinician", "B")):
            out[name] = CurrentUser.from_user(auth.create_user(s, name, PW, role, site=site))
        create_patient(s, "P-A1", site="A", height_cm=170)
    return out


def _avi(path, frames: int = 30) -> bytes:
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 5 % 255, np.uint8))
    writer.release()
    return path.read_bytes()


def test_receive_upload_stores_under_a_generated_name_and_registers_for_the_clinician(tmp_path, db_url, cheap_hasher):
    from sqlalchemy import select

    from gaitscope.db.models import AuditLog, Recording

    users = _users(db_url)
    up = tmp_path / "uploads"
    payload = _avi(tmp_path / "clip.avi")
    got = receive_upload(users["dr_a"], io.BytesIO(payload), "../../etc/<b>walk</b>.avi", patient_code="P-A1",
                         visit_date=date(2026, 3, 1), notes="after <i>therapy</i>", url=db_url, directory=up)
    assert got.path.parent == up and got.path.read_bytes() == payload
    assert got.storage_name == got.path.name and got.storage_name.endswith(".avi")
    assert "walk" not in got.storage_name and ".." not in got.original_name and "/" not in got.original_name
    assert [p.name for p in up.iterdir()] == [got.storage_name]  # no temporary file left behind
    with data.database(db_url).read_session() as s:
        rec = s.get(Recording, got.recording_id)
        assert rec.storage_name == got.storage_name and rec.original_name == got.original_name
        actions = [(e.username, e.action) for e in s.scalars(select(AuditLog))]
    assert ("dr_a", "upload") in actions and ("dr_a", "analysis_requested") in actions
    history = data.patient_history(users["dr_a"], "P-A1", db_url)
    assert history["visit_notes"].iloc[0] == "after <i>therapy</i>"
    assert data.recording_video(users["dr_a"], got.recording_id, up, db_url) == got.path.resolve()
    with pytest.raises(AccessDeniedError):
        data.recording_video(users["view_a"], got.recording_id, up, db_url)  # viewers: no videos
    # the same video again: refused without naming the patient it belongs to
    with pytest.raises(DuplicateError) as err:
        receive_upload(users["dr_a"], io.BytesIO(payload), "again.avi", patient_code="P-A1", url=db_url,
                       directory=up)
    assert "P-A1" not in str(err.value)
    assert [p.name for p in up.iterdir()] == [got.storage_name]


@pytest.mark.parametrize("who", ["view_a", "dr_b"])
def test_receive_upload_refuses_viewers_and_other_sites_before_storing(tmp_path, db_url, cheap_hasher, who):
    users = _users(db_url)
    up = tmp_path / "uploads"
    with pytest.raises(AccessDeniedError, match="Access denied"):
        receive_upload(users[who], io.BytesIO(MP4_HEAD + b"\1" * 5000), "walk.mp4", patient_code="P-A1",
                       url=db_url, directory=up)
    assert not up.exists() or list(up.iterdir()) == []
    assert len(data.patient_history(users["dr_a"], "P-A1", db_url)) == 0


def test_receive_upload_checks_content_and_size(tmp_path, db_url, cheap_hasher):
    users = _users(db_url)
    up = tmp_path / "uploads"
    with pytest.raises(VideoError, match="not a video"):
        receive_upload(users["dr_a"], io.BytesIO(b"just some text, named like a video" * 20), "walk.mp4",
                       patient_code="P-A1", url=db_url, directory=up)
    with pytest.raises(InvalidInputError, match="limit"):  # the declared size
        receive_upload(users["dr_a"], io.BytesIO(MP4_HEAD), "a.mp4", size_bytes=10_000, max_bytes=1_000,
                       patient_code="P-A1", url=db_url, directory=up)
    with pytest.raises(InvalidInputError, match="larger than"):  # a declared size that lies
        receive_upload(users["dr_a"], io.BytesIO(MP4_HEAD + b"\0" * 5000), "a.mp4", size_bytes=10,
                       max_bytes=1_000, patient_code="P-A1", url=db_url, directory=up)
    assert list(up.iterdir()) == []
    assert len(data.patient_history(users["dr_a"], "P-A1", db_url)) == 0


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


CLIN = CurrentUser(id=1, username="dr_x", role="clinician", site="X")
VIEW = CurrentUser(id=2, username="view_x", role="viewer", site="X")
DEMO_CLIN = CurrentUser(id=3, username="dr_demo", role="clinician", site="demo")


def test_patient_create_update_search_and_duplicates(db_url):
    data.create_patient(CLIN, validate_patient("P-1", height_cm=170, diagnosis="Parkinson"), db_url)
    data.create_patient(CLIN, validate_patient("Q-2"), db_url)
    with pytest.raises(DuplicateError):
        data.create_patient(CLIN, validate_patient("P-1"), db_url)
    assert list(data.patients_frame(CLIN, db_url)["code"]) == ["P-1", "Q-2"]
    assert list(data.patients_frame(CLIN, db_url, "parkin")["code"]) == ["P-1"]
    assert list(data.patients_frame(CLIN, db_url, "%")["code"]) == []  # plain text, no SQL wildcards
    data.update_patient(CLIN, "P-1", validate_patient("P-1", height_cm=171, diagnosis="Parkinson"), db_url)
    assert data.get_patient_input(CLIN, "P-1", db_url).height_cm == 171
    with pytest.raises(InvalidInputError, match="cannot be changed"):
        data.update_patient(CLIN, "P-1", validate_patient("Q-2"), db_url)
    # a viewer of the site reads but cannot write; another site sees nothing
    assert list(data.patients_frame(VIEW, db_url)["code"]) == ["P-1", "Q-2"]
    with pytest.raises(AccessDeniedError):
        data.update_patient(VIEW, "P-1", validate_patient("P-1", height_cm=100), db_url)
    with pytest.raises(AccessDeniedError):
        data.create_patient(VIEW, validate_patient("V-1"), db_url)
    other = CurrentUser(id=9, username="dr_y", role="clinician", site="Y")
    assert data.patients_frame(other, db_url).empty
    with pytest.raises(AccessDeniedError):
        data.get_patient_input(other, "P-1", db_url)


def test_result_history_and_trends_of_a_stored_analysis(db_url):
    from gaitscope.db import create_patient, create_visit, get_patient, register_recording, save_analysis
    from gaitscope.ui.example_records import example_keypoints, example_motion, example_predictions, example_report

    db = data.database(db_url)
    ids = []
    for i, (day, cadence) in enumerate([(date(2026, 1, 5), 100.0), (date(2026, 4, 5), 110.0)]):
        with db.session() as s:
            p = get_patient(s, "P-7") or create_patient(s, "P-7", height_cm=172, site="X")
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
    data.check_report_access(VIEW, ids[1], db_url)
    with pytest.raises(AccessDeniedError):
        data.check_report_access(DEMO_CLIN, ids[1], db_url)
    bundle = data.load_result(ids[1], db_url)
    assert bundle.patient_code == "P-7" and bundle.original_name == "walk1.mp4"
    assert bundle.report.parameter("cadence").value == 110.0
    assert bundle.keypoints is not None and bundle.keypoints.n_frames == 60
    assert bundle.predictions[0].predicted == "healthy"
    history = data.patient_history(CLIN, "P-7", db_url)
    assert list(history["status"]) == ["done", "done"] and list(history["analysis_id"]) == ids[::-1]
    trend = data.trends(VIEW, "P-7", db_url)
    cad = trend[trend["parameter"] == "Cadence"].sort_values("visit_date")
    assert list(cad["value"]) == [100.0, 110.0]
    assert set(trend["parameter"]) == {"Cadence", "Walking speed", "Step length"}
    assert list(data.analyses_frame(CLIN, db_url)["analysis_id"]) == ids[::-1]
    assert data.analyses_frame(DEMO_CLIN, db_url).empty
    # recordings without a stored file (registered by the pipeline, demo data) have no video to play
    assert data.recording_video(CLIN, int(bundle.recording_id), db_url and "/nonexistent", db_url) is None


def test_demo_data_fills_an_empty_database_once(db_url):
    from gaitscope.ui.demo_data import ensure_demo_data

    first = ensure_demo_data(db_url, analyze_sample=False)
    assert first.created
    patients = data.patients_frame(DEMO_CLIN, db_url)
    assert set(patients["code"]) == {"DEMO-001", "DEMO-002"}  # in the demo site
    assert not ensure_demo_data(db_url, analyze_sample=False).created
    assert len(data.patients_frame(DEMO_CLIN, db_url)) == 2
    assert data.patients_frame(CLIN, db_url).empty  # not in any other site
    with data.database(db_url).read_session() as s:  # and no account, so no known password
        from gaitscope.db import auth

        assert auth.list_users(s) == []
    trend = data.trends(DEMO_CLIN, "DEMO-001", db_url)
    speeds = trend[trend["parameter"] == "Walking speed"].sort_values("visit_date")["value"].tolist()
    assert len(speeds) == 3 and speeds[0] < speeds[-1]  # the demo patient improves over the visits
    bundle = data.load_result(int(data.analyses_frame(DEMO_CLIN, db_url)["analysis_id"].iloc[0]), db_url)
    assert bundle.keypoints is not None and bundle.report.curves
    assert any("Demo data" in w for w in bundle.report.warnings)


def test_demo_data_leaves_a_used_database_alone(db_url):
    from gaitscope.ui.demo_data import ensure_demo_data

    data.create_patient(CLIN, validate_patient("REAL-1"), db_url)
    assert not ensure_demo_data(db_url, analyze_sample=False).created
    assert list(data.patients_frame(CLIN, db_url)["code"]) == ["REAL-1"]
