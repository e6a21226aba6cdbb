"""``gaitscope user add|list`` (accounts_cli.register_cli): no default password, policy enforced, audited."""

from __future__ import annotations

import argparse
import io

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from gaitscope.cli import accounts as accounts_cli
from gaitscope.db import auth, open_database
from gaitscope.db.models import AuditLog, User
from gaitscope.errors import GaitscopeError, InvalidInputError


@pytest.fixture(autouse=True)
def cheap_hasher():
    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    auth.set_password_hasher(previous)


def _run(argv, stdin_text=""):
    parser = argparse.ArgumentParser(prog="gaitscope")
    accounts_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    old = accounts_cli.sys.stdin
    accounts_cli.sys.stdin = io.StringIO(stdin_text)
    try:
        return args.func(args)
    finally:
        accounts_cli.sys.stdin = old


def test_user_add_and_list(head_url, capsys):
    assert _run(["user", "add", "Dr_A", "--role", "clinician", "--site", "A", "--password-stdin", "--db", head_url],
                "correct horse battery\n") == 0
    assert "Created clinician account 'dr_a' (site A)" in capsys.readouterr().out
    db = open_database(head_url)
    try:
        with db.read_session() as s:
            u = s.scalars(select(User)).one()
            assert u.password_hash.startswith("$argon2id$")
            assert s.scalars(select(AuditLog.action)).all() == ["create_user"]
        assert auth.authenticate(db, "dr_a", "correct horse battery").role == "clinician"
    finally:
        db.dispose()
    assert _run(["user", "list", "--db", head_url]) == 0
    out = capsys.readouterr().out
    assert "dr_a" in out and "clinician" in out and "argon2" not in out


def test_user_add_refuses_short_or_missing_password_and_needs_a_terminal_otherwise(head_url):
    with pytest.raises(InvalidInputError, match="too short"):
        _run(["user", "add", "x", "--role", "admin", "--password-stdin", "--db", head_url], "short\n")
    with pytest.raises(InvalidInputError, match="No password"):
        _run(["user", "add", "x", "--role", "admin", "--password-stdin", "--db", head_url], "")
    with pytest.raises(GaitscopeError, match="terminal"):  # no silent default password in scripts
        _run(["user", "add", "x", "--role", "admin", "--db", head_url])
    with pytest.raises(SystemExit):  # the role is required
        _run(["user", "add", "x", "--password-stdin", "--db", head_url], "correct horse battery\n")
