"""The real-patient Parkinson's protocol: labels, subject-wise CV, inner CV, metrics and the command line.

Synthetic tests build data whose right answer is known (a subject-identity leak, a separable feature, hand-made
predictions); the real-data tests read ../shared/data/patients in place and skip where it is absent.
"""

from __future__ import annotations

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
