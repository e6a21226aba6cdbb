"""Repository functions on SQLite and PostgreSQL: the pipeline's view of the database."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import numpy as np
import pytest
from db_helpers import new_recording, sha
from sqlalchemy import func, select

from gaitscope.db import analysis_records as repo
from gaitscope.db import (
    audit,
    create_patient,
    create_visit,
    find_recording_by_hash,
    get_patient,
    list_analyses,
    load_analysis,
    mark_recording_status,
    model_registry,
    register_model,
    register_recording,
    save_analysis,
)
from gaitscope.db import patients as patients_db
from gaitscope.db.models import (
    Analysis,
    AuditLog,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    PoseSequence,
    PredictionRow,
    Recording,
    StrideRow,
)
from gaitscope.db.samples import make_sample_analysis
from gaitscope.errors import DatabaseError, DuplicateError
from gaitscope.records import Prediction

VERSIONS = dict(model_name="dstformer", model_version="mb-ft-h36m@1", analysis_version="a1", pipeline_version="0.1.0")


def _save(s, rec, smp, **overrides):
    kw = {**VERSIONS, **overrides}
    return save_analysis(
        s, rec, keypoints2d=smp.keypoints2d, motion3d=smp.motion3d, report=smp.report, embedding=smp.embedding,
        predictions=smp.predictions, **kw,
    )


def _count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


# --------------------------------------------------------------------------------------------- patients


def test_create_and_get_patient(db):
    with db.session() as s:
        p = create_patient(s, " PD-0042 ", sex="female", birth_year=1950, height_cm=162.5, diagnosis="PD",
                           updrs_iii=31, updrs_gait=2, notes="freezing at turns", site="Lyon")
        pid = p.id
    with db.session() as s:
        p = get_patient(s, "PD-0042")
        assert p is not None and p.id == pid
        assert (p.sex, p.birth_year, p.height_cm, p.diagnosis, p.updrs_iii, p.updrs_gait, p.site) == (
            "F", 1950, 162.5, "PD", 31.0, 2, "Lyon")
        assert get_patient(s, "nobody") is None


def test_duplicate_patient_code_is_a_clear_duplicate_error(db):
    with db.session() as s:
        create_patient(s, "PD-1")
    with pytest.raises(DuplicateError, match="PD-1.*already exists"):
        with db.session() as s:
            create_patient(s, "PD-1")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(height_cm=900), "Height must be between 30 and 250 cm"),
        (dict(height_cm=20), "Height must be between 30 and 250 cm"),
        (dict(updrs_gait=7), "UPDRS gait item"),
        (dict(updrs_gait=-1), "UPDRS gait item"),
        (dict(updrs_iii=200), "part III"),
        (dict(birth_year=1850), "Birth year"),
        (dict(birth_year=date.today().year + 1), "future"),
        (dict(sex="unicorn"), "Sex must be"),
    ],
)
def test_out_of_range_patient_values_are_refused_with_words(db, kwargs, message):
    with pytest.raises(DatabaseError, match=message) as info:
        with db.session() as s:
            create_patient(s, "P", **kwargs)
    assert "IntegrityError" not in str(info.value) and "CHECK" not in str(info.value)
    with db.session() as s:  # nothing was written
        assert get_patient(s, "P") is None


def test_failed_write_leaves_the_callers_session_usable(db):
    with db.session() as s:
        create_patient(s, "A")
        with pytest.raises(DatabaseError):
            create_patient(s, "B", height_cm=900)
        create_patient(s, "C")  # the savepoint was rolled back, the transaction goes on
    with db.session() as s:
        assert [p.code for p in patients_db.list_patients(s)] == ["A", "C"]


def test_identity_is_separate_and_optional(db):
    with db.session() as s:
        p = create_patient(s, "P1")
        patients_db.set_patient_identity(s, p, given_name="Ada", family_name="Lovelace", hospital_number="H-1")
        q = create_patient(s, "P2")
        with pytest.raises(DuplicateError, match="hospital number"):
            patients_db.set_patient_identity(s, q, given_name="Bob", hospital_number="H-1")
    with db.session() as s:
        assert get_patient(s, "P1").identity.family_name == "Lovelace"
        assert get_patient(s, "P2").identity is None


# --------------------------------------------------------------------------------------------- recordings


def test_register_recording_and_find_by_hash(db):
    with db.session() as s:
        rec = new_recording(s)
        rid, h = rec.id, rec.sha256
        assert rec.status == "pending"
    with db.session() as s:
        found = find_recording_by_hash(s, h.upper())
        assert found is not None and found.id == rid
        assert (found.original_name, found.kind, found.fps, found.width, found.size_bytes) == (
            "walk.mp4", "video", 30.0, 1920, 123456)
        assert find_recording_by_hash(s, sha("other")) is None


def test_same_file_twice_names_the_existing_recording(db):
    with db.session() as s:
        rec = new_recording(s, code="PD-7")
        v = create_visit(s, get_patient(s, "PD-7"))
        with pytest.raises(DuplicateError, match=rf"recording {rec.id} \(patient PD-7"):
            register_recording(s, v, sha256=rec.sha256, original_name="copy.mp4", kind="video", fps=30,
                               duration_s=2, width=10, height=10, size_bytes=1)


@pytest.mark.parametrize("bad, message", [(dict(fps=0), "frame rate"), (dict(kind="photo"), "kind"),
                                          (dict(sha256="abc"), "SHA-256"), (dict(width=-5), "width")])
def test_recording_constraints(db, bad, message):
    with db.session() as s:
        v = create_visit(s, create_patient(s, "P"))
        kw = dict(sha256=sha("x"), original_name="x.mp4", kind="video", fps=30.0, duration_s=1.0, width=640,
                  height=480, size_bytes=10)
        kw.update(bad)
        with pytest.raises(DatabaseError, match=message):
            register_recording(s, v, **kw)


def test_mark_recording_status_uses_its_own_transaction(db):
    with db.session() as s:
        rid = new_recording(s).id
    mark_recording_status(db, rid, "processing")
    try:
        with db.session() as s:
            s.get(Recording, rid).error = "half-written state that must be rolled back"
            raise RuntimeError("analysis crashed")
    except RuntimeError:
        mark_recording_status(db, rid, "failed", "No person was found in the video.")
    with db.session() as s:
        rec = s.get(Recording, rid)
        assert (rec.status, rec.error) == ("failed", "No person was found in the video.")
    mark_recording_status(db, rid, "done")
    with db.session() as s:
        assert (s.get(Recording, rid).status, s.get(Recording, rid).error) == ("done", None)
    with pytest.raises(DatabaseError, match="Unknown recording status"):
        mark_recording_status(db, rid, "exploded")
    with pytest.raises(DatabaseError, match="does not exist"):
        mark_recording_status(db, 99999, "done")


# --------------------------------------------------------------------------------------------- analyses


def _assert_reports_equal(a, b):
    assert (a.fps, a.n_frames, a.duration_s, a.scale_note, a.source, a.warnings) == (
        b.fps, b.n_frames, b.duration_s, b.scale_note, b.source, b.warnings)
    assert a.events == b.events
    assert len(a.strides) == len(b.strides)
    for x, y in zip(a.strides, b.strides):
        for f in dataclasses.fields(x):
            vx, vy = getattr(x, f.name), getattr(y, f.name)
            assert vx == vy or (isinstance(vx, float) and math.isnan(vx) and math.isnan(vy)), f.name
    assert len(a.parameters) == len(b.parameters)
    for x, y in zip(a.parameters, b.parameters):
        for f in dataclasses.fields(x):
            vx, vy = getattr(x, f.name), getattr(y, f.name)
            assert vx == vy or (isinstance(vx, float) and math.isnan(vx) and math.isnan(vy)), f.name
    assert [(c.name, c.side, c.unit, c.n_strides, c.normal_source) for c in a.curves] == [
        (c.name, c.side, c.unit, c.n_strides, c.normal_source) for c in b.curves]
    for x, y in zip(a.curves, b.curves):
        for nm in ("pct", "mean", "sd", "normal_mean", "normal_sd"):
            if getattr(x, nm) is None:
                assert getattr(y, nm) is None
            else:
                np.testing.assert_array_equal(getattr(x, nm), getattr(y, nm))
    assert a.scores.keys() == b.scores.keys()
    for k in a.scores:
        assert a.scores[k] == b.scores[k] or (math.isnan(a.scores[k]) and math.isnan(b.scores[k]))
    np.testing.assert_allclose(a.angles.to_numpy(), b.angles.to_numpy(), rtol=1e-6)
    assert list(a.angles.columns) == list(b.angles.columns)
    assert list(a.angles.index) == list(b.angles.index)


def test_save_and_load_analysis_round_trip(db):
    smp = make_sample_analysis(seed=3)
    with db.session() as s:
        rec = new_recording(s)
        aid = _save(s, rec, smp).id
    with db.session() as s:
        report, motion, kp, emb, preds = load_analysis(s, aid)
        assert s.get(Recording, rec.id).status == "done"
    _assert_reports_equal(smp.report, report)
    assert report.analysis_version == "a1"
    m0 = smp.motion3d
    np.testing.assert_allclose(motion.xyz_m, m0.xyz_m, atol=1e-6)  # float32 storage
    assert (motion.fps, motion.up, motion.root_relative, motion.scale_source, motion.source, motion.notes) == (
        m0.fps, m0.up, m0.root_relative, m0.scale_source, m0.source, m0.notes)
    np.testing.assert_array_equal(motion.valid, m0.valid)
    assert set(motion.feet) == set(m0.feet)
    for k in m0.feet:
        np.testing.assert_allclose(motion.feet[k], m0.feet[k], atol=1e-6)
    k0 = smp.keypoints2d
    np.testing.assert_array_equal(kp.xy_px, k0.xy_px)
    np.testing.assert_array_equal(kp.conf, k0.conf)
    np.testing.assert_array_equal(kp.frame_index, k0.frame_index)
    np.testing.assert_array_equal(kp.interpolated, k0.interpolated)
    np.testing.assert_array_equal(kp.raw, k0.raw)
    assert (kp.fps, kp.width, kp.height, kp.source, kp.raw_format, kp.notes) == (
        k0.fps, k0.width, k0.height, k0.source, k0.raw_format, k0.notes)
    e0 = smp.embedding
    np.testing.assert_array_equal(emb.pooled, e0.pooled)
    np.testing.assert_allclose(emb.per_frame, e0.per_frame, rtol=2e-3, atol=2e-3)  # float16 storage
    assert (emb.model_name, emb.model_version) == (e0.model_name, e0.model_version)
    assert preds == list(smp.predictions)


def test_every_analysis_table_gets_rows(db):
    smp = make_sample_analysis(seed=1)
    with db.session() as s:
        _save(s, new_recording(s), smp)
    with db.session() as s:
        assert _count(s, GaitParameter) == len(smp.report.parameters)
        assert _count(s, GaitCurveRow) == len(smp.report.curves)
        assert _count(s, StrideRow) == len(smp.report.strides)
        assert _count(s, GaitEventRow) == len(smp.report.events)
        assert _count(s, Embedding) == 1 and _count(s, PredictionRow) == 1
        fmts = sorted((p.kind, p.joint_format) for p in s.scalars(select(PoseSequence)))
        assert fmts == [("2d", "blazepose33"), ("2d", "h36m17"), ("3d", "h36m17")]
        nan_param = s.scalars(select(GaitParameter).where(GaitParameter.name == "step_asymmetry")).one()
        assert nan_param.value is None  # NaN is stored as NULL on both backends


def test_analysis_without_2d_or_embedding(db):
    smp = make_sample_analysis(seed=2, with_raw=False)
    with db.session() as s:
        rec = new_recording(s)
        a = save_analysis(s, rec, keypoints2d=None, motion3d=smp.motion3d, report=smp.report, embedding=None,
                          predictions=(), **VERSIONS)
        report, motion, kp, emb, preds = load_analysis(s, a.id)
    assert kp is None and emb is None and preds == []
    np.testing.assert_allclose(motion.xyz_m, smp.motion3d.xyz_m, atol=1e-6)


def test_resave_is_idempotent_and_new_model_version_adds_beside(db):
    smp = make_sample_analysis(seed=4)
    other = make_sample_analysis(seed=5)
    with db.session() as s:
        rec = new_recording(s)
        a1 = _save(s, rec, smp)
    with db.session() as s:
        again = _save(s, rec, other)  # same versions, different content: unchanged
        assert again.id == a1.id
        a2 = _save(s, rec, other, model_version="mb-ft-h36m@2")
        a3 = _save(s, rec, other, analysis_version="a2")
        assert len({a1.id, a2.id, a3.id}) == 3
    with db.session() as s:
        assert [a.id for a in list_analyses(s, rec)] == [a1.id, a2.id, a3.id]
        assert _count(s, GaitParameter) == 3 * len(smp.report.parameters)
        report, *_ = load_analysis(s, a1.id)
    _assert_reports_equal(smp.report, report)  # the first save's content survived


def test_crash_in_the_middle_of_save_leaves_nothing(db, monkeypatch):
    smp = make_sample_analysis(seed=6)
    with db.session() as s:
        rid = new_recording(s).id

    def boom(*args, **kwargs):
        raise RuntimeError("worker killed half-way")

    # pose rows and the analysis row are already added when the report rows fail
    monkeypatch.setattr(repo, "_report_rows", boom)
    with pytest.raises(RuntimeError):
        with db.session() as s:
            _save(s, s.get(Recording, rid), smp)
    mark_recording_status(db, rid, "failed", "Analysis crashed; try again.")
    with db.session() as s:
        for model in (Analysis, PoseSequence, GaitParameter, StrideRow, Embedding, PredictionRow):
            assert _count(s, model) == 0, model.__name__
        assert s.get(Recording, rid).status == "failed"

    # even a caller that swallows the exception and commits cannot store half an analysis
    with db.session() as s:
        try:
            _save(s, s.get(Recording, rid), smp)
        except RuntimeError:
            audit(s, "worker", "analysis_failed", "recording", rid)
    with db.session() as s:
        assert _count(s, Analysis) == 0 and _count(s, PoseSequence) == 0
        assert _count(s, AuditLog) == 1

    monkeypatch.undo()
    with db.session() as s:  # and the recording can then be analyzed normally
        a = _save(s, s.get(Recording, rid), smp)
    with db.session() as s:
        assert _count(s, Analysis) == 1 and s.get(Recording, rid).status == "done"
        assert load_analysis(s, a.id)[0].n_frames == smp.report.n_frames


@pytest.mark.parametrize(
    "pred, message",
    [
        (Prediction("h", "1", ("a", "b"), (0.5, 0.6), "a"), "sum to 1"),
        (Prediction("h", "1", ("a", "b"), (1.5, -0.5), "a"), "between 0 and 1"),
        (Prediction("h", "1", ("a", "b"), (0.5,), "a"), "probabilities"),
        (Prediction("h", "1", ("a", "b"), (0.5, 0.5), "c"), "not one of"),
    ],
)
def test_bad_predictions_are_refused(db, pred, message):
    smp = make_sample_analysis(seed=7)
    with db.session() as s:
        rec = new_recording(s)
        with pytest.raises(DatabaseError, match=message):
            _save(s, rec, dataclasses.replace(smp, predictions=(pred,)))
        assert _count(s, Analysis) == 0


def test_prediction_links_to_registered_head(db):
    smp = make_sample_analysis(seed=8)
    with db.session() as s:
        m = register_model(s, "pd_vs_healthy", "0.1", feature_set="embedding", classes=["healthy", "pd"],
                           training_data="synthetic", metrics={"auc": 0.9, "nan": float("nan")}, blob=b"w",
                           active=True)
        m2 = register_model(s, "pd_vs_healthy", "0.2", blob=b"w2", active=True)
        a = _save(s, new_recording(s), smp)
    with db.session() as s:
        assert model_registry.active_model(s, "pd_vs_healthy").id == m2.id
        row = s.scalars(select(PredictionRow)).one()
        assert row.model_id == m.id and row.analysis_id == a.id
        assert row.confidence == pytest.approx(max(smp.predictions[0].probabilities))
        with pytest.raises(DuplicateError, match="already registered"):
            register_model(s, "pd_vs_healthy", "0.1", blob=b"x")


def test_audit_is_append_only(db):
    with db.session() as s:
        e = audit(s, "dr_a", "view", "patient", 12, {"page": "overview", "score": float("nan"), "n": np.int64(3)})
        eid = e.id
    with db.session() as s:
        e = s.get(AuditLog, eid)
        assert (e.username, e.action, e.entity, e.entity_id) == ("dr_a", "view", "patient", "12")
        assert e.details == {"page": "overview", "score": None, "n": 3}
    with pytest.raises(DatabaseError, match="append-only"):
        with db.session() as s:
            s.get(AuditLog, eid).action = "edit"
    with pytest.raises(DatabaseError, match="append-only"):
        with db.session() as s:
            s.delete(s.get(AuditLog, eid))
    with db.session() as s:
        assert s.get(AuditLog, eid).action == "view"


def test_delete_patient_cascades_but_keeps_audit(db):
    smp = make_sample_analysis(seed=9)
    with db.session() as s:
        rec = new_recording(s, code="GONE")
        _save(s, rec, smp)
        model_registry.record_export(s, s.scalars(select(Analysis)).one(), "pdf", "/tmp/r.pdf", sha256=sha("pdf"))
        audit(s, "admin", "create", "patient", "GONE")
    with db.session() as s:
        patients_db.delete_patient(s, get_patient(s, "GONE"))
    with db.session() as s:
        for model in (Recording, Analysis, PoseSequence, GaitParameter, GaitCurveRow, StrideRow, GaitEventRow,
                      Embedding, PredictionRow):
            assert _count(s, model) == 0, model.__name__
        assert _count(s, AuditLog) == 1


def test_load_missing_analysis(db):
    with db.session() as s:
        with pytest.raises(DatabaseError, match="Analysis 424242 does not exist"):
            load_analysis(s, 424242)


def test_optional_payloads_round_trip(db):
    """No per-frame embedding; detector landmarks in a format without their own pose row; no raw at all."""
    smp = make_sample_analysis(seed=11)
    kp = smp.keypoints2d
    odd = dataclasses.replace(kp, raw=kp.raw[:, :21], raw_format="hand21")
    bare = dataclasses.replace(kp, raw=None, raw_format="")
    with db.session() as s:
        r1, r2 = new_recording(s, name="a.mp4"), new_recording(s, name="b.mp4")
        a1 = save_analysis(s, r1, keypoints2d=odd, motion3d=smp.motion3d, report=smp.report, embedding=smp.embedding,
                           predictions=(), store_per_frame_embedding=False, **VERSIONS)
        a2 = save_analysis(s, r2, keypoints2d=bare, motion3d=smp.motion3d, report=smp.report, embedding=None,
                           predictions=(), **VERSIONS)
    with db.session() as s:
        _, _, kp1, emb1, _ = load_analysis(s, a1.id)
        _, _, kp2, _, _ = load_analysis(s, a2.id)
        assert {(p.kind, p.joint_format) for p in s.get(Analysis, a1.id).pose_sequences} == {("2d", "h36m17"),
                                                                                          ("3d", "h36m17")}
    assert kp1.raw_format == "hand21"
    np.testing.assert_array_equal(kp1.raw, odd.raw)
    assert kp2.raw is None and kp2.raw_format == ""
    assert emb1.per_frame.shape == (0, smp.embedding.dim)
    np.testing.assert_array_equal(emb1.pooled, smp.embedding.pooled)


def test_keypoints_of_a_variable_rate_video_keep_their_video_times(db):
    """A VFR video's keypoints are on an even clock; each row's time on the video's own clock (``time_s``) is
    stored and comes back, so a stored analysis maps events to the video's frames and times as the first did.
    (Constant-rate keypoints store none and load with None.)"""
    smp = make_sample_analysis(seed=4)
    k0 = smp.keypoints2d
    times = 0.35 + np.arange(k0.n_frames) / k0.fps  # the video's clock, e.g. a stretch starting at 0.35 s
    vfr = dataclasses.replace(smp, keypoints2d=dataclasses.replace(k0, time_s=times))
    with db.session() as s:
        rec = new_recording(s)
        aid = _save(s, rec, vfr).id
        rec2 = new_recording(s, name="cfr.mp4")
        aid2 = _save(s, rec2, smp).id
    with db.session() as s:
        _, _, kp, _, _ = load_analysis(s, aid)
        _, _, kp2, _, _ = load_analysis(s, aid2)
    np.testing.assert_array_equal(kp.time_s, times)  # float64: no rounding of the clock
    assert kp2.time_s is None
