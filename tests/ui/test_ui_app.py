"""The dashboard's pages driven by Streamlit's AppTest (no browser): start-up, patients, upload, results.
Sign-in, first run and the pages of each role: test_ui_roles.py."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("argon2")
from ui_app_helpers import app as _app  # noqa: E402
from ui_app_helpers import ok as _ok  # noqa: E402
from ui_app_helpers import plain as _plain  # noqa: E402
from ui_app_helpers import texts as _texts  # noqa: E402
from ui_app_helpers import user_of as _user  # noqa: E402

from gaitscope.ui import data, jobs  # noqa: E402
from gaitscope.ui.components import PAGE_RESULTS, PAGE_UPLOAD  # noqa: E402
from gaitscope.ui.demo_data import DEMO_SITE  # noqa: E402


def test_app_starts_on_an_empty_database_and_shows_demo_patients(env):
    at = _app().run()
    _ok(at)
    assert [t.value for t in at.title] == ["Patients"]
    codes = list(at.dataframe[0].value["Code"])
    assert codes == ["DEMO-001", "DEMO-002"]
    # the first demo patient is opened with its visit history
    assert any("DEMO-001" in _plain(s.value) for s in at.subheader)
    history = at.dataframe[1].value
    assert len(history) == 3 and set(history["Status"]) == {"done"}


def test_invalid_height_is_refused_with_a_clear_error(env):
    at = _app().run()
    at.text_input(key="new_patient_code").input("P-0100")
    at.number_input(key="new_patient_height").set_value(300.0)
    at.button(key="FormSubmitter:new_patient-Create patient").click().run()
    _ok(at)
    assert any("Height 300 cm is outside 50-250 cm" in e.value for e in at.error)
    assert "P-0100" not in list(at.dataframe[0].value["Code"])


def test_created_patient_appears_in_the_list_and_notes_stay_plain_text(env):
    at = _app().run()
    at.text_input(key="new_patient_code").input("P-0101")
    at.number_input(key="new_patient_height").set_value(168.0)
    at.number_input(key="new_patient_birth_year").set_value(1950)
    at.selectbox(key="new_patient_sex").set_value("F")
    at.text_area(key="new_patient_notes").input("<script>alert('x')</script> ![img](http://example.invalid/x.png)")
    at.button(key="FormSubmitter:new_patient-Create patient").click().run()
    _ok(at)
    assert not at.error
    assert "P-0101" in list(at.dataframe[0].value["Code"])
    assert any("P-0101 created" in s.value.replace("\\", "") for s in at.success)
    # the new patient is opened; the note is shown as plain text, never as markdown/HTML
    assert at.selectbox(key="patient_select").value == "P-0101"
    assert any("<script>alert('x')</script>" in t.value for t in at.text)
    assert not any("<script>" in m.value or "](http" in m.value for m in at.markdown)
    # search narrows the list
    at.text_input(key="patient_search").input("p-01").run()
    assert list(at.dataframe[0].value["Code"]) == ["P-0101"]


def test_duplicate_patient_code_is_refused(env):
    at = _app().run()
    at.text_input(key="new_patient_code").input("DEMO-001")
    at.button(key="FormSubmitter:new_patient-Create patient").click().run()
    _ok(at)
    assert any("already exists" in e.value for e in at.error)


def _store_analysis(url: str, sha256: str = "ab" * 32, storage_name: str | None = None) -> int:
    from gaitscope.db import (
        create_patient,
        create_visit,
        register_recording,
        save_analysis,
    )
    from gaitscope.ui.example_records import (
        example_keypoints,
        example_motion,
        example_predictions,
        example_report,
    )

    motion = example_motion()
    with data.database(url).session() as s:
        p = create_patient(s, "P-RES", height_cm=172, site=DEMO_SITE)
        v = create_visit(s, p)
        rec = register_recording(s, v, sha256=sha256, original_name="clinic walk.mp4", kind="video", fps=30.0,
                                 duration_s=2.0, width=320, height=240, size_bytes=1234)
        rec.storage_name = storage_name
        a = save_analysis(s, rec, keypoints2d=example_keypoints(motion), motion3d=motion, report=example_report(),
                          embedding=None, predictions=list(example_predictions()), model_name="lifter:dstformer",
                          model_version="7", analysis_version="a-test", pipeline_version="p-test")
        s.flush()
        return int(a.id)


def test_results_page_renders_a_stored_analysis(env):
    at = _app().run()
    analysis_id = _store_analysis(env)
    at.session_state["analysis_id"] = analysis_id
    at.switch_page(PAGE_RESULTS).run()
    _ok(at)
    assert [t.value for t in at.title] == ["Results"]
    assert at.selectbox(key="results_select").value == analysis_id
    assert any("P-RES" in _plain(s.value) for s in at.subheader)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Cadence (steps/min)"] == "108" and metrics["GPS (deg)"] == "6.4"
    table = at.dataframe[0].value
    row = table[table["Parameter"] == "Double support"].iloc[0]
    assert row["Flag"] == "high" and row["Both sides"].startswith("27.0 ± 0.5 [")  # value ± SD [95 % interval]
    lo, hi = (float(x) for x in row["Both sides"].split("[")[1].rstrip("]").split(", "))
    assert lo < 27.0 < hi and row["Reliability"] == "reliable"  # only a reliable number is flagged
    text = _texts(at)
    assert "children" in text.lower()  # the curve reference is labelled
    assert "parkinsonian_gait version example-0" in text  # classifier with its version
    labels = [b.label for b in at.get("download_button")]
    assert "Download PDF report" in labels and "Download parameters.csv" in labels
    assert len(at.get("plotly_chart")) >= 5  # 3D, curves, GVS, classifier (no trend: one visit)
    assert "Trends need two or more analyzed visits; this patient has 1." in text
    assert len(at.get("imgs")) >= 1 or len(at.image) >= 1  # the skeleton overlay frame
    # a download is written to the audit log
    pdf_button = next(b for b in at.get("download_button") if b.label == "Download PDF report")
    pdf_button.click().run()
    _ok(at)
    from sqlalchemy import select

    from gaitscope.db.models import AuditLog

    with data.database(env).read_session() as s:
        entries = [(e.username, e.action, e.entity_id, (e.details or {}).get("kind"))
                   for e in s.scalars(select(AuditLog))]
    assert ("dr_demo", "export", str(analysis_id), "pdf") in entries  # who took which report out
    assert ("dr_demo", "view", str(analysis_id), None) in entries


def test_upload_refuses_a_file_that_is_not_a_video(env):
    at = _app().run()
    at.switch_page(PAGE_UPLOAD).run()
    _ok(at)
    at.file_uploader(key="upload_file").upload("walk.mp4", b"<html>not a video</html>" * 50, "video/mp4")
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    assert any("not a video" in e.value for e in at.error)
    assert "job_id" not in at.session_state


def test_upload_of_a_broken_video_is_refused_and_leaves_nothing_behind(env):
    from gaitscope.io.uploads import leftover_temp_files
    from gaitscope.ui.uploads import uploads_dir

    at = _app().run()
    before = len(data.patient_history(_user("dr_demo"), "DEMO-001", env))
    at.switch_page(PAGE_UPLOAD).run()
    # MP4 magic bytes pass the content sniffing; the decode check then finds no video
    fake = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 4000
    at.file_uploader(key="upload_file").upload("broken.mp4", fake, "video/mp4")
    at.number_input(key="upload_height_DEMO-001").set_value(170.0)
    at.button(key="FormSubmitter:upload_form-Analyze").click().run()
    _ok(at)
    assert at.error and "broken.mp4" in at.error[0].value
    assert "job_id" not in at.session_state
    assert len(data.patient_history(_user("dr_demo"), "DEMO-001", env)) == before  # no visit, no recording
    assert not leftover_temp_files(uploads_dir()) and not list(uploads_dir().glob("*.mp4"))


def test_results_page_plays_the_video_and_renders_the_overlay_in_the_background(env, tmp_path):
    cv2 = pytest.importorskip("cv2")
    import hashlib

    import numpy as np

    from gaitscope.ui.uploads import uploads_dir

    src = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for _ in range(60):
        writer.write(np.full((240, 320, 3), 120, np.uint8))
    writer.release()
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    (uploads_dir() / "0123abcd.avi").write_bytes(src.read_bytes())  # a generated name, as uploads are stored
    at = _app().run()
    at.session_state["analysis_id"] = _store_analysis(env, sha256=sha, storage_name="0123abcd.avi")
    at.switch_page(PAGE_RESULTS).run()
    _ok(at)
    # MJPEG does not play in browsers: an H.264/MP4 copy is written in the background, then shown
    assert not at.get("video") and any("playable copy" in c.value for c in at.caption)
    from gaitscope.io.playable import playable_path, video_codec
    from gaitscope.ui.playback import playable_dir

    copy = playable_path(playable_dir(), sha)
    deadline = time.time() + 60
    while not copy.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert video_codec(copy) in ("avc1", "h264")
    at.run()
    _ok(at)
    assert len(at.get("video")) == 1  # the original (as its playable copy), beside the frame slider
    at.button(key=f"overlay_button_{at.session_state['analysis_id']}").click().run()
    _ok(at)
    job = jobs.get_job(at.session_state[f"overlay_job_{at.session_state['analysis_id']}"])
    assert jobs.wait(job, 60).status == "done"
    at.run()
    _ok(at)
    assert len(at.get("video")) == 2  # the overlay video, and the original in an expander
    assert any("detected 2D skeleton" in c.value for c in at.caption)
