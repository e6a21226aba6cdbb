"""Deng et al. (2024)'s segmenting, features and nested head (gaitscope.training.pd_deng) on synthetic input with
known truth: a sinusoid's spectrum, hand-computed statistics, a facing -> sideways -> facing walk whose good
segments are worked out by hand, and a planted selection leak that only a leaky protocol exploits."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from gaitscope.training import pd_deng

FPS = 30.0


# ---------------------------------------------------------------------------------------------------------
# Statistics and spectra
# ---------------------------------------------------------------------------------------------------------


def test_spectral_features_of_a_sinusoid():
    t = np.arange(int(6 * FPS)) / FPS
    x = np.sin(2 * np.pi * 1.5 * t)
    entropy, half, *shares = pd_deng.spectral_stats(x, FPS)
    bands = dict(zip(pd_deng.BANDS, shares))
    assert bands[(1.0, 2.0)] > 0.95  # all power of a 1.5 Hz sine lies in (1, 2] Hz
    assert bands[(0.5, 1.0)] < 0.05 and bands[(2.0, 4.0)] < 0.05 and bands[(6.0, 128.0)] == 0.0
    assert abs(half - 1.5) <= FPS / len(t) + 1e-9  # within one Welch bin (fs / nperseg = 1/6 Hz)
    noise = np.random.default_rng(0).normal(size=len(t))
    assert entropy < pd_deng.spectral_stats(noise, FPS)[0] - 1.0  # a line spectrum is far more ordered


def test_temporal_stats_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    mean, median, sd, mad, skew, kurt = pd_deng.temporal_stats(x)
    assert mean == pytest.approx(22.0) and median == 3.0 and mad == 1.0  # |x - 3| = 2, 1, 0, 1, 97
    assert sd == pytest.approx(np.sqrt(np.mean((x - 22.0) ** 2)))
    assert skew > 1.0
    sym = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    assert pd_deng.temporal_stats(sym)[4] == pytest.approx(0.0, abs=1e-12)
    assert pd_deng.temporal_stats(sym, absolute=True)[0] == pytest.approx(6.0 / 5.0)  # mean of |x|


def test_series_features_derivative_in_units_per_second():
    t = np.arange(150) / FPS
    f = pd_deng.series_features(2.0 * t + 1.0, FPS)
    assert len(f) == 26
    assert f[13] == pytest.approx(2.0)  # mean of the first difference per second of 2 t + 1
    assert f[15] == pytest.approx(0.0, abs=1e-9)  # its SD


def test_smoothing_is_a_normalised_five_frame_gaussian():
    xy = np.zeros((11, 33, 2))
    xy[5] = 1.0
    s = pd_deng.smooth(xy)
    assert s.shape == (7, 33, 2)  # the 2 frames at each end have no full window
    w = np.exp(-0.5 * (np.arange(-2, 3) / 0.5) ** 2)
    assert s[:, 0, 0] == pytest.approx(np.r_[0.0, w / w.sum(), 0.0])
    assert pd_deng.smooth(np.full((9, 33, 2), 0.3)) == pytest.approx(np.full((5, 33, 2), 0.3))


# ---------------------------------------------------------------------------------------------------------
# Segmenting a synthetic walk
# ---------------------------------------------------------------------------------------------------------


def _frontal(n: int) -> np.ndarray:
    """A person facing the camera (their right side at image left), arms swinging gently at 1 Hz."""
    xy = np.zeros((n, 33, 2))
    pos = {0: (0.50, 0.20), 11: (0.55, 0.30), 12: (0.45, 0.30), 13: (0.58, 0.45), 14: (0.42, 0.45),
           15: (0.60, 0.60), 16: (0.40, 0.60), 17: (0.61, 0.62), 18: (0.39, 0.62), 23: (0.53, 0.60),
           24: (0.47, 0.60), 25: (0.53, 0.75), 26: (0.47, 0.75), 27: (0.53, 0.90), 28: (0.47, 0.90),
           29: (0.53, 0.92), 30: (0.47, 0.92), 31: (0.54, 0.93), 32: (0.46, 0.93)}
    for j, p in pos.items():
        xy[:, j] = p
    swing = 0.01 * np.sin(2 * np.pi * np.arange(n) / FPS)
    for j in (13, 15, 17):
        xy[:, j, 1] += swing
    for j in (14, 16, 18):
        xy[:, j, 1] -= swing
    return xy


@pytest.mark.parametrize("joints", [pd_deng.AS_PUBLISHED, pd_deng.CORRECTED])
def test_facing_sideways_facing_segments_by_hand(joints):
    raw = _frontal(364)
    raw[182:242, 0, 0] = 0.60  # raw frames 182-241: head turned, nose outside both shoulders (sideways)
    s = pd_deng.smooth(raw)  # 360 frames; smoothed frame i is centred on raw frame i + 2
    flags = pd_deng.abnormal_frames(s, joints)
    # by hand: smoothed nose at frame 179 = 0.5 + 0.1 * (weight of 2 sideways raw frames) = 0.511 < 0.55; at 180
    # it is 0.589 > 0.55, so exactly smoothed frames 180-239 are sideways
    assert np.flatnonzero(flags).tolist() == list(range(180, 240))
    # the cluster is cut with 5 frames of margin: [0, 175) and [244, 360); 175 frames = one 3-7 s segment
    # (half of it, 87, is below 2/3 * 90 + 1/3 * 210 = 130), 116 frames = one segment
    assert pd_deng.good_segments(flags, FPS) == [(0, 175), (244, 360)]


def test_long_stretch_is_halved_or_cut_and_single_flags_ignored():
    flags = np.zeros(500, dtype=bool)
    flags[100] = True  # one isolated flagged frame: ignored, as theirs
    # 500 frames: half (250) > 210, so a 7 s piece (210); 290 left: half 145 in [130, 210] -> 145 + 145
    assert pd_deng.good_segments(flags, FPS) == [(0, 210), (210, 355), (355, 500)]
    assert pd_deng.good_segments(np.zeros(80, dtype=bool), FPS) == []  # shorter than 3 s


def test_seated_and_tracking_jump_are_flagged():
    seated = _frontal(200)
    seated[:, [25, 26], 1] = 0.65  # thighs nearly horizontal (seen from the front): shank 5x the thigh height
    assert pd_deng.abnormal_frames(pd_deng.smooth(seated), pd_deng.CORRECTED).all()
    jump = _frontal(200)
    jump[100, 11, 0] += 0.2  # one-frame shoulder jump
    f = pd_deng.abnormal_frames(jump, pd_deng.CORRECTED)
    assert f[100] and not f[:90].any() and not f[110:].any()


def test_published_joint_indices_are_one_landmark_off():
    xy = _frontal(120)
    n = pd_deng.normalise(xy)
    pub = pd_deng.signals(n, pd_deng.AS_PUBLISHED)
    cor = pd_deng.signals(n, pd_deng.CORRECTED)
    torso = np.hypot(0.0, 0.30)  # mid-shoulder (0.5, 0.3) to mid-hip (0.5, 0.6)
    # their "left wrist" is landmark 16 (the right wrist): distance to the left shoulder (0.55, 0.3)
    assert pub["wrist_shoulder_distance"][0][0] == pytest.approx(np.hypot(0.15, 0.30) / torso, rel=1e-3)
    assert cor["wrist_shoulder_distance"][0][0] == pytest.approx(np.hypot(0.05, 0.30) / torso, rel=1e-3)
    # their knee "left - right" is right knee (26) - left ankle (27) in x: 0.47 - 0.53
    assert pub["knee_lr_dx"][0][0] == pytest.approx(-0.06 / torso)
    assert cor["knee_lr_dx"][0][0] == pytest.approx(0.06 / torso)


def test_segment_features_shape_and_names():
    xy = _frontal(300) + np.random.default_rng(1).normal(scale=0.002, size=(300, 33, 2))  # every signal moves
    F, segs = pd_deng.walk_segment_features(xy, FPS)
    names = pd_deng.feature_names()
    assert len(names) == 338 and len(set(names)) == 338  # as their cache: 338 columns
    assert F.shape == (len(segs), 338) and len(segs) >= 1 and np.isfinite(F).all()


# ---------------------------------------------------------------------------------------------------------
# The nested head: the held-out person never reaches a choice; a planted leak is not exploited
# ---------------------------------------------------------------------------------------------------------

FAST = partial(pd_deng.fit_deng, alphas=(0.02, 0.05, 0.1, 0.3), grid=((0.1, 1.0), (1.0, 0.2)))


def _segments(n_people: int, seed: int, n_cols: int, per: int = 3):
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.permutation(np.arange(n_people) % 2), per)
    groups = np.repeat([f"{100 + i}" for i in range(n_people)], per)
    return rng.normal(size=(n_people * per, n_cols)), y, groups


def test_lasso_path_predictions_equal_one_fit_per_alpha():
    from sklearn.linear_model import LassoLars

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 25))
    y = (X[:, 0] + 0.5 * X[:, 3] + rng.normal(scale=0.5, size=40) > 0).astype(float)
    X_te = rng.normal(size=(7, 25))
    alphas = (0.0005, 0.003, 0.02, 0.1, 0.5, 2.0)
    for a, p in zip(alphas, pd_deng.lasso_path_predict(X, y, X_te, alphas)):
        assert p == pytest.approx(LassoLars(alpha=a).fit(X, y).predict(X_te), abs=1e-8)


def test_held_out_person_never_reaches_alpha_or_c(monkeypatch):
    seen: list[tuple[str, set]] = []
    for name in ("inner_alpha_scores", "inner_lr_scores"):
        real = getattr(pd_deng, name)

        def spy(X, y, groups, k, *a, _real=real, _name=name, **kw):
            seen.append((_name, set(groups)))
            return _real(X, y, groups, k, *a, **kw)

        monkeypatch.setattr(pd_deng, name, spy)
    X, y, groups = _segments(6, 0, 8)
    X[:, 0] += 1.5 * y  # a real signal, so LASSO keeps a column and the C search runs
    pd_deng.oof_segments(X, y, groups, 2, fit=FAST)
    people = sorted(set(groups))
    alpha_calls = [g for n, g in seen if n == "inner_alpha_scores"]
    assert len(alpha_calls) == len(people)
    assert any(n == "inner_lr_scores" for n, _ in seen)
    for g in (g for _, g in seen):
        assert len(g) == len(people) - 1  # every choice saw all training people and no one else
    for p, g in zip(people, alpha_calls):  # LOSO folds in sorted order: fold i holds out person i
        assert p not in g


def test_planted_lasso_leak_is_exploited_only_by_a_leaky_protocol():
    """Random labels per person, 300 noise columns, 3 segments per person. LASSO selection on ALL segments, then
    leave-one-subject-out (the selection-bias error, Ambroise & McLachlan, PNAS 2002) 'finds' a signal; the nested
    head, which selects inside each training fold, stays near chance."""
    from sklearn.feature_selection import SelectFromModel
    from sklearn.linear_model import LassoLars, LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from gaitscope.models.evaluation import subject_splits

    leaky, honest = [], []
    for seed in range(2):
        X, y, groups = _segments(12, seed, 300)
        Z = StandardScaler().fit_transform(X)
        keep = SelectFromModel(LassoLars(alpha=0.05)).fit(Z, y).get_support()  # the leak: saw every test person
        p = np.zeros(len(y))
        for tr, te in subject_splits(groups, "loso"):
            p[te] = LogisticRegression(C=1.0, max_iter=2000).fit(Z[tr][:, keep], y[tr]).predict_proba(
                Z[te][:, keep])[:, 1]
        leaky.append(roc_auc_score(y, p))
        proba, _ = pd_deng.oof_segments(X, y, groups, 2, fit=FAST)
        honest.append(roc_auc_score(y, proba[:, 1]))
    assert np.mean(leaky) > 0.85
    assert np.mean(honest) < 0.7  # chance is 0.5 (LOSO on noise tends to land below it)


def test_nested_head_finds_a_real_signal_and_walks_average_segments():
    import pandas as pd

    X, y, groups = _segments(10, 3, 10)
    X[:, 4] += 4.0 * y  # a strong signal among 9 noise columns
    labels = pd.DataFrame({"walk_id": [f"{g}_off" for g in sorted(set(groups))], "pidn": sorted(set(groups)),
                           "state": "off", "label": [int(y[groups == g][0]) for g in sorted(set(groups))]})
    feats = {f"{g}_off": X[groups == g] for g in sorted(set(groups))}
    feats["109_off"] = np.zeros((0, 10))  # a walk without a good segment
    rows, pf = pd_deng.evaluate(labels, feats, 2, fit=FAST, n_boot=50)
    seg = next(r for r in rows if r["model"] == "deng" and r["unit"] == "segment")
    assert seg["roc_auc"] > 0.85 and seg["n"] == 27
    assert not pf.loc[pf["walk_id"] == "109_off", "has_segment"].item()
    walk = next(r for r in rows if r["model"] == "deng" and r["unit"] == "walk (with segment)")
    assert walk["n"] == 9 and walk["accuracy"] > 0.85
