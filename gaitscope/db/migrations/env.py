"""Alembic environment for gaitscope.

Normally run through :mod:`gaitscope.db.migrate`, which passes an open connection in
``config.attributes["connection"]``. From the command line, give the URL with ``-x url=...``.
SQLite gets ``render_as_batch`` because it cannot ALTER constraints in place (Alembic copies the table).
"""

from __future__ import annotations

from alembic import context

from gaitscope.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from gaitscope.db.engine import default_url, make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or default_url()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("gaitscope migrations run online only (they need a connection).")
run_migrations_online()
