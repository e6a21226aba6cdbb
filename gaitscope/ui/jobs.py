"""Analyses running in the background while the page stays responsive.

Streamlit reruns the page script on every interaction, so a long analysis cannot run inside it. A job runs the
pipeline in a daemon thread and writes its progress into a :class:`JobState` the page polls; the registry is a
module-level dict, which lives as long as the server process (module objects are shared by all reruns and
sessions). Progress is written under a lock because the pipeline calls back from its own thread.

One job at a time per server is enough for a clinic workstation and keeps the 2 CPU cores for the pipeline
itself; a second request is queued behind the first (a semaphore), not rejected.
"""

from __future__ import annotations

import os
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
    return os.environ.get("GAITSCOPE_CHECKPOINT") or None


def start_analysis_job(video_path: Path, *, db_url: str, patient_code: str, visit_date: date,
                       height_cm: float | None, original_name: str, user=None, recording_id: int | None = None,
                       out_dir: Path | None = None) -> JobState:
    """Analyse an uploaded video with the pipeline and store it.

    The upload page registers the recording first (through :func:`gaitscope.db.access.register_upload`, which
    checks the clinician's site); the pipeline then finds that recording by the video's content hash and stores
    the analysis on it. ``user`` (the signed-in :class:`~gaitscope.db.auth.CurrentUser`; None for the demo
    sample the application analyses by itself) is named in the audit entries of the outcome.
    """
    from gaitscope.platform.pipeline import STAGES, AnalysisOptions, analyze_video

    # validates the height before the thread starts; the lifter is the bundled one unless the lab configured
    # another checkpoint (an official MotionBERT file, its own fine-tuned model)
    options = AnalysisOptions(height_cm=height_cm, checkpoint=checkpoint_override())
    from gaitscope.ui import data

    actor = user.username if user is not None else data.SYSTEM_ACTOR

    def audit(action: str, rec_id: int | None, details: dict) -> None:
        try:
            data.audit_job(actor, action, rec_id, {"patient": patient_code, **details}, db_url)
        except GaitscopeError:  # the audit of an outcome must not hide the outcome itself
            pass

    def work(progress):
        try:
            result = analyze_video(video_path, db_url=db_url, patient_code=patient_code, visit_date=visit_date,
                                   options=options, out_dir=out_dir, progress=progress, original_name=original_name)
        except Exception as exc:
            audit("analysis_failed", recording_id, {"error": str(exc)[:500]})
            raise
        audit("analysis_stored", result.recording_id, {"analysis": result.analysis_id})
        return result

    def on_result(job: JobState, result) -> None:
        job.analysis_id = result.analysis_id
        job.recording_id = result.recording_id

    job = start_job(f"{original_name} ({patient_code})", tuple(STAGES), work, on_result)
    job.recording_id = recording_id
    return job


def wait(job: JobState, timeout_s: float = 60.0, poll_s: float = 0.05) -> JobState:
    """Block until ``job`` finishes (tests and scripts); returns a snapshot."""
    end = time.time() + timeout_s
    while time.time() < end and not job.finished:
        time.sleep(poll_s)
    return job.snapshot()
