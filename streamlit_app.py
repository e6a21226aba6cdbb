"""gaitscope dashboard: ``streamlit run streamlit_app.py`` (or ``make app``).

Thin on purpose: page set-up, demo data on an empty database, sign-in, the pages of the user's role. The
pages live in gaitscope/ui; what each role may see is decided by gaitscope/db/access.py, not here.
"""

from pathlib import Path

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


def access_denied_page(path: str, role: str):
    """A page a role may not use, opened by its URL (a bookmark, a shared link): says so instead of silently
    showing another page. The page's own code never runs; its data would be refused by db/access.py anyway."""
    title = PAGES[path]["title"]
    roles = " or ".join(f"{r}s" for r, pages in ROLE_PAGES.items() if path in pages)

    def page() -> None:
        st.title(title)
        st.error(f"Access denied: {role} accounts may not open the {title} page (only {roles} may). "
                 "Ask an administrator if your role is wrong.")

    return st.Page(page, title=title, icon=PAGES[path]["icon"], url_path=Path(path).stem, visibility="hidden")


allowed = ROLE_PAGES.get(user.role, ())
pages = [st.Page(path, default=i == 0, **PAGES[path]) for i, path in enumerate(allowed)]
if pages:  # the first page lives at "/"; its own address (a bookmark of /patients) would be "page not found",
    # so it is also registered, hidden, under that address (the "/" page gets an unused internal name)
    pages[0] = st.Page(allowed[0], default=True, url_path="start", **PAGES[allowed[0]])
    pages.append(st.Page(allowed[0], url_path=Path(allowed[0]).stem, visibility="hidden", **PAGES[allowed[0]]))
else:
    pages = [st.Page(lambda: st.error("Your account has no role with pages."), title="gaitscope")]
navigation = st.navigation(pages + [access_denied_page(path, user.role) for path in PAGES if path not in allowed])
logout_button(db, user=user)
keep_session_cookie()  # a reload or a bookmark stays signed in until sign-out or the session's end
st.sidebar.caption("Database: " + ("embedded (SQLite)" if db_url().startswith("sqlite") else "server"),
                   help=md_escape(db_url().split("///")[-1]) if db_url().startswith("sqlite") else None)
navigation.run()
