"""Sign-in form (Streamlit AppTest, no browser) and HTML escaping of stored user text."""

from __future__ import annotations

import html

import pytest

pytest.importorskip("streamlit")
from argon2 import PasswordHasher
from streamlit.testing.v1 import AppTest

from gaitscope.db import access, auth, open_database
from gaitscope.ui.login import SESSION_KEY, safe_text

PW = "correct horse battery"


def _script() -> None:
    import os

    import streamlit as st
    from argon2 import PasswordHasher

    from gaitscope.db import auth, open_database
    from gaitscope.ui.login import keep_session_cookie, logout_button, require_login

    auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    db = open_database(os.environ["GAITSCOPE_TEST_LOGIN_DB"])
    user = require_login(db)
    st.markdown(f"Welcome {user.username} ({user.role})")
    logout_button(db, user=user)
    keep_session_cookie()  # as streamlit_app.py does


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'login.db'}"
    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    db = open_database(url, auto_upgrade=True)
    with db.session() as s:
        auth.create_user(s, "dr_a", PW, "clinician", site="A")
    db.dispose()
    monkeypatch.setenv("GAITSCOPE_TEST_LOGIN_DB", url)
    yield url
    auth.set_password_hasher(previous)


def _texts(at: AppTest) -> str:
    return "\n".join(str(x.value) for x in [*at.markdown, *at.error, *at.info])


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_form_is_shown_and_nothing_else_until_signed_in(db_url):
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to gaitscope"]
    assert "Welcome" not in _texts(at)
    assert at.text_input[1].proto.type == at.text_input[1].proto.PASSWORD  # masked input


def test_wrong_password_shows_an_error_and_right_password_signs_in(db_url):
    at = AppTest.from_function(_script, default_timeout=30).run()
    _sign_in(at, "dr_a", "wrong password!")
    assert not at.exception
    assert "Wrong user name or password" in _texts(at) and "Welcome" not in _texts(at)
    with pytest.raises(KeyError):
        at.session_state[SESSION_KEY]
    _sign_in(at, "dr_a", PW)
    assert not at.exception
    assert "Welcome dr_a (clinician)" in _texts(at)
    token = at.session_state[SESSION_KEY]
    assert token and len(token) >= 32
    at.run()  # a rerun stays signed in (token re-checked against the database)
    assert "Welcome dr_a" in _texts(at)
    at.sidebar.button[0].click().run()  # sign out
    assert "Welcome" not in _texts(at) and [t.value for t in at.title] == ["Sign in to gaitscope"]
    db = open_database(db_url)
    try:
        with pytest.raises(auth.AccessDeniedError):
            auth.resolve_session(db, token)  # the old token is revoked server-side
    finally:
        db.dispose()


def test_locked_account_is_refused_in_the_form(db_url):
    at = AppTest.from_function(_script, default_timeout=30).run()
    for i in range(auth.MAX_FAILED_ATTEMPTS):
        _sign_in(at, "dr_a", f"bad guess {i}!!")
    _sign_in(at, "dr_a", PW)
    assert "locked" in _texts(at) and "Welcome" not in _texts(at)


def test_expired_or_forged_token_falls_back_to_the_form(db_url):
    at = AppTest.from_function(_script, default_timeout=30)
    at.session_state[SESSION_KEY] = "forged"
    at.run()
    assert "Welcome" not in _texts(at)
    assert "expired" in _texts(at)


@pytest.mark.parametrize("raw", [
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    "Tom & Jerry's \"note\"",
])
def test_safe_text_escapes_html(raw):
    out = safe_text(raw)
    assert "<" not in out and ">" not in out and '"' not in out
    assert html.unescape(out) == raw


def test_note_with_script_is_stored_verbatim_and_rendered_escaped(db_url):
    payload = '<script>alert("pwned")</script>'
    db = open_database(db_url)
    try:
        with db.read_session() as s:
            dr = auth.CurrentUser.from_user(auth.get_user(s, "dr_a"))
        with db.session() as s:
            access.create_patient(s, dr, "A-001", notes=payload)
        with db.session() as s:
            note = access.view_patient(s, dr, "A-001").notes
    finally:
        db.dispose()
    assert note == payload
    assert safe_text(note) == "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"
    assert safe_text(None) == ""


def test_account_whose_password_an_admin_chose_must_change_it_before_any_page(db_url):
    """An administrator resets dr_a's password and signs in with it: the dashboard shows nothing but the
    "Set your own password" form until a new one is set, and dr_a's own sign-in then works with that one."""
    db = open_database(db_url)
    try:
        with db.session() as s:
            auth.create_user(s, "root", PW, "admin")
        with db.session() as s:
            admin = auth.CurrentUser.from_user(auth.get_user(s, "root"))
            access.reset_password(s, admin, "dr_a", "chosen by the admin")
    finally:
        db.dispose()
    at = AppTest.from_function(_script, default_timeout=30).run()
    _sign_in(at, "dr_a", "chosen by the admin")
    assert not at.exception
    assert [t.value for t in at.title] == ["Set your own password"] and "Welcome" not in _texts(at)
    at.run()  # a rerun (any click) still shows only the form
    assert [t.value for t in at.title] == ["Set your own password"] and "Welcome" not in _texts(at)
    at.text_input[0].input("chosen by the admin")
    at.text_input[1].input("my own passphrase")
    at.text_input[2].input("my own passphrase typo")
    at.button[0].click().run()
    assert "differ" in _texts(at) and "Welcome" not in _texts(at)
    at.text_input[0].input("chosen by the admin")
    at.text_input[1].input("my own passphrase")
    at.text_input[2].input("my own passphrase")
    at.button[0].click().run()
    assert not at.exception
    assert "Welcome dr_a (clinician)" in _texts(at)
    db = open_database(db_url)
    try:
        assert not auth.authenticate(db, "dr_a", "my own passphrase").must_change_password
    finally:
        db.dispose()


@pytest.fixture
def browser_cookies(monkeypatch):
    """The cookies a browser sends with the page (``st.context.cookies``; AppTest has none): a dict to fill."""
    from streamlit.runtime.context import ContextProxy

    jar: dict[str, str] = {}
    monkeypatch.setattr(ContextProxy, "cookies", property(lambda self: jar))
    return jar


def _new_browser_session() -> AppTest:
    return AppTest.from_function(_script, default_timeout=30).run()


def test_a_reload_with_the_session_cookie_stays_signed_in_until_sign_out(db_url, browser_cookies):
    from gaitscope.ui.login import COOKIE_NAME

    at = AppTest.from_function(_script, default_timeout=30).run()
    _sign_in(at, "dr_a", PW)
    token = at.session_state[SESSION_KEY]
    scripts = [h.proto.body for h in at.get("html")]
    assert any(f"{COOKIE_NAME}={token};" in b and "SameSite=Strict" in b for b in scripts)  # cookie written
    browser_cookies[COOKIE_NAME] = token  # what the browser sends with the reloaded page
    reloaded = _new_browser_session()
    assert "Welcome dr_a (clinician)" in _texts(reloaded)
    reloaded.sidebar.button[0].click().run()  # sign out
    assert [t.value for t in reloaded.title] == ["Sign in to gaitscope"]
    assert "expired" not in _texts(reloaded)  # signing out is not an expiry
    assert any(f"{COOKIE_NAME}=;" in h.proto.body and "Max-Age=0" in h.proto.body for h in reloaded.get("html"))
    again = _new_browser_session()  # the browser still sends the old cookie: the server refuses it
    assert "Welcome" not in _texts(again) and [t.value for t in again.title] == ["Sign in to gaitscope"]


def test_an_idle_cookie_session_ends_on_the_server(db_url, browser_cookies):
    from datetime import timedelta

    from sqlalchemy import update

    from gaitscope.db.models import UserSession
    from gaitscope.ui.login import COOKIE_NAME

    db = open_database(db_url)
    try:
        _, token = auth.sign_in(db, "dr_a", PW)
        browser_cookies[COOKIE_NAME] = token
        assert "Welcome dr_a" in _texts(_new_browser_session())
        idle = auth.utc_clock() - timedelta(minutes=auth.SESSION_IDLE_MINUTES + 1)
        with db.session() as s:
            s.execute(update(UserSession).values(last_seen_at=idle))
    finally:
        db.dispose()
    at = _new_browser_session()
    assert "Welcome" not in _texts(at) and "expired" in _texts(at)
