"""Every model round-trips through the database, and the schema itself (not Python) enforces the rules:
rows inserted straight through the ORM, bypassing the repository, are refused by the database."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from db_helpers import sha
from sqlalchemy import select

from gaitscope.db import open_database
from gaitscope.db.models import (
    Analysis,
    AuditLog,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    Job,
    ModelRegistry,
    Patient,
    PatientIdentity,
    PoseSequence,
    PredictionRow,
    Recording,
    ReportExport,
    StrideRow,
    User,
    Visit,
)
from gaitscope.errors import DatabaseError, DuplicateError


def _chain(s):
    """patient -> visit -> recording -> analysis, flushed; returns the analysis."""
    p = Patient(code="C1", sex="M", birth_year=1960, height_cm=180.0, diagnosis="healthy", updrs_iii=0.0,
                updrs_gait=0, notes="n", site="S", care_team="T")
    v = Visit(patient=p, visit_date=date(2025, 3, 1), notes="first")
    r = Recording(visit=v, sha256=sha("r"), original_name="a.mp4", kind="video", fps=25.0, duration_s=4.0,
                  width=1280, height=720, size_bytes=999)
    a = Analysis(recording=r, pipeline_version="p", model_name="m", model_version="1", analysis_version="a",
                 fps=25.0, n_frames=100, duration_s=4.0, scale_note="height", source="src",
                 scores={"GPS": 6.1, "GVS": None}, warnings=["w"], angles_columns=["k"], angles=b"\x00\x01")
    s.add_all([p, v, r, a])
    s.flush()
    return a


def test_every_model_round_trips(db):
    with db.session() as s:
        a = _chain(s)
        rid = a.recording_id
        s.add_all([
            PatientIdentity(patient_id=a.recording.visit.patient_id, given_name="G", family_name="F",
                            date_of_birth=date(1960, 5, 2), hospital_number="H", contact="c"),
            PoseSequence(recording_id=rid, analysis_id=a.id, kind="3d", joint_format="h36m17", n_frames=100,
                         n_joints=17, n_channels=3, dtype="float32", fps=25.0, model_name="m", model_version="1",
                         data=b"blob", aux=None, meta={"up": [0, 0, 1]}),
            GaitParameter(analysis_id=a.id, name="cadence", label="Cadence", side="both", value=101.5,
                          unit="steps/min", sd=2.0, cv_pct=2.0, n=8, normal_low=95, normal_high=125,
                          normal_source="ref", flag="normal"),
            GaitCurveRow(analysis_id=a.id, name="knee_flexion", side="L", unit="deg", n_strides=4,
                         normal_source="ref", arrays=b"x"),
            StrideRow(analysis_id=a.id, idx=0, side="L", start_frame=3, end_frame=30, stride_time_s=1.1,
                      stride_length_m=1.3, step_time_s=0.55, step_length_m=0.65, stance_pct=61, swing_pct=39,
                      double_support_pct=21, step_width_m=None, speed_m_s=1.2, toe_off_frame=19),
            GaitEventRow(analysis_id=a.id, idx=0, side="R", kind="toe_off", frame=12, time_s=0.48, quality=0.7),
            Embedding(analysis_id=a.id, model_name="m", model_version="1", dim=4, pooled=b"p", per_frame=None),
            ModelRegistry(name="head", version="1", feature_set="params", classes=["a", "b"], training_data="d",
                          metrics={"acc": 0.8}, path="/models/head.pt", active=True),
            ReportExport(analysis_id=a.id, kind="csv", path="/tmp/x.csv", sha256=sha("csv"), size_bytes=5,
                         created_by="u"),
            AuditLog(username="u", action="export", entity="analysis", entity_id=str(a.id), details={"k": [1, 2]}),
            Job(recording_id=rid, status="running", progress=0.5, stage="lifting", claimed_by="worker-1",
                heartbeat_at=datetime(2026, 1, 1, tzinfo=timezone.utc), attempts=1, options={"tta": True}),
            User(username="dr_who", password_hash="argon2$...", role="clinician", site="S"),
        ])
        s.flush()
        s.add(PredictionRow(analysis_id=a.id, model_id=s.scalars(select(ModelRegistry)).one().id, head_name="head",
                            head_version="1", feature_set="params", classes=["a", "b"], probabilities=[0.3, 0.7],
                            predicted="b", confidence=0.7))
    with db.session() as s:
        a = s.scalars(select(Analysis)).one()
        assert a.scores == {"GPS": 6.1, "GVS": None} and a.warnings == ["w"] and a.angles == b"\x00\x01"
        p = a.recording.visit.patient
        assert (p.code, p.sex, p.birth_year, p.height_cm, p.updrs_gait, p.care_team) == ("C1", "M", 1960, 180.0, 0, "T")
        assert p.identity.date_of_birth == date(1960, 5, 2)
        assert a.recording.visit.visit_date == date(2025, 3, 1)
        assert a.pose_sequences[0].meta == {"up": [0, 0, 1]} and a.pose_sequences[0].data == b"blob"
        assert a.parameters[0].value == 101.5 and a.curves[0].arrays == b"x"
        assert a.strides[0].step_width_m is None and a.strides[0].toe_off_frame == 19
        assert a.events[0].kind == "toe_off" and a.embeddings[0].per_frame is None
        assert a.predictions[0].probabilities == [0.3, 0.7] and a.exports[0].kind == "csv"
        assert s.scalars(select(AuditLog)).one().details == {"k": [1, 2]}
        job = s.scalars(select(Job)).one()
        assert (job.status, job.progress, job.options, job.heartbeat_at.year) == ("running", 0.5, {"tta": True}, 2026)
        assert s.scalars(select(User)).one().role == "clinician"
        assert s.scalars(select(ModelRegistry)).one().metrics == {"acc": 0.8}
        assert a.created_at is not None and p.updated_at is not None


BAD_ROWS = [
    (lambda a: Patient(code="X", height_cm=900.0), "Height must be between 30 and 250"),
    (lambda a: Patient(code="X", updrs_gait=7), "UPDRS gait"),
    (lambda a: Patient(code="X", birth_year=1800), "Birth year"),
    (lambda a: Patient(code="", ), "must not be empty"),
    (lambda a: Recording(visit_id=a.recording.visit_id, sha256=sha("z"), kind="video", fps=0.0, status="pending"),
     "frame rate"),
    (lambda a: Recording(visit_id=a.recording.visit_id, sha256=sha("z"), kind="video", status="lost"), "status"),
    (lambda a: PredictionRow(analysis_id=a.id, head_name="h", head_version="1", classes=["a"], probabilities=[1.2],
                             predicted="a", confidence=1.2), "probability must be between 0 and 1"),
    (lambda a: GaitParameter(analysis_id=a.id, name="x", side="X", flag="normal"), "side_values"),
    (lambda a: GaitParameter(analysis_id=a.id, name="x", side="L", flag="weird"), "flag_values"),
    (lambda a: Job(recording_id=a.recording_id, status="queued", progress=2.0), "progress"),
    (lambda a: User(username="u", password_hash="h", role="god"), "Role must be"),
    (lambda a: ModelRegistry(name="n", version="1"), "has_weights"),
    (lambda a: GaitEventRow(analysis_id=a.id, idx=0, side="L", kind="jump", frame=1, time_s=0.0), "kind_values"),
    (lambda a: StrideRow(analysis_id=a.id, idx=0, side="L", start_frame=10, end_frame=5), "frames_ordered"),
    (lambda a: PoseSequence(recording_id=a.recording_id, analysis_id=a.id, kind="4d", joint_format="h36m17",
                            n_frames=1, n_joints=17, n_channels=3, dtype="f", fps=30.0, data=b""), "kind_values"),
    (lambda a: Visit(patient_id=987654, visit_date=date.today()), "refers to something that does not exist"),
]


@pytest.mark.parametrize("make, message", BAD_ROWS, ids=[m for _, m in BAD_ROWS])
def test_schema_refuses_bad_rows(db, make, message):
    with db.session() as s:
        aid = _chain(s).id
    with pytest.raises(DatabaseError, match=message) as info:
        with db.session() as s:
            s.add(make(s.get(Analysis, aid)))
            s.flush()
    assert "sqlalchemy" not in str(info.value).lower()
    assert info.value.__cause__ is not None  # the driver error stays chained for developers


@pytest.mark.parametrize(
    "make",
    [
        lambda a: Patient(code="C1"),
        lambda a: Recording(visit_id=a.recording.visit_id, sha256=sha("r"), kind="video", status="pending"),
        lambda a: Analysis(recording_id=a.recording_id, pipeline_version="p", model_name="m", model_version="1",
                           analysis_version="a", fps=25.0, n_frames=1, duration_s=1.0),
        lambda a: User(username="u", password_hash="h", role="admin"),
    ],
    ids=["patient", "recording", "analysis", "user"],
)
def test_schema_unique_keys_give_duplicate_error(db, make):
    with db.session() as s:
        aid = _chain(s).id
        s.add(User(username="u", password_hash="h", role="admin"))
    with pytest.raises(DuplicateError, match="already"):
        with db.session() as s:
            s.add(make(s.get(Analysis, aid)))


def test_deleting_a_registered_head_keeps_its_predictions(db):
    with db.session() as s:
        a = _chain(s)
        m = ModelRegistry(name="h", version="1", blob=b"w")
        s.add(m)
        s.flush()
        s.add(PredictionRow(analysis_id=a.id, model_id=m.id, head_name="h", head_version="1", classes=["x"],
                            probabilities=[1.0], predicted="x", confidence=1.0))
    with db.session() as s:
        s.delete(s.scalars(select(ModelRegistry)).one())
    with db.session() as s:
        pred = s.scalars(select(PredictionRow)).one()
        assert pred.model_id is None and pred.head_name == "h"


def test_sqlite_pragmas(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'p.db'}", auto_upgrade=True)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    db.dispose()


def test_sqlite_write_sessions_take_the_write_lock_first(tmp_path):
    """A write session holds SQLite's write lock from its first statement (BEGIN IMMEDIATE), so two writers
    queue instead of failing half-way; a read session does not block writers."""
    import sqlite3

    path = tmp_path / "lock.db"
    db = open_database(f"sqlite:///{path}", auto_upgrade=True)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with db.read_session() as s:
            s.scalars(select(Patient)).all()
            other.execute("BEGIN IMMEDIATE")  # a reader does not hold the write lock
            other.execute("ROLLBACK")
        with db.session() as s:
            s.scalars(select(Patient)).all()  # only a read so far...
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # ...but the write lock is already ours
    finally:
        other.close()
        db.dispose()
