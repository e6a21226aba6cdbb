"""Migration 0006 on both engines: an analysis is identified by its inputs, a file is filed per patient, and a
database with analyses stored before 0006 upgrades without losing or mis-reusing them (issue 18, point 2)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from db_helpers import sha

from gaitscope.db import analysis_records as repo
from gaitscope.db import migrate, open_database, patients, recordings
from gaitscope.errors import DuplicateError


def _recording(s, code: str, content: str = "walk"):
    p = patients.get_patient(s, code) or patients.create_patient(s, code)
    v = patients.create_visit(s, p, date(2026, 1, 5))
    return recordings.register_recording(s, v, sha256=sha(content), original_name="walk.mp4", kind="video", fps=30.0,
                                   duration_s=4.0, width=640, height=480, size_bytes=10)


def test_the_same_file_for_another_patient_is_that_patients_recording(db):
    with db.session() as s:
        a = _recording(s, "P-A")
        b = _recording(s, "P-B")  # was refused before 0006 ("already uploaded as recording 1 (patient P-A ...")
        assert a.id != b.id
        pa, pb = patients.get_patient(s, "P-A"), patients.get_patient(s, "P-B")
        assert recordings.find_recording_by_hash(s, sha("walk"), patient_id=pa.id).id == a.id
        assert recordings.find_recording_by_hash(s, sha("walk"), patient_id=pb.id).id == b.id
        with pytest.raises(DuplicateError, match=rf"recording {b.id} \(patient P-B"):
            _recording(s, "P-B")  # the same patient twice is still refused


def test_schema_keeps_one_content_per_visit(db):
    from gaitscope.db.models import Recording

    with db.session() as s:
        a = _recording(s, "P-A")
        visit_id = a.visit_id
    with pytest.raises(DuplicateError, match="already uploaded for this visit"):
        with db.session() as s:
            s.add(Recording(visit_id=visit_id, sha256=sha("walk"), kind="video", status="pending"))
            s.flush()


def test_analyses_stored_before_0006_survive_the_upgrade_and_are_not_reused(db_url):
    migrate.upgrade(db_url, "0005")
    engine = sa.create_engine(db_url)
    now = "2026-01-05 10:00:00"
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO patient (id, code, created_at, updated_at) VALUES (1, 'P-OLD', :t, :t)"),
                  {"t": now})
        c.execute(sa.text("INSERT INTO visit (id, patient_id, visit_date, created_at) VALUES (1, 1, '2026-01-05', :t)"),
                  {"t": now})
        c.execute(sa.text("INSERT INTO recording (id, visit_id, sha256, original_name, kind, status, created_at, "
                          "updated_at) VALUES (1, 1, :h, 'old.mp4', 'video', 'done', :t, :t)"),
                  {"h": sha("old"), "t": now})
        c.execute(sa.text("INSERT INTO analysis (id, recording_id, pipeline_version, model_name, model_version, "
                          "analysis_version, fps, n_frames, duration_s, scale_note, source, scores, warnings, "
                          "created_at) VALUES (7, 1, '0.1.0', 'lifter:small', 'v1', 'a1', 30, 90, 3, '', "
                          "'lifter:small@v1', '{}', '[]', :t)"), {"t": now})
    engine.dispose()
    assert migrate.upgrade(db_url) == migrate.head_revision()
    db = open_database(db_url)
    try:
        with db.read_session() as s:
            old = repo.get_analysis(s, 7)
            assert (old.inputs_key, old.model_version, old.analysis_version) == ("legacy-7", "v1", "a1")
            assert repo.find_analysis(s, 1, repo.inputs_key(repo.versions_inputs("lifter:small", "v1", "a1"))) is None
        # an analysis of the same versions now is a new one, beside the old (whose height is unknown)
        from gaitscope.analysis.report import analyze_gait
        from gaitscope.synthetic.truth import WalkParams
        from gaitscope.synthetic.walker import simulate_walk

        motion = simulate_walk(WalkParams(duration_s=4.0)).motion
        with db.session() as s:
            new = repo.save_analysis(s, recordings.get_recording(s, 1), keypoints2d=None, motion3d=motion,
                                     report=analyze_gait(motion), embedding=None, predictions=[],
                                     model_name="lifter:small", model_version="v1", analysis_version="a1",
                                     pipeline_version="0.1.0")
            new_id = new.id
        with db.read_session() as s:
            assert sorted(a.id for a in repo.list_analyses(s, 1)) == sorted({7, new_id}) and new_id != 7
    finally:
        db.dispose()
