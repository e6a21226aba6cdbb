"""The dashboard's analyses go through the job table: the upload page enqueues a job, a worker runs it (the
dashboard's own worker thread when no ``gaitscope worker`` is alive), and the page polls the job row.

The pipeline is replaced by a fake runner (the worker's ``pipeline_runner``) so these tests check the plumbing in
a second or two; the real pipeline runs in tests/pipeline/test_batch.py and the browser end-to-end test."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

pytest.importorskip("streamlit")
cv2 = pytest.importorskip("cv2")
import numpy as np
from ui_app_helpers import app as _app
from ui_app_helpers import ok as _ok
from ui_app_helpers import texts as _texts
from ui_app_helpers import user_of as _user

from gaitscope.db import jobs as db_jobs
from gaitscope.errors import NoPersonError
from gaitscope.pipeline import worker as worker_mod
from gaitscope.ui import data, jobs
from gaitscope.ui.components import PAGE_UPLOAD

_REAL_RUNNER = worker_mod.pipeline_runner  # before any fixture replaces it


@pytest.fixture()
def fake_pipeline(monkeypatch):
    """Replace the pipeline by a runner that reports every stage; ``calls`` lists the jobs it ran. Set
    ``fail`` to raise a clinician's error instead, ``gate`` to hold the job until it is set."""
    state = {"calls": [], "fail": None, "gate": None}

    def factory(db_url):
        def run(job, progress):
            state["calls"].append(job.id)
            for stage in ("decode", "2d"):
                progress(stage, 1, 1)
            if state["gate"] is not None:
                state["gate"].wait(20)
            if state["fail"] is not None:
                raise state["fail"]

        return run

    monkeypatch.setattr(worker_mod, "pipeline_runner", factory)
    monkeypatch.setattr(jobs, "FALLBACK_IDLE_EXIT_S", 0.5)
    return state


def _wait_finished(job_id, url, timeout_s=20.0):
    end = time.time() + timeout_s
    while time.time() < end:
        job = jobs.analysis_job(job_id, url)
        if job is not None and job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {jobs.analysis_job(job_id, url)}")


def _clip(path, n=40):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    for i in range(n):
        w.write(np.full((120, 160, 3), (i * 5) % 255, np.uint8))
    w.release()
    return path


def test_without_a_worker_the_dashboard_runs_the_job_itself(env, tmp_path, fake_pipeline):
    video = _clip(tmp_path / "walk.avi")
    job = jobs.start_analysis_job(video, db_url=env, patient_code="DEMO-X", visit_date=date(2026, 1, 2),
                                  height_cm=170.0, original_name="walk.avi")  # no recording yet: registered here
    done = _wait_finished(job.id, env)
    assert done.status == "done" and fake_pipeline["calls"] == [int(job.id)]
    assert done.label == "walk.avi (DEMO-X)" and done.overall_fraction() == 1.0
    row = db_jobs.get_job(data.database(env), int(job.id))
    assert row.options["height_cm"] == 170.0 and row.options["visit_date"] == "2026-01-02"
    assert row.claimed_by and ":app:" in row.claimed_by  # the dashboard's own worker took it


def test_a_live_worker_gets_the_job_and_the_dashboard_starts_none(env, tmp_path, fake_pipeline):
    db = data.database(env)
    db_jobs.register_worker(db, "external-1")
    job = jobs.start_analysis_job(_clip(tmp_path / "walk.avi"), db_url=env, patient_code="DEMO-X",
                                  visit_date=date(2026, 1, 2), height_cm=None, original_name="walk.avi")
    assert job.status == "queued"
    assert jobs.ensure_worker(env) is False  # somebody is listening
    time.sleep(0.3)
    assert jobs.analysis_job(job.id, env).status == "queued" and fake_pipeline["calls"] == []
    db_jobs.unregister_worker(db, "external-1")
    worker_mod.Worker(env, poll_s=0.05).run(once=True)  # what `gaitscope worker --once` does
    assert jobs.analysis_job(job.id, env).status == "done"


def test_stage_bars_follow_the_job_row(env, tmp_path, fake_pipeline):
    fake_pipeline["gate"] = gate = threading.Event()
    job = jobs.start_analysis_job(_clip(tmp_path / "walk.avi"), db_url=env, patient_code="DEMO-X",
                                  visit_date=date(2026, 1, 2), height_cm=None, original_name="walk.avi")
    end = time.time() + 20
    while time.time() < end and (jobs.analysis_job(job.id, env).current_stage != "2d"):
        time.sleep(0.05)
    snap = jobs.analysis_job(job.id, env)
    gate.set()
    assert snap.status == "running" and snap.current_stage == "2d"
    assert snap.stage_fraction("decode") == 1.0 and snap.stage_fraction("2d") == 1.0
    assert snap.stage_fraction("3d") == 0.0
    _wait_finished(job.id, env)


def test_upload_page_queues_a_job_and_shows_its_outcome(env, tmp_path, fake_pipeline):
    at = _app().run()
    at.switch_page(PAGE_UPLOAD).run()
    _ok(at)
    at.file_uploader(key="upload_file").upload("my walk.avi", _clip(tmp_path / "w.avi").read_bytes(), "video/avi")
    at.number_input(key="upload_height_DEMO-001").set_value(171.0)
    fake_pipeline["fail"] = NoPersonError("No person was found in the video.", "Film the whole body.")
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    job_id = at.session_state["job_id"]
    row = db_jobs.get_job(data.database(env), int(job_id))
    assert row.options["actor"] == "dr_demo" and row.options["original_name"] == "my walk.avi"
    assert "Reading the video" in " ".join(p.proto.text for p in at.get("progress"))
    _wait_finished(job_id, env)
    at.run()
    _ok(at)
    assert any("No person was found in the video." in e.value for e in at.error)
    assert "Nothing was stored for this upload" in _texts(at)


def test_the_reference_set_chosen_on_the_upload_page_reaches_the_pipeline(env, tmp_path, fake_pipeline,
                                                                           monkeypatch):
    from types import SimpleNamespace

    from gaitscope.pipeline import dispatch, normative_choice

    lab_set = tmp_path / "normative" / "lab A.json"
    monkeypatch.setattr(normative_choice, "list_sets", lambda: [
        {"name": "schwartz2008", "path": "(bundled)", "subjects": "5 speed classes", "children": True,
         "default": True},
        {"name": "lab A", "path": str(lab_set), "subjects": "12 subjects", "children": False, "default": False}])
    at = _app().run()
    at.switch_page(PAGE_UPLOAD).run()
    _ok(at)
    choice = at.selectbox(key="upload_reference")
    assert choice.value == 0 and "default" in choice.format_func(0)  # the configured default is preselected
    choice.set_value(1)
    at.file_uploader(key="upload_file").upload("walk.avi", _clip(tmp_path / "w.avi").read_bytes(), "video/avi")
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    row = db_jobs.get_job(data.database(env), int(at.session_state["job_id"]))
    assert row.options["normative"] == str(lab_set)
    _wait_finished(at.session_state["job_id"], env)
    # the worker hands the choice to the pipeline's options
    seen = {}
    # the name the dispatcher calls (it imports it from the steps module once)
    monkeypatch.setattr(dispatch, "analyze_video", lambda path, **kw: seen.update(kw) or SimpleNamespace(analysis_id=1))
    video = tmp_path / "v.avi"
    video.write_bytes(b"x")
    _REAL_RUNNER(env)(SimpleNamespace(id=1, options=worker_mod.job_options(video, normative=str(lab_set))),
                      lambda *a: None)
    assert seen["options"].normative == str(lab_set)


def test_a_motion_capture_file_is_uploaded_like_a_video_and_its_results_have_no_video_tab(env, tmp_path):
    """A TRC marker file of a synthetic walk (known truth: cadence 110 steps/min) goes through the upload page,
    the job table and the real marker pipeline; Results shows it without the video tab."""
    from gaitscope.io.synthetic_mocap import write_walk_trc
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk
    from gaitscope.ui.components import PAGE_RESULTS

    walk = simulate_walk(WalkParams(fps=100.0, duration_s=8.0, cadence_steps_min=110, seed=5))
    trc = write_walk_trc(walk.motion, tmp_path / "lab trial.trc")
    at = _app().run()
    at.switch_page(PAGE_UPLOAD).run()
    at.file_uploader(key="upload_file").upload("lab trial.trc", trc.read_bytes(), "text/plain")
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    job = _wait_finished(at.session_state["job_id"], env, timeout_s=120)
    assert job.status == "done", job.error
    history = data.patient_history(_user("dr_demo"), "DEMO-001", env)
    row = history[history["file"] == "lab trial.trc"].iloc[0]
    at.session_state["analysis_id"] = int(row["analysis_id"])
    at.switch_page(PAGE_RESULTS).run()
    _ok(at)
    assert [t.label for t in at.tabs][0] == "3D motion"  # no video tab for marker data
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Cadence (steps/min)"]) == pytest.approx(110, abs=3)


def test_a_text_file_named_trc_is_refused_and_nothing_is_registered(env, tmp_path):
    at = _app().run()
    before = len(data.patient_history(_user('dr_demo'), "DEMO-001", env))
    at.switch_page(PAGE_UPLOAD).run()
    at.file_uploader(key="upload_file").upload("notes.trc", b"shopping list\nmilk\n", "text/plain")
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    assert at.error and "job_id" not in at.session_state
    assert len(data.patient_history(_user('dr_demo'), "DEMO-001", env)) == before
    from gaitscope.ui.uploads import uploads_dir

    assert not [p for p in uploads_dir().iterdir() if p.is_file()]  # no file left behind
