#!/usr/bin/env python
"""Run the dashboard's browser end-to-end tests and refresh the README screenshots in docs/screenshots/.

    .venv/bin/python scripts/browser_e2e.py            # all browser tests (slow: a few minutes on 2 cores)
    .venv/bin/python scripts/browser_e2e.py -k demo    # only the demo-data walk-through
    .venv/bin/python scripts/browser_e2e.py -k "clinicians_day or each_role"   # every page at 1440 and 1024 px

The clinician's day (two patients, two analyses, the chosen patient's height, reload, a video that plays,
PDF/CSV, 1024 px, sign-out) and the role test (each role refused a forbidden page; the researcher filters and
exports) write docs/screenshots/page_<page>_<width>.png; the log prints the Results draw time of a cached analysis.

Needs the system Chromium and Playwright for Python (never `playwright install`):

    apt-get update && apt-get install -y chromium
    .venv/bin/pip install -e '.[dev]'       # pulls playwright and pypdf
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    env = dict(os.environ, GAITSCOPE_UPDATE_SCREENSHOTS="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "slow", "tests/ui/test_ui_browser_e2e.py", *argv]
    return subprocess.call(cmd, cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
