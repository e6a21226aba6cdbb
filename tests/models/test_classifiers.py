"""Classifier heads (sklearn API, persistence), the evaluation protocol's splits and metrics.

Fast tests on small synthetic matrices; the synthetic-cohort tests (heads vs the majority baseline on walks) are in
``test_classifiers_cohort.py``.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
)

from gaitscope.models.classifiers import (
    FinetuneClassifier,
    LinearProbe,
    MLPHead,
    head_from_bytes,
    head_to_bytes,
    make_head,
)
from gaitscope.models.evaluation import (
    assert_subject_disjoint,
    brier_multiclass,
    classification_metrics,
    confusion,
    cross_val_proba,
    evaluate,
    expected_calibration_error,
    metrics_from_confusion,
    spearman_agreement,
    subject_bootstrap_indices,
    subject_splits,
)
from gaitscope.models.features import LabelledFeatures, kinematic_names


def _blobs(n_per_class: int = 20, k: int = 3, d: int = 6, sep: float = 3.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, sep, (k, d))
    X = np.concatenate([rng.normal(c, 1.0, (n_per_class, d)) for c in centres])
    y = np.repeat(np.arange(k), n_per_class)
    return X, y


def _dataset(n_subjects: int = 12, walks: int = 3, d_emb: int = 8, seed: int = 0, signal: float = 2.0):
    """A feature dataset where the label is a subject property and each subject has its own offset."""
    rng = np.random.default_rng(seed)
    k_names = kinematic_names()
    seq, subj, lab, kin, emb = [], [], [], [], []
    for s in range(n_subjects):
        c = s % 4
        offset = rng.normal(0, 1.0, len(k_names))
        eoff = rng.normal(0, 1.0, d_emb)
        for w in range(walks):
            seq.append(f"S{s}_W{w}")
            subj.append(f"S{s}")
            lab.append(c)
            kin.append(offset + signal * c + rng.normal(0, 0.3, len(k_names)))
            emb.append(eoff + signal * c * 0.5 + rng.normal(0, 0.3, d_emb))
    return LabelledFeatures(np.array(seq), np.array(subj), np.array(lab), ("0", "1", "2", "3"), np.array(kin),
                            np.array(emb), description="unit-test blobs")


# ---------------------------------------------------------------------------------------------------------
# sklearn estimator contract
# ---------------------------------------------------------------------------------------------------------


def _failed_checks(estimator) -> list[str]:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    return [f"{r['check_name']}: {r['exception']!r}"[:300] for r in results if r["status"] == "failed"]


def test_linear_probe_passes_sklearn_check_estimator():
    assert _failed_checks(LinearProbe()) == []


def test_mlp_head_passes_sklearn_check_estimator():
    assert _failed_checks(MLPHead(max_epochs=60, lr=1e-2)) == []


@pytest.mark.parametrize("head", [LinearProbe(), MLPHead(max_epochs=100)], ids=["linear", "mlp"])
def test_heads_learn_separable_classes_and_keep_params(head):
    X, y = _blobs()
    params = head.get_params()
    head.fit(X, y)
    assert head.get_params() == params  # fit never rewrites a constructor parameter
    assert head.score(X, y) > 0.9
    proba = head.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert list(head.classes_) == [0, 1, 2]


def test_heads_impute_missing_features_with_training_medians():
    X, y = _blobs(d=4)
    X[::5, 1] = np.nan
    head = LinearProbe().fit(X, y)
    assert np.isfinite(head.fill_).all()
    row = X[:1].copy()
    row[0, :] = np.nan  # an analysis that measured nothing still gets a (prior-like) prediction
    assert np.isfinite(head.predict_proba(row)).all()


def test_class_balanced_probe_recovers_the_minority_class():
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 1, (90, 2)), rng.normal(1.5, 1, (10, 2))])
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    balanced = LinearProbe(C=1.0).fit(X, y)
    plain = LinearProbe(C=1.0, class_weight=None).fit(X, y)
    rec_bal = np.mean(balanced.predict(X[y == 1]) == 1)
    rec_plain = np.mean(plain.predict(X[y == 1]) == 1)
    assert rec_bal > rec_plain and rec_bal >= 0.6


def test_single_class_training_raises_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        LinearProbe().fit(np.ones((4, 2)), np.zeros(4, int))


# ---------------------------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [LinearProbe(C=0.5), MLPHead(hidden_layer_sizes=(16, 8), max_epochs=80)],
                         ids=["linear", "mlp"])
def test_saved_and_reloaded_head_predicts_the_same(head):
    X, y = _blobs(seed=3)
    X[0, 2] = np.nan
    head.fit(X, np.array(["a", "b", "c"])[y])
    blob = head_to_bytes(head, extra={"feature_set": "kinematic"})
    again = head_from_bytes(blob)
    assert type(again) is type(head) and again.get_params() == head.get_params()
    np.testing.assert_array_equal(again.classes_, head.classes_)
    np.testing.assert_allclose(again.predict_proba(X), head.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(again.predict(X), head.predict(X))
    # the blob is a plain npz: loadable with pickle disabled, numbers and one JSON string only
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        assert all(z[k].dtype.kind in "biufU" for k in z.files)


def test_a_foreign_or_corrupt_blob_is_refused():
    with pytest.raises(ValueError):
        head_from_bytes(b"not an npz at all")
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array('{"format": "something-else"}'))
    with pytest.raises(ValueError, match="not a gaitscope classifier head"):
        head_from_bytes(buf.getvalue())


def test_labelled_features_roundtrip(tmp_path):
    data = _dataset(n_subjects=4, walks=2)
    data.extra["true_class"] = data.labels.copy()
    path = data.save(tmp_path / "f.npz")
    back = LabelledFeatures.load(path)
    np.testing.assert_array_equal(back.subject_ids, data.subject_ids)
    np.testing.assert_array_equal(back.kinematic, data.kinematic)
    np.testing.assert_array_equal(back.extra["true_class"], data.labels)
    assert back.class_names == data.class_names and back.matrix("both").shape == (8, len(kinematic_names()) + 8)


# ---------------------------------------------------------------------------------------------------------
# Fine-tuning (tiny run on CPU)
# ---------------------------------------------------------------------------------------------------------


def test_finetune_classifier_trains_end_to_end_and_reloads(tiny_config):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (8, 16, 17, 3)).astype(np.float32)
    X[..., 2] = 1.0
    y = np.array([0, 1] * 4)
    X[y == 1, :, :, 0] += 0.5  # a learnable difference
    head = FinetuneClassifier(config=tiny_config, steps=3, batch_size=4, lr=1e-3)
    head.fit(X, y)
    assert np.isfinite(head.loss_)
    proba = head.predict_proba(X)
    assert proba.shape == (8, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    again = head_from_bytes(head_to_bytes(head))
    np.testing.assert_allclose(again.predict_proba(X), proba, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, F, 17, 3\)"):
        head.predict_proba(np.zeros((2, 17, 3)))


def test_finetune_updates_the_backbone(tiny_config):
    import torch

    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (4, 8, 17, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    head = FinetuneClassifier(config=tiny_config, steps=2, batch_size=4, lr=1e-2, backbone_lr_mult=1.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        from gaitscope.models.dstformer import DSTformer

        init = DSTformer(**tiny_config.model_kwargs()).state_dict()
    head.fit(X, y)
    trained = head.model_.backbone.state_dict()
    changed = [k for k in init if not torch.equal(init[k], trained[k])]
    assert changed, "end-to-end fine-tuning must change encoder weights"


def test_make_head_names():
    assert isinstance(make_head("linear"), LinearProbe)
    assert isinstance(make_head("mlp", max_epochs=3), MLPHead)
    with pytest.raises(ValueError, match="unknown head"):
        make_head("forest")


# ---------------------------------------------------------------------------------------------------------
# Splits: never the same subject on both sides
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["loso", "group_kfold"])
def test_subject_splits_never_share_a_subject(scheme):
    rng = np.random.default_rng(0)
    groups = np.array([f"S{i}" for i in rng.integers(0, 15, 90)])
    y = rng.integers(0, 4, 90)
    splits = subject_splits(groups, scheme, n_splits=4, y=y, seed=1)
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested) == list(range(90))  # every row tested exactly once
    for tr, te in splits:
        assert not set(groups[tr]) & set(groups[te])
        assert len(set(tr) | set(te)) == 90
    if scheme == "loso":
        assert len(splits) == len(set(groups))


def test_leak_check_catches_a_walk_wise_split():
    from sklearn.model_selection import KFold

    groups = np.repeat([f"S{i}" for i in range(6)], 3)
    leaky = list(KFold(3, shuffle=True, random_state=0).split(groups))  # walks, not subjects
    with pytest.raises(ValueError, match="both training and test"):
        assert_subject_disjoint(groups, leaky)


def test_cross_validation_never_trains_on_the_test_subject():
    data = _dataset(n_subjects=8, walks=3)
    subj_code = np.unique(data.subject_ids, return_inverse=True)[1].astype(float)
    X = np.column_stack([subj_code, data.kinematic])  # column 0 tells each row's subject to the spy

    seen: list[set] = []

    class Spy(LinearProbe):
        def fit(self, X, y):
            seen.append(set(X[:, 0].tolist()))
            return super().fit(X, y)

        def predict_proba(self, X):
            assert not set(X[:, 0].tolist()) & seen[-1], "a test subject was in the training fold"
            return super().predict_proba(X)

    for scheme in ("loso", "group_kfold"):
        splits = subject_splits(data.subject_ids, scheme, n_splits=3, y=data.labels)
        cross_val_proba(Spy, X, data.labels, splits, 4)
    assert len(seen) == 8 + 3


def test_subject_identity_leak_would_inflate_scores():
    """Why subject-wise splits matter: with per-subject offsets and NO label signal, a walk-wise split lets the
    head recognise people (score above chance), a subject-wise split does not."""
    from sklearn.model_selection import StratifiedKFold

    data = _dataset(n_subjects=16, walks=4, signal=0.0, seed=5)
    X, y = data.kinematic, data.labels
    walkwise = list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))
    subjectwise = subject_splits(data.subject_ids, "group_kfold", n_splits=4, y=y)
    leak = classification_metrics(y, cross_val_proba(lambda: LinearProbe(C=1.0), X, y, walkwise, 4)[0])
    clean = classification_metrics(y, cross_val_proba(lambda: LinearProbe(C=1.0), X, y, subjectwise, 4)[0])
    assert leak["balanced_accuracy"] > 0.8
    assert clean["balanced_accuracy"] < 0.5


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------


def test_metrics_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 200)
    proba = rng.dirichlet(np.ones(4), 200)
    proba[np.arange(200), y] += rng.uniform(0, 1, 200)  # better than chance
    proba /= proba.sum(1, keepdims=True)
    pred = proba.argmax(1)
    m = classification_metrics(y, proba)
    assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(y, pred, labels=range(4)))
    assert m["qwk"] == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"))
    # multiclass Brier = sum over classes of the one-vs-rest Brier scores
    ovr = sum(brier_score_loss((y == c).astype(int), proba[:, c]) for c in range(4))
    assert m["brier"] == pytest.approx(ovr)


def test_metrics_with_a_class_never_predicted_match_sklearn():
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    pred = np.array([0, 0, 0, 1, 2, 0, 0])
    cm = confusion(y, pred, 4)
    m = metrics_from_confusion(cm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
        assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted", zero_division=0))


def test_calibration_metrics():
    y = np.array([0, 1, 0, 1])
    perfect = np.eye(2)[y]
    assert brier_multiclass(y, perfect) == 0.0
    assert expected_calibration_error(y, perfect) == 0.0
    # always 90 % confident, right half the time: ECE 0.4
    overconfident = np.array([[0.9, 0.1]] * 4)
    assert expected_calibration_error(y, overconfident) == pytest.approx(0.4)


def test_bootstrap_resamples_whole_subjects():
    groups = np.repeat(["a", "b", "c"], [1, 2, 3])
    for rows in subject_bootstrap_indices(groups, 20, seed=0):
        counts = {g: int(np.sum(groups[rows] == g)) for g in "abc"}
        assert counts["b"] % 2 == 0 and counts["c"] % 3 == 0 and sum(counts.values()) % 1 == 0


def test_evaluate_builds_the_comparison_table(tmp_path):
    data = _dataset(n_subjects=12, walks=2)
    res = evaluate(data, {"linear": LinearProbe}, ["kinematic", "embedding", "both"], scheme="group_kfold",
                   n_splits=4, n_boot=100)
    assert list(res.table["head"]) == ["majority", "linear", "linear", "linear"]
    lin = res.row("kinematic", "linear")
    assert lin["weighted_f1_lo"] <= lin["weighted_f1"] <= lin["weighted_f1_hi"]
    assert lin["weighted_f1_gain"] > 0.3  # an easy problem: far above the majority baseline
    assert res.row("-", "majority")["weighted_f1_gain"] == 0.0
    assert len(res.predictions) == 4 * len(data)
    paths = res.save(tmp_path)
    assert paths["comparison"].exists() and (tmp_path / "confusion_kinematic_linear.csv").exists()


def test_spearman_agreement_with_ci():
    rng = np.random.default_rng(0)
    stage = rng.choice([2.0, 2.5, 3.0], 80)
    speed = 1.4 - 0.2 * stage + rng.normal(0, 0.1, 80)
    r = spearman_agreement(speed, stage, n_boot=300)
    assert r.rho < -0.5 and r.ci_low <= r.rho <= r.ci_high and r.excludes_zero
    null = spearman_agreement(rng.normal(size=80), stage, n_boot=300)
    assert not null.excludes_zero
