"""Two lifters on the same video evaluation, case by case: is the new one worse beyond the evaluation's noise?

Why: a fine-tuned lifter is shipped only if no number graded reliable from a view gets worse by more than its
measured noise (issue 20 point 2). Comparing two table means hides how much of a difference the 44 cases of a
view can tell apart, so this pairs the per-case rows of two ``benchmarks/video_accuracy.py --csv`` runs (same
cases, same cached detections) and measures each difference against its own spread.

The noise of a difference is its standard error over trials, not over cases: the 4 cases of one trial (fixed /
panning camera, 30 / 60 fps) are the same walk and err together, so the per-case differences are averaged per
trial first and the standard error is taken over the trials of a view that have the quantity (at most 10: the
two Camargo stretches are one recording; a cluster standard error; Cameron &
Miller, "A practitioner's guide to cluster-robust inference", J. Human Resources 2015). A quantity is "worse"
when the new lifter's mean absolute error exceeds the old one's by more than 2 such standard errors, and
"better" symmetrically.

    python benchmarks/compare_checkpoints.py runs/rows_bundled.csv runs/rows_ft.csv [--names before after] [--issue20]

``--issue20`` adds the other side-view numbers issue 20 grades (hip RMSE, speed, heel strikes missed and
spurious) and the oblique stance, step length and speed to the comparison and to the verdict: a change to what
the lifter outputs (not only a new checkpoint) must leave them no worse either.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: (view, row selector, column, label): the numbers graded reliable from each view in docs/validation.md
#: ("Which parameters are reliable from which view"), plus the side and oblique knee numbers the fine-tune is for.
#: Selector: "near"/"far" = leg rows, "both" = the case's both-feet row.
RELIABLE: list[tuple[str, str, str, str]] = [
    ("side", "near", "knee_flexion_rom_err_deg", "knee ROM err near deg"),
    ("side", "far", "knee_flexion_rom_err_deg", "knee ROM err far deg"),
    ("side", "near", "hip_flexion_rom_err_deg", "hip ROM err near deg"),
    ("side", "far", "hip_flexion_rom_err_deg", "hip ROM err far deg"),
    ("side", "near", "stance_pct_err", "stance err near %pt"),
    ("side", "far", "stance_pct_err", "stance err far %pt"),
    ("side", "both", "step_length_err_m", "step length err m"),
    ("side", "both", "cadence_err_pct", "cadence err %"),
    ("side", "both", "heel_strike_mae_ms", "heel strike MAE ms"),
    ("oblique", "both", "cadence_err_pct", "cadence err %"),
    ("oblique", "both", "heel_strike_mae_ms", "heel strike MAE ms"),
    ("frontal", "both", "cadence_err_pct", "cadence err %"),
    ("back", "both", "cadence_err_pct", "cadence err %"),
]
#: Not graded reliable, shown for the decision's second half (the side or oblique knee must improve).
KNEE: list[tuple[str, str, str, str]] = [
    ("side", "near", "knee_flexion_rmse_deg", "knee RMSE near deg"),
    ("side", "far", "knee_flexion_rmse_deg", "knee RMSE far deg"),
    ("oblique", "near", "knee_flexion_rmse_deg", "knee RMSE near deg"),
    ("oblique", "far", "knee_flexion_rmse_deg", "knee RMSE far deg"),
    ("oblique", "near", "knee_flexion_rom_err_deg", "knee ROM err near deg"),
    ("oblique", "far", "knee_flexion_rom_err_deg", "knee ROM err far deg"),
]
#: The other side-view numbers issue 20 grades (a change to the lifter's output must not make them worse either),
#: and the oblique numbers a clinician reads beside the knee; counted in the verdict with ``--issue20``.
ISSUE20: list[tuple[str, str, str, str]] = [
    ("side", "near", "hip_flexion_rmse_deg", "hip RMSE near deg"),
    ("side", "far", "hip_flexion_rmse_deg", "hip RMSE far deg"),
    ("side", "both", "speed_err_pct", "speed err %"),
    ("side", "both", "heel_strike_missed", "heel strikes missed"),
    ("side", "both", "heel_strike_spurious", "heel strikes spurious"),
    ("oblique", "near", "stance_pct_err", "stance err near %pt"),
    ("oblique", "far", "stance_pct_err", "stance err far %pt"),
    ("oblique", "both", "step_length_err_m", "step length err m"),
    ("oblique", "both", "speed_err_pct", "speed err %"),
]


@dataclass(frozen=True)
class Comparison:
    """One quantity of one view: means of both runs, the paired change of the absolute error and its noise."""

    view: str
    label: str
    n_cases: int
    n_trials: int
    mean_a: float  # mean signed error, run A
    mae_a: float  # mean absolute error, run A
    mean_b: float
    mae_b: float
    change: float  # mean over trials of (|err B| - |err A|) averaged within each trial
    se: float  # standard error of ``change`` over trials

    @property
    def verdict(self) -> str:
        if not math.isfinite(self.se) or self.n_trials < 3:
            return "too few"
        if self.change > 2 * self.se:
            return "WORSE"
        if self.change < -2 * self.se:
            return "better"
        return "same"


def _pick(rows: pd.DataFrame, view: str, sel: str) -> pd.DataFrame:
    v = rows[rows["view"] == view]
    return v[v["side"] == "both"] if sel == "both" else v[v["leg"] == sel]


def compare(a: pd.DataFrame, b: pd.DataFrame, spec: list[tuple[str, str, str, str]]) -> list[Comparison]:
    """Pair the rows of ``a`` and ``b`` by case (and leg) and compare each quantity of ``spec``."""
    out = []
    for view, sel, col, label in spec:
        pa, pb = _pick(a, view, sel), _pick(b, view, sel)
        if pa.empty or pb.empty or col not in pa or col not in pb:
            continue
        m = pa[["case", "trial", col]].merge(pb[["case", col]], on="case", suffixes=("_a", "_b")).dropna()
        if m.empty:
            continue
        m["d"] = m[f"{col}_b"].abs() - m[f"{col}_a"].abs()
        per_trial = m.groupby("trial")["d"].mean().to_numpy()
        se = float(per_trial.std(ddof=1) / math.sqrt(len(per_trial))) if len(per_trial) > 1 else float("nan")
        out.append(Comparison(view, label, len(m), len(per_trial), float(m[f"{col}_a"].mean()),
                              float(m[f"{col}_a"].abs().mean()), float(m[f"{col}_b"].mean()),
                              float(m[f"{col}_b"].abs().mean()), float(per_trial.mean()), se))
    return out


def print_comparisons(title: str, rows: list[Comparison], names: tuple[str, str]) -> None:
    print(f"\n== {title} ==")
    print(f"{'view':8s} {'quantity':24s} {'cases':>5s} {'trials':>6s} {names[0]:>18s} {names[1]:>18s} "
          f"{'change |err|':>12s} {'2 SE':>7s} verdict")
    for c in rows:
        print(f"{c.view:8s} {c.label:24s} {c.n_cases:5d} {c.n_trials:6d} {f'{c.mean_a:+.3g} ({c.mae_a:.3g})':>18s} "
              f"{f'{c.mean_b:+.3g} ({c.mae_b:.3g})':>18s} {c.change:+12.3g} {2 * c.se:7.3g} {c.verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path, help="rows CSV of the current lifter (video_accuracy.py --csv)")
    ap.add_argument("after", type=Path, help="rows CSV of the candidate lifter")
    ap.add_argument("--names", nargs=2, default=["before", "after"])
    ap.add_argument("--issue20", action="store_true",
                    help="also compare the other side numbers issue 20 grades (hip RMSE, speed, heel strikes) and "
                         "the oblique stance, step length and speed, and count them in the verdict")
    args = ap.parse_args(argv)
    a, b = pd.read_csv(args.before), pd.read_csv(args.after)
    names = (args.names[0], args.names[1])
    reliable = compare(a, b, RELIABLE)
    print_comparisons("graded reliable from the view (ship only if none is WORSE)", reliable, names)
    print_comparisons("knee numbers the fine-tune is for", compare(a, b, KNEE), names)
    if args.issue20:
        extra = compare(a, b, ISSUE20)
        print_comparisons("issue 20's other side grades; oblique stance, step, speed", extra, names)
        reliable = reliable + extra
    worse = [f"{c.view} {c.label}" for c in reliable if c.verdict == "WORSE"]
    print(f"\nworse beyond noise: {', '.join(worse) if worse else 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
