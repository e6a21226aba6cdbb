"""Are the heel strikes' sides right on the held-out renders, and when does the report say they are uncertain?

For every case of the video evaluation (``benchmarks/video_accuracy.py``'s cases and cache, default side and
oblique views), each heel strike the product finds is matched to the nearest force-plate / marker heel strike
within the agreement's match window (0.15 s), and its side compared with the truth; the report's warning that the leg labels do not settle which
foot is left (:data:`gaitscope.analysis.events.MIN_SIDE_AGREEMENT`) is counted beside it. Prints one line per
case and a summary per view: a warning on a case whose sides are right is a false alarm; a case with its sides
mostly wrong and no warning is a miss.

    nice -n 10 .venv/bin/python benchmarks/heel_strike_sides.py [--views side oblique]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gaitscope.analysis.agreement import DEFAULT_MATCH_WINDOW_S
from gaitscope.pipeline.lifter_choice import load_lifter
from gaitscope.training.real_motion_video import default_cases
from gaitscope.training.video_eval import evaluate_case

ROOT = Path(__file__).resolve().parents[1]
DOUBT = "which foot is the left one is uncertain"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", nargs="+", default=["side", "oblique"])
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "video_eval")
    args = ap.parse_args(argv)
    lifter = load_lifter()
    rows = []
    for case in default_cases(tuple(args.views), (30.0, 60.0)):
        cr = evaluate_case(case, lifter, cache_dir=args.cache)
        noted = any(DOUBT in w for w in cr.test.warnings)
        truth = [e for e in cr.reference.events if e.kind == "heel_strike"]
        right = wrong = 0
        for e in (e for e in cr.test.events if e.kind == "heel_strike"):
            near = min(truth, key=lambda r: abs(r.time_s - e.time_s), default=None)
            if near is not None and abs(near.time_s - e.time_s) < DEFAULT_MATCH_WINDOW_S:
                right += near.side == e.side
                wrong += near.side != e.side
        rows.append((case.view, noted, right, wrong))
        print(f"{case.view:8s} {Path(case.trial).name:32s} seed {case.seed:3d}  sides right {right:2d} wrong {wrong:2d}"
              f"  {'WARNING' if noted else '-'}", flush=True)
    for view in args.views:
        r = [x for x in rows if x[0] == view]
        bad = [x for x in r if x[3] > x[2]]
        print(f"{view}: {len(r)} cases; sides mostly wrong in {len(bad)} (warned {sum(x[1] for x in bad)}); "
              f"warnings on cases with their sides right: {sum(x[1] for x in r if x[3] <= x[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
