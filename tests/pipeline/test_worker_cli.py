"""``gaitscope worker`` from the command line: ``--once`` drains the queue and exits; a job whose video is gone
fails with a sentence the clinician can act on (the real pipeline runner, stopped before any heavy work)."""

from __future__ import annotations

import hashlib
from datetime import date

from gaitscope.cli.main import main
from gaitscope.db import (
    create_patient,
    create_visit,
    jobs,
    open_database,
    register_recording,
)
from gaitscope.pipeline.worker import job_options


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


# ----------------------------------------------------------------------------------------------- SIGTERM

#: ``gaitscope worker`` in a real process, its runner replaced by one that works (and reports progress) for a
#: minute: what systemd/Docker stop while a video is being analyzed.
_SLOW_WORKER = """
import sys, time
from gaitscope.pipeline import worker

def slow_runner(db_url):
    def run(job, progress):
        for i in range(600):
            progress("2d", i, 600)
            time.sleep(0.1)
        return None
    return run

worker.pipeline_runner = slow_runner
from gaitscope.cli.main import main
sys.exit(main())  # as the `gaitscope` script calls it (argv from sys.argv)
"""


def _start_worker(url: str, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "slow_worker.py"
    script.write_text(_SLOW_WORKER)
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(script), "worker", "--db", url, "--poll-s", "0.2",
                             "--stale-s", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(condition, timeout_s: float = 90.0, what: str = "") -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_releases_the_running_job_and_the_worker_exits_0(tmp_path):
    import signal
    import time

    url = f"sqlite:///{tmp_path / 'w.db'}"
    job_id = _queued_job(url, str(tmp_path / "walk.mp4"))
    proc = _start_worker(url, tmp_path)
    try:
        with open_database(url) as db:
            _wait_for(lambda: (j := jobs.get_job(db, job_id)).status == "running" and (j.progress or 0) > 0,
                      what="the worker to claim the job and report progress")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert elapsed < 10, elapsed  # it did not sit out the minute-long job
    assert "processed 0 job(s)" in out
    assert "Traceback" not in err and "released to the queue" in err
    with open_database(url) as db:
        job = jobs.get_job(db, job_id)
        assert (job.status, job.claimed_by, job.attempts) == ("queued", None, 1)  # the next worker takes it
        assert jobs.live_workers(db) == []


def test_sigterm_stops_an_idle_worker_at_once(tmp_path):
    import signal

    url = f"sqlite:///{tmp_path / 'w.db'}"
    open_database(url, auto_upgrade=True).dispose()
    proc = _start_worker(url, tmp_path)
    try:
        with open_database(url) as db:
            _wait_for(lambda: len(jobs.live_workers(db)) == 1, what="the worker to register")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "processed 0 job(s)" in out and "Traceback" not in err
    with open_database(url) as db:
        assert jobs.live_workers(db) == []
