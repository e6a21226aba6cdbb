"""Fit the error model of the 95 % intervals and check their calibration (issue 21 point 1).

Input: the per-parameter rows of the video evaluation of real motion, written by

    nice -n 10 .venv/bin/python benchmarks/video_accuracy.py --views side oblique --no-real-clip \\
        --param-csv runs/h21ci/params.csv          # also writes runs/h21ci/params_curves.csv

Calibration: leave one trial out -- the error model is fitted on the other trials and the held-out trial's
intervals are checked against its reference (markers / force plates); coverage per view, parameter and overall
is printed (target 90-98 %). Then, with ``--write``, the model fitted on all trials is written to
``gaitscope/data/error_model.csv`` with its provenance (this command, the date, the cases).

    .venv/bin/python benchmarks/error_model.py runs/h21ci/params.csv [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaitscope.analysis.intervals import (
    ERROR_MODEL_PATH,
    coverage_table,
    fit_error_model,
    leave_one_trial_out,
    write_error_model,
)
from gaitscope.records import ErrorModel

#: the parameters a clinician reads (the table of docs/validation.md); derived ones are in the overall figure
MAIN = ["cadence", "speed", "stride_time", "step_time", "stride_length", "step_length", "stance_pct", "swing_pct",
        "double_support_pct", "step_width", "knee_rom", "hip_rom", "gps"]


def calibration(params: pd.DataFrame, curves: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Leave-one-trial-out intervals of every parameter row (and curve point)."""
    checked = leave_one_trial_out(params, "parameter")
    checked_c = leave_one_trial_out(curves, "curve") if curves is not None and not curves.empty else None
    return checked, checked_c


def print_report(checked: pd.DataFrame, checked_c: pd.DataFrame | None) -> None:
    n_trials = checked["trial"].nunique()
    print(f"calibration, leave one trial out ({n_trials} trials, {checked['case'].nunique()} cases): "
          "coverage of the reference by the 95 % intervals (target 90-98 %)")
    for view, v in checked.groupby("view", sort=False):
        ok = v[v["has_ci"]]
        print(f"\n== {view}: {v['case'].nunique()} cases; {len(ok)} of {len(v)} values have an interval; overall "
              f"{100 * ok['covered'].mean():.1f} % (main parameters "
              f"{100 * ok[ok['name'].isin(MAIN)]['covered'].mean():.1f} %) ==")
        t = coverage_table(v, ["name", "leg"])
        t = t[t["name"].isin(MAIN)]
        print(f"{'parameter':22s} {'leg':5s} {'n':>4s} {'coverage %':>10s}")
        for r in t.itertuples(index=False):
            print(f"{r.name:22s} {r.leg:5s} {r.n:4d} {r.coverage_pct:10.1f}")
        per = coverage_table(v, ["name"])
        per = per[per["name"].isin(MAIN)]
        print("per parameter (legs pooled): " + ", ".join(f"{r.name} {r.coverage_pct:.0f} % (n={r.n})"
                                                         for r in per.itertuples(index=False)))
    ok = checked[checked["has_ci"]]
    print(f"\noverall (all views, all parameters): {100 * ok['covered'].mean():.1f} % of {len(ok)} intervals")
    full = ok[ok["full_analysis"].astype(bool)]
    print(f"cases with a complete stride (what the product reports; the others are partial analyses of 1.3-s lab "
          f"trials): {100 * full['covered'].mean():.1f} % of {len(full)} intervals, "
          f"{full['case'].nunique()} cases")
    if checked_c is not None:
        for view, v in checked_c.groupby("view", sort=False):
            ok = v[v["has_ci"]]
            per = coverage_table(v, ["name"])
            print(f"curves {view}: {100 * ok['covered'].mean():.1f} % of {len(ok)} points (" + ", ".join(
                f"{r.name} {r.coverage_pct:.0f} %" for r in per.itertuples(index=False)) + ")")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("params", type=Path, help="benchmarks/video_accuracy.py --param-csv output")
    ap.add_argument("--write", action="store_true", help=f"write the model fitted on all trials to {ERROR_MODEL_PATH}")
    ap.add_argument("--out", type=Path, default=ERROR_MODEL_PATH)
    args = ap.parse_args(argv)
    params = pd.read_csv(args.params)
    curves_path = args.params.with_name(args.params.stem + "_curves.csv")
    curves = pd.read_csv(curves_path) if curves_path.exists() else None
    checked, checked_c = calibration(params, curves)
    print_report(checked, checked_c)
    if args.write:
        views = ", ".join(f"{v} {params[params['view'] == v]['case'].nunique()}" for v in params["view"].unique())
        rendered = " ".join(dict.fromkeys(params.get("rendered_view", params["view"])))
        prov = (f"error model of the 95 % intervals (gaitscope.analysis.intervals): test - reference of the video "
                "evaluation of real motion, per estimated view class, quantity and leg; fitted "
                f"{dt.date.today().isoformat()}",
                f"command: benchmarks/video_accuracy.py --views {rendered} --no-real-clip --param-csv {args.params}; "
                f"benchmarks/error_model.py {args.params} --write",
                f"cases: {params['case'].nunique()} ({views}); trials: "
                + ", ".join(sorted(Path(t).name for t in params["trial"].unique())))
        p = fit_error_model(params, "parameter")
        c = fit_error_model(curves, "curve") if curves is not None else ErrorModel(entries=())
        write_error_model(ErrorModel(entries=p.entries + c.entries, provenance=prov), args.out)
        print(f"wrote {args.out}: {len(p.entries)} parameter and {len(c.entries)} curve entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
