"""Parkinson's disease on real patients (Deng et al. 2024 recordings): every task x feature set x head, LOSO.

    nice -n 10 .venv/bin/python benchmarks/pd_real.py                       # all tasks, all feature sets
    nice -n 10 .venv/bin/python benchmarks/pd_real.py --tasks updrs3_high --n-boot 1000
    .venv/bin/python benchmarks/pd_real.py --root ../shared/data/patients/video_tracking_pd/dataset
    nice -n 10 .venv/bin/python benchmarks/pd_real.py --encoder runs/enc/enc27m15.pt --tag enc27m15  # another encoder
    nice -n 10 .venv/bin/python benchmarks/pd_real.py --tasks updrs3_high --frozen-cache \
        --compare embedding:linear,gait_2d:rf --compare embedding_stats:rf,gait_2d:rf  # paired A - B only

The data (CC BY-NC-ND 4.0, evaluation only) is read in place from ``--root``; each walk is lifted ONCE by the
shipped lifter and its features cached in ``--cache`` (git-ignored ``runs/``; nothing derived from the data may
be committed). Protocol: :mod:`gaitscope.training.pd_eval` (leave one subject out, inner CV for every
hyper-parameter, subject bootstrap CIs, majority baseline). Writes per task ``table.csv``, ``predictions.csv``,
``per_subject.csv``, ``confusion.png``, ``calibration.png`` under ``--out`` and prints markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from gaitscope.training import pd_eval, pd_real

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="video_tracking_pd/dataset folder (default: ../shared/data/...)")
    ap.add_argument("--cache", type=Path, default=pd_real.DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "pd_real" / "results")
    ap.add_argument("--tasks", default=",".join(pd_eval.TASKS))
    ap.add_argument("--feature-sets", default=",".join(pd_eval.FEATURE_SETS),
                    help=f"comma-separated from {', '.join(pd_eval.FEATURE_SETS + pd_eval.CONFOUND_SETS)}")
    ap.add_argument("--heads", default=",".join(pd_eval.HEADS),
                    help=f"comma-separated from {', '.join(pd_eval.ALL_HEADS)}")
    ap.add_argument("--nested-sets", default="",
                    help="candidate sets of the nested_sets row (set, reduction and C by inner LOSO); "
                         f"'default' = {','.join(pd_eval.NESTED_CANDIDATES)}; empty: no such row")
    ap.add_argument("--no-auto", action="store_true", help="skip the inner-CV choice of feature set (slowest row)")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoder", type=Path, default=None,
                    help="embeddings from this checkpoint instead of the shipped lifter (everything else from the "
                         "shipped lifter's cache); cached in --encoder-cache")
    ap.add_argument("--encoder-cache", type=Path, default=None,
                    help="cache of the --encoder embeddings (default: runs/pd_real/features_<checkpoint name>)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for lifting")
    ap.add_argument("--tag", default="", help="suffix of the per-task output folder (separate runs)")
    ap.add_argument("--compare", action="append", default=[], metavar="FS:HEAD,FS:HEAD",
                    help="paired difference A - B of the task's key metric on the same subject resamples; only "
                         "the models named are evaluated (repeatable)")
    ap.add_argument("--delta", type=float, default=0.05, help="non-inferiority margin of the --compare verdict")
    ap.add_argument("--frozen-cache", action="store_true",
                    help="read --cache as it is (no lifting, no analysis-version check): re-measure on the "
                         "features a documented table was measured on")
    args = ap.parse_args(argv)
    try:
        pairs = pd_eval.parse_model_pairs(args.compare)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    t0 = time.time()
    walks, skipped = pd_real.discover_walks(args.root)
    scores = pd_real.load_scores(args.root)
    cache = pd_real.read_cache(args.root, args.cache) if args.frozen_cache else pd_real.build_cache(
        args.root, args.cache, progress=lambda k, n, w: print(f"\r features {k + 1}/{n} {w}   ", end="",
                                                               file=sys.stderr))
    if args.frozen_cache:
        versions = sorted({str(c.get("analysis_version", "?")).split(" (")[0] for c in cache.values()})
        print(f"frozen cache {args.cache}: {', '.join(versions)}", file=sys.stderr)
    if args.encoder is not None:
        import torch

        from gaitscope.pipeline.lifter_choice import load_lifter

        torch.set_num_threads(args.threads)
        enc_cache = args.encoder_cache or args.cache.parent / f"features_{args.encoder.stem}"
        cache = pd_real.build_encoder_cache(load_lifter(args.encoder), args.cache, enc_cache, args.root,
                                            progress=lambda k, n, w: print(f"\r encoder {k + 1}/{n} {w}   ", end="",
                                                                           file=sys.stderr))
    print(f"\n{len(walks)} walks of {len({w.pidn for w in walks})} people; left out: {len(skipped)} files "
          f"({time.time() - t0:.0f} s)", file=sys.stderr)
    for s in skipped:
        print(f"  {s}", file=sys.stderr)
    sets = tuple(s for s in args.feature_sets.split(",") if s)
    heads = tuple(h for h in args.heads.split(",") if h)
    cells = pd_eval.compared_cells(pairs) or None
    if cells:
        sets = pd_eval.compared_sets(cells)
    nested = (pd_eval.NESTED_CANDIDATES if args.nested_sets == "default"
              else tuple(s for s in args.nested_sets.split(",") if s)) or None
    for task in [t for t in args.tasks.split(",") if t]:
        labels = pd_eval.task_table(task, walks, scores)
        mats = pd_eval.feature_matrices(cache, labels["walk_id"].tolist())
        t1 = time.time()
        res = pd_eval.evaluate_task(task, labels, mats, feature_sets=sets, heads=heads, auto=not args.no_auto,
                                    nested_sets=nested, n_boot=args.n_boot, seed=args.seed, cells=cells,
                                    progress=lambda s: print(f"\r {s:<60}", end="", file=sys.stderr))
        paths = pd_eval.save(res, args.out / (task if not args.tag else f"{task}_{args.tag}"))
        print(f"\n## {task} ({time.time() - t1:.0f} s)\n{pd_eval.summary_text(res)}")
        if pairs:
            print("\n" + pd_eval.paired_report(res, pairs, args.delta, paths["table"].parent))
        print(f"results: {paths['table'].parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
