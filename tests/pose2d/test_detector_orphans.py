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


def _busy_detectors(proc: psutil.Process) -> list:
    """The parent's worker processes (not multiprocessing's resource tracker) and whether each is detecting (over
    0.5 s of CPU). A child that exits while it is being looked at (a zombie for a moment, e.g. the first pass's
    workers before the mirrored pass starts) is skipped, not an error of the product."""
    out = []
    for c in proc.children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(c.cmdline()):
                out.append((c, c.cpu_times().user > 0.5))
        except psutil.Error:
            continue
    return out


def test_detector_processes_die_with_a_killed_parent():
    children: list = []
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        proc = psutil.Process(parent.pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            found = _busy_detectors(proc)
            children = [c for c, _ in found]
            if len(found) >= 2 and all(busy for _, busy in found):  # detecting, not starting
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
