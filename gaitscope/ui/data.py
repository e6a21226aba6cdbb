"""The dashboard's door to the database: everything the pages read or write, as DataFrames and records.

Pages never hold an ORM object across reruns (sessions close at the end of each function); they get plain
DataFrames and frozen records. One :class:`~gaitscope.db.Database` per URL is kept for the process, shared by
the page and the background analysis thread (SQLAlchemy engines are thread-safe; sessions are not shared).

Every function that touches patient data takes the signed-in ``user`` and goes through
:mod:`gaitscope.db.access`, which decides (role, site, care team) and writes the audit log; nothing here
queries a patient the access layer has not handed out first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import func, select

from gaitscope.db.auth import CurrentUser
from gaitscope.errors import InvalidInputError
from gaitscope.records import GaitReport, Keypoints2D, Motion3D, Prediction
from gaitscope.ui.validation import PatientInput

_DBS: dict[str, object] = {}
_DBS_LOCK = threading.Lock()
SYSTEM_ACTOR = "system:dashboard"  # audit name of work nobody asked for (the demo sample's analysis)


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


def require_role(user: CurrentUser, roles: tuple[str, ...], what: str) -> None:
    """:class:`AccessDeniedError` (the access layer's wording) unless ``user`` has one of ``roles``: for pages
    that would otherwise show a form before the first access-checked call."""
    from gaitscope.db import access

    access._require(user, roles, what)  # noqa: SLF001 (no public equivalent yet)


def patients_frame(user: CurrentUser, url: str | None = None, search: str = "") -> pd.DataFrame:
    """One row per patient the user may see (codes and clinical fields only, never identity), filtered by
    ``search``: the code or the diagnosis, case-insensitively, as plain text (no wildcards)."""
    from gaitscope.db import access
    from gaitscope.db.models import Recording, Visit

    with database(url).session() as s:  # a write session: listing patients is audited
        patients = access.list_patients(s, user)
        ids = [p.id for p in patients]
        visits, recs = {}, {}
        if ids:
            q = (select(Visit.patient_id, func.count(Visit.id), func.max(Visit.visit_date))
                 .where(Visit.patient_id.in_(ids)).group_by(Visit.patient_id))
            visits = {pid: (n, last) for pid, n, last in s.execute(q)}
            q = (select(Visit.patient_id, func.count(Recording.id)).join(Recording, Recording.visit_id == Visit.id)
                 .where(Visit.patient_id.in_(ids)).group_by(Visit.patient_id))
            recs = dict(s.execute(q).all())
        rows = []
        needle = search.strip().lower()
        for p in patients:
            if needle and needle not in p.code.lower() and needle not in (p.diagnosis or "").lower():
                continue
            n_visits, last = visits.get(p.id, (0, None))
            rows.append([p.code, p.sex or "", p.birth_year, p.height_cm, p.diagnosis or "", int(n_visits or 0),
                         int(recs.get(p.id, 0) or 0), last])
    return pd.DataFrame(rows, columns=PATIENT_COLUMNS)


def get_patient_input(user: CurrentUser, code: str, url: str | None = None) -> PatientInput:
    """One patient's clinical fields and notes (audited as a view); :class:`AccessDeniedError` when the
    patient is not among the user's patients."""
    from gaitscope.db import access

    with database(url).session() as s:
        p = access.view_patient(s, user, code)
        return PatientInput(code=p.code, sex=p.sex, birth_year=p.birth_year, height_cm=p.height_cm,
                            diagnosis=p.diagnosis, notes=p.notes)


def create_patient(user: CurrentUser, patient: PatientInput, url: str | None = None) -> None:
    """Create a patient in the clinician's site and care team; :class:`DuplicateError` when the code is taken."""
    from gaitscope.db import access

    with database(url).session() as s:
        access.create_patient(s, user, patient.code, sex=patient.sex, birth_year=patient.birth_year,
                              height_cm=patient.height_cm, diagnosis=patient.diagnosis, notes=patient.notes)


def update_patient(user: CurrentUser, original_code: str, patient: PatientInput, url: str | None = None) -> None:
    """Change a patient's clinical fields and notes. The code is the pseudonym other records and exports refer
    to, so it is not editable here."""
    from gaitscope.db import access

    if patient.code != original_code:
        raise InvalidInputError("A patient's code cannot be changed.",
                                "Create a new patient if the code was wrong from the start.")
    with database(url).session() as s:
        p = access.view_patient(s, user, original_code)
        changed = {k: v for k, v in vars(patient).items() if k != "code" and getattr(p, k) != v}
        if changed:
            access.update_patient(s, user, original_code, **changed)


# ---------------------------------------------------------------------------------------------------------
# visits, recordings, analyses
# ---------------------------------------------------------------------------------------------------------

HISTORY_COLUMNS = ["visit_date", "recording_id", "file", "status", "error", "analysis_id", "uploaded", "visit_notes"]


def patient_history(user: CurrentUser, code: str, url: str | None = None) -> pd.DataFrame:
    """One row per recording of the patient (newest visit first), with its status and latest analysis."""
    from gaitscope.db import access, latest_analysis

    rows = []
    with database(url).session() as s:
        p = access.view_patient(s, user, code)
        access.list_recordings(s, user, code)  # the access check for recordings (same rule today; may narrow)
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


def analyses_frame(user: CurrentUser, url: str | None = None, patient_code: str | None = None) -> pd.DataFrame:
    """Every stored analysis of the user's patients (newest first), optionally of one patient."""
    from gaitscope.db import access
    from gaitscope.db.models import Analysis, Patient, Recording, Visit

    with database(url).session() as s:
        ids = [p.id for p in access.list_patients(s, user)]
        q = (select(Analysis.id, Patient.code, Visit.visit_date, Recording.original_name, Analysis.model_name,
                    Analysis.model_version, Analysis.created_at)
             .join(Recording, Analysis.recording_id == Recording.id).join(Visit, Recording.visit_id == Visit.id)
             .join(Patient, Visit.patient_id == Patient.id).where(Patient.id.in_(ids))
             .order_by(Visit.visit_date.desc(), Analysis.id.desc()))
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


def check_report_access(user: CurrentUser, analysis_id: int, url: str | None = None) -> None:
    """Raise :class:`AccessDeniedError` unless ``user`` may see this analysis (audited as a view). Call it on
    every run before using a cached :func:`load_result`: a cache must never be a way around the rules."""
    from gaitscope.db import access

    with database(url).session() as s:
        access.view_report(s, user, int(analysis_id))


def load_result(analysis_id: int, url: str | None = None) -> ResultBundle:
    """Everything about one analysis, WITHOUT an access check (callers run :func:`check_report_access` first,
    this is cached per analysis); :class:`DatabaseError` when it does not exist."""
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


def trends(user: CurrentUser, code: str, url: str | None = None) -> pd.DataFrame:
    """Cadence, speed and step length of each analyzed visit of the patient (latest analysis per recording).

    Columns: visit_date, parameter (label of :data:`gaitscope.ui.plots.TREND_PARAMETERS`), value, normal_low,
    normal_high, analysis_id.
    """
    from gaitscope.db import access, latest_analysis
    from gaitscope.db.models import GaitParameter
    from gaitscope.ui.plots import TREND_PARAMETERS

    wanted = {name: label for names, label, _ in TREND_PARAMETERS for name in names}
    rows = []
    with database(url).session() as s:
        p = access.view_patient(s, user, code)
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


def recording_video(user: CurrentUser, recording_id: int, uploads_dir, url: str | None = None):
    """The stored video of a recording for playback (clinicians of the patient's site; audited), or None when
    the recording has no stored file (demo data). Raises :class:`AccessDeniedError` for other roles."""
    from gaitscope.db import access

    with database(url).session() as s:
        try:
            path = access.recording_video_path(s, user, int(recording_id), uploads_dir)
        except InvalidInputError:  # no stored video (synthetic demo walks, pipeline runs without upload)
            return None
    return path if path.is_file() else None


def record_export(user: CurrentUser, analysis_id: int, kind: str, file_name: str, url: str | None = None) -> None:
    """Record in the audit log that a report of ``analysis_id`` left the system (who downloaded what)."""
    from gaitscope.db import access

    with database(url).session() as s:
        access.export_report(s, user, int(analysis_id), kind, file_name)


def audit_job(actor: str, action: str, recording_id: int | None, details: dict | None = None,
              url: str | None = None) -> None:
    """An audit entry for a background analysis (who started it, how it ended)."""
    from gaitscope.db import audit

    with database(url).session() as s:
        audit(s, actor, action, "recording", recording_id, details or {})


def recording_status(recording_id: int, url: str | None = None) -> tuple[str, str]:
    """(status, error) of a recording."""
    from gaitscope.db import get_recording

    with database(url).read_session() as s:
        r = get_recording(s, int(recording_id))
        return ("missing", "") if r is None else (r.status, r.error or "")
