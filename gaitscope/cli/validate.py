"""``gaitscope validate``: agreement of the video pipeline with motion capture (angles, events, parameters), with a
video of the same walk or through random cameras with measured BlazePose noise
(:mod:`gaitscope.training.validate`)."""

from __future__ import annotations

import argparse

from gaitscope.errors import InvalidInputError
from gaitscope.training.validate import (
    summary_table,
    validate_mocap_projected,
    validate_video_against_mocap,
    write_validation_outputs,
)


def _cmd_validate(args: argparse.Namespace) -> int:
    videos = args.video or []
    if videos and len(videos) != len(args.mocap):
        raise InvalidInputError(f"{len(videos)} video(s) for {len(args.mocap)} motion-capture file(s).",
                                "Give one --video per --mocap file, in the same order (video i pairs with mocap i).")
    from gaitscope.pipeline.lifter_choice import load_lifter

    lifter = load_lifter(args.checkpoint)  # once for all trials
    validations = []
    for i, mocap in enumerate(args.mocap):
        if videos:
            validations.append(validate_video_against_mocap(videos[i], mocap, height_cm=args.height_cm,
                                                            lifter=lifter, max_lag_s=args.max_lag_s))
        else:
            validations.append(validate_mocap_projected(mocap, views=args.views, seed=args.seed + i, lifter=lifter,
                                                        height_cm=args.height_cm))
    paths = write_validation_outputs(validations, args.out)
    rows = summary_table(validations)
    print(f"{'trial':40s} {'hip RMSE':>9s} {'knee RMSE':>10s} {'HS MAE ms':>10s} {'HS miss':>8s} "
          f"{'cadence err':>12s} {'step err m':>11s} {'stance err':>11s}")
    for r in rows:
        print(f"{r['trial'][:40]:40s} {r['hip_flexion_rmse_deg']:9.1f} {r['knee_flexion_rmse_deg']:10.1f} "
              f"{r['hs_mae_ms']:10.0f} {r['hs_missed']:8.0f} {r['cadence_err']:12.1f} "
              f"{r['step_length_err_m']:11.3f} {r['stance_pct_err']:11.1f}")
    for v in validations:
        for n in v.notes:
            print(f"note: {n}")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "validate",
        help="agreement of the video pipeline with motion capture (angles, events, parameters)",
        description=("With --video: video i vs motion capture i, synchronised by cross-correlation. Without: each "
                     "motion capture is projected to 2D through random cameras with measured BlazePose noise, "
                     "lifted and analyzed, and compared with its own analysis and force-plate events."),
    )
    p.add_argument("--mocap", nargs="+", required=True, help="C3D / TRC files (force plates picked up beside them)")
    p.add_argument("--video", nargs="+", default=None, help="videos of the same walks, in the same order")
    p.add_argument("--out", default="validation", help="output folder for the CSVs and validation.pdf")
    p.add_argument("--views", type=int, default=3, help="random cameras per trial in the video-free mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height-cm", type=float, default=None)
    p.add_argument("--checkpoint", default=None, help="lifter checkpoint (default: the bundled one)")
    p.add_argument("--max-lag-s", type=float, default=5.0,
                   help="largest clock offset between a video and its motion capture to search (seconds)")
    p.set_defaults(func=_cmd_validate)
