"""Connecting: the default database URL and engines with gaitscope's connection settings.

Kept apart from :mod:`gaitscope.db.engine` (sessions, the schema-version gate) so that
:mod:`gaitscope.db.migrate` can make engines without importing the module that imports it: the arrow goes
``engine -> migrate -> connect`` and ``engine -> connect``, never back. Callers keep importing these names from
:mod:`gaitscope.db.engine`, which re-exports them.

* Default URL: ``sqlite:///<GAITSCOPE_HOME or ~/.gaitscope>/gaitscope.db``; ``GAITSCOPE_DB_URL`` overrides it
  (both through :func:`gaitscope.settings.settings`).
* SQLite is set up for a small multi-process installation: WAL journal, ``foreign_keys=ON``, a busy timeout, and
  ``BEGIN IMMEDIATE`` for write sessions (see :mod:`gaitscope.db.engine`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from gaitscope.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def gaitscope_home() -> Path:
    """``$GAITSCOPE_HOME`` or ``~/.gaitscope``: where the embedded database and uploads live."""
    from gaitscope.settings import settings

    return settings().home or Path.home() / ".gaitscope"


def default_url() -> str:
    """The URL used when none is given: ``$GAITSCOPE_DB_URL`` or the embedded SQLite file."""
    from gaitscope.settings import settings

    env = settings().db_url
    if env:
        return env
    return f"sqlite:///{gaitscope_home() / 'gaitscope.db'}"


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        # Let SQLAlchemy (not the sqlite3 module) emit BEGIN, so SAVEPOINTs and BEGIN IMMEDIATE work.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; FULL costs an fsync per commit
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        mode = conn.get_execution_options().get("gaitscope_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with gaitscope's connection settings (SQLite pragmas, pool pre-ping)."""
    try:
        u = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseError(f"The database URL {url!r} is not valid.", hint="Example: sqlite:///path/to/gaitscope.db") from exc
    if u.get_backend_name() == "sqlite":
        db = u.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _install_sqlite_pragmas(engine)
        return engine
    return create_engine(u, echo=echo, pool_pre_ping=True)
