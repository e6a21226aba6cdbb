"""The audit trail: who did what to which record. Entries are appended, never updated or deleted (on PostgreSQL a
trigger refuses it, migration 0004)."""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from gaitscope.db.models import (
    AuditLog,
)
from gaitscope.db.rows import _flush, _jsonable


def audit(
    s: Session, user: str | None, action: str, entity: str, entity_id: Any, details: Mapping[str, Any] | None = None
) -> AuditLog:
    """Append an audit entry (who did what to which record). Entries are never updated or deleted."""
    entry = AuditLog(
        username=user or "system",
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        details=_jsonable(details) if details is not None else None,
    )
    _flush(s, [entry], "Audit log")
    return entry
