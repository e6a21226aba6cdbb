"""``gaitscope train-classifier`` and ``gaitscope evaluate-classifier``: fit a severity head on labelled walks and
register it, or evaluate heads x feature sets subject-wise against the majority baseline (synthetic cohort, a
labelled folder, or the real Parkinson's walks of Deng et al. 2024, evaluation only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from gaitscope.errors import InvalidInputError
from gaitscope.models.features import FEATURE_SETS, LabelledFeatures
from gaitscope.pipeline.lifter_choice import embedding_lifter
from gaitscope.pipeline.prediction import DEFAULT_HEAD_NAME, save_head
from gaitscope.reports.classifier_plots import plot_results
from gaitscope.training.classify import DEFAULT_CLIP_LEN, fit_head, load_labelled_dataset, synthetic_features


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (the labelled synthetic cohort), 'pd-real' (the real Parkinson's walks of "
                        "Deng et al. 2024 in ../shared, evaluation only) or a folder of labelled sequences "
                        "(see gaitscope/data/labels_format.md)")
    p.add_argument("--labels", default=None, help="labels CSV (default: DATA/labels.csv)")
    p.add_argument("--features", type=Path, default=None,
                   help="features .npz: read it if it exists, else build the features and write it there")
    p.add_argument("--checkpoint", default=None, help="encoder for embeddings (default: the bundled lifter)")
    p.add_argument("--no-embedding", action="store_true", help="kinematic features only (no encoder)")
    p.add_argument("--subjects", type=int, default=24, help="synthetic: number of subjects")
    p.add_argument("--walks", type=int, default=3, help="synthetic: walks per subject")
    p.add_argument("--label-noise", type=float, default=0.1, help="synthetic: probability a rating is off by one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


def _load_data(args: argparse.Namespace, clip_len: int | None = None) -> LabelledFeatures:
    if args.features is not None and Path(args.features).exists():
        data = LabelledFeatures.load(args.features)
        if clip_len and data.clips is None:
            raise InvalidInputError(f"{args.features} has no 2D clips for fine-tuning.",
                                    "Delete it (or pass another --features path) to rebuild with clips.")
        return data
    embed = not args.no_embedding
    lifter = embedding_lifter(args.checkpoint) if (embed or clip_len) else None
    if args.data == "synthetic":
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=args.subjects * args.walks, desc="walks", file=sys.stderr)
        data = synthetic_features(args.subjects, args.walks, seed=args.seed, lifter=lifter, embed=embed,
                                  clip_len=clip_len, label_noise=args.label_noise,
                                  progress=(lambda d, t: bar.update(1)) if bar else None)
        if bar:
            bar.close()
    else:
        data = load_labelled_dataset(args.data, args.labels, lifter=lifter, embed=embed, clip_len=clip_len)
    if args.features is not None:
        data.save(args.features)
    return data


def cmd_evaluate_pd_real(args: argparse.Namespace) -> int:
    """``--data pd-real``: the real-patient protocol of :mod:`gaitscope.training.pd_eval` on one ``--task``."""
    from gaitscope.training import pd_eval, pd_real

    if args.task not in pd_eval.TASKS:
        raise InvalidInputError(f"Unknown task {args.task!r}.", f"Use one of {', '.join(pd_eval.TASKS)}.")
    sets = tuple(s for s in (args.feature_sets or ",".join(pd_eval.FEATURE_SETS)).split(",") if s)
    heads = tuple(h for h in args.heads.split(",") if h)
    if heads == ("linear", "mlp"):  # the synthetic default: use the real-data heads
        heads = pd_eval.HEADS
    bad = ([s for s in sets if s not in pd_eval.FEATURE_SETS + pd_eval.CONFOUND_SETS]
           + [h for h in heads if h not in pd_eval.ALL_HEADS + ("nested_sets",)])
    if bad:
        raise InvalidInputError(f"Unknown feature set(s) or head(s) for pd-real: {bad}.",
                                f"Feature sets: {', '.join(pd_eval.FEATURE_SETS)}; heads: "
                                f"{', '.join(pd_eval.ALL_HEADS)}, nested_sets.")
    nested_sets = pd_eval.NESTED_CANDIDATES if "nested_sets" in heads else None
    heads = tuple(h for h in heads if h != "nested_sets")
    try:
        pairs = pd_eval.parse_model_pairs(args.compare or [])
    except ValueError as exc:
        raise InvalidInputError(str(exc), "Name two models, e.g. --compare embedding:linear,gait_2d:rf.") from exc
    cells = pd_eval.compared_cells(pairs) or None
    if cells:
        sets = pd_eval.compared_sets(cells)
    walks, _ = pd_real.discover_walks(args.pd_root)
    scores = pd_real.load_scores(args.pd_root)
    cache = pd_real.build_cache(args.pd_root, args.pd_cache or pd_real.DEFAULT_CACHE)
    labels = pd_eval.task_table(args.task, walks, scores)
    mats = pd_eval.feature_matrices(cache, labels["walk_id"].tolist())
    res = pd_eval.evaluate_task(args.task, labels, mats, feature_sets=sets, heads=heads, auto=not args.no_auto,
                                nested_sets=nested_sets, n_boot=args.n_boot, seed=args.seed, cells=cells)
    paths = pd_eval.save(res, args.out)
    print(pd_eval.summary_text(res))
    if pairs:
        print("\n" + pd_eval.paired_report(res, pairs, args.delta, paths["table"].parent))
    print(f"per-subject predictions, confusion matrix and calibration plot in {paths['table'].parent.resolve()}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gaitscope.models.classifiers import FinetuneClassifier, make_head
    from gaitscope.models.evaluation import evaluate

    if args.data == "pd-real":
        return cmd_evaluate_pd_real(args)

    clip_len = DEFAULT_CLIP_LEN if args.finetune_steps else None
    data = _load_data(args, clip_len)
    heads = {h: (lambda h=h: make_head(h)) for h in args.heads.split(",") if h}
    sets = [s for s in args.feature_sets.split(",") if s] if args.feature_sets else data.available_sets()
    unknown = [s for s in sets if s not in data.available_sets()]
    if unknown:
        raise InvalidInputError(f"Feature set(s) {unknown} are not available for this data "
                                f"(available: {', '.join(data.available_sets())}).",
                                "Embedding sets need an encoder: drop --no-embedding or rebuild the features file.")
    bad_heads = [h for h in heads if h not in ("linear", "mlp")]
    if bad_heads:
        raise InvalidInputError(f"Unknown head(s) {bad_heads}.", "Use --heads linear,mlp (and --finetune-steps N).")
    finetune = None
    if args.finetune_steps:
        finetune = lambda: FinetuneClassifier(config="small", checkpoint=args.checkpoint,
                                              steps=args.finetune_steps, random_state=args.seed)
    res = evaluate(data, heads, sets, scheme=args.cv.replace("-", "_"), n_splits=args.folds, n_boot=args.n_boot,
                   seed=args.seed, finetune=finetune)
    paths = res.save(args.out)
    paths.update(plot_results(res, args.out))
    cols = ["feature_set", "head", "weighted_f1", "weighted_f1_lo", "weighted_f1_hi", "macro_f1",
            "balanced_accuracy", "brier", "ece", "weighted_f1_gain"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.table[[c for c in cols if c in res.table]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n{res.settings['n_sequences']} walks of {res.settings['n_subjects']} subjects; "
          f"{res.settings['scheme']} ({res.settings['n_folds']} folds); embeddings: {data.embedding_model or 'none'}")
    print(f"results in {Path(args.out).resolve()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gaitscope.db import default_url, open_database

    if args.data == "pd-real":
        raise InvalidInputError(
            "The real Parkinson's walks (Deng et al. 2024) are licensed CC BY-NC-ND 4.0: evaluation only, no "
            "model trained on them may be registered or shipped.",
            "Use `gaitscope evaluate-classifier --data pd-real` to evaluate on them.")
    data = _load_data(args)
    head = fit_head(data, args.head, args.feature_set, name=args.name, version=args.version,
                    cv=None if args.cv == "none" else args.cv.replace("-", "_"), n_boot=args.n_boot, seed=args.seed)
    if args.out is not None:
        Path(args.out).write_bytes(head.blob())
        print(f"head written to {args.out}")
    if not args.no_db:
        url = args.db or default_url()
        db = open_database(url, auto_upgrade=True)
        with db.session() as s:
            save_head(s, head, active=not args.inactive)
        print(f"registered {head.name} {head.version} ({head.feature_set}, {args.head})"
              f"{'' if args.inactive else ' as the active head'} in {url}")
    print(json.dumps(head.metrics, indent=2, default=str))
    return 0


def register_cli(subparsers) -> None:
    """Add ``train-classifier`` and ``evaluate-classifier`` to the ``gaitscope`` command line
    (``register_cli(sub)`` with ``sub = parser.add_subparsers(...)`` in :func:`gaitscope.cli.main.build_parser`)."""
    e = subparsers.add_parser("evaluate-classifier",
                              help="subject-wise CV of severity heads x feature sets vs the majority baseline")
    _data_args(e)
    e.add_argument("--heads", default="linear,mlp", help="comma-separated: linear, mlp")
    e.add_argument("--feature-sets", default=None, help="comma-separated: kinematic, embedding, both (default all)")
    e.add_argument("--cv", default="loso", choices=["loso", "group-kfold"])
    e.add_argument("--folds", type=int, default=5, help="group-kfold: number of folds")
    e.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of subjects for the CIs")
    e.add_argument("--finetune-steps", type=int, default=0,
                   help="also fine-tune the encoder end to end for this many steps per fold (slow; 0 = off)")
    e.add_argument("--out", type=Path, default=Path("out/classifier_eval"))
    e.add_argument("--task", default="updrs3_high",
                   help="pd-real: updrs3_high (UPDRS III > 32), gait_0_3, gait_any (3.10 >= 1) or off_on")
    e.add_argument("--pd-root", default=None, help="pd-real: the video_tracking_pd/dataset folder")
    e.add_argument("--pd-cache", type=Path, default=None,
                   help="pd-real: per-walk feature cache (default runs/pd_real/features; never commit it)")
    e.add_argument("--compare", action="append", default=None, metavar="FS:HEAD,FS:HEAD",
                   help="pd-real: paired difference A - B of the task's key metric on the same resamples of people, "
                        "with a non-inferiority verdict (only the models named are evaluated; repeatable)")
    e.add_argument("--delta", type=float, default=0.05, help="pd-real: non-inferiority margin of --compare")
    e.add_argument("--no-auto", action="store_true",
                   help="pd-real: skip the row whose feature set is chosen by inner CV (the slowest)")
    e.set_defaults(func=cmd_evaluate)

    t = subparsers.add_parser("train-classifier", help="fit a severity head on labelled data and register it")
    _data_args(t)
    t.add_argument("--head", default="linear", choices=["linear", "mlp"])
    t.add_argument("--feature-set", default="kinematic", choices=list(FEATURE_SETS))
    t.add_argument("--name", default=DEFAULT_HEAD_NAME)
    t.add_argument("--version", default=None, help="default: UTC timestamp")
    t.add_argument("--cv", default="loso", choices=["loso", "group-kfold", "none"],
                   help="cross-validation whose metrics are stored with the head")
    t.add_argument("--n-boot", type=int, default=500)
    t.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    t.add_argument("--no-db", action="store_true", help="do not register (use with --out)")
    t.add_argument("--inactive", action="store_true", help="register without making it the active head")
    t.add_argument("--out", type=Path, default=None, help="also write the head blob (.npz) to this file")
    t.set_defaults(func=cmd_train)
