"""Checks on what a clinician types, before anything reaches the database.

The database enforces its own constraints too (see :mod:`gaitscope.db.models`); checking here first gives a
message tied to the form field instead of a constraint name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gaitscope.errors import InvalidInputError

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
HEIGHT_RANGE_CM = (50.0, 250.0)
MIN_BIRTH_YEAR = 1900
SEX_CHOICES = {"": None, "F": "F", "M": "M", "X": "X"}
SEX_LABELS = {"": "not stated", "F": "female", "M": "male", "X": "other"}
MAX_NOTES = 5000


@dataclass(frozen=True)
class PatientInput:
    """A validated patient form. ``code`` is pseudonymous: never a name or a hospital number."""

    code: str
    sex: str | None = None
    birth_year: int | None = None
    height_cm: float | None = None
    diagnosis: str | None = None
    notes: str | None = None


def check_height_cm(height_cm: float | None, *, required: bool = False) -> float | None:
    if height_cm is None or height_cm == 0:
        if required:
            raise InvalidInputError("The subject's height is required.", "Enter it in centimetres (50-250).")
        return None
    h = float(height_cm)
    lo, hi = HEIGHT_RANGE_CM
    if not lo <= h <= hi:
        raise InvalidInputError(f"Height {h:g} cm is outside {lo:g}-{hi:g} cm.",
                                "Enter the subject's height in centimetres, e.g. 172.")
    return h


def validate_patient(code: str, *, sex: str | None = None, birth_year: int | None = None,
                     height_cm: float | None = None, diagnosis: str | None = None, notes: str | None = None,
                     today: date | None = None) -> PatientInput:
    """Return a clean :class:`PatientInput` or raise :class:`InvalidInputError` naming the bad field."""
    code = (code or "").strip()
    if not code:
        raise InvalidInputError("A patient code is required.", "Use a pseudonymous code such as P-0042, never a name.")
    if not CODE_RE.match(code):
        raise InvalidInputError(
            f"The patient code {code!r} is not valid.",
            "Use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit (e.g. P-0042).",
        )
    if sex not in SEX_CHOICES and sex not in (None,):
        raise InvalidInputError(f"Sex must be one of F, M, X or empty, got {sex!r}.")
    year_now = (today or date.today()).year
    if birth_year in (None, 0):
        birth_year = None
    else:
        birth_year = int(birth_year)
        if not MIN_BIRTH_YEAR <= birth_year <= year_now:
            raise InvalidInputError(f"Birth year {birth_year} is outside {MIN_BIRTH_YEAR}-{year_now}.",
                                    "Enter a four-digit year, or leave it empty.")
    height = check_height_cm(height_cm)
    notes = (notes or "").strip() or None
    if notes is not None and len(notes) > MAX_NOTES:
        raise InvalidInputError(f"Notes are too long ({len(notes)} characters, at most {MAX_NOTES}).")
    diagnosis = (diagnosis or "").strip() or None
    if diagnosis is not None and len(diagnosis) > 200:
        raise InvalidInputError("The diagnosis is too long (at most 200 characters).")
    return PatientInput(code=code, sex=SEX_CHOICES.get(sex or ""), birth_year=birth_year, height_cm=height,
                        diagnosis=diagnosis, notes=notes)
