"""Role-enforcing data access: the functions behind every page of the application.

The UI may hide buttons, but the rules live HERE, so a page that forgets a check, a notebook or a new API
endpoint still cannot leak data. Every function takes the signed-in :class:`~gaitscope.db.auth.CurrentUser`
and raises :class:`~gaitscope.errors.AccessDeniedError` (a sentence saying who may do what) when the role or
site does not allow it.

Roles (``app_user.role``):

* **clinician**: sees and edits the patients of their own site (and, when the account has a care team, of
  that care team only), including identities, notes, videos, reports and exports.
* **viewer**: like a clinician of their site, read-only, without identities, videos or exports.
* **researcher**: the pseudonymised cohort only (:func:`cohort_patients`, :func:`cohort_parameters`): no
  identity table, no notes, no videos or original file names, ages in 5-year bands (age filters too, widened
  to whole bands), visit years not dates.
* **admin**: accounts only; no patient data (an administrator does not need it: least privilege).

Every view of a patient, upload, analysis, export and account change writes an audit entry (who, what, when)
in the caller's transaction, so the entry exists exactly when the action happened. Every refusal is audited too
(``access_denied``), in a transaction of its own after the refused one is rolled back. An account whose password
was chosen by someone else (``must_change_password``) is refused everything until it sets its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db import analysis_records as repo
from gaitscope.db import audit_trail, auth, model_registry
from gaitscope.db import patients as patients_db
from gaitscope.db import recordings as recordings_db
from gaitscope.db import rows as rows_db
from gaitscope.db.auth import CurrentUser
from gaitscope.db.models import (
    Analysis,
    Patient,
    PatientIdentity,
    Recording,
    ReportExport,
    User,
    Visit,
)
from gaitscope.errors import AccessDeniedError, InvalidInputError
from gaitscope.records import GaitReport

CARE_ROLES = ("clinician", "viewer")  # roles that see a site's patients
AGE_BAND_YEARS = 5
#: Patient fields a clinician may change with :func:`update_patient` (site/care team move a patient out of
#: reach and are therefore an administrator's database task, not a form field).
EDITABLE_PATIENT_FIELDS = ("sex", "birth_year", "height_cm", "diagnosis", "updrs_iii", "updrs_gait", "notes")


# ---------------------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------------------


def _refused(user: Any, what: str, message: str, hint: str | None = None, *, entity: str = "access",
             entity_id: Any = None, reason: str = "role") -> AccessDeniedError:
    """An :class:`AccessDeniedError` that carries its audit entry: :meth:`Database.session` writes it after
    rolling back the refused unit of work (see :meth:`gaitscope.db.engine.Database.record_refusal`)."""
    exc = AccessDeniedError(message, hint)
    known = isinstance(user, CurrentUser)
    exc.refusal = {  # type: ignore[attr-defined]
        "username": user.username if known else "anonymous", "action": "access_denied", "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id)[:100],
        "details": {"what": what, "reason": reason, "role": user.role if known else None},
    }
    return exc


def _require(user: CurrentUser, roles: Sequence[str], what: str) -> None:
    if not isinstance(user, CurrentUser):
        raise _refused(user, what, "You are not signed in.", "Sign in to continue.", reason="not signed in")
    if user.must_change_password:
        raise _refused(
            user, what, "Set your own password first: this one was chosen by someone else.",
            "Until then your account cannot open any page.", reason="must change password",
        )
    if user.role not in roles:
        allowed = " or ".join(f"{r}s" for r in roles)
        raise _refused(
            user, what, f"Access denied: {user.role} accounts may not {what} (only {allowed} may).",
            "Ask an administrator if your role is wrong.",
        )


def can_see_patient(user: CurrentUser, patient: Patient) -> bool:
    """True when ``user`` (a clinician or viewer) belongs to the patient's site and, if set, care team."""
    if user.role not in CARE_ROLES or not user.site:
        return False
    if patient.site != user.site:
        return False
    return user.care_team is None or patient.care_team == user.care_team


def _scope(user: CurrentUser) -> str:
    return f"site {user.site!r}" + (f", care team {user.care_team!r}" if user.care_team else "")


def _patient(s: Session, user: CurrentUser, code: str, what: str, roles: Sequence[str] = CARE_ROLES) -> Patient:
    _require(user, roles, what)
    p = patients_db.get_patient(s, code or "")
    # The same message whether the patient exists elsewhere or not at all: no probing other sites' codes.
    if p is None or not can_see_patient(user, p):
        raise _refused(
            user, what, f"Access denied: patient {code!r} is not among the patients of your {_scope(user)}.",
            "Check the code; patients of other sites are visible only to their own clinicians.",
            entity="patient", entity_id=code, reason="site",
        )
    return p


def _recording(s: Session, user: CurrentUser, recording_id: int, what: str,
               roles: Sequence[str] = ("clinician",)) -> tuple[Recording, Patient]:
    _require(user, roles, what)
    rec = s.get(Recording, int(recording_id))
    patient = None
    if rec is not None:
        visit = s.get(Visit, rec.visit_id)
        patient = s.get(Patient, visit.patient_id) if visit is not None else None
    if rec is None or patient is None or not can_see_patient(user, patient):
        raise _refused(
            user, what,
            f"Access denied: recording {recording_id} does not belong to a patient of your {_scope(user)}.",
            entity="recording", entity_id=recording_id, reason="site",
        )
    return rec, patient


def _analysis(s: Session, user: CurrentUser, analysis_id: int, what: str,
              roles: Sequence[str] = ("clinician",)) -> tuple[Analysis, Patient]:
    _require(user, roles, what)
    a = s.get(Analysis, int(analysis_id))
    if a is None:
        raise _refused(user, what, f"Access denied: analysis {analysis_id} is not available to you.",
                       entity="analysis", entity_id=analysis_id, reason="site")
    _, patient = _recording(s, user, a.recording_id, what, roles)
    return a, patient


# ---------------------------------------------------------------------------------------------------------
# patients (clinicians; viewers read-only)
# ---------------------------------------------------------------------------------------------------------


def list_patients(s: Session, user: CurrentUser) -> list[Patient]:
    """The patients of the user's site (and care team). Researchers use :func:`cohort_patients`."""
    _require(user, CARE_ROLES, "list patients")
    if not user.site:
        raise AccessDeniedError("Your account has no site, so no patients can be shown.",
                                "Ask an administrator to set your site.")
    q = select(Patient).where(Patient.site == user.site).order_by(Patient.code)
    if user.care_team is not None:
        q = q.where(Patient.care_team == user.care_team)
    patients = list(s.scalars(q))
    audit_trail.audit(s, user.username, "list", "patient", None, {"n": len(patients), "site": user.site})
    return patients


def view_patient(s: Session, user: CurrentUser, code: str) -> Patient:
    """One patient (clinical fields and notes) of the user's site; audited as a view."""
    p = _patient(s, user, code, "view patients")
    audit_trail.audit(s, user.username, "view", "patient", p.code)
    return p


def view_patient_identity(s: Session, user: CurrentUser, code: str) -> PatientIdentity | None:
    """Names / hospital number of a patient: clinicians of the patient's site only; audited."""
    p = _patient(s, user, code, "view patient identities", roles=("clinician",))
    audit_trail.audit(s, user.username, "view_identity", "patient", p.code)
    return s.get(PatientIdentity, p.id)


def create_patient(s: Session, user: CurrentUser, code: str, **fields: Any) -> Patient:
    """Create a patient in the clinician's own site and care team (a ``site`` argument is refused: a
    clinician cannot create patients they would not see)."""
    _require(user, ("clinician",), "create patients")
    if not user.site:
        raise AccessDeniedError("Your account has no site, so you cannot create patients.",
                                "Ask an administrator to set your site.")
    for key in ("site", "care_team"):
        if fields.get(key) not in (None, getattr(user, key)):
            raise AccessDeniedError(f"Access denied: you may create patients only in your own {key.replace('_', ' ')}.")
        fields.pop(key, None)
    p = patients_db.create_patient(s, code, site=user.site, care_team=user.care_team, **fields)
    audit_trail.audit(s, user.username, "create", "patient", p.code)
    return p


def update_patient(s: Session, user: CurrentUser, code: str, **changes: Any) -> Patient:
    """Change clinical fields or notes of a patient of the clinician's site. Notes are stored verbatim (HTML
    included): escaping is the display's job (:func:`gaitscope.ui.login.safe_text`), never the database's."""
    p = _patient(s, user, code, "edit patients", roles=("clinician",))
    unknown = set(changes) - set(EDITABLE_PATIENT_FIELDS)
    if unknown:
        raise InvalidInputError(f"These patient fields cannot be edited here: {', '.join(sorted(unknown))}.")
    for key, value in changes.items():
        setattr(p, key, value)
    rows_db._flush(s, [p], f"Patient {p.code}")
    audit_trail.audit(s, user.username, "update", "patient", p.code, {"fields": sorted(changes)})
    return p


def set_patient_identity(s: Session, user: CurrentUser, code: str, **identity: Any) -> PatientIdentity:
    """Store names / hospital number / contact (all optional) apart from the pseudonymous record."""
    p = _patient(s, user, code, "edit patient identities", roles=("clinician",))
    ident = patients_db.set_patient_identity(s, p, **identity)
    audit_trail.audit(s, user.username, "set_identity", "patient", p.code, {"fields": sorted(k for k, v in identity.items() if v)})
    return ident


def create_visit(s: Session, user: CurrentUser, code: str, visit_date: date | None = None,
                 notes: str | None = None) -> Visit:
    p = _patient(s, user, code, "add visits", roles=("clinician",))
    v = patients_db.create_visit(s, p, visit_date, notes)
    audit_trail.audit(s, user.username, "create", "visit", v.id, {"patient": p.code})
    return v


def list_recordings(s: Session, user: CurrentUser, code: str) -> list[Recording]:
    p = _patient(s, user, code, "view recordings")
    return list(s.scalars(
        select(Recording).join(Visit, Visit.id == Recording.visit_id).where(Visit.patient_id == p.id).order_by(Recording.id)
    ))


# ---------------------------------------------------------------------------------------------------------
# recordings, analyses, reports (clinicians)
# ---------------------------------------------------------------------------------------------------------


def register_upload(
    s: Session,
    user: CurrentUser,
    visit_id: int,
    *,
    storage_name: str,
    sha256: str,
    original_name: str | None,
    fps: float | None,
    duration_s: float | None,
    width: int | None,
    height: int | None,
    size_bytes: int | None,
    kind: str = "video",
) -> Recording:
    """Register a stored upload (see :mod:`gaitscope.io.uploads`) for a visit of the clinician's site."""
    _require(user, ("clinician",), "upload recordings")
    visit = s.get(Visit, int(visit_id))
    patient = s.get(Patient, visit.patient_id) if visit is not None else None
    if patient is None or not can_see_patient(user, patient):
        raise _refused(user, "upload recordings",
                       f"Access denied: visit {visit_id} does not belong to a patient of your {_scope(user)}.",
                       entity="visit", entity_id=visit_id, reason="site")
    if not storage_name or Path(storage_name).name != storage_name:
        raise InvalidInputError("The stored upload needs a generated file name without folders.")
    rec = recordings_db.register_recording(s, visit, sha256=sha256, original_name=original_name, kind=kind,
                                           fps=fps, duration_s=duration_s, width=width, height=height,
                                           size_bytes=size_bytes)
    rec.storage_name = storage_name
    rows_db._flush(s, [rec], "Recording")
    audit_trail.audit(s, user.username, "upload", "recording", rec.id,
                      {"patient": patient.code, "visit": visit.id, "sha256": rec.sha256, "size_bytes": size_bytes})
    return rec


def recording_video_path(s: Session, user: CurrentUser, recording_id: int, uploads_dir: str | Path) -> Path:
    """The stored video file of a recording, for playback: clinicians of the patient's site only; audited.

    The path is built from the generated ``storage_name`` and checked to stay inside ``uploads_dir``.
    """
    rec, patient = _recording(s, user, recording_id, "view patient videos")
    if not rec.storage_name:
        raise InvalidInputError(f"Recording {recording_id} has no stored video file.")
    root = Path(uploads_dir).resolve()
    path = (root / rec.storage_name).resolve()
    if root not in path.parents:
        raise AccessDeniedError(f"Recording {recording_id} points outside the uploads folder; refusing to open it.")
    audit_trail.audit(s, user.username, "view_video", "recording", rec.id, {"patient": patient.code})
    return path


def authorize_analysis(s: Session, user: CurrentUser, recording_id: int) -> Recording:
    """Check that ``user`` may run an analysis of this recording and audit the request (before the job runs)."""
    rec, patient = _recording(s, user, recording_id, "run analyses")
    audit_trail.audit(s, user.username, "analysis_requested", "recording", rec.id, {"patient": patient.code})
    return rec


def save_analysis(s: Session, user: CurrentUser, recording_id: int, **kwargs: Any) -> Analysis:
    """:func:`gaitscope.db.analysis_records.save_analysis` for a recording of the user's site, audited."""
    rec, patient = _recording(s, user, recording_id, "save analyses")
    a = repo.save_analysis(s, rec, **kwargs)
    audit_trail.audit(s, user.username, "analysis", "analysis", a.id, {"recording": rec.id, "patient": patient.code})
    return a


def view_report(s: Session, user: CurrentUser, analysis_id: int) -> GaitReport:
    """The gait report of an analysis (clinicians and viewers of the patient's site); audited as a view."""
    a, patient = _analysis(s, user, analysis_id, "view reports", roles=CARE_ROLES)
    audit_trail.audit(s, user.username, "view", "analysis", a.id, {"patient": patient.code})
    return repo.load_report(s, a.id)


def export_report(s: Session, user: CurrentUser, analysis_id: int, kind: str, path: str | Path, *,
                  sha256: str | None = None, size_bytes: int | None = None) -> ReportExport:
    """Record a PDF/CSV export of an analysis (clinicians of the patient's site); audited."""
    a, patient = _analysis(s, user, analysis_id, "export patient reports")
    e = model_registry.record_export(s, a, kind, str(path), sha256=sha256, size_bytes=size_bytes, created_by=user.username)
    audit_trail.audit(s, user.username, "export", "analysis", a.id, {"kind": kind, "patient": patient.code, "sha256": sha256})
    return e


# ---------------------------------------------------------------------------------------------------------
# research (pseudonymised cohort)
# ---------------------------------------------------------------------------------------------------------


def age_band(age: float | None, width: int = AGE_BAND_YEARS) -> str | None:
    """``63 -> "60-64"``: a coarse age that still supports age-matched comparisons (k-anonymity)."""
    if age is None or pd.isna(age):
        return None
    low = int(age) // width * width
    return f"{low}-{low + width - 1}"


def _pseudonymise(df: pd.DataFrame) -> pd.DataFrame:
    """Drop/coarsen quasi-identifiers: exact age and birth year -> 5-year band, visit date -> year, and any
    free-text or file-name column that a future cohort table might add."""
    out = df.copy()
    today = date.today().year
    if "age" in out.columns:
        out.insert(out.columns.get_loc("age"), "age_band", [age_band(a) for a in out["age"]])
        out = out.drop(columns="age")
    if "birth_year" in out.columns:
        ages = [None if pd.isna(b) else today - int(b) for b in out["birth_year"]]
        out.insert(out.columns.get_loc("birth_year"), "age_band", [age_band(a) for a in ages])
        out = out.drop(columns="birth_year")
    if "visit_date" in out.columns:
        years = pd.to_datetime(out["visit_date"]).dt.year
        out.insert(out.columns.get_loc("visit_date"), "visit_year", years)
        out = out.drop(columns="visit_date")
    banned = [c for c in out.columns if c in ("notes", "original_name", "storage_name", "given_name",
                                               "family_name", "hospital_number", "contact", "date_of_birth")]
    return out.drop(columns=banned)


def band_age_filter(age: Sequence[float | None] | None,
                    width: int = AGE_BAND_YEARS) -> tuple[int | None, int | None] | None:
    """Widen an ``age=(low, high)`` filter to whole :func:`age_band` bands: ``(64, 64) -> (60, 64)``.

    A researcher sees ages only as 5-year bands; a filter on exact ages would give the exact age back one query
    at a time (``age=(63, 63)``, ``age=(64, 64)``, ...). Filtering on the bands they see adds nothing to the table.
    """
    if age is None:
        return None
    if isinstance(age, (str, bytes)) or len(age) != 2:
        raise InvalidInputError("The age filter is a pair (youngest, oldest), e.g. age=(60, 79).")
    lo, hi = age
    try:
        lo_band = None if lo is None or pd.isna(lo) else int(float(lo) // width * width)
        hi_band = None if hi is None or pd.isna(hi) else int(float(hi) // width * width + width - 1)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"The age filter {tuple(age)!r} is not a pair of numbers.") from exc
    return lo_band, hi_band


def _cohort(db, user: CurrentUser, what: str, filters: Mapping[str, Any]):
    try:
        _require(user, ("researcher",), what)
    except AccessDeniedError as exc:
        db.record_refusal(exc)
        raise
    from gaitscope.db.cohort import Cohort  # local: cohort imports the engine

    applied = dict(filters)
    if applied.get("age") is not None:
        applied["age"] = band_age_filter(applied["age"])
    return Cohort(db).patients(**applied)


def cohort_patients(db, user: CurrentUser, **filters: Any) -> pd.DataFrame:
    """One row per patient of the cohort, pseudonymised (see :func:`_pseudonymise`); researchers only."""
    df = _pseudonymise(_cohort(db, user, "query the research cohort", filters).patient_table())
    with db.session() as s:
        audit_trail.audit(s, user.username, "cohort_query", "cohort", None, {"table": "patients", "filters": filters, "rows": len(df)})
    return df


def cohort_parameters(db, user: CurrentUser, parameters: str | Sequence[str] | None = None,
                      **filters: Any) -> pd.DataFrame:
    """Tidy gait parameters of the cohort, pseudonymised; researchers only."""
    df = _pseudonymise(_cohort(db, user, "query the research cohort", filters).gait_parameters(parameters))
    with db.session() as s:
        audit_trail.audit(s, user.username, "cohort_query", "cohort", None,
                          {"table": "gait_parameters", "filters": filters, "rows": len(df)})
    return df


def export_cohort_csv(db, user: CurrentUser, path: str | Path, **filters: Any) -> Path:
    """Write :func:`cohort_parameters` to CSV (researchers only); audited as an export."""
    df = cohort_parameters(db, user, **filters)
    path = Path(path)
    df.to_csv(path, index=False)
    with db.session() as s:
        audit_trail.audit(s, user.username, "export", "cohort", None, {"kind": "csv", "rows": len(df), "file": path.name})
    return path


# ---------------------------------------------------------------------------------------------------------
# accounts (admins)
# ---------------------------------------------------------------------------------------------------------


def create_user(s: Session, user: CurrentUser, username: str, password: str, role: str, *,
                site: str | None = None, care_team: str | None = None) -> User:
    _require(user, ("admin",), "create accounts")
    # the administrator knows this password: its owner must replace it at the first sign-in
    return auth.create_user(s, username, password, role, site=site, care_team=care_team, actor=user.username,
                            must_change_password=True)


def list_users(s: Session, user: CurrentUser) -> list[User]:
    _require(user, ("admin",), "list accounts")
    return auth.list_users(s)


def set_user_active(s: Session, user: CurrentUser, username: str, active: bool) -> None:
    _require(user, ("admin",), "enable or disable accounts")
    if not active and auth.normalise_username(username) == user.username:
        raise InvalidInputError("You cannot disable your own account.")
    auth.set_active(s, username, active, actor=user.username)


def unlock_user(s: Session, user: CurrentUser, username: str) -> None:
    _require(user, ("admin",), "unlock accounts")
    auth.unlock(s, username, actor=user.username)


def reset_password(s: Session, user: CurrentUser, username: str, new_password: str) -> None:
    """An admin sets a new password for ``username``, which its owner must replace at their next sign-in;
    anyone may change their own (see :func:`change_password`)."""
    _require(user, ("admin",), "reset other people's passwords")
    auth.set_password(s, username, new_password, actor=user.username)


def change_password(db, user: CurrentUser, old_password: str, new_password: str) -> None:
    """The signed-in user changes their own password (the old one is checked, with the same lockout)."""
    auth.authenticate(db, user.username, old_password)
    with db.session() as s:
        auth.set_password(s, user.username, new_password, actor=user.username)
