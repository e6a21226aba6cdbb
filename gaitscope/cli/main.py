"""The ``gaitscope`` command line.

    gaitscope analyze FILE [--out DIR] [--height-cm H] [--age Y] [--sex M|F] [--patient CODE] [--db URL]
                           [--checkpoint PATH] [--normative SET] [--person N|X,Y] [--force]
                           # FILE: a video, motion capture (.c3d .trc .bvh) or MediaPipe Pose landmarks (.csv)
    gaitscope demo                       # the bundled sample video, end to end, into the embedded database
    gaitscope db upgrade [--db URL]      # apply schema migrations

Errors the user can act on (``GaitscopeError``) are printed as one clear message with exit status 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

# Set before torch is imported: under CPU contention (2 cores, BlazePose workers beside the lifter) passive OpenMP
# waiting made the DSTformer forward pass 2-4x faster (measured with benchmarks/dstformer.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

from gaitscope.errors import GaitscopeError
from gaitscope.pose2d.native_logs import native_stderr_silenced, quiet_library_env

# Before MediaPipe, LiteRT and OpenCV load: their own log levels (see gaitscope.pose2d.native_logs).
quiet_library_env()

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_VIDEO = SAMPLE_DIR / "walk_side.mp4"


class StageBars:
    """One tqdm progress bar per pipeline stage, opened when the stage first reports."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=max(total, 1), desc=f"{stage:>8}", unit="frame" if stage == "2d" else "step",
                                           leave=True, file=sys.stderr)
        if bar.total != max(total, 1):
            bar.total = max(total, 1)
        bar.n = min(done, bar.total)
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.n = bar.total
            bar.close()


def _default_db_url() -> str:
    from gaitscope.db import default_url

    return default_url()


def _print_summary(result, truth: dict | None = None) -> None:
    report = result.report
    print()
    if getattr(result, "kind", "video") == "mocap":
        print(f"Motion capture: {result.video.path}  ({result.video.fps:g} Hz, {result.video.duration_s:.1f} s)")
        print(f"Source: {getattr(result, 'source_note', '') or result.motion.source}")
        print(f"3D: {result.motion.source}; scale: {result.motion.scale_source}")
    else:
        print(f"Video: {result.video.path}  ({result.video.width}x{result.video.height}, {result.video.fps:.2f} fps, "
              f"{result.video.duration_s:.1f} s)")
        if result.keypoints is not None:
            print(f"2D: {result.keypoints.n_frames} frames with a person ({result.keypoints.source})")
            if result.source_note:
                print(f"Source: {result.source_note}")
        print(f"3D: {result.motion.source}; scale: {result.motion.scale_source}")
    for w in report.warnings:  # several people: read before any number
        if w.startswith("Several people"):
            print(f"ATTENTION: {w}")
    if getattr(result, "reused", False):
        print("Already analyzed for this patient with these inputs (versions, reference, height): the stored "
              "analysis is shown (use --force to rerun and replace it).")
    print(f"Events: {len(report.events)}   strides: {len(report.strides)}")
    header = f"{'parameter':<36}{'side':>5}{'value':>10}  {'unit':<10}{'normal range':>18}  flag"
    if truth:
        header += "      truth"
    print(header)
    for p in report.parameters:
        if p.name.endswith(("_symmetry_index", "_symmetry_ratio", "_cv")):  # in parameters.csv, not on screen
            continue
        rng = "" if p.normal_low != p.normal_low else f"{p.normal_low:.2f}-{p.normal_high:.2f}"
        flag = p.flag if p.reliability in ("", "reliable") else f"({p.reliability})"
        value = f"{p.value:>10.3f}" if p.value == p.value else f"{'not measured':>12}"
        line = f"{p.label[:35]:<36}{p.side:>5}{value}  {p.unit:<10}{rng:>18}  {flag}"
        if truth and p.side == "both" and p.name in truth:
            line += f"  {truth[p.name]:>9.3f}"
        print(line)
    for w in report.warnings:
        print(f"warning: {w}")
    if result.analysis_id is not None:
        print(f"Stored: recording {result.recording_id}, analysis {result.analysis_id}")
    for name, path in result.outputs.items():
        print(f"Wrote {name}: {path}")


def cmd_analyze(args: argparse.Namespace) -> int:
    from gaitscope.pipeline.dispatch import analyze_file
    from gaitscope.pipeline.steps import AnalysisOptions

    options = AnalysisOptions(height_cm=args.height_cm, checkpoint=args.checkpoint, workers=args.workers,
                              flip_tta=not args.no_flip, normative=args.normative, age_years=args.age,
                              sex=args.sex, person=args.person)
    bars = StageBars(enabled=not args.quiet)
    db_url = None if args.no_db else (args.db or _default_db_url())
    try:
        result = analyze_file(args.video, db_url=db_url, patient_code=args.patient, options=options,
                              out_dir=args.out, progress=bars, force=args.force)
    finally:
        bars.close()
    _print_summary(result)
    return 0


def sample_truth() -> dict:
    """Ground-truth summary of the bundled sample (written by gaitscope.synthetic.make_sample)."""
    meta = json.loads((SAMPLE_DIR / "walk_side.json").read_text())
    return meta


def cmd_demo(args: argparse.Namespace) -> int:
    from gaitscope.pipeline.steps import AnalysisOptions, analyze_video

    if not SAMPLE_VIDEO.exists():
        raise GaitscopeError(f"The bundled sample video is missing ({SAMPLE_VIDEO}).",
                             "Reinstall gaitscope or run: python -m gaitscope.synthetic.make_sample")
    meta = sample_truth()
    height_cm = float(meta["params"]["height_m"]) * 100.0
    bars = StageBars(enabled=not args.quiet)
    db_url = args.db or _default_db_url()
    try:
        result = analyze_video(SAMPLE_VIDEO, db_url=db_url, patient_code="DEMO-001",
                               options=AnalysisOptions(height_cm=height_cm, workers=args.workers),
                               out_dir=args.out, progress=bars, force=args.force)
    finally:
        bars.close()
    _print_summary(result, truth=meta.get("truth_summary"))
    print(f"\nDatabase: {db_url}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from gaitscope.db.migrate import current_revision, upgrade

    url = args.db or _default_db_url()
    if args.action == "upgrade":
        upgrade(url)
        print(f"Database at {url} is at revision {current_revision(url)}")
    elif args.action == "current":
        print(current_revision(url) or "(empty)")
    return 0


#: Modules that add their own subcommands through ``register_cli(subparsers)``.
COMMAND_MODULES: tuple[str, ...] = (
    "gaitscope.cli.lifter",
    "gaitscope.cli.classify",
    "gaitscope.cli.accounts",
    "gaitscope.cli.action",
    "gaitscope.cli.mesh",
    "gaitscope.cli.normative",
    "gaitscope.cli.worker",
    "gaitscope.cli.batch",
    "gaitscope.cli.validate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaitscope", description="Clinical gait analysis from video.")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyze one walking video, motion-capture file (.c3d .trc .bvh) or "
                                          "MediaPipe Pose landmark file (.csv)")
    a.add_argument("video", metavar="FILE", help="a video, a motion-capture file (.c3d .trc .mot .sto .bvh) or MediaPipe "
                                                  "Pose landmarks (.csv: 33 landmarks per row, normalised)")
    a.add_argument("--out", type=Path, default=None, help="folder for the CSV/PDF reports")
    a.add_argument("--height-cm", type=float, default=None, help="subject height: gives metric step lengths")
    a.add_argument("--age", type=float, default=None, metavar="YEARS",
                   help="subject age for the normal ranges (default: from the patient record, else adults 18-69)")
    a.add_argument("--sex", default=None, choices=["M", "F", "X", "m", "f", "x"],
                   help="subject sex for the normal ranges (default: from the patient record, else both sexes)")
    a.add_argument("--patient", default=None, help="pseudonymous patient code to file the recording under")
    a.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    a.add_argument("--no-db", action="store_true", help="do not store anything")
    a.add_argument("--checkpoint", default=None, help="official MotionBERT or gaitscope lifter checkpoint")
    a.add_argument("--workers", type=int, default=2, help="parallel 2D-detection processes")
    a.add_argument("--no-flip", action="store_true", help="disable flip test-time augmentation")
    a.add_argument("--normative", default=None, metavar="SET",
                   help="reference set: a .json from `gaitscope normative build`, a saved set's name, or "
                        "schwartz2008 (default: $GAITSCOPE_NORMATIVE, else `gaitscope normative use`, else bundled)")
    a.add_argument("--person", default=None, metavar="N|X,Y",
                   help="when several people walk: the one to analyze, as a number (1 = leftmost) or a pixel point "
                        "x,y on the first frame where the most people are seen (video only)")
    a.add_argument("--force", action="store_true",
                   help="rerun every stage even if this file was already analyzed for this patient with the same "
                        "inputs; the new analysis replaces the stored one")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_analyze)

    d = sub.add_parser("demo", help="analyze the bundled sample video end to end")
    d.add_argument("--out", type=Path, default=Path("out/demo"))
    d.add_argument("--db", default=None)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--force", action="store_true", help="rerun even if the sample was already analyzed")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade", "current"])
    db.add_argument("--db", default=None)
    db.set_defaults(func=cmd_db)

    # Subcommands owned by their own modules; each module keeps heavy imports inside its handlers.
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``gaitscope`` command. Run from the console (``argv`` None), native libraries' log lines are kept off
    the terminal (:func:`~gaitscope.pose2d.native_logs.native_stderr_silenced`); a caller passing ``argv``
    (a test, a script) keeps its own stderr as it is."""
    args = build_parser().parse_args(argv)
    with native_stderr_silenced() if argv is None else nullcontext():
        try:
            return int(args.func(args) or 0)
        except GaitscopeError as exc:
            print(f"gaitscope: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
