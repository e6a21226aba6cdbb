"""Accuracy of the bundled 3D lifter on held-out walking: MPJPE / N-MPJPE / PA-MPJPE (mm) and angle RMSE (deg).

    .venv/bin/python benchmarks/lifter_accuracy.py                       # the bundled lifter_small.pt
    .venv/bin/python benchmarks/lifter_accuracy.py --checkpoint PATH     # another gaitscope / MotionBERT file
    .venv/bin/python benchmarks/lifter_accuracy.py --no-video            # projected 2D only (no BlazePose)
    .venv/bin/python benchmarks/lifter_accuracy.py --untrained           # the floor: a random-weight small model
    .venv/bin/python benchmarks/lifter_accuracy.py --no-view-occlusion   # projected sets with per-frame dropouts
    .venv/bin/python benchmarks/lifter_accuracy.py --no-views            # skip the all-round rendered views
    .venv/bin/python benchmarks/lifter_accuracy.py --cpu-bf16            # the opt-in bf16 CPU path's error

Sets (see ``gaitscope.training.lifter_eval``): held-out synthetic walks projected with random cameras and the
measured BlazePose noise; held-out real mocap trials (Horst 2019 S01 trials 18-21, OpenCap walking3) projected the
same way (skipped when ../shared/data is absent); held-out synthetic walks rendered to video and run through
BlazePose; the same kind of walks from views all round (side, 35 and 60 deg oblique, frontal, back), per view and
pooled (``video-*``, BlazePose detections cached in tmp/cache/lifter_eval); the bundled sample video end to end.
Targets: PA-MPJPE < 45 mm on rendered synthetic video,
< 60 mm on projected real mocap. Prints an overall table, a per-joint table and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaitscope.training.lifter_data import DEFAULT_MOCAP_DIR  # noqa: E402
from gaitscope.training.lifter_eval import evaluate_all, format_table  # noqa: E402
from gaitscope.training.lifter_training import WEIGHTS_PATH

TARGETS = {"synthetic-video": 45.0, "mocap-projected": 60.0, "video-side": 45.0, "video-oblique-35": 45.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(WEIGHTS_PATH))
    ap.add_argument("--untrained", action="store_true", help="random-weight small model (the floor)")
    ap.add_argument("--mocap-dir", default=str(DEFAULT_MOCAP_DIR))
    ap.add_argument("--walks", type=int, default=12)
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--no-views", action="store_true", help="skip the all-round rendered views")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--cpu-bf16", action="store_true",
                    help="run the lifter under CPU bf16 autocast (the opt-in fast path) to measure its error")
    ap.add_argument("--no-view-occlusion", action="store_true",
                    help="projected sets with per-frame dropouts only (how the first bundled model was measured)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpt = args.checkpoint
    if args.untrained:
        from gaitscope.models.inference import Lifter

        ckpt = Lifter.untrained("small", device="cpu")
    if args.cpu_bf16:
        from gaitscope.models.inference import Lifter

        ckpt = ckpt if isinstance(ckpt, Lifter) else Lifter.from_checkpoint(ckpt, device="cpu")
        ckpt.cpu_bf16 = True
    t0 = time.perf_counter()
    results = evaluate_all(ckpt, mocap_dir=args.mocap_dir, n_synthetic=args.walks, video=not args.no_video,
                           log=lambda s: print(s, file=sys.stderr), view_occlusion=not args.no_view_occlusion,
                           views=not args.no_views)
    print(f"model: {results[0]['model']}")
    print(format_table(results))
    print()
    for r in results:
        if r["set"] in TARGETS:
            ok = "met" if r["pa_mpjpe"] < TARGETS[r["set"]] else "NOT met"
            print(f"target {r['set']}: PA-MPJPE {r['pa_mpjpe']:.1f} mm < {TARGETS[r['set']]:.0f} mm: {ok}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
