"""The project's measure of accuracy: video of real walking, held out from training (issue 19).

Every walking trial in ``../shared/data/mocap`` that is not in the lifter's training list
(:data:`gaitscope.training.mocap_trials.EVAL_MOCAP`) is rendered as video of a person
(:mod:`gaitscope.training.real_motion_video`: the subject's own motion and proportions, far leg hidden as on
film, clothing/floor/light from a seed, fixed and panning cameras, 30 and 60 fps, mp4v compression), analyzed
as an upload (BlazePose -> bundled lifter -> analysis, :mod:`gaitscope.training.video_eval`) and compared with
the markers' own analysis and the force-plate events (``gaitscope validate``'s comparison). Videos and
detections are cached in ``runs/video_eval/`` (git-ignored), so a second run only re-lifts and re-analyses.

Per view class (side 60-120 deg, oblique 30-45 deg, frontal, back) one table with a row per leg: near / far
(side and oblique), left / right, and "both" for the parameters of both feet. Each cell is the mean signed error
(test - reference) over the cases, with the mean absolute error in brackets; event columns give the mean absolute
timing error against the force plates (the markers' Zeni events where a trial has none) and counts: missed
reference events away from the clip's ends / reference events, and spurious test events (away from the ends,
with no marker-based event of that foot within the match window: plates see only the feet that land on them).

Then the real clip ``../shared/data/video/sarwesh_side`` (a steady walker filmed from the side, no markers):
the heel strikes found, whether they alternate feet, the ratio of the longest to the shortest step time and
the shortest step length -- facts anyone can check by stepping through the video.

    nice -n 10 .venv/bin/python benchmarks/video_accuracy.py [--views side oblique frontal back] [--fps 30 60]
        [--cameras fixed panning] [--render-only] [--csv runs/video_eval/rows.csv] [--no-real-clip]
        [--param-csv runs/h21ci/params.csv]

``--param-csv`` writes every parameter and curve point of every case beside its reference: the input of
``benchmarks/error_model.py``, which fits and checks the error model of the 95 % intervals (issue 21).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaitscope.training.mocap_trials import subject_in_training  # noqa: E402
from gaitscope.training.real_motion_video import (
    CACHE_DIR,
    DEFAULT_MOCAP_DIR,
    EVAL_MOCAP,
    RENDERER_VERSION,
    default_cases,
    render_case,
)

REAL_CLIP = ROOT / ".." / "shared" / "data" / "video" / "sarwesh_side" / "sarwesh_side.mp4"

#: (column, header, width, digits, signed) of the per-leg rows
LEG_COLS = [
    ("knee_flexion_rmse_deg", "knee RMSE", 9, 1, False), ("hip_flexion_rmse_deg", "hip RMSE", 8, 1, False),
    ("knee_flexion_rom_err_deg", "knee ROM err", 13, 1, True), ("hip_flexion_rom_err_deg", "hip ROM err", 13, 1, True),
    ("stance_pct_err", "stance err", 12, 1, True), ("swing_pct_err", "swing err", 12, 1, True),
    ("step_length_err_m", "step err m", 14, 3, True), ("stride_length_err_m", "stride err m", 14, 3, True),
]
BOTH_COLS = [
    ("double_support_pct_err", "DS err %pt", 12, 1, True), ("step_length_err_m", "step err m", 14, 3, True),
    ("step_length_err_pct", "step err %", 12, 1, True), ("stride_length_err_m", "stride err m", 14, 3, True),
    ("speed_err_pct", "speed err %", 12, 1, True), ("cadence_err_pct", "cadence %", 12, 1, True),
]
EVENT_COLS = [("heel_strike", "HS"), ("toe_off", "TO")]


def _cell(vals: list[float], width: int, digits: int, signed: bool) -> str:
    v = np.array([x for x in vals if isinstance(x, (int, float)) and math.isfinite(x)], float)
    if not v.size:
        return f"{'-':>{width}s}"
    if signed:
        return f"{f'{v.mean():+.{digits}f} ({np.abs(v).mean():.{digits}f})':>{width}s}"
    return f"{f'{v.mean():.{digits}f}':>{width}s}"


def _events_cell(rows: list[dict], kind: str) -> str:
    mae = [r[f"{kind}_mae_ms"] for r in rows if math.isfinite(r.get(f"{kind}_mae_ms", float("nan")))]
    frames = [r[f"{kind}_mae_frames"] for r in rows if math.isfinite(r.get(f"{kind}_mae_frames", float("nan")))]
    miss = int(sum(r.get(f"{kind}_missed", 0) for r in rows))
    ref = int(sum(r.get(f"{kind}_ref", 0) for r in rows))
    spur = int(sum(r.get(f"{kind}_spurious", 0) for r in rows))
    ms = f"{np.mean(mae):.0f}ms/{np.mean(frames):.1f}fr" if mae else "-"
    return f"{ms:>13s} {f'{miss}/{ref}':>6s} {spur:>4d}"


def print_tables(rows: list[dict]) -> None:
    ev_head = " ".join(f"{f'{k} MAE':>13s} {'miss':>6s} {'spur':>4s}" for _, k in EVENT_COLS)
    for view in ("side", "oblique", "frontal", "back"):
        vr = [r for r in rows if r["view"] == view]
        if not vr:
            continue
        cases = sorted({r["case"] for r in vr})
        print(f"\n== {view} views: {len(cases)} cases (mean signed error (mean |error|); events: MAE, missed/ref "
              f"away from the ends, spurious) ==")
        print(f"{'leg':6s} " + " ".join(f"{h:>{w}s}" for _, h, w, _, _ in LEG_COLS) + " " + ev_head)
        groups = ([("near", lambda r: r["leg"] == "near"), ("far", lambda r: r["leg"] == "far")]
                  if view in ("side", "oblique") else [])
        groups += [("left", lambda r: r["side"] == "L"), ("right", lambda r: r["side"] == "R"),
                   ("L+R", lambda r: r["side"] in ("L", "R"))]
        for label, pick in groups:
            g = [r for r in vr if pick(r)]
            print(f"{label:6s} " + " ".join(_cell([r.get(c, float('nan')) for r in g], w, d, s)
                                           for c, _, w, d, s in LEG_COLS) + " "
                  + " ".join(_events_cell(g, k) for k, _ in EVENT_COLS))
        g = [r for r in vr if r["side"] == "both"]
        print(f"{'both':6s} " + " ".join(f"{h:>{w}s}" for _, h, w, _, _ in BOTH_COLS))
        print(f"{'':6s} " + " ".join(_cell([r.get(c, float('nan')) for r in g], w, d, s)
                                     for c, _, w, d, s in BOTH_COLS))
        full = sum(bool(r["full_analysis"]) for r in g)
        print(f"   full analysis (>= 1 complete stride) in {full} of {len(g)} cases; the rest are partial "
              "(events, angles, steps only)")


def print_cases(rows: list[dict]) -> None:
    print(f"\n{'case':58s} {'view':>5s} {'full':>4s} {'kneeRMSE n/f':>12s} {'kneeROM n/f':>12s} "
          f"{'HS MAE ms':>9s} {'HS miss':>7s} {'spur':>4s} {'step %':>7s} {'cad %':>6s}")
    by_case: dict[str, list[dict]] = {}
    for r in rows:
        by_case.setdefault(r["case"], []).append(r)
    for name, rs in by_case.items():
        legs = {r["leg"] if r["leg"] != "-" else {"L": "near", "R": "far"}[r["side"]]: r
                for r in rs if r["side"] != "both"}
        b = next(r for r in rs if r["side"] == "both")

        def f(v: float, d: int = 1) -> str:
            return "-" if not math.isfinite(v) else f"{v:.{d}f}"

        near, far = legs["near"], legs["far"]
        rmse = f(near["knee_flexion_rmse_deg"]) + "/" + f(far["knee_flexion_rmse_deg"])
        rom = f(near["knee_flexion_rom_err_deg"], 0) + "/" + f(far["knee_flexion_rom_err_deg"], 0)
        print(f"{name[:58]:58s} {b['view_deg']:5.0f} {'y' if b['full_analysis'] else 'n':>4s} {rmse:>12s} {rom:>12s} "
              f"{f(b['heel_strike_mae_ms'], 0):>9s} {int(b['heel_strike_missed'])}/{int(b['heel_strike_ref']):<5d} "
              f"{int(b['heel_strike_spurious']):>4d} {f(b['step_length_err_pct']):>7s} {f(b['cadence_err_pct']):>6s}")
    print("(frontal/back: n/f = left/right)")


def real_clip_facts(path: Path, lifter) -> dict | None:
    """Heel strikes on the real side-view clip and the facts a person can check by eye."""
    from gaitscope.pipeline.steps import analyze_motion, lift_and_embed
    from gaitscope.pose2d.detect import cached_detection

    if not path.exists():
        print(f"\nreal clip: not found at {path}")
        return None
    from gaitscope.errors import AnalysisError
    from gaitscope.training.validate import analyze_or_partial

    kp = cached_detection(path, "sarwesh_side", CACHE_DIR)
    motion, _ = lift_and_embed(lifter, kp, height_m=None)
    try:
        report = analyze_motion(motion, height_m=None)
        dropped = [w for w in report.warnings if " left out: " in w]
    except AnalysisError as exc:  # every stride was judged impossible: events and steps from the partial analysis
        report = analyze_or_partial(motion, height_m=None)
        dropped = [f"no complete stride left: {exc.message}"]
    hs = sorted((e for e in report.events if e.kind == "heel_strike"), key=lambda e: e.time_s)
    steps = [(a, b) for a, b in zip(hs, hs[1:])]
    alternating = all(a.side != b.side for a, b in steps)
    times = [b.frame - a.frame for a, b in steps]
    lengths = [s.step_length_m for s in report.strides if math.isfinite(s.step_length_m)]
    if not lengths:
        lengths = [p.value for p in report.parameters if p.name == "step_length" and math.isfinite(p.value)]
    facts = {"heel_strikes": [f"{e.side}@{e.frame}" for e in hs], "alternating": alternating,
             "step_frames": times,
             "step_time_ratio": (max(times) / min(times)) if times and min(times) > 0 else float("nan"),
             "min_step_length_m": min(lengths) if lengths else float("nan"),
             "step_lengths_m": [round(x, 3) for x in lengths], "fps": kp.fps,
             "cadence": next((p.value for p in report.parameters if p.name == "cadence" and p.side == "both"),
                             float("nan"))}
    print(f"\n== real clip {path.name} ({kp.n_frames} frames at {kp.fps:.1f} fps, side view, no height given) ==")
    print(f"heel strikes (side@frame): {' '.join(facts['heel_strikes'])}")
    print(f"alternating feet: {'yes' if alternating else 'NO'}; step times (frames): {times}; "
          f"longest/shortest = {facts['step_time_ratio']:.2f} (steady walker: <= 1.15)")
    print(f"step lengths (m, assumed height): {facts['step_lengths_m']}; shortest {facts['min_step_length_m']:.3f} "
          f"(>= 0.3 expected); cadence {facts['cadence']:.1f} steps/min (about 110 by counting frames)")
    for note in dropped:
        print(f"  {note}")
    return facts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_MOCAP_DIR)
    ap.add_argument("--views", nargs="+", default=["side"], choices=["side", "oblique", "frontal", "back"])
    ap.add_argument("--fps", nargs="+", type=float, default=[30.0, 60.0])
    ap.add_argument("--cameras", nargs="+", default=["fixed", "panning"], choices=["fixed", "panning"])
    ap.add_argument("--trials", nargs="+", default=None, help="subset of EVAL_MOCAP (default: all)")
    ap.add_argument("--render-only", action="store_true", help="render (and cache) the videos, analyze nothing")
    ap.add_argument("--no-real-clip", action="store_true")
    ap.add_argument("--csv", type=Path, default=None, help="write every row here")
    ap.add_argument("--param-csv", type=Path, default=None,
                    help="write every parameter (value, stride SD, n, reference) here, and the curves beside it "
                         "(<name>_curves.csv): the input of benchmarks/error_model.py (issue 21 intervals)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", type=Path, default=None, help="lifter checkpoint (default: the bundled one)")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no motion capture at {args.data}")
        return 1
    cases = [c for c in default_cases(tuple(args.views), tuple(args.fps), tuple(args.trials or EVAL_MOCAP))
             if c.camera in args.cameras]
    print(f"video accuracy on real motion: {len(cases)} cases, renderer {RENDERER_VERSION}, cache {CACHE_DIR}")
    if args.render_only:
        for c in cases:
            t = time.perf_counter()
            video, meta = render_case(c, args.data)
            print(f"{c.name:60s} {meta['n_frames']:4d} frames {time.perf_counter() - t:5.1f} s  {video.name}")
        return 0
    import torch

    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.training.video_eval import case_rows, curve_rows, evaluate_case, parameter_rows

    torch.set_num_threads(args.threads)
    lifter = load_lifter(args.checkpoint)
    print(f"lifter: {lifter.version}")
    rows: list[dict] = []
    prows: list[dict] = []
    crows: list[dict] = []
    t0 = time.perf_counter()
    for c in cases:
        try:
            cr = evaluate_case(c, lifter, mocap_dir=args.data)
            rows += case_rows(cr)
            prows += parameter_rows(cr)
            crows += curve_rows(cr)
        except Exception as exc:  # a case that fails is reported, never silently dropped
            print(f"FAILED {c.name}: {type(exc).__name__}: {exc}")
    print(f"evaluated {len({r['case'] for r in rows})} of {len(cases)} cases in {time.perf_counter() - t0:.0f} s; "
          f"trials: {', '.join(sorted({Path(r['trial']).name for r in rows}))}")
    print_cases(rows)
    print_tables(rows)
    unseen = [r for r in rows if not subject_in_training(r["trial"])]
    if unseen and len(unseen) < len(rows):
        print("\n#### subjects the lifter never saw (no trial of theirs in TRAIN_MOCAP): "
              f"{', '.join(sorted({Path(r['trial']).parts[0] for r in unseen}))}")
        print_tables(unseen)
    if args.csv:
        import pandas as pd

        args.csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False, float_format="%.6g")
        print(f"wrote {args.csv}")
    if args.param_csv:
        import pandas as pd

        args.param_csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(prows).to_csv(args.param_csv, index=False, float_format="%.6g")
        curves = args.param_csv.with_name(args.param_csv.stem + "_curves.csv")
        pd.DataFrame(crows).to_csv(curves, index=False, float_format="%.6g")
        print(f"wrote {args.param_csv} and {curves}")
    if not args.no_real_clip:
        real_clip_facts(REAL_CLIP, lifter)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
