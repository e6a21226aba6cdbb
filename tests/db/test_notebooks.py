"""The cohort-research notebook runs top to bottom in the venv's kernel (nbclient), as a user would run it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "cohort_research.ipynb"


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


@pytest.mark.slow
def test_cohort_research_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_home = os.environ.get("GAITSCOPE_HOME")
    os.environ["GAITSCOPE_HOME"] = str(tmp_path)  # nothing may touch the user's own database
    try:
        # kernel "python3": jupyter_client runs kernel specs whose argv[0] is "python" with sys.executable,
        # i.e. the venv's interpreter that runs pytest; the notebook prints it and we check it below.
        client = NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if env_home is None:
            os.environ.pop("GAITSCOPE_HOME", None)
        else:
            os.environ["GAITSCOPE_HOME"] = env_home
    text = _outputs_text(nb)
    assert f"python: {sys.executable}" in text, "the kernel did not run the venv's python"
    assert "analyses saved" in text and "balanced accuracy" in text
    assert "Traceback" not in text
