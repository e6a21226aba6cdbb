"""The job queue in the database: enqueue, claim (each job by exactly one worker), heartbeat, finish, reclaim.

Why a table and not a message broker: the clinic installation is one SQLite file or one PostgreSQL server, and
the queue must survive restarts and be visible to the dashboard; a ``job`` row is all of that.

Claiming is the delicate part, and each engine gets the idiom it supports:

* **PostgreSQL**: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks the oldest queued job that no other transaction
  is claiming at this moment, so workers never wait on one another and never get the same row.
* **SQLite** has no row locks. Write sessions start with ``BEGIN IMMEDIATE`` (:mod:`gaitscope.db.engine`), so a
  claim holds the database's single write lock from its first statement: claims are serialised.

On both, the claim itself is a conditional ``UPDATE job SET status='running', claimed_by=... WHERE id=? AND
status='queued'`` checked by its row count, so even a claim that raced (another engine mode, a manual edit)
cannot take a job that is no longer queued. Every later write of a worker (progress, heartbeat, done, failed)
is conditional on ``claimed_by`` too: a worker that was presumed dead and whose job was reclaimed cannot
overwrite the outcome of the worker that took over.

A worker killed mid-job leaves a ``running`` row whose heartbeat stops; :func:`reclaim_stale` puts it back in
the queue (``attempts`` counts the claims) or, after ``max_attempts`` claims, fails it with a sentence a
clinician can act on. Times are the workers' UTC clocks (keep them in sync with NTP, as any server should).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from gaitscope.db.models import Job, JobWorker, Recording
from gaitscope.errors import DatabaseError

DEFAULT_STALE_S = 120.0
DEFAULT_MAX_ATTEMPTS = 3
_MAX_ERROR_CHARS = 4000
ACTIVE = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_worker_id(kind: str = "cli") -> str:
    """``host:pid:random``: unique per worker, and readable in the job table (which machine had the job)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class JobInfo:
    """A consistent copy of one job row (safe to use after its session closed)."""

    id: int
    recording_id: int
    status: str
    progress: float
    stage: str | None
    error: str | None
    claimed_by: str | None
    attempts: int
    options: dict[str, Any]
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    detail: str | None = None  # traceback of an internal error (administrators), else None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        return cls(int(job.id), int(job.recording_id), job.status, float(job.progress or 0.0), job.stage, job.error,
                   job.claimed_by, int(job.attempts or 0), dict(job.options or {}), job.created_at, job.started_at,
                   job.finished_at, job.heartbeat_at, job.detail)


# ------------------------------------------------------------------------------------------------ queue side


def enqueue(db, recording_id: int, options: dict[str, Any] | None = None) -> JobInfo:
    """Queue an analysis of ``recording_id``; returns the job. Idempotent while a job of that recording is
    queued or running (a double click does not analyze twice): that job is returned instead."""
    with db.session() as s:
        if s.get(Recording, recording_id) is None:
            raise DatabaseError(f"Recording {recording_id} does not exist (it may have been deleted).")
        active = s.scalars(
            select(Job).where(Job.recording_id == recording_id, Job.status.in_(ACTIVE)).order_by(Job.id).limit(1)
        ).first()
        if active is not None:
            return JobInfo.of(active)
        job = Job(recording_id=recording_id, status="queued", progress=0.0, attempts=0, options=dict(options or {}),
                  created_at=utcnow())
        try:
            with s.begin_nested():
                s.add(job)
                s.flush()
        except IntegrityError:  # a concurrent enqueue won (unique index uq_job_active_recording): use its job
            active = s.scalars(
                select(Job).where(Job.recording_id == recording_id, Job.status.in_(ACTIVE)).order_by(Job.id).limit(1)
            ).first()
            if active is None:
                raise
            return JobInfo.of(active)
        return JobInfo.of(job)


def get_job(db, job_id: int) -> JobInfo | None:
    with db.read_session() as s:
        job = s.get(Job, int(job_id))
        return None if job is None else JobInfo.of(job)


def list_jobs(db, *, status: str | tuple[str, ...] | None = None, recording_id: int | None = None,
              limit: int = 100) -> list[JobInfo]:
    """Newest first."""
    q = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        q = q.where(Job.status.in_((status,) if isinstance(status, str) else status))
    if recording_id is not None:
        q = q.where(Job.recording_id == recording_id)
    with db.read_session() as s:
        return [JobInfo.of(j) for j in s.scalars(q)]


def count_jobs(db, status: str | tuple[str, ...] = ACTIVE) -> int:
    from sqlalchemy import func

    with db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(Job).where(
            Job.status.in_((status,) if isinstance(status, str) else status))) or 0)


# ----------------------------------------------------------------------------------------------- worker side


def claim_next(db, worker_id: str) -> JobInfo | None:
    """Take the oldest queued job for ``worker_id`` (status ``running``, attempts + 1); None when the queue is
    empty. Safe with any number of workers on SQLite and PostgreSQL (see the module docstring)."""
    for _ in range(5):  # a lost race (row count 0) tries the next candidate; more than a few means a busy queue
        now = utcnow()
        with db.session() as s:
            q = select(Job.id).where(Job.status == "queued").order_by(Job.created_at, Job.id).limit(1)
            if not db.is_sqlite:
                q = q.with_for_update(skip_locked=True)
            job_id = s.scalar(q)
            if job_id is None:
                return None
            claimed = s.execute(
                update(Job).where(Job.id == job_id, Job.status == "queued")
                .values(status="running", claimed_by=worker_id, heartbeat_at=now, started_at=now,
                        attempts=Job.attempts + 1, progress=0.0, stage=None, error=None,
                        detail=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed == 1:
                job = s.get(Job, job_id)
                s.refresh(job)
                return JobInfo.of(job)
    return None


def _owned(job_id: int, worker_id: str):
    return (Job.id == int(job_id), Job.claimed_by == worker_id, Job.status == "running")


def heartbeat(db, job_id: int, worker_id: str) -> bool:
    """Tell the others that ``worker_id`` still works on ``job_id``; False when the job is no longer its own
    (it was reclaimed after a stall: the worker should stop caring about it)."""
    with db.session() as s:
        return s.execute(update(Job).where(*_owned(job_id, worker_id)).values(heartbeat_at=utcnow())
                         .execution_options(synchronize_session=False)).rowcount == 1


def set_progress(db, job_id: int, worker_id: str, stage: str | None, progress: float) -> bool:
    """Record the current stage and overall progress (0-1); also counts as a heartbeat."""
    p = min(max(float(progress), 0.0), 1.0)
    with db.session() as s:
        return s.execute(update(Job).where(*_owned(job_id, worker_id))
                         .values(stage=stage, progress=p, heartbeat_at=utcnow())
                         .execution_options(synchronize_session=False)).rowcount == 1


def finish(db, job_id: int, worker_id: str) -> bool:
    """Mark the job done (only if ``worker_id`` still owns it)."""
    now = utcnow()
    with db.session() as s:
        return s.execute(update(Job).where(*_owned(job_id, worker_id))
                         .values(status="done", progress=1.0, stage=None, error=None, detail=None, finished_at=now,
                                 heartbeat_at=now)
                         .execution_options(synchronize_session=False)).rowcount == 1


def fail(db, job_id: int, worker_id: str, error: str, detail: str | None = None) -> bool:
    """Mark the job failed with ``error`` (the clinician-readable message), if ``worker_id`` still owns it.

    ``detail``: the traceback of an internal error, kept for administrators (its last 20,000 characters).
    """
    now = utcnow()
    with db.session() as s:
        return s.execute(update(Job).where(*_owned(job_id, worker_id))
                         .values(status="failed", error=(error or "unknown error")[:_MAX_ERROR_CHARS],
                                 detail=detail[-20000:] if detail else None,
                                 finished_at=now, heartbeat_at=now)
                         .execution_options(synchronize_session=False)).rowcount == 1


def release(db, job_id: int, worker_id: str) -> bool:
    """Give a claimed job back to the queue at once (a worker stopped with Ctrl-C / SIGTERM); the claim still
    counts in ``attempts``."""
    with db.session() as s:
        return s.execute(update(Job).where(*_owned(job_id, worker_id))
                         .values(status="queued", claimed_by=None, stage=None, progress=0.0, heartbeat_at=None,
                                 started_at=None)
                         .execution_options(synchronize_session=False)).rowcount == 1


def interrupted_message(attempts: int) -> str:
    return (f"The analysis was interrupted {attempts} times: the worker processing it stopped responding (the "
            "computer was restarted, ran out of memory, or the worker was stopped). It was not tried again. "
            "Start the analysis again; if it keeps failing, try a shorter or lower-resolution video.")


def reclaim_stale(db, stale_s: float = DEFAULT_STALE_S, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> list[JobInfo]:
    """Put ``running`` jobs whose heartbeat is older than ``stale_s`` back in the queue, or fail them (and their
    recording) after ``max_attempts`` claims. Returns the jobs changed, as they are now."""
    cutoff = utcnow() - timedelta(seconds=float(stale_s))
    changed: list[JobInfo] = []
    with db.session() as s:
        q = select(Job).where(Job.status == "running", Job.heartbeat_at < cutoff).order_by(Job.id)
        if not db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        for job in list(s.scalars(q)):
            guard = (Job.id == job.id, Job.status == "running", Job.claimed_by == job.claimed_by,
                     Job.heartbeat_at == job.heartbeat_at)  # a heartbeat that just arrived wins
            if job.attempts >= max_attempts:
                msg = interrupted_message(job.attempts)
                values = dict(status="failed", error=msg, finished_at=utcnow())
            else:
                values = dict(status="queued", claimed_by=None, stage=None, progress=0.0, heartbeat_at=None,
                              started_at=None)
            n = s.execute(update(Job).where(*guard).values(**values)
                          .execution_options(synchronize_session=False)).rowcount
            if n != 1:
                continue
            if values["status"] == "failed":
                s.execute(update(Recording).where(Recording.id == job.recording_id, Recording.status != "done")
                          .values(status="failed", error=values["error"])
                          .execution_options(synchronize_session=False))
            s.refresh(job)
            changed.append(JobInfo.of(job))
    return changed


# ------------------------------------------------------------------------------------------- worker registry


def register_worker(db, worker_id: str, kind: str = "cli", *, forget_older_than_s: float = 24 * 3600) -> None:
    """Announce a worker (and forget the rows of workers silent for a day: they were killed, not stopped)."""
    now = utcnow()
    with db.session() as s:
        s.execute(delete(JobWorker).where(JobWorker.heartbeat_at < now - timedelta(seconds=forget_older_than_s)))
        row = s.get(JobWorker, worker_id)
        if row is None:
            s.add(JobWorker(id=worker_id, host=socket.gethostname()[:200], pid=os.getpid(), kind=kind,
                            started_at=now, heartbeat_at=now))
        else:
            row.heartbeat_at = now


def worker_heartbeat(db, worker_id: str) -> None:
    with db.session() as s:
        n = s.execute(update(JobWorker).where(JobWorker.id == worker_id).values(heartbeat_at=utcnow())
                      .execution_options(synchronize_session=False)).rowcount
    if n == 0:  # its row was forgotten (a long pause): announce it again
        register_worker(db, worker_id)


def unregister_worker(db, worker_id: str) -> None:
    with db.session() as s:
        s.execute(delete(JobWorker).where(JobWorker.id == worker_id))


def live_workers(db, fresh_s: float = DEFAULT_STALE_S, kind: str | None = None) -> list[str]:
    """Ids of the workers that heart-beat within ``fresh_s`` seconds (optionally of one ``kind``)."""
    q = select(JobWorker.id).where(JobWorker.heartbeat_at >= utcnow() - timedelta(seconds=float(fresh_s)))
    if kind is not None:
        q = q.where(JobWorker.kind == kind)
    with db.read_session() as s:
        return list(s.scalars(q))
