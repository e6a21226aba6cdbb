"""A process pool started after an AppTest run in the same pytest process (the order in which the suite once
failed: tests/ui before tests/pipeline/test_batch.py's pool). Streamlit's script runner leaves the app script
installed as ``sys.modules["__main__"]``; "spawn" children re-import ``__main__`` from its path and die. The
suite's autouse fixture ``_main_module_kept`` (tests/conftest.py) puts the real one back after each test.

The two tests run in this order (file order; the suite has no random-order plugin)."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

from streamlit.testing.v1 import AppTest


def _app() -> None:
    import streamlit as st

    st.write("hello")


def test_1_an_apptest_run_installs_its_script_as_main():
    before = sys.modules["__main__"]
    at = AppTest.from_function(_app, default_timeout=30).run()
    assert not at.exception and at.markdown[0].value == "hello"
    assert sys.modules["__main__"] is not before  # what Streamlit does; the fixture undoes it after this test


def test_2_a_spawned_process_pool_works_after_it():
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(abs, -3).result(timeout=120) == 3
