"""gaitscope dashboard: ``streamlit run streamlit_app.py`` (or ``make app``).

Thin on purpose: page set-up, demo data on an empty database, sign-in, the pages of the user's role. The
pages live in gaitscope/ui; what each role may see is decided by gaitscope/db/access.py, not here.
"""

import streamlit as st

from gaitscope.ui.components import (
    PAGE_ACCOUNTS,
    PAGE_ACTIVITIES,
    PAGE_COHORT,
    PAGE_PATIENTS,
    PAGE_RESULTS,
    PAGE_UPLOAD,
    ROLE_PAGES,
    USER_KEY,
    db_url,
    md_escape,
    user_errors,
)
from gaitscope.ui.data import database
from gaitscope.ui.demo_data import ensure_demo_data
from gaitscope.ui.login import first_admin_form, has_accounts, keep_session_cookie, logout_button, require_login

st.set_page_config(page_title="gaitscope", page_icon="🚶", layout="wide")  # an emoji: no icon font download

with user_errors("The database could not be opened"):
    ensure_demo_data(db_url())
db = database(db_url())

st.session_state.pop(USER_KEY, None)  # set again below, only after this run's session check
if not has_accounts(db):
    if first_admin_form(db) is not None:
        st.rerun()
    st.stop()
user = require_login(db)  # draws the sign-in form and stops the script when nobody is signed in
st.session_state[USER_KEY] = user

PAGES = {
    PAGE_PATIENTS: dict(title="Patients", icon=":material/groups:"),
    PAGE_UPLOAD: dict(title="New analysis", icon=":material/upload:"),
    PAGE_RESULTS: dict(title="Results", icon=":material/monitoring:"),
    PAGE_COHORT: dict(title="Research cohort", icon=":material/query_stats:"),
    PAGE_ACCOUNTS: dict(title="Accounts", icon=":material/manage_accounts:"),
    PAGE_ACTIVITIES: dict(title="Activities", icon=":material/directions_walk:"),
}
allowed = ROLE_PAGES.get(user.role, ())
navigation = st.navigation([st.Page(path, default=i == 0, **PAGES[path]) for i, path in enumerate(allowed)]
                           or [st.Page(lambda: st.error("Your account has no role with pages."), title="gaitscope")])
logout_button(db, user=user)
keep_session_cookie()  # a reload or a bookmark stays signed in until sign-out or the session's end
st.sidebar.caption("Database: " + ("embedded (SQLite)" if db_url().startswith("sqlite") else "server"),
                   help=md_escape(db_url().split("///")[-1]) if db_url().startswith("sqlite") else None)
navigation.run()
