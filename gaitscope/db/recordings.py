"""Recordings (one uploaded video or motion-capture file of a visit): register, find by content hash, read, and
mark their status. :func:`mark_recording_status` opens its own short transaction so that a failure can be recorded
after the analysis transaction was rolled back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db.models import (
    MAX_ORIGINAL_NAME,
    RECORDING_STATUSES,
    Patient,
    Recording,
    Visit,
)
from gaitscope.db.rows import _f, _flush
from gaitscope.errors import DatabaseError, DuplicateError, InvalidInputError

_MAX_ERROR_CHARS = 4000


def register_recording(
    s: Session,
    visit: Visit,
    *,
    sha256: str,
    original_name: str | None,
    kind: str,
    fps: float | None,
    duration_s: float | None,
    width: int | None,
    height: int | None,
    size_bytes: int | None,
) -> Recording:
    """Register an uploaded file (status ``pending``) for the patient of ``visit``.

    The same content (SHA-256) cannot be registered twice for one patient: :class:`DuplicateError` names the
    existing recording so the UI can open it instead. The same file for another patient is filed under that
    patient as its own recording (migration 0006): who a recording belongs to is what the clinician said.
    ``original_name`` longer than a file name can be is refused (:class:`InvalidInputError`).
    """
    sha256 = (sha256 or "").strip().lower()
    if original_name is not None and len(original_name) > MAX_ORIGINAL_NAME:
        raise InvalidInputError(f"The file name is {len(original_name)} characters long; {MAX_ORIGINAL_NAME} at most.",
                                "Rename the file to a shorter name.")
    existing = find_recording_by_hash(s, sha256, patient_id=visit.patient_id)
    if existing is not None:
        v = s.get(Visit, existing.visit_id)
        who = s.get(Patient, v.patient_id).code if v is not None else "?"
        raise DuplicateError(
            f"This file was already uploaded as recording {existing.id} (patient {who}, "
            f"visit {v.visit_date if v else '?'}, file {existing.original_name!r}).",
            hint="Open the existing recording instead of uploading it again.",
        )
    r = Recording(
        visit_id=visit.id,
        sha256=sha256,
        original_name=original_name,
        kind=kind,
        fps=_f(fps),
        duration_s=_f(duration_s),
        width=width,
        height=height,
        size_bytes=size_bytes,
        status="pending",
    )
    _flush(s, [r], f"Recording {original_name or sha256[:12]}")
    return r


def find_recording_by_hash(s: Session, sha256: str, *, patient_id: int | None = None) -> Recording | None:
    """The recording of this content for the patient ``patient_id`` (the first one registered), or with no
    patient given the first recording of this content whoever it belongs to."""
    q = select(Recording).where(Recording.sha256 == sha256.strip().lower())
    if patient_id is not None:
        q = q.join(Visit, Visit.id == Recording.visit_id).where(Visit.patient_id == patient_id)
    return s.scalars(q.order_by(Recording.id).limit(1)).first()


def get_recording(s: Session, recording_id: int) -> Recording | None:
    return s.get(Recording, recording_id)


def mark_recording_status(db: Any, recording_id: int, status: str, error: str | None = None) -> None:
    """Set a recording's status in its own short transaction (``db`` is a :class:`~gaitscope.db.Database`).

    Used by the pipeline around an analysis: a failure is recorded even when the analysis transaction was
    rolled back. ``error`` (the user-facing message) is kept for ``failed`` and cleared otherwise.
    """
    if status not in RECORDING_STATUSES:
        raise DatabaseError(f"Unknown recording status {status!r}; expected one of {', '.join(RECORDING_STATUSES)}.")
    with db.session() as s:
        rec = s.get(Recording, recording_id)
        if rec is None:
            raise DatabaseError(f"Recording {recording_id} does not exist (it may have been deleted).")
        rec.status = status
        rec.error = (error or "unknown error")[:_MAX_ERROR_CHARS] if status == "failed" else None
