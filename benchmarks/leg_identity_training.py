"""Leg identity measured and tuned on renders of TRAINING trials (issue 20 point 1), never on the evaluation's.

Renders a small set of :data:`~gaitscope.training.mocap_trials.TRAIN_MOCAP` trials with the video evaluation's
renderer and camera classes (:func:`gaitscope.training.real_failures.training_cases`: their own seeds), detects
them with the product's 2D stage keeping BlazePose's raw landmarks (x, y, z, visibility), and counts the frames
whose knee and ankle labels are exchanged against the true 2D (:func:`benchmarks.angle_error_parts.true_label_swaps`,
the same count the evaluation's ``--swaps-2d`` uses) as detected, after the tracker with given constants, and
how many it undid and made. It also reports what BlazePose's depth (z) says in the exchanged frames.

Videos and detections are cached in ``runs/lifter_real_failures/`` (git-ignored; the detections with ``raw``
as ``<key>-raw-<engine>.npz``).

    nice -n 10 .venv/bin/python benchmarks/leg_identity_training.py [--views side oblique] [--stance 0 3]
        [--still 0.3 0.5] [--prior 0.6 1.0] [--no-depth]     # constants compared side by side
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: The training trials rendered here, each in its view's four camera/rate variants (the CMU trials have no feet
#: to draw, so the two subjects with feet markers): 32 side and 20 oblique cases, to keep rendering cheap.
SIDE_TRIALS = tuple(f"horst2019_S01/c3d/S01_00{n:02d}_Gait.c3d" for n in (2, 4, 6, 9, 11, 13, 16)) + (
    "opencap_lab_subject/MarkerData/walking2.trc",)
OBLIQUE_TRIALS = tuple(f"horst2019_S01/c3d/S01_00{n:02d}_Gait.c3d" for n in (5, 10, 15)) + (
    "opencap_lab_subject/MarkerData/walking4.trc", "opencap_lab_subject/MarkerData/walking2.trc")


def cases(views=("side", "oblique")):
    from gaitscope.training.real_failures import training_cases

    out = []
    if "side" in views:
        out += training_cases(views=("side",), trials=SIDE_TRIALS)
    if "oblique" in views:
        out += training_cases(views=("oblique",), trials=OBLIQUE_TRIALS)
    return out


def detected(case, mocap_dir: Path, cache: Path):
    """``(Keypoints2D with raw, true exchanged frames)`` of ``case``: rendered and detected once, then cached."""
    from angle_error_parts import true_label_swaps

    from gaitscope.pose2d.detect import detect_keypoints, engine_tag, resolve_engine
    from gaitscope.records import Keypoints2D
    from gaitscope.training.real_failures import _load
    from gaitscope.training.real_motion_video import render_video

    engine = resolve_engine()
    path = cache / f"{case.key}-raw-{engine_tag(engine)}.npz"
    if path.exists():
        d = np.load(path)
        raw = d["raw"] if d["raw"].ndim == 3 else None
        kp = Keypoints2D(d["xy_px"], d["conf"], float(d["fps"]), int(d["width"]), int(d["height"]),
                         d["frame_index"], d["interpolated"], str(d["source"]), raw=raw,
                         raw_format=str(d["raw_format"]))
        return kp, d["truth"]
    video = cache / f"{case.key}.mp4"
    if not video.exists():
        cache.mkdir(parents=True, exist_ok=True)
        render_video(case, _load(case, mocap_dir), video)
    kp = detect_keypoints(video, workers=1, engine=engine)
    truth = true_label_swaps(case, kp, mocap_dir)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, xy_px=kp.xy_px, conf=kp.conf, fps=kp.fps, width=kp.width, height=kp.height,
                        frame_index=kp.frame_index, interpolated=kp.interpolated, source=kp.source,
                        raw=kp.raw if kp.raw is not None else np.zeros(0), raw_format=kp.raw_format or "",
                        truth=truth)
    tmp.replace(path)
    return kp, truth


def load_all(views, mocap_dir: Path, cache: Path, log=print):
    out = []
    for i, c in enumerate(cases(views)):
        t = time.perf_counter()
        try:
            kp, truth = detected(c, mocap_dir, cache)
        except (FileNotFoundError, ValueError) as exc:
            log(f"skip {c.name}: {exc}")
            continue
        out.append((c, kp, np.asarray(truth, bool)))
        log(f"{i + 1} {c.name}: {kp.n_frames} frames, {int(truth.sum())} exchanged ({time.perf_counter() - t:.0f} s)")
    return out


def table(data, states_of, label: str) -> None:
    """Frames exchanged against the true 2D as detected and after ``states_of(kp)``, per view."""
    print(f"\n== {label}: knee/ankle labels exchanged against the true 2D (frames) ==")
    print(f"{'view':8s} {'frames':>7s} {'detected':>9s} {'after':>6s} {'undone':>7s} {'made':>5s}")
    for view in ("side", "oblique"):
        tot = np.zeros(5, int)
        for c, kp, truth in (d for d in data if d[0].view == view):
            found = states_of(kp)
            tot += [len(truth), truth.sum(), (truth ^ found).sum(), (truth & found).sum(), (found & ~truth).sum()]
        if tot[0]:
            print(f"{view:8s} {tot[0]:7d} {tot[1]:9d} {tot[2]:6d} {tot[3]:7d} {tot[4]:5d}")


def depth_facts(data) -> None:
    """Does BlazePose's z say which leg is nearer the camera, also where the labels are exchanged? Per view:
    frames in which the leg labelled as the near one (the camera's side) has the smaller z (BlazePose: nearer),
    summed over knee, ankle, heel and toe; in clean frames and in frames exchanged against the true 2D (where
    the labelled near leg is the far one, so a z that saw the legs would say the opposite)."""
    print("\n== BlazePose depth: the leg labelled near has the smaller z (frames) ==")
    print(f"{'view':8s} {'clean':>18s} {'exchanged':>18s}")
    for view in ("side", "oblique"):
        n = np.zeros(4)
        for c, kp, truth in (d for d in data if d[0].view == view and d[1].raw is not None):
            z = kp.raw[..., 2]
            dz = z[:, [25, 27, 29, 31]].sum(1) - z[:, [26, 28, 30, 32]].sum(1)  # left - right
            near_smaller = (dz < 0) if c.near_side == "L" else (dz > 0)
            n += [near_smaller[~truth].sum(), (~truth).sum(), near_smaller[truth].sum(), truth.sum()]
        if n[1]:
            print(f"{view:8s} {f'{n[0]:.0f}/{n[1]:.0f} ({100 * n[0] / n[1]:.0f} %)':>18s} "
                  f"{f'{n[2]:.0f}/{n[3]:.0f} ({100 * n[2] / max(n[3], 1):.0f} %)':>18s}")


def main(argv=None) -> int:
    from gaitscope.models.leg_identity import leg_swap_states
    from gaitscope.training.real_failures import CACHE_DIR
    from gaitscope.training.real_motion_video import DEFAULT_MOCAP_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", nargs="+", default=["side", "oblique"], choices=["side", "oblique"])
    ap.add_argument("--data", type=Path, default=DEFAULT_MOCAP_DIR)
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--stance", nargs="+", type=float, default=[0.0, 3.0],
                    help="walking-pattern costs per second to compare (0: the tracker without the cue)")
    ap.add_argument("--still", nargs="+", type=float, default=None, help="STILL_FRAC values to compare too")
    ap.add_argument("--prior", nargs="+", type=float, default=None, help="PRIOR_PER_S values to compare too")
    ap.add_argument("--no-depth", action="store_true", help="skip the depth table")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"mocap data not found at {args.data}")
        return 1
    data = load_all(args.views, args.data, CACHE_DIR)
    if args.render_only:
        return 0
    if not args.no_depth:
        depth_facts(data)
    import gaitscope.models.leg_identity as li

    for prior in args.prior or [li.PRIOR_PER_S]:
        for still in args.still or [li.STILL_FRAC]:
            li.STILL_FRAC = still
            for w in args.stance:
                table(data, lambda kp: leg_swap_states(kp.xy_px, kp.conf, kp.fps, prior_per_s=prior, stance_per_s=w),
                      f"prior {prior:g} per s, walking pattern {w:g} per s, still below {still:g} of the walking speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
