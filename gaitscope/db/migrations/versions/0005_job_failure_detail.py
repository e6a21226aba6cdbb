"""Jobs keep the developer detail of a failure (the traceback of an internal error) beside the user's message.

``job.error`` is the sentence a clinician reads ("Internal error (KeyError): ... The stored data was not changed.");
until now the traceback behind an internal error went only to the worker's log, which on a server is often
gone or out of reach by the time someone looks. ``job.detail`` keeps it with the job, for administrators and bug
reports; it stays empty for expected errors (a video with nobody in it), whose message says everything.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("detail")
