"""Work running in the background while the page stays responsive.

Streamlit reruns the page script on every interaction, so a long task cannot run inside it.

* **Video analyses** are rows of the database's job table (:mod:`gaitscope.db.jobs`): the upload page enqueues
  one (:func:`start_analysis_job`) and polls the row (:func:`analysis_job`); ``gaitscope worker`` processes run
  them, and when no worker is alive the dashboard starts its own worker thread (:func:`ensure_worker`). The
  queue survives a restart of the dashboard, several workers can share it, and a killed worker's job is
  taken over.
* **Short helper tasks** of one page (rendering an overlay video) stay in-process: :func:`start_job` runs them
  in a daemon thread and writes progress into a :class:`JobState`; the registry is a module-level dict, which
  lives as long as the server process. Progress is written under a lock because the task calls back from its
  own thread; one task runs at a time per server (a semaphore) to keep the 2 CPU cores for the pipeline.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable

from gaitscope.errors import GaitscopeError

_REGISTRY: dict[str, "JobState"] = {}
_REGISTRY_LOCK = threading.Lock()
_RUN_SLOT = threading.Semaphore(1)


@dataclass
class JobState:
    """What the page shows about one analysis. Read it through :meth:`snapshot` (a consistent copy)."""

    id: str
    label: str
    stages: tuple[str, ...]
    status: str = "queued"  # queued, running, done, failed
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)
    current_stage: str = ""
    error: str = ""
    detail: str = ""  # developer detail (traceback) for internal errors, shown in an expander
    analysis_id: int | None = None
    recording_id: int | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self.progress[stage] = (int(done), max(int(total), 1))
            self.current_stage = stage
            if self.status == "queued":
                self.status = "running"

    def stage_fraction(self, stage: str) -> float:
        done, total = self.progress.get(stage, (0, 1))
        return min(max(done / total, 0.0), 1.0)

    def overall_fraction(self) -> float:
        if self.status == "done":
            return 1.0
        return sum(self.stage_fraction(s) for s in self.stages) / max(len(self.stages), 1)

    def snapshot(self) -> "JobState":
        with self._lock:
            return JobState(self.id, self.label, self.stages, self.status, dict(self.progress), self.current_stage,
                            self.error, self.detail, self.analysis_id, self.recording_id, self.started_at,
                            self.finished_at)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def get_job(job_id: str | None) -> JobState | None:
    with _REGISTRY_LOCK:
        return _REGISTRY.get(job_id or "")


def start_job(label: str, stages: tuple[str, ...], work: Callable[[Callable[[str, int, int], None]], object],
              on_result: Callable[[JobState, object], None] | None = None) -> JobState:
    """Run ``work(progress)`` in a daemon thread; ``on_result(job, result)`` fills ids once it returns.

    A :class:`GaitscopeError` becomes ``job.error = str(error)`` (the clinician's message); anything else is an
    internal error whose traceback goes to ``job.detail``.
    """
    job = JobState(id=uuid.uuid4().hex, label=label, stages=stages)
    with _REGISTRY_LOCK:
        _REGISTRY[job.id] = job

    def run() -> None:
        with _RUN_SLOT:
            with job._lock:
                job.status = "running"
            try:
                result = work(job.update)
                if on_result is not None:
                    on_result(job, result)
                with job._lock:
                    job.status = "done"
            except GaitscopeError as exc:
                with job._lock:
                    job.status, job.error = "failed", str(exc)
            except Exception as exc:  # a bug: keep the traceback for developers, a plain sentence for the user
                with job._lock:
                    job.status = "failed"
                    job.error = f"Internal error ({type(exc).__name__}): {exc}. The stored data was not changed."
                    job.detail = traceback.format_exc()
            finally:
                with job._lock:
                    job.finished_at = time.time()

    threading.Thread(target=run, name=f"gaitscope-job-{job.id[:8]}", daemon=True).start()
    return job


def checkpoint_override() -> str | None:
    """``$GAITSCOPE_CHECKPOINT``: a lifter checkpoint the dashboard uses instead of the bundled one."""
    from gaitscope.settings import settings

    return settings().checkpoint


def _analysis_worker_fresh_s() -> float:
    """How recent a worker's heartbeat must be for the dashboard to leave a queued job to it."""
    from gaitscope.settings import settings

    return settings().worker_fresh_s


_FALLBACK: dict[str, threading.Thread] = {}
_FALLBACK_LOCK = threading.Lock()
#: seconds the dashboard's own worker waits for more jobs before its thread ends
FALLBACK_IDLE_EXIT_S = 30.0


def ensure_worker(db_url: str) -> bool:
    """Make sure someone will process the queue: True when this call started the dashboard's own worker.

    Nothing is started while a ``gaitscope worker`` (or this server's worker thread) heart-beat within
    :func:`_analysis_worker_fresh_s`. Otherwise ONE worker thread per server process is started; it drains the
    queue with the same claim protocol as ``gaitscope worker`` (so it never collides with one started later) and
    ends after :data:`FALLBACK_IDLE_EXIT_S` idle seconds. The page calls this on every poll of a queued job, so a
    job enqueued while that thread was just ending is still picked up.

    Why a thread and not a ``gaitscope worker --once`` subprocess: the thread ends with the server (a stopped
    dashboard leaves no orphan process burning the workstation's two cores), inherits the server's settings
    without re-reading them (database URL, ``$GAITSCOPE_CHECKPOINT``, uploads folder), and needs no
    ``gaitscope`` executable on the PATH. The heavy work runs outside the GIL anyway (MediaPipe's C++ graph, or
    its own processes for long videos; torch's kernels), so the page stays responsive, as it did with the
    previous in-process daemon thread.
    Installations with more load run ``gaitscope worker`` processes and this fallback then never starts.
    """
    from gaitscope.db import jobs as db_jobs
    from gaitscope.ui.data import database

    with _FALLBACK_LOCK:
        thread = _FALLBACK.get(db_url)
        if thread is not None and thread.is_alive():
            return False
        if db_jobs.live_workers(database(db_url), _analysis_worker_fresh_s()):
            return False
        from gaitscope.pipeline.worker import Worker
        from gaitscope.settings import settings

        worker = Worker(db_url, kind="app", poll_s=1.0, stale_s=settings().stale_s)
        worker.register()  # visible at once: a second server process does not start its own as well

        def run() -> None:
            try:
                worker.run(idle_exit_s=FALLBACK_IDLE_EXIT_S)
            except Exception:  # noqa: BLE001 - the next poll of the page starts a new one
                traceback.print_exc()

        thread = threading.Thread(target=run, name="gaitscope-app-worker", daemon=True)
        _FALLBACK[db_url] = thread
        thread.start()
        return True


def _job_label(options: dict) -> str:
    return f"{options.get('original_name') or Path(str(options.get('video_path', ''))).name} " \
           f"({options.get('patient_code') or 'UNASSIGNED'})"


def analysis_job(job_id: int | str | None, db_url: str) -> JobState | None:
    """The analysis job ``job_id`` as the page shows it, read from the job table (None when unknown).

    The row holds the current stage and the overall fraction; the per-stage bars follow from them because the
    worker computes the fraction as (index of stage + fraction within it) / number of stages.
    """
    from gaitscope.db import jobs as db_jobs
    from gaitscope.db import latest_analysis
    from gaitscope.pipeline.steps import STAGES
    from gaitscope.ui.data import database

    try:
        row = db_jobs.get_job(database(db_url), int(job_id)) if job_id not in (None, "") else None
    except (TypeError, ValueError):
        return None
    if row is None:
        return None
    stages = tuple(STAGES)
    overall = 1.0 if row.status == "done" else row.progress
    progress = {}
    for i, stage in enumerate(stages):
        frac = min(max(overall * len(stages) - i, 0.0), 1.0)
        progress[stage] = (round(frac * 1000), 1000)
    state = JobState(id=str(row.id), label=_job_label(row.options), stages=stages, status=row.status,
                     progress=progress, current_stage=row.stage or "", error=row.error or "",
                     detail=row.detail or "", recording_id=row.recording_id)
    if row.status == "running" and not row.stage:
        state.current_stage = stages[0]
    if row.status == "done":
        with database(db_url).read_session() as s:
            a = latest_analysis(s, row.recording_id)
            state.analysis_id = int(a.id) if a is not None else None
    if row.created_at is not None:
        state.started_at = row.created_at.timestamp()
    if row.finished_at is not None:
        state.finished_at = row.finished_at.timestamp()
    return state


def start_analysis_job(video_path: Path, *, db_url: str, patient_code: str, visit_date: date,
                       height_cm: float | None, original_name: str, user=None, recording_id: int | None = None,
                       out_dir: Path | None = None, normative: str | None = None,
                       person: str | None = None) -> JobState:
    """Queue the analysis of an uploaded video (a row in the job table) and make sure a worker will run it.

    The upload page registers the recording first (through :func:`gaitscope.db.access.register_upload`, which
    checks the clinician's site) and passes ``recording_id``; without it (the demo sample the application
    analyses by itself) the recording is registered here. A ``gaitscope worker`` — or, when none is alive, the
    dashboard's own worker thread (:func:`ensure_worker`) — runs the pipeline, which finds that recording by the
    video's content hash and stores the analysis on it. ``user`` (the signed-in
    :class:`~gaitscope.db.auth.CurrentUser`; None for the demo sample) is named in the audit entries of the
    outcome. ``person``: the person picked on the people frame (``"2"``), None for the detector's choice. Returns
    the job as :func:`analysis_job` shows it; poll that with the returned ``id``.
    """
    from gaitscope.db import jobs as db_jobs
    from gaitscope.pipeline.steps import AnalysisOptions
    from gaitscope.pipeline.worker import job_options
    from gaitscope.ui import data

    # validates the height now, in the page, rather than as a failed job; the lifter is the bundled one unless
    # the lab configured another checkpoint (an official MotionBERT file, its own fine-tuned model)
    AnalysisOptions(height_cm=height_cm, person=person)
    db = data.database(db_url)
    if recording_id is None:
        from gaitscope.io.video import probe_video
        from gaitscope.pipeline import storage

        recording_id = storage.register(db, probe_video(str(video_path)), patient_code=patient_code,
                                        visit_date=visit_date, original_name=original_name)
    actor = user.username if user is not None else data.SYSTEM_ACTOR
    options = job_options(video_path, patient_code=patient_code, visit_date=visit_date, height_cm=height_cm,
                          original_name=original_name, checkpoint=checkpoint_override(), out_dir=out_dir,
                          actor=actor, normative=normative, person=person)
    row = db_jobs.enqueue(db, recording_id, options)
    ensure_worker(db_url)
    return analysis_job(row.id, db_url)


def wait(job: JobState, timeout_s: float = 60.0, poll_s: float = 0.05) -> JobState:
    """Block until ``job`` finishes (tests and scripts); returns a snapshot."""
    end = time.time() + timeout_s
    while time.time() < end and not job.finished:
        time.sleep(poll_s)
    return job.snapshot()
