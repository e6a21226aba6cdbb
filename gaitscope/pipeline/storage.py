"""The pipeline's door to the database: register a recording, save a finished analysis, record a failure.

Kept apart from ``pipeline.py`` so the stage order reads without SQL in the way. Saving is one transaction
(``gaitscope.db.analysis_records.save_analysis``); a failure is recorded in its own short transaction so it survives
the rollback of the failed work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gaitscope.records import VideoInfo

#: Where a recording is filed when no patient code is given.
UNASSIGNED = "UNASSIGNED"


@dataclass(frozen=True)
class StoredAnalysis:
    """Where a stored analysis is: its recording, its id, and the date of the visit it is filed under."""

    recording_id: int
    analysis_id: int
    visit_date: date


def model_of(source: str) -> tuple[str, str]:
    """(model name, model version) from a Motion3D ``source`` such as ``"lifter:small@2026-11-27"``."""
    name, _, version = source.partition("@")
    return name, version


def open_db(db_url: str):
    """Open the database for the pipeline.

    A brand-new (empty) database and the embedded default SQLite file are created/upgraded automatically, so a
    new user needs no set-up step. Any other database whose schema is behind is refused with a message that says
    to run ``gaitscope db upgrade``: a shared server is upgraded on purpose, by its administrator.
    """
    from gaitscope.db import default_url, open_database
    from gaitscope.db.migrate import current_revision

    fresh = current_revision(db_url) is None
    return open_database(db_url, auto_upgrade=fresh or db_url == default_url())


def register(database, info: VideoInfo, *, patient_code: str | None, visit_date: date | None,
             original_name: str, kind: str = "video") -> int:
    """The id of this patient's recording of this file content, created when the patient has none.

    The patient code decides where the recording is filed (``UNASSIGNED`` when none is given; the patient is
    created if new): the same file analyzed for another patient becomes that patient's recording, never shown as
    the first patient's. The same file for the same patient again reuses its recording (and first visit).
    ``kind`` is "video" or "mocap"; a motion-capture file has no image size (``info.width``/``height`` 0 are
    stored as unknown) and ``info.fps`` is its sampling rate.
    """
    from gaitscope.db import patients, recordings

    code = patient_code or UNASSIGNED
    with database.session() as s:
        patient = patients.get_patient(s, code)
        existing = (recordings.find_recording_by_hash(s, info.sha256, patient_id=int(patient.id))
                    if patient is not None else None)
        if existing is not None:  # the same file again for this patient: a new analysis goes beside the others
            return int(existing.id)
        patient = patient or patients.create_patient(s, code)
        visit = patients.create_visit(s, patient, visit_date=visit_date or date.today())
        rec = recordings.register_recording(
            s, visit, sha256=info.sha256, original_name=original_name, kind=kind, fps=info.fps,
            duration_s=info.duration_s, width=info.width or None, height=info.height or None,
            size_bytes=info.size_bytes,
        )
        s.flush()
        rec_id = int(rec.id)
    recordings.mark_recording_status(database, rec_id, "processing")
    return rec_id


def find_existing(database, sha256: str, patient_code: str | None, inputs_key: str) -> StoredAnalysis | None:
    """The stored analysis of this file content, filed under this patient, made from these inputs, else None.

    Lets the pipeline skip every stage when the same file was already analyzed for the same patient with the same
    inputs (:mod:`gaitscope.pipeline.analysis_inputs`: lifter and checkpoint, versions, reference, height, flip
    TTA): the stored result is what a rerun would produce, and a rerun costs minutes. Another patient's
    recording of the same file is never returned.
    """
    from gaitscope.db import analysis_records as repo
    from gaitscope.db import patients, recordings
    from gaitscope.db.models import Visit

    if not sha256:
        return None
    with database.read_session() as s:
        patient = patients.get_patient(s, patient_code or UNASSIGNED)
        if patient is None:
            return None
        rec = recordings.find_recording_by_hash(s, sha256, patient_id=int(patient.id))
        if rec is None:
            return None
        a = repo.find_analysis(s, int(rec.id), inputs_key)
        if a is None:
            return None
        return StoredAnalysis(int(rec.id), int(a.id), s.get(Visit, rec.visit_id).visit_date)


def load_stored(database, analysis_id: int) -> tuple:
    """``(report, motion, keypoints | None, embedding | None, predictions)`` of a stored analysis."""
    from gaitscope.analysis.reliability import apply_reliability, assess
    from gaitscope.db import analysis_records as repo

    with database.read_session() as s:
        report, motion, kp, emb, preds = repo.load_analysis(s, analysis_id)
    # The grades are not stored: they follow from the stored records (idempotent on the stored flags and warnings)
    report = apply_reliability(report, assess(report, motion, kp))
    return report, motion, kp, emb, tuple(preds)


def save(database, recording_id: int, result, *, pipeline_version: str, inputs=None, replace: bool = False) -> int:
    """Store every record of ``result`` in one transaction; returns the analysis id.

    ``inputs`` (:class:`~gaitscope.pipeline.analysis_inputs.AnalysisInputs`) identify the analysis: the same inputs
    again return the stored one unchanged, unless ``replace`` (``--force``), which stores ``result`` in its place so
    that the database holds what was exported. Without ``inputs`` only the versions identify it.
    """
    from gaitscope.db import analysis_records as repo
    from gaitscope.db import recordings

    model_name, model_version = model_of(result.motion.source)
    with database.session() as s:
        recording = recordings.get_recording(s, recording_id)
        analysis = repo.save_analysis(
            s, recording, keypoints2d=result.keypoints, motion3d=result.motion, report=result.report,
            embedding=result.embedding, predictions=list(result.predictions), model_name=model_name,
            model_version=model_version or "unknown", analysis_version=result.report.analysis_version,
            pipeline_version=pipeline_version, inputs=None if inputs is None else inputs.as_dict(), replace=replace,
        )
        s.flush()
        analysis_id = int(analysis.id)
    recordings.mark_recording_status(database, recording_id, "done")
    return analysis_id


def predict(database, report, embedding) -> tuple:
    """Run the active classifier head from the model registry (none registered: no prediction)."""
    from gaitscope.pipeline.prediction import predict_active

    with database.read_session() as s:
        pred = predict_active(s, report, embedding)
    return (pred,) if pred is not None else ()


def mark_failed(database, recording_id: int, message: str) -> None:
    from gaitscope.db import recordings

    recordings.mark_recording_status(database, recording_id, "failed", error=message)
