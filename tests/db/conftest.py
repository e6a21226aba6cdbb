"""Fixtures for the database tests: every test that takes ``db_url`` / ``db`` runs on SQLite and, when
``GAITSCOPE_TEST_PG_URL`` is set (see ``.ci/postgres.sh``), on PostgreSQL too, each time with nothing left over
from other tests.

``db_url`` is a brand-new EMPTY database (migration tests). ``db`` / ``head_url`` is a database at the schema
head, migrated once per session: on SQLite each test gets its own copy of the migrated file; on PostgreSQL
each test gets the session's migrated database with every table emptied (DELETE, children first), because
``CREATE DATABASE`` costs 1-3 s per test on a loaded two-core machine while emptying costs tens of ms.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gaitscope.db import open_database, upgrade
from gaitscope.db.engine import Database
from gaitscope.db.models import Base

PG_URL = os.environ.get("GAITSCOPE_TEST_PG_URL")

# PostgreSQL joins the parametrisation only when a server is configured; otherwise one test says it was skipped
# (test_db_migrations.py::test_postgres_backend_configured) instead of one skip line per test.
BACKENDS = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else [])


def _pg_admin():
    return create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")


def _pg_database() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test and drop it afterwards."""
    name = f"gs_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Templates:
    """Databases at the schema head, made on first use and reused for the whole session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._sqlite: Path | None = None
        self._pg: str | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self.tmp / "template.db"
            upgrade(f"sqlite:///{path}")
            self._sqlite = path
        return self._sqlite

    def pg(self) -> str:
        if self._pg is None:
            name = f"gs_template_{uuid.uuid4().hex[:8]}"
            admin = _pg_admin()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            upgrade(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
            self._pg = name
        return self._pg

    def pg_emptied(self) -> str:
        """The PostgreSQL template database with all rows removed (schema and alembic_version kept)."""
        url = make_url(PG_URL).set(database=self.pg())
        engine = create_engine(url)
        with engine.begin() as conn:  # DELETE beats TRUNCATE on a handful of rows (no new files to fsync)
            for table in reversed(Base.metadata.sorted_tables):
                if table.name == "audit_log":  # append-only: its DELETE trigger refuses; TRUNCATE fires no row trigger
                    conn.execute(text("TRUNCATE audit_log"))
                else:
                    conn.execute(table.delete())
        engine.dispose()
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self._pg is not None:
            admin = _pg_admin()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._pg}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def _templates(tmp_path_factory) -> Iterator[_Templates]:
    t = _Templates(tmp_path_factory.mktemp("db-templates"))
    yield t
    t.drop()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(backend, tmp_path) -> Iterator[str]:
    """URL of an empty database (no schema yet)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'gaitscope.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def head_url(backend, tmp_path, _templates) -> Iterator[str]:
    """URL of a fresh database already at the schema head."""
    if backend == "sqlite":
        path = tmp_path / "gaitscope.db"
        shutil.copyfile(_templates.sqlite(), path)
        yield f"sqlite:///{path}"
    else:
        yield _templates.pg_emptied()


@pytest.fixture
def db(head_url) -> Iterator[Database]:
    """An open database at the schema head (``open_database`` without auto-upgrade must accept it)."""
    database = open_database(head_url)
    try:
        yield database
    finally:
        database.dispose()
