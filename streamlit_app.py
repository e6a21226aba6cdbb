"""gaitscope dashboard: ``streamlit run streamlit_app.py`` (or ``make app``).

Thin on purpose: page set-up, demo data on an empty database, navigation. The pages live in gaitscope/ui.
"""

import streamlit as st

from gaitscope.ui.components import PAGE_PATIENTS, PAGE_RESULTS, PAGE_UPLOAD, db_url, md_escape, user_errors
from gaitscope.ui.demo_data import ensure_demo_data

st.set_page_config(page_title="gaitscope", page_icon="🚶", layout="wide")  # an emoji: no icon font download

with user_errors("The database could not be opened"):
    ensure_demo_data(db_url())

navigation = st.navigation([
    st.Page(PAGE_PATIENTS, title="Patients", icon=":material/groups:", default=True),
    st.Page(PAGE_UPLOAD, title="New analysis", icon=":material/upload:"),
    st.Page(PAGE_RESULTS, title="Results", icon=":material/monitoring:"),
])
st.sidebar.caption("Database: " + ("embedded (SQLite)" if db_url().startswith("sqlite") else "server"),
                   help=md_escape(db_url().split("///")[-1]) if db_url().startswith("sqlite") else None)
navigation.run()
