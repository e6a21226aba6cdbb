"""How well the recording's view is estimated (issue 21 point 2): view angle and class from the lifted motion,
against the camera each case of the video evaluation of real motion was rendered with.

Reads the cached renders' metadata and BlazePose detections in ``runs/video_eval/`` (made by
``benchmarks/video_accuracy.py``; nothing is rendered or detected here), lifts each case with the bundled lifter
(flip TTA, the subject's height, as an upload) and runs :func:`gaitscope.analysis.reliability.estimate_view` and
:func:`~gaitscope.analysis.reliability.leg_visibility`. Truth: ``view_deg`` of the case (the angle between the
walking direction and the camera's optical axis at the middle of the walk; 90 = side, 180 = toward the camera).
Prints per rendered view class: cases, median and 90th-percentile absolute angle error, the estimated classes, the
near leg found, and the median visibility of the near and far leg.

    nice -n 10 .venv/bin/python benchmarks/view_estimate.py [--cache runs/video_eval]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from gaitscope.analysis.reliability import estimate_view, leg_visibility, view_class
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.pose2d.detect import cached_detection, engine_tag, resolve_engine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "video_eval")
    args = ap.parse_args(argv)
    tag = engine_tag(resolve_engine())
    lifter = load_lifter()
    rows = []
    for meta_path in sorted(args.cache.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        if "case" not in meta or not (args.cache / f"{meta['key']}-{tag}.npz").exists():
            continue
        kp = cached_detection(args.cache / f"{meta['key']}.mp4", meta["key"], args.cache)
        motion = lifter.lift(kp, height_m=round(float(meta["height_m"]), 2), flip_tta=True)
        angle, near = estimate_view(motion)
        vis = leg_visibility(kp)
        true_near = "R" if meta["case"].get("from_right") else "L"
        rows.append(dict(view=meta["case"]["view"], truth=float(meta["view_deg"]), angle=angle, cls=view_class(angle),
                         near=near, true_near=true_near, vis_near=vis.get(true_near),
                         vis_far=vis.get("L" if true_near == "R" else "R")))
    if not rows:
        print(f"No cached cases with {tag} detections in {args.cache}: run benchmarks/video_accuracy.py first.")
        return 1
    print(f"{'rendered view':<14}{'cases':>6}{'|err| median':>14}{'|err| p90':>11}  estimated classes"
          f"{'':<22}{'near leg right':>15}{'vis near':>10}{'vis far':>9}")
    for view in ("side", "oblique", "frontal", "back"):
        sub = [r for r in rows if r["view"] == view]
        if not sub:
            continue
        err = np.array([abs(r["angle"] - r["truth"]) for r in sub if r["angle"] is not None])
        classes = ", ".join(f"{k} {v}" for k, v in Counter(r["cls"] for r in sub).most_common())
        near_ok = sum(r["near"] == r["true_near"] for r in sub)
        print(f"{view:<14}{len(sub):>6}{np.median(err):>13.1f} {np.percentile(err, 90):>10.1f}  {classes:<39}"
              f"{near_ok:>9}/{len(sub):<5}{np.median([r['vis_near'] for r in sub]):>10.2f}"
              f"{np.median([r['vis_far'] for r in sub]):>9.2f}")
    right = sum(r["cls"] == r["view"] for r in rows)
    print(f"\nView class right in {right}/{len(rows)} cases.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
