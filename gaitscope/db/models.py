"""SQLAlchemy 2.x models: the clinical schema of gaitscope.

Design choices (the WHY):

* **Constraints live in the schema**, not only in Python: a script, a notebook or a second application writing
  to the same database gets the same guarantees (unique patient codes, height 30-250 cm, UPDRS gait item 0-4,
  fps > 0, probabilities in [0, 1], enumerations as ``CHECK ... IN (...)``). Every constraint is *named* (see
  :data:`NAMING_CONVENTION` and the ``name=`` arguments) so that Alembic can alter it later, SQLite batch
  migrations can rebuild tables, and :mod:`gaitscope.db.errors` can turn a violation into a sentence a
  clinician understands.
* **Enumerations are VARCHAR + CHECK**, not native PostgreSQL enums: adding a value is then a plain
  constraint swap in a migration on both SQLite and PostgreSQL.
* **Identity is separate from research data**: :class:`Patient` holds a pseudonymous code and clinical
  variables only; names and hospital numbers are in :class:`PatientIdentity`, which the cohort API never reads
  and which access control can restrict to clinicians.
* **Arrays are blobs** (:mod:`gaitscope.db.arrays`), scalars researchers filter on are columns: parameters,
  strides and events are rows (queried across thousands of patients), curves and poses are compact blobs
  (only ever loaded whole).
* **ON DELETE**: deleting a patient removes their visits, recordings, analyses and everything derived
  (CASCADE); deleting a classifier from the registry keeps past predictions (SET NULL, the head's name and
  version are copied into the prediction). The audit log has no foreign keys on purpose: it must outlive what
  it talks about, and the ORM refuses to update or delete its rows (``before_flush`` hook at the end).
* The birth year's upper bound in the schema is a constant (2100) because neither SQLite nor PostgreSQL allow
  "current year" in a CHECK that stays valid over time; :func:`gaitscope.db.patients.create_patient`
  checks against the current year.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SEXES = ("F", "M", "X")  # female, male, other / not stated
RECORDING_KINDS = ("video", "mocap", "keypoints")
RECORDING_STATUSES = ("pending", "processing", "done", "failed")
POSE_KINDS = ("2d", "3d")
JOINT_FORMATS = ("h36m17", "blazepose33")
SIDES_PARAM = ("L", "R", "both")
SIDES_CURVE = ("L", "R", "")
SIDES = ("L", "R")
FLAGS = ("low", "normal", "high", "unknown")
EVENT_KINDS = ("heel_strike", "toe_off")
EXPORT_KINDS = ("pdf", "csv")
JOB_STATUSES = ("queued", "running", "done", "failed")
ROLES = ("admin", "clinician", "researcher", "viewer")

MAX_BIRTH_YEAR_SCHEMA = 2100
#: Longest original file name kept (characters). A file name is at most 255 bytes on ext4, NTFS, APFS, i.e. at
#: most 255 characters; 500 leaves room for a name a browser sends with its folder.
MAX_ORIGINAL_NAME = 500


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...], name: str, nullable: bool = False) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    expr = f"{column} IN ({allowed})"
    if nullable:
        expr = f"{column} IS NULL OR {expr}"
    return CheckConstraint(expr, name=name)


def _range(column: str, low: float | None, high: float | None, name: str) -> CheckConstraint:
    parts = []
    if low is not None:
        parts.append(f"{column} >= {low}")
    if high is not None:
        parts.append(f"{column} <= {high}")
    return CheckConstraint(f"{column} IS NULL OR ({' AND '.join(parts)})", name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, bytes: LargeBinary}


Ts = DateTime(timezone=True)


# ---------------------------------------------------------------------------------------------------------
# Patients and visits
# ---------------------------------------------------------------------------------------------------------


class Patient(Base):
    """A pseudonymous patient: a code chosen by the clinic plus the clinical variables researchers use."""

    __tablename__ = "patient"
    __table_args__ = (
        _in("sex", SEXES, "sex_values", nullable=True),
        _range("birth_year", 1900, MAX_BIRTH_YEAR_SCHEMA, "birth_year_range"),
        _range("height_cm", 30, 250, "height_range"),
        _range("updrs_iii", 0, 132, "updrs_iii_range"),
        _range("updrs_gait", 0, 4, "updrs_gait_range"),
        CheckConstraint("length(code) > 0", name="code_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    sex: Mapped[Optional[str]] = mapped_column(String(1))
    birth_year: Mapped[Optional[int]] = mapped_column(Integer)
    height_cm: Mapped[Optional[float]] = mapped_column(Float)
    diagnosis: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    updrs_iii: Mapped[Optional[float]] = mapped_column(Float)  # MDS-UPDRS part III total, 0-132
    updrs_gait: Mapped[Optional[int]] = mapped_column(Integer)  # MDS-UPDRS item 3.10 (gait), 0-4
    notes: Mapped[Optional[str]] = mapped_column(Text)
    site: Mapped[Optional[str]] = mapped_column(String(100), index=True)
    care_team: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Ts, default=utcnow, onupdate=utcnow)

    visits: Mapped[list[Visit]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True, order_by="Visit.visit_date"
    )
    identity: Mapped[Optional[PatientIdentity]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Patient(id={self.id}, code={self.code!r})"


class PatientIdentity(Base):
    """Directly identifying data, kept apart so research queries can never join it by accident."""

    __tablename__ = "patient_identity"

    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True)
    given_name: Mapped[Optional[str]] = mapped_column(String(200))
    family_name: Mapped[Optional[str]] = mapped_column(String(200))
    date_of_birth: Mapped[Optional[date]] = mapped_column(Date)
    hospital_number: Mapped[Optional[str]] = mapped_column(String(100), unique=True)
    contact: Mapped[Optional[str]] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="identity")


class Visit(Base):
    """One clinic visit (a date) at which one or more walks were recorded."""

    __tablename__ = "visit"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    visit_date: Mapped[date] = mapped_column(Date)
    notes: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="visits")
    recordings: Mapped[list[Recording]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", passive_deletes=True
    )


class Recording(Base):
    """A source file (video, motion capture, keypoint JSON) identified by the SHA-256 of its content."""

    __tablename__ = "recording"
    __table_args__ = (
        _in("kind", RECORDING_KINDS, "kind_values"),
        _in("status", RECORDING_STATUSES, "status_values"),
        CheckConstraint("fps IS NULL OR fps > 0", name="fps_positive"),
        _range("duration_s", 0, None, "duration_nonneg"),
        CheckConstraint("width IS NULL OR width > 0", name="width_positive"),
        CheckConstraint("height IS NULL OR height > 0", name="height_positive"),
        _range("size_bytes", 0, None, "size_nonneg"),
        CheckConstraint("length(sha256) = 64", name="sha256_length"),
        # migration 0006: one content once per visit, not once per database: the same file analyzed for another
        # patient is filed under that patient (the pipeline looks a recording up by patient and content)
        UniqueConstraint("visit_id", "sha256", name="uq_recording_visit_id_sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[Optional[str]] = mapped_column(String(MAX_ORIGINAL_NAME))
    # generated file name inside the uploads folder (migration 0002); never a path the user chose
    storage_name: Mapped[Optional[str]] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    fps: Mapped[Optional[float]] = mapped_column(Float)
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    size_bytes: Mapped[Optional[int]] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Ts, default=utcnow, onupdate=utcnow)

    visit: Mapped[Visit] = relationship(back_populates="recordings")
    analyses: Mapped[list[Analysis]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", passive_deletes=True, order_by="Analysis.id"
    )


# ---------------------------------------------------------------------------------------------------------
# Analyses and what they contain
# ---------------------------------------------------------------------------------------------------------


class Analysis(Base):
    """One run of the pipeline over one recording with given inputs.

    UNIQUE(recording, inputs_key) (migration 0006): ``inputs_key`` is the SHA-256 of every input that changes a
    number (lifter or importer and its checkpoint, analysis version, reference set, subject height, flip TTA;
    :mod:`gaitscope.pipeline.analysis_inputs`), ``inputs`` the same inputs as JSON. Re-running with the same
    inputs is idempotent; another height, reference or lifter adds a new analysis beside the old one. Analyses
    stored before 0006 have the key ``legacy-<id>`` and are never reused. Versions and sources are TEXT: the
    product writes them (82+ characters for the analysis version) and does not bound them.
    """

    __tablename__ = "analysis"
    __table_args__ = (
        UniqueConstraint("recording_id", "inputs_key", name="uq_analysis_inputs"),
        CheckConstraint("fps > 0", name="fps_positive"),
        CheckConstraint("n_frames >= 0", name="n_frames_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recording.id", ondelete="CASCADE"), index=True)
    pipeline_version: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(Text)
    analysis_version: Mapped[str] = mapped_column(Text)
    inputs_key: Mapped[str] = mapped_column(String(64), default="", server_default="")
    inputs: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    fps: Mapped[float] = mapped_column(Float)
    n_frames: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    scale_note: Mapped[str] = mapped_column(Text, default="")
    height_m: Mapped[Optional[float]] = mapped_column(Float)  # the subject height the lengths rest on (0008)
    source: Mapped[str] = mapped_column(Text, default="")
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # GPS, GVS_*; NaN stored as null
    warnings: Mapped[list[Any]] = mapped_column(JSON, default=list)
    angles_columns: Mapped[Optional[list[Any]]] = mapped_column(JSON)
    angles: Mapped[Optional[bytes]] = mapped_column(LargeBinary)  # (T, n_columns) float32, see arrays.py
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)

    recording: Mapped[Recording] = relationship(back_populates="analyses")
    pose_sequences: Mapped[list[PoseSequence]] = relationship(
        back_populates="analysis", cascade="all, delete-orphan", passive_deletes=True, order_by="PoseSequence.id"
    )
    parameters: Mapped[list[GaitParameter]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="GaitParameter.id"
    )
    curves: Mapped[list[GaitCurveRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="GaitCurveRow.id"
    )
    strides: Mapped[list[StrideRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="StrideRow.idx"
    )
    events: Mapped[list[GaitEventRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="GaitEventRow.idx"
    )
    embeddings: Mapped[list[Embedding]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Embedding.id"
    )
    predictions: Mapped[list[PredictionRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="PredictionRow.id"
    )
    exports: Mapped[list[ReportExport]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ReportExport.id"
    )


class PoseSequence(Base):
    """2D or 3D joints over time for one analysis, as a compressed float32 blob of shape (T, J, C).

    2D H36M rows hold (x_px, y_px, conf) in ``data``; raw BlazePose rows hold (x_px, y_px, z, visibility); 3D
    rows hold (x_m, y_m, z_m). ``aux`` is a bundle of per-frame side arrays (frame_index, interpolated, valid,
    feet_*) and ``meta`` the record's scalar fields (source, up, notes...).
    """

    __tablename__ = "pose_sequence"
    __table_args__ = (
        _in("kind", POSE_KINDS, "kind_values"),
        _in("joint_format", JOINT_FORMATS, "joint_format_values"),
        CheckConstraint("fps > 0", name="fps_positive"),
        CheckConstraint("n_frames >= 0 AND n_joints > 0 AND n_channels > 0", name="shape_positive"),
        UniqueConstraint("analysis_id", "kind", "joint_format", name="uq_pose_sequence_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recording.id", ondelete="CASCADE"), index=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(4))
    joint_format: Mapped[str] = mapped_column(String(20))
    n_frames: Mapped[int] = mapped_column(Integer)
    n_joints: Mapped[int] = mapped_column(Integer)
    n_channels: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(10))
    fps: Mapped[float] = mapped_column(Float)
    model_name: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[bytes] = mapped_column(LargeBinary)
    aux: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)

    analysis: Mapped[Analysis] = relationship(back_populates="pose_sequences")


class GaitParameter(Base):
    """One spatiotemporal parameter summary (mean over strides) with its normal range and flag."""

    __tablename__ = "gait_parameter"
    __table_args__ = (
        UniqueConstraint("analysis_id", "name", "side", name="uq_gait_parameter_name_side"),
        _in("side", SIDES_PARAM, "side_values"),
        _in("flag", FLAGS, "flag_values"),
        CheckConstraint("n >= 0", name="n_nonneg"),
        Index("ix_gait_parameter_name_side", "name", "side"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(200), default="")
    side: Mapped[str] = mapped_column(String(4))
    value: Mapped[Optional[float]] = mapped_column(Float)  # NULL = not measurable (NaN in the record)
    unit: Mapped[str] = mapped_column(String(20), default="")
    sd: Mapped[Optional[float]] = mapped_column(Float)
    cv_pct: Mapped[Optional[float]] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer, default=0)
    normal_low: Mapped[Optional[float]] = mapped_column(Float)
    normal_high: Mapped[Optional[float]] = mapped_column(Float)
    normal_source: Mapped[str] = mapped_column(Text, default="")
    flag: Mapped[str] = mapped_column(String(8), default="unknown")


class GaitCurveRow(Base):
    """A joint-angle curve over the gait cycle; the 101-point arrays are one bundle blob."""

    __tablename__ = "gait_curve"
    __table_args__ = (
        UniqueConstraint("analysis_id", "name", "side", name="uq_gait_curve_name_side"),
        _in("side", SIDES_CURVE, "side_values"),
        CheckConstraint("n_strides >= 0", name="n_strides_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(4))
    unit: Mapped[str] = mapped_column(String(20), default="")
    n_strides: Mapped[int] = mapped_column(Integer, default=0)
    normal_source: Mapped[str] = mapped_column(Text, default="")
    arrays: Mapped[bytes] = mapped_column(LargeBinary)  # bundle: pct, mean, sd[, normal_mean, normal_sd]


class StrideRow(Base):
    """One stride of the per-stride table (columns mirror :class:`gaitscope.records.Stride`; NaN -> NULL)."""

    __tablename__ = "stride"
    __table_args__ = (
        UniqueConstraint("analysis_id", "idx", name="uq_stride_idx"),
        _in("side", SIDES, "side_values"),
        CheckConstraint("end_frame >= start_frame", name="frames_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)  # order within the analysis
    side: Mapped[str] = mapped_column(String(1))
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    stride_time_s: Mapped[Optional[float]] = mapped_column(Float)
    stride_length_m: Mapped[Optional[float]] = mapped_column(Float)
    step_time_s: Mapped[Optional[float]] = mapped_column(Float)
    step_length_m: Mapped[Optional[float]] = mapped_column(Float)
    stance_pct: Mapped[Optional[float]] = mapped_column(Float)
    swing_pct: Mapped[Optional[float]] = mapped_column(Float)
    double_support_pct: Mapped[Optional[float]] = mapped_column(Float)
    step_width_m: Mapped[Optional[float]] = mapped_column(Float)
    speed_m_s: Mapped[Optional[float]] = mapped_column(Float)
    toe_off_frame: Mapped[Optional[int]] = mapped_column(Integer)


class GaitEventRow(Base):
    """One heel strike or toe off."""

    __tablename__ = "gait_event"
    __table_args__ = (
        UniqueConstraint("analysis_id", "idx", name="uq_gait_event_idx"),
        _in("side", SIDES, "side_values"),
        _in("kind", EVENT_KINDS, "kind_values"),
        _range("quality", 0, 1, "quality_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(1))
    kind: Mapped[str] = mapped_column(String(16))
    frame: Mapped[int] = mapped_column(Integer)
    time_s: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float, default=1.0)


class Embedding(Base):
    """A motion embedding: pooled (D,) float32 vector, optional per-frame (T, D) float16 blob."""

    __tablename__ = "embedding"
    __table_args__ = (
        UniqueConstraint("analysis_id", "model_name", "model_version", name="uq_embedding_model"),
        CheckConstraint("dim > 0", name="dim_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(Text)
    dim: Mapped[int] = mapped_column(Integer)
    pooled: Mapped[bytes] = mapped_column(LargeBinary)
    per_frame: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)


# ---------------------------------------------------------------------------------------------------------
# Classifier heads and their outputs
# ---------------------------------------------------------------------------------------------------------


class ModelRegistry(Base):
    """A trained classifier head (e.g. PD vs healthy from embeddings) and how it was trained."""

    __tablename__ = "model_registry"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_model_registry_name_version"),
        CheckConstraint("blob IS NOT NULL OR path IS NOT NULL", name="has_weights"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100))
    feature_set: Mapped[str] = mapped_column(Text, default="")
    classes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    training_data: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blob: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    path: Mapped[Optional[str]] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)


class PredictionRow(Base):
    """A head's output for one analysis. ``confidence`` is the probability of ``predicted`` (CHECK 0-1);
    the full class list and probabilities are JSON (validated in the repository: each in [0, 1], sum 1)."""

    __tablename__ = "prediction"
    __table_args__ = (
        UniqueConstraint("analysis_id", "head_name", "head_version", name="uq_prediction_head"),
        _range("confidence", 0, 1, "confidence_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_registry.id", ondelete="SET NULL"))
    head_name: Mapped[str] = mapped_column(String(100))
    head_version: Mapped[str] = mapped_column(String(100))
    feature_set: Mapped[str] = mapped_column(Text, default="")
    classes: Mapped[list[Any]] = mapped_column(JSON)
    probabilities: Mapped[list[Any]] = mapped_column(JSON)
    predicted: Mapped[str] = mapped_column(String(100))
    confidence: Mapped[Optional[float]] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)


class ReportExport(Base):
    """A PDF/CSV report written for an analysis (file path and its hash, to prove what was handed out)."""

    __tablename__ = "report_export"
    __table_args__ = (
        _in("kind", EXPORT_KINDS, "kind_values"),
        CheckConstraint("sha256 IS NULL OR length(sha256) = 64", name="sha256_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[Optional[str]] = mapped_column(String(64))
    size_bytes: Mapped[Optional[int]] = mapped_column(Integer)
    created_by: Mapped[Optional[str]] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)


# ---------------------------------------------------------------------------------------------------------
# Operations: audit, jobs, users
# ---------------------------------------------------------------------------------------------------------


class AuditLog(Base):
    """Who did what to which record, when. Append-only: the ORM refuses updates and deletes (the
    ``before_flush`` hook at the end of this module); no foreign keys so entries survive their subject."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Ts, default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[Optional[str]] = mapped_column(String(100))
    details: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)


class Job(Base):
    """A queued analysis of a recording, claimed by a worker (heartbeat lets a stuck job be reclaimed)."""

    __tablename__ = "job"
    __table_args__ = (
        _in("status", JOB_STATUSES, "status_values"),
        _range("progress", 0, 1, "progress_range"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        Index("ix_job_status_created", "status", "created_at"),
        # migration 0003: finding running jobs whose worker stopped heart-beating (reclaim) without a scan
        Index("ix_job_status_heartbeat", "status", "heartbeat_at"),
        # migration 0003: at most one queued-or-running job per recording, also under concurrent enqueues
        Index("uq_job_active_recording", "recording_id", unique=True,
              sqlite_where=text("status IN ('queued', 'running')"),
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recording.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[Optional[str]] = mapped_column(String(100))
    error: Mapped[Optional[str]] = mapped_column(Text)
    # migration 0005: the traceback of an internal error, for administrators; never shown as the user's message
    detail: Mapped[Optional[str]] = mapped_column(Text)
    claimed_by: Mapped[Optional[str]] = mapped_column(String(200))
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(Ts)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    options: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(Ts)
    finished_at: Mapped[Optional[datetime]] = mapped_column(Ts)


class JobWorker(Base):
    """A running ``gaitscope worker`` (migration 0003), heart-beating even while idle.

    The job rows only tell which workers are *busy*; this table tells whether any worker is *alive*, so the
    dashboard can start its own fallback worker when none is (see :mod:`gaitscope.ui.jobs`). A row whose
    heartbeat is older than the stale timeout belongs to a worker that was killed; it is harmless and removed by
    the next worker that starts.
    """

    __tablename__ = "job_worker"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[Optional[str]] = mapped_column(String(200))
    pid: Mapped[Optional[int]] = mapped_column(Integer)
    kind: Mapped[Optional[str]] = mapped_column(String(20))  # "cli" (gaitscope worker) or "app" (dashboard thread)
    started_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(Ts, default=utcnow, index=True)


class User(Base):
    """An account of the web application (``app_user``: ``user`` is reserved in PostgreSQL)."""

    __tablename__ = "app_user"
    __table_args__ = (
        _in("role", ROLES, "role_values"),
        CheckConstraint("length(username) > 0", name="username_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    site: Mapped[Optional[str]] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(Ts)
    # access control (migration 0002): care team narrows a clinician's site; failed sign-ins and the lock are
    # stored here so that a restart of the app does not reset the brute-force protection.
    care_team: Mapped[Optional[str]] = mapped_column(String(100))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[Optional[datetime]] = mapped_column(Ts)
    password_changed_at: Mapped[Optional[datetime]] = mapped_column(Ts)
    # migration 0007: set when someone else (an administrator, ``gaitscope user add``) chose the password; the
    # account may do nothing but set its own password until it is cleared (see gaitscope.db.auth)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class UserSession(Base):
    """A signed-in browser session. Only the SHA-256 of the random token is stored (a stolen database copy
    cannot be replayed as a session); ``expires_at`` is the absolute end, ``last_seen_at`` drives the idle
    timeout (see :mod:`gaitscope.db.auth`)."""

    __tablename__ = "user_session"
    __table_args__ = (CheckConstraint("length(token_hash) = 64", name="token_hash_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(Ts, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Ts)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(Ts)


# ---------------------------------------------------------------------------------------------------------
# Append-only audit log: refuse UPDATE/DELETE of AuditLog rows through the ORM.
# ---------------------------------------------------------------------------------------------------------


@event.listens_for(Session, "before_flush")
def _audit_log_is_append_only(session: Session, _ctx: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditLog) and (obj in session.deleted or session.is_modified(obj)):
            from gaitscope.errors import DatabaseError

            raise DatabaseError("The audit log is append-only: its entries cannot be changed or deleted.")
