"""Opening a database: sessions and the schema-version gate (URL resolution and engine set-up: :mod:`gaitscope.db.connect`).

* Default URL: ``sqlite:///<GAITSCOPE_HOME or ~/.gaitscope>/gaitscope.db``; ``GAITSCOPE_DB_URL`` overrides it;
  PostgreSQL works through ``postgresql+psycopg://user:pass@host:port/db``.
* SQLite is set up for a small multi-process installation (web app + worker): WAL journal (readers never block
  the writer), ``foreign_keys=ON`` (off by default in SQLite, and our ON DELETE rules depend on it) and a busy
  timeout so a second writer waits instead of failing. Write sessions start with ``BEGIN IMMEDIATE``: with
  SQLite's default deferred transactions, two processes that both *read then write* can deadlock and one gets
  "database is locked" at once without waiting; taking the write lock first makes writers queue politely.
* :func:`open_database` refuses a schema that is behind the code (:class:`SchemaOutdatedError`): running new
  code on an old schema corrupts data quietly, and upgrading a clinical database must be a deliberate act
  (``gaitscope db upgrade``). ``auto_upgrade=True`` is for the embedded default database and tests.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

# URL resolution and engine set-up live in gaitscope.db.connect, which gaitscope.db.migrate imports too (so the
# two modules no longer import each other); they are re-exported here, where callers have always found them.
from gaitscope.db.connect import SQLITE_BUSY_TIMEOUT_MS, default_url, gaitscope_home, make_engine
from gaitscope.db.translate import translate
from gaitscope.errors import AccessDeniedError, DatabaseError, SchemaOutdatedError

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "Database", "default_url", "gaitscope_home", "make_engine", "open_database"]


class Database:
    """An open database: an engine plus session factories. Create it with :func:`open_database`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self.is_sqlite = engine.dialect.name == "sqlite"
        write_bind = engine.execution_options(gaitscope_begin="IMMEDIATE") if self.is_sqlite else engine
        self._write = sessionmaker(bind=write_bind, expire_on_commit=False)
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._depth = threading.local()  # open sessions of this thread: refusals are audited at the outermost

    def record_refusal(self, exc: BaseException) -> None:
        """Audit a refused access (an :class:`AccessDeniedError` raised by :mod:`gaitscope.db.access` carries
        its entry in ``exc.refusal``) in a transaction of its own, once.

        The refusal rolls back the caller's unit of work, so the entry cannot be written there; it is written
        here after that rollback, when the outermost session of this thread has closed (on SQLite an inner write
        would wait for the outer session's write lock until the busy timeout).
        """
        entry = getattr(exc, "refusal", None)
        if not isinstance(exc, AccessDeniedError) or not entry or getattr(self._depth, "n", 0) > 0:
            return
        exc.refusal = None  # type: ignore[attr-defined]  # written once, however many handlers see it
        from gaitscope.db.audit_trail import audit

        try:
            with self.session() as s:
                audit(s, entry["username"], entry["action"], entry["entity"], entry.get("entity_id"),
                      entry.get("details"))
        except DatabaseError:  # the refusal itself must still reach the user
            pass

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back on any exception.

        Database exceptions (constraint violations, lost connections) leave as :class:`DatabaseError`.
        Objects stay usable after the block (``expire_on_commit=False``), e.g. ``recording.id``.

        Keep write sessions short (open one to save results, not around a minutes-long analysis): on SQLite a
        write session holds the database's single write lock from its first statement (``BEGIN IMMEDIATE``),
        and a second write session opened in the same thread meanwhile (e.g. ``mark_recording_status`` inside
        the block) waits for it until the busy timeout and then fails. Use :meth:`read_session` to read.
        """
        s = self._write()
        self._depth.n = getattr(self._depth, "n", 0) + 1
        refused: BaseException | None = None
        try:
            yield s
            s.commit()
        except sa_exc.SQLAlchemyError as exc:
            s.rollback()
            raise translate(exc) from exc
        except AccessDeniedError as exc:
            s.rollback()
            refused = exc
            raise
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()
            self._depth.n -= 1
            if refused is not None:
                self.record_refusal(refused)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only unit of work (never commits; on SQLite it does not take the write lock)."""
        s = self._read()
        self._depth.n = getattr(self._depth, "n", 0) + 1
        refused: BaseException | None = None
        try:
            yield s
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc) from exc
        except AccessDeniedError as exc:
            refused = exc
            raise
        finally:
            s.rollback()
            s.close()
            self._depth.n -= 1
            if refused is not None:
                self.record_refusal(refused)

    def dispose(self) -> None:
        """Close pooled connections (call before forking, or at the end of a test)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url!r})"


def open_database(url: str | None = None, *, auto_upgrade: bool = False, echo: bool = False) -> Database:
    """Open ``url`` (default :func:`default_url`) after checking that its schema is at the code's head.

    Raises :class:`SchemaOutdatedError` when the schema is missing or older than this version of gaitscope
    (unless ``auto_upgrade``), and :class:`DatabaseError` when the database was made by a *newer* gaitscope or
    cannot be reached.
    """
    from gaitscope.db import migrate  # local: alembic is only needed when opening

    url = url or default_url()
    engine = make_engine(url, echo=echo)
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision()
        if current != head:
            known = migrate.known_revisions()
            if current is not None and current not in known:
                raise DatabaseError(
                    f"The database schema (revision {current}) was created by a newer version of gaitscope.",
                    hint="Upgrade gaitscope; do not downgrade a clinical database.",
                )
            if not auto_upgrade:
                if current is None and _has_tables(engine):
                    what = "has tables but no gaitscope schema version"
                else:
                    what = "is empty" if current is None else f"is at revision {current}, code expects {head}"
                shown = engine.url.render_as_string(hide_password=True)
                raise SchemaOutdatedError(
                    f"The database schema {what}; run: gaitscope db upgrade --db {shown}"
                )
            migrate.upgrade_engine(engine)
    except sa_exc.SQLAlchemyError as exc:
        engine.dispose()
        raise translate(exc, "Opening the database") from exc
    except BaseException:
        engine.dispose()
        raise
    return Database(engine)


def _has_tables(engine: Engine) -> bool:
    return bool(inspect(engine).get_table_names())
