"""Alembic migrations: empty -> head, one step down and back up, the models match the migrations, and the
application refuses a schema that is behind (or ahead of) the code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from gaitscope.db import create_patient, get_patient, migrate, open_database
from gaitscope.db.engine import default_url, make_engine
from gaitscope.db.models import Base
from gaitscope.errors import DatabaseError, SchemaOutdatedError


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_empty_to_head_creates_every_table(db_url):
    assert migrate.upgrade(db_url) == migrate.head_revision()
    assert _tables(db_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate.status(db_url) == {"current": migrate.head_revision(), "head": migrate.head_revision()}


def test_models_and_migrations_agree(db_url):
    """Autogenerate against the migrated schema finds nothing to do: no model change lacks a migration."""
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_one_step_and_back_up(db_url):
    head = migrate.upgrade(db_url)
    previous = migrate.downgrade(db_url, "-1")
    assert previous != head and previous is not None
    assert migrate.upgrade(db_url) == head
    # All the way down removes every table; back up to head works from empty.
    migrate.downgrade(db_url, "base")
    assert _tables(db_url) <= {"alembic_version"}
    assert migrate.upgrade(db_url) == head
    db = open_database(db_url)
    try:
        with db.session() as s:
            create_patient(s, "AFTER-ROUND-TRIP", height_cm=170)
        with db.session() as s:
            assert get_patient(s, "AFTER-ROUND-TRIP").height_cm == 170
    finally:
        db.dispose()


def test_app_refuses_an_empty_schema_and_auto_upgrade_creates_it(db_url):
    with pytest.raises(SchemaOutdatedError, match=r"run: gaitscope db upgrade --db "):
        open_database(db_url)
    db = open_database(db_url, auto_upgrade=True)
    db.dispose()
    open_database(db_url).dispose()  # now at head: accepted without auto_upgrade


def test_app_refuses_a_schema_behind_head(db_url):
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    engine = make_engine(db_url)
    with engine.begin() as conn:  # simulate an older release's schema: tables exist, version unknown/old
        conn.execute(text("CREATE TABLE patient (id INTEGER PRIMARY KEY, code VARCHAR(64))"))
    engine.dispose()
    with pytest.raises(SchemaOutdatedError, match="gaitscope db upgrade") as info:
        open_database(db_url)
    assert "password" not in str(info.value) and ":gaitscope@" not in str(info.value)  # URL shown without secrets


def test_app_refuses_a_schema_from_a_newer_gaitscope(db_url):
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="newer version of gaitscope"):
        open_database(db_url, auto_upgrade=True)


def test_default_url_follows_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GAITSCOPE_DB_URL", raising=False)
    monkeypatch.setenv("GAITSCOPE_HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{tmp_path / 'home' / 'gaitscope.db'}"
    db = open_database(auto_upgrade=True)  # the embedded default: directory created, schema created
    db.dispose()
    assert (tmp_path / "home" / "gaitscope.db").exists()
    monkeypatch.setenv("GAITSCOPE_DB_URL", "postgresql+psycopg://u:p@db.example/gs")
    assert default_url() == "postgresql+psycopg://u:p@db.example/gs"


def test_unreachable_or_invalid_url_is_a_database_error(tmp_path):
    with pytest.raises(DatabaseError, match="not valid"):
        open_database("not a url")
    with pytest.raises(DatabaseError, match="Cannot reach"):
        open_database("postgresql+psycopg://nobody:x@127.0.0.1:1/none", auto_upgrade=True)


def test_postgres_backend_configured():
    """Reports (as a skip) that the PostgreSQL half of the suite did not run."""
    if not os.environ.get("GAITSCOPE_TEST_PG_URL"):
        pytest.skip('GAITSCOPE_TEST_PG_URL not set: db tests ran on SQLite only (start one: eval "$(.ci/postgres.sh)")')
    assert os.environ["GAITSCOPE_TEST_PG_URL"].startswith("postgresql")


def test_migrations_ship_inside_the_package():
    here = Path(migrate.__file__).parent
    assert (here / "alembic.ini").is_file()
    assert (here / "migrations" / "versions" / "0001_initial.py").is_file()
    assert migrate.head_revision() in migrate.known_revisions()


def test_0008_turns_the_height_prose_of_stored_analyses_into_values(db_url):
    """Issue 25: an analysis stored before 0008 had its height only as prose; the upgrade reads it once into
    ``analysis.height_m`` and the 3D motion's ``scale_height_m`` / ``scale_assumed``, and a new save writes them."""
    import dataclasses
    import json

    from gaitscope.db import load_poses, load_report, save_analysis
    from gaitscope.db.samples import make_sample_analysis
    from tests.db.db_helpers import new_recording

    migrate.upgrade(db_url)
    db = open_database(db_url)
    smp = make_sample_analysis(seed=3, n_frames=30, with_raw=False)
    report = dataclasses.replace(smp.report, height_m=1.72,
                                 scale_note="Lengths in metres from 'subject height 172 cm (stature ...)'.")
    try:
        with db.session() as s:
            rec = new_recording(s, code="LEGACY-1")
            aid = save_analysis(s, rec, keypoints2d=smp.keypoints2d, motion3d=smp.motion3d, report=report,
                                embedding=None, predictions=(), model_name="m", model_version="1",
                                analysis_version="a1", pipeline_version="p1").id
        with db.session() as s:
            assert load_report(s, aid).height_m == 1.72
            motion, _ = load_poses(s, aid)
            assert (motion.scale_height_m, motion.scale_assumed) == (1.70, True)
    finally:
        db.dispose()
    # make it an old row: no typed values (as written before 0008), then down to 0007 and back up
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE analysis SET height_m = NULL"))
            rows = conn.execute(text("SELECT id, meta FROM pose_sequence WHERE kind = '3d'")).all()
            for row_id, meta in rows:
                meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
                meta.pop("scale_height_m"), meta.pop("scale_assumed")
                conn.execute(text("UPDATE pose_sequence SET meta = :m WHERE id = :i"),
                             {"m": json.dumps(meta), "i": row_id})
    finally:
        engine.dispose()
    assert migrate.downgrade(db_url, "0007") == "0007"
    migrate.upgrade(db_url)
    db = open_database(db_url)
    try:
        with db.session() as s:
            assert load_report(s, aid).height_m == pytest.approx(1.72)
            motion, _ = load_poses(s, aid)
            assert motion.scale_height_m == pytest.approx(1.70) and motion.scale_assumed is True
    finally:
        db.dispose()
