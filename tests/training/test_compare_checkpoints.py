"""benchmarks/compare_checkpoints.py: a paired change is judged against its spread over trials, not over cases."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("compare_checkpoints", ROOT / "benchmarks" / "compare_checkpoints.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _rows(cadence_err: dict[str, float]) -> pd.DataFrame:
    """Back-view 'both' rows: case name -> cadence error; trial = the case name's prefix (4 cases a trial)."""
    return pd.DataFrame([{"view": "back", "case": c, "trial": c.split("#")[0], "leg": "-", "side": "both",
                          "cadence_err_pct": v} for c, v in cadence_err.items()])


def test_a_consistent_increase_is_worse_and_a_scattered_one_is_not():
    cc = _module()
    spec = [("back", "both", "cadence_err_pct", "cadence err %")]
    cases = [f"t{t}#{k}" for t in range(6) for k in range(4)]
    before = _rows({c: 2.0 for c in cases})
    # every trial 3 points worse, small spread: worse by 3 (|err| 2 -> 5), SE over trials about 0.1
    rng = np.random.default_rng(0)
    worse = _rows({c: 5.0 + 0.1 * rng.standard_normal() for c in cases})
    (c,) = cc.compare(before, worse, spec)
    assert (c.n_cases, c.n_trials) == (24, 6)
    assert abs(c.change - 3.0) < 0.2 and c.verdict == "WORSE"
    # one trial 18 points worse, the others unchanged: mean change 3, but the trials' SE is 3 -> within noise
    scattered = _rows({c: (20.0 if c.startswith("t0#") else 2.0) for c in cases})
    (c,) = cc.compare(before, scattered, spec)
    assert abs(c.change - 3.0) < 1e-9 and abs(c.se - 3.0) < 1e-9 and c.verdict == "same"
    # sign does not matter, only the size of the error: -2 -> +1 is better
    better = _rows({c: (1.0 if k % 2 else -1.0) for k, c in enumerate(cases)})
    (c,) = cc.compare(before, better, spec)
    assert c.verdict == "better" and abs(c.mae_b - 1.0) < 1e-9
