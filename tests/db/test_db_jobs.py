"""The job queue (gaitscope.db.jobs) and the worker that drains it (gaitscope.pipeline.worker), on SQLite and on
PostgreSQL (when GAITSCOPE_TEST_PG_URL is set): every job runs exactly once with several workers, a worker that
died mid-job leaves a job another worker takes over, and a job that keeps killing its worker is failed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from db_helpers import new_recording
from sqlalchemy import select, update

from gaitscope.db import jobs
from gaitscope.db.models import AuditLog, Job, Recording
from gaitscope.errors import NoPersonError
from gaitscope.pipeline.worker import JobProgress, Worker, job_options


def _recordings(db, n: int) -> list[int]:
    ids = []
    with db.session() as s:
        for i in range(n):
            rec = new_recording(s, code=f"Q{i:03d}", name=f"walk{i}.mp4")
            s.flush()
            ids.append(int(rec.id))
    return ids


def _age_heartbeat(db, job_id: int, seconds: float) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=jobs.utcnow() - timedelta(seconds=seconds)))


def test_enqueue_is_idempotent_while_active_and_claims_oldest_first(db):
    r1, r2 = _recordings(db, 2)
    a = jobs.enqueue(db, r1, {"video_path": "/x/a.mp4"})
    assert jobs.enqueue(db, r1).id == a.id  # a double click does not queue twice
    b = jobs.enqueue(db, r2, job_options("/x/b.mp4", patient_code="Q001", height_cm=170.0))
    assert (a.status, a.attempts, a.options) == ("queued", 0, {"video_path": "/x/a.mp4"})
    assert b.options == {"video_path": "/x/b.mp4", "patient_code": "Q001", "height_cm": 170.0}

    first = jobs.claim_next(db, "w1")
    second = jobs.claim_next(db, "w2")
    assert (first.id, second.id) == (a.id, b.id)
    assert (first.status, first.claimed_by, first.attempts) == ("running", "w1", 1)
    assert jobs.claim_next(db, "w3") is None  # nothing left

    # writes are conditional on owning the job
    assert not jobs.finish(db, a.id, "w2")
    assert not jobs.set_progress(db, a.id, "w2", "2d", 0.5)
    assert jobs.set_progress(db, a.id, "w1", "2d", 0.5)
    assert jobs.get_job(db, a.id).stage == "2d" and jobs.get_job(db, a.id).progress == pytest.approx(0.5)
    assert jobs.finish(db, a.id, "w1")
    assert jobs.fail(db, b.id, "w2", "No person was found.")
    done, failed = jobs.get_job(db, a.id), jobs.get_job(db, b.id)
    assert (done.status, done.progress, done.finished) == ("done", 1.0, True)
    assert (failed.status, failed.error) == ("failed", "No person was found.")
    assert jobs.enqueue(db, r1).id != a.id  # a finished job does not block a new request
    assert [j.id for j in jobs.list_jobs(db, status="failed")] == [b.id]


def test_the_database_itself_refuses_a_second_active_job_of_a_recording(db):
    """The "one active job per recording" rule holds even for writers that skip enqueue's check (two dashboards
    racing): the partial unique index refuses a second queued job, and allows one again after the first ends."""
    from gaitscope.errors import DuplicateError

    (r1,) = _recordings(db, 1)
    a = jobs.enqueue(db, r1)
    with pytest.raises(DuplicateError):
        with db.session() as s:
            s.add(Job(recording_id=r1, status="queued", progress=0.0, attempts=0, created_at=jobs.utcnow()))
            s.flush()
    assert [j.id for j in jobs.list_jobs(db, recording_id=r1)] == [a.id]  # the refused row left nothing behind
    claimed = jobs.claim_next(db, "w1")
    assert jobs.fail(db, claimed.id, "w1", "stopped")
    with db.session() as s:  # a finished (failed) job no longer counts as active
        s.add(Job(recording_id=r1, status="queued", progress=0.0, attempts=0, created_at=jobs.utcnow()))
    assert len(jobs.list_jobs(db, recording_id=r1)) == 2


def test_enqueue_refuses_a_missing_recording(db):
    from gaitscope.errors import DatabaseError

    with pytest.raises(DatabaseError, match="does not exist"):
        jobs.enqueue(db, 987654)


def test_two_workers_run_each_job_exactly_once(db, head_url):
    n_jobs = 8
    ids = [jobs.enqueue(db, r, {"video_path": f"/v/{r}.mp4"}).id for r in _recordings(db, n_jobs)]
    calls: Counter[int] = Counter()
    by_worker: dict[int, str] = {}
    lock = threading.Lock()
    both_running = threading.Barrier(2, timeout=20)

    def make_runner(name: str):
        first = [True]

        def runner(job, progress):
            with lock:
                calls[job.id] += 1
                by_worker[job.id] = name
            if first[0]:  # make sure the two workers really overlap before racing for the rest
                first[0] = False
                both_running.wait()
            progress("2d", 1, 2)
            time.sleep(0.02)

        return runner

    workers = [Worker(head_url, runner=make_runner(n), worker_id=n, poll_s=0.05, stale_s=30) for n in ("A", "B")]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert calls == Counter({i: 1 for i in ids})  # every job once, none twice
    assert set(by_worker.values()) == {"A", "B"}  # both took part
    assert {j.status for j in jobs.list_jobs(db)} == {"done"}
    assert all(j.attempts == 1 for j in jobs.list_jobs(db))
    assert jobs.live_workers(db) == []  # a worker that exits removes its row


def test_a_job_of_a_dead_worker_is_reclaimed_and_completes(db, head_url):
    (rec,) = _recordings(db, 1)
    job = jobs.enqueue(db, rec, {"video_path": "/v/a.mp4"})
    assert jobs.claim_next(db, "dead-worker").id == job.id
    jobs.register_worker(db, "dead-worker")
    ran: list[int] = []
    survivor = Worker(head_url, runner=lambda j, p: ran.append(j.id), worker_id="survivor", poll_s=0.05, stale_s=5)

    assert survivor.run_one() is None  # heartbeat still fresh: the job is left alone
    assert ran == [] and jobs.get_job(db, job.id).claimed_by == "dead-worker"

    _age_heartbeat(db, job.id, 60)  # the worker was killed: no heartbeat for a minute
    assert "dead-worker" in jobs.live_workers(db, fresh_s=5)  # (its registry row is not what decides)
    final = survivor.run_one()
    assert ran == [job.id]
    assert (final.status, final.claimed_by, final.attempts) == ("done", "survivor", 2)
    # the presumed-dead worker wakes up late: its outcome is not recorded over the survivor's
    assert not jobs.fail(db, job.id, "dead-worker", "late")
    assert not jobs.heartbeat(db, job.id, "dead-worker")
    assert jobs.get_job(db, job.id).status == "done"
    survivor.close()


def test_a_job_that_keeps_killing_its_worker_is_failed_after_max_attempts(db):
    (rec,) = _recordings(db, 1)
    job = jobs.enqueue(db, rec)
    for attempt in (1, 2):
        assert jobs.claim_next(db, f"w{attempt}").attempts == attempt
        _age_heartbeat(db, job.id, 600)
        (back,) = jobs.reclaim_stale(db, stale_s=60, max_attempts=2)
        assert back.status == ("queued" if attempt == 1 else "failed")
    final = jobs.get_job(db, job.id)
    assert final.status == "failed" and "interrupted 2 times" in final.error and "Start the analysis again" in final.error
    with db.read_session() as s:
        assert s.get(Recording, rec).status == "failed"
    assert jobs.reclaim_stale(db, stale_s=60) == []


def test_worker_records_the_clinician_message_and_audits_the_outcome(db, head_url):
    ok_rec, bad_rec = _recordings(db, 2)
    ok = jobs.enqueue(db, ok_rec, job_options("/v/ok.mp4", actor="dr_a", patient_code="Q000"))
    bad = jobs.enqueue(db, bad_rec, job_options("/v/bad.mp4", actor="dr_a"))

    def runner(job, progress):
        for stage in ("decode", "2d", "3d"):
            progress(stage, 1, 1)
        if job.id == bad.id:
            raise NoPersonError("No person was found in the video.", "Film the whole body from the side.")
        return 42

    w = Worker(head_url, runner=runner, poll_s=0.05)
    assert w.run(once=True) == 2
    assert jobs.get_job(db, ok.id).status == "done"
    failed = jobs.get_job(db, bad.id)
    assert failed.status == "failed" and failed.error.startswith("No person was found in the video.")
    assert failed.detail is None  # an expected error: the message says everything
    with db.read_session() as s:
        rec = s.get(Recording, bad_rec)
        assert (rec.status, rec.error) == ("failed", failed.error)  # the recording says why, too
        audit = {(a.username, a.action, a.entity_id) for a in s.scalars(select(AuditLog))}
    assert ("dr_a", "analysis_stored", str(ok_rec)) in audit and ("dr_a", "analysis_failed", str(bad_rec)) in audit


def test_an_internal_error_is_a_plain_sentence(db, head_url):
    (rec,) = _recordings(db, 1)
    job = jobs.enqueue(db, rec)
    Worker(head_url, runner=lambda j, p: 1 / 0).run(once=True)
    got = jobs.get_job(db, job.id)
    assert got.error.startswith("Internal error (ZeroDivisionError)") and "Traceback" not in got.error
    # the traceback is kept with the job for administrators (migration 0005), naming the failing line
    assert got.detail.startswith("Traceback") and "ZeroDivisionError" in got.detail and "1 / 0" in got.detail
    # a retry that is claimed again starts with a clean slate
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job.id).values(status="queued"))
    again = jobs.claim_next(db, "w2")
    assert again.id == job.id and again.detail is None and again.error is None


def test_progress_is_written_per_stage_and_throttled(db):
    (rec,) = _recordings(db, 1)
    job = jobs.enqueue(db, rec)
    jobs.claim_next(db, "w")
    p = JobProgress(db, job.id, "w", ("decode", "2d", "3d", "store"), every_s=60)
    p("decode", 1, 1)
    for i in range(100):  # 100 frames of 2D within the throttle window: one write
        p("2d", i, 200)
    assert p.writes == 2
    got = jobs.get_job(db, job.id)
    assert got.stage == "2d" and got.progress == pytest.approx(0.25)
    p("3d", 0, 1)  # a new stage is written at once
    got = jobs.get_job(db, job.id)
    assert got.stage == "3d" and got.progress == pytest.approx((2 + 0) / 4)  # 2D finished implicitly


def test_live_workers_follow_the_heartbeat(db):
    jobs.register_worker(db, "w-old", "app")
    jobs.register_worker(db, "w-new", "cli")
    with db.session() as s:
        from gaitscope.db.models import JobWorker

        s.execute(update(JobWorker).where(JobWorker.id == "w-old")
                  .values(heartbeat_at=jobs.utcnow() - timedelta(seconds=600)))
    assert jobs.live_workers(db, fresh_s=60) == ["w-new"]
    assert jobs.live_workers(db, fresh_s=60, kind="app") == []
    jobs.worker_heartbeat(db, "w-old")
    assert sorted(jobs.live_workers(db, fresh_s=60)) == ["w-new", "w-old"]
    jobs.unregister_worker(db, "w-new")
    assert jobs.live_workers(db, fresh_s=60) == ["w-old"]


def test_migrations_0003_and_0005_upgrade_a_0002_database_with_queued_jobs(db_url):
    """Upgrade 0002 -> 0003 adds the worker registry, -> 0005 the failure detail; jobs queued before stay
    claimable; downgrades remove what each added."""
    from sqlalchemy import insert, inspect

    from gaitscope.db import migrate
    from gaitscope.db.engine import Database, make_engine

    def columns_and_tables() -> tuple[set[str], set[str]]:
        engine = make_engine(db_url)
        try:
            ins = inspect(engine)
            return {c["name"] for c in ins.get_columns("job")}, set(ins.get_table_names())
        finally:
            engine.dispose()

    assert migrate.upgrade(db_url, "0002") == "0002"
    with Database(make_engine(db_url)) as old:
        with old.session() as s:
            rec = new_recording(s, code="M-1")
            s.flush()
            # only the columns a 0002 job row has (the ORM model is the head's)
            s.execute(insert(Job).values(recording_id=rec.id, status="queued", progress=0.0, attempts=0,
                                         created_at=jobs.utcnow()))
    assert migrate.upgrade(db_url, "0003") == "0003"
    cols, tables = columns_and_tables()
    assert "job_worker" in tables and "detail" not in cols
    engine = make_engine(db_url)
    try:
        names = {ix["name"] for ix in inspect(engine).get_indexes("job")}
        assert "ix_job_status_heartbeat" in names
    finally:
        engine.dispose()
    assert migrate.upgrade(db_url, "0005") == "0005"
    assert "detail" in columns_and_tables()[0]
    with Database(make_engine(db_url)) as db:  # (not open_database: a later revision may be the head by now)
        job = jobs.claim_next(db, "w")  # the job queued before the upgrades is claimable after them
        assert job is not None and job.attempts == 1 and job.detail is None
        jobs.register_worker(db, "w")
        assert jobs.live_workers(db) == ["w"]
        assert jobs.fail(db, job.id, "w", "Internal error (KeyError): 'x'.", detail="Traceback ...")
    assert migrate.downgrade(db_url, "0004") == "0004"
    assert "detail" not in columns_and_tables()[0]
    assert migrate.downgrade(db_url, "0002") == "0002"
    assert "job_worker" not in columns_and_tables()[1]
