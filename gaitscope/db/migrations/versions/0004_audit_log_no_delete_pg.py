"""PostgreSQL: the audit log refuses DELETE as it already refuses UPDATE.

Migration 0002 made ``audit_log`` append-only with triggers; on SQLite for UPDATE and DELETE, on PostgreSQL for
UPDATE only, leaving DELETE to database privileges. A deployment that grants the application role full rights
(the common case on a small site) could then erase its own audit trail with one statement. The row trigger below
closes that for every client; ``TRUNCATE`` (which does not fire row triggers) stays possible for the database
owner, which is what clearing a test or staging database needs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # the function gaitscope_audit_log_append_only() exists since 0002
        op.execute(
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION gaitscope_audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log")
