"""Figures of a classifier evaluation (:class:`gaitscope.models.evaluation.EvaluationResult`): weighted F1 with
subject-bootstrap confidence intervals against the majority baseline, confusion matrices and a reliability
diagram. ``gaitscope evaluate-classifier`` writes them beside its tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitscope.reports.plots import _pyplot


def _draw_confusion(ax, cm: np.ndarray, names, title: str, fontsize: float = 10) -> None:
    """One confusion matrix (rows true, columns predicted) with its counts written in."""
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=fontsize)
    ax.set_title(title, fontsize=8)
    ax.set_xticks(range(len(names)), names, fontsize=min(fontsize, 9))
    ax.set_yticks(range(len(names)), names, fontsize=min(fontsize, 9))
    ax.set_xlabel("predicted", fontsize=min(fontsize, 9))
    ax.set_ylabel("true", fontsize=min(fontsize, 9))


def confusion_png(cm: np.ndarray, names, title: str, path: str | Path) -> Path:
    """A single confusion matrix as a PNG."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(3.4, 3.2))
    _draw_confusion(ax, cm, names, title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def reliability_png(target: np.ndarray, confidence: np.ndarray, path: str | Path, *, xlabel: str, ylabel: str,
                    title: str, n_bins: int, strategy: str) -> Path:
    """Reliability diagram (``sklearn.calibration.calibration_curve``): observed frequency of ``target`` (0/1)
    against the mean ``confidence`` per bin, beside the diagonal of a calibrated model."""
    from sklearn.calibration import calibration_curve

    plt = _pyplot()

    frac, mean = calibration_curve(target, confidence, n_bins=n_bins, strategy=strategy)
    fig, ax = plt.subplots(figsize=(3.8, 3.8))
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1)
    ax.plot(mean, frac, "o-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_results(result, out_dir: str | Path) -> dict[str, Path]:
    """``comparison.png`` (weighted F1 with subject-bootstrap CIs, majority line), ``confusion.png`` (every
    model) and ``calibration.png`` (reliability diagram of the best model) from an ``EvaluationResult``."""
    plt = _pyplot()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = result.table
    paths = {}
    labels = [f"{r.feature_set}\n{r.head}" if r.feature_set != "-" else "majority" for r in t.itertuples()]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(t)), 4))
    y = t["weighted_f1"].to_numpy()
    if "weighted_f1_lo" in t:
        err = np.vstack([y - t["weighted_f1_lo"].to_numpy(), t["weighted_f1_hi"].to_numpy() - y])
    else:
        err = None
    colors = ["0.6" if r.head == "majority" else "C0" if r.feature_set == "kinematic" else
              "C1" if r.feature_set == "embedding" else "C2" for r in t.itertuples()]
    ax.bar(range(len(t)), y, yerr=err, capsize=3, color=colors)
    base = float(t.loc[t["head"] == "majority", "weighted_f1"].iloc[0])
    ax.axhline(base, color="0.3", ls="--", lw=1, label="majority baseline")
    ax.set_xticks(range(len(t)), labels, fontsize=8)
    ax.set_ylabel("weighted F1 (pooled out-of-fold)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.settings.get('scheme', '')} CV, 95% CI: bootstrap over subjects", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths["comparison_png"] = out / "comparison.png"
    fig.savefig(paths["comparison_png"], dpi=120)
    plt.close(fig)

    keys = list(result.confusions)
    ncol = min(4, len(keys))
    nrow = int(np.ceil(len(keys) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3 * ncol, 2.9 * nrow), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        _draw_confusion(ax, result.confusions[key], result.class_names,
                        key if not key.startswith("-/") else "majority", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    paths["confusion_png"] = out / "confusion.png"
    fig.savefig(paths["confusion_png"], dpi=110)
    plt.close(fig)

    models = t[t["head"] != "majority"]
    if len(models):
        best = models.sort_values("weighted_f1", ascending=False).iloc[0]
        p = result.predictions
        sel = p[(p["feature_set"] == best["feature_set"]) & (p["head"] == best["head"])]
        proba = sel[[f"p_{c}" for c in result.class_names]].to_numpy()
        correct = (proba.argmax(axis=1) == sel["label"].to_numpy()).astype(int)
        paths["calibration_png"] = reliability_png(
            correct, proba.max(axis=1), out / "calibration.png", xlabel="confidence (top class)", ylabel="accuracy",
            title=f"calibration: {best['feature_set']} / {best['head']} (ECE {best['ece']:.2f})", n_bins=10,
            strategy="uniform")
    return paths
