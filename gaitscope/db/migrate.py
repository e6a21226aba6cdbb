"""Schema migrations (Alembic), callable from Python and from ``gaitscope db upgrade``.

The Alembic scripts ship inside the package (``gaitscope/db/migrations``, ``gaitscope/db/alembic.ini``), so an
installed gaitscope can upgrade a hospital's database without a source checkout.

On SQLite, foreign-key enforcement is switched off while migrating: SQLite cannot alter a table in place, so
Alembic's batch mode copies it, drops the original and renames the copy, and with ``foreign_keys=ON`` the
DROP would cascade-delete every child row. ``PRAGMA foreign_key_check`` runs afterwards, and a migration that
leaves a dangling reference is rolled back.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from gaitscope.errors import DatabaseError

_HERE = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """The packaged Alembic configuration, with an absolute script location."""
    cfg = Config(str(_HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code expects."""
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    return {rev.revision for rev in _script().walk_revisions()}


def current_revision(engine: Engine | str | None = None) -> str | None:
    """The database's revision (``engine`` may be an Engine or a URL; default: the configured database), or
    None when it has never been migrated (empty database)."""
    if not isinstance(engine, Engine):
        from gaitscope.db.connect import default_url, make_engine

        own = make_engine(engine or default_url())
        try:
            return current_revision(own)
        finally:
            own.dispose()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _run(engine: Engine, fn, target: str) -> None:  # noqa: ANN001
    cfg = alembic_config()
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.execute("PRAGMA foreign_keys = OFF")  # outside any transaction, as SQLite requires
            try:
                with conn.begin():
                    cfg.attributes["connection"] = conn
                    fn(cfg, target)
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise DatabaseError(
                            f"The migration to {target} would leave {len(bad)} broken references; nothing was changed."
                        )
            finally:
                raw.execute("PRAGMA foreign_keys = ON")
    else:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, target)


def upgrade_engine(engine: Engine, target: str = "head") -> None:
    _run(engine, command.upgrade, target)


def downgrade_engine(engine: Engine, target: str = "-1") -> None:
    _run(engine, command.downgrade, target)


def upgrade(url: str | None = None, target: str = "head") -> str:
    """Create or upgrade the schema at ``url`` (default: the configured database). Returns the new revision."""
    from gaitscope.db.connect import default_url, make_engine

    engine = make_engine(url or default_url())
    try:
        upgrade_engine(engine, target)
        return current_revision(engine) or ""
    finally:
        engine.dispose()


def downgrade(url: str, target: str = "-1") -> str | None:
    """Step the schema back (``"-1"``, a revision id, or ``"base"`` to drop everything). Returns the revision."""
    from gaitscope.db.connect import make_engine

    engine = make_engine(url)
    try:
        downgrade_engine(engine, target)
        return current_revision(engine)
    finally:
        engine.dispose()


def status(url: str | None = None) -> dict[str, str | None]:
    """``{"current": ..., "head": ...}`` for ``gaitscope db status``."""
    from gaitscope.db.connect import default_url, make_engine

    engine = make_engine(url or default_url())
    try:
        return {"current": current_revision(engine), "head": head_revision()}
    finally:
        engine.dispose()
