"""Migration 0002 (access control) steps down to 0001 and back up without losing accounts or audit entries."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from gaitscope.db import migrate


def _columns(url, table):
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}, set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0002_down_to_0001_and_back_up(db_url):
    assert migrate.upgrade(db_url) == migrate.head_revision()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, password_hash, role, site, active, created_at, failed_attempts)"
                          " VALUES ('dr_a', 'x', 'clinician', 'A', true, CURRENT_TIMESTAMP, 3)"))
        conn.execute(text("INSERT INTO audit_log (at, username, action, entity) VALUES (CURRENT_TIMESTAMP, 'dr_a', 'view', 'patient')"))
    engine.dispose()
    cols, tables = _columns(db_url, "app_user")
    assert {"failed_attempts", "locked_until", "care_team"} <= cols and "user_session" in tables

    assert migrate.downgrade(db_url, "0001") == "0001"
    cols, tables = _columns(db_url, "app_user")
    assert "failed_attempts" not in cols and "user_session" not in tables
    engine = create_engine(db_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT username FROM app_user")).scalars().all() == ["dr_a"]
        conn.execute(text("UPDATE audit_log SET action = 'view'"))  # the trigger went away with 0002
    engine.dispose()

    assert migrate.upgrade(db_url) == migrate.head_revision()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT failed_attempts FROM app_user")).scalars().all() == [0]
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 1
    engine.dispose()
