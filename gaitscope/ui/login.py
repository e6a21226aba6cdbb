"""Sign-in for the Streamlit dashboard, and escaping of user text for HTML.

``require_login(db)`` is called at the top of the app: it returns the signed-in
:class:`~gaitscope.db.auth.CurrentUser` or draws the sign-in form and stops the script. Only the random session
token lives in ``st.session_state``; each rerun re-checks it against the database (idle timeout, disabled
account), so an administrator's change takes effect at the user's next click. An account whose password an
administrator chose (``must_change_password``) sees only the "Set your own password" form until it has set its
own.

A reload, a bookmark or a link opened in another tab starts a new Streamlit session. So that it stays signed in
for the session's lifetime, the same random token is also kept in a cookie (:data:`COOKIE_NAME`, ``Path=/``,
``SameSite=Strict``, ``Secure`` over HTTPS, never in the URL). The database stores only the token's SHA-256 with
the session's idle timer and absolute end (:mod:`gaitscope.db.auth`), so sign-out, the 30-minute idle timeout,
the 12-hour limit and a disabled account end a cookie's session on the server, whatever the browser keeps.
Streamlit only *reads* cookies (``st.context.cookies``, those of the page request); the cookie is written by a
two-line script (``st.html(..., unsafe_allow_javascript=True)``), so it cannot be ``HttpOnly``: the token is
readable by script on the page, which is why every user text is escaped (:func:`safe_text`,
``components.md_escape``) and no user HTML is ever rendered. Permissions are NOT decided
here: the page functions call :mod:`gaitscope.db.access` with the returned user, which enforces them.

First run: there is no default account and no default password. While the database holds no account at all,
:func:`first_admin_form` lets the person installing gaitscope create the first administrator (the password
policy applies); from then on accounts are made on the Accounts page or with ``gaitscope user add``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from gaitscope.db.auth import (
    MIN_PASSWORD_LENGTH,
    SESSION_MAX_HOURS,
    CurrentUser,
    end_session,
    resolve_session,
    sign_in,
)
from gaitscope.errors import AccessDeniedError, GaitscopeError, InvalidInputError

SESSION_KEY = "gaitscope_session_token"
COOKIE_NAME = "gaitscope_session"
_NOTICE_KEY = "gaitscope_login_notice"
_DEAD_COOKIES_KEY = "gaitscope_dead_cookies"  # tokens of this page's cookie that were refused or signed out
_CLEAR_COOKIE_KEY = "gaitscope_clear_cookie"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]{20,100}$")  # secrets.token_urlsafe: safe inside a JS string


def safe_text(s: Any) -> str:
    """``s`` escaped for insertion into HTML (``st.markdown(..., unsafe_allow_html=True)``, PDF markup):
    notes are stored verbatim, so a ``<script>`` typed into a note must be shown as text, never run."""
    return html.escape("" if s is None else str(s), quote=True)


def current_user(db) -> CurrentUser | None:
    """The user of this browser session, or None (not signed in, or the session expired)."""
    import streamlit as st

    token = st.session_state.get(SESSION_KEY) or _cookie_token()
    if not token:
        return None
    try:
        user = resolve_session(db, token)
    except AccessDeniedError as exc:
        st.session_state.pop(SESSION_KEY, None)
        _forget_cookie(token)
        st.session_state[_NOTICE_KEY] = str(exc)
        return None
    st.session_state[SESSION_KEY] = token
    return user


def _cookie_token() -> str | None:
    """The session token of the cookie the browser sent with this page (a reload, a bookmark), unless it was
    already refused or signed out in this browser session."""
    import streamlit as st

    try:
        token = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no browser (bare script, some test runners)
        return None
    if not isinstance(token, str) or not _TOKEN_CHARS.match(token):  # no cookie, or not one of our tokens
        return None
    if token in st.session_state.get(_DEAD_COOKIES_KEY, ()):
        return None
    return token


def _forget_cookie(token: str | None) -> None:
    """Never use ``token`` again in this browser session, and delete the browser's cookie at the next run."""
    import streamlit as st

    if token:
        st.session_state.setdefault(_DEAD_COOKIES_KEY, set()).add(token)
    st.session_state[_CLEAR_COOKIE_KEY] = True


def _cookie_script(value: str, max_age_s: int) -> str:
    return ("<script>(function(){document.cookie='" + COOKIE_NAME + "=" + value + "; Path=/; Max-Age="
            + str(int(max_age_s)) + "; SameSite=Strict'+(location.protocol==='https:'?'; Secure':'');})();</script>")


def keep_session_cookie(container: Any = None) -> None:
    """Write this session's token into the browser's cookie, so a reload stays signed in (see the module
    docstring). Nothing is written when the page already came with that cookie. Call after sign-in, every run."""
    import streamlit as st

    token = st.session_state.get(SESSION_KEY)
    if not token or not _TOKEN_CHARS.match(token):
        return
    try:
        sent = st.context.cookies.get(COOKIE_NAME)
    except Exception:
        return
    if sent != token:
        (container or st.sidebar).html(_cookie_script(token, SESSION_MAX_HOURS * 3600), width="content",
                                       unsafe_allow_javascript=True)


def _clear_cookie_if_asked() -> None:
    import streamlit as st

    if st.session_state.pop(_CLEAR_COOKIE_KEY, False):
        st.html(_cookie_script("", 0), width="content", unsafe_allow_javascript=True)


def require_login(db) -> CurrentUser:
    """Return the signed-in user; otherwise show the sign-in form and stop this run of the script."""
    import streamlit as st

    user = current_user(db)
    if user is not None:
        if user.must_change_password:
            _change_password_form(db, user)  # stops the script until the user has set their own password
        return user
    box = st.empty()  # everything of the sign-in page lives here, so it can be removed after success
    with box.container():
        _clear_cookie_if_asked()
        st.title("Sign in to gaitscope")
        notice = st.session_state.pop(_NOTICE_KEY, None)
        if notice:
            st.info(notice)
        with st.form("gaitscope_login"):
            username = st.text_input("User name", key="gaitscope_login_username", autocomplete="username")
            password = st.text_input("Password", type="password", key="gaitscope_login_password",
                                     autocomplete="current-password")
            submitted = st.form_submit_button("Sign in")
        error = None
        if submitted:
            try:
                user, token = sign_in(db, username, password)
            except AccessDeniedError as exc:
                error = str(exc)
            else:
                st.session_state[SESSION_KEY] = token
        if user is None:
            if error:
                st.error(error)
            st.caption("Patient data: every view is recorded. Sessions end after 30 minutes without activity.")
    if user is not None:
        box.empty()  # the app draws below as if the form had never been there
        if user.must_change_password:
            _change_password_form(db, user)
        return user
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises; keeps type checkers honest


def _change_password_form(db, user: CurrentUser) -> None:
    """The only page of an account whose password someone else chose (``must_change_password``): set your own.

    An administrator who creates or resets an account knows its password; forcing its owner to replace it at
    the first sign-in means an administrator cannot use it to reach patient data unnoticed (the data-access
    layer refuses such an account everything else too). Stops the script unless the password was just changed.
    """
    import streamlit as st

    from gaitscope.db import access

    st.title("Set your own password")
    st.info("Your password was set by an administrator. Choose your own before you continue; "
            "nobody else should know it.")
    with st.form("gaitscope_change_password"):
        old = st.text_input("Current password", type="password", key="gaitscope_change_old",
                            autocomplete="current-password")
        new = st.text_input(f"New password (at least {MIN_PASSWORD_LENGTH} characters)", type="password",
                            key="gaitscope_change_new", autocomplete="new-password")
        again = st.text_input("New password again", type="password", key="gaitscope_change_again",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Set password")
    if submitted:
        try:
            if new != again:
                raise InvalidInputError("The two new passwords differ.", "Type the same password twice.")
            if new == old:
                raise InvalidInputError("The new password must differ from the one you were given.")
            access.change_password(db, user, old, new)  # checks the current one (with the lockout) first
            _, token = sign_in(db, user.username, new)  # changing the password ended every session, this one too
        except GaitscopeError as exc:
            st.error(str(exc))
        else:
            st.session_state[SESSION_KEY] = token
            st.rerun()
    logout_button(db, user=user)
    st.stop()


def logout_button(db, container: Any = None, *, user: CurrentUser | None = None) -> None:
    """A "Sign out" button (in the sidebar by default) that revokes the session in the database. Pass the
    ``user`` that :func:`require_login` returned to save a second session check."""
    import streamlit as st

    where = container if container is not None else st.sidebar
    user = user or current_user(db)
    if user is None:
        return
    where.caption(f"Signed in as {user.username} ({user.role}{', site ' + user.site if user.site else ''})")
    if where.button("Sign out", key="gaitscope_logout"):
        token = st.session_state.pop(SESSION_KEY, None)
        end_session(db, token)  # the server forgets the session: the cookie's token is worthless from now on
        _forget_cookie(token)
        _forget_cookie(_cookie_token())
        st.rerun()


def has_accounts(db) -> bool:
    """True once the database holds at least one account (then the first-run form is never shown again)."""
    from sqlalchemy import select

    from gaitscope.db.models import User

    with db.read_session() as s:
        return s.scalars(select(User.id).limit(1)).first() is not None


def _create_first_admin(db, username: str, password: str, again: str) -> CurrentUser:
    """Create the first administrator, only while there is no account (checked again inside the transaction,
    so a second browser that submitted at the same moment gets an error instead of a second admin)."""
    from sqlalchemy import select

    from gaitscope.db import auth
    from gaitscope.db.models import User

    if password != again:
        raise InvalidInputError("The two passwords differ.", "Type the same password twice.")
    with db.session() as s:
        if s.scalars(select(User.id).limit(1)).first() is not None:
            raise AccessDeniedError("An account already exists, so the first-run set-up is closed.",
                                    "Sign in, or ask your administrator for an account.")
        auth.create_user(s, username, password, "admin", actor="first-run set-up")
    user, token = sign_in(db, username, password)
    import streamlit as st

    st.session_state[SESSION_KEY] = token
    return user


def first_admin_form(db) -> CurrentUser | None:
    """The "create the first administrator account" form, for a database without any account.

    Returns the new, signed-in admin after a successful submit (the caller reruns), else None after drawing
    the form. Whoever opens a fresh installation first can use it, so run the first ``make app`` on the
    workstation itself (or create the admin with ``gaitscope user add NAME --role admin --password-stdin``)
    before exposing the dashboard on a network. An administrator sees no patient data.
    """
    import streamlit as st

    st.title("Welcome to gaitscope")
    st.markdown("This database has no account yet. Create the **administrator** account: it manages the "
                "accounts of clinicians, viewers and researchers and sees no patient data.")
    with st.form("gaitscope_first_admin"):
        username = st.text_input("Administrator user name", key="gaitscope_setup_username", autocomplete="username")
        password = st.text_input("Password (at least 10 characters)", type="password",
                                 key="gaitscope_setup_password", autocomplete="new-password")
        again = st.text_input("Password again", type="password", key="gaitscope_setup_password2",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Create administrator account")
    if submitted:
        try:
            return _create_first_admin(db, username, password, again)
        except GaitscopeError as exc:
            st.error(str(exc))
    st.caption("There is no default password. Then create clinician accounts on the Accounts page; the demo "
               "patients belong to the site 'demo'.")
    return None
