"""The database stores what the pipeline really produces, on SQLite and PostgreSQL (issue 18, point 1).

Until migration 0006 ``analysis.analysis_version`` was VARCHAR(50) while the real version is 82 characters:
PostgreSQL refused every real analysis ("A value is too long ...") and SQLite, which ignores declared lengths,
kept the suite green because the tests stored versions like "a1". These tests store a real
:class:`AnalysisResult` of the bundled sample video (BlazePose + the bundled lifter) and of a real C3D trial, each
also against a lab reference set whose name and digest lengthen the analysis version, with a file name as long as
a file system allows; they read everything back and compare it with what was computed.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gaitscope.db import analysis_records as repo
from gaitscope.db import model_registry, patients
from gaitscope.errors import InvalidInputError

LONGEST_FILE_NAME = "w" * 251 + ".mp4"  # 255 bytes: NAME_MAX of ext4, NTFS, APFS


@pytest.fixture(params=["video", "c3d"])
def real_result(request):
    return request.getfixturevalue("real_sample_result" if request.param == "video" else "real_c3d_result")


def _inputs(result, reference):
    from gaitscope.pipeline import analysis_inputs

    height = 170.0 if result.kind == "video" else None
    if result.kind == "video":
        return analysis_inputs.for_video(model_source=result.motion.source, checkpoint=None, reference=reference,
                                         height_cm=height, flip_tta=True)
    return analysis_inputs.for_mocap(model_source=result.motion.source, reference=reference, height_cm=height)


def _lab_reference():
    """The bundled bands under a lab's long set name (a file stem can be 250 characters): what
    ``gaitscope normative build`` + ``--normative`` give, as the analysis version sees it."""
    from gaitscope.analysis.normative_build import ReferenceSet, bundled_reference_set

    b = bundled_reference_set()
    return ReferenceSet(name="Gait lab of the university hospital, adults 20-80 years, overground " + "x" * 150,
                        curves=b.curves, spatiotemporal=b.spatiotemporal, children=False, n_subjects=40,
                        path=Path("/labs/reference.json"))


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12)


def _assert_stored_as_computed(db, aid: int, result) -> None:
    with db.read_session() as s:
        report, motion, kp, emb, _ = repo.load_analysis(s, aid)
        a = repo.get_analysis(s, aid)
        name = a.recording.original_name
        model_name, model_version, source = a.model_name, a.model_version, a.source
    want = result.report
    assert report.analysis_version == want.analysis_version
    assert (model_name + "@" + model_version) == result.motion.source == source
    assert name == LONGEST_FILE_NAME
    assert [(p.name, p.side) for p in report.parameters] == [(p.name, p.side) for p in want.parameters]
    assert all(_same(p.value, q.value) and _same(p.sd, q.sd) for p, q in zip(report.parameters, want.parameters))
    assert [(e.side, e.kind, e.frame) for e in report.events] == [(e.side, e.kind, e.frame) for e in want.events]
    assert [(s.start_frame, s.end_frame) for s in report.strides] == [(s.start_frame, s.end_frame)
                                                                       for s in want.strides]
    np.testing.assert_allclose(motion.xyz_m, result.motion.xyz_m, rtol=1e-6, atol=1e-6)  # float32 blobs
    if result.kind == "video":
        assert kp is not None and kp.source == result.keypoints.source
        assert emb is not None and emb.model_version == result.embedding.model_version
        # the viewing ray of each frame, which the re-analysis needs to tell a turn from a walk across the view
        assert result.motion.view_yaw_rad is not None and motion.view_yaw_rad is not None
        np.testing.assert_allclose(motion.view_yaw_rad, result.motion.view_yaw_rad, atol=1e-12)


def test_a_real_analysis_is_stored_and_read_back_whole(db, real_result):
    """The pipeline's own storage calls, as ``gaitscope analyze`` makes them (failed on PostgreSQL before 0006)."""
    from gaitscope.pipeline import storage
    from gaitscope.pipeline.steps import PIPELINE_VERSION

    assert len(real_result.report.analysis_version) > 50
    rec_id = storage.register(db, real_result.video, patient_code="P-REAL", visit_date=None,
                              original_name=LONGEST_FILE_NAME, kind=real_result.kind)
    aid = storage.save(db, rec_id, real_result, pipeline_version=PIPELINE_VERSION)
    _assert_stored_as_computed(db, aid, real_result)


def test_a_real_analysis_against_a_lab_reference_is_stored_beside_the_bundled_one(db, real_result):
    """A lab reference set appends its name and digest to the analysis version (300+ characters here)."""
    from gaitscope.analysis.normative_build import bundled_reference_set
    from gaitscope.pipeline import normative_choice, storage
    from gaitscope.pipeline.steps import PIPELINE_VERSION

    lab = _lab_reference()
    lab_result = replace(real_result, report=normative_choice.analyze_with(
        real_result.motion, lab, height_m=1.70 if real_result.kind == "video" else None))
    assert len(lab_result.report.analysis_version) > 300
    rec_id = storage.register(db, real_result.video, patient_code="P-REAL", visit_date=None,
                              original_name=LONGEST_FILE_NAME, kind=real_result.kind)
    ids = [storage.save(db, rec_id, result, pipeline_version=PIPELINE_VERSION, inputs=_inputs(result, ref))
           for result, ref in ((real_result, bundled_reference_set()), (lab_result, lab))]
    assert ids[0] != ids[1]  # another reference set is another analysis, stored beside the first
    for aid, result in zip(ids, (real_result, lab_result)):
        _assert_stored_as_computed(db, aid, result)


def test_typed_values_longer_than_their_column_are_refused_clearly(db, real_sample_result):
    from gaitscope.pipeline import storage

    with pytest.raises(InvalidInputError, match="patient code is 65 characters long; 64 at most"):
        storage.register(db, real_sample_result.video, patient_code="P" * 65, visit_date=None, original_name="a.mp4")
    with pytest.raises(InvalidInputError, match="file name is 501 characters long"):
        storage.register(db, real_sample_result.video, patient_code="P-1", visit_date=None,
                         original_name="n" * 497 + ".mp4")
    with db.session() as s:
        with pytest.raises(InvalidInputError, match="diagnosis is 201 characters"):
            patients.create_patient(s, "P-2", diagnosis="d" * 201)
        with pytest.raises(InvalidInputError, match="class label is 101 characters"):
            model_registry.register_model(s, "pd-head", "1", classes=["healthy", "c" * 101], blob=b"x")
    with db.read_session() as s:  # nothing half-stored: P-1 was created in the refused registration's transaction
        assert patients.list_patients(s) == []
        assert s.scalars(repo.select(repo.ModelRegistry)).all() == []
