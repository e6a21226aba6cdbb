"""Access hardening: first-sign-in password change, an audit log that cannot be rewritten.

* ``app_user.must_change_password``: an account created or given a new password by someone else (an
  administrator, ``gaitscope user add``) must set its own password at its first sign-in, so an administrator
  cannot reach patient data by resetting a clinician's password and signing in as them unnoticed.
* SQLite: ``INSERT OR REPLACE`` (and ``REPLACE INTO``) of an existing audit entry deleted the old row without
  firing the DELETE trigger of 0002 (SQLite fires delete triggers for REPLACE only with
  ``PRAGMA recursive_triggers``). A BEFORE INSERT trigger now refuses any insert that names an existing id, so
  an entry can neither be replaced nor overwritten; UPDATE and DELETE were already refused.
* PostgreSQL: the application role owned ``audit_log`` (it ran the migrations), and a table's owner can
  ``TRUNCATE`` it or ``ALTER TABLE ... DISABLE TRIGGER``, which row triggers cannot stop. The table (and the
  trigger function) now belong to a separate role, :data:`AUDIT_OWNER` (``NOLOGIN``: nobody signs in as it),
  and the application role keeps only ``SELECT, INSERT`` on it (plus its id sequence). The application role
  still owns the schema, and a schema's owner may DROP any table in it: an event trigger (which only a
  superuser can create or remove) refuses to drop ``audit_log``. Only a superuser can do
  this safely: the new owner must be a role the application is NOT a member of, and a role with CREATEROLE
  could always make itself a member again. So:

  - run by a superuser (the site administrator upgrading with ``gaitscope db upgrade --db <superuser URL>``),
    this migration creates the owner role if missing and hands the table over; the application role is the
    role that owns the rest of the schema (``app_user``);
  - run by the application role itself (the usual ``gaitscope db upgrade``), it cannot, and logs the SQL a
    superuser must run once (the same statements as the README's "Running on PostgreSQL" section).

  The owner role's name can be changed with ``GAITSCOPE_AUDIT_OWNER_ROLE`` (one database cluster hosting two
  gaitscope databases can share the role; tests use a name of their own).

This file does not import the models (a migration must keep describing *this* revision).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-05
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_OWNER = "gaitscope_audit_owner"
_NO_REPLACE = "The audit log is append-only: an existing entry cannot be replaced."
_NO_DROP = ("The audit log is append-only: it and its triggers cannot be dropped "
            "(a superuser must remove the event trigger gaitscope_keep_audit_log first).")
log = logging.getLogger("alembic.runtime.migration")


def _ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (role names may hold capitals or '-')."""
    return '"' + name.replace('"', '""') + '"'


def audit_owner_role() -> str:
    from gaitscope.settings import settings

    return settings().audit_owner_role or AUDIT_OWNER


def secure_audit_sql(app_role: str, owner_role: str, sequence: str | None) -> list[str]:
    """The statements that give ``audit_log`` to ``owner_role`` and leave ``app_role`` SELECT/INSERT only."""
    app, owner = _ident(app_role), _ident(owner_role)
    sql = [
        f"ALTER TABLE audit_log OWNER TO {owner}",
        f"ALTER FUNCTION gaitscope_audit_log_append_only() OWNER TO {owner}",
        f"REVOKE ALL ON audit_log FROM {app}",
        "REVOKE ALL ON audit_log FROM PUBLIC",
        f"GRANT SELECT, INSERT ON audit_log TO {app}",
    ]
    if sequence:
        sql += [f"REVOKE ALL ON SEQUENCE {sequence} FROM {app}", f"GRANT USAGE ON SEQUENCE {sequence} TO {app}"]
    # The owner of a schema may DROP any table in it (also through DROP SCHEMA ... CASCADE, or DROP FUNCTION ...
    # CASCADE for the triggers), and the application role owns its schema (it creates the tables). Only an event
    # trigger, which only a superuser can create or remove, stops that; its function lives in a schema of the
    # audit owner, out of the cascade.
    sql += [
        f"CREATE SCHEMA IF NOT EXISTS gaitscope_audit AUTHORIZATION {owner}",
        "CREATE OR REPLACE FUNCTION gaitscope_audit.keep_audit_log() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() "
        "WHERE position('audit_log' in object_identity) > 0) THEN "
        f"RAISE EXCEPTION '{_NO_DROP}' USING ERRCODE = 'insufficient_privilege'; END IF; END $$",
        "DROP EVENT TRIGGER IF EXISTS gaitscope_keep_audit_log",
        "CREATE EVENT TRIGGER gaitscope_keep_audit_log ON sql_drop EXECUTE FUNCTION gaitscope_audit.keep_audit_log()",
    ]
    return sql


def _secure_audit_log_pg() -> None:
    bind = op.get_bind()
    owner = audit_owner_role()
    me, is_super = bind.execute(
        sa.text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")).one()
    app = bind.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'app_user' "
                               "AND schemaname = current_schema()")).scalar_one()
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('audit_log', 'id')")).scalar()
    app_is_super = bind.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": app}).scalar()
    steps = [f"CREATE ROLE {_ident(owner)} NOLOGIN", *secure_audit_sql(app, owner, sequence)]
    if not is_super or app_is_super:
        why = ("the tables belong to a superuser; let a separate, ordinary role own the schema"
               if app_is_super else f"the migrating role {me!r} is not a superuser")
        log.warning(
            "audit_log is still owned by %s, which can therefore TRUNCATE it or disable its triggers (%s). "
            "A superuser must run once, in this database:\n  %s;",
            app, why, ";\n  ".join(steps),
        )
        return
    exists = bind.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": owner}).scalar()
    if not exists:
        op.execute(steps[0])
    for stmt in steps[1:]:
        op.execute(stmt)
    log.info("audit_log now belongs to %s; %s may only SELECT and INSERT it.", owner, app)


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
            "WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{_NO_REPLACE}'); END"
        )
    elif dialect == "postgresql":
        _secure_audit_log_pg()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    elif dialect == "postgresql":
        bind = op.get_bind()
        is_super = bind.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        app = bind.execute(sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'app_user' "
                                   "AND schemaname = current_schema()")).scalar_one()
        if is_super:  # give the table back to the schema's owner (the role that owned it before 0007)
            op.execute("DROP EVENT TRIGGER IF EXISTS gaitscope_keep_audit_log")
            op.execute("DROP SCHEMA IF EXISTS gaitscope_audit CASCADE")
            op.execute(f"ALTER TABLE audit_log OWNER TO {_ident(app)}")
            op.execute(f"ALTER FUNCTION gaitscope_audit_log_append_only() OWNER TO {_ident(app)}")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("must_change_password")
