"""Accounts: Argon2 hashes, password policy, lockout after repeated failures (kept in the database), sessions
that expire, audit entries for sign-ins and account changes. Runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from gaitscope.db import auth
from gaitscope.db.models import AuditLog, User, UserSession
from gaitscope.errors import AccessDeniedError, DuplicateError, InvalidInputError

PW = "correct horse battery"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(autouse=True)
def cheap_hasher():
    """Argon2 with tiny cost: the production parameters take ~0.5 s per hash on the shared test machine."""
    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    auth.set_password_hasher(previous)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _add(db, name="dr_a", role="clinician", site="A", password=PW):
    with db.session() as s:
        return auth.CurrentUser.from_user(auth.create_user(s, name, password, role, site=site))


def _audit(db, action):
    with db.read_session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
        return [(e.username, e.entity_id, e.details) for e in rows]


def test_password_is_stored_as_argon2_hash_and_sign_in_works(db, clock):
    _add(db)
    with db.read_session() as s:
        u = s.scalars(select(User)).one()
        assert u.password_hash.startswith("$argon2id$") and PW not in u.password_hash
    user = auth.authenticate(db, "DR_A ", PW, clock=clock)  # user names are case-insensitive, trimmed
    assert (user.username, user.role, user.site) == ("dr_a", "clinician", "A")
    with db.read_session() as s:
        assert s.scalars(select(User)).one().last_login_at is not None
    assert [e[0] for e in _audit(db, "login")] == ["dr_a"]
    assert [e[1] for e in _audit(db, "create_user")] == ["dr_a"]


@pytest.mark.parametrize("bad", ["short", "123456789", "aaaaaaaaaaaa", "  DR_A  "])
def test_password_policy(db, bad):
    with pytest.raises(InvalidInputError), db.session() as s:
        auth.create_user(s, "dr_a", bad, "clinician", site="A")
    with db.read_session() as s:
        assert s.scalars(select(User)).all() == []


def test_password_equal_to_username_refused(db):
    with pytest.raises(InvalidInputError, match="user name"), db.session() as s:
        auth.create_user(s, "clinician01", "Clinician01", "clinician", site="A")


def test_account_rules(db):
    with pytest.raises(InvalidInputError, match="site"), db.session() as s:
        auth.create_user(s, "dr_b", PW, "clinician")
    with pytest.raises(InvalidInputError, match="role"), db.session() as s:
        auth.create_user(s, "x", PW, "superuser")
    with pytest.raises(InvalidInputError, match="not a valid user name"):
        with db.session() as s:
            auth.create_user(s, "../admin", PW, "admin")
    _add(db)
    with pytest.raises(DuplicateError), db.session() as s:
        auth.create_user(s, "Dr_A", PW, "clinician", site="A")


def test_wrong_password_many_times_locks_even_the_right_password_until_the_lock_expires(db, clock):
    _add(db)
    messages = set()
    for i in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(AccessDeniedError, match="Wrong user name or password") as err:
            auth.authenticate(db, "dr_a", f"guess number {i}", clock=clock)
        messages.add(str(err.value))
    clock.advance(minutes=1)
    with pytest.raises(AccessDeniedError) as err:
        auth.authenticate(db, "dr_a", PW, clock=clock)  # the right password is refused during the lock
    messages.add(str(err.value))
    assert len(messages) == 1  # the lock is not announced: it would tell that the user name exists
    with db.read_session() as s:  # the lock is in the database: a restarted app sees it
        u = s.scalars(select(User)).one()
        assert u.failed_attempts == auth.MAX_FAILED_ATTEMPTS
        assert auth._aware(u.locked_until) == clock.now - timedelta(minutes=1) + timedelta(minutes=auth.LOCK_MINUTES)
    clock.advance(minutes=auth.LOCK_MINUTES)
    assert auth.authenticate(db, "dr_a", PW, clock=clock).username == "dr_a"
    with db.read_session() as s:
        u = s.scalars(select(User)).one()
        assert u.failed_attempts == 0 and u.locked_until is None
    assert len(_audit(db, "login_failed")) == auth.MAX_FAILED_ATTEMPTS
    assert len(_audit(db, "login_refused_locked")) == 1


def test_failures_after_a_lock_expired_count_from_zero(db, clock):
    _add(db)
    for i in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(AccessDeniedError):
            auth.authenticate(db, "dr_a", f"guess number {i}", clock=clock)
    clock.advance(minutes=auth.LOCK_MINUTES + 1)
    with pytest.raises(AccessDeniedError):
        auth.authenticate(db, "dr_a", "still wrong!!", clock=clock)
    with db.read_session() as s:
        u = s.scalars(select(User)).one()
        assert (u.failed_attempts, u.locked_until) == (1, None)
    assert _audit(db, "login_failed")[-1][2] == {"failed_attempts": 1}
    assert auth.authenticate(db, "dr_a", PW, clock=clock).username == "dr_a"


def test_unknown_user_gets_the_same_message_as_a_wrong_password(db, clock):
    _add(db)
    with pytest.raises(AccessDeniedError) as unknown:
        auth.authenticate(db, "nobody", PW, clock=clock)
    with pytest.raises(AccessDeniedError) as wrong:
        auth.authenticate(db, "dr_a", "not the password", clock=clock)
    assert str(unknown.value) == str(wrong.value)


def test_disabled_account_cannot_sign_in_and_admin_can_unlock(db, clock):
    _add(db)
    with db.session() as s:
        auth.set_active(s, "dr_a", False, actor="root")
    with pytest.raises(AccessDeniedError, match="disabled"):
        auth.authenticate(db, "dr_a", PW, clock=clock)
    with db.session() as s:
        auth.set_active(s, "dr_a", True, actor="root")
    for i in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(AccessDeniedError):
            auth.authenticate(db, "dr_a", f"guess number {i}", clock=clock)
    with db.session() as s:
        auth.unlock(s, "dr_a", actor="root")
    assert auth.authenticate(db, "dr_a", PW, clock=clock).username == "dr_a"
    assert [e[0] for e in _audit(db, "unlock_user")] == ["root"]


def test_session_token_is_stored_hashed_and_expires_when_idle(db, clock):
    _add(db)
    user, token = auth.sign_in(db, "dr_a", PW, clock=clock)
    with db.read_session() as s:
        row = s.scalars(select(UserSession)).one()
        assert row.token_hash != token and len(row.token_hash) == 64 and token not in row.token_hash
    clock.advance(minutes=auth.SESSION_IDLE_MINUTES - 1)
    assert auth.resolve_session(db, token, clock=clock) == user  # activity refreshes the idle timer
    clock.advance(minutes=auth.SESSION_IDLE_MINUTES - 1)
    assert auth.resolve_session(db, token, clock=clock) == user
    clock.advance(minutes=auth.SESSION_IDLE_MINUTES + 1)
    with pytest.raises(AccessDeniedError, match="expired"):
        auth.resolve_session(db, token, clock=clock)
    with db.read_session() as s:
        assert s.scalars(select(UserSession)).one().revoked_at is not None


def test_session_absolute_lifetime_logout_and_password_change(db, clock):
    _add(db)
    _, token = auth.sign_in(db, "dr_a", PW, clock=clock)
    for _ in range(auth.SESSION_MAX_HOURS * 2 + 1):  # active every 30 min... still ends after the maximum
        clock.advance(minutes=29)
        try:
            auth.resolve_session(db, token, clock=clock)
        except AccessDeniedError:
            break
    else:
        pytest.fail("a session must not live forever")
    _, token2 = auth.sign_in(db, "dr_a", PW, clock=clock)
    auth.end_session(db, token2, clock=clock)
    with pytest.raises(AccessDeniedError):
        auth.resolve_session(db, token2, clock=clock)
    _, token3 = auth.sign_in(db, "dr_a", PW, clock=clock)
    with db.session() as s:
        auth.set_password(s, "dr_a", "a brand new passphrase", actor="dr_a", clock=clock)
    with pytest.raises(AccessDeniedError):  # changing the password ends open sessions
        auth.resolve_session(db, token3, clock=clock)
    with pytest.raises(AccessDeniedError):
        auth.resolve_session(db, "forged-token", clock=clock)
    with pytest.raises(AccessDeniedError, match="not signed in"):
        auth.resolve_session(db, None, clock=clock)
    assert auth.authenticate(db, "dr_a", "a brand new passphrase", clock=clock).username == "dr_a"


def test_outdated_hash_parameters_are_upgraded_at_sign_in(db, clock):
    _add(db)
    auth.set_password_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    auth.authenticate(db, "dr_a", PW, clock=clock)
    with db.read_session() as s:
        assert "m=16,t=2" in s.scalars(select(User)).one().password_hash
