"""Turn SQLAlchemy/driver exceptions into :class:`gaitscope.errors.DatabaseError` with clinician words.

Constraint names come from :mod:`gaitscope.db.models`; SQLite and PostgreSQL report them differently
("CHECK constraint failed: ck_patient_height_range" vs 'violates check constraint "ck_patient_height_range"';
SQLite names a UNIQUE violation by its columns, "UNIQUE constraint failed: patient.code"), so both spellings
are matched. The original exception is always chained (``raise ... from exc``) for developers.
"""

from __future__ import annotations

import re

from sqlalchemy import exc as sa_exc

from gaitscope.errors import DatabaseError, DuplicateError

# constraint name -> message. Keys are the *names* in models.py (after the naming convention).
_CHECK_MESSAGES: dict[str, str] = {
    "ck_patient_height_range": "Height must be between 30 and 250 cm.",
    "ck_patient_birth_year_range": "Birth year must be between 1900 and the current year.",
    "ck_patient_updrs_gait_range": "The UPDRS gait item (3.10) must be a whole score from 0 to 4.",
    "ck_patient_updrs_iii_range": "The MDS-UPDRS part III total must be between 0 and 132.",
    "ck_patient_sex_values": "Sex must be F, M or X (other / not stated).",
    "ck_patient_code_not_empty": "The patient code must not be empty.",
    "ck_recording_fps_positive": "The recording's frame rate must be positive.",
    "ck_recording_kind_values": "Recording kind must be video, mocap or keypoints.",
    "ck_recording_status_values": "Recording status must be pending, processing, done or failed.",
    "ck_recording_sha256_length": "The recording's content hash must be a 64-character SHA-256.",
    "ck_recording_duration_nonneg": "The recording's duration cannot be negative.",
    "ck_recording_width_positive": "The video width must be positive.",
    "ck_recording_height_positive": "The video height must be positive.",
    "ck_recording_size_nonneg": "The file size cannot be negative.",
    "ck_analysis_fps_positive": "The analysis frame rate must be positive.",
    "ck_prediction_confidence_range": "A prediction probability must be between 0 and 1.",
    "ck_gait_event_quality_range": "A gait event's quality must be between 0 and 1.",
    "ck_job_progress_range": "Job progress must be between 0 and 1.",
    "ck_app_user_role_values": "Role must be admin, clinician, researcher or viewer.",
}

_UNIQUE_MESSAGES: dict[str, str] = {
    "uq_patient_code": "A patient with this code already exists; choose another code or open the existing patient.",
    "patient.code": "A patient with this code already exists; choose another code or open the existing patient.",
    "uq_recording_visit_id_sha256": "This file was already uploaded for this visit (same content); open the existing "
                                    "recording instead.",
    "recording.visit_id, recording.sha256": "This file was already uploaded for this visit (same content); open the "
                                            "existing recording instead.",
    "uq_app_user_username": "This user name is already taken.",
    "app_user.username": "This user name is already taken.",
    "uq_patient_identity_hospital_number": "Another patient already has this hospital number.",
    "patient_identity.hospital_number": "Another patient already has this hospital number.",
    "uq_model_registry_name_version": "A classifier with this name and version is already registered.",
    "model_registry.name, model_registry.version": "A classifier with this name and version is already registered.",
    "uq_analysis_inputs": "This recording was already analyzed with these inputs (model, versions, height, reference).",
    "analysis.recording_id, analysis.inputs_key": "This recording was already analyzed with these inputs (model, "
                                                  "versions, height, reference).",
}


def _text(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc)


def translate(exc: BaseException, context: str = "") -> DatabaseError:
    """Return the :class:`DatabaseError` to raise (``from exc``) for a SQLAlchemy exception."""
    if isinstance(exc, DatabaseError):
        return exc
    prefix = f"{context}: " if context else ""
    text = _text(exc)
    if isinstance(exc, sa_exc.IntegrityError):
        low = text.lower()
        if "unique" in low or "duplicate key" in low:
            for key, msg in _UNIQUE_MESSAGES.items():
                if key in text:
                    return DuplicateError(prefix + msg)
            return DuplicateError(prefix + "A record with the same unique key already exists.")
        if "check" in low:
            for key, msg in _CHECK_MESSAGES.items():
                if key in text:
                    return DatabaseError(prefix + msg)
            m = re.search(r"(ck_[a-z0-9_]+)", text)
            name = m.group(1) if m else "unknown"
            return DatabaseError(prefix + f"A value is outside its allowed range (rule {name}).")
        if "foreign key" in low:
            return DatabaseError(
                prefix + "The record refers to something that does not exist (or is still referenced).",
                hint="Reload the page; the patient, visit or recording may have been deleted.",
            )
        if "not null" in low or "null value" in low:
            return DatabaseError(prefix + "A required value is missing.")
        return DatabaseError(prefix + "The database rejected the change (integrity rule).")
    if isinstance(exc, sa_exc.DataError):
        return DatabaseError(prefix + "A value is too long or of the wrong type for the database.")
    if isinstance(exc, sa_exc.OperationalError):
        low = text.lower()
        if "locked" in low or "busy" in low:
            return DatabaseError(
                prefix + "The database is busy with another writer.", hint="Try again in a few seconds."
            )
        return DatabaseError(
            prefix + "Cannot reach or use the database.",
            hint="Check the database URL (--db / GAITSCOPE_DB_URL) and that the server is running.",
        )
    return DatabaseError(prefix + f"Database error ({type(exc).__name__}).")
