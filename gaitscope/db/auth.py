"""Accounts, passwords, sign-in and sessions of the gaitscope web application.

Why it is built this way:

* **Argon2id** (RFC 9106, via ``argon2-cffi``) hashes passwords: memory-hard, so a stolen ``app_user`` table
  costs an attacker far more per guess than a fast hash would. Hashes made with older parameters are upgraded
  at the next successful sign-in (``check_needs_rehash``).
* **Failed sign-ins are counted in the database** (``app_user.failed_attempts`` / ``locked_until``), not in
  the web process: restarting Streamlit or running two instances does not reset the brute-force protection.
  After :data:`MAX_FAILED_ATTEMPTS` failures the account is locked for :data:`LOCK_MINUTES`; during the lock
  even the right password is refused. Each attempt is counted atomically *before* its password is checked
  (one ``UPDATE ... RETURNING``), so simultaneous guesses cannot outrun the limit, and the Argon2 check runs
  outside any write transaction (on SQLite a write transaction locks the whole database).
* **Nothing tells which user names exist**: an unknown user, a wrong password and a locked account get the
  same message after the same work (one Argon2 verification, against a dummy hash when there is no account).
  Every attempt, refused ones included, is audited.
* **A password chosen by someone else must be replaced**: accounts created or reset by an administrator carry
  ``must_change_password`` until their owner sets their own; the data-access layer refuses them everything
  else, so an administrator cannot sign in as a clinician unnoticed.
* **Sessions are random tokens whose SHA-256 only is stored**, with an idle timeout and an absolute lifetime:
  a copy of the database cannot be replayed as a signed-in browser.
* Every function that changes an account or signs someone in writes an audit entry.
* Time comes from an injectable ``clock`` so that tests can jump past a lock or an idle timeout.

Sign-in functions take the :class:`~gaitscope.db.engine.Database` (not a session) because a *failed* attempt
must be committed even though the call then raises :class:`AccessDeniedError`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from gaitscope.db.audit_trail import audit
from gaitscope.db.models import ROLES, User, UserSession
from gaitscope.errors import AccessDeniedError, DuplicateError, InvalidInputError

Clock = Callable[[], datetime]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 copes, but a megabyte "password" is a denial-of-service attempt
MAX_FAILED_ATTEMPTS = 5
LOCK_MINUTES = 15
SESSION_IDLE_MINUTES = 30
SESSION_MAX_HOURS = 12
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")

_hasher = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile (64 MiB, t=3)
_DUMMY_HASH: str | None = None  # verified against for unknown users, so timing does not reveal who exists


def utc_clock() -> datetime:
    return datetime.now(UTC)


def set_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the Argon2 parameters (tests use a cheap hasher); returns the previous hasher."""
    global _hasher, _DUMMY_HASH
    previous, _hasher, _DUMMY_HASH = _hasher, hasher, None
    return previous


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for ``DateTime(timezone=True)``; all our times are UTC."""
    if dt is None or dt.tzinfo is not None:
        return dt
    return dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user, as the data-access layer (:mod:`gaitscope.db.access`) sees them."""

    id: int
    username: str
    role: str
    site: str | None = None
    care_team: str | None = None
    #: someone else chose this account's password: until the user sets their own, the data-access layer
    #: refuses everything (:func:`gaitscope.db.access._require`) and the dashboard shows only the change form
    must_change_password: bool = False

    @classmethod
    def from_user(cls, u: User) -> CurrentUser:
        return cls(id=u.id, username=u.username, role=u.role, site=u.site, care_team=u.care_team,
                   must_change_password=bool(u.must_change_password))


# ---------------------------------------------------------------------------------------------------------
# passwords
# ---------------------------------------------------------------------------------------------------------


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`InvalidInputError` unless ``password`` is at least :data:`MIN_PASSWORD_LENGTH` characters,
    is not the user name, and is not one repeated character (NIST SP 800-63B: length over composition rules)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"The password is too short: it needs at least {MIN_PASSWORD_LENGTH} characters.",
            "A short sentence of several words is easy to remember and hard to guess.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"The password is longer than {MAX_PASSWORD_LENGTH} characters.")
    if username and password.strip().lower() == username.strip().lower():
        raise InvalidInputError("The password must not be the user name.")
    if len(set(password)) == 1:
        raise InvalidInputError("The password must not be one character repeated.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _burn_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    verify_password(_DUMMY_HASH, password)


# ---------------------------------------------------------------------------------------------------------
# accounts
# ---------------------------------------------------------------------------------------------------------


def normalise_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not name or len(name) > 100 or not set(name) <= USERNAME_CHARS:
        raise InvalidInputError(
            f"{username!r} is not a valid user name.",
            "Use 1-100 lower-case letters, digits, '.', '_', '-' or '@'.",
        )
    return name


def get_user(s: Session, username: str) -> User | None:
    return s.scalars(select(User).where(User.username == (username or "").strip().lower())).one_or_none()


def create_user(
    s: Session,
    username: str,
    password: str,
    role: str,
    *,
    site: str | None = None,
    care_team: str | None = None,
    actor: str = "system",
    must_change_password: bool = False,
    clock: Clock = utc_clock,
) -> User:
    """Create an account (password checked against the policy, stored as an Argon2 hash).

    ``must_change_password``: the password was chosen by someone else (an administrator on the Accounts page,
    ``gaitscope user add``), so the account must set its own at its first sign-in before it can do anything.

    A clinician needs a ``site``: the data-access layer shows them only that site's patients. No access check
    here (the CLI is run by the server's administrator); the web app calls :func:`gaitscope.db.access.create_user`.
    """
    name = normalise_username(username)
    if role not in ROLES:
        raise InvalidInputError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if role in ("clinician", "viewer") and not (site or "").strip():
        raise InvalidInputError(f"A {role} account needs a site (--site): it decides which patients they see.")
    check_password_policy(password, name)
    if get_user(s, name) is not None:
        raise DuplicateError(f"An account named {name!r} already exists.")
    now = clock()
    u = User(
        username=name, password_hash=hash_password(password), role=role, site=(site or "").strip() or None,
        care_team=(care_team or "").strip() or None, active=True, failed_attempts=0, password_changed_at=now,
        must_change_password=bool(must_change_password),
    )
    s.add(u)
    s.flush()
    audit(s, actor, "create_user", "app_user", name, {"role": role, "site": u.site, "care_team": u.care_team,
                                                      "must_change_password": u.must_change_password})
    return u


def list_users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))


def set_password(s: Session, username: str, new_password: str, *, actor: str = "system",
                 clock: Clock = utc_clock) -> None:
    """Set a new password (policy checked); ends the user's open sessions and clears any lock.

    Set by anyone but the account itself (``actor`` != ``username``), the account must change it at its next
    sign-in (``must_change_password``); set by the account itself, that duty is cleared.
    """
    u = _require_user(s, username)
    check_password_policy(new_password, u.username)
    u.password_hash = hash_password(new_password)
    u.password_changed_at = clock()
    u.failed_attempts, u.locked_until = 0, None
    u.must_change_password = actor != u.username
    _revoke_all(s, u, clock())
    audit(s, actor, "set_password", "app_user", u.username, {"must_change_password": u.must_change_password})


def set_active(s: Session, username: str, active: bool, *, actor: str = "system", clock: Clock = utc_clock) -> None:
    """Disable (or re-enable) an account; disabling ends its open sessions."""
    u = _require_user(s, username)
    u.active = bool(active)
    if not active:
        _revoke_all(s, u, clock())
    audit(s, actor, "enable_user" if active else "disable_user", "app_user", u.username)


def unlock(s: Session, username: str, *, actor: str = "system") -> None:
    """Lift a sign-in lock early (an administrator who checked the person's identity)."""
    u = _require_user(s, username)
    u.failed_attempts, u.locked_until = 0, None
    audit(s, actor, "unlock_user", "app_user", u.username)


def _require_user(s: Session, username: str) -> User:
    u = get_user(s, username)
    if u is None:
        raise InvalidInputError(f"There is no account named {username!r}.")
    return u


def _revoke_all(s: Session, u: User, now: datetime) -> None:
    for sess in s.scalars(select(UserSession).where(UserSession.user_id == u.id, UserSession.revoked_at.is_(None))):
        sess.revoked_at = now


# ---------------------------------------------------------------------------------------------------------
# sign-in and sessions
# ---------------------------------------------------------------------------------------------------------

#: One message, and the same work (one Argon2 verification), for an unknown user, a wrong password and a locked
#: account: neither the wording nor the reply time tells an attacker which user names exist or are locked.
_BAD_CREDENTIALS = (
    f"Wrong user name or password, or the account is locked after {MAX_FAILED_ATTEMPTS} failed sign-ins.",
    f"Check both and try again; a locked account opens again after {LOCK_MINUTES} minutes, "
    "or an administrator can unlock it.",
)


@dataclass(frozen=True)
class _Claim:
    """An attempt counted (before the password is checked) against an account's failure limit."""

    user_id: int
    password_hash: str
    attempt: int
    locked_until: datetime | None


def _claim_attempt(db, name: str, now: datetime) -> tuple[_Claim | None, bool]:
    """Count one sign-in attempt against ``name`` BEFORE checking its password, in one short write.

    ``(claim, exists)``: ``claim`` is None when the account is unknown or locked (then no password may be
    checked). One ``UPDATE ... RETURNING`` both tests and increments the counter, so concurrent attempts are
    serialised by the row lock (PostgreSQL re-checks the WHERE clause on the updated row; SQLite has a single
    writer): N simultaneous wrong passwords count N, and the :data:`MAX_FAILED_ATTEMPTS`-th sets the lock, so
    no attempt beyond the limit reaches the hash. A lock that has run out starts a new count at 1. The password
    hash itself is verified outside this transaction: on SQLite a write transaction holds the database-wide
    write lock, and an Argon2 verification (~0.1-0.5 s) inside it queued every other writer behind sign-ins.
    """
    expired = User.locked_until.is_not(None) | (User.failed_attempts >= MAX_FAILED_ATTEMPTS)
    count = case((expired, 1), else_=User.failed_attempts + 1)
    stmt = (
        update(User)
        .where(User.username == name, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_attempts=count,
                locked_until=case((count >= MAX_FAILED_ATTEMPTS, now + timedelta(minutes=LOCK_MINUTES)), else_=None))
        .returning(User.id, User.password_hash, User.failed_attempts, User.locked_until)
        .execution_options(synchronize_session=False)
    )
    with db.session() as s:
        row = s.execute(stmt).one_or_none()
        if row is not None:
            return _Claim(row.id, row.password_hash, row.failed_attempts, _aware(row.locked_until)), True
        exists = s.scalars(select(User.id).where(User.username == name)).first() is not None
    return None, exists


def authenticate(db, username: str, password: str, *, clock: Clock = utc_clock) -> CurrentUser:
    """Check a user name and password; returns the :class:`CurrentUser` or raises :class:`AccessDeniedError`.

    Every attempt is counted before the password is checked (:func:`_claim_attempt`) and audited, refused ones
    included; the :data:`MAX_FAILED_ATTEMPTS`-th consecutive failure locks the account for :data:`LOCK_MINUTES`
    minutes, during which the correct password is refused too. A success resets the counter. Unknown user,
    wrong password and locked account get the same message after the same work (one Argon2 verification).
    A disabled account is named as such only to someone who typed its correct password.
    """
    now = clock()
    password = password or ""
    try:
        name: str | None = normalise_username(username)
    except InvalidInputError:
        name = None
    claim, exists = _claim_attempt(db, name, now) if name else (None, False)
    denied = AccessDeniedError(*_BAD_CREDENTIALS)
    if claim is None:
        _burn_time(password)  # the same work as a real check: the reply time must not tell who exists
        with db.session() as s:
            if exists:
                audit(s, name, "login_refused_locked", "app_user", name)
            else:
                audit(s, "anonymous", "login_failed", "app_user", (username or "")[:100], {"reason": "unknown user"})
        raise denied
    ok = verify_password(claim.password_hash, password)  # outside any transaction (see _claim_attempt)
    new_hash = hash_password(password) if ok and _hasher.check_needs_rehash(claim.password_hash) else None
    with db.session() as s:
        u = s.get(User, claim.user_id)
        if u is None:  # deleted meanwhile
            raise denied
        if not ok:
            details: dict = {"failed_attempts": claim.attempt}
            if claim.locked_until is not None:
                details["locked_until"] = claim.locked_until
            audit(s, u.username, "login_failed", "app_user", u.username, details)
            result = None
        else:
            u.failed_attempts, u.locked_until = 0, None
            if not u.active:
                audit(s, u.username, "login_refused_disabled", "app_user", u.username)
                denied = AccessDeniedError("This account is disabled.", "Ask an administrator.")
                result = None
            else:
                if new_hash is not None and u.password_hash == claim.password_hash:  # older Argon2 parameters
                    u.password_hash = new_hash
                u.last_login_at = now
                audit(s, u.username, "login", "app_user", u.username)
                result = CurrentUser.from_user(u)
    if result is None:
        raise denied
    return result


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(db, user: CurrentUser, *, clock: Clock = utc_clock) -> str:
    """Open a session for a signed-in user; returns the secret token to keep in the browser session."""
    token = secrets.token_urlsafe(32)
    now = clock()
    with db.session() as s:
        s.add(UserSession(user_id=user.id, token_hash=_token_hash(token), created_at=now, last_seen_at=now,
                          expires_at=now + timedelta(hours=SESSION_MAX_HOURS)))
    return token


def sign_in(db, username: str, password: str, *, clock: Clock = utc_clock) -> tuple[CurrentUser, str]:
    """:func:`authenticate` then :func:`start_session`: ``(user, token)``."""
    user = authenticate(db, username, password, clock=clock)
    return user, start_session(db, user, clock=clock)


def resolve_session(db, token: str | None, *, clock: Clock = utc_clock) -> CurrentUser:
    """The user of a session token, refreshing its idle timer; :class:`AccessDeniedError` when the token is
    unknown, revoked, idle for more than :data:`SESSION_IDLE_MINUTES` minutes, past its absolute lifetime, or
    its account was disabled."""
    if not token:
        raise AccessDeniedError("You are not signed in.", "Sign in to continue.")
    now = clock()
    expired = AccessDeniedError("Your session has expired.", "Sign in again.")
    with db.session() as s:
        sess = s.scalars(select(UserSession).where(UserSession.token_hash == _token_hash(token))).one_or_none()
        if sess is None or sess.revoked_at is not None:
            raise expired
        u = s.get(User, sess.user_id)
        idle_end = _aware(sess.last_seen_at) + timedelta(minutes=SESSION_IDLE_MINUTES)
        if u is None or not u.active or now >= _aware(sess.expires_at) or now >= idle_end:
            sess.revoked_at = now
            result = None
        else:
            sess.last_seen_at = now
            result = CurrentUser.from_user(u)
    if result is None:
        raise expired
    return result


def end_session(db, token: str | None, *, clock: Clock = utc_clock) -> None:
    """Sign out: revoke the session (idempotent)."""
    if not token:
        return
    with db.session() as s:
        sess = s.scalars(select(UserSession).where(UserSession.token_hash == _token_hash(token))).one_or_none()
        if sess is not None and sess.revoked_at is None:
            sess.revoked_at = clock()
            u = s.get(User, sess.user_id)
            audit(s, u.username if u else "unknown", "logout", "app_user", u.username if u else None)
