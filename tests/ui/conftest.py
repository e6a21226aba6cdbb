"""Fixtures of the dashboard's AppTest tests: a throw-away database (``bare_env``, no account) and the same with
one account per role (``env``, see :data:`ui_app_helpers.ACCOUNTS`), with cheap password hashing."""

from __future__ import annotations

import pytest
from ui_app_helpers import ACCOUNTS, PW


@pytest.fixture()
def bare_env(tmp_path, monkeypatch):
    """An empty database (no account), cheap password hashing."""
    from argon2 import PasswordHasher

    from gaitscope.db import auth
    from gaitscope.ui import data

    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("GAITSCOPE_DB_URL", url)
    monkeypatch.setenv("GAITSCOPE_DEMO_VIDEO", "0")
    monkeypatch.setenv("GAITSCOPE_UPLOAD_DIR", str(tmp_path / "uploads"))
    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield url
    auth.set_password_hasher(previous)
    data.forget_database(url)


@pytest.fixture()
def env(bare_env):
    """A database with one account per role (see :data:`ACCOUNTS`)."""
    from gaitscope.db import auth
    from gaitscope.ui import data

    with data.database(bare_env).session() as s:
        for name, (role, site) in ACCOUNTS.items():
            auth.create_user(s, name, PW, role, site=site)
    return bare_env
