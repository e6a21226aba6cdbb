"""Ranges for this patient (issue 21 point 4): the age and sex of the patient record, or ``--age``/``--sex``, pick
the spatiotemporal normal ranges, and they take part in what identifies a stored analysis."""

from __future__ import annotations

import os
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gaitscope.pipeline.analysis_inputs import AnalysisInputs


@pytest.fixture(scope="module")
def trc(tmp_path_factory):
    from gaitscope.io.synthetic_mocap import plug_in_gait_markers, write_trc
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(duration_s=6.0, fps=30.0, seed=3))
    return write_trc(tmp_path_factory.mktemp("trc") / "walk.trc", plug_in_gait_markers(walk.motion), 30.0, units="mm")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database on SQLite and, when GAITSCOPE_TEST_PG_URL is set, on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'g.db'}"
        return
    base = os.environ.get("GAITSCOPE_TEST_PG_URL")
    if not base:
        pytest.skip("GAITSCOPE_TEST_PG_URL is not set: PostgreSQL not tested")
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"gs_ranges_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _cadence_range(result):
    p = result.report.parameter("cadence")
    return p.normal_low, p.normal_high, p.normal_source


def test_patient_record_age_and_sex_pick_the_ranges(trc, fresh_url):
    """A woman born 1950 seen in 2026 is 76: the GAITRite table's female 75-79 row (Hollman et al. 2011), cadence
    101-127 steps/min as mean -/+ 1 SD, i.e. 88-140 at -/+ 2 SD (read off the bundled CSV by hand)."""
    from gaitscope.db import patients
    from gaitscope.pipeline import storage
    from gaitscope.pipeline.mocap import analyze_mocap

    url = fresh_url
    database = storage.open_db(url)
    with database.session() as s:
        patients.create_patient(s, "OLD-1", sex="F", birth_year=1950)
    res = analyze_mocap(trc, db_url=url, patient_code="OLD-1", visit_date=date(2026, 5, 1))
    low, high, source = _cadence_range(res)
    assert (low, high) == pytest.approx((88.0, 140.0), abs=1e-6)
    assert "female" in source and "75-79" in source and "Hollman" in source
    # without a record (no database) the adult ranges of both sexes are used: 18-69 y envelope
    bare = analyze_mocap(trc)
    assert "adults 18-69" in _cadence_range(bare)[2]


def test_age_and_sex_options_override_and_make_another_analysis(trc, fresh_url):
    from gaitscope.pipeline.mocap import analyze_mocap
    from gaitscope.pipeline.steps import AnalysisOptions

    url = fresh_url
    first = analyze_mocap(trc, db_url=url, patient_code="P-1")
    child = analyze_mocap(trc, db_url=url, patient_code="P-1", options=AnalysisOptions(age_years=8, sex="M"))
    assert child.analysis_id != first.analysis_id and not child.reused
    low, high, source = _cadence_range(child)
    # male 8 y, normal pace: 119.1-142.5 (mean -/+ 1 SD) -> 107.4-154.2
    assert (low, high) == pytest.approx((107.4, 154.2), abs=1e-6) and "male" in source
    again = analyze_mocap(trc, db_url=url, patient_code="P-1", options=AnalysisOptions(age_years=8, sex="m"))
    assert again.reused and again.analysis_id == child.analysis_id
    # the reliability grades are not stored: the reused report is graded again to the same grades and warnings
    assert [p.reliability for p in again.report.parameters] == [p.reliability for p in child.report.parameters]
    assert all(p.reliability for p in again.report.parameters)
    assert again.report.warnings == child.report.warnings


def test_inputs_without_age_and_sex_keep_the_key_of_analyses_stored_before():
    from gaitscope.db.analysis_records import inputs_key

    base = dict(kind="mocap", model="mocap:pig@trc", checkpoint_sha256="", analysis_version="v",
                reference="r#1", height_cm=None, flip_tta=None, detector="")
    assert AnalysisInputs(**base).key == inputs_key(base)  # the dict stored before age/sex existed
    assert AnalysisInputs(**base, age_years=70).key != AnalysisInputs(**base).key
    assert AnalysisInputs(**base, sex="F").key != AnalysisInputs(**base, sex="M").key


def test_bad_age_or_sex_is_refused_with_exit_code_2(trc, capsys):
    from gaitscope.cli.main import main

    assert main(["analyze", str(trc), "--no-db", "--age", "300", "--quiet"]) == 2
    assert "Age 300" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["analyze", str(trc), "--no-db", "--sex", "Q"])
    assert exc.value.code == 2
