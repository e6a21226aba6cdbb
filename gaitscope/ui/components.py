"""Small Streamlit helpers shared by the pages: safe text, error boxes, navigation targets, the DB URL."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from gaitscope.errors import GaitscopeError

PAGE_PATIENTS = "gaitscope/ui/pages/patients.py"
PAGE_UPLOAD = "gaitscope/ui/pages/upload.py"
PAGE_RESULTS = "gaitscope/ui/pages/results.py"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: object) -> str:
    """Escape Markdown so user text (codes, notes, file names) shows literally and cannot add links/images.

    Streamlit already escapes HTML in Markdown (``unsafe_allow_html`` is never used here); this also neutralises
    Markdown syntax, so ``![x](http://...)`` in a note is not fetched by the browser.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", "  \n")


def db_url() -> str:
    """``$GAITSCOPE_DB_URL`` or the embedded SQLite file (read on every rerun, so tests can point it elsewhere)."""
    from gaitscope.ui.data import default_db_url

    return os.environ.get("GAITSCOPE_DB_URL") or default_db_url()


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


def flash(message: str, kind: str = "success") -> None:
    """Remember a message to show after the next rerun (``st.rerun`` drops what the current run displayed)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind, st.info)(message)
