"""Patients page: search the list, create or edit a patient, see a patient's visits and recordings.

Clinicians and viewers of a site (the access layer shows each only their site's / care team's patients);
only clinicians get the create and edit forms, and the access layer refuses a viewer's edit anyway."""

from __future__ import annotations

import streamlit as st

from gaitscope.errors import GaitscopeError
from gaitscope.ui import data
from gaitscope.ui.components import (
    PAGE_UPLOAD,
    db_url,
    flash,
    guarded,
    md_escape,
    open_results,
    remembered_choice,
    show_flash,
    signed_in_user,
    user_errors,
)
from gaitscope.ui.validation import SEX_LABELS, PatientInput, validate_patient

_SEX_KEYS = list(SEX_LABELS)


def _patient_form(key: str, initial: PatientInput | None, submit_label: str) -> PatientInput | None:
    """The create/edit form; returns a validated PatientInput when submitted and valid (errors are shown)."""
    with st.form(key, clear_on_submit=False):
        code = st.text_input("Patient code (pseudonym, no names)", value=initial.code if initial else "",
                             key=f"{key}_code", max_chars=64, placeholder="P-0042", disabled=initial is not None)
        c1, c2, c3 = st.columns(3)
        sex = c1.selectbox("Sex", _SEX_KEYS, format_func=SEX_LABELS.get, key=f"{key}_sex",
                           index=_SEX_KEYS.index(initial.sex or "") if initial else 0)
        birth_year = c2.number_input("Birth year", value=initial.birth_year if initial else None, step=1,
                                     format="%d", key=f"{key}_birth_year", placeholder="e.g. 1954")
        height = c3.number_input("Height (cm)", value=initial.height_cm if initial else None, step=1.0,
                                 key=f"{key}_height", placeholder="50-250")
        diagnosis = st.text_input("Diagnosis (optional)", value=(initial.diagnosis or "") if initial else "",
                                  key=f"{key}_diagnosis", max_chars=200)
        notes = st.text_area("Notes (optional)", value=(initial.notes or "") if initial else "", key=f"{key}_notes")
        submitted = st.form_submit_button(submit_label)
    if not submitted:
        return None
    try:
        return validate_patient(initial.code if initial else code, sex=sex or None, birth_year=birth_year, height_cm=height, diagnosis=diagnosis,
                                notes=notes)
    except GaitscopeError as exc:
        st.error(str(exc))
        return None


def _history(user, code: str, url: str) -> None:
    history = data.patient_history(user, code, url)
    if history.empty:
        st.info("No visits yet. Upload a walking video on the **New analysis** page.")
        return
    shown = history.rename(columns={"visit_date": "Visit", "recording_id": "Recording", "file": "File",
                                    "status": "Status", "error": "Error", "analysis_id": "Analysis",
                                    "uploaded": "Uploaded", "visit_notes": "Visit notes"})
    st.dataframe(shown, hide_index=True, width="stretch")
    failed = history[history["status"] == "failed"]
    for _, row in failed.iterrows():
        st.warning(f"Recording {row['recording_id']} ({md_escape(row['file'])}) failed: {md_escape(row['error'])}")
    analyzed = history.dropna(subset=["analysis_id"])
    if not analyzed.empty:
        options = [int(a) for a in analyzed["analysis_id"]]
        labels = {int(r.analysis_id): f"{r.visit_date} - {r.file} (analysis {int(r.analysis_id)})"
                  for r in analyzed.itertuples()}
        c1, c2 = st.columns([3, 1])
        chosen = c1.selectbox("Analysis", options, format_func=labels.get, key="patients_open_analysis")
        if c2.button("Open results", key="patients_open_button"):
            open_results(chosen)


@guarded
def render() -> None:
    url = db_url()
    user = signed_in_user()
    editor = user.role == "clinician"
    st.title("Patients")
    show_flash()
    patients = None
    search = st.text_input("Search by code or diagnosis", key="patient_search")
    with user_errors("Could not read the patient list"):
        patients = data.patients_frame(user, url, search)
        st.dataframe(patients.rename(columns={"code": "Code", "sex": "Sex", "birth_year": "Birth year",
                                              "height_cm": "Height (cm)", "diagnosis": "Diagnosis",
                                              "visits": "Visits", "recordings": "Recordings",
                                              "last_visit": "Last visit"}),
                     hide_index=True, width="stretch")
        st.caption(f"{len(patients)} patient(s)")

    if patients is None:
        return
    if editor:
        with st.expander("New patient", expanded=False):
            new = _patient_form("new_patient", None, "Create patient")
        if new is not None:
            with user_errors("The patient was not created"):
                data.create_patient(user, new, url)
                st.session_state["patient_code"] = new.code
                flash(f"Patient {md_escape(new.code)} created.")
                st.rerun()

    codes = [] if patients is None else list(patients["code"])
    if not codes:
        return
    code = remembered_choice("Open patient", codes, key="patient_select", remember="patient_code")
    patient = data.get_patient_input(user, code, url)
    st.subheader(f"Patient {md_escape(patient.code)}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Sex", SEX_LABELS.get(patient.sex or "", "not stated"))
    c2.metric("Birth year", patient.birth_year or "-")
    c3.metric("Height", f"{patient.height_cm:g} cm" if patient.height_cm else "-")
    st.caption("Diagnosis")
    st.text(patient.diagnosis or "-")
    if patient.notes:
        st.caption("Notes")
        st.text(patient.notes)  # plain text: notes may contain anything, including <script>
    if editor:
        with st.expander("Edit patient"):
            edited = _patient_form("edit_patient", patient, "Save changes")
            if edited is not None:
                with user_errors("The changes were not saved"):
                    data.update_patient(user, patient.code, edited, url)
                    flash(f"Patient {md_escape(edited.code)} saved.")
                    st.rerun()
    st.subheader("Visits and recordings")
    _history(user, code, url)
    if editor and st.button("New analysis for this patient", key="patients_new_analysis"):
        st.switch_page(PAGE_UPLOAD)
