"""Real values fit, an analysis is identified by everything that changes its numbers, and a file is filed per patient.

* **Lengths.** ``analysis.analysis_version`` was VARCHAR(50) while the version the product writes is 82 characters
  (``gaitscope.analysis.report.ANALYSIS_VERSION``), more with a lab reference set's name and digest appended: every
  analysis failed on PostgreSQL (SQLite ignores declared lengths). The product-written strings whose length the
  product does not bound become TEXT: model names and versions (a checkpoint's ``model_version`` is free text from
  its metadata), the analysis version, the Motion3D source, feature-set names (they carry the embedding model),
  file paths (a path may be up to PATH_MAX, 4096 bytes, on Linux).
* **Identity of an analysis.** ``analysis.inputs_key`` is the SHA-256 of every input that changes a number
  (lifter or importer and its checkpoint, analysis version, reference set, subject height, flip TTA; see
  :mod:`gaitscope.pipeline.analysis_inputs`), ``analysis.inputs`` those inputs as JSON for people.
  UNIQUE(recording_id, inputs_key) replaces UNIQUE(recording_id, model_version, analysis_version): analyzing a
  file again with another height is a new analysis, not the old one shown again. Analyses stored before this
  migration get ``legacy-<id>``: their height and reference are unknown, so they are never reused (a rerun stores
  a new analysis beside them).
* **Filing.** UNIQUE(recording.sha256) becomes UNIQUE(visit_id, sha256) plus an index on sha256: the same file
  analyzed for another patient is filed under that patient (the pipeline looks a recording up by patient and
  content), instead of being shown as the first patient's analysis.

Downgrade restores the old keys; it fails (and changes nothing) when the database holds what the old schema cannot:
two analyses of one recording with the same versions, the same file under two patients, or values longer than the
old lengths.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, old type, nullable) of the columns that become TEXT.
_TO_TEXT: tuple[tuple[str, str, sa.types.TypeEngine, bool], ...] = (
    ("analysis", "model_name", sa.String(100), False),
    ("analysis", "model_version", sa.String(100), False),
    ("analysis", "analysis_version", sa.String(50), False),
    ("analysis", "source", sa.String(300), False),
    ("pose_sequence", "model_name", sa.String(100), False),
    ("pose_sequence", "model_version", sa.String(100), False),
    ("embedding", "model_name", sa.String(100), False),
    ("embedding", "model_version", sa.String(100), False),
    ("model_registry", "feature_set", sa.String(200), False),
    ("model_registry", "path", sa.String(1000), True),
    ("prediction", "feature_set", sa.String(200), False),
    ("report_export", "path", sa.String(1000), False),
)


def _tables() -> list[str]:
    return list(dict.fromkeys(t for t, *_ in _TO_TEXT))


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.add_column(sa.Column("inputs_key", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    op.execute("UPDATE analysis SET inputs_key = 'legacy-' || CAST(id AS VARCHAR(20))")
    for table in _tables():
        with op.batch_alter_table(table) as batch:
            if table == "analysis":
                batch.drop_constraint("uq_analysis_versions", type_="unique")
                batch.create_unique_constraint("uq_analysis_inputs", ["recording_id", "inputs_key"])
            for t, column, old, nullable in _TO_TEXT:
                if t == table:
                    batch.alter_column(column, type_=sa.Text(), existing_type=old, existing_nullable=nullable)
    with op.batch_alter_table("recording") as batch:
        batch.drop_constraint("uq_recording_sha256", type_="unique")
        batch.create_unique_constraint("uq_recording_visit_id_sha256", ["visit_id", "sha256"])
        batch.create_index("ix_recording_sha256", ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recording") as batch:
        batch.drop_index("ix_recording_sha256")
        batch.drop_constraint("uq_recording_visit_id_sha256", type_="unique")
        batch.create_unique_constraint("uq_recording_sha256", ["sha256"])
    for table in _tables():
        with op.batch_alter_table(table) as batch:
            for t, column, old, nullable in _TO_TEXT:
                if t == table:
                    batch.alter_column(column, type_=old, existing_type=sa.Text(), existing_nullable=nullable)
            if table == "analysis":
                batch.drop_constraint("uq_analysis_inputs", type_="unique")
                batch.create_unique_constraint("uq_analysis_versions",
                                               ["recording_id", "model_version", "analysis_version"])
    with op.batch_alter_table("analysis") as batch:
        batch.drop_column("inputs")
        batch.drop_column("inputs_key")
