"""Activities of a stored recording (few-shot matching of the motion encoder's embeddings) and, when the SMPL body
model is configured, a mesh view of the patient's motion.

Same audience and access rules as the Results page: the analyses listed are those of the user's patients
(:func:`gaitscope.ui.data.analyses_frame`) and :func:`gaitscope.ui.data.check_report_access` runs on every rerun
before the cached recording is used. The matcher is built from labelled example clips: the built-in synthetic
examples (walk, sit-to-stand, arm raise, squat) or NTU-format ``.skeleton`` files the user uploads. Segments are
research output: similarity to a handful of examples, not a validated clinical measurement.
"""

from __future__ import annotations

import streamlit as st

from gaitscope.ui import data
from gaitscope.ui.activity_plots import activity_timeline_figure, mesh_figure
from gaitscope.ui.components import (
    analysis_choices,
    cached_result,
    db_url,
    guarded,
    md_escape,
    show_flash,
    signed_in_user,
    user_errors,
)

BUILTIN = "Built-in examples (synthetic: walk, sit-to-stand, arm raise, squat)"
UPLOADED = "My labelled clips (NTU .skeleton files)"


@st.cache_resource(max_entries=2, show_spinner="Building the activity matcher...")
def _builtin_matcher():
    from gaitscope.pipeline.activities import build_matcher, builtin_examples

    clips, labels = builtin_examples()
    return build_matcher(clips, labels)


@st.cache_resource(max_entries=4, show_spinner="Building the activity matcher...")
def _uploaded_matcher(files: tuple[tuple[str, bytes], ...], class_names: tuple[str, ...]):
    from gaitscope.pipeline.activities import build_matcher, examples_from_skeleton_files

    clips, labels = examples_from_skeleton_files(files, class_names or None)
    return build_matcher(clips, labels)


@st.cache_data(max_entries=16, show_spinner="Segmenting the recording...")
def _segments(analysis_id: int, url: str, source: str, files_key: int, window_s: float, hop_s: float):
    b = cached_result(analysis_id, url)
    info = _builtin_matcher() if source == BUILTIN else st.session_state["_activities_matcher"]
    from gaitscope.pipeline.activities import segment_recording

    return segment_recording(b.keypoints, b.motion, info, window_s=window_s, hop_s=hop_s)


@st.cache_resource(max_entries=1, show_spinner="Loading the mesh model...")
def _mesh_model(smpl_dir: str, checkpoint: str):
    from gaitscope.pipeline.activities import load_mesh_model

    return load_mesh_model(smpl_dir, checkpoint)


@st.cache_resource(max_entries=4, show_spinner="Recovering the mesh...")
def _mesh(analysis_id: int, url: str, smpl_dir: str, checkpoint: str):
    from gaitscope.pipeline.activities import mesh_for_keypoints

    return mesh_for_keypoints(_mesh_model(smpl_dir, checkpoint), cached_result(analysis_id, url).keypoints)


def _choose_analysis(user, url: str) -> int | None:
    choices = analysis_choices(user, url)
    if choices is None:
        return None
    ids, labels = choices
    wanted = st.session_state.get("analysis_id")
    index = ids.index(wanted) if wanted in ids else 0
    return st.selectbox("Recording (analysis)", ids, index=index, format_func=labels.get, key="activities_select")


def _activities(b: data.ResultBundle, url: str) -> None:
    st.subheader("Activities")
    source = st.radio("Labelled examples", [BUILTIN, UPLOADED], key="activities_source")
    files_key = 0
    if source == UPLOADED:
        ups = st.file_uploader("Example clips: NTU .skeleton files (SsssCcccPpppRrrrAaaa.skeleton; the action "
                               "number names the activity)", type=["skeleton"], accept_multiple_files=True,
                               key="activities_files")
        names = st.text_area("Activity names (optional; line i names action i, default NTU-60 classes)",
                             key="activities_names", max_chars=5000)
        if not ups:
            st.info("Upload at least one example clip per activity, or use the built-in examples.")
            return
        files = tuple((u.name, u.getvalue()) for u in ups)
        class_names = tuple(n.strip() for n in names.splitlines() if n.strip())
        st.session_state["_activities_matcher"] = _uploaded_matcher(files, class_names)
        files_key = hash((files, class_names))
        info = st.session_state["_activities_matcher"]
    else:
        info = _builtin_matcher()
    c1, c2 = st.columns(2)
    window_s = c1.slider("Window (s)", 0.5, 6.0, 2.0, 0.5, key="activities_window")
    hop_s = c2.slider("Step (s)", 0.25, 3.0, 0.5, 0.25, key="activities_hop")
    segments = _segments(b.analysis_id, url, source, files_key, window_s, hop_s)
    duration = b.motion.duration_s
    st.plotly_chart(activity_timeline_figure(segments, duration), key=f"act_timeline_{b.analysis_id}",
                    width="stretch")
    from gaitscope.pipeline.activities import segments_frame

    st.dataframe(segments_frame(segments), hide_index=True, width="stretch", key="activities_table")
    note = (f"Encoder: {md_escape(info.encoder)}. Labels: {md_escape(', '.join(info.labels))}. Each window gets "
            "the label whose examples' embedding is most similar (cosine). Research output, not a diagnosis.")
    if info.untrained:
        note += " The encoder is UNTRAINED (no lifter checkpoint installed): labels are unreliable."
    st.caption(note)


def _mesh_view(b: data.ResultBundle, url: str) -> None:
    from gaitscope.pipeline.activities import mesh_status

    status = mesh_status()
    if not status.ready:  # the set-up (SMPL licence, files) is the administrator's business: nothing to show here
        return
    st.subheader("Mesh")
    if b.keypoints is None:
        st.info("No 2D keypoints are stored for this recording; the mesh is recovered from them.")
        return
    with user_errors("The mesh could not be recovered"):
        seq = _mesh(b.analysis_id, url, status.smpl_dir or "", status.checkpoint or "")
        frame = st.slider("Frame", 0, seq.n_frames - 1, 0, key="mesh_frame") if seq.n_frames > 1 else 0
        st.plotly_chart(mesh_figure(seq.vertices[frame], seq.faces), key=f"mesh_{b.analysis_id}", width="stretch")
        st.caption(f"Frame {frame + 1} of {seq.n_frames} ({frame / seq.fps:.2f} s). Model: {md_escape(seq.source)}. "
                   "Root-relative; the body model's shape is an estimate, not a measurement.")


@guarded
def render() -> None:
    url = db_url()
    user = signed_in_user()
    st.title("Activities")
    show_flash()
    analysis_id = None
    with user_errors("Could not list the analyses"):
        analysis_id = _choose_analysis(user, url)
    if analysis_id is None:
        return
    data.check_report_access(user, analysis_id, url)  # every run: the cached recording is shared across users
    try:
        b = cached_result(analysis_id, url)
    except Exception as exc:  # a deleted analysis or a damaged row: say so, keep the page alive
        st.error(f"Analysis {analysis_id} could not be loaded: {exc}")
        return
    st.caption(f"{md_escape(b.patient_code)}, visit {b.visit_date}, {b.motion.duration_s:.1f} s")
    with user_errors("The activities could not be computed"):
        _activities(b, url)
    _mesh_view(b, url)
