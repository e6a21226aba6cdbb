"""Small Streamlit helpers shared by the pages: safe text, error boxes, navigation targets, the DB URL, the
signed-in user and which pages each role may open."""

from __future__ import annotations

import functools
import re
from contextlib import contextmanager
from typing import Callable, Iterator

import streamlit as st

from gaitscope.errors import AccessDeniedError, GaitscopeError

PAGE_PATIENTS = "gaitscope/ui/pages/patients.py"
PAGE_UPLOAD = "gaitscope/ui/pages/upload.py"
PAGE_RESULTS = "gaitscope/ui/pages/results.py"
PAGE_COHORT = "gaitscope/ui/pages/cohort.py"
PAGE_ACCOUNTS = "gaitscope/ui/pages/accounts.py"
PAGE_ACTIVITIES = "gaitscope/ui/pages/activities.py"

#: Pages shown in the navigation of each role. Hiding is a convenience only: every page reads its data through
#: :mod:`gaitscope.db.access`, which refuses a role that opens a page by its URL anyway.
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "clinician": (PAGE_PATIENTS, PAGE_UPLOAD, PAGE_RESULTS, PAGE_ACTIVITIES),
    "viewer": (PAGE_PATIENTS, PAGE_RESULTS, PAGE_ACTIVITIES),
    "researcher": (PAGE_COHORT,),
    "admin": (PAGE_ACCOUNTS,),
}
USER_KEY = "gaitscope_current_user"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: object) -> str:
    """Escape Markdown so user text (codes, notes, file names) shows literally and cannot add links/images.

    Streamlit already escapes HTML in Markdown (``unsafe_allow_html`` is never used here); this also neutralises
    Markdown syntax, so ``![x](http://...)`` in a note is not fetched by the browser.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def db_url() -> str:
    """``$GAITSCOPE_DB_URL`` or the embedded SQLite file (read on every rerun, so tests can point it elsewhere)."""
    from gaitscope.settings import settings
    from gaitscope.ui.data import default_db_url

    return settings().db_url or default_db_url()


@contextmanager
def user_errors(what: str = "") -> Iterator[None]:
    """Show a :class:`GaitscopeError` as an error box (its message says what to do) instead of a traceback."""
    try:
        yield
    except GaitscopeError as exc:
        st.error((what + ": " if what else "") + str(exc))


def open_results(analysis_id: int) -> None:
    """Go to the results page for ``analysis_id``."""
    st.session_state["analysis_id"] = int(analysis_id)
    st.switch_page(PAGE_RESULTS)


def remembered_choice(label: str, options: list, *, key: str, remember: str, **kwargs):
    """A selectbox whose choice outlives the page: ``st.session_state[remember]`` holds it across pages (Streamlit
    drops a widget's own state when another page is shown) and other pages may set it ("Open results", a new
    patient), while the user's pick in the box always wins.

    Why a callback: the box's new value arrives before the script runs; copying the remembered value into the
    box *in the script* (as the pages did before) overwrote every pick with the previous choice, so the box
    snapped back. The ``on_change`` callback runs first and updates the remembered value instead.
    """
    wanted = st.session_state.get(remember)
    if wanted in options and st.session_state.get(key) != wanted:
        st.session_state[key] = wanted  # before the widget exists in this run (a page opened or set elsewhere)

    def picked() -> None:
        st.session_state[remember] = st.session_state[key]

    chosen = st.selectbox(label, options, key=key, on_change=picked, **kwargs)
    st.session_state[remember] = chosen
    return chosen


def flash(message: str, kind: str = "success") -> None:
    """Remember a message to show after the next rerun (``st.rerun`` drops what the current run displayed)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind, st.info)(message)


def signed_in_user():
    """The :class:`~gaitscope.db.auth.CurrentUser` of this browser session.

    ``streamlit_app.py`` checks the session token against the database at the top of EVERY run and stores the
    result here before the page runs; a page run without it (a test, a page script opened on its own) gets the
    sign-in form instead of data.
    """
    user = st.session_state.get(USER_KEY)
    if user is None:
        from gaitscope.ui.data import database
        from gaitscope.ui.login import require_login

        user = require_login(database(db_url()))
        st.session_state[USER_KEY] = user
    return user


def guarded(render: Callable[[], None]) -> Callable[[], None]:
    """Run a page so that :class:`AccessDeniedError` (wrong role or site) is an error box, not a traceback."""

    @functools.wraps(render)
    def wrapper() -> None:
        try:
            render()
        except AccessDeniedError as exc:
            from gaitscope.ui.data import database

            database(db_url()).record_refusal(exc)  # a refusal checked before any database session is audited here
            st.error(str(exc))

    return wrapper


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_result(analysis_id: int, url: str):
    """A stored analysis as a :class:`gaitscope.ui.data.ResultBundle`, cached once per server for every page
    (Results, Activities): records are immutable and hold numpy arrays that need no copy per rerun. The cache is
    shared across users, so pages check access with ``data.check_report_access`` on every run before calling."""
    from gaitscope.ui.data import load_result

    return load_result(analysis_id, url)


def analysis_choices(user, url: str) -> tuple[list[int], dict[int, str]] | None:
    """The analyses ``user`` may open, as (ids, labels "patient - visit - file (#id)") for a picker; None (after
    telling the user there is nothing yet) when there are none. Shared by the Results and Activities pickers."""
    from gaitscope.ui import data

    analyses = data.analyses_frame(user, url)
    if analyses.empty:
        st.info("No analysis stored yet. Upload a video on the **New analysis** page.")
        return None
    ids = [int(a) for a in analyses["analysis_id"]]
    labels = {int(r.analysis_id): f"{r.patient} - {r.visit_date} - {r.file} (#{int(r.analysis_id)})"
              for r in analyses.itertuples()}
    return ids, labels
