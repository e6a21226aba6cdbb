"""The real-patient Parkinson's protocol: labels, subject-wise CV, inner CV, metrics and the command line.

Synthetic tests build data whose right answer is known (a subject-identity leak, a separable feature, hand-made
predictions); the real-data tests read ../shared/data/patients in place and skip where it is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.training import pd_eval
from gaitscope.training.pd_real import PDWalk

PD_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "patients" / "video_tracking_pd" / "dataset"
needs_pd = pytest.mark.skipif(not (PD_DIR / "motor_scales_all_2021.03.08.xlsx").exists(),
                              reason=f"real PD data not available at {PD_DIR} (needs ../shared/data beside the repo)")


def _walks(n_people: int, both: bool = True) -> list[PDWalk]:
    out = []
    for i in range(n_people):
        out.append(PDWalk(f"{100 + i}", "off", Path(f"{i}_off.csv")))
        if both or i % 2 == 0:
            out.append(PDWalk(f"{100 + i}", "on", Path(f"{i}_on.csv")))
    return out


def test_task_labels_drop_missing_scores_and_keep_pairs():
    walks = _walks(4, both=False)  # people 100, 102 have both walks; 101, 103 only OFF
    scores = pd.DataFrame([
        {"pidn": "100", "state": "off", "updrs3_total": 33.0, "gait_3_10": 4.0},
        {"pidn": "100", "state": "on", "updrs3_total": 32.0, "gait_3_10": 0.0},
        {"pidn": "101", "state": "off", "updrs3_total": np.nan, "gait_3_10": 2.0},
        {"pidn": "102", "state": "off", "updrs3_total": 10.0, "gait_3_10": np.nan},
        {"pidn": "102", "state": "on", "updrs3_total": 40.0, "gait_3_10": 1.0},
        {"pidn": "103", "state": "off", "updrs3_total": 50.0, "gait_3_10": 3.0},
    ])
    a = pd_eval.task_table("updrs3_high", walks, scores)
    assert dict(zip(a["walk_id"], a["label"])) == {"100_off": 1, "100_on": 0, "102_off": 0, "102_on": 1, "103_off": 1}
    g = pd_eval.task_table("gait_0_3", walks, scores)
    assert dict(zip(g["walk_id"], g["label"])) == {"100_off": 3, "100_on": 0, "101_off": 2, "102_on": 1, "103_off": 3}
    b = pd_eval.task_table("gait_any", walks, scores)
    assert b["label"].tolist() == [1, 0, 1, 1, 1]
    c = pd_eval.task_table("off_on", walks, scores)
    assert sorted(c["walk_id"]) == ["100_off", "100_on", "102_off", "102_on"]
    assert dict(zip(c["walk_id"], c["label"])) == {"100_off": 1, "100_on": 0, "102_off": 1, "102_on": 0}


def _labels(y: np.ndarray, groups: np.ndarray, states=None) -> pd.DataFrame:
    return pd.DataFrame({"walk_id": [f"w{i}" for i in range(len(y))], "pidn": groups,
                         "state": states if states is not None else ["off"] * len(y), "label": y})


def test_leave_one_subject_out_does_not_leak_a_persons_other_walk():
    """Each person's two walks share a person-specific feature vector and a random label: a walk-wise split
    would score ~1.0 by matching the twin; subject-wise CV cannot do better than chance."""
    rng = np.random.default_rng(0)
    n = 30
    person = rng.normal(size=(n, 20))
    y_person = rng.integers(0, 2, n)
    X = np.repeat(person, 2, axis=0) + rng.normal(scale=0.01, size=(2 * n, 20))
    y = np.repeat(y_person, 2)
    groups = np.repeat([f"p{i}" for i in range(n)], 2)
    res = pd_eval.evaluate_task("updrs3_high", _labels(y, groups), {"embedding": X}, feature_sets=("embedding",),
                                heads=("linear",), auto=False, n_boot=0)
    acc = res.table.set_index("head").loc["linear", "accuracy"]
    assert acc < 0.8  # chance is 0.5; a leak gives ~1.0


def test_separable_feature_is_found_and_baseline_is_the_class_share():
    rng = np.random.default_rng(1)
    n = 24
    y = np.repeat(rng.permutation(np.r_[np.zeros(10, int), np.ones(14, int)]), 2)
    groups = np.repeat([f"p{i}" for i in range(n)], 2)
    X = np.c_[y + rng.normal(scale=0.1, size=len(y)), rng.normal(size=(len(y), 5))]
    res = pd_eval.evaluate_task("updrs3_high", _labels(y, groups), {"kinematic": X}, feature_sets=("kinematic",),
                                heads=("logreg_cv", "lasso_cv"), auto=True, n_boot=200)
    t = res.table.set_index("head")
    assert t.loc["majority", "accuracy"] == pytest.approx(28 / 48)  # every walk called the larger class
    assert t.loc["majority", "roc_auc"] == pytest.approx(0.5)
    for h in ("logreg_cv", "lasso_cv", "auto"):
        assert t.loc[h, "accuracy"] == pytest.approx(1.0)
        assert t.loc[h, "roc_auc"] == pytest.approx(1.0)
        assert t.loc[h, "accuracy_lo"] <= t.loc[h, "accuracy"] <= t.loc[h, "accuracy_hi"]
    # the calibration/confusion/per-subject outputs of the auto model
    ps = pd_eval.per_subject_table(res)
    assert len(ps) == 48 and ps["correct"].all()


def test_inner_cv_never_sees_the_test_subject(monkeypatch):
    seen_groups: list[set] = []
    real = pd_eval._inner_score

    def spy(make, X, y, groups, seed):
        seen_groups.append(set(groups))
        return real(make, X, y, groups, seed)

    monkeypatch.setattr(pd_eval, "_inner_score", spy)
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(12) % 2, 2)
    groups = np.repeat([f"p{i}" for i in range(12)], 2)
    X = rng.normal(size=(24, 3)) + y[:, None]
    splits = pd_eval.subject_splits(groups, "loso")
    seen_groups.clear()
    pd_eval.oof_proba("logreg_cv", X, y, groups, 2, splits)
    per_fold = len(pd_eval.L2_GRID)
    for k, (_, te) in enumerate(splits):
        test_subject = set(groups[te])
        for g in seen_groups[k * per_fold:(k + 1) * per_fold]:
            assert not (g & test_subject)


def test_paired_accuracy_counts_people_whose_off_walk_scores_higher():
    df = pd.DataFrame({"pidn": ["a", "a", "b", "b", "c", "c", "d"], "state": ["off", "on"] * 3 + ["off"],
                       "p_1": [0.9, 0.2, 0.3, 0.6, 0.5, 0.5, 0.99]})
    assert pd_eval.paired_accuracy(df) == pytest.approx((1 + 0 + 0.5) / 3)


def test_within_person_features_remove_the_persons_mean():
    X = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 7.0]])
    out = pd_eval.within_person(X, np.array(["a", "a", "b"]))
    np.testing.assert_allclose(out, [[-1.0, 0.0], [1.0, np.nan], [0.0, 0.0]])


def test_train_classifier_refuses_the_licensed_real_data(capsys):
    from gaitscope.cli.main import main

    assert main(["train-classifier", "--data", "pd-real", "--no-db"]) == 2
    assert "CC BY-NC-ND" in capsys.readouterr().err


@needs_pd
def test_scores_from_the_real_workbook():
    from gaitscope.training.pd_real import discover_walks, load_scores

    s = load_scores(PD_DIR).set_index(["pidn", "state"])
    for col in ("updrs3_total", "gait_3_10"):
        assert not s[col].isin([-2, -9, -99]).any()
    assert np.isnan(s.loc[("31917", "off"), "updrs3_total"])  # 26 of 33 items missing: no total
    assert s.loc[("31917", "on"), "updrs3_total"] == 25
    assert s.loc[("31601", "off"), "updrs3_total"] == 47  # no PD medication: the ON column is the score
    walks, skipped = discover_walks(PD_DIR)
    ids = [w.walk_id for w in walks]
    assert len(ids) == len(set(ids)) == 44
    assert "26463_off" in ids and not any(w.pidn == "26135" for w in walks)
    assert any("exact copy" in s_ for s_ in skipped) and any("no medication state" in s_ for s_ in skipped)


@needs_pd
def test_cli_evaluates_real_walks_from_a_subset(tmp_path, capsys):
    """End to end on 8 real walks of 4 people (linked, not copied, into a scratch folder)."""
    from gaitscope.cli.main import main

    root = tmp_path / "dataset"
    root.mkdir()
    for f in ("motor_scales_all_2021.03.08.xlsx", "demographics.xlsx"):
        (root / f).symlink_to((PD_DIR / f).resolve())
    for pid in ("20592", "21987", "25493", "31892"):
        (root / pid).mkdir()
        for st in ("off", "on"):
            (root / pid / f"google_{pid}_{st}_gait.csv").symlink_to((PD_DIR / pid / f"google_{pid}_{st}_gait.csv").resolve())
    out = tmp_path / "out"
    rc = main(["evaluate-classifier", "--data", "pd-real", "--task", "off_on", "--pd-root", str(root),
               "--pd-cache", str(tmp_path / "cache"), "--feature-sets", "embedding", "--heads", "linear",
               "--no-auto", "--n-boot", "20", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "majority baseline" in text and "8 walks of 4 people" in text
    for f in ("table.csv", "predictions.csv", "per_subject.csv", "confusion.png", "calibration.png"):
        assert (out / f).exists(), f
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 8
    ps = pd.read_csv(out / "per_subject.csv")
    assert sorted(ps["subject"].astype(str).unique()) == ["20592", "21987", "25493", "31892"]
    # two models compared on the same resamples of people, from the command line (the cache is reused)
    common = ["evaluate-classifier", "--data", "pd-real", "--task", "off_on", "--pd-root", str(root),
              "--pd-cache", str(tmp_path / "cache"), "--n-boot", "20", "--out", str(tmp_path / "cmp")]
    assert main(common + ["--compare", "embedding:linear,landmarks_2d:linear"]) == 0
    text = capsys.readouterr().out
    assert "paired difference A - B" in text and "embedding/linear" in text
    paired = (tmp_path / "cmp" / "paired.md").read_text()
    assert "landmarks_2d/linear" in paired and ("cannot tell" in paired or "non-inferior" in paired
                                                 or "worse" in paired)
    assert main(common + ["--compare", "embedding:linear"]) == 2  # one model is not a comparison


# ---------------------------------------------------------------------------------------------------------
# Paired difference of two models on the same subject resamples (compare_models)
# ---------------------------------------------------------------------------------------------------------


def _result(task: str, labels: pd.DataFrame, models: dict[tuple[str, str], np.ndarray], n_boot: int = 1000,
            seed: int = 0) -> pd_eval.TaskResult:
    """A TaskResult holding hand-made out-of-fold probabilities ``(N, k)`` of each model."""
    preds = []
    for (fs, head), proba in models.items():
        pf = labels.copy()
        pf["feature_set"], pf["head"], pf["predicted"] = fs, head, proba.argmax(axis=1)
        for c in range(proba.shape[1]):
            pf[f"p_{c}"] = proba[:, c]
        preds.append(pf)
    return pd_eval.TaskResult(pd_eval.TASKS[task], pd.DataFrame(), pd.concat(preds, ignore_index=True), labels,
                              {"n_boot": n_boot, "seed": seed})


def _two_walk_people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` people with an OFF and an ON walk each, a random binary label per walk."""
    groups = np.repeat([f"p{i:02d}" for i in range(n)], 2)
    y = rng.integers(0, 2, 2 * n)
    y[:2] = [0, 1]  # both classes present
    return _labels(y, groups, states=["off", "on"] * n)


def test_identical_models_differ_by_exactly_zero():
    rng = np.random.default_rng(1)
    lab = _two_walk_people(15, rng)
    p1 = rng.uniform(size=len(lab))
    proba = np.column_stack([1 - p1, p1])
    res = _result("updrs3_high", lab, {("x", "linear"): proba, ("y", "rf"): proba.copy()})
    d = pd_eval.compare_models(res, ("x", "linear"), ("y", "rf"))
    assert d.metric == "roc_auc" and d.n_people == 15 and d.n_boot == 1000
    assert d.difference == 0.0 and (d.ci_low, d.ci_high) == (0.0, 0.0)
    assert d.share_a_ge_b == 1.0
    assert d.verdict(0.05).startswith("non-inferior")


def test_a_model_right_on_everyone_beats_one_at_chance_with_a_ci_that_excludes_zero():
    """AUC 1 (scores ordered by the label) against AUC 0.5 (one constant score): the difference is 0.5 on every
    resample that has both classes; paired accuracy 1 against 0.5 (all ties) likewise."""
    rng = np.random.default_rng(2)
    lab = _two_walk_people(20, rng)
    y = lab["label"].to_numpy()
    right = np.column_stack([1 - y, y]) * 0.8 + 0.1
    chance = np.full((len(y), 2), 0.5)
    res = _result("updrs3_high", lab, {("good", "rf"): right, ("flat", "linear"): chance})
    d = pd_eval.compare_models(res, ("good", "rf"), ("flat", "linear"))
    assert (d.value_a, d.value_b) == (1.0, 0.5)
    assert d.difference == pytest.approx(0.5) and d.ci_low == pytest.approx(0.5) and d.ci_high == pytest.approx(0.5)
    assert d.ci_low > 0 and d.share_a_ge_b == 1.0
    lab_c = lab.assign(label=(lab["state"] == "off").astype(int))  # off_on: OFF is class 1
    yc = lab_c["label"].to_numpy()
    res_c = _result("off_on", lab_c, {("good", "rf"): np.column_stack([1 - yc, yc]) * 0.6 + 0.2,
                                      ("flat", "linear"): chance})
    dc = pd_eval.compare_models(res_c, ("good", "rf"), ("flat", "linear"))
    assert dc.metric == "paired_accuracy" and dc.n_people == 20
    assert (dc.value_a, dc.value_b, dc.difference) == (1.0, 0.5, 0.5) and (dc.ci_low, dc.ci_high) == (0.5, 0.5)
    assert pd_eval.compare_models(res_c, ("flat", "linear"), ("good", "rf")).verdict(0.05) == "worse"


def test_swapping_the_models_negates_the_difference_and_mirrors_the_ci():
    rng = np.random.default_rng(3)
    lab = _two_walk_people(18, rng)
    y = lab["label"].to_numpy()
    noisy = [np.clip(y + rng.normal(0, s, len(y)), 0, 1) for s in (0.5, 0.9)]
    models = {("a", "linear"): np.column_stack([1 - noisy[0], noisy[0]]),
              ("b", "rf"): np.column_stack([1 - noisy[1], noisy[1]])}
    for task in ("updrs3_high", "gait_any"):
        res = _result(task, lab, models)
        ab = pd_eval.compare_models(res, ("a", "linear"), ("b", "rf"))
        ba = pd_eval.compare_models(res, ("b", "rf"), ("a", "linear"))
        assert ab.difference != 0
        assert ba.difference == pytest.approx(-ab.difference, abs=1e-12)
        assert (ba.ci_low, ba.ci_high) == pytest.approx((-ab.ci_high, -ab.ci_low), abs=1e-12)
        assert ab.ci_low < ab.difference < ab.ci_high


def test_resamples_draw_whole_people_so_a_persons_walks_move_together():
    """A is right on every walk, B on every walk but both walks of one person P (of n = 20). Drawing people, B
    ties A exactly when P is not drawn: probability (1 - 1/n)^n = 0.358. Drawing walks one by one it would be
    (1 - 1/n)^(2n) = 0.129, and the accuracy difference would take odd multiples of 1/(2n), which a person
    draw (2 walks each) never gives."""
    rng = np.random.default_rng(4)
    n = 20
    lab = _two_walk_people(n, rng)
    y = lab["label"].to_numpy()
    right = np.column_stack([1 - y, y]) * 0.8 + 0.1
    wrong_on_p = right.copy()
    wrong_on_p[:2] = right[:2, ::-1]  # rows 0 and 1 are person p00's two walks
    res = _result("updrs3_high", lab, {("a", "rf"): right, ("b", "rf"): wrong_on_p}, n_boot=4000)
    d = pd_eval.compare_models(res, ("b", "rf"), ("a", "rf"), metric="accuracy")
    assert d.difference == pytest.approx(-2 / (2 * n))
    assert d.share_a_ge_b == pytest.approx((1 - 1 / n) ** n, abs=0.03)  # SE 0.008 over 4000 resamples
    _, boot = pd_eval._metric_and_resamples("accuracy", pd_eval._model_arrays(res, ("b", "rf")), 2, 4000, 0)
    wrong_walks = np.round((1 - boot) * 2 * n, 6)  # walks B got wrong per resample (2n walks in each)
    assert np.allclose(wrong_walks % 2, 0)  # always both of P's walks or neither


def test_compare_refuses_models_that_predicted_different_walks():
    rng = np.random.default_rng(5)
    lab = _two_walk_people(6, rng)
    proba = np.full((len(lab), 2), 0.5)
    res = _result("updrs3_high", lab, {("a", "rf"): proba})
    other = res.predictions.assign(feature_set="b", walk_id=lambda d: d["walk_id"] + "x")
    res = pd_eval.TaskResult(res.task, res.table, pd.concat([res.predictions, other]), lab, res.settings)
    with pytest.raises(ValueError, match="same walks"):
        pd_eval.compare_models(res, ("a", "rf"), ("b", "rf"))


def test_evaluate_task_with_cells_fits_only_the_named_models():
    rng = np.random.default_rng(6)
    lab = _two_walk_people(8, rng)
    X = rng.normal(size=(len(lab), 3))
    res = pd_eval.evaluate_task("updrs3_high", lab, {"s1": X, "s2": X + 1}, feature_sets=("s1", "s2"),
                                cells=(("s1", "linear"), ("s2", "rf")), n_boot=20)
    assert list(zip(res.table["feature_set"], res.table["head"])) == [("-", "majority"), ("s1", "linear"),
                                                                      ("s2", "rf")]


@pytest.mark.parametrize("k", [2, 3])
def test_bootstrap_metrics_are_sklearns_on_every_resample(k):
    """The bootstrap counts each resample's confusion matrix itself (speed); every metric on every resample must
    be what scikit-learn computes from the same walks, classes absent from a resample included."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

    rng = np.random.default_rng(k)
    n = 30
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    groups = np.repeat([f"p{i}" for i in range(n // 2)], 2)
    resamples = list(pd_eval.subject_bootstrap_indices(groups, 40, seed=1)) + [np.array([0, 1, 2, 3])]
    got = pd_eval.bootstrap(y, proba, resamples)
    pred = proba.argmax(axis=1)
    labels = np.arange(k)
    for i, rs in enumerate(resamples):
        t, p = y[rs], pred[rs]
        assert got["accuracy"][i] == pytest.approx(accuracy_score(t, p))
        assert got["weighted_f1"][i] == pytest.approx(f1_score(t, p, labels=labels, average="weighted",
                                                               zero_division=0))
        assert got["macro_f1"][i] == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
        with warnings.catch_warnings():  # sklearn warns of a predicted class absent from y_true
            warnings.simplefilter("ignore")
            assert got["balanced_accuracy"][i] == pytest.approx(balanced_accuracy_score(t, p))
        if k == 2 and len(np.unique(t)) == 2:
            assert got["roc_auc"][i] == pytest.approx(roc_auc_score(t, proba[rs, 1]))
    with pytest.raises(ValueError, match="class labels"):
        pd_eval.bootstrap(np.array([0, 2]), np.full((2, 2), 0.5), [np.array([0, 1])])
