"""The nested protocol of gaitscope.training.pd_eval (feature set, reduction and C chosen by inner
leave-one-subject-out on the training fold only): it never sees the held-out subject, it cannot exploit a planted
selection leak that a leaky protocol does exploit, and it still finds a real signal."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.training import pd_eval

#: A narrower grid than the benchmark's (same code path), so the tests take seconds on a shared machine.
GRID = {"reducers": ("none", "pca3", "kbest10"), "Cs": (0.1, 1.0)}


def _people(n: int, seed: int, n_noise: int):
    """Two walks per person, a random label per person, ``n_noise`` pure-noise columns."""
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.permutation(np.arange(n) % 2), 2)
    groups = np.repeat([f"p{i:02d}" for i in range(n)], 2)
    X = rng.normal(size=(2 * n, n_noise))
    return X, y, groups


def _auc(y, p):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, p)


def test_nested_selection_never_sees_the_held_out_subject(monkeypatch):
    calls: list[set] = []
    real = pd_eval.inner_loso_log_loss

    def spy(fs, reducer, Cs, X, y, groups, k):
        calls.append(set(groups))
        return real(fs, reducer, Cs, X, y, groups, k)

    monkeypatch.setattr(pd_eval, "inner_loso_log_loss", spy)
    X, y, groups = _people(6, 0, 12)
    splits = pd_eval.subject_splits(groups, "loso")
    mats = {"a": X[:, :6], "b": X[:, 6:]}
    pd_eval.oof_proba("nested_sets", mats, y, groups, 2, splits, nested_grid=GRID)
    per_fold = len({(c.feature_set, c.reducer) for c in pd_eval.nested_configs(mats, **GRID)})
    assert len(calls) == per_fold * len(splits)
    for f, (tr, te) in enumerate(splits):
        for g in calls[f * per_fold:(f + 1) * per_fold]:
            assert g == set(groups[tr])  # the training subjects, all of them, and only them
            assert not (g & set(groups[te]))


def test_planted_selection_leak_is_exploited_only_by_a_leaky_protocol():
    """Labels are random per person and all 400 columns are noise. Choosing the 10 columns most correlated with
    the label on ALL walks, then cross-validating (the classic selection-bias error, Ambroise & McLachlan, PNAS
    2002), 'finds' a signal; the nested protocol, which selects inside each training fold, stays at chance."""
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression

    leaky, honest = [], []
    for seed in range(2):
        X, y, groups = _people(12, seed, 300)
        splits = pd_eval.subject_splits(groups, "loso")
        X_sel = SelectKBest(f_classif, k=10).fit_transform(X, y)  # the leak: selection saw every test walk
        p = np.zeros(len(y))
        for tr, te in splits:
            p[te] = LogisticRegression(C=1.0, max_iter=2000).fit(X_sel[tr], y[tr]).predict_proba(X_sel[te])[:, 1]
        leaky.append(_auc(y, p))
        proba, _ = pd_eval.oof_proba("nested", X, y, groups, 2, splits, nested_grid=GRID)
        honest.append(_auc(y, proba[:, 1]))
    assert np.mean(leaky) > 0.85  # the planted leak works on a leaky protocol
    assert np.mean(honest) < 0.7  # chance is 0.5 (LOSO on pure noise tends to land below it)


def test_nested_finds_a_real_signal_among_noise():
    X, y, groups = _people(12, 3, 30)
    rng = np.random.default_rng(4)
    X[:, 7] = y + rng.normal(scale=0.25, size=len(y))
    splits = pd_eval.subject_splits(groups, "loso")
    proba, chosen = pd_eval.oof_proba("nested", X, y, groups, 2, splits, nested_grid=GRID)
    assert _auc(y, proba[:, 1]) > 0.85
    assert len(chosen) == len(splits) and all("C=" in c for c in chosen)


def test_nested_sets_row_in_the_task_table():
    import pandas as pd

    X, y, groups = _people(8, 5, 8)
    X[:, 0] = y + np.random.default_rng(6).normal(scale=0.3, size=len(y))
    labels = pd.DataFrame({"walk_id": [f"w{i}" for i in range(len(y))], "pidn": groups, "state": "off", "label": y})
    res = pd_eval.evaluate_task("updrs3_high", labels, {"good": X[:, :4], "noise": X[:, 4:]},
                                feature_sets=("good",), heads=("nested",), auto=False,
                                nested_sets=("good", "noise"), n_boot=50)
    t = res.table.set_index("head")
    assert t.loc["nested_sets", "roc_auc"] > 0.8
    assert "good/" in t.loc["nested_sets", "inner_cv_chose"]
    with pytest.raises(ValueError, match="unknown head"):
        pd_eval.evaluate_task("updrs3_high", labels, {"good": X}, feature_sets=("good",), heads=("bogus",),
                              auto=False, n_boot=0)
