"""Background jobs: a registry of live workers and an index for reclaiming jobs of dead ones.

* ``job_worker``: one row per running ``gaitscope worker`` (or dashboard fallback worker), heart-beating even
  while idle, so the dashboard can tell "a worker will pick this up" from "nobody is listening".
* ``ix_job_status_heartbeat`` on ``job(status, heartbeat_at)``: the reclaim query (running jobs whose heartbeat
  is older than the stale timeout) runs every poll of every worker and must not scan the job history.

This file does not import the models (a migration must keep describing *this* revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_worker",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_worker")),
    )
    op.create_index(op.f("ix_job_worker_heartbeat_at"), "job_worker", ["heartbeat_at"], unique=False)
    op.create_index("ix_job_status_heartbeat", "job", ["status", "heartbeat_at"], unique=False)
    # At most one active job per recording: two dashboards enqueueing the same upload at the same instant would
    # otherwise both pass the "is one queued already?" check. Partial unique indexes exist in both engines.
    # Two active jobs left by an older version would make this index fail, so they are settled first.
    op.execute(
        "UPDATE job SET status = 'failed', error = 'Superseded: another job of this recording was active.' "
        "WHERE status IN ('queued', 'running') AND id NOT IN ("
        "SELECT MIN(id) FROM job WHERE status IN ('queued', 'running') GROUP BY recording_id)"
    )
    active = sa.text("status IN ('queued', 'running')")
    op.create_index("uq_job_active_recording", "job", ["recording_id"], unique=True,
                    sqlite_where=active, postgresql_where=active)


def downgrade() -> None:
    op.drop_index("uq_job_active_recording", table_name="job")
    op.drop_index("ix_job_status_heartbeat", table_name="job")
    op.drop_index(op.f("ix_job_worker_heartbeat_at"), table_name="job_worker")
    op.drop_table("job_worker")
