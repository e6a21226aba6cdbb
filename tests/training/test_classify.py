"""Classifier wiring: registry save/load, per-analysis prediction, labelled-dataset loader, CLI, gaitpdb check."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.cli import classify as classify_cli
from gaitscope.errors import InvalidInputError
from gaitscope.models.classifiers import LinearProbe
from gaitscope.models.configs import DSTformerConfig
from gaitscope.models.features import LabelledFeatures, kinematic_names
from gaitscope.pipeline import prediction
from gaitscope.training import classify

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
GAITPDB = SHARED_DATA / "labels" / "gaitpdb" / "demographics.txt"
TINY = DSTformerConfig(name="tiny", dim_feat=32, dim_rep=48, depth=2, num_heads=8, mlp_ratio=2.0, maxlen=243)


def _features(n_subjects: int = 8, walks: int = 2, d_emb: int = 6, seed: int = 0) -> LabelledFeatures:
    rng = np.random.default_rng(seed)
    k = len(kinematic_names())
    seq, subj, lab, kin, emb = [], [], [], [], []
    for s in range(n_subjects):
        c = s % 4
        for w in range(walks):
            seq.append(f"S{s}_W{w}")
            subj.append(f"S{s}")
            lab.append(c)
            kin.append(2.0 * c + rng.normal(0, 0.5, k))
            emb.append(1.0 * c + rng.normal(0, 0.5, d_emb))
    return LabelledFeatures(np.array(seq), np.array(subj), np.array(lab), ("0", "1", "2", "3"), np.array(kin),
                            np.array(emb), embedding_model="tiny@test", description="unit-test features")


@pytest.fixture(scope="module")
def walk_analysis():
    """One synthetic walk: its gait report and an embedding record from a tiny untrained encoder."""
    from gaitscope.analysis import analyze_gait
    from gaitscope.models.inference import Lifter
    from gaitscope.synthetic.cohort_labels import (
        make_labelled_cohort,
        simulate_labelled_walk,
        walk_keypoints,
    )

    w = make_labelled_cohort(2, 1, seed=3)[0]
    sim = simulate_labelled_walk(w)
    report = analyze_gait(sim.motion)
    lifter = Lifter.untrained(TINY, device="cpu")
    emb = lifter.embed(walk_keypoints(sim, seed=1))
    return report, emb, lifter


# ---------------------------------------------------------------------------------------------------------
# Registry and per-analysis prediction
# ---------------------------------------------------------------------------------------------------------


def test_head_saved_in_the_registry_predicts_the_same(tmp_path, walk_analysis):
    from gaitscope.db import open_database
    from gaitscope.db.analysis_records import _check_prediction

    report, emb, _ = walk_analysis
    data = _features(d_emb=emb.dim)
    data.embedding_model = f"{emb.model_name}@{emb.model_version}"
    head = classify.fit_head(data, "linear", "both", version="v1", cv="group_kfold", n_boot=50)
    assert {"weighted_f1", "majority_weighted_f1", "n_subjects"} <= set(head.metrics)
    db = open_database(f"sqlite:///{tmp_path / 'reg.db'}", auto_upgrade=True)
    with db.session() as s:
        row = prediction.save_head(s, head, active=True)
        assert row.blob is not None and row.metrics["n_subjects"] == 8
    with db.session() as s:
        loaded = prediction.load_active_head(s)
        assert loaded is not None and loaded.version == "v1" and loaded.feature_set == "both"
        assert prediction.load_active_head(s, "no_such_head") is None
    p1 = prediction.predict_for_analysis(head, report, emb)
    p2 = prediction.predict_for_analysis(loaded, report, emb)
    assert p1 == p2
    _check_prediction(p1)  # what save_analysis will accept
    assert p1.classes == ("0", "1", "2", "3") and p1.predicted in p1.classes and p1.feature_set == "both"
    # a newer version becomes the active one
    head2 = classify.fit_head(data, "mlp", "kinematic", version="v2", cv=None, max_epochs=20)
    with db.session() as s:
        prediction.save_head(s, head2, active=True)
    with db.session() as s:
        assert prediction.load_active_head(s).version == "v2"
        assert prediction.load_head(s, "updrs_gait", "v1").feature_set == "both"


def test_prediction_refuses_embeddings_of_another_encoder(walk_analysis):
    report, emb, _ = walk_analysis
    data = _features(d_emb=emb.dim)
    data.embedding_model = "motionbert@1.0"
    head = classify.fit_head(data, "linear", "embedding", version="v1", cv=None)
    with pytest.raises(InvalidInputError, match="trained on embeddings of motionbert@1.0"):
        prediction.predict_for_analysis(head, report, emb)
    with pytest.raises(InvalidInputError, match="needs the motion embedding"):
        prediction.predict_for_analysis(head, report, None)
    # a kinematic head needs no embedding at all
    kin = classify.fit_head(data, "linear", "kinematic", version="v1", cv=None)
    assert kin.embedding_model == ""
    assert prediction.predict_for_analysis(kin, report, None).feature_set == "kinematic"


def test_pipeline_prediction_can_be_stored_with_the_analysis(tmp_path, walk_analysis):
    """The lead's pipeline hook: active head -> Prediction -> save_analysis(..., predictions=[...])."""
    from gaitscope.db import analysis_records as repo
    from gaitscope.db import open_database, recordings
    from gaitscope.db import patients as patients_db
    report, emb, lifter = walk_analysis
    data = _features(d_emb=emb.dim)
    data.embedding_model = f"{emb.model_name}@{emb.model_version}"
    db = open_database(f"sqlite:///{tmp_path / 'pipe.db'}", auto_upgrade=True)
    with db.session() as s:
        prediction.save_head(s, classify.fit_head(data, "linear", "both", version="v7", cv=None))
    with db.session() as s:
        pred = prediction.predict_active(s, report, emb)
        assert pred is not None and pred.head_version == "v7"
        patient = patients_db.create_patient(s, "P-CLS-1")
        visit = patients_db.create_visit(s, patient)
        rec = recordings.register_recording(s, visit, sha256="ab" * 32, original_name="x.mp4", kind="video", fps=25.0,
                                      duration_s=report.duration_s, width=640, height=480, size_bytes=1)
        from gaitscope.synthetic.cohort_labels import (
            make_labelled_cohort,
            simulate_labelled_walk,
        )

        motion = simulate_labelled_walk(make_labelled_cohort(2, 1, seed=3)[0]).motion
        a = repo.save_analysis(s, rec, keypoints2d=None, motion3d=motion, report=report, embedding=emb,
                               predictions=[pred], model_name=lifter.name, model_version=lifter.version,
                               analysis_version=report.analysis_version, pipeline_version="test")
        stored = repo.load_predictions(s, a.id)
    assert stored[0].predicted == pred.predicted and stored[0].head_name == "updrs_gait"


def test_feature_vector_matches_head_layout(walk_analysis):
    report, emb, _ = walk_analysis
    from gaitscope.models.features import feature_vector, kinematic_vector

    kin = kinematic_vector(report)
    assert kin.shape == (len(kinematic_names()),)
    names = kinematic_names()
    assert kin[names.index("cadence")] == pytest.approx(report.parameter("cadence").value)
    assert np.isfinite(kin[names.index("speed")])
    both = feature_vector("both", report, emb)
    np.testing.assert_array_equal(both[: len(kin)], kin)
    assert both.shape == (len(kin) + emb.dim,)
    with pytest.raises(ValueError, match="unknown feature set"):
        feature_vector("pose", report, emb)


# ---------------------------------------------------------------------------------------------------------
# Bring-your-own labelled data
# ---------------------------------------------------------------------------------------------------------


def test_labelled_dataset_loader_reads_3d_and_2d_sequences(tmp_path, walk_analysis):
    from gaitscope.synthetic.cohort_labels import (
        make_labelled_cohort,
        simulate_labelled_walk,
        walk_keypoints,
    )

    _, _, lifter = walk_analysis
    walks = make_labelled_cohort(3, 1, seed=7, duration_s=4.0)
    rows = []
    for i, w in enumerate(walks):
        sim = simulate_labelled_walk(w)
        if i < 2:  # 3D joints in metres, Z up
            np.savez(tmp_path / f"{w.sequence_id}.npz", xyz=sim.motion.xyz_m, fps=sim.motion.fps,
                     up=np.array(sim.motion.up))
        else:  # 2D COCO-17 keypoints with confidences (converted from our H36M projection for the test)
            kp = walk_keypoints(sim, seed=0)
            coco = np.zeros((kp.n_frames, 17, 3))
            h = {"nose": 9, "l_sh": 11, "r_sh": 14, "l_el": 12, "r_el": 15, "l_wr": 13, "r_wr": 16, "l_hip": 4,
                 "r_hip": 1, "l_kn": 5, "r_kn": 2, "l_an": 6, "r_an": 3}
            order = ["nose", None, None, None, None, "l_sh", "r_sh", "l_el", "r_el", "l_wr", "r_wr", "l_hip",
                     "r_hip", "l_kn", "r_kn", "l_an", "r_an"]
            for c, name in enumerate(order):
                src = h[name] if name else 10  # eyes/ears: put them at the head
                coco[:, c, :2] = kp.xy_px[:, src]
                coco[:, c, 2] = 0.9
            np.save(tmp_path / f"{w.sequence_id}.npy", coco)
        rows.append({"sequence_id": w.sequence_id, "subject_id": w.subject_id, "label": w.label,
                     "fps": 25.0, "joint_format": "h36m" if i < 2 else "coco"})
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    data = classify.load_labelled_dataset(tmp_path, lifter=lifter, clip_len=32)
    ids = list(data.sequence_ids)
    assert walks[0].sequence_id in ids and walks[1].sequence_id in ids
    # the 2D sequence is either analyzed (lifted) or listed as skipped, never silently lost
    assert walks[2].sequence_id in ids or walks[2].sequence_id in data.description
    assert data.embedding.shape == (len(ids), lifter.config.dim_rep)
    assert data.clips is not None and data.clips.shape[1:] == (32, 17, 3)
    k = list(data.sequence_ids).index(walks[0].sequence_id)
    cad = data.kinematic[k, kinematic_names().index("cadence")]
    assert cad == pytest.approx(walks[0].params.cadence_steps_min, rel=0.1)


def test_labelled_dataset_loader_explains_a_bad_folder(tmp_path):
    with pytest.raises(InvalidInputError, match="Labels file not found"):
        classify.load_labelled_dataset(tmp_path, embed=False)
    pd.DataFrame({"sequence_id": ["a"], "subject": ["s"], "label": [1]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(InvalidInputError, match="subject_id"):
        classify.load_labelled_dataset(tmp_path, embed=False)


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gaitscope")
    sub = parser.add_subparsers(dest="command", required=True)
    classify_cli.register_cli(sub)
    return parser


def test_cli_evaluate_and_train(tmp_path, capsys):
    feats = _features(n_subjects=8, walks=2).save(tmp_path / "feats.npz")
    out = tmp_path / "eval"
    args = _parser().parse_args(["evaluate-classifier", "--features", str(feats), "--heads", "linear",
                                 "--cv", "group-kfold", "--folds", "4", "--n-boot", "50", "--out", str(out)])
    assert args.func(args) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["feature_set"]) == {"-", "kinematic", "embedding", "both"}
    for name in ("comparison.png", "confusion.png", "calibration.png", "predictions.csv", "settings.json"):
        assert (out / name).stat().st_size > 0
    assert "majority" in capsys.readouterr().out

    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    args = _parser().parse_args(["train-classifier", "--features", str(feats), "--head", "linear", "--feature-set",
                                 "kinematic", "--version", "cli-1", "--cv", "none", "--db", db_url,
                                 "--out", str(tmp_path / "head.npz")])
    assert args.func(args) == 0
    from gaitscope.db import open_database

    with open_database(db_url).session() as s:
        head = prediction.load_active_head(s)
    assert head.version == "cli-1" and isinstance(head.estimator, LinearProbe)
    assert prediction.RegisteredHead.from_blob((tmp_path / "head.npz").read_bytes()).version == "cli-1"


def test_cli_explains_unavailable_feature_sets(tmp_path):
    data = _features(n_subjects=4, walks=2)
    data.embedding = np.zeros((len(data), 0))
    feats = data.save(tmp_path / "kin_only.npz")
    args = _parser().parse_args(["evaluate-classifier", "--features", str(feats), "--feature-sets", "embedding",
                                 "--out", str(tmp_path / "o")])
    with pytest.raises(InvalidInputError, match="not available"):
        args.func(args)


# ---------------------------------------------------------------------------------------------------------
# Real labels: PhysioNet Gait in Parkinson's Disease
# ---------------------------------------------------------------------------------------------------------


def test_walking_speed_orders_hoehn_yahr_stages_like_the_labels():
    if not GAITPDB.exists():
        pytest.skip(f"PhysioNet gaitpdb demographics not found at {GAITPDB} (shared data absent)")
    r = classify.hoehn_yahr_speed_check(GAITPDB, n_boot=1000)
    # Patients at higher Hoehn & Yahr stages walk slower: a negative rank correlation whose CI excludes 0
    # (measured: rho -0.28, 95 % CI about -0.47 to -0.06, n = 92 patients with a usual-walk speed).
    assert r.n >= 80
    assert -0.45 < r.rho < -0.15
    assert r.ci_high < 0
    with_controls = classify.hoehn_yahr_speed_check(GAITPDB, include_controls=True, n_boot=300)
    assert with_controls.rho < r.rho  # controls (stage 0) walk fastest: a stronger ordering
