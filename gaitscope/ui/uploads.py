"""Receiving a video from the browser and registering it for a patient, with the clinician's rights checked.

The checks on the file itself (content sniffing, size and duration limits, a generated ``<uuid>.<ext>`` name,
no temporary file left behind) are :func:`gaitscope.io.uploads.staged_upload`; who may attach it to which
patient is :func:`gaitscope.db.access.register_upload`. The browser's file name is only ever shown back as text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from gaitscope.db.auth import CurrentUser
from gaitscope.errors import DuplicateError, InvalidInputError

#: Extensions offered in the file picker (a convenience only: the content decides).
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "wmv", "flv", "3gp")


def max_upload_bytes() -> int:
    """``$GAITSCOPE_MAX_UPLOAD_MB`` megabytes (default 500; a value that is not a number is a clear error)."""
    from gaitscope.settings import settings

    return int(settings().max_upload_mb * 1024 * 1024)


def uploads_dir() -> Path:
    """``$GAITSCOPE_UPLOAD_DIR`` or ``<gaitscope home>/uploads``, created on first use."""
    from gaitscope.settings import settings

    env = settings().upload_dir
    if env:
        path = env
    else:
        from gaitscope.db.engine import gaitscope_home

        path = gaitscope_home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ReceivedUpload:
    """An upload stored under its generated name and registered (visit + recording) for a patient."""

    path: Path
    storage_name: str
    original_name: str  # sanitised browser file name: display only, never a path
    sha256: str
    size_bytes: int
    recording_id: int
    visit_id: int


def _register(s, user: CurrentUser, visit_id: int, noun: str, **recording) -> tuple[int, int]:
    """Register an upload as a recording of the visit and allow this user to analyze it: (recording, visit) ids.

    A duplicate is reported without the repository's message, which names the other recording's patient, who may
    be of another site."""
    from gaitscope.db import access

    try:
        rec = access.register_upload(s, user, visit_id, **recording)
    except DuplicateError as exc:
        raise DuplicateError(f"This {noun} was uploaded before (a file with the same content exists).",
                             "Open the earlier recording from the patient's history instead.") from exc
    access.authorize_analysis(s, user, rec.id)
    return int(rec.id), int(visit_id)


def receive_upload(user: CurrentUser, stream: BinaryIO, original_name: str | None, *, patient_code: str,
                   visit_date: date | None = None, notes: str | None = None, size_bytes: int | None = None,
                   url: str | None = None, directory: Path | None = None,
                   max_bytes: int | None = None) -> ReceivedUpload:
    """Check, store and register an uploaded walking video for ``patient_code`` as ``user``.

    In one database transaction: the visit is created and the recording registered and the analysis request
    audited, all through :mod:`gaitscope.db.access` (clinicians of the patient's site only). The file is moved
    to its final name inside that transaction and deleted again if the transaction fails, so neither an orphan
    file nor a recording without a file remains. Raises :class:`~gaitscope.errors.AccessDeniedError`,
    :class:`~gaitscope.errors.VideoError` (not a video, does not decode, too long),
    :class:`InvalidInputError` (too large) or :class:`DuplicateError` (the same video was uploaded before).
    """
    from gaitscope.db import access
    from gaitscope.io.uploads import UploadLimits, staged_upload
    from gaitscope.ui import data
    from gaitscope.ui.data import database

    limit = max_upload_bytes() if max_bytes is None else max_bytes
    if size_bytes is not None and size_bytes > limit:  # the declared size: refuse before reading anything
        raise InvalidInputError(f"The file is {size_bytes / 1024 / 1024:.0f} MB; the limit is "
                                f"{limit / 1024 / 1024:.0f} MB.",
                                "Trim the video to the walking part or lower its resolution, then upload again.")
    directory = directory or uploads_dir()
    db = database(url)
    # the role check first: a researcher's or viewer's bytes are never written to disk
    data.require_role(user, ("clinician",), "upload recordings")
    with db.read_session() as s:
        access.list_recordings(s, user, patient_code)  # the patient must be of the clinician's site
    with staged_upload(stream, original_name, directory, UploadLimits(max_bytes=limit)) as staged:
        stored = None
        try:
            with db.session() as s:
                visit = access.create_visit(s, user, patient_code, visit_date, notes or None)
                stored = staged.commit()
                info = stored.info
                ids = _register(s, user, visit.id, "video", storage_name=stored.storage_name,
                                sha256=stored.sha256, original_name=stored.original_name, fps=info.fps,
                                duration_s=info.duration_s, width=info.width, height=info.height,
                                size_bytes=stored.size_bytes)
        except BaseException:
            if stored is not None:
                stored.path.unlink(missing_ok=True)
            raise
    return ReceivedUpload(path=stored.path, storage_name=stored.storage_name, original_name=stored.original_name,
                          sha256=stored.sha256, size_bytes=stored.size_bytes, recording_id=ids[0], visit_id=ids[1])


def receive_mocap_upload(user: CurrentUser, stream: BinaryIO, original_name: str | None, *, patient_code: str,
                         visit_date: date | None = None, notes: str | None = None, size_bytes: int | None = None,
                         url: str | None = None, directory: Path | None = None,
                         max_bytes: int | None = None) -> ReceivedUpload:
    """Check, store and register a motion-capture file (C3D, TRC, BVH) for ``patient_code`` as ``user``.

    The same rules as :func:`receive_upload` for videos (clinicians of the patient's site, size limit, a
    generated ``<uuid>.<ext>`` name, one transaction, no file left behind on failure); the content check is the
    motion-capture reader itself (:func:`gaitscope.io.mocap.load_motion`), which raises
    :class:`~gaitscope.errors.MocapError` with a clinician's message for a file it cannot read. The recording is
    registered as ``kind="mocap"``; the analysis job then takes the marker path of the pipeline (no 2D/3D stage).
    """
    import hashlib
    import shutil
    import tempfile
    import uuid

    from gaitscope.db import access
    from gaitscope.io.mocap import load_motion
    from gaitscope.io.uploads import sanitize_filename
    from gaitscope.pipeline.mocap import MOCAP_EXTENSIONS
    from gaitscope.ui import data
    from gaitscope.ui.data import database

    shown = sanitize_filename(original_name)
    suffix = Path(shown).suffix.lower()
    if suffix not in MOCAP_EXTENSIONS:
        raise InvalidInputError(f"'{shown}' is not a motion-capture file gaitscope reads (C3D, TRC, BVH).")
    limit = max_upload_bytes() if max_bytes is None else max_bytes
    if size_bytes is not None and size_bytes > limit:
        raise InvalidInputError(f"The file is {size_bytes / 1024 / 1024:.0f} MB; the limit is "
                                f"{limit / 1024 / 1024:.0f} MB.")
    directory = directory or uploads_dir()
    directory.mkdir(parents=True, exist_ok=True)
    db = database(url)
    data.require_role(user, ("clinician",), "upload recordings")
    with db.read_session() as s:
        access.list_recordings(s, user, patient_code)  # the patient must be of the clinician's site
    fd, tmp_name = tempfile.mkstemp(prefix=".gaitscope-upload-", suffix=suffix, dir=directory)
    tmp = Path(tmp_name)
    target: Path | None = None
    try:
        with open(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        size = tmp.stat().st_size
        if size > limit:
            raise InvalidInputError(f"'{shown}' is larger than the {limit / 2**20:.0f} MB upload limit.")
        trial = load_motion(tmp)  # MocapError: not readable as motion capture; nothing registered
        motion = trial.motion
        sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
        with db.session() as s:
            visit = access.create_visit(s, user, patient_code, visit_date, notes or None)
            target = directory / f"{uuid.uuid4().hex}{suffix}"
            os.replace(tmp, target)
            ids = _register(s, user, visit.id, "file", storage_name=target.name, sha256=sha, original_name=shown,
                            fps=float(motion.fps), duration_s=motion.n_frames / float(motion.fps), width=None,
                            height=None, size_bytes=size, kind="mocap")
    except BaseException:
        if target is not None:
            target.unlink(missing_ok=True)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return ReceivedUpload(path=target, storage_name=target.name, original_name=shown, sha256=sha, size_bytes=size,
                          recording_id=ids[0], visit_id=ids[1])
