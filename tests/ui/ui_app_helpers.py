"""Helpers of the dashboard's AppTest tests (test_ui_app.py, test_ui_roles.py; fixtures in conftest.py): one
account per role, an app signed in as one of them, the text a reader sees."""

from __future__ import annotations

from pathlib import Path

from gaitscope.db import auth
from gaitscope.ui import data
from gaitscope.ui.components import db_url
from gaitscope.ui.demo_data import DEMO_SITE
from gaitscope.ui.login import SESSION_KEY

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 60
PW = "correct horse battery"
#: one account per role; the clinician and the viewer work at the demo site
ACCOUNTS = {"dr_demo": ("clinician", DEMO_SITE), "view_demo": ("viewer", DEMO_SITE),
            "res": ("researcher", None), "root": ("admin", None), "dr_other": ("clinician", "other")}


def app(as_user: str | None = "dr_demo"):
    """The app, signed in as ``as_user`` (a session token, as the sign-in form would leave it), or signed out."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if as_user is not None:
        _, token = auth.sign_in(data.database(db_url()), as_user, PW)
        at.session_state[SESSION_KEY] = token
    return at


def user_of(name: str):
    from gaitscope.db.auth import CurrentUser, get_user

    with data.database(db_url()).read_session() as s:
        return CurrentUser.from_user(get_user(s, name))


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def plain(markdown: str) -> str:
    """Markdown as the reader sees it (user text is shown with its Markdown characters escaped)."""
    return markdown.replace("\\", "")


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [s.value for s in at.success] + [i.value for i in at.info] + [c.value for c in at.caption]
    return plain("\n".join(str(p) for p in parts))
