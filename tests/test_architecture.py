"""The house rules as tests: the rooms' import contracts (import-linter, ``[tool.importlinter]`` in
pyproject.toml) and the lint rules (ruff, ``[tool.ruff]``). A new import the wrong way (analysis importing the
platform, the database importing the UI, a new import circle) or an unused import fails the suite with the
tool's own explanation. docs/architecture.md draws the rooms and arrows these contracts keep."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    # this checkout's gaitscope, whatever the virtual environment's editable install points to
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_import_contracts_are_kept():
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, "import contracts broken (pyproject.toml [tool.importlinter]):\n" + proc.stdout[-6000:] \
        + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "7 kept" in proc.stdout, proc.stdout[-3000:]


def test_ruff_passes():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, ("ruff found problems (`ruff check --fix .` repairs most):\n"
                                  + proc.stdout[-6000:] + proc.stderr[-2000:])
