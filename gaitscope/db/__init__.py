"""gaitscope.db: the clinical database (SQLAlchemy 2.x models, Alembic migrations, sessions, access control, jobs,
and one module per kind of record: patients and visits, recordings, analyses, the audit trail, the classifier
registry; shared row helpers in :mod:`gaitscope.db.rows`).

Typical use (what the pipeline does)::

    from gaitscope.db import open_database, create_patient, create_visit, register_recording, save_analysis
    db = open_database(url, auto_upgrade=True)
    with db.session() as s:                      # commits on success, rolls back on error
        p = create_patient(s, "PD-0042", sex="F", birth_year=1950, height_cm=162, diagnosis="PD")
        v = create_visit(s, p)
        rec = register_recording(s, v, sha256=..., original_name="walk.mp4", kind="video", fps=30, ...)

Researchers use :mod:`gaitscope.db.cohort` instead (tidy DataFrames, no identifying data).
"""

from gaitscope.db.analysis_records import (
    find_analysis,
    get_analysis,
    latest_analysis,
    list_analyses,
    load_analysis,
    load_embedding,
    load_poses,
    load_predictions,
    load_report,
    save_analysis,
)
from gaitscope.db.audit_trail import audit
from gaitscope.db.engine import Database, default_url, gaitscope_home, make_engine, open_database
from gaitscope.db.migrate import current_revision, downgrade, head_revision, upgrade
from gaitscope.db.model_registry import active_model, record_export, register_model
from gaitscope.db.patients import (
    create_patient,
    create_visit,
    delete_patient,
    get_patient,
    list_patients,
    set_patient_identity,
)
from gaitscope.db.recordings import find_recording_by_hash, get_recording, mark_recording_status, register_recording

default_db_url = default_url  # the name the CLI uses

__all__ = [
    "Database", "default_db_url", "default_url", "gaitscope_home", "make_engine", "open_database",
    "current_revision", "downgrade", "head_revision", "upgrade",
    "active_model", "audit", "create_patient", "create_visit", "delete_patient", "find_analysis",
    "find_recording_by_hash", "get_analysis", "get_patient", "get_recording", "latest_analysis", "list_analyses",
    "list_patients", "load_analysis", "load_embedding", "load_poses", "load_predictions", "load_report",
    "mark_recording_status", "record_export", "register_model", "register_recording", "save_analysis",
    "set_patient_identity",
]
