"""The Parkinson's H&Y sanity notebook runs top to bottom on the real gaitpdb labels (nbclient, the venv's kernel).

Skipped when ../shared/data/labels/gaitpdb is absent (a fresh clone has no shared data).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "parkinsons_hy_sanity.ipynb"
LABELS = ROOT / ".." / "shared" / "data" / "labels" / "gaitpdb" / "demographics.txt"


@pytest.mark.slow
@pytest.mark.skipif(not LABELS.exists(), reason=f"gaitpdb labels not found at {LABELS} (../shared/data)")
def test_parkinsons_notebook_reports_rho_with_a_bootstrap_ci(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    monkeypatch.setenv("GAITSCOPE_SHARED_DATA", str(LABELS.parents[2]))
    # importing streamlit (the UI tests do) sets MPLBACKEND=Agg for the whole process; the kernel would inherit it
    # and draw no inline figure
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"python: {sys.executable}" in text, "the kernel did not run the venv's python"
    assert "Traceback" not in text
    assert "92 with PD" in text
    m = re.search(r"speed vs H&Y: Spearman rho = (-?[\d.]+)\s+\(95 % CI (-?[\d.]+) to (-?[\d.]+)\)", text)
    assert m, text
    rho, lo, hi = map(float, m.groups())
    assert rho == pytest.approx(-0.278, abs=0.005)  # the value the data's README quotes
    assert lo < rho < hi and hi < 0
    m = re.search(r"branch's expected H&Y vs H&Y: Spearman rho = (-?[\d.]+)\s+\(95 % CI (-?[\d.]+) to (-?[\d.]+)\)", text)
    assert m and float(m.group(2)) < float(m.group(1)) < float(m.group(3))
    assert "SANITY CHECK PASSED" in text
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))  # the plot
