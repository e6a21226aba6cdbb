"""The evaluation protocol on real Parkinson's patients (Deng et al. 2024 recordings), every task and feature set.

Protocol (after :mod:`gaitscope.models.evaluation`, whose splits, majority baseline and subject bootstrap are
reused):

* **Leave one subject out.** A person's OFF and ON walks are always in the same test fold
  (:func:`~gaitscope.models.evaluation.subject_splits`, re-checked by ``assert_subject_disjoint``).
* **Hyper-parameters only by inner cross-validation.** Heads named ``*_cv`` choose their regularisation by a
  subject-grouped 5-fold CV *inside* each outer training fold (never on the test subject). ``auto`` also chooses
  the feature set that way, so its score is the honest "one model, chosen without the test data" number; the
  per-feature-set rows beside it are a comparison, and picking the best of them after the fact is optimistic.
* **Nested (session 5).** The ``nested`` head chooses a reduction (none, PCA to 10 components, the 10 best
  columns by ANOVA F) and the L2 strength by an inner *leave-one-subject-out* on the outer training fold (pooled
  inner log loss); the ``nested_sets`` row also chooses the feature set among :data:`NESTED_CANDIDATES`. Every
  choice is fit on training subjects only (scaler, PCA and selection sit inside the pipeline), so its score is the
  honest "one model, chosen without the test person" number (``tests/training/test_pd_nested.py`` plants a
  selection leak that only a leaky protocol exploits).
* **Metrics on pooled out-of-fold predictions** (every walk predicted once, by the fold that did not see its
  subject), from :mod:`sklearn.metrics`: accuracy, balanced accuracy, ROC AUC (binary tasks), weighted and macro
  F1, Brier score. 95 % CIs: percentile bootstrap over *subjects* (1000 resamples, shared by all rows).
* **The majority baseline** (the data's class frequencies as probabilities) is in every table.
* **Two models compared** (:func:`compare_models`): the paired difference A - B of the task's key metric
  (:data:`KEY_METRICS`) on the same subject resamples for both, with its 95 % CI and a non-inferiority
  verdict at a margin ("at least equal" of issue 23).

Tasks (:data:`TASKS`): ``updrs3_high`` MDS-UPDRS part III total > 32 vs <= 32 (the published task: accuracy 0.68,
ROC AUC 0.74, Deng et al. 2024); ``gait_0_3`` item 3.10 in 4 classes (0, 1, 2, 3+; the one walk scored 4 joins 3
as in Adeli et al.'s 0-3 scale); ``gait_any`` 3.10 = 0 vs >= 1; ``off_on`` OFF vs ON medication, on the people with
both walks, with the *paired* accuracy (share of people whose OFF walk gets the higher P(OFF)) beside the walk-level
metrics and a *within-person* feature variant (each walk minus the person's mean walk: label-free, it uses only
that the two walks belong to one person).

Feature sets (:func:`feature_matrices`), all from the per-walk cache of :mod:`gaitscope.training.pd_real`:

* ``kinematic``: the 21 gait parameters + GPS of the 3D analysis (:func:`gaitscope.models.features.kinematic_vector`);
  NaN where the analysis could not measure them (imputed with the training median).
* ``kinematic_angles``: those plus mean, SD and 5-95 % range of every joint-angle series of the analysis.
* ``embedding``: the shipped lifter's embedding, mean over all frames (what the pipeline stores).
* ``embedding_legs``: the mean over the frames in which every leg joint was in view.
* ``embedding_windows``: mean and SD over time of 2 s window means (slow changes, variability).
* ``embedding_strides``: mean and SD of per-stride mean embeddings (strides from the analysis; windows when it
  found fewer than 2 strides).
* ``landmarks_2d``: hand-made features of the 2D landmark series themselves, no lifter (in the spirit of Deng et
  al.'s temporal and spectral landmark features): per landmark and axis, position relative to the mid-hip in torso
  lengths, its SD, 5-95 % range, mean absolute velocity, dominant frequency and share of power in 0.5-3 Hz.
* ``both``: kinematic + embedding; ``all``: kinematic_angles + embedding_windows + landmarks_2d.
* ``gait_2d``: gait features that need no complete stride (:mod:`gaitscope.training.pd_features`: arm swing and
  its asymmetry, trunk lean, cadence from ankle/wrist spectra, jerk, progression, knee range in view, turning);
  ``gait_2d_landmarks``: those + ``landmarks_2d``.
* ``embedding_stats``: per channel mean, SD, 10/50/90 % quantiles and power share at the stride frequency of the
  per-frame embedding; ``embedding_cycle``: gait-cycle-normalised pooling (4 phase bins, mean and SD over cycles).
* ``recording`` (confound check, :data:`CONFOUND_SETS`): duration, portrait/landscape, apparent body size and
  the share of frames with the ankles, knees or head out of view.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from gaitscope.models.evaluation import (
    assert_subject_disjoint,
    bootstrap_metrics,
    confusion,
    majority_proba,
    percentile_ci,
    subject_bootstrap_indices,
    subject_splits,
)
from gaitscope.training.pd_features import GAIT_FEATURE_NAMES, embedding_cycle, embedding_stats, gait_features_2d


@dataclass(frozen=True)
class TaskSpec:
    name: str
    title: str
    class_names: tuple[str, ...]
    published: str = ""


TASKS: dict[str, TaskSpec] = {
    "updrs3_high": TaskSpec("updrs3_high", "MDS-UPDRS III total > 32 vs <= 32", ("<=32", ">32"),
                            "Deng et al. 2024 (logistic regression on LASSO-selected landmark features, LOSO): "
                            "accuracy 0.68, ROC AUC 0.74"),
    "gait_0_3": TaskSpec("gait_0_3", "MDS-UPDRS 3.10 gait, 0 / 1 / 2 / 3+", ("0", "1", "2", "3+"),
                         "Adeli et al. FG 2024, larger data set, weighted F1: MotionBERT 0.47, MotionBERT-Lite 0.43, "
                         "PoseFormerV2 fine-tuned 0.62"),
    "gait_any": TaskSpec("gait_any", "MDS-UPDRS 3.10 gait, 0 vs >= 1", ("0", ">=1")),
    "off_on": TaskSpec("off_on", "OFF vs ON medication (people with both walks)", ("on", "off")),
}
FEATURE_SETS: tuple[str, ...] = ("kinematic", "kinematic_angles", "embedding", "embedding_legs", "embedding_windows",
                                 "embedding_strides", "landmarks_2d", "both", "all", "gait_2d", "gait_2d_landmarks",
                                 "embedding_stats", "embedding_cycle")
#: The candidate sets of the ``nested_sets`` head (session 5): fixed before any of the new sets was measured on
#: the real tasks, so the head's score is one honest number (set, reduction and C all chosen by inner LOSO). Kept
#: to four for compute (inner LOSO x outer LOSO on 2 shared cores): the stored embedding, its whole-walk
#: statistics, the stride-free gait features and those plus the 2D landmark features; the stride-based 3D sets
#: are left out because 20 of 44 walks have no stride.
NESTED_CANDIDATES: tuple[str, ...] = ("embedding", "embedding_stats", "gait_2d", "gait_2d_landmarks")
#: Not a model input but a confound check: how the walk was FILMED (length, portrait or landscape, how close,
#: how often feet and head were out of view). A set that predicts the label from these alone warns that the
#: others may be reading the recording set-up rather than the patient.
CONFOUND_SETS: tuple[str, ...] = ("recording",)
HEADS: tuple[str, ...] = ("linear", "logreg_cv", "lasso_cv", "rf")
#: Every head, including ``nested`` (reduction and C by inner leave-one-subject-out: about 25x the fits of
#: ``logreg_cv``, so it is asked for by name: ``--heads ...,nested``).
ALL_HEADS: tuple[str, ...] = HEADS + ("nested",)
WINDOW_S = 2.0
#: Landmarks (MediaPipe indices) whose trajectories make the 2D feature set: nose, shoulders, elbows, wrists, hips,
#: knees, ankles, heels, toes.
LANDMARKS_2D: tuple[int, ...] = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32)


# ---------------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------------


def task_table(task: str, walks: list, scores: pd.DataFrame) -> pd.DataFrame:
    """``walk_id, pidn, state, label`` for the walks that have a label in ``task`` (others dropped)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    df = pd.DataFrame([{"walk_id": w.walk_id, "pidn": w.pidn, "state": w.state} for w in walks])
    df = df.merge(scores, on=["pidn", "state"], how="left")
    if task == "updrs3_high":
        df = df[df["updrs3_total"].notna()].assign(label=lambda d: (d["updrs3_total"] > 32).astype(int))
    elif task == "gait_0_3":
        df = df[df["gait_3_10"].notna()].assign(label=lambda d: d["gait_3_10"].clip(upper=3).astype(int))
    elif task == "gait_any":
        df = df[df["gait_3_10"].notna()].assign(label=lambda d: (d["gait_3_10"] >= 1).astype(int))
    else:  # off_on: people with both walks
        both = df.groupby("pidn")["state"].transform(lambda s: set(s) == {"off", "on"})
        df = df[both].assign(label=lambda d: (d["state"] == "off").astype(int))
    return df.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------------
# Feature sets from the cache
# ---------------------------------------------------------------------------------------------------------


def _nanstats(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.concatenate([np.nanmean(a, axis=0), np.nanstd(a, axis=0),
                               np.nanpercentile(a, 95, axis=0) - np.nanpercentile(a, 5, axis=0)])


def _windows(frames: np.ndarray, fps: float) -> np.ndarray:
    from gaitscope.models.embed import pool_clips

    return pool_clips(frames, max(2, int(round(WINDOW_S * fps))))


def _mean_sd(rows: np.ndarray) -> np.ndarray:
    return np.concatenate([rows.mean(axis=0), rows.std(axis=0)])


def landmark_features(lm: np.ndarray) -> np.ndarray:
    """Hand-made 2D features of one walk (module docstring) from ``(T, 33, 3)`` normalised x, y, time (NaN = unseen)."""
    from scipy.signal import periodogram

    xy = lm[..., :2].astype(np.float64)
    ts = lm[:, 0, 2].astype(np.float64)
    fps = 1.0 / float(np.median(np.diff(ts))) if len(ts) > 1 else 30.0
    hip = 0.5 * (xy[:, 23] + xy[:, 24])
    sh = 0.5 * (xy[:, 11] + xy[:, 12])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        torso = np.nanmedian(np.linalg.norm(sh - hip, axis=-1))
    torso = torso if np.isfinite(torso) and torso > 0 else 1.0
    rel = (xy[:, list(LANDMARKS_2D)] - hip[:, None]) / torso  # (T, L, 2)
    feats = []
    for li in range(rel.shape[1]):
        for ax in range(2):
            s = rel[:, li, ax]
            ok = np.isfinite(s)
            if ok.mean() < 0.3 or ok.sum() < 16:
                feats += [np.nan] * 5
                continue
            filled = np.interp(np.arange(len(s)), np.flatnonzero(ok), s[ok])
            vel = np.abs(np.diff(s)) * fps
            f, p = periodogram(filled - filled.mean(), fs=fps)
            band = (f >= 0.5) & (f <= 3.0)
            total = p[f > 0].sum()
            feats += [float(np.nanstd(s)), float(np.nanpercentile(s, 95) - np.nanpercentile(s, 5)),
                      float(np.nanmean(vel)) if np.isfinite(vel).any() else np.nan,
                      float(f[band][np.argmax(p[band])]) if band.any() and total > 0 else np.nan,
                      float(p[band].sum() / total) if total > 0 else np.nan]
    return np.array(feats)


def recording_features(lm: np.ndarray) -> np.ndarray:
    """How the walk was filmed (confound check): duration (s), portrait (1/0), median torso length (image
    heights), share of frames with each ankle, each knee and the nose out of view."""
    from gaitscope.io.landmarks import estimate_aspect

    xy = lm[..., :2].astype(np.float64)
    seen = np.isfinite(xy).all(axis=-1)
    guess = estimate_aspect(np.nan_to_num(xy), seen)
    portrait = float(guess[1] < 1) if guess is not None else np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        torso = np.nanmedian(np.abs(0.5 * (xy[:, 11, 1] + xy[:, 12, 1]) - 0.5 * (xy[:, 23, 1] + xy[:, 24, 1])))
    ts = lm[:, 0, 2]
    return np.array([float(ts[-1] - ts[0]), portrait, float(torso)]
                    + [float(1 - seen[:, j].mean()) for j in (27, 28, 25, 26, 0)])


def feature_matrices(cache: dict[str, dict], walk_ids: list[str]) -> dict[str, np.ndarray]:
    """Every set of :data:`FEATURE_SETS` and :data:`CONFOUND_SETS` as an ``(N, F)`` matrix for ``walk_ids``."""
    angle_names = sorted({str(n) for w in walk_ids for n in cache[w]["angle_names"]})
    out: dict[str, list[np.ndarray]] = {k: [] for k in FEATURE_SETS + CONFOUND_SETS}
    for w in walk_ids:
        c = cache[w]
        frames = np.asarray(c["embedding_frames"], dtype=np.float64)
        fps = float(c["fps"])
        kin = np.asarray(c["kinematic"], dtype=np.float64)
        ang = np.full((max(len(c["angles"]), 1), len(angle_names)), np.nan)
        for j, n in enumerate(c["angle_names"]):
            ang[: len(c["angles"]), angle_names.index(str(n))] = c["angles"][:, j]
        kin_ang = np.concatenate([kin, _nanstats(ang)])
        legs = np.asarray(c["legs_seen"], dtype=bool)
        win = _windows(frames, fps)
        strides = np.asarray(c["strides"]).reshape(-1, 2)
        per_stride = [frames[a:b].mean(axis=0) for a, b in strides if b > a]
        emb_str = _mean_sd(np.stack(per_stride)) if len(per_stride) >= 2 else _mean_sd(win)
        lm = np.asarray(c["landmarks"])
        lm2d = landmark_features(lm)
        g2d = gait_features_2d(lm)
        stride_hz = g2d[GAIT_FEATURE_NAMES.index("cadence_steps_per_min")] / 120.0
        out["kinematic"].append(kin)
        out["kinematic_angles"].append(kin_ang)
        out["embedding"].append(frames.mean(axis=0))
        out["embedding_legs"].append(frames[legs].mean(axis=0) if legs.sum() >= 10 else frames.mean(axis=0))
        out["embedding_windows"].append(_mean_sd(win))
        out["embedding_strides"].append(emb_str)
        out["landmarks_2d"].append(lm2d)
        out["both"].append(np.concatenate([kin, frames.mean(axis=0)]))
        out["all"].append(np.concatenate([kin_ang, _mean_sd(win), lm2d]))
        out["recording"].append(recording_features(lm))
        out["gait_2d"].append(g2d)
        out["gait_2d_landmarks"].append(np.concatenate([g2d, lm2d]))
        out["embedding_stats"].append(embedding_stats(frames, fps, stride_hz))
        out["embedding_cycle"].append(embedding_cycle(frames, fps, strides, stride_hz))
    mats = {k: np.vstack(v).astype(np.float64) for k, v in out.items()}
    for k, m in mats.items():
        m[~np.isfinite(m)] = np.nan
        keep = ~np.all(np.isnan(m), axis=0)  # a column no walk has
        mats[k] = m[:, keep]
    return mats


def within_person(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row minus the mean of its person's rows (NaN-aware): what changed between that person's walks."""
    out = np.array(X, dtype=np.float64, copy=True)
    for g in np.unique(groups):
        m = groups == g
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[m] = X[m] - np.nanmean(X[m], axis=0)
    return out


# ---------------------------------------------------------------------------------------------------------
# Heads (fit on training folds only)
# ---------------------------------------------------------------------------------------------------------


def _pipe(clf):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(), clf)


def _logreg(C: float, penalty: str = "l2"):
    from sklearn.linear_model import LogisticRegression

    if penalty == "l1":
        from sklearn.multiclass import OneVsRestClassifier

        # liblinear: the L1 solver that is fast at this size; it is binary-only, hence one-vs-rest for 3+ classes
        return OneVsRestClassifier(LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                                      max_iter=5000))
    return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)


L2_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0)
L1_GRID = (0.05, 0.1, 0.3, 1.0)


def _inner_splits(groups: np.ndarray, y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n = len(np.unique(groups))
    return subject_splits(groups, "group_kfold", n_splits=min(5, n), y=y, seed=seed)


def _inner_score(make: Callable[[], Any], X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """Mean log loss over the inner subject-grouped folds (lower is better): a proper score, stable at this size."""
    from sklearn.metrics import log_loss

    classes = np.unique(y)
    losses = []
    for tr, te in _inner_splits(groups, y, seed):
        if len(np.unique(y[tr])) < len(classes):
            continue
        m = make().fit(X[tr], y[tr])
        losses.append(log_loss(y[te], m.predict_proba(X[te]), labels=classes))
    return float(np.mean(losses)) if losses else float("inf")


def fit_head(head: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0,
             candidates: dict[str, np.ndarray] | None = None):
    """A fitted head on one training fold (inner CV inside it for ``*_cv`` and ``auto``); returns
    ``(predict_proba_fn, chosen)`` where ``chosen`` names what the inner CV picked."""
    from sklearn.ensemble import RandomForestClassifier

    if head == "linear":
        from gaitscope.models.classifiers import LinearProbe

        m = LinearProbe().fit(X, y)
        return m.predict_proba, "C=0.1"
    if head == "rf":
        m = _pipe(RandomForestClassifier(n_estimators=200, min_samples_leaf=2, class_weight="balanced",
                                         random_state=seed, n_jobs=1)).fit(X, y)
        return m.predict_proba, "fixed"
    if head in ("logreg_cv", "lasso_cv"):
        pen, grid = ("l2", L2_GRID) if head == "logreg_cv" else ("l1", L1_GRID)
        scores = {C: _inner_score(lambda C=C: _pipe(_logreg(C, pen)), X, y, groups, seed) for C in grid}
        C = min(scores, key=scores.get)
        m = _pipe(_logreg(C, pen)).fit(X, y)
        return m.predict_proba, f"C={C:g}"
    raise ValueError(f"unknown head {head!r}")


def fit_auto(mats: dict[str, np.ndarray], tr: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0):
    """Feature set AND L2 strength chosen by inner CV on the training fold only: ``(fs, C, fitted pipeline)``."""
    best = (float("inf"), None, None)
    for fs, X in mats.items():
        for C in L2_GRID:
            s = _inner_score(lambda C=C: _pipe(_logreg(C)), X[tr], y[tr], groups[tr], seed)
            if s < best[0]:
                best = (s, fs, C)
    _, fs, C = best
    return fs, C, _pipe(_logreg(C)).fit(mats[fs][tr], y[tr])


# ---------------------------------------------------------------------------------------------------------
# Nested cross-validation: every choice by inner leave-one-subject-out on the training fold
# ---------------------------------------------------------------------------------------------------------

#: Dimension reductions the ``nested`` head may choose (inside the pipeline, so they are fit on training rows only):
#: none (only for sets of at most :data:`MAX_FEATURES_UNREDUCED` columns), PCA to 10 components, the 10 best
#: columns by ANOVA F (``SelectKBest(f_classif)``). (PCA to 3 was dropped for compute before any real-task run.)
NESTED_REDUCERS: tuple[str, ...] = ("none", "pca10", "kbest10")
NESTED_C: tuple[float, ...] = (0.01, 0.1, 1.0)
MAX_FEATURES_UNREDUCED = 200


@dataclass(frozen=True)
class NestedConfig:
    """One candidate model of the nested head: feature set, reduction and L2 strength."""

    feature_set: str
    reducer: str
    C: float

    def label(self) -> str:
        return f"{self.feature_set}/{self.reducer}/C={self.C:g}"


def _reducer_pipe(reducer: str, n_features: int, n_train: int, impute: bool = True):
    """Impute (median) -> standardise -> reduction: the part of a nested candidate that does not depend on C.
    ``impute=False`` leaves out the imputer (for a matrix without NaN, where it is the identity and the slowest
    step)."""
    from sklearn.decomposition import PCA
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[Any] = ([SimpleImputer(strategy="median", keep_empty_features=True)] if impute else []) + [
        StandardScaler()]
    if reducer.startswith("pca"):
        steps.append(PCA(n_components=min(int(reducer[3:]), n_features, n_train - 1), random_state=0))
    elif reducer.startswith("kbest"):
        steps.append(SelectKBest(f_classif, k=min(int(reducer[5:]), n_features)))
    return make_pipeline(*steps)


def _reduced_pipe(reducer: str, C: float, n_features: int, n_train: int):
    """:func:`_reducer_pipe` followed by L2 logistic regression (balanced classes): one nested candidate."""
    pipe = _reducer_pipe(reducer, n_features, n_train)
    pipe.steps.append(("logisticregression", _logreg(C)))
    return pipe


def nested_configs(mats: dict[str, np.ndarray], reducers: tuple[str, ...] = NESTED_REDUCERS,
                   Cs: tuple[float, ...] = NESTED_C) -> list[NestedConfig]:
    """The grid of the nested head over the given feature sets (sets too wide for no reduction skip "none"; a
    reduction to at least as many columns as the set has is the same as "none" and skipped)."""
    out = []
    for fs, X in mats.items():
        for r in reducers:
            if r == "none" and X.shape[1] > MAX_FEATURES_UNREDUCED:
                continue
            if r != "none" and X.shape[1] <= int(r.lstrip("pcakbest")):
                continue
            out.extend(NestedConfig(fs, r, C) for C in Cs)
    return out


def inner_loso_log_loss(feature_set: str, reducer: str, Cs: tuple[float, ...], X: np.ndarray, y: np.ndarray,
                        groups: np.ndarray, k: int) -> dict[float, float]:
    """Pooled log loss of each C's out-of-fold predictions under leave-one-subject-out on (X, y, groups): the
    TRAINING fold of the outer loop only. Lower is better (a proper score: it rewards calibrated probabilities,
    not one lucky threshold). The reduction is fit once per inner fold and shared by the Cs."""
    from sklearn.metrics import log_loss

    proba = {C: np.zeros((len(y), k)) for C in Cs}
    for tr, te in subject_splits(groups, "loso"):
        seen = np.unique(y[tr])
        if len(seen) < 2:
            for C in Cs:
                proba[C][te, seen[0]] = 1.0
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            red = _reducer_pipe(reducer, X.shape[1], len(tr), impute=bool(np.isnan(X).any()))
            Z_tr = red.fit_transform(X[tr], y[tr])
            Z_te = red.transform(X[te])
            for C in Cs:
                proba[C][te] = _aligned(_logreg(C).fit(Z_tr, y[tr]).predict_proba(Z_te), seen, k)
    out = {}
    for C, p in proba.items():
        p = np.clip(p, 1e-6, 1.0)
        out[C] = float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=list(range(k))))
    return out


def fit_nested(mats: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray, k: int,
               reducers: tuple[str, ...] = NESTED_REDUCERS, Cs: tuple[float, ...] = NESTED_C):
    """Choose (feature set, reduction, C) by :func:`inner_loso_log_loss` on these rows only, refit the winner on
    all of them. ``mats`` holds the TRAINING rows of each candidate set; returns ``(config, fitted pipeline)``."""
    from threadpoolctl import threadpool_limits

    scores: dict[NestedConfig, float] = {}
    pairs = sorted({(c.feature_set, c.reducer) for c in nested_configs(mats, reducers, Cs)})
    # one BLAS thread: at 40 x 3000 the matrices are too small to gain from threads, and on a shared machine
    # oversubscribed threads made each fit 10x slower
    with threadpool_limits(limits=1):
        for fs, r in pairs:
            for C, loss in inner_loso_log_loss(fs, r, Cs, mats[fs], y, groups, k).items():
                scores[NestedConfig(fs, r, C)] = loss
    best = min(scores, key=lambda c: (scores[c], c.label()))
    X = mats[best.feature_set]
    m = _reduced_pipe(best.reducer, best.C, X.shape[1], len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X, y)
    return best, m


# ---------------------------------------------------------------------------------------------------------
# Out-of-fold predictions and metrics
# ---------------------------------------------------------------------------------------------------------


def _aligned(proba: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((proba.shape[0], k))
    out[:, np.asarray(seen, dtype=int)] = proba
    return out


def oof_proba(head: str, X: np.ndarray | dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray, k: int,
              splits, seed: int = 0, nested_grid: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """Out-of-fold ``(n, k)`` probabilities and what each fold's inner CV chose. ``X`` is a dict for ``auto`` and
    ``nested_sets``; ``nested_grid`` (``reducers``, ``Cs``) narrows the nested heads' grid (tests)."""
    proba = np.full((len(y), k), np.nan)
    chosen = []
    for tr, te in splits:
        seen = np.unique(y[tr])
        if len(seen) < 2:
            proba[te] = 0.0
            proba[te, seen[0]] = 1.0
            chosen.append("one class")
            continue
        if head == "auto":
            fs, C, m = fit_auto(X, tr, y, groups, seed)
            proba[te] = _aligned(m.predict_proba(X[fs][te]), seen, k)
            chosen.append(f"{fs} C={C:g}")
        elif head in ("nested", "nested_sets"):
            cand = X if isinstance(X, dict) else {"-": X}
            cfg, m = fit_nested({fs: M[tr] for fs, M in cand.items()}, y[tr], groups[tr], k, **(nested_grid or {}))
            proba[te] = _aligned(m.predict_proba(cand[cfg.feature_set][te]), seen, k)
            chosen.append(cfg.label().removeprefix("-/"))
        else:
            fn, what = fit_head(head, X[tr], y[tr], groups[tr], seed)
            proba[te] = _aligned(fn(X[te]), seen, k)
            chosen.append(what)
    return proba, chosen


def metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """sklearn.metrics on pooled predictions; ROC AUC for two classes only (NaN when one class is absent)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    labels = list(range(k))
    out = {
        "accuracy": accuracy_score(y, pred),
        "balanced_accuracy": balanced_accuracy_score(y, pred) if len(np.unique(y)) > 1 else float("nan"),
        "weighted_f1": f1_score(y, pred, labels=labels, average="weighted", zero_division=0),
        "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
        "brier": float(np.mean(np.sum((proba - np.eye(k)[y]) ** 2, axis=1))),
    }
    if k == 2:
        out["roc_auc"] = roc_auc_score(y, proba[:, 1]) if len(np.unique(y)) == 2 else float("nan")
    return out


def _person_wins(df: pd.DataFrame) -> pd.Series:
    """Per person with both walks (index: pidn, sorted): 1 when the OFF walk got the higher P(OFF), 0.5 for a
    tie, else 0."""
    wins = {}
    for pidn, g in df.groupby("pidn"):
        if set(g["state"]) != {"off", "on"}:
            continue
        p_off = float(g.loc[g["state"] == "off", "p_1"].iloc[0])
        p_on = float(g.loc[g["state"] == "on", "p_1"].iloc[0])
        wins[str(pidn)] = 1.0 if p_off > p_on else 0.5 if p_off == p_on else 0.0
    return pd.Series(wins, dtype=float).sort_index()


def _paired_wins(df: pd.DataFrame) -> np.ndarray:
    return _person_wins(df).to_numpy()


def paired_accuracy(df: pd.DataFrame) -> float:
    """Share of people whose OFF walk got a higher P(OFF) than their ON walk (ties count half)."""
    wins = _paired_wins(df)
    return float(wins.mean()) if len(wins) else float("nan")


CI_METRICS: tuple[str, ...] = ("accuracy", "roc_auc", "weighted_f1", "macro_f1", "balanced_accuracy")


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half), numpy-fast for the bootstrap."""
    from scipy.stats import rankdata

    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return float("nan")
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def bootstrap(y: np.ndarray, proba: np.ndarray, resamples) -> dict[str, np.ndarray]:
    """Each CI metric over each subject resample: the confusion-matrix metrics of
    :func:`gaitscope.models.evaluation.bootstrap_metrics` (which match sklearn's) and, for two classes, the
    ROC AUC."""
    k = proba.shape[1]
    out = bootstrap_metrics(y, proba, resamples, ("accuracy", "weighted_f1", "macro_f1", "balanced_accuracy"))
    out["roc_auc"] = np.array([_auc(y[rs], proba[rs, 1]) if k == 2 else float("nan") for rs in resamples])
    return {m: out[m] for m in CI_METRICS}


@dataclass
class TaskResult:
    task: TaskSpec
    table: pd.DataFrame
    predictions: pd.DataFrame  # one row per walk and model
    labels: pd.DataFrame  # the task's walks
    settings: dict[str, Any] = field(default_factory=dict)


def evaluate_task(task: str, labels: pd.DataFrame, mats: dict[str, np.ndarray], *,
                  feature_sets: tuple[str, ...] = FEATURE_SETS, heads: tuple[str, ...] = HEADS,
                  auto: bool = True, nested_sets: tuple[str, ...] | None = None,
                  n_boot: int = 1000, seed: int = 0, cells: tuple[tuple[str, str], ...] | None = None,
                  progress: Callable[[str], None] | None = None) -> TaskResult:
    """Every feature set x head (plus ``auto`` and the majority baseline) under LOSO on one task; with ``cells``
    only those ``(feature_set, head)`` models (``*_within`` sets included on ``off_on``) and the baseline."""
    spec = TASKS[task]
    k = len(spec.class_names)
    y = labels["label"].to_numpy(dtype=int)
    groups = labels["pidn"].to_numpy().astype(str)
    splits = subject_splits(groups, "loso")
    assert_subject_disjoint(groups, splits)
    resamples = subject_bootstrap_indices(groups, n_boot, seed=seed) if n_boot else []
    variants: list[tuple[str, str, Any]] = [("-", "majority", None)]
    sets = {fs: mats[fs] for fs in feature_sets}
    if task == "off_on":  # the within-person variant of every set
        sets.update({f"{fs}_within": within_person(mats[fs], groups) for fs in feature_sets})
    for fs, X in sets.items():
        for h in heads:
            variants.append((fs, h, X))
    if cells is not None:
        missing = [f"{fs}/{h}" for fs, h in cells if fs not in sets]
        if missing:
            raise ValueError(f"unknown feature set in {missing}; use {', '.join(sets)}")
        heads = tuple(dict.fromkeys(h for _, h in cells))
        variants = variants[:1] + [(fs, h, sets[fs]) for fs, h in dict.fromkeys(cells)]
        auto, nested_sets = False, None
    if auto:
        variants.append(("auto", "auto", {fs: X for fs, X in sets.items()}))
    if nested_sets:  # the one honest headline: set, reduction and C chosen by inner LOSO among fixed candidates
        variants.append(("nested_sets", "nested_sets", {fs: mats[fs] for fs in nested_sets}))
    unknown = [h for h in heads if h not in ALL_HEADS]
    if unknown:
        raise ValueError(f"unknown head(s) {unknown}; use {', '.join(ALL_HEADS)}")
    rows, preds = [], []
    for fs, head, X in variants:
        if progress:
            progress(f"{task}: {fs} / {head}")
        if head == "majority":
            proba, chosen = majority_proba(y, k), ["prior"]
        else:
            proba, chosen = oof_proba(head, X, y, groups, k, splits, seed)
        row: dict[str, Any] = {"feature_set": fs, "head": head,
                               "n_features": "" if not isinstance(X, np.ndarray) else X.shape[1]}
        row.update(metrics(y, proba))
        pf = labels[["walk_id", "pidn", "state", "label"]].copy()
        pf["feature_set"], pf["head"], pf["predicted"] = fs, head, proba.argmax(axis=1)
        for c in range(k):
            pf[f"p_{c}"] = proba[:, c]
        if task == "off_on":
            row["paired_accuracy"] = paired_accuracy(pf)
        if resamples:
            boot = bootstrap(y, proba, resamples)
            for m in CI_METRICS:
                if m in row:
                    row[f"{m}_lo"], row[f"{m}_hi"] = percentile_ci(boot[m])
        if task == "off_on" and resamples:
            wins = _paired_wins(pf)
            rng = np.random.default_rng(seed)
            pv = [wins[rng.integers(0, len(wins), len(wins))].mean() for _ in range(len(resamples))]
            row["paired_accuracy_lo"], row["paired_accuracy_hi"] = percentile_ci(np.array(pv))
        row["inner_cv_chose"] = "; ".join(f"{c} x{n}" for c, n in pd.Series(chosen).value_counts().head(3).items())
        rows.append(row)
        preds.append(pf)
    settings = {"task": task, "title": spec.title, "n_walks": len(y), "n_subjects": int(len(np.unique(groups))),
                "class_names": list(spec.class_names), "class_counts": np.bincount(y, minlength=k).tolist(),
                "scheme": "leave one subject out", "n_boot": n_boot, "seed": seed, "published": spec.published}
    return TaskResult(spec, pd.DataFrame(rows), pd.concat(preds, ignore_index=True), labels, settings)


# ---------------------------------------------------------------------------------------------------------
# What a researcher sees: tables, per-subject predictions, confusion matrix, calibration plot
# ---------------------------------------------------------------------------------------------------------


def model_predictions(res: TaskResult, feature_set: str, head: str) -> pd.DataFrame:
    p = res.predictions
    sel = p[(p["feature_set"] == feature_set) & (p["head"] == head)]
    if sel.empty:
        raise KeyError(f"no predictions for {feature_set}/{head}")
    return sel


#: The metric each task's "at least equal" question is asked on (as the tables of docs/validation.md use them).
KEY_METRICS: dict[str, str] = {"updrs3_high": "roc_auc", "gait_0_3": "weighted_f1", "gait_any": "weighted_f1",
                               "off_on": "paired_accuracy"}


@dataclass(frozen=True)
class PairedDifference:
    """Model A minus model B on one task's metric, both scored on the same subject bootstrap resamples.

    Why paired: the two models predict the same walks of the same people, so most of the resampling noise (which
    people happen to be drawn) is shared; the CI of the difference is much narrower than the two models' CIs
    side by side would suggest, and it is the CI a non-inferiority question needs."""

    task: str
    metric: str
    model_a: str
    model_b: str
    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    share_a_ge_b: float  # of the resamples where both metrics are defined
    n_people: int
    n_boot: int

    def verdict(self, delta: float) -> str:
        """Non-inferior when the CI's lower end is above ``-delta``, "worse" when its upper end is below 0,
        else "cannot tell" (non-inferiority by a margin: Piaggio et al., JAMA 2012, CONSORT extension)."""
        if self.ci_low > -delta:
            return f"non-inferior by {delta:g}"
        if self.ci_high < 0:
            return "worse"
        return "cannot tell"


def _model_arrays(res: TaskResult, model: tuple[str, str]) -> pd.DataFrame:
    return model_predictions(res, *model).sort_values("walk_id").reset_index(drop=True)


def _metric_and_resamples(metric: str, pf: pd.DataFrame, k: int, n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    """The metric on all walks and on each subject resample (:func:`subject_bootstrap_indices` with ``seed``)."""
    if metric == "paired_accuracy":  # a person-level score: resample the people (same draws: one row a person)
        wins = _person_wins(pf)
        rs = subject_bootstrap_indices(wins.index.to_numpy(), n_boot, seed=seed)
        return float(wins.mean()), np.array([wins.to_numpy()[r].mean() for r in rs])
    y = pf["label"].to_numpy(dtype=int)
    proba = pf[[f"p_{c}" for c in range(k)]].to_numpy()
    rs = subject_bootstrap_indices(pf["pidn"].to_numpy().astype(str), n_boot, seed=seed)
    return float(metrics(y, proba)[metric]), bootstrap(y, proba, rs)[metric]


def compare_models(res: TaskResult, model_a: tuple[str, str], model_b: tuple[str, str], *,
                   metric: str | None = None, n_boot: int | None = None, seed: int | None = None) -> PairedDifference:
    """Paired difference A - B of ``metric`` (default: the task's :data:`KEY_METRICS`) between two models of
    ``res`` (``(feature_set, head)``), with its 95 % percentile CI over the same resamples of people for both
    (by default those of ``res``: its ``n_boot`` and ``seed``)."""
    metric = metric or KEY_METRICS[res.task.name]
    if metric not in CI_METRICS + ("paired_accuracy",):
        raise ValueError(f"unknown metric {metric!r}; use {', '.join(CI_METRICS + ('paired_accuracy',))}")
    n_boot = int(res.settings.get("n_boot") or 1000) if n_boot is None else n_boot
    seed = int(res.settings.get("seed", 0)) if seed is None else seed
    a, b = _model_arrays(res, model_a), _model_arrays(res, model_b)
    if not (a["walk_id"].equals(b["walk_id"]) and a["label"].equals(b["label"])):
        raise ValueError("the two models did not predict the same walks")
    k = len(res.task.class_names)
    va, boot_a = _metric_and_resamples(metric, a, k, n_boot, seed)
    vb, boot_b = _metric_and_resamples(metric, b, k, n_boot, seed)
    diff = boot_a - boot_b
    ok = np.isfinite(diff)
    lo, hi = percentile_ci(diff)
    return PairedDifference(res.task.name, metric, "/".join(model_a), "/".join(model_b), va, vb, va - vb, lo, hi,
                            float((diff[ok] >= 0).mean()) if ok.any() else float("nan"),
                            int(a["pidn"].nunique()), n_boot)


def parse_model_pairs(specs: list[str]) -> tuple[tuple[tuple[str, str], tuple[str, str]], ...]:
    """``["FS:HEAD,FS:HEAD", ...]`` (the ``--compare`` options of the CLI and ``benchmarks/pd_real.py``) -> pairs
    of ``(feature_set, head)``; ValueError naming the malformed one."""
    pairs = []
    for spec in specs:
        models = [tuple(m.split(":")) for m in spec.split(",")]
        if len(models) != 2 or any(len(m) != 2 or not all(m) for m in models):
            raise ValueError(f"--compare takes FS:HEAD,FS:HEAD (got {spec!r})")
        pairs.append((models[0], models[1]))
    return tuple(pairs)  # type: ignore[return-value]


def compared_cells(pairs) -> tuple[tuple[str, str], ...]:
    """The distinct models named by ``pairs`` (what :func:`evaluate_task` must fit, via ``cells``)."""
    return tuple(dict.fromkeys(m for p in pairs for m in p))


def compared_sets(cells: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The feature sets :func:`evaluate_task` must build for ``cells`` (a ``*_within`` set from its base set)."""
    return tuple(dict.fromkeys(fs.removesuffix("_within") for fs, _ in cells))


def paired_report(res: TaskResult, pairs, delta: float, out_dir: str | Path) -> str:
    """:func:`compare_models` for each pair, written as ``paired.md`` in ``out_dir``; returns the text to print."""
    table = paired_markdown([compare_models(res, a, b) for a, b in pairs], delta)
    (Path(out_dir) / "paired.md").write_text(table + "\n")
    st = res.settings
    return f"paired difference A - B, same {st['n_boot']} resamples of people (seed {st['seed']}):\n{table}"


def paired_markdown(rows: list[PairedDifference], delta: float) -> str:
    """The paired comparisons as a markdown table, with the verdict at margin ``delta``."""
    lines = ["| task | metric | A | B | A | B | A - B [95 % CI] | share A >= B | people | verdict (delta "
             f"{delta:g}) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.task} | {r.metric} | {r.model_a} | {r.model_b} | {r.value_a:.2f} | {r.value_b:.2f} | "
                     f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.share_a_ge_b:.2f} | "
                     f"{r.n_people} | {r.verdict(delta)} |")
    return "\n".join(lines)


def per_subject_table(res: TaskResult, feature_set: str = "auto", head: str = "auto") -> pd.DataFrame:
    """One row per person: their walks' true and predicted classes and P(class) of the chosen model."""
    sel = model_predictions(res, feature_set, head)
    names = res.task.class_names
    rows = []
    for r in sel.sort_values(["pidn", "state"]).itertuples(index=False):
        d = {"subject": r.pidn, "walk": r.state.upper(), "true": names[int(r.label)],
             "predicted": names[int(r.predicted)], "correct": int(r.label) == int(r.predicted)}
        for c, n in enumerate(names):
            d[f"P({n})"] = round(float(getattr(r, f"p_{c}")), 3)
        rows.append(d)
    return pd.DataFrame(rows)


def plot_model(res: TaskResult, out_dir: str | Path, feature_set: str = "auto", head: str = "auto") -> dict[str, Path]:
    """``confusion.png`` and ``calibration.png`` (5 quantile bins; binary: P(positive), multi-class: top-label
    confidence vs accuracy) of one model."""
    from gaitscope.reports.classifier_plots import confusion_png, reliability_png

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sel = model_predictions(res, feature_set, head)
    names = res.task.class_names
    k = len(names)
    y = sel["label"].to_numpy(dtype=int)
    proba = sel[[f"p_{c}" for c in range(k)]].to_numpy()
    cm = confusion(y, proba.argmax(axis=1), k)
    paths = {"confusion_png": confusion_png(cm, names, f"{res.task.name}: {feature_set}/{head}", out / "confusion.png")}
    if k == 2:
        target, conf, xlabel = y, proba[:, 1], f"predicted P({names[1]})"
    else:
        target, conf, xlabel = (proba.argmax(axis=1) == y).astype(int), proba.max(axis=1), "confidence (top class)"
    paths["calibration_png"] = reliability_png(target, conf, out / "calibration.png", xlabel=xlabel,
                                               ylabel="observed frequency",
                                               title=f"calibration (5 quantile bins, n={len(y)})", n_bins=5,
                                               strategy="quantile")
    return paths


def save(res: TaskResult, out_dir: str | Path) -> dict[str, Path]:
    """table.csv, predictions.csv, per_subject.csv, settings.json and the plots of the ``auto`` model."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "table.csv", "predictions": out / "predictions.csv", "per_subject": out / "per_subject.csv",
             "settings": out / "settings.json"}
    res.table.to_csv(paths["table"], index=False, float_format="%.4f")
    res.predictions.to_csv(paths["predictions"], index=False, float_format="%.4f")
    fs, head = ("nested_sets", "nested_sets") if (res.table["head"] == "nested_sets").any() else \
        ("auto", "auto") if (res.table["head"] == "auto").any() else tuple(
        res.table[res.table["head"] != "majority"].iloc[0][["feature_set", "head"]])
    per_subject_table(res, fs, head).to_csv(paths["per_subject"], index=False)
    paths["settings"].write_text(json.dumps(res.settings, indent=2, default=str))
    paths.update(plot_model(res, out, fs, head))
    return paths


def _ci(row: pd.Series, m: str) -> str:
    v = row.get(m)
    if v is None or not np.isfinite(v):
        return "-"
    lo, hi = row.get(f"{m}_lo", np.nan), row.get(f"{m}_hi", np.nan)
    return f"{v:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{v:.2f}"


def summary_text(res: TaskResult) -> str:
    """What the command line prints for a task: the title, walks, people and classes, the published numbers where
    there are some, and the markdown table (``gaitscope evaluate-classifier --data pd-real`` and
    ``benchmarks/pd_real.py``)."""
    st = res.settings
    lines = [f"{st['title']}: {st['n_walks']} walks of {st['n_subjects']} people, classes "
             f"{dict(zip(st['class_names'], st['class_counts']))}; leave one subject out, 95 % CI bootstrap over "
             f"people ({st['n_boot']})"]
    if st["published"]:
        lines.append(f"published: {st['published']}")
    lines.append(markdown(res))
    return "\n".join(lines)


def markdown(res: TaskResult, metrics_shown: tuple[str, ...] | None = None) -> str:
    """The task's table as markdown (value [95 % CI]), majority baseline first."""
    if metrics_shown is None:
        metrics_shown = (("accuracy", "roc_auc", "balanced_accuracy", "macro_f1") if len(res.task.class_names) == 2
                         else ("weighted_f1", "macro_f1", "balanced_accuracy"))
        if res.task.name == "off_on":
            metrics_shown = metrics_shown + ("paired_accuracy",)
    head = "| features | head | " + " | ".join(metrics_shown) + " | inner CV chose |"
    lines = [head, "|" + "---|" * (len(metrics_shown) + 3)]
    for _, r in res.table.iterrows():
        fs = "majority baseline" if r["head"] == "majority" else r["feature_set"]
        lines.append(f"| {fs} | {r['head']} | " + " | ".join(_ci(r, m) for m in metrics_shown)
                     + f" | {r.get('inner_cv_chose', '') if r['head'] not in ('majority', 'linear', 'rf') else ''} |")
    return "\n".join(lines)


def wide_markdown(table: pd.DataFrame, metrics_shown: tuple[str, ...]) -> str:
    """Compact table: one row per feature set, one column per head, cells ``metric [95 % CI]`` joined by " / "."""
    heads = [h for h in ALL_HEADS if h in set(table["head"])]
    lines = ["| features | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    base = table[table["head"] == "majority"]
    if len(base):
        cell = " / ".join(_ci(base.iloc[0], m) for m in metrics_shown)
        lines.append(f"| majority baseline | {cell} |" + " |" * (len(heads) - 1))
    for fs in [f for f in table["feature_set"].unique() if f not in ("-", "auto", "nested_sets")]:
        cells = []
        for h in heads:
            r = table[(table["feature_set"] == fs) & (table["head"] == h)]
            cells.append(" / ".join(_ci(r.iloc[0], m) for m in metrics_shown) if len(r) else "")
        lines.append(f"| {fs} | " + " | ".join(cells) + " |")
    for name, title in (("auto", "**auto** (set and C by inner 5-fold CV)"),
                        ("nested_sets", "**nested_sets** (set, reduction and C by inner LOSO)")):
        sel = table[table["head"] == name]
        if len(sel):
            r = sel.iloc[0]
            lines.append(f"| {title} | {' / '.join(_ci(r, m) for m in metrics_shown)} |" + " |" * (len(heads) - 1))
    return "\n".join(lines)
