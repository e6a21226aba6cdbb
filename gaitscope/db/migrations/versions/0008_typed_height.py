"""The height the lengths rest on becomes a value: ``analysis.height_m``, and ``scale_height_m`` / ``scale_assumed``
in a stored 3D motion's meta (issue 25).

Until now the subject's height travelled as prose ("subject height 172 cm", "assumed height 170 cm") inside
``Motion3D.scale_source`` and ``analysis.scale_note``, and the analysis and the dashboard read it back with regular
expressions. This revision adds the typed column and converts the rows stored before it, once: the prose of an old
row is read here and nowhere else. New rows are written with the values by the product.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBJECT = re.compile(r"subject(?:'s)? height\D{0,5}(\d{2,3}(?:\.\d+)?)\s*cm", re.IGNORECASE)
_ANY_CM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*cm")


def legacy_scale(scale_source: str) -> tuple[float | None, bool]:
    """(height in metres the lengths were scaled to, whether it was assumed) from an old row's provenance text."""
    text = scale_source or ""
    assumed = "assum" in text.lower()
    m = _ANY_CM.search(text) if ("height" in text.lower()) else None
    return (float(m.group(1)) / 100.0 if m else None), assumed


def legacy_report_height(scale_note: str) -> float | None:
    """The subject height an old analysis's lengths rest on, from its scale note (None: assumed or own unit)."""
    m = _SUBJECT.search(scale_note or "")
    return float(m.group(1)) / 100.0 if m else None


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.add_column(sa.Column("height_m", sa.Float(), nullable=True))
    bind = op.get_bind()
    analysis = sa.table("analysis", sa.column("id", sa.Integer), sa.column("scale_note", sa.Text),
                        sa.column("height_m", sa.Float))
    for row_id, note in bind.execute(sa.select(analysis.c.id, analysis.c.scale_note)).all():
        h = legacy_report_height(note)
        if h is not None:
            bind.execute(analysis.update().where(analysis.c.id == row_id).values(height_m=h))
    pose = sa.table("pose_sequence", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                    sa.column("meta", sa.JSON))
    for row_id, meta in bind.execute(sa.select(pose.c.id, pose.c.meta).where(pose.c.kind == "3d")).all():
        meta = json.loads(meta) if isinstance(meta, str) else dict(meta or {})
        if "scale_assumed" in meta:
            continue
        meta["scale_height_m"], meta["scale_assumed"] = legacy_scale(meta.get("scale_source", ""))
        bind.execute(pose.update().where(pose.c.id == row_id).values(meta=meta))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.drop_column("height_m")
