"""``gaitscope batch``: analyze a folder or manifest of videos, locally or on a Ray cluster
(:func:`gaitscope.pipeline.batch.run_batch`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gaitscope.errors import InvalidInputError
from gaitscope.pipeline.batch import ItemResult, run_batch


def register_cli(subparsers) -> None:
    b = subparsers.add_parser("batch", help="analyze a folder or manifest of videos (locally or on Ray)")
    b.add_argument("source", metavar="DIR_OR_MANIFEST",
                   help="folder of videos, or CSV with columns path,patient,visit_date,height_cm and optionally person (N or X,Y, as analyze --person)")
    b.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    b.add_argument("--out", type=Path, default=None, help="folder for per-video CSV/PDF reports + batch_summary.csv")
    b.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster (e.g. ray://head:10001 or auto); 'local' starts a local instance")
    b.add_argument("--workers", type=int, default=None,
                   help="local: videos analyzed at once, one process each (1); Ray: detection tasks in flight "
                        "(default: the cluster's CPUs)")
    b.add_argument("--checkpoint", default=None, help="lifter checkpoint (default: the bundled lifter)")
    b.set_defaults(func=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    def show(r: ItemResult) -> None:
        extra = f": {r.message}" if r.message and r.status == "failed" else ""
        print(f"[{r.status:>7}] {r.item.path.name} ({r.seconds:.1f} s){extra}", flush=True)

    if args.workers is not None and args.workers < 1:
        raise InvalidInputError("--workers must be at least 1.")
    summary = run_batch(args.source, db_url=args.db, out=args.out, ray_address=args.ray, workers=args.workers,
                        checkpoint=args.checkpoint, report=show)
    print()
    print(summary.table())
    return 1 if summary.failed else 0
