"""``gaitscope normative``: build a lab's reference set from healthy recordings, list sets, choose the default.

    gaitscope normative build DIR [--out FILE] [--name NAME] [--by-speed]
    gaitscope normative list
    gaitscope normative use SET            # this installation's default; `use schwartz2008` restores the bundled

``build`` analyses every motion-capture file (.c3d .trc .bvh; static trials skipped) and video in DIR and its
subfolders. Which walks belong to one person: the subfolder of DIR a file lies in (files directly in DIR are
one person each), unless DIR holds a ``subjects.csv`` with columns ``file`` (name relative to DIR) and
``subject`` and optionally ``age``, ``sex``, ``height_cm``. Videos go through the same 2D/3D stages as
``gaitscope analyze`` (nothing is stored in the database); files that cannot be analyzed are listed and left
out. The set is written as FILE (a .json manifest) with ``.curves.csv`` and ``.spatiotemporal.csv`` beside it
(:mod:`gaitscope.analysis.normative_build`).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from gaitscope.errors import GaitscopeError, InvalidInputError

MOCAP_INPUTS = (".c3d", ".trc", ".bvh")
VIDEO_INPUTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


@dataclass(frozen=True)
class Walk:
    path: Path
    subject: str
    age: float | None = None
    sex: str | None = None
    height_cm: float | None = None


def find_walks(directory: str | Path) -> list[Walk]:
    """The recordings under ``directory`` with their subject (see module docstring)."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder.", "Give the folder that holds the healthy recordings.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MOCAP_INPUTS + VIDEO_INPUTS
                   and "static" not in p.stem.lower())
    table = _subjects_table(root)
    walks = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        row = table.get(rel) or table.get(p.name)
        if row is not None:
            walks.append(Walk(p, row["subject"], row.get("age"), row.get("sex"), row.get("height_cm")))
        else:
            parts = p.relative_to(root).parts
            walks.append(Walk(p, parts[0] if len(parts) > 1 else p.stem))
    if not walks:
        raise InvalidInputError(f"No motion-capture file or video was found in {root}.",
                                f"Put healthy recordings ({', '.join(MOCAP_INPUTS + VIDEO_INPUTS)}) in the folder.")
    return walks


def _subjects_table(root: Path) -> dict[str, dict]:
    path = root / "subjects.csv"
    if not path.exists():
        return {}
    import pandas as pd

    df = pd.read_csv(path)
    if not {"file", "subject"} <= set(df.columns):
        raise InvalidInputError(f"{path} needs the columns file and subject.", "Add them, or remove the file.")
    out = {}
    for r in df.to_dict("records"):
        row = {"subject": str(r["subject"])}
        for key in ("age", "height_cm"):
            v = r.get(key)
            row[key] = float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else None
        sex = r.get("sex")
        row["sex"] = str(sex) if isinstance(sex, str) and sex.strip() else None
        out[str(r["file"])] = row
    return out


def analyze_walk(walk: Walk, *, checkpoint: str | None = None, workers: int = 1):
    """``(report, leg_length_m)`` of one healthy recording, against the bundled reference (bands are not used)."""
    from gaitscope.analysis.normative_build import leg_length_from_motion
    from gaitscope.analysis.report import analyze_gait

    height_m = walk.height_cm / 100.0 if walk.height_cm else None
    if walk.path.suffix.lower() in MOCAP_INPUTS:
        from gaitscope.io.mocap import load_motion

        motion = load_motion(walk.path).motion
        report = analyze_gait(motion, height_m=height_m)
    else:
        from gaitscope.analysis.normative_build import bundled_reference_set
        from gaitscope.pipeline.steps import AnalysisOptions, run_stages

        result = run_stages(walk.path, AnalysisOptions(height_cm=walk.height_cm, checkpoint=checkpoint,
                                                       workers=workers), reference=bundled_reference_set())
        motion, report = result.motion, result.report
    leg = 0.530 * height_m if height_m else leg_length_from_motion(motion)
    return report, leg


def build_from_folder(directory: str | Path, *, name: str, by_speed: bool = False, checkpoint: str | None = None,
                      workers: int = 1, log=print):
    """Analyze the recordings under ``directory`` and build a :class:`ReferenceSet`; returns ``(set, skipped)``."""
    from gaitscope.analysis.normative_build import build_reference

    walks = find_walks(directory)
    reports, used, legs, skipped = [], [], [], []
    for w in walks:
        try:
            report, leg = analyze_walk(w, checkpoint=checkpoint, workers=workers)
        except GaitscopeError as exc:
            skipped.append((w.path, str(exc)))
            log(f"  skipped {w.path.name}: {exc}")
            continue
        reports.append(report)
        used.append(w)
        legs.append(leg)
        log(f"  {w.path.name}: subject {w.subject}, {len(report.strides)} strides")
    try:
        ref = build_reference(
            reports, name=name, subject_ids=[w.subject for w in used], leg_lengths_m=legs,
            ages=[w.age for w in used], sexes=[w.sex for w in used], by_speed=by_speed,
            sources=[w.path.relative_to(Path(directory)).as_posix() for w in used],
        )
    except ValueError as exc:
        raise InvalidInputError(f"No reference set could be built from {directory}: {exc}",
                                "Add recordings of more healthy subjects (at least 2; 10-20 is usual).") from exc
    return ref, skipped


def cmd_build(args: argparse.Namespace) -> int:
    from gaitscope.analysis.normative_build import save_reference_set
    from gaitscope.pipeline.normative_choice import user_dir

    name = args.name or Path(args.directory).resolve().name
    out = Path(args.out) if args.out else user_dir() / f"{name}.json"
    print(f"Analyzing healthy recordings in {args.directory} ...")
    ref, skipped = build_from_folder(args.directory, name=name, by_speed=args.by_speed, checkpoint=args.checkpoint,
                                     workers=args.workers)
    path = save_reference_set(ref, out)
    classes = ", ".join(f"{c} (n={v['n_subjects']})" for c, v in ref.meta.get("speed_classes", {}).items())
    print(f"Reference set '{ref.name}': {ref.n_subjects} subjects, speed classes: {classes}")
    if skipped:
        print(f"{len(skipped)} file(s) left out (see above).")
    print(f"Wrote {path}")
    print(f"Use it with: gaitscope analyze FILE --normative {path}   (or: gaitscope normative use {path})")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gaitscope.pipeline.normative_choice import ENV_VAR, configured_default, list_sets

    rows = list_sets()
    print(f"{'':2}{'name':<28}{'subjects':<36}path")
    for r in rows:
        mark = "* " if r["default"] else "  "
        who = r["subjects"] + (" (children)" if r["children"] else "")
        print(f"{mark}{r['name']:<28}{who:<36}{r['path']}")
    from gaitscope.settings import settings

    note = f" (set by {ENV_VAR}={configured_default()!r})" if settings().normative else ""
    print(f"\n* = used when --normative is not given{note}")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from gaitscope.pipeline.normative_choice import ENV_VAR, set_default
    from gaitscope.settings import settings

    path = set_default(None if args.set.lower() in ("schwartz2008", "bundled", "default") else args.set)
    print(f"Default reference set recorded in {path}")
    if settings().normative:
        print(f"Note: {ENV_VAR} is set in this environment and takes precedence.", file=sys.stderr)
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("normative", help="reference (normal) data sets: build from healthy recordings, list, "
                                                "choose the default")
    sub = p.add_subparsers(dest="normative_action", required=True)
    b = sub.add_parser("build", help="build a reference set from a folder of healthy recordings")
    b.add_argument("directory", metavar="DIR")
    b.add_argument("--out", default=None, metavar="FILE",
                   help="the set's .json (default: $GAITSCOPE_HOME/normative/NAME.json)")
    b.add_argument("--name", default=None, help="name shown in reports (default: the folder's name)")
    b.add_argument("--by-speed", action="store_true",
                   help="split into the Schwartz 2008 speed classes (needs >= 2 subjects per class)")
    b.add_argument("--checkpoint", default=None, help="3D lifter for videos (default: the bundled one)")
    b.add_argument("--workers", type=int, default=1, help="parallel 2D-detection processes for videos")
    b.set_defaults(func=cmd_build)
    ls = sub.add_parser("list", help="list the bundled and saved reference sets")
    ls.set_defaults(func=cmd_list)
    u = sub.add_parser("use", help="make a set this installation's default (schwartz2008 = the bundled set)")
    u.add_argument("set", metavar="SET")
    u.set_defaults(func=cmd_use)
