"""Access control in the dashboard (Streamlit AppTest, no browser): the first-run administrator form, sign-in
and sign-out, the pages of each role, and what a forbidden page shows when it is called anyway."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("argon2")
from streamlit.testing.v1 import AppTest  # noqa: E402
from ui_app_helpers import ACCOUNTS, PW, SESSION_KEY, TIMEOUT  # noqa: E402
from ui_app_helpers import app as _app  # noqa: E402
from ui_app_helpers import ok as _ok  # noqa: E402
from ui_app_helpers import plain as _plain  # noqa: E402
from ui_app_helpers import texts as _texts  # noqa: E402
from ui_app_helpers import user_of as _user  # noqa: E402

from gaitscope.db import auth  # noqa: E402
from gaitscope.ui import data  # noqa: E402
from gaitscope.ui.components import PAGE_RESULTS, PAGE_UPLOAD  # noqa: E402
from gaitscope.ui.demo_data import DEMO_SITE  # noqa: E402

# ---------------------------------------------------------------------------------------------------------
# first run, sign-in, roles
# ---------------------------------------------------------------------------------------------------------


def _accounts_in_db(url: str) -> list[tuple[str, str]]:
    with data.database(url).read_session() as s:
        return [(u.username, u.role) for u in auth.list_users(s)]


def test_first_run_creates_the_administrator_and_there_is_no_default_account(bare_env):
    at = _app(None).run()
    _ok(at)
    assert [t.value for t in at.title] == ["Welcome to gaitscope"]
    assert not at.dataframe  # no patient data before anyone has signed in
    assert _accounts_in_db(bare_env) == []  # the demo data came without any (demo) account
    assert len(data.analyses_frame(auth.CurrentUser(0, "x", "clinician", site=DEMO_SITE), bare_env)) == 4

    def submit(name: str, pw: str, again: str) -> None:
        at.text_input(key="gaitscope_setup_username").input(name)
        at.text_input(key="gaitscope_setup_password").input(pw)
        at.text_input(key="gaitscope_setup_password2").input(again)
        at.button(key="FormSubmitter:gaitscope_first_admin-Create administrator account").click().run()
        _ok(at)

    submit("root", PW, PW + "x")
    assert any("passwords differ" in e.value for e in at.error) and _accounts_in_db(bare_env) == []
    submit("root", "short", "short")
    assert any("too short" in e.value for e in at.error) and _accounts_in_db(bare_env) == []
    submit("Root", PW, PW)
    assert _accounts_in_db(bare_env) == [("root", "admin")]
    assert [t.value for t in at.title] == ["Accounts"]  # signed in as the new admin
    assert "Signed in as root (admin)" in [c.value for c in at.sidebar.caption]
    # the set-up form is closed for good: a new browser gets the sign-in form
    again = _app(None).run()
    assert [t.value for t in again.title] == ["Sign in to gaitscope"]


def test_signed_out_browser_sees_the_sign_in_form_only(env):
    at = _app(None).run()
    _ok(at)
    assert [t.value for t in at.title] == ["Sign in to gaitscope"]
    assert not at.dataframe
    at.text_input(key="gaitscope_login_username").input("view_demo")
    at.text_input(key="gaitscope_login_password").input(PW)
    at.button(key="FormSubmitter:gaitscope_login-Sign in").click().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Patients"]
    at.sidebar.button(key="gaitscope_logout").click().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Sign in to gaitscope"]


@pytest.mark.parametrize("user, landing, forbidden", [
    ("dr_demo", "Patients", None),
    ("view_demo", "Patients", PAGE_UPLOAD),
    ("res", "Research cohort", PAGE_RESULTS),
    ("root", "Accounts", PAGE_RESULTS),
])
def test_each_role_lands_on_its_pages_and_is_refused_others_with_a_message(env, user, landing, forbidden):
    from gaitscope.ui.components import ROLE_PAGES

    at = _app(user).run()
    _ok(at)
    assert [t.value for t in at.title] == [landing]
    role = ACCOUNTS[user][0]
    assert any(c.value.startswith(f"Signed in as {user} ({role}") for c in at.sidebar.caption)
    if forbidden is not None:
        assert forbidden not in ROLE_PAGES[role]
        at.switch_page(forbidden).run()  # not in this role's navigation: opened by its URL anyway
        _ok(at)
        errors = [e.value for e in at.error]
        assert any(e.startswith(f"Access denied: {role} accounts may not open the") for e in errors), errors
        assert not at.dataframe and not at.metric and "DEMO-001" not in _texts(at)


@pytest.mark.parametrize("user, view", [
    ("res", "patients"), ("root", "patients"), ("res", "results"), ("root", "results"),
    ("view_demo", "upload"), ("res", "upload"), ("root", "upload"),
    ("dr_demo", "cohort"), ("view_demo", "cohort"), ("root", "cohort"),
    ("dr_demo", "accounts"), ("view_demo", "accounts"), ("res", "accounts"),
])
def test_a_forbidden_page_called_anyway_shows_the_access_error(env, user, view):
    """What a curious user gets who calls a page's render() although the navigation hides it: the access
    layer's sentence as an error box, no traceback, no data."""

    def script() -> None:
        import importlib
        import os

        import streamlit as st

        from gaitscope.ui.components import USER_KEY
        from gaitscope.ui.data import database
        from gaitscope.ui.login import require_login

        st.session_state[USER_KEY] = require_login(database(os.environ["GAITSCOPE_DB_URL"]))
        importlib.import_module(f"gaitscope.ui.views.{os.environ['GAITSCOPE_TEST_VIEW']}").render()

    os.environ["GAITSCOPE_TEST_VIEW"] = view
    try:
        at = AppTest.from_function(script, default_timeout=TIMEOUT)
        _, token = auth.sign_in(data.database(env), user, PW)
        at.session_state[SESSION_KEY] = token
        at.run()
    finally:
        del os.environ["GAITSCOPE_TEST_VIEW"]
    _ok(at)
    errors = [e.value for e in at.error]
    assert any("Access denied" in e and f"{ACCOUNTS[user][0]} accounts may not" in e for e in errors), errors
    assert not at.dataframe and not at.get("download_button")
    assert "DEMO-001" not in _texts(at)


def test_viewer_reads_patients_and_results_but_cannot_edit_play_or_export(env):
    at = _app("view_demo").run()
    _ok(at)
    assert list(at.dataframe[0].value["Code"]) == ["DEMO-001", "DEMO-002"]
    keys = {t.key for t in at.text_input}
    assert "new_patient_code" not in keys and "edit_patient_code" not in keys  # no create/edit forms
    assert not any(b.key == "patients_new_analysis" for b in at.button)
    analysis_id = int(data.analyses_frame(_user("view_demo"), env)["analysis_id"].iloc[0])
    at.session_state["analysis_id"] = analysis_id
    at.switch_page(PAGE_RESULTS).run()
    _ok(at)
    assert [t.value for t in at.title] == ["Results"] and at.metric
    assert not at.get("download_button") and not at.get("video")
    assert "clinicians only" in _texts(at)


def test_clinician_of_another_site_sees_none_of_the_demo_patients(env):
    at = _app("dr_other").run()
    _ok(at)
    assert len(at.dataframe[0].value) == 0
    demo_analysis = int(data.analyses_frame(_user("dr_demo"), env)["analysis_id"].iloc[0])
    at.session_state["analysis_id"] = demo_analysis  # a guessed id: not offered, not shown
    at.switch_page(PAGE_RESULTS).run()
    _ok(at)
    assert not at.metric and "DEMO-001" not in _texts(at)


def test_researcher_sees_pseudonymised_cohort_tables_only(env):
    at = _app("res").run()
    _ok(at)
    patients = at.dataframe[0].value
    assert set(patients["patient_code"]) == {"DEMO-001", "DEMO-002"}
    params = next(d.value for d in at.dataframe if "parameter" in d.value.columns)
    assert len(params) > 0
    for table in (patients, params):
        cols = set(table.columns)
        assert not cols & {"notes", "original_name", "storage_name", "birth_year", "visit_date", "given_name",
                           "family_name"}, cols
    assert "age_band" in patients.columns and all("-" in str(a) for a in patients["age_band"].dropna())
    assert not at.get("video")


def test_admin_creates_unlocks_and_disables_accounts_without_seeing_patients(env):
    at = _app("root").run()
    _ok(at)
    assert "DEMO-001" not in _texts(at)
    assert at.selectbox(key="account_new_role").value == "viewer"  # an untouched form grants the least
    from gaitscope.db.models import ROLES
    from gaitscope.ui.views.accounts import ROLES_LEAST_FIRST

    assert sorted(ROLES_LEAST_FIRST) == sorted(ROLES)
    at.text_input(key="account_new_username").input("dr_new")
    at.selectbox(key="account_new_role").set_value("clinician")
    at.text_input(key="account_new_site").input(DEMO_SITE)
    at.text_input(key="account_new_password").input(PW)
    at.text_input(key="account_new_password2").input(PW)
    at.button(key="FormSubmitter:account_create-Create account").click().run()
    _ok(at)
    assert ("dr_new", "clinician") in _accounts_in_db(env)
    assert any("dr_new" in _plain(s.value) for s in at.success)
    # lock the new account with wrong passwords, then unlock and disable it from the page
    for _ in range(auth.MAX_FAILED_ATTEMPTS):
        with pytest.raises(auth.AccessDeniedError):
            auth.sign_in(data.database(env), "dr_new", "wrong password!")
    with pytest.raises(auth.AccessDeniedError, match="locked"):
        auth.sign_in(data.database(env), "dr_new", PW)
    at.selectbox(key="account_manage_name").set_value("dr_new").run()
    at.button(key="account_unlock").click().run()
    _ok(at)
    auth.sign_in(data.database(env), "dr_new", PW)  # unlocked
    at.selectbox(key="account_manage_name").set_value("dr_new").run()
    at.button(key="account_toggle").click().run()
    _ok(at)
    with pytest.raises(auth.AccessDeniedError, match="disabled"):
        auth.sign_in(data.database(env), "dr_new", PW)
