"""The evaluation protocol for clinical classifier heads: subject-wise cross-validation, metrics, bootstrap CIs.

Protocol (after Adeli et al., FG 2024, MotionBERT notes section 8, with what a small clinical study needs on top):

1. **Subject-wise splits only.** Leave-one-subject-out (LOSO) or stratified grouped k-fold. Walks of one person
   are never split between training and test: with several walks per person, a walk-wise split lets a head
   recognise the *person* rather than the disease and inflates every metric. :func:`subject_splits` builds the
   folds and :func:`assert_subject_disjoint` re-checks every fold (it raises, naming the subjects, if one
   leaks).
2. **Class imbalance.** Heads use class-balanced losses; the majority-class baseline (the dataset's class
   frequencies as probabilities, see :func:`majority_proba`) is in every table, and the balanced metrics (macro F1, balanced accuracy,
   per-class recall) are reported beside the weighted F1 of the benchmark.
3. **Pooled out-of-fold predictions.** Every walk is predicted once by the fold that did not see its subject;
   metrics are computed on the pooled predictions (as the benchmark does), with the confusion matrix, plus
   two ordinal measures (mean absolute class error, quadratic weighted kappa).
4. **Calibration.** Multiclass Brier score (mean squared error of the probability vector; Brier 1950) and the
   top-label expected calibration error with 10 equal-width bins (Guo et al., ICML 2017).
5. **Uncertainty.** Percentile bootstrap over *subjects* (resampling people, with all their walks; Efron &
   Tibshirani 1993), the unit that was sampled. Resamples are shared by all heads, so the gain of a head over
   the majority baseline gets a paired CI.

Metrics are computed from the confusion matrix in numpy (the bootstrap evaluates thousands of them); the tests
check them against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gaitscope.models.features import LabelledFeatures

HeadFactory = Callable[[], Any]

#: Metrics that get a bootstrap CI in the comparison table.
CI_METRICS: tuple[str, ...] = ("weighted_f1", "macro_f1", "balanced_accuracy")


# ---------------------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------------------


def subject_splits(
    groups: Sequence[str] | np.ndarray,
    scheme: str = "loso",
    *,
    n_splits: int = 5,
    y: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds ``(train_idx, test_idx)`` in which no subject (``groups``) is on both sides.

    ``scheme="loso"``: one fold per subject. ``scheme="group_kfold"``: ``n_splits`` folds of whole subjects,
    stratified by ``y`` when given (``StratifiedGroupKFold``), shuffled with ``seed``.
    """
    from sklearn.model_selection import (
        GroupKFold,
        LeaveOneGroupOut,
        StratifiedGroupKFold,
    )

    groups = np.asarray(groups).astype(str)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"subject-wise cross-validation needs at least 2 subjects, got {n_groups}")
    idx = np.zeros((len(groups), 1))
    if scheme == "loso":
        splits = list(LeaveOneGroupOut().split(idx, groups=groups))
    elif scheme in ("group_kfold", "group-kfold"):
        k = min(int(n_splits), n_groups)
        if k < 2:
            raise ValueError(f"n_splits must be at least 2, got {n_splits}")
        if y is not None:
            import warnings

            try:
                with warnings.catch_warnings():  # "least populated class has fewer members than n_splits"
                    warnings.simplefilter("ignore", UserWarning)
                    splits = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, np.asarray(y),
                                                                                                 groups))
            except ValueError:  # every class smaller than k: stratification impossible, plain grouped folds
                splits = list(GroupKFold(k).split(idx, groups=groups))
        else:
            splits = list(GroupKFold(k).split(idx, groups=groups))
    else:
        raise ValueError(f"unknown split scheme {scheme!r}; use 'loso' or 'group_kfold'")
    assert_subject_disjoint(groups, splits)
    return [(np.asarray(tr), np.asarray(te)) for tr, te in splits]


def assert_subject_disjoint(groups: Sequence[str] | np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """Raise ``ValueError`` if any fold has a subject in both its training and its test rows."""
    groups = np.asarray(groups).astype(str)
    for k, (tr, te) in enumerate(splits):
        leaked = sorted(set(groups[np.asarray(tr)]) & set(groups[np.asarray(te)]))
        if leaked:
            raise ValueError(
                f"fold {k} has subject(s) {leaked[:5]} in both training and test: walks of one person must stay on "
                "one side of a split"
            )


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(K, K)`` counts, rows = true class, columns = predicted class, over all K classes: the counts of
    :func:`sklearn.metrics.confusion_matrix` with ``labels=range(K)`` (tested), taken with one ``np.bincount`` of
    ``K * true + predicted``. Why not sklearn's call: the subject bootstraps build one matrix per resample,
    thousands per model, and its input validation took 2.5 ms of each. Labels outside ``0..K-1`` are refused
    (sklearn would drop those samples silently)."""
    y = np.asarray(y, dtype=int)
    pred = np.asarray(pred, dtype=int)
    for name, v in (("class labels", y), ("predictions", pred)):
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            raise ValueError(f"{name} must be 0..{n_classes - 1}, got {sorted(set(v.tolist()))}")
    return np.bincount(n_classes * y + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _f1_parts(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    recall = np.divide(tp, support, out=np.full_like(tp, np.nan), where=support > 0)
    return f1, recall, support


def metrics_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Weighted and macro F1, balanced accuracy and accuracy (sklearn's definitions, zero_division=0).

    Macro F1 averages over the classes present in ``y`` or in the predictions (as sklearn does with
    ``labels`` unset); balanced accuracy over the classes present in ``y``. The bootstrap's fast path: thousands of
    resamples each need only a confusion matrix, where sklearn's functions would re-read the labels every time;
    :func:`classification_metrics` calls sklearn itself, and tests hold the two equal.
    """
    f1, recall, support = _f1_parts(cm)
    n = support.sum()
    present = (support > 0) | (cm.sum(axis=0) > 0)
    return {
        "weighted_f1": float((f1 * support).sum() / n) if n else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "balanced_accuracy": float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan"),
        "accuracy": float(np.trace(cm) / n) if n else float("nan"),
    }


def brier_multiclass(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean over samples of the squared distance between the probability vector and the one-hot label."""
    onehot = np.eye(proba.shape[1])[np.asarray(y)]
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: |accuracy - confidence| per equal-width confidence bin, weighted by the bin's share."""
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == np.asarray(y)).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """All metrics of one set of pooled predictions (``proba`` ``(n, K)`` over all K classes)."""
    import warnings

    from sklearn import metrics as skm

    y = np.asarray(y, dtype=int)
    k = proba.shape[1]
    labels = np.arange(k)
    pred = proba.argmax(axis=1)
    with warnings.catch_warnings():  # a class absent from y or never predicted: defined by zero_division below
        warnings.simplefilter("ignore", UserWarning)
        out: dict[str, Any] = {
            # macro F1 over the classes present in y or pred (labels unset), balanced accuracy over those in y
            "weighted_f1": float(skm.f1_score(y, pred, average="weighted", zero_division=0)),
            "macro_f1": float(skm.f1_score(y, pred, average="macro", zero_division=0)),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
            "accuracy": float(skm.accuracy_score(y, pred)),
        }
        recall = skm.recall_score(y, pred, labels=labels, average=None, zero_division=np.nan)
        # Cohen's kappa with quadratic weights (Cohen 1968) over all K classes: agreement on an ORDINAL scale,
        # where predicting 3 for a 0 is worse than predicting 1; the usual agreement statistic for UPDRS items
        qwk = float(skm.cohen_kappa_score(y, pred, labels=labels, weights="quadratic"))
    out["mae"] = float(skm.mean_absolute_error(y, pred))  # ordinal scale: how far off, in classes
    out["qwk"] = qwk
    out["brier"] = brier_multiclass(y, proba)
    out["ece"] = expected_calibration_error(y, proba)
    out.update({f"recall_{c}": float(recall[c]) for c in range(k)})
    out["confusion"] = confusion(y, pred, k)
    return out


# ---------------------------------------------------------------------------------------------------------
# Cross-validated predictions
# ---------------------------------------------------------------------------------------------------------


def align_proba(proba: np.ndarray, head_classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Put a head's probability columns (for the classes it saw in training) into the K-class layout."""
    out = np.zeros((proba.shape[0], n_classes))
    out[:, np.asarray(head_classes, dtype=int)] = proba
    return out


def cross_val_proba(
    make_head: HeadFactory,
    X: np.ndarray,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities ``(n, K)`` and the fold index of every row; a fresh head per fold.

    A training fold with a single class (possible in tiny studies) predicts that class with probability 1.
    """
    proba = np.full((len(y), n_classes), np.nan)
    fold = np.full(len(y), -1)
    for k, (tr, te) in enumerate(splits):
        classes = np.unique(y[tr])
        if len(classes) < 2:
            p = np.zeros((len(te), n_classes))
            p[:, classes[0]] = 1.0
        else:
            head = make_head()
            head.fit(X[tr], y[tr])
            p = align_proba(head.predict_proba(X[te]), head.classes_, n_classes)
        proba[te] = p
        fold[te] = k
    if (fold < 0).any():
        raise ValueError(f"{int((fold < 0).sum())} rows are in no test fold; the splits do not cover the data")
    return proba, fold


def majority_proba(y: np.ndarray, n_classes: int) -> np.ndarray:
    """The majority-class baseline: every row gets the dataset's class frequencies (argmax = majority class).

    Frequencies of the WHOLE dataset, not refitted per fold: under leave-one-subject-out a per-fold majority is
    pathologically pessimistic (leaving a subject out always makes its own class rarer, so with balanced classes
    the refitted baseline is wrong on every walk). The whole-data constant is the conventional baseline and, if
    anything, flatters the baseline, so a head's gain over it is not overstated.
    """
    prior = np.bincount(np.asarray(y, dtype=int), minlength=n_classes) / len(y)
    return np.tile(prior, (len(y), 1))


# ---------------------------------------------------------------------------------------------------------
# Bootstrap over subjects
# ---------------------------------------------------------------------------------------------------------


def subject_bootstrap_indices(groups: np.ndarray, n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """Row indices of ``n_boot`` resamples of whole subjects (with replacement)."""
    groups = np.asarray(groups).astype(str)
    subjects, inverse = np.unique(groups, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(len(subjects))]
    rng = np.random.default_rng(seed)
    return [np.concatenate([rows_of[i] for i in rng.integers(0, len(subjects), len(subjects))]) for _ in range(n_boot)]


def bootstrap_metrics(
    y: np.ndarray, proba: np.ndarray, resamples: Sequence[np.ndarray], metrics: Sequence[str] = CI_METRICS
) -> dict[str, np.ndarray]:
    """Each metric over each resample: ``{name: (n_boot,)}``."""
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    out = {m: np.empty(len(resamples)) for m in metrics}
    for b, rows in enumerate(resamples):
        vals = metrics_from_confusion(confusion(y[rows], pred[rows], k))
        for m in metrics:
            out[m][b] = vals[m]
    return out


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(v, a)), float(np.quantile(v, 1.0 - a))


# ---------------------------------------------------------------------------------------------------------
# The whole protocol
# ---------------------------------------------------------------------------------------------------------


def default_heads() -> dict[str, HeadFactory]:
    from gaitscope.models.classifiers import LinearProbe, MLPHead

    return {"linear": LinearProbe, "mlp": MLPHead}


@dataclass
class EvaluationResult:
    """Comparison table, pooled out-of-fold predictions and confusion matrices of one protocol run."""

    table: pd.DataFrame  # one row per (feature set, head), majority baseline included
    predictions: pd.DataFrame  # one row per (sequence, feature set, head): fold, label, predicted, p_<class>
    confusions: dict[str, np.ndarray]  # "<feature_set>/<head>" -> (K, K)
    class_names: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, feature_set: str, head: str) -> pd.Series:
        m = (self.table["feature_set"] == feature_set) & (self.table["head"] == head)
        if not m.any():
            raise KeyError(f"no result for feature set {feature_set!r} and head {head!r}")
        return self.table[m].iloc[0]

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``comparison.csv``, ``predictions.csv``, ``confusion_<set>_<head>.csv`` and ``settings.json``."""
        import json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"comparison": out / "comparison.csv", "predictions": out / "predictions.csv"}
        self.table.to_csv(paths["comparison"], index=False, float_format="%.4f")
        self.predictions.to_csv(paths["predictions"], index=False, float_format="%.4f")
        for key, cm in self.confusions.items():
            fs, head = key.split("/")
            fs = "none" if fs == "-" else fs
            p = out / f"confusion_{fs}_{head}.csv"
            pd.DataFrame(cm, index=[f"true_{c}" for c in self.class_names],
                         columns=[f"pred_{c}" for c in self.class_names]).to_csv(p)
            paths[f"confusion_{fs}_{head}"] = p
        paths["settings"] = out / "settings.json"
        paths["settings"].write_text(json.dumps(self.settings, indent=2, default=str))
        return paths


def evaluate(
    data: LabelledFeatures,
    heads: Mapping[str, HeadFactory] | None = None,
    feature_sets: Sequence[str] | None = None,
    *,
    scheme: str = "loso",
    n_splits: int = 5,
    n_boot: int = 1000,
    seed: int = 0,
    finetune: HeadFactory | None = None,
) -> EvaluationResult:
    """Run the protocol on ``data`` for every feature set x head, plus the majority baseline.

    ``heads`` maps a name to a zero-argument factory of an unfitted estimator (default: linear probe and MLP).
    ``finetune`` (optional, slow) is evaluated on ``data.clips`` as feature set ``"clips"``. All models share the
    same folds and the same subject resamples, so their CIs and their gains over the baseline are paired.
    """
    heads = default_heads() if heads is None else dict(heads)
    feature_sets = list(feature_sets or data.available_sets())
    k = len(data.class_names)
    y = data.labels
    groups = data.subject_ids
    splits = subject_splits(groups, scheme, n_splits=n_splits, y=y, seed=seed)
    resamples = subject_bootstrap_indices(groups, n_boot, seed=seed) if n_boot else []

    jobs: list[tuple[str, str, HeadFactory | None, np.ndarray]] = []
    jobs.append(("-", "majority", None, np.zeros((len(y), 1))))
    for fs in feature_sets:
        X = data.matrix(fs)
        for name, factory in heads.items():
            jobs.append((fs, name, factory, X))
    if finetune is not None:
        if data.clips is None:
            raise ValueError("fine-tuning needs 2D clips, but this dataset was built without them")
        jobs.append(("clips", "finetune", finetune, data.clips))

    rows, pred_frames, confusions, boots = [], [], {}, {}
    for fs, name, factory, X in jobs:
        if factory is None:
            proba, fold = majority_proba(y, k), np.full(len(y), -1)
        else:
            proba, fold = cross_val_proba(factory, X, y, splits, k)
        m = classification_metrics(y, proba)
        confusions[f"{fs}/{name}"] = m.pop("confusion")
        row: dict[str, Any] = {"feature_set": fs, "head": name, "n_features": int(np.prod(X.shape[1:]))}
        row.update(m)
        if resamples:
            boots[(fs, name)] = bootstrap_metrics(y, proba, resamples)
            for metric in CI_METRICS:
                row[f"{metric}_lo"], row[f"{metric}_hi"] = percentile_ci(boots[(fs, name)][metric])
        rows.append(row)
        pf = pd.DataFrame({"sequence_id": data.sequence_ids, "subject_id": groups, "feature_set": fs, "head": name,
                           "fold": fold, "label": y, "predicted": proba.argmax(axis=1)})
        for c in range(k):
            pf[f"p_{data.class_names[c]}"] = proba[:, c]
        pred_frames.append(pf)

    table = pd.DataFrame(rows)
    base = table.loc[table["head"] == "majority", "weighted_f1"].iloc[0]
    table["weighted_f1_gain"] = table["weighted_f1"] - base
    if resamples:
        b0 = boots[("-", "majority")]["weighted_f1"]
        gains = [percentile_ci(boots[(r.feature_set, r.head)]["weighted_f1"] - b0) for r in table.itertuples()]
        table["weighted_f1_gain_lo"] = [g[0] for g in gains]
        table["weighted_f1_gain_hi"] = [g[1] for g in gains]
    settings = {
        "scheme": scheme, "n_folds": len(splits), "n_splits_requested": n_splits, "n_boot": n_boot, "seed": seed,
        "n_sequences": len(data), "n_subjects": data.n_subjects, "class_names": list(data.class_names),
        "class_counts_sequences": np.bincount(y, minlength=k).tolist(),
        "embedding_model": data.embedding_model, "description": data.description,
        "heads": {n: repr(f()) for n, f in heads.items()},
        "unit": "walk (sequence); metrics on pooled out-of-fold predictions; CIs: bootstrap over subjects",
    }
    return EvaluationResult(table, pd.concat(pred_frames, ignore_index=True), confusions, data.class_names, settings)


# ---------------------------------------------------------------------------------------------------------
# Rank agreement with clinical labels (the real-label sanity check)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankAgreement:
    """Spearman correlation between a measurement and an ordinal clinical label, with a bootstrap CI."""

    rho: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.ci_high < 0 or self.ci_low > 0


def spearman_agreement(
    values: Sequence[float] | np.ndarray,
    labels: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> RankAgreement:
    """Spearman rho of ``values`` vs ``labels`` (pairs with a NaN are dropped) with a percentile bootstrap CI
    over people (one row per person). Used to check that e.g. walking speed falls as Hoehn & Yahr stage rises."""
    v = np.asarray(values, dtype=float)
    lab = np.asarray(labels, dtype=float)
    ok = np.isfinite(v) & np.isfinite(lab)
    v, lab = v[ok], lab[ok]
    if len(v) < 3:
        raise ValueError(f"need at least 3 complete pairs for a rank correlation, got {len(v)}")
    res = stats.spearmanr(v, lab)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, len(v), len(v))
        boots[b] = stats.spearmanr(v[i], lab[i]).statistic if np.ptp(v[i]) > 0 and np.ptp(lab[i]) > 0 else np.nan
    lo, hi = percentile_ci(boots, level)
    return RankAgreement(float(res.statistic), lo, hi, float(res.pvalue), len(v))
