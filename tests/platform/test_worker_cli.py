"""``gaitscope worker`` from the command line: ``--once`` drains the queue and exits; a job whose video is gone
fails with a sentence the clinician can act on (the real pipeline runner, stopped before any heavy work)."""

from __future__ import annotations

import hashlib
from datetime import date

from gaitscope.db import (
    create_patient,
    create_visit,
    jobs,
    open_database,
    register_recording,
)
from gaitscope.platform.cli import main
from gaitscope.platform.worker import job_options


def _queued_job(url: str, video_path: str) -> int:
    db = open_database(url, auto_upgrade=True)
    try:
        with db.session() as s:
            visit = create_visit(s, create_patient(s, "W-001"), date(2026, 5, 6))
            rec = register_recording(s, visit, sha256=hashlib.sha256(video_path.encode()).hexdigest(),
                                     original_name="walk.mp4", kind="video", fps=30.0, duration_s=2.0, width=640,
                                     height=480, size_bytes=1000)
            s.flush()
            rec_id = int(rec.id)
        return jobs.enqueue(db, rec_id, job_options(video_path, patient_code="W-001")).id
    finally:
        db.dispose()


def test_worker_once_processes_the_queue_and_exits(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    job_id = _queued_job(url, str(tmp_path / "deleted-upload.mp4"))
    assert main(["worker", "--db", url, "--once", "--poll-s", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "processed 1 job(s)" in out
    with open_database(url) as db:
        job = jobs.get_job(db, job_id)
        assert job.status == "failed" and job.attempts == 1
        assert "no longer on the server" in job.error and "Upload the video again" in job.error
        assert jobs.live_workers(db) == []  # the worker removed itself from the registry
    assert main(["worker", "--db", url, "--once"]) == 0  # an empty queue: exits at once
    assert "processed 0 job(s)" in capsys.readouterr().out
