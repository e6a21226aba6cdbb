"""How values become rows, for every repository module of the clinical database: typed strings checked against
their column length (:data:`TYPED_LIMITS`), NaN stored as SQL NULL (SQLite cannot store NaN and NULL is what SQL
aggregates skip), values made JSON-safe on both backends, and writes flushed at once so that a constraint error
surfaces at the call that caused it as a clinician-readable :class:`DatabaseError` / :class:`DuplicateError`.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Iterable, Mapping

import numpy as np
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from gaitscope.db.translate import translate
from gaitscope.errors import InvalidInputError

#: Bounded columns a person types into (patient forms, the CLI, a classifier's labels): longer values are refused
#: with :class:`InvalidInputError` before the database sees them (PostgreSQL would refuse them with a bare "value
#: too long"; SQLite would silently store them). Product-written strings are TEXT (migration 0006).
TYPED_LIMITS: dict[str, int] = {
    "patient code": 64, "diagnosis": 200, "site": 100, "care team": 100, "given name": 200, "family name": 200,
    "hospital number": 100, "classifier name": 100, "classifier version": 100, "class label": 100,
}


def check_length(what: str, value: str | None) -> None:
    """Refuse a typed ``value`` longer than its column (:data:`TYPED_LIMITS`) with a sentence that says so."""
    limit = TYPED_LIMITS[what]
    if value is not None and len(value) > limit:
        raise InvalidInputError(f"The {what} is {len(value)} characters long; {limit} at most.",
                                f"Shorten the {what}.")


def _f(x: Any) -> float | None:
    """Python float for SQL, NaN/None -> NULL."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _flush(s: Session, objects: Iterable[object], context: str) -> None:
    """Add and flush ``objects`` in a savepoint; translate constraint violations."""
    try:
        with s.begin_nested():
            s.add_all(list(objects))
            s.flush()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, context) from exc


def _jsonable(x: Any) -> Any:
    """Make ``x`` storable as JSON on both backends (NaN -> null, numpy scalars -> Python, dates -> ISO)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return _f(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (date, datetime)):
        return x.isoformat()
    return x
