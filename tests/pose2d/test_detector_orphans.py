"""A stopped analysis stops its BlazePose processes (found in session 5: a SIGTERM to an analyzing process left
its two detector processes running as orphans, decoding and detecting the whole video on both cores).

The parent here is killed outright (SIGKILL: no handler, no exit code path at all), the hardest case; the detector
processes must be gone within seconds. Linux only (``prctl``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "gaitscope" / "data" / "sample" / "walk_side.mp4"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")

SCRIPT = f"""
from gaitscope.pose2d.detect import detect_keypoints
detect_keypoints({str(SAMPLE)!r}, workers=2)
"""


def test_detector_processes_die_with_a_killed_parent():
    children: list = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        proc = psutil.Process(parent.pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            children = [c for c in proc.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
            if len(children) >= 2 and all(c.cpu_times().user > 0.5 for c in children):  # detecting, not starting
                break
            time.sleep(0.2)
        assert parent.poll() is None and len(children) >= 2, "the detector processes never started"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"detector processes still running after their parent was killed: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()
        for c in children:  # whatever the test started, it stops
            try:
                c.kill()
            except psutil.Error:
                pass
