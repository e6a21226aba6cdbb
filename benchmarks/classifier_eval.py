"""Severity-classifier benchmark on the labelled synthetic cohort: feature sets x heads vs the majority baseline.

    .venv/bin/python benchmarks/classifier_eval.py                        # 24 subjects x 3 walks, LOSO
    .venv/bin/python benchmarks/classifier_eval.py --subjects 40 --walks 3 --cv group-kfold --folds 5
    .venv/bin/python benchmarks/classifier_eval.py --checkpoint PATH      # embeddings of a trained encoder
    .venv/bin/python benchmarks/classifier_eval.py --finetune-steps 100   # add end-to-end fine-tuning (slow on CPU)

Protocol (``gaitscope.models.evaluation``): subject-wise CV, pooled out-of-fold predictions per walk, weighted and
macro F1, balanced accuracy, per-class recall, Brier, ECE, 95 % CIs by bootstrap over subjects; the majority-class
baseline in every table. Writes CSV + PNG into ``--out`` and prints the comparison table plus the wall time of
each step. Features are cached in ``--out/features.npz`` (delete it to rebuild).

Embeddings come from ``--checkpoint``, else the bundled lifter, else an UNTRAINED small DSTformer (said so in the
output): random-weight features still carry motion information, but they are not MotionBERT's embeddings, so the
embedding rows are not comparable with the published Parkinson's numbers (MotionBERT 0.47, MB-Lite 0.43 weighted
F1 on real data, Adeli et al. FG 2024).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=24)
    ap.add_argument("--walks", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label-noise", type=float, default=0.1)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--cv", default="loso", choices=["loso", "group-kfold"])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--finetune-steps", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    ap.add_argument("--out", type=Path, default=Path("out/classifier_eval"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from gaitscope.models.classifiers import FinetuneClassifier, LinearProbe, MLPHead
    from gaitscope.models.evaluation import evaluate
    from gaitscope.models.features import LabelledFeatures
    from gaitscope.pipeline.lifter_choice import embedding_lifter
    from gaitscope.reports.classifier_plots import plot_results
    from gaitscope.training.classify import DEFAULT_CLIP_LEN, synthetic_features

    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.out / f"features_{args.subjects}x{args.walks}_s{args.seed}.npz"
    clip_len = DEFAULT_CLIP_LEN if args.finetune_steps else None
    t0 = time.perf_counter()
    if cache.exists() and (not clip_len or LabelledFeatures.load(cache).clips is not None):
        data = LabelledFeatures.load(cache)
        how = f"cached {cache}"
    else:
        lifter = embedding_lifter(args.checkpoint)
        data = synthetic_features(args.subjects, args.walks, seed=args.seed, lifter=lifter, clip_len=clip_len,
                                  label_noise=args.label_noise)
        data.save(cache)
        how = "built"
    t_feat = time.perf_counter() - t0
    print(f"features: {len(data)} walks of {data.n_subjects} subjects ({how}, {t_feat:.0f} s); "
          f"encoder {data.embedding_model}")
    if "untrained" in data.embedding_model:
        print("NOTE: embeddings from an UNTRAINED encoder (no bundled lifter / checkpoint found)")

    finetune = None
    if args.finetune_steps:
        finetune = lambda: FinetuneClassifier(config="small", checkpoint=args.checkpoint,
                                              steps=args.finetune_steps, random_state=args.seed)
    t0 = time.perf_counter()
    res = evaluate(data, {"linear": LinearProbe, "mlp": MLPHead}, data.available_sets(),
                   scheme=args.cv.replace("-", "_"), n_splits=args.folds, n_boot=args.n_boot, seed=args.seed,
                   finetune=finetune)
    t_eval = time.perf_counter() - t0
    res.save(args.out)
    plot_results(res, args.out)

    cols = ["feature_set", "head", "n_features", "weighted_f1", "weighted_f1_lo", "weighted_f1_hi", "macro_f1",
            "balanced_accuracy", "recall_0", "recall_1", "recall_2", "recall_3", "mae", "qwk", "brier", "ece",
            "weighted_f1_gain", "weighted_f1_gain_lo", "weighted_f1_gain_hi"]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(res.table[[c for c in cols if c in res.table]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    s = res.settings
    print(f"\n{s['scheme']} with {s['n_folds']} folds; class counts (walks) {s['class_counts_sequences']}; "
          f"{s['n_boot']} subject bootstrap resamples")
    print(f"timing: features {t_feat:.0f} s, evaluation {t_eval:.0f} s ({torch.get_num_threads()} torch thread(s))")
    print(f"written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
