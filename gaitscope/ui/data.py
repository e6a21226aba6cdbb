"""The dashboard's door to the database: everything the pages read or write, as DataFrames and records.

Pages never hold an ORM object across reruns (sessions close at the end of each function); they get plain
DataFrames and frozen records. One :class:`~gaitscope.db.Database` per URL is kept for the process, shared by
the page and the background analysis thread (SQLAlchemy engines are thread-safe; sessions are not shared).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import func, select

from gaitscope.errors import DatabaseError, DuplicateError
from gaitscope.records import GaitReport, Keypoints2D, Motion3D, Prediction
from gaitscope.ui.validation import PatientInput

_DBS: dict[str, object] = {}
_DBS_LOCK = threading.Lock()
UI_USER = "dashboard"  # no sign-in yet: audit entries name the application


def default_db_url() -> str:
    from gaitscope.db import default_url

    return default_url()


def database(url: str | None = None):
    """The open database for ``url`` (default URL when None), upgraded to the current schema on first use."""
    from gaitscope.db import open_database

    url = url or default_db_url()
    with _DBS_LOCK:
        db = _DBS.get(url)
        if db is None:
            db = _DBS[url] = open_database(url, auto_upgrade=True)
        return db


def forget_database(url: str) -> None:
    """Close and forget the cached database of ``url`` (tests use a fresh file per test)."""
    with _DBS_LOCK:
        db = _DBS.pop(url, None)
    if db is not None:
        db.dispose()


# ---------------------------------------------------------------------------------------------------------
# patients
# ---------------------------------------------------------------------------------------------------------

PATIENT_COLUMNS = ["code", "sex", "birth_year", "height_cm", "diagnosis", "visits", "recordings", "last_visit"]


def patients_frame(url: str | None = None, search: str = "") -> pd.DataFrame:
    """One row per patient (codes and clinical fields only, never identity), filtered by ``search``.

    The search matches the code or the diagnosis, case-insensitively, as plain text (no wildcards).
    """
    from gaitscope.db.models import Patient, Recording, Visit

    with database(url).read_session() as s:
        visits = (select(Visit.patient_id, func.count(Visit.id).label("n"), func.max(Visit.visit_date).label("last"))
                  .group_by(Visit.patient_id).subquery())
        recs = (select(Visit.patient_id, func.count(Recording.id).label("n"))
                .join(Recording, Recording.visit_id == Visit.id).group_by(Visit.patient_id).subquery())
        q = (select(Patient, visits.c.n, visits.c.last, recs.c.n)
             .outerjoin(visits, visits.c.patient_id == Patient.id)
             .outerjoin(recs, recs.c.patient_id == Patient.id).order_by(Patient.code))
        rows = []
        needle = search.strip().lower()
        for p, n_visits, last, n_recs in s.execute(q):
            if needle and needle not in p.code.lower() and needle not in (p.diagnosis or "").lower():
                continue
            rows.append([p.code, p.sex or "", p.birth_year, p.height_cm, p.diagnosis or "", int(n_visits or 0),
                         int(n_recs or 0), last])
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


def get_patient_input(code: str, url: str | None = None) -> PatientInput | None:
    from gaitscope.db import get_patient

    with database(url).read_session() as s:
        p = get_patient(s, code)
        if p is None:
            return None
        return PatientInput(code=p.code, sex=p.sex, birth_year=p.birth_year, height_cm=p.height_cm,
                            diagnosis=p.diagnosis, notes=p.notes)


def create_patient(patient: PatientInput, url: str | None = None) -> None:
    """Create a patient; :class:`DuplicateError` when the code is taken."""
    from gaitscope.db import audit
    from gaitscope.db import create_patient as repo_create

    with database(url).session() as s:
        p = repo_create(s, patient.code, sex=patient.sex, birth_year=patient.birth_year,
                        height_cm=patient.height_cm, diagnosis=patient.diagnosis, notes=patient.notes)
        audit(s, UI_USER, "create", "patient", p.id, {"code": p.code})


def update_patient(original_code: str, patient: PatientInput, url: str | None = None) -> None:
    """Change a patient's fields (and code, when it is free)."""
    from gaitscope.db import audit, get_patient

    with database(url).session() as s:
        p = get_patient(s, original_code)
        if p is None:
            raise DatabaseError(f"Patient {original_code!r} no longer exists.", "Reload the page.")
        if patient.code != p.code and get_patient(s, patient.code) is not None:
            raise DuplicateError(f"A patient with code {patient.code!r} already exists.", "Choose another code.")
        changed = {k: v for k, v in vars(patient).items() if getattr(p, k) != v}
        for key, value in changed.items():
            setattr(p, key, value)
        s.flush()
        audit(s, UI_USER, "update", "patient", p.id, {"fields": sorted(changed)})


# ---------------------------------------------------------------------------------------------------------
# visits, recordings, analyses
# ---------------------------------------------------------------------------------------------------------

HISTORY_COLUMNS = ["visit_date", "recording_id", "file", "status", "error", "analysis_id", "uploaded", "visit_notes"]


def patient_history(code: str, url: str | None = None) -> pd.DataFrame:
    """One row per recording of the patient (newest visit first), with its status and latest analysis."""
    from gaitscope.db import get_patient, latest_analysis

    rows = []
    with database(url).read_session() as s:
        p = get_patient(s, code)
        if p is None:
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        for v in sorted(p.visits, key=lambda v: (v.visit_date, v.id), reverse=True):
            if not v.recordings:
                rows.append([v.visit_date, None, "", "no recording", "", None, None, v.notes or ""])
            for r in sorted(v.recordings, key=lambda r: r.id, reverse=True):
                a = latest_analysis(s, r)
                rows.append([v.visit_date, r.id, r.original_name or "", r.status, r.error or "",
                             a.id if a is not None else None, r.created_at, v.notes or ""])
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for col in ("recording_id", "analysis_id"):
        frame[col] = frame[col].astype("Int64")
    return frame


ANALYSES_COLUMNS = ["analysis_id", "patient", "visit_date", "file", "model", "created"]


def analyses_frame(url: str | None = None, patient_code: str | None = None) -> pd.DataFrame:
    """Every stored analysis (newest first), optionally of one patient."""
    from gaitscope.db.models import Analysis, Patient, Recording, Visit

    with database(url).read_session() as s:
        q = (select(Analysis.id, Patient.code, Visit.visit_date, Recording.original_name, Analysis.model_name,
                    Analysis.model_version, Analysis.created_at)
             .join(Recording, Analysis.recording_id == Recording.id).join(Visit, Recording.visit_id == Visit.id)
             .join(Patient, Visit.patient_id == Patient.id).order_by(Visit.visit_date.desc(), Analysis.id.desc()))
        if patient_code:
            q = q.where(Patient.code == patient_code)
        rows = [[aid, code, vd, name or "", f"{mn} {mv}".strip(), created]
                for aid, code, vd, name, mn, mv, created in s.execute(q)]
    return pd.DataFrame(rows, columns=ANALYSES_COLUMNS)


@dataclass(frozen=True)
class ResultBundle:
    """One stored analysis with its context, as the results and reports pages need it."""

    analysis_id: int
    recording_id: int
    patient_code: str
    patient_height_cm: float | None
    visit_date: date
    visit_notes: str
    original_name: str
    sha256: str
    fps: float | None
    duration_s: float | None
    width: int | None
    height: int | None
    model_name: str
    model_version: str
    analysis_version: str
    pipeline_version: str
    created_at: datetime | None
    report: GaitReport
    motion: Motion3D
    keypoints: Keypoints2D | None
    predictions: tuple[Prediction, ...]


def load_result(analysis_id: int, url: str | None = None) -> ResultBundle:
    """Everything about one analysis; :class:`DatabaseError` when it does not exist."""
    from gaitscope.db import get_analysis, load_poses, load_predictions, load_report

    with database(url).read_session() as s:
        a = get_analysis(s, int(analysis_id))
        rec = a.recording
        visit = rec.visit
        patient = visit.patient
        report = load_report(s, a.id)
        motion, keypoints = load_poses(s, a.id)
        predictions = tuple(load_predictions(s, a.id))
        return ResultBundle(
            analysis_id=a.id, recording_id=rec.id, patient_code=patient.code, patient_height_cm=patient.height_cm,
            visit_date=visit.visit_date, visit_notes=visit.notes or "", original_name=rec.original_name or "",
            sha256=rec.sha256, fps=rec.fps, duration_s=rec.duration_s, width=rec.width, height=rec.height,
            model_name=a.model_name, model_version=a.model_version, analysis_version=a.analysis_version,
            pipeline_version=a.pipeline_version, created_at=a.created_at, report=report, motion=motion,
            keypoints=keypoints, predictions=predictions,
        )


def trends(code: str, url: str | None = None) -> pd.DataFrame:
    """Cadence, speed and step length of each analysed visit of the patient (latest analysis per recording).

    Columns: visit_date, parameter (label of :data:`gaitscope.ui.plots.TREND_PARAMETERS`), value, normal_low,
    normal_high, analysis_id.
    """
    from gaitscope.db import get_patient, latest_analysis
    from gaitscope.db.models import GaitParameter
    from gaitscope.ui.plots import TREND_PARAMETERS

    wanted = {name: label for names, label, _ in TREND_PARAMETERS for name in names}
    rows = []
    with database(url).read_session() as s:
        p = get_patient(s, code)
        if p is None:
            return pd.DataFrame(columns=["visit_date", "parameter", "value", "normal_low", "normal_high", "analysis_id"])
        for v in p.visits:
            for r in v.recordings:
                a = latest_analysis(s, r)
                if a is None:
                    continue
                q = select(GaitParameter).where(GaitParameter.analysis_id == a.id, GaitParameter.side == "both",
                                                GaitParameter.name.in_(list(wanted)))
                seen = set()
                for gp in s.scalars(q):
                    label = wanted[gp.name]
                    if label in seen or gp.value is None:
                        continue
                    seen.add(label)
                    rows.append([v.visit_date, label, gp.value, gp.normal_low, gp.normal_high, a.id])
    return pd.DataFrame(rows, columns=["visit_date", "parameter", "value", "normal_low", "normal_high", "analysis_id"])


def label_recording(url: str | None, sha256: str | None, *, original_name: str | None = None,
                    notes: str | None = None) -> bool:
    """Give the recording with this content hash the browser's file name and the clinician's visit notes.

    The pipeline registers an upload under its generated file name (``<sha256>.mp4``); the name the clinician
    knows is only for display, so it is set here. Returns False when no such recording exists (the video was
    refused before it was registered).
    """
    from gaitscope.db import audit, find_recording_by_hash

    if not sha256:
        return False
    with database(url).session() as s:
        rec = find_recording_by_hash(s, sha256)
        if rec is None:
            return False
        if notes:
            visit = rec.visit
            visit.notes = notes if not visit.notes else (visit.notes if notes in visit.notes else
                                                         f"{visit.notes}\n{notes}")
        if original_name:
            rec.original_name = original_name[:500]
        audit(s, UI_USER, "upload", "recording", rec.id, {"file": rec.original_name, "status": rec.status})
    return True


def audit_export(url: str | None, analysis_id: int, kind: str, file_name: str) -> None:
    """Record in the audit log that a report of ``analysis_id`` left the system (who downloaded what)."""
    from gaitscope.db import audit

    with database(url).session() as s:
        audit(s, UI_USER, "download", "analysis", int(analysis_id), {"kind": kind, "file": file_name})


def recording_status(recording_id: int, url: str | None = None) -> tuple[str, str]:
    """(status, error) of a recording."""
    from gaitscope.db import get_recording

    with database(url).read_session() as s:
        r = get_recording(s, int(recording_id))
        return ("missing", "") if r is None else (r.status, r.error or "")
