"""The real-patient Parkinson's notebook runs top to bottom (nbclient) on a few people's walks, into a scratch
database. Needs ../shared/data/patients (CC BY-NC-ND, read in place); skips where it is absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "pd_real_patients.ipynb"
PD_DIR = REPO / ".." / "shared" / "data" / "patients" / "video_tracking_pd" / "dataset"


@pytest.mark.slow
def test_pd_real_notebook_executes(tmp_path, monkeypatch):
    if not (PD_DIR / "motor_scales_all_2021.03.08.xlsx").exists():
        pytest.skip(f"real PD data not available at {PD_DIR} (needs ../shared/data beside the repository)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("GAITSCOPE_HOME", str(tmp_path))  # nothing may touch the user's own database
    monkeypatch.setenv("GAITSCOPE_PD_MAX_PEOPLE", "4")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    client = NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(str(o.get("text", "")) + "\n".join(str(v) for v in o.get("data", {}).values())
                     for c in nb.cells for o in c.get("outputs", []))
    assert f"python: {sys.executable}" in text
    assert "analyses saved: " in text and "majority baseline" in text and "P(>32)" in text
    assert "Traceback" not in text
