"""Role enforcement in the data-access layer: each page's function called as each role, as a curious new user
would try it. Runs on SQLite and, when configured, PostgreSQL (fixtures in conftest.py)."""

from __future__ import annotations

from datetime import date

import pytest
from argon2 import PasswordHasher
from db_helpers import sha
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text

from gaitscope.db import access, auth
from gaitscope.db.models import AuditLog, Patient, Recording
from gaitscope.db.samples import make_sample_analysis
from gaitscope.errors import AccessDeniedError, DatabaseError, InvalidInputError

PW = "correct horse battery"
VERSIONS = dict(model_name="dstformer", model_version="mb-ft-h36m@1", analysis_version="a1", pipeline_version="0.1.0")
NOTE = 'Mrs Jane Doe <script>alert("x")</script> & <b>fall</b> last week'


@pytest.fixture(autouse=True)
def cheap_hasher():
    previous = auth.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    auth.set_password_hasher(previous)


class World:
    pass


@pytest.fixture
def w(db, tmp_path):
    """Two sites with one patient each (visit, uploaded recording, analysis), and one account per role."""
    w = World()
    w.db, w.uploads = db, tmp_path / "uploads"
    w.uploads.mkdir()
    with db.session() as s:
        mk = lambda name, role, site=None, team=None: auth.CurrentUser.from_user(
            auth.create_user(s, name, PW, role, site=site, care_team=team))
        w.admin = mk("root", "admin")
        w.dr_a = mk("dr_a", "clinician", "A")
        w.dr_b = mk("dr_b", "clinician", "B")
        w.dr_a_team2 = mk("dr_a2", "clinician", "A", "team2")
        w.viewer_a = mk("nurse_a", "viewer", "A")
        w.res = mk("res", "researcher")
    smp = make_sample_analysis(seed=1)
    w.rec, w.analysis = {}, {}
    for dr, code, site in ((w.dr_a, "A-001", "A"), (w.dr_b, "B-001", "B")):
        with db.session() as s:
            access.create_patient(s, dr, code, sex="F", birth_year=1953, height_cm=160, diagnosis="PD", notes=NOTE)
            access.set_patient_identity(s, dr, code, given_name="Jane", family_name="Doe", hospital_number=f"H-{site}")
            v = access.create_visit(s, dr, code, date(2026, 1, 10), notes="came with daughter Mary Doe")
            name = f"{site.lower()}{'0' * 31}.mp4"
            (w.uploads / name).write_bytes(b"video")
            rec = access.register_upload(s, dr, v.id, storage_name=name, sha256=sha(code), original_name="jane_doe.mp4",
                                         fps=30, duration_s=2, width=640, height=480, size_bytes=5)
            a = access.save_analysis(s, dr, rec.id, keypoints2d=smp.keypoints2d, motion3d=smp.motion3d,
                                     report=smp.report, embedding=smp.embedding, predictions=smp.predictions, **VERSIONS)
            w.rec[site], w.analysis[site] = rec.id, a.id
    return w


def _audit(db, action=None):
    with db.read_session() as s:
        q = select(AuditLog).order_by(AuditLog.id)
        if action:
            q = q.where(AuditLog.action == action)
        return [(e.username, e.action, e.entity, e.entity_id, e.at) for e in s.scalars(q)]


# ------------------------------------------------------------------------------------------------ patients


def test_list_patients_shows_only_the_clinicians_site(w):
    with w.db.session() as s:
        assert [p.code for p in access.list_patients(s, w.dr_a)] == ["A-001"]
        assert [p.code for p in access.list_patients(s, w.dr_b)] == ["B-001"]
        assert [p.code for p in access.list_patients(s, w.viewer_a)] == ["A-001"]
        assert access.list_patients(s, w.dr_a_team2) == []  # care team narrows the site
    for who in (w.res, w.admin):
        with pytest.raises(AccessDeniedError, match=f"{who.role} accounts may not list patients"):
            with w.db.session() as s:
                access.list_patients(s, who)


def test_clinician_of_site_a_cannot_view_site_b_patient(w):
    with pytest.raises(AccessDeniedError, match="'B-001' is not among the patients of your site 'A'"):
        with w.db.session() as s:
            access.view_patient(s, w.dr_a, "B-001")
    with pytest.raises(AccessDeniedError) as missing:  # same message for a code that does not exist at all
        with w.db.session() as s:
            access.view_patient(s, w.dr_a, "Z-999")
    assert "is not among the patients" in str(missing.value)
    for fn in (access.view_patient_identity, access.list_recordings):
        with pytest.raises(AccessDeniedError), w.db.session() as s:
            fn(s, w.dr_a, "B-001")
    with pytest.raises(AccessDeniedError), w.db.session() as s:
        access.update_patient(s, w.dr_a, "B-001", notes="overwritten")
    with w.db.session() as s:
        p = access.view_patient(s, w.dr_a, "A-001")
        assert p.code == "A-001" and p.notes == NOTE
    views = _audit(w.db, "view")
    assert [(u, e, i) for u, _, e, i, _ in views] == [("dr_a", "patient", "A-001")]
    assert views[0][4] is not None  # when


def test_researcher_and_admin_cannot_view_patients_or_identities(w):
    for who in (w.res, w.admin):
        for fn in (access.view_patient, access.view_patient_identity):
            with pytest.raises(AccessDeniedError, match=f"{who.role} accounts may not"):
                with w.db.session() as s:
                    fn(s, who, "A-001")


def test_identity_is_separate_and_for_clinicians_only(w):
    with w.db.session() as s:
        ident = access.view_patient_identity(s, w.dr_a, "A-001")
        assert (ident.given_name, ident.family_name, ident.hospital_number) == ("Jane", "Doe", "H-A")
    with pytest.raises(AccessDeniedError, match="viewer accounts may not view patient identities"):
        with w.db.session() as s:
            access.view_patient_identity(s, w.viewer_a, "A-001")
    assert _audit(w.db, "view_identity")[0][:4] == ("dr_a", "view_identity", "patient", "A-001")


def test_patient_without_identity_is_allowed(w):
    with w.db.session() as s:
        access.create_patient(s, w.dr_a, "A-002")
    with w.db.session() as s:
        assert access.view_patient_identity(s, w.dr_a, "A-002") is None


def test_clinician_creates_patients_only_in_own_site(w):
    with w.db.session() as s:
        p = access.create_patient(s, w.dr_a, "A-003", birth_year=1960)
        assert (p.site, p.care_team) == ("A", None)
    with pytest.raises(AccessDeniedError, match="own site"), w.db.session() as s:
        access.create_patient(s, w.dr_a, "B-777", site="B")
    for who in (w.res, w.admin, w.viewer_a):
        with pytest.raises(AccessDeniedError), w.db.session() as s:
            access.create_patient(s, who, "X-1")


def test_html_in_a_note_is_stored_verbatim(w):
    payload = "<img src=x onerror=alert(1)><script>document.cookie</script>"
    with w.db.session() as s:
        access.update_patient(s, w.dr_a, "A-001", notes=payload)
    with w.db.read_session() as s:
        assert s.scalars(select(Patient.notes).where(Patient.code == "A-001")).one() == payload
    with pytest.raises(InvalidInputError, match="site"):
        with w.db.session() as s:
            access.update_patient(s, w.dr_a, "A-001", site="B")  # cannot move a patient out of reach
    with pytest.raises(AccessDeniedError, match="viewer accounts may not edit"):
        with w.db.session() as s:
            access.update_patient(s, w.viewer_a, "A-001", notes="x")
    assert _audit(w.db, "update")[0][:4] == ("dr_a", "update", "patient", "A-001")


# ---------------------------------------------------------------------------------- videos and exports


def test_researcher_asking_for_a_patients_video_is_denied(w):
    with pytest.raises(AccessDeniedError, match="researcher accounts may not view patient videos"):
        with w.db.session() as s:
            access.recording_video_path(s, w.res, w.rec["A"], w.uploads)
    for who in (w.dr_b, w.viewer_a, w.admin):
        with pytest.raises(AccessDeniedError), w.db.session() as s:
            access.recording_video_path(s, who, w.rec["A"], w.uploads)
    with w.db.session() as s:
        path = access.recording_video_path(s, w.dr_a, w.rec["A"], w.uploads)
    assert path.parent == w.uploads.resolve() and path.read_bytes() == b"video"
    assert _audit(w.db, "view_video")[0][:4] == ("dr_a", "view_video", "recording", str(w.rec["A"]))


def test_video_path_never_leaves_the_uploads_dir(w):
    with w.db.session() as s:
        s.get(Recording, w.rec["A"]).storage_name = "../../etc/passwd"
    with pytest.raises(AccessDeniedError, match="outside the uploads folder"):
        with w.db.session() as s:
            access.recording_video_path(s, w.dr_a, w.rec["A"], w.uploads)


def test_register_upload_refuses_a_path_as_storage_name(w):
    with w.db.session() as s:
        vid = access.create_visit(s, w.dr_a, "A-001").id
    with pytest.raises(InvalidInputError):
        with w.db.session() as s:
            access.register_upload(s, w.dr_a, vid, storage_name="../x.mp4", sha256=sha("x"), original_name="x.mp4",
                                   fps=30, duration_s=1, width=1, height=1, size_bytes=1)
    with pytest.raises(AccessDeniedError):
        with w.db.session() as s:
            access.register_upload(s, w.dr_b, vid, storage_name="y.mp4", sha256=sha("y"), original_name="y.mp4",
                                   fps=30, duration_s=1, width=1, height=1, size_bytes=1)


def test_export_report_by_role(w, tmp_path):
    with w.db.session() as s:
        report = access.view_report(s, w.dr_a, w.analysis["A"])
        assert report.parameters
        e = access.export_report(s, w.dr_a, w.analysis["A"], "pdf", tmp_path / "r.pdf", sha256=sha("pdf"), size_bytes=3)
        assert e.created_by == "dr_a"
    with w.db.session() as s:  # a viewer may read the report on screen but not take it away
        access.view_report(s, w.viewer_a, w.analysis["A"])
    for who, msg in ((w.res, "researcher accounts may not export"), (w.admin, "admin accounts may not export"),
                     (w.viewer_a, "viewer accounts may not export"), (w.dr_b, "does not belong to a patient")):
        with pytest.raises(AccessDeniedError, match=msg), w.db.session() as s:
            access.export_report(s, who, w.analysis["A"], "pdf", tmp_path / "x.pdf")
    assert [r[:3] for r in _audit(w.db, "export")] == [("dr_a", "export", "analysis")]


def test_every_upload_and_analysis_was_audited(w):
    assert sorted(r[0] for r in _audit(w.db, "upload")) == ["dr_a", "dr_b"]
    assert sorted(r[0] for r in _audit(w.db, "analysis")) == ["dr_a", "dr_b"]
    with w.db.session() as s:
        assert access.authorize_analysis(s, w.dr_a, w.rec["A"]).id == w.rec["A"]
    with pytest.raises(AccessDeniedError), w.db.session() as s:
        access.authorize_analysis(s, w.res, w.rec["A"])
    assert [r[0] for r in _audit(w.db, "analysis_requested")] == ["dr_a"]


# --------------------------------------------------------------------------------------------- research


def test_researcher_cohort_is_pseudonymised(w):
    patients = access.cohort_patients(w.db, w.res, diagnosis="PD")
    assert sorted(patients["patient_code"]) == ["A-001", "B-001"]
    assert "birth_year" not in patients.columns and "notes" not in patients.columns
    expected_band = access.age_band(date.today().year - 1953)
    assert set(patients["age_band"]) == {expected_band}
    params = access.cohort_parameters(w.db, w.res)
    assert len(params) > 0
    assert "age" not in params.columns and set(params["age_band"]) == {"70-74"}  # 73 at the 2026 visit
    assert "visit_date" not in params.columns and set(params["visit_year"]) == {2026}
    for df in (patients, params):
        blob = df.to_csv()
        for secret in ("Jane", "Doe", "H-A", "jane_doe", "script", "daughter", "00000.mp4"):
            assert secret not in blob
    assert len(_audit(w.db, "cohort_query")) == 2


def test_cohort_export_csv_is_researcher_only_and_audited(w, tmp_path):
    path = access.export_cohort_csv(w.db, w.res, tmp_path / "cohort.csv")
    text_ = path.read_text()
    assert "age_band" in text_ and "Doe" not in text_
    assert [r[:3] for r in _audit(w.db, "export")] == [("res", "export", "cohort")]
    for who in (w.dr_a, w.admin, w.viewer_a):
        with pytest.raises(AccessDeniedError, match="may not query the research cohort"):
            access.cohort_patients(w.db, who)


@pytest.mark.parametrize("age, band", [(60, "60-64"), (64, "60-64"), (64.9, "60-64"), (65, "65-69"), (None, None)])
def test_age_band(age, band):
    assert access.age_band(age) == band


# --------------------------------------------------------------------------------------------- accounts


def test_only_admins_create_and_manage_accounts(w):
    with w.db.session() as s:
        u = access.create_user(s, w.admin, "dr_c", PW, "clinician", site="C")
        assert (u.username, u.role, u.site) == ("dr_c", "clinician", "C")
        assert "dr_c" in [x.username for x in access.list_users(s, w.admin)]
    for who in (w.dr_a, w.res, w.viewer_a):
        with pytest.raises(AccessDeniedError, match=f"{who.role} accounts may not create accounts"):
            with w.db.session() as s:
                access.create_user(s, who, "sneaky", PW, "admin")
        with pytest.raises(AccessDeniedError), w.db.session() as s:
            access.list_users(s, who)
    with w.db.session() as s:
        access.set_user_active(s, w.admin, "dr_c", False)
        access.reset_password(s, w.admin, "dr_c", "another long passphrase")
    with pytest.raises(InvalidInputError, match="own account"), w.db.session() as s:
        access.set_user_active(s, w.admin, "root", False)
    actions = {(r[0], r[1], r[3]) for r in _audit(w.db)}
    assert {("root", "create_user", "dr_c"), ("root", "disable_user", "dr_c"), ("root", "set_password", "dr_c")} <= actions


def test_not_signed_in_is_denied():
    with pytest.raises(AccessDeniedError, match="not signed in"):
        access.list_patients(None, None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ append-only audit log


def test_audit_log_update_via_sql_fails(w):
    with pytest.raises((sa_exc.SQLAlchemyError, DatabaseError), match="append-only"):
        with w.db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET username = 'nobody'"))
    assert "nobody" not in {r[0] for r in _audit(w.db)}


def test_audit_log_delete_via_sql_fails(w):
    """Both engines (PostgreSQL since migration 0004)."""
    from gaitscope.db.audit_trail import audit

    with w.db.session() as s:
        audit(s, "tester", "view_patient", "patient", "P-1")
    n = len(_audit(w.db))
    assert n >= 1  # a DELETE of an empty table would prove nothing
    with pytest.raises(sa_exc.SQLAlchemyError, match="append-only"):
        with w.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert len(_audit(w.db)) == n
