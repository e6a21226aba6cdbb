"""Playback of stored recordings in the browser: the original when browsers play it, else its H.264/MP4 copy,
written once in the background (:mod:`gaitscope.io.playable` says why and how)."""

from __future__ import annotations

import threading
from pathlib import Path

from gaitscope.ui import jobs
from gaitscope.ui.uploads import uploads_dir

STAGE = "playable"
_JOBS: dict[str, str] = {}  # content hash -> id of the job writing its copy (one job per recording and server)
_LOCK = threading.Lock()


def playable_dir() -> Path:
    return uploads_dir() / "playable"


def _lower_priority() -> None:
    """Nice this thread (and the encoder threads it starts) by 10 on Linux; elsewhere nothing."""
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


def playable_or_job(video: Path, sha256: str) -> Path | jobs.JobState:
    """The file to give ``st.video`` for ``video``, or the background job that is writing it (started here when
    none runs). A failed job is returned as it is, so the page can show its message."""
    from gaitscope.io.playable import playable_path, playable_video, write_playable_copy

    ready = playable_video(video, playable_dir(), sha256)
    if ready is not None:
        return ready
    with _LOCK:
        job = jobs.get_job(_JOBS.get(sha256))
        if job is None or (job.finished and job.status != "failed"):
            out = playable_path(playable_dir(), sha256)

            def work(progress):
                _lower_priority()  # a running analysis on the same two cores comes first
                return write_playable_copy(video, out, progress=lambda d, t: progress(STAGE, d, t))

            job = jobs.start_job(f"playable {sha256[:12]}", (STAGE,), work)
            _JOBS[sha256] = job.id
    return job


def prepare_playable(video: Path, sha256: str) -> None:
    """Start writing the playable copy of a fresh upload right away (nothing happens when it plays as it is)."""
    playable_or_job(video, sha256)
