"""The cohort research API: filters, tidy tables, embeddings, longitudinal values, and no identities."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from db_helpers import sha

import gaitscope.db.cohort as cohort
from gaitscope.db import create_patient, create_visit, register_recording, save_analysis, set_patient_identity
from gaitscope.db.samples import make_sample_analysis
from gaitscope.errors import DatabaseError

# code, sex, birth_year, diagnosis, severity per visit (one visit per entry, a year apart)
PATIENTS = [
    ("H-01", "F", 1950, "healthy", [0.0, 0.0]),
    ("H-02", "M", 1980, "healthy", [0.0]),
    ("PD-01", "F", 1955, "PD", [1.0, 2.0, 3.0]),
    ("PD-02", "M", 1940, "PD", [2.0]),
    ("PD-03", "F", None, "PD", [1.0]),
]


@pytest.fixture
def filled(db):
    """Five patients, eight visits, one analysis each (+ a second model version on PD-01's first visit)."""
    with db.session() as s:
        for i, (code, sex, by, dx, sev) in enumerate(PATIENTS):
            p = create_patient(s, code, sex=sex, birth_year=by, diagnosis=dx, updrs_gait=int(max(sev)),
                               notes="call Mrs Smith", height_cm=170)
            set_patient_identity(s, p, given_name="Secret", family_name=f"Name{i}")
            for j, severity in enumerate(sev):
                v = create_visit(s, p, date(2024 + j, 3, 1), notes="Mrs Smith came with her husband")
                rec = register_recording(s, v, sha256=sha(f"{code}{j}"), original_name=f"{code}-{j}.mp4",
                                         kind="video", fps=30, duration_s=2, width=640, height=480, size_bytes=1)
                smp = make_sample_analysis(seed=10 * i + j, severity=severity)
                kw = dict(keypoints2d=None, motion3d=smp.motion3d, report=smp.report, embedding=smp.embedding,
                          predictions=smp.predictions, model_name="m", analysis_version="a1", pipeline_version="p")
                save_analysis(s, rec, model_version="v1", **kw)
                if code == "PD-01" and j == 0:
                    save_analysis(s, rec, model_version="v2", **kw)
    return cohort.load(db)


def test_gait_parameters_is_tidy_and_complete(filled):
    df = filled.gait_parameters()
    n_params = len(make_sample_analysis().report.parameters)
    assert len(df) == 8 * n_params  # one analysis per recording by default (the newest)
    for c in ("patient_code", "visit_date", "recording_id", "analysis_id", "parameter", "side", "value", "unit",
              "flag", "age", "diagnosis"):
        assert c in df.columns
    assert pd.api.types.is_datetime64_any_dtype(df["visit_date"])
    assert df.loc[df.parameter == "step_asymmetry", "value"].isna().all()  # NULL -> NaN
    pd01 = df[(df.patient_code == "PD-01") & (df.visit_date == "2024-03-01")]
    assert set(pd01["model_version"]) == {"v2"}  # newest analysis of that recording
    assert filled.all_analyses().gait_parameters()["analysis_id"].nunique() == 9
    assert filled.versions(model_version="v1").gait_parameters()["analysis_id"].nunique() == 8
    only_speed = filled.gait_parameters("walking_speed")
    assert set(only_speed.parameter) == {"walking_speed"} and len(only_speed) == 8


def test_filters(filled):
    codes = lambda c: sorted(set(c.analyses()["patient_code"]))  # noqa: E731
    assert codes(filled.patients(diagnosis="pd")) == ["PD-01", "PD-02", "PD-03"]
    assert codes(filled.patients(sex="F")) == ["H-01", "PD-01", "PD-03"]
    assert codes(filled.patients(diagnosis="PD", sex="female")) == ["PD-01", "PD-03"]
    # age at visit: H-01 is 74-75, PD-01 69-71, PD-02 84, H-02 44; PD-03 has no birth year
    assert codes(filled.patients(age=(60, 80))) == ["H-01", "PD-01"]
    assert codes(filled.patients(age=(None, 50))) == ["H-02"]
    older = filled.patients(age=(70, None)).analyses()
    assert set(zip(older.patient_code, older.age)) == {("H-01", 74), ("H-01", 75), ("PD-01", 70), ("PD-01", 71),
                                                       ("PD-02", 84)}
    assert codes(filled.patients(updrs_gait=(2, 4))) == ["PD-01", "PD-02"]
    assert codes(filled.patients(codes=["H-02", "PD-02"])) == ["H-02", "PD-02"]
    assert codes(filled.visits(start=date(2025, 1, 1))) == ["H-01", "PD-01"]
    base = filled.patients(diagnosis="PD")
    assert codes(base.patients(sex="M")) == ["PD-02"] and codes(base) == ["PD-01", "PD-02", "PD-03"]  # immutable


def test_no_identities_or_free_text_anywhere(filled):
    frames = [filled.gait_parameters(), filled.curves(), filled.strides(), filled.events(), filled.predictions(),
              filled.patient_table(), filled.analyses(), filled.embeddings()[1], filled.parameter_matrix()]
    for df in frames:
        text = df.astype(str).to_string()
        assert "Secret" not in text and "Smith" not in text
        assert not {"given_name", "family_name", "notes", "hospital_number"} & set(df.columns)


def test_curves_strides_events_predictions(filled):
    curves = filled.patients(codes=["H-01"]).curves("knee_flexion")
    assert len(curves) == 2 * 2 * 101  # 2 visits x (L, R) x 101 points
    assert set(curves.side) == {"L", "R"} and curves["pct"].max() == 100.0
    smp = make_sample_analysis(seed=0, severity=0.0)
    knee_l = [c for c in smp.report.curves if c.name == "knee_flexion" and c.side == "L"][0]
    first = curves[(curves.visit_date == "2024-03-01") & (curves.side == "L")]
    np.testing.assert_allclose(first["mean"].to_numpy(), knee_l.mean)

    strides = filled.strides()
    assert len(strides) == 8 * len(smp.report.strides)
    assert strides["step_width_m"].isna().any() and strides["toe_off_frame"].isna().any()
    events = filled.events()
    assert set(events.kind) == {"heel_strike", "toe_off"}
    preds = filled.predictions()
    assert len(preds) == 8 and {"p_healthy", "p_pd"} <= set(preds.columns)
    np.testing.assert_allclose(preds["p_healthy"] + preds["p_pd"], 1.0)


def test_embeddings_align_with_keys(filled):
    X, keys = filled.patients(diagnosis="PD").embeddings()
    assert X.shape == (5, 16) and X.dtype == np.float32 and len(keys) == 5
    assert list(keys.patient_code) == ["PD-01", "PD-01", "PD-01", "PD-02", "PD-03"]
    smp = make_sample_analysis(seed=10 * 4 + 0, severity=1.0)  # PD-03's only analysis
    np.testing.assert_array_equal(X[4], smp.embedding.pooled)
    empty_X, empty_keys = filled.patients(diagnosis="ALS").embeddings()
    assert empty_X.shape[0] == 0 and empty_keys.empty


def test_mixed_embedding_sizes_must_be_chosen(db):
    with db.session() as s:
        p = create_patient(s, "X")
        for j, dim in enumerate((8, 12)):
            v = create_visit(s, p, date(2024, 1, 1 + j))
            rec = register_recording(s, v, sha256=sha(f"x{j}"), original_name="x", kind="video", fps=30,
                                     duration_s=1, width=1, height=1, size_bytes=1)
            smp = make_sample_analysis(seed=j, embedding_dim=dim)
            emb = type(smp.embedding)(pooled=smp.embedding.pooled, per_frame=smp.embedding.per_frame,
                                      model_name=f"enc{dim}", model_version="1")
            save_analysis(s, rec, keypoints2d=None, motion3d=smp.motion3d, report=smp.report, embedding=emb,
                          predictions=(), model_name="m", model_version="1", analysis_version="a",
                          pipeline_version="p")
    c = cohort.load(db)
    with pytest.raises(DatabaseError, match="different sizes"):
        c.embeddings()
    X, keys = c.embeddings(model_name="enc12")
    assert X.shape == (1, 12)


def test_longitudinal(filled):
    lon = filled.longitudinal("walking_speed")
    pd01 = lon[lon.patient_code == "PD-01"]
    assert list(pd01.days_since_first) == [0, 365, 730]
    assert pd01["change_from_first"].iloc[0] == 0
    assert pd01["change_from_first"].iloc[-1] < 0  # severity 1 -> 3 slows walking in the sample records
    assert (lon.groupby("patient_code").size() == pd.Series({"H-01": 2, "H-02": 1, "PD-01": 3, "PD-02": 1,
                                                             "PD-03": 1})).all()


def test_parameter_matrix_and_patient_table(filled):
    m = filled.parameter_matrix(side=["both", "L", "R"])
    assert len(m) == 8 and m["analysis_id"].is_unique
    assert {"walking_speed", "step_length_L", "step_length_R", "cadence"} <= set(m.columns)
    pt = filled.patient_table()
    assert list(pt.patient_code) == ["H-01", "H-02", "PD-01", "PD-02", "PD-03"]
    assert list(pt.n_visits) == [2, 1, 3, 1, 1]


def test_empty_cohort_gives_empty_frames(filled):
    none = filled.patients(diagnosis="nothing")
    for df in (none.gait_parameters(), none.curves(), none.strides(), none.events(), none.predictions(),
               none.longitudinal("cadence"), none.parameter_matrix()):
        assert df.empty and "patient_code" in df.columns


def test_load_by_url_refuses_outdated_schema(tmp_path):
    from gaitscope.errors import SchemaOutdatedError

    with pytest.raises(SchemaOutdatedError):
        cohort.load(f"sqlite:///{tmp_path / 'empty.db'}")
