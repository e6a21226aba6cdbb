"""New analysis: upload a walking video, check it, and analyze it in the background with per-stage progress.

Clinicians only: the upload is registered through :func:`gaitscope.ui.uploads.receive_upload` (access layer:
the patient must be of the clinician's site), then queued as a job in the database
(:func:`gaitscope.ui.jobs.start_analysis_job`, which names who asked, for the audit log). The panel polls the
job row once a second: a ``gaitscope worker`` or the dashboard's own worker thread runs it, so the page (and
even a restart of the dashboard) never interrupts the analysis."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st

from gaitscope.errors import GaitscopeError
from gaitscope.ui import data, jobs
from gaitscope.ui.components import (
    PAGE_PATIENTS,
    db_url,
    guarded,
    md_escape,
    open_results,
    remembered_choice,
    show_flash,
    signed_in_user,
    user_errors,
)
from gaitscope.ui.uploads import max_upload_bytes, receive_mocap_upload, receive_upload
from gaitscope.ui.validation import check_height_cm

STAGE_LABELS = {
    "decode": "Reading the video",
    "2d": "Finding the person (2D keypoints)",
    "3d": "Lifting to 3D",
    "embed": "Motion embedding",
    "analysis": "Gait analysis",
    "classify": "Classifier",
    "store": "Saving",
}


def is_mocap_name(name: str) -> bool:
    """A motion-capture file by its extension (its content is then checked by the reader)."""
    from pathlib import Path

    from gaitscope.pipeline.mocap import MOCAP_EXTENSIONS

    return Path(name or "").suffix.lower() in MOCAP_EXTENSIONS


def _stages() -> tuple[str, ...]:
    try:
        from gaitscope.pipeline.steps import STAGES
    except ImportError:  # the pipeline's dependencies are missing: still show the form
        return tuple(STAGE_LABELS)
    return tuple(STAGES)


def render_job(job_id: str, url: str | None = None) -> None:
    """Per-stage progress bars of one job, read from the job table."""
    snap = jobs.analysis_job(job_id, url or db_url())
    if snap is None:
        return
    st.subheader(f"Analysis of {md_escape(snap.label)}")
    if snap.status == "queued":
        st.caption("Waiting for a worker to start this analysis.")
    for stage in snap.stages:
        frac = snap.stage_fraction(stage)
        label = STAGE_LABELS.get(stage, stage)
        suffix = ""
        mark = "done" if frac >= 1.0 else ""
        if stage == snap.current_stage and frac < 1.0:
            mark = "failed" if snap.status == "failed" else "running"
        st.progress(frac, text=f"{label}{suffix} {('- ' + mark) if mark else ''}")
    if snap.status == "failed":
        st.error(snap.error)
        st.info("Nothing was stored for this upload: the recording is marked as failed and earlier analyses are "
                "unchanged.")
        if snap.detail:
            with st.expander("Technical details (for the developers)"):
                st.code(snap.detail)
    elif snap.status == "done":
        st.success("Analysis finished and stored.")
        if snap.analysis_id is not None and st.button("Open results", key="upload_open_results"):
            open_results(snap.analysis_id)
    else:
        st.caption("You can keep using the dashboard; this panel refreshes by itself.")


@st.fragment(run_every=1.0)
def _job_panel(job_id: str, url: str) -> None:
    """Redraws only this panel every second while the job runs (the form above keeps its state)."""
    job = jobs.analysis_job(job_id, url)
    if job is not None and job.finished:
        st.rerun(scope="app")  # the whole page then shows the outcome without polling any more
    if job is not None and job.status == "queued":
        with user_errors("Could not start a worker"):
            jobs.ensure_worker(url)  # no live worker (or ours just went idle): start one
    render_job(job_id, url)


def _reference_choice() -> str | None:
    """The reference ("normal") set for this analysis: the bundled one and the lab's saved sets
    (``gaitscope normative build``); None keeps the configured default (``gaitscope normative use``)."""
    try:
        from gaitscope.pipeline.normative_choice import list_sets

        rows = list_sets()
    except Exception:  # noqa: BLE001 - a damaged saved set must not hide the upload form
        rows = []
    if len(rows) < 2:
        return None
    labels = {i: f"{r['name']} ({r['subjects']}{', children' if r['children'] else ''})"
                 f"{' - default' if r['default'] else ''}" for i, r in enumerate(rows)}
    default = next((i for i, r in enumerate(rows) if r["default"]), 0)
    i = st.selectbox("Reference (normal) set", list(labels), index=default, format_func=labels.get,
                     key="upload_reference")
    row = rows[i]
    if row["default"]:
        return None
    return "schwartz2008" if row["path"] == "(bundled)" else str(row["path"])


@st.cache_data(max_entries=4, show_spinner="Looking for the people in the video...")
def _people_frame(path: str) -> tuple[int, object, int]:
    """(frame index, RGB image with numbered boxes, number of people) of the first frame where the most people
    are seen (:func:`gaitscope.pose2d.people.find_people`)."""
    from gaitscope.io.video import probe_video
    from gaitscope.pose2d.people import find_people, numbered_frame

    found = find_people(probe_video(path))
    return found.frame, numbered_frame(found), len(found.boxes)


def _person_picker(pick: dict, user, url: str) -> None:
    """The people found on one frame, numbered from the left, and the choice of the one to analyze.

    Streamlit 1.60's ``st.image`` reports no clicks (a click on a picture needs a custom component), so the
    person is chosen by the number drawn on the frame; the command line takes the same number
    (``gaitscope analyze --person N``) or a pixel point."""
    st.subheader(f"Pick the person to analyze in {md_escape(pick['original_name'])}")
    try:
        frame, image, n = _people_frame(pick["path"])
    except GaitscopeError as exc:
        st.error(str(exc))
        return
    st.image(image, caption=f"People found on frame {frame}, numbered from the left", width="stretch")
    k = st.selectbox("Person to analyze", list(range(1, n + 1)), format_func=lambda i: f"Person {i}",
                     key="upload_person")
    st.caption("The analysis starts at this frame and follows the person picked.")
    if st.button("Analyze this person", key="upload_person_go", type="primary"):
        try:
            job = jobs.start_analysis_job(Path(pick["path"]), db_url=url, patient_code=pick["code"],
                                          visit_date=pick["visit_date"], height_cm=pick["height_cm"],
                                          original_name=pick["original_name"], user=user,
                                          recording_id=pick["recording_id"], normative=pick["normative"],
                                          person=str(k))
        except GaitscopeError as exc:
            st.error(str(exc))
            return
        st.session_state.pop("people_pick", None)
        st.session_state["job_id"] = job.id
        st.rerun()


@guarded
def render() -> None:
    url = db_url()
    user = signed_in_user()
    st.title("New analysis")
    show_flash()
    data.require_role(user, ("clinician",), "upload recordings")
    limit_mb = max_upload_bytes() / 1024 / 1024
    patients = None
    with user_errors("Could not read the patient list"):
        patients = data.patients_frame(user, url)
    codes = [] if patients is None else list(patients["code"])
    if not codes:
        st.info("Create a patient first.")
        if st.button("Go to patients"):
            st.switch_page(PAGE_PATIENTS)
        return

    code = remembered_choice("Patient", codes, key="upload_patient", remember="patient_code")
    patient = None
    with user_errors("Could not open the patient"):
        patient = data.get_patient_input(user, code, url)
    with st.form("upload_form"):
        video = st.file_uploader(f"Walking video (side view; MP4, MOV, AVI, MKV, WebM) or motion-capture file "
                                 f"(C3D, TRC, BVH); at most {limit_mb:.0f} MB", key="upload_file")
        c1, c2 = st.columns(2)
        height = c1.number_input("Subject height (cm), gives step lengths in metres",
                                 value=patient.height_cm if patient and patient.height_cm else None, step=1.0,
                                 key=f"upload_height_{code}", placeholder="50-250")
        # one field per patient: a keyed field keeps its value when only its default changes, so a single
        # "upload_height" showed the first patient's height (174 cm) for the next one (165 cm)
        visit_date = c2.date_input("Recording date", value=date.today(), max_value=date.today(),
                                   key="upload_date")
        normative = _reference_choice()
        notes = st.text_area("Notes (optional)", key="upload_notes", max_chars=2000)
        pick = st.checkbox("Several people walk in this video: let me pick the person to analyze",
                           key="upload_pick")
        submitted = st.form_submit_button("Analyze")

    if submitted:
        try:
            if video is None:
                raise GaitscopeError("Choose a video file first.")
            height_cm = check_height_cm(height)
            mocap = is_mocap_name(video.name)
            receive = receive_mocap_upload if mocap else receive_upload
            saved = receive(user, video, video.name, patient_code=code, visit_date=visit_date,
                            notes=notes, size_bytes=video.size, url=url)
            if pick and not mocap:  # the analysis starts once the person is picked (below)
                st.session_state["people_pick"] = dict(
                    path=str(saved.path), code=code, visit_date=visit_date, height_cm=height_cm,
                    original_name=saved.original_name, recording_id=saved.recording_id, normative=normative,
                    sha256=saved.sha256)
                st.session_state.pop("job_id", None)
                job = None
            else:
                job = jobs.start_analysis_job(saved.path, db_url=url, patient_code=code, visit_date=visit_date,
                                              height_cm=height_cm, original_name=saved.original_name, user=user,
                                              recording_id=saved.recording_id, normative=normative)
        except GaitscopeError as exc:
            st.error(str(exc))
        else:
            from gaitscope.ui.playback import prepare_playable

            if not mocap:
                prepare_playable(saved.path, saved.sha256)  # the Results page can then play it at once
            if job is not None:
                st.session_state["job_id"] = job.id
            st.session_state["patient_code"] = code
            if height_cm is None:
                st.warning("No height given: lengths and speed will use an assumed height and be less accurate.")

    if st.session_state.get("people_pick"):
        _person_picker(st.session_state["people_pick"], user, url)
    job_id = st.session_state.get("job_id")
    job = jobs.analysis_job(job_id, url) if job_id else None
    if job is not None:
        if job.finished:
            render_job(job.id, url)
        else:
            _job_panel(job.id, url)
