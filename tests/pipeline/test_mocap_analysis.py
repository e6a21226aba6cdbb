"""Imported motion capture through the gait analysis: cadence and event timing against the force plates.

Skipped when ../shared/data is absent or the analysis package is not importable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.analysis import report
from gaitscope.io.mocap import load_motion

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mocap"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real mocap data not found at {DATA} (../shared/data/mocap)"),
]


def _plate_cadence(trial) -> float:
    hs = sorted((e for e in trial.events if e.kind == "heel_strike"), key=lambda e: e.time_s)
    steps = [b.time_s - a.time_s for a, b in zip(hs, hs[1:]) if a.side != b.side and 0.3 < b.time_s - a.time_s < 1.0]
    return 60.0 / float(np.mean(steps))


def test_horst_trial_cadence_and_events_match_the_plates():
    tr = load_motion(DATA / "horst2019_S01" / "c3d" / "S01_0011_Gait.c3d")
    rep = report.analyze_gait(tr.motion)
    assert rep.parameter("cadence").value == pytest.approx(_plate_cadence(tr), abs=3.0)
    # Zeni events (the analysis) fall within 50 ms of the plate events they correspond to
    matched = 0
    for e in tr.events:
        cands = [a for a in rep.events if a.side == e.side and a.kind == e.kind]
        if cands:
            d = min(abs(a.frame / tr.motion.fps - e.time_s) for a in cands)
            matched += d < 0.05
    assert matched >= 3


def test_trial_without_head_markers_is_analyzed():
    tr = load_motion(DATA / "bmclab" / "data" / "Gait.c3d")
    rep = report.analyze_gait(tr.motion)
    assert rep.parameter("cadence").value == pytest.approx(_plate_cadence(tr), abs=5.0)
