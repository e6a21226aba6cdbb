"""``gaitscope worker``: analyze queued uploads outside the web process.

A worker loops: put back the jobs of workers that stopped heart-beating (:func:`gaitscope.db.jobs.reclaim_stale`),
claim the oldest queued job (:func:`gaitscope.db.jobs.claim_next`, safe with any number of workers), run the
pipeline on it (:func:`gaitscope.pipeline.dispatch.analyze_file`: a video, or a motion-capture file by its
extension) and mark it done or failed with the clinician-readable error. While a job runs, a thread heart-beats the job row and the worker's own row, and the
pipeline's progress callback writes the stage and overall fraction to the job row (throttled: the dashboard polls
once a second, writing on every frame would only load the database).

Why the analysis leaves the web process: a minutes-long, CPU-bound pipeline inside Streamlit competes with the
page for the GIL and dies with the server; a worker can run on another machine, several can share a queue, and a
killed one leaves its job for the next (the heartbeat goes stale, the job is reclaimed).

Stopping (SIGTERM from systemd, Docker, Kubernetes; Ctrl-C): the worker exits with status 0 after giving the
running job back to the queue (:func:`gaitscope.db.jobs.release`), so another worker (or this one, restarted)
takes it at once. It does not finish the job first: an analysis takes minutes and service managers kill after a
short grace period (Docker 10 s, Kubernetes 30 s, systemd 90 s), so finishing would usually end in a SIGKILL that
leaves the job ``running`` until its heartbeat goes stale; nothing of the interrupted analysis is stored (the
pipeline stores everything in one transaction at its end), so releasing it loses only the work done so far.

The job's ``options`` (JSON) say what to analyze: ``video_path`` (required), ``patient_code``, ``visit_date``
(ISO), ``height_cm``, ``original_name``, ``checkpoint``, ``workers``, ``out_dir``, ``actor`` (named in the audit
log). :func:`job_options` builds them.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from gaitscope.errors import GaitscopeError, InvalidInputError

log = logging.getLogger(__name__)

#: progress(stage, done, total), as the pipeline calls it.
ProgressFn = Callable[[str, int, int], None]
#: runner(job, progress) -> analysis id (or None): does the work of one job; raising fails the job.
Runner = Callable[[Any, ProgressFn], "int | None"]

DEFAULT_POLL_S = 2.0
SYSTEM_ACTOR = "system:worker"


def job_options(video_path: str | Path, *, patient_code: str | None = None, visit_date: date | None = None,
                height_cm: float | None = None, original_name: str | None = None, checkpoint: str | None = None,
                workers: int | None = None, out_dir: str | Path | None = None,
                actor: str | None = None, normative: str | None = None, person: str | None = None) -> dict[str, Any]:
    """The JSON ``options`` of an analysis job (only what is set). ``normative``: the reference set chosen for
    this analysis (see :class:`~gaitscope.pipeline.steps.AnalysisOptions`); None = the configured default.
    ``person``: the person picked when several walk (``"2"`` or ``"x,y"``); None = the detector's choice."""
    opts: dict[str, Any] = {"video_path": str(video_path)}
    for key, value in (("patient_code", patient_code), ("height_cm", height_cm), ("original_name", original_name),
                       ("checkpoint", checkpoint), ("workers", workers), ("actor", actor),
                       ("normative", normative), ("person", person)):
        if value is not None:
            opts[key] = value
    if visit_date is not None:
        opts["visit_date"] = visit_date.isoformat()
    if out_dir is not None:
        opts["out_dir"] = str(out_dir)
    return opts


def pipeline_runner(db_url: str) -> Runner:
    """The real work: :func:`analyze_file` on the job's video or motion-capture file, stored in ``db_url``.

    The lifter of each checkpoint is loaded on the first job that needs it and kept (issue 24: a cold start --
    importing torch, building the model -- cost more than the 2D stage of a 10 s clip on two cores)."""

    lifters: dict[tuple, Any] = {}  # kept across jobs: a warm worker pays torch and the model load once

    def lifter_for(checkpoint: str | None) -> Any:
        from gaitscope.pipeline.batch import LazyLifter

        try:  # a checkpoint file replaced on disk is loaded again
            stamp = Path(checkpoint).stat().st_mtime_ns if checkpoint else None
        except OSError:
            stamp = None
        return lifters.setdefault((checkpoint, stamp), LazyLifter(checkpoint))

    def run(job, progress: ProgressFn) -> int | None:
        from gaitscope.pipeline.dispatch import analyze_file
        from gaitscope.pipeline.steps import AnalysisOptions

        o = job.options
        if not o.get("video_path"):
            raise InvalidInputError(f"Job {job.id} does not name a video to analyze.")
        path = Path(o["video_path"])
        if not path.is_file():
            raise InvalidInputError(f"The uploaded video of this analysis is no longer on the server ({path.name}).",
                                    "Upload the video again.")
        kwargs: dict[str, Any] = {"height_cm": o.get("height_cm"), "checkpoint": o.get("checkpoint")}
        if o.get("workers"):
            kwargs["workers"] = int(o["workers"])
        if o.get("normative"):
            kwargs["normative"] = str(o["normative"])
        if o.get("person"):
            kwargs["person"] = str(o["person"])
        result = analyze_file(  # a video, or a motion-capture file uploaded in the dashboard (by its extension)
            path, db_url=db_url, patient_code=o.get("patient_code"),
            visit_date=date.fromisoformat(o["visit_date"]) if o.get("visit_date") else None,
            options=AnalysisOptions(**kwargs), out_dir=o.get("out_dir"), progress=progress,
            original_name=o.get("original_name"), lifter=lifter_for(o.get("checkpoint")),
        )
        return result.analysis_id

    return run


class JobProgress:
    """The pipeline's progress callback for one job: (stage, done, total) -> job row, at most every ``every_s``
    seconds or when the stage changes. Overall progress = (index of stage + fraction within it) / number of
    stages, so the dashboard can draw one bar per stage from two columns."""

    def __init__(self, db, job_id: int, worker_id: str, stages: tuple[str, ...], every_s: float = 0.5) -> None:
        self.db, self.job_id, self.worker_id, self.stages, self.every_s = db, job_id, worker_id, stages, every_s
        self._last_write = 0.0
        self._last_stage: str | None = None
        self._fraction = 0.0
        self.writes = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage in self.stages:
            i = self.stages.index(stage)
            within = min(max(done / max(total, 1), 0.0), 1.0)
            self._fraction = max(self._fraction, (i + within) / len(self.stages))
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_write < self.every_s:
            return
        from gaitscope.db import jobs

        self._last_stage, self._last_write = stage, now
        self.writes += 1
        try:
            jobs.set_progress(self.db, self.job_id, self.worker_id, stage, self._fraction)
        except GaitscopeError as exc:  # a busy database must not fail the analysis itself
            log.warning("could not record the progress of job %s: %s", self.job_id, exc)


class _Heartbeat:
    """Heart-beats the job row and the worker row from a thread while a job runs."""

    def __init__(self, db, job_id: int, worker_id: str, every_s: float) -> None:
        self.db, self.job_id, self.worker_id, self.every_s = db, job_id, worker_id, every_s
        self._stop = threading.Event()
        self.lost = False  # the job was reclaimed by another worker: our outcome will not be recorded
        self._thread = threading.Thread(target=self._run, name=f"gaitscope-heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        from gaitscope.db import jobs

        while not self._stop.wait(self.every_s):
            try:
                if not jobs.heartbeat(self.db, self.job_id, self.worker_id):
                    self.lost = True
                jobs.worker_heartbeat(self.db, self.worker_id)
            except GaitscopeError as exc:
                log.warning("heartbeat of job %s failed: %s", self.job_id, exc)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class WorkerStopped(BaseException):
    """Raised in the worker's main thread by SIGTERM while a job runs: the job is released, the worker exits.

    A ``BaseException`` (like ``KeyboardInterrupt``) so no ``except Exception`` in the pipeline swallows it."""


def _user_message(exc: BaseException) -> str:
    if isinstance(exc, GaitscopeError):
        return str(exc)
    return f"Internal error ({type(exc).__name__}): {exc}. The stored data was not changed."


@dataclass
class Worker:
    """One worker: ``run_one()`` processes at most one job; ``run()`` loops.

    ``runner`` does the work of a job (default: the pipeline); tests pass a fake one. ``stale_s`` is how long a
    running job may go without a heartbeat before another worker takes it over; the heartbeat comes every
    ``stale_s / 4`` seconds so a busy machine has three chances before that.
    """

    db_url: str
    runner: Runner | None = None
    worker_id: str | None = None
    poll_s: float = DEFAULT_POLL_S
    stale_s: float = 120.0
    max_attempts: int = 3
    kind: str = "cli"
    progress_every_s: float = 0.5

    def __post_init__(self) -> None:
        from gaitscope.db import jobs
        from gaitscope.pipeline import storage

        if self.stale_s <= 0 or self.poll_s <= 0:
            raise InvalidInputError("--poll-s and --stale-s must be positive.")
        self.db = storage.open_db(self.db_url)
        self.worker_id = self.worker_id or jobs.new_worker_id(self.kind)
        self.runner = self.runner or pipeline_runner(self.db_url)
        self.processed = 0
        self._registered = False
        self._stop = threading.Event()
        self._in_job = False  # True only while the runner works on a claimed job

    def _stages(self) -> tuple[str, ...]:
        from gaitscope.pipeline.steps import STAGES

        return tuple(STAGES)

    def register(self) -> None:
        from gaitscope.db import jobs

        jobs.register_worker(self.db, self.worker_id, self.kind)
        self._registered = True

    def close(self) -> None:
        from gaitscope.db import jobs

        if self._registered:
            try:
                jobs.unregister_worker(self.db, self.worker_id)
            except GaitscopeError:
                pass
            self._registered = False
        self.db.dispose()

    def run_one(self):
        """Reclaim stale jobs, then claim and process one job; returns its final :class:`JobInfo` or None."""
        from gaitscope.db import jobs

        for j in jobs.reclaim_stale(self.db, self.stale_s, self.max_attempts):
            log.warning("job %s of a silent worker: %s", j.id, "requeued" if j.status == "queued" else "failed")
        job = jobs.claim_next(self.db, self.worker_id)
        if job is None:
            return None
        log.info("job %s claimed by %s (attempt %s)", job.id, self.worker_id, job.attempts)
        progress = JobProgress(self.db, job.id, self.worker_id, self._stages(), self.progress_every_s)
        actor = job.options.get("actor") or SYSTEM_ACTOR
        try:
            with _Heartbeat(self.db, job.id, self.worker_id, max(self.stale_s / 4.0, 0.05)):
                self._in_job = True
                try:
                    if self._stop.is_set():  # asked to stop between the claim and the start
                        raise WorkerStopped()
                    analysis_id = self.runner(job, progress)
                finally:
                    self._in_job = False
        except (KeyboardInterrupt, SystemExit, WorkerStopped):
            jobs.release(self.db, job.id, self.worker_id)  # another worker (or our next start) takes it
            log.warning("job %s released to the queue: the worker is stopping", job.id)
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure becomes the job's outcome
            if self._stop.is_set():  # a failure caused by the stop (detector processes killed with us)
                jobs.release(self.db, job.id, self.worker_id)
                log.warning("job %s released to the queue: the worker is stopping (%s)", job.id, exc)
                raise WorkerStopped() from exc
            message = _user_message(exc)
            detail = None
            if not isinstance(exc, GaitscopeError):
                detail = traceback.format_exc()
                log.error("job %s: internal error\n%s", job.id, detail)
            jobs.fail(self.db, job.id, self.worker_id, message, detail=detail)
            self._after(job, actor, "analysis_failed", {"error": message[:500]}, failed=message)
        else:
            jobs.finish(self.db, job.id, self.worker_id)
            self._after(job, actor, "analysis_stored", {"analysis": analysis_id})
        self.processed += 1
        return jobs.get_job(self.db, job.id)

    def request_stop(self, signum: int | None = None, frame=None) -> None:
        """Stop soon: at once when idle; a running job is interrupted and released (see the module docstring).

        Installed as the SIGTERM handler by ``gaitscope worker``; it raises :class:`WorkerStopped` only while
        the runner works, so a database write of the worker's own (claim, finish, audit) is never cut in two."""
        self._stop.set()
        if self._in_job:
            self._in_job = False  # a second signal while unwinding must not raise again
            raise WorkerStopped()

    def _after(self, job, actor: str, action: str, details: dict, failed: str | None = None) -> None:
        """Audit the outcome; a failure before the pipeline registered anything still marks the recording."""
        from gaitscope.db import audit_trail
        from gaitscope.db.models import Recording

        try:
            with self.db.session() as s:
                audit_trail.audit(s, actor, action, "recording", job.recording_id,
                                  {"job": job.id, "patient": job.options.get("patient_code"), **details})
                if failed is not None:
                    rec = s.get(Recording, job.recording_id)
                    if rec is not None and rec.status in ("pending", "processing"):
                        rec.status, rec.error = "failed", failed[:4000]
        except GaitscopeError as exc:  # the audit of an outcome must not hide the outcome itself
            log.warning("could not audit job %s: %s", job.id, exc)

    def run(self, *, once: bool = False, stop: threading.Event | None = None,
            idle_exit_s: float | None = None) -> int:
        """Process jobs until stopped. ``once``: until the queue is empty. ``idle_exit_s``: exit after that long
        with nothing to do (the dashboard's fallback worker). Returns the number of jobs processed."""
        from gaitscope.db import jobs

        stop = stop or self._stop
        self._stop = stop
        self.register()
        idle_since = time.monotonic()
        last_beat = 0.0
        try:
            while not stop.is_set():
                job = self.run_one()
                if job is not None:
                    idle_since = time.monotonic()
                    continue
                if once or (idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s):
                    break
                if time.monotonic() - last_beat >= self.stale_s / 4.0:
                    jobs.worker_heartbeat(self.db, self.worker_id)
                    last_beat = time.monotonic()
                stop.wait(self.poll_s)
        finally:
            self.close()
        return self.processed
