"""Patients and their visits: create (pseudonymous code, sex, birth year, height, diagnosis), find, list by
site, set the identifying fields, delete (ON DELETE CASCADE: everything recorded about them, not the audit log).

Every function takes an open :class:`sqlalchemy.orm.Session` (from ``Database.session()``); writes that can violate
a constraint run inside a SAVEPOINT and are flushed at once (:mod:`gaitscope.db.rows`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db.models import (
    SEXES,
    Patient,
    PatientIdentity,
    Visit,
)
from gaitscope.db.rows import _f, _flush, check_length
from gaitscope.db.translate import translate
from gaitscope.errors import DatabaseError, DuplicateError

_SEX_ALIASES = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "x": "X", "other": "X", "o": "X"}


def create_patient(
    s: Session,
    code: str,
    *,
    sex: str | None = None,
    birth_year: int | None = None,
    height_cm: float | None = None,
    diagnosis: str | None = None,
    updrs_iii: float | None = None,
    updrs_gait: int | None = None,
    notes: str | None = None,
    site: str | None = None,
    care_team: str | None = None,
) -> Patient:
    """Create a pseudonymous patient. Raises :class:`DuplicateError` if ``code`` exists.

    ``sex`` accepts F/M/X and common spellings (female, male, other). Ranges are enforced by the schema
    (height 30-250 cm, UPDRS gait 0-4, ...); the birth year is also checked against the current year here.
    """
    code = (code or "").strip()
    if not code:
        raise DatabaseError("A patient needs a code (a pseudonym such as PD-0042); names go in the identity record.")
    if get_patient(s, code) is not None:
        raise DuplicateError(f"A patient with code {code!r} already exists.", hint="Choose another code or open the existing patient.")
    if birth_year is not None and int(birth_year) > date.today().year:
        raise DatabaseError(f"Birth year {birth_year} is in the future.")
    for what, value in (("patient code", code), ("diagnosis", diagnosis), ("site", site), ("care team", care_team)):
        check_length(what, value)
    if sex is not None:
        sex = _SEX_ALIASES.get(str(sex).strip().lower(), str(sex).strip())
        if sex not in SEXES:
            raise DatabaseError(f"Sex must be F, M or X (other / not stated), not {sex!r}.")
    p = Patient(
        code=code,
        sex=sex,
        birth_year=None if birth_year is None else int(birth_year),
        height_cm=_f(height_cm),
        diagnosis=diagnosis,
        updrs_iii=_f(updrs_iii),
        updrs_gait=None if updrs_gait is None else int(updrs_gait),
        notes=notes,
        site=site,
        care_team=care_team,
    )
    _flush(s, [p], f"Patient {code}")
    return p


def get_patient(s: Session, code: str) -> Patient | None:
    return s.scalars(select(Patient).where(Patient.code == code.strip())).one_or_none()


def list_patients(s: Session, *, site: str | None = None) -> list[Patient]:
    q = select(Patient).order_by(Patient.code)
    if site is not None:
        q = q.where(Patient.site == site)
    return list(s.scalars(q))


def set_patient_identity(
    s: Session,
    patient: Patient,
    *,
    given_name: str | None = None,
    family_name: str | None = None,
    date_of_birth: date | None = None,
    hospital_number: str | None = None,
    contact: str | None = None,
) -> PatientIdentity:
    """Create or replace the identifying data of a patient (kept out of every research query)."""
    for what, value in (("given name", given_name), ("family name", family_name), ("hospital number", hospital_number)):
        check_length(what, value)
    ident = s.get(PatientIdentity, patient.id) or PatientIdentity(patient_id=patient.id)
    ident.given_name, ident.family_name = given_name, family_name
    ident.date_of_birth, ident.hospital_number, ident.contact = date_of_birth, hospital_number, contact
    _flush(s, [ident], f"Identity of patient {patient.code}")
    return ident


def create_visit(s: Session, patient: Patient, visit_date: date | None = None, notes: str | None = None) -> Visit:
    """A visit of ``patient`` on ``visit_date`` (default: today)."""
    if isinstance(visit_date, datetime):
        visit_date = visit_date.date()
    v = Visit(patient_id=patient.id, visit_date=visit_date or date.today(), notes=notes)
    _flush(s, [v], f"Visit of patient {patient.code}")
    return v


def delete_patient(s: Session, patient: Patient) -> None:
    """Delete a patient and, through ON DELETE CASCADE, everything recorded about them (not the audit log)."""
    s.delete(patient)
    try:
        s.flush()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"Deleting patient {patient.code}") from exc
