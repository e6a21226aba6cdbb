"""Results of one analysis: video with the 2D skeleton, 3D animation, gait-cycle curves, parameters, scores,
classifier outputs, trends across visits, and the PDF/CSV reports.

Clinicians and viewers of the patient's site. The access check (:func:`gaitscope.ui.data.check_report_access`)
runs on every rerun, before the cached bundle is used; the original video, the skeleton-overlay video and the
downloads are for clinicians only (the access layer refuses them to viewers)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import streamlit as st

from gaitscope.errors import AccessDeniedError
from gaitscope.reports.csv_report import CSV_FILES, report_tables, table_csv
from gaitscope.reports.pdf_report import ReportContext, is_main_parameter, pdf_bytes
from gaitscope.reports.plots import reference_note
from gaitscope.ui import data, jobs, playback, plots, tables
from gaitscope.ui.components import (
    analysis_choices,
    cached_result,
    db_url,
    guarded,
    md_escape,
    remembered_choice,
    show_flash,
    signed_in_user,
    user_errors,
)
from gaitscope.ui.overlay import overlay_frame, render_overlay_video
from gaitscope.ui.uploads import uploads_dir


def height_used_cm(bundle: data.ResultBundle) -> float | None:
    """The subject height the lengths were scaled with (cm), or None when they rest on an assumed height or on the
    source's own unit (:attr:`gaitscope.records.GaitReport.height_m`)."""
    h = bundle.report.height_m
    return None if h is None else round(100.0 * h, 1)


def report_context(bundle: data.ResultBundle) -> ReportContext:
    return ReportContext(
        patient_code=bundle.patient_code, visit_date=bundle.visit_date, video_name=bundle.original_name,
        video_fps=bundle.fps, video_duration_s=bundle.duration_s,
        video_resolution=(bundle.width, bundle.height) if bundle.width and bundle.height else None,
        height_cm=height_used_cm(bundle), model_name=bundle.model_name, model_version=bundle.model_version,
        analysis_version=bundle.analysis_version, predictions=bundle.predictions,
    )


def graded(bundle: data.ResultBundle) -> data.ResultBundle:
    """The stored analysis with its reliability grades (not stored: they follow from the stored motion and 2D
    keypoints, as ``gaitscope analyze`` grades it; idempotent on the stored flags and warnings)."""
    from dataclasses import replace

    from gaitscope.analysis.reliability import apply_reliability, assess

    report = apply_reliability(bundle.report, assess(bundle.report, bundle.motion, bundle.keypoints))
    return replace(bundle, report=report)


@st.cache_data(max_entries=8, show_spinner="Writing the PDF report...")
def _pdf_for(analysis_id: int, url: str, video: str | None = None) -> bytes:
    """The PDF of a stored analysis; with the recording's ``video`` (clinicians), a still of the person measured."""
    from dataclasses import replace

    bundle = graded(cached_result(analysis_id, url))
    context = report_context(bundle)
    if video is not None and bundle.keypoints is not None:
        from gaitscope.pipeline.steps import person_still_fields

        context = replace(context, **person_still_fields(video, bundle.keypoints))
    return pdf_bytes(bundle.report, context=context)


def _choose_analysis(user, url: str) -> int | None:
    choices = analysis_choices(user, url)
    if choices is None:
        return None
    ids, labels = choices
    if st.session_state.get("analysis_id") is None and "analysis" in st.query_params:
        try:  # a bookmark or shared link: ?analysis=<id> (access is checked like any other choice)
            st.session_state["analysis_id"] = int(st.query_params["analysis"])
        except ValueError:
            pass
    chosen = remembered_choice("Analysis", ids, key="results_select", remember="analysis_id",
                               format_func=labels.get)
    st.query_params["analysis"] = str(chosen)
    return chosen


def _metric(report, names: tuple[str, ...], fmt: str):
    for name in names:
        try:
            p = report.parameter(name)
        except KeyError:
            continue
        if math.isfinite(p.value):
            return f"{p.value:{fmt}}", p.flag
    return "-", None


def _header(b: data.ResultBundle) -> None:
    st.subheader(f"Patient {md_escape(b.patient_code)} - visit {b.visit_date}")
    st.caption(f"File {md_escape(b.original_name or '-')} - model {md_escape(b.model_name)} "
               f"{md_escape(b.model_version)} - analysis {md_escape(b.analysis_version)}")
    r = b.report
    cols = st.columns(4)
    # the unit goes in the label: "118 steps/min" as a value was cut to "118 st..." at 1024 px
    for col, (label, names, fmt) in zip(cols, (
            ("Walking speed (m/s)", ("speed", "walking_speed", "gait_speed"), ".2f"),
            ("Cadence (steps/min)", ("cadence",), ".0f"),
            ("Step length (m)", ("step_length",), ".2f"))):
        value, flag = _metric(r, names, fmt)
        if flag in ("low", "high"):
            col.metric(label, value, delta="below normal" if flag == "low" else "above normal",
                       delta_color="red", delta_arrow="down" if flag == "low" else "up")
        else:
            col.metric(label, value)
    gps = r.scores.get("GPS")
    cols[3].metric("GPS (deg)", f"{gps:.1f}" if gps is not None and math.isfinite(gps) else "-")
    if r.warnings:
        with st.expander(f"Notes on this analysis ({len(r.warnings)})", expanded=True):
            for w in r.warnings:
                st.markdown("- " + md_escape(w))


def _overlay_path(b: data.ResultBundle) -> Path:
    return uploads_dir() / "overlays" / f"{b.sha256[:24]}-a{b.analysis_id}.webm"


@st.fragment(run_every=1.0)
def _job_progress(job_id: str, stage: str, text: str) -> None:
    """A progress bar of a background job; the whole page reruns once the job has finished."""
    job = jobs.get_job(job_id)
    if job is None or job.finished:
        st.rerun(scope="app")
    snap = job.snapshot()
    done, total = snap.progress.get(stage, (0, 1))
    st.progress(snap.stage_fraction(stage), text=f"{text}: frame {done} of {total}")


def _original_video(b: data.ResultBundle, video: Path) -> None:
    """The recording as browsers can play it: the original, or its H.264 copy (written in the background once)."""
    ready = playback.playable_or_job(video, b.sha256)
    if isinstance(ready, Path):
        st.video(str(ready))
    elif ready.status == "failed":
        st.error(f"The video cannot be shown in the browser: {ready.snapshot().error}")
    else:
        st.caption("This camera's video format does not play in browsers; a playable copy (H.264) is being written "
                   "once.")
        _job_progress(ready.id, playback.STAGE, "Preparing the video for the browser")


def _overlay_video(b: data.ResultBundle, video: Path) -> None:
    """The skeleton overlay video: shown when rendered, else a button that renders it in the background."""
    out = _overlay_path(b)
    if out.exists():
        st.video(str(out))
        st.caption("Video with the detected 2D skeleton (left red, right blue).")
        return
    key = f"overlay_job_{b.analysis_id}"
    job = jobs.get_job(st.session_state.get(key))
    if job is not None and not job.finished:
        _job_progress(job.id, "overlay", "Drawing the skeleton on the video")
        return
    if job is not None and job.status == "failed":
        st.error(job.snapshot().error)
    st.caption("The video with the 2D skeleton drawn on it is rendered on request (WebM, plays in every browser).")
    if st.button("Render skeleton overlay video", key=f"overlay_button_{b.analysis_id}"):
        kp = b.keypoints

        def work(progress):
            return render_overlay_video(video, kp, out, max_width=480,
                                        progress=lambda d, t: progress("overlay", d, t))

        st.session_state[key] = jobs.start_job(f"overlay {b.analysis_id}", ("overlay",), work).id
        st.rerun()


def _find_video(user, b: data.ResultBundle, url: str) -> Path | None:
    """The recording's stored video through the access layer (clinicians; audited); the bundled sample for the
    demo analysis of it; None when there is no file. Raises AccessDeniedError for other roles."""
    video = data.recording_video(user, b.recording_id, uploads_dir(), url)
    if video is None:
        from gaitscope.ui.demo_data import SAMPLE_VIDEO, sample_sha256

        if SAMPLE_VIDEO.exists() and b.sha256 == sample_sha256():
            return SAMPLE_VIDEO
    return video


def _video_tab(user, b: data.ResultBundle, url: str) -> Path | None:
    """The video, the skeleton over it and the person measured; returns the video shown (None if none)."""
    kp = b.keypoints
    left, right = st.columns(2)
    try:
        video = _find_video(user, b, url)
    except AccessDeniedError:
        video, allowed = None, False
    else:
        allowed = True
    with left:
        if not allowed:
            st.info("Videos of patients are shown to clinicians only; the skeleton is drawn on a blank frame.")
        elif video is None:
            st.info("The original video is not on this server (demo data or a file stored elsewhere); "
                    "the skeleton is drawn on a blank frame.")
        else:
            if _overlay_path(b).exists():
                _overlay_video(b, video)
                with st.expander("Original video"):
                    _original_video(b, video)
            else:
                _original_video(b, video)
                if kp is not None:
                    _overlay_video(b, video)
            if kp is not None:
                _person_still(video, kp)
    with right:
        if kp is None:
            st.info("No 2D keypoints were stored for this analysis.")
            return video
        row = st.slider("Frame", 0, kp.n_frames - 1, value=min(kp.n_frames // 2, kp.n_frames - 1),
                        key=f"overlay_row_{b.analysis_id}")
        st.image(overlay_frame(video, kp, row), caption=f"frame {int(kp.frame_index[row])} - "
                 f"{int(kp.frame_index[row]) / kp.fps:.2f} s - left red, right blue", width="stretch")
        low = float(np.mean(kp.conf < 0.5)) * 100
        st.caption(f"2D source: {md_escape(kp.source)}; {int(kp.interpolated.sum())} filled frames; "
                   f"{low:.0f} % of joints below 0.5 confidence.")
    return video


def _person_still(video: Path, kp) -> None:
    """Which person was measured: a frame of the video with them boxed (several people may walk in it)."""
    from gaitscope.pose2d.people import measured_still

    image = measured_still(str(video), kp, kp.people)
    if image is not None:
        st.image(image, caption="Person measured (green box): the numbers of this analysis are theirs",
                 width="stretch")


def _curves_tab(b: data.ResultBundle) -> None:
    figures = plots.gait_curve_figures(b.report)
    if not figures:
        st.info("No gait-cycle curves: no complete stride was found.")
        return
    st.caption(md_escape("Left red, right blue, mean with its 95 % interval (stride spread and the video method's "
                         "own error; ± 1 SD over strides where there is none). " + reference_note(b.report.curves)))
    for i in range(0, len(figures), 2):
        cols = st.columns(2)
        for col, (name, fig) in zip(cols, figures[i:i + 2]):
            col.plotly_chart(fig, key=f"curve_{b.analysis_id}_{name}", width="stretch")


def _parameters_tab(b: data.ResultBundle) -> None:
    r = b.report
    main = [p for p in r.parameters if is_main_parameter(p)]
    derived = [p for p in r.parameters if not is_main_parameter(p)]
    st.dataframe(tables.styled_spatiotemporal(main), hide_index=True, width="stretch",
                 height=min(38 + 35 * len(tables.spatiotemporal_table(main)), 800))
    st.caption("Each value is the mean ± SD over strides with its 95 % interval in brackets (stride-to-stride "
               "spread and the method's own error measured on video of real walking; a known bias widens the "
               "interval, the value is never shifted). Reliability: how far this recording supports the number. "
               "Values in red are outside the normal range. Normal ranges: " + md_escape(
        "; ".join(sorted({p.normal_source for p in main if p.normal_source})) or "none available"))
    if derived:
        with st.expander("Variability and symmetry"):
            st.dataframe(tables.spatiotemporal_table(derived), hide_index=True, width="stretch")
    with st.expander(f"Strides ({len(r.strides)}) and events ({len(r.events)})"):
        st.dataframe(r.strides_frame(), hide_index=True, width="stretch")
        st.dataframe(r.events_frame(), hide_index=True, width="stretch")


def _scores_tab(b: data.ResultBundle) -> None:
    r = b.report
    if r.scores.variables or r.scores.gps is not None:
        st.plotly_chart(plots.gvs_figure(r.scores), key=f"gvs_{b.analysis_id}", width="stretch")
        st.caption("GPS/GVS: RMS difference from the reference mean over the gait cycle (Baker et al. 2009); "
                   "about 1.6 deg is a clinically important change.")
    else:
        st.info("No deviation scores (no reference curves matched).")
    st.subheader("Classifiers")
    if not b.predictions:
        st.info("No classifier was run for this analysis.")
    for i, p in enumerate(b.predictions):
        st.plotly_chart(plots.prediction_figure(p), key=f"pred_{b.analysis_id}_{i}", width="stretch")
        st.caption(f"{md_escape(p.head_name)} version {md_escape(p.head_version)}: predicted "
                   f"**{md_escape(p.predicted)}**. Research output, not a diagnosis.")


def _trends_tab(user, b: data.ResultBundle, url: str) -> None:
    trend = data.trends(user, b.patient_code, url)
    visits = trend["analysis_id"].nunique()
    if visits < 2:  # one point per parameter: a plot of it would only show meaningless time ticks
        st.info(f"Trends need two or more analyzed visits; this patient has {visits}. They appear here after "
                "the next analyzed visit.")
        return
    if not trend.empty:
        st.plotly_chart(plots.trend_figure(trend), key=f"trend_{b.analysis_id}", width="stretch")
        st.dataframe(trend.pivot_table(index="visit_date", columns="parameter", values="value"), width="stretch")


def _reports_tab(user, b: data.ResultBundle, url: str, video: Path | None = None) -> None:
    if user.role != "clinician":  # the access layer would refuse to record the export anyway
        st.info("Reports leave the system only through clinicians: ask a clinician of your site for a PDF or CSV.")
        return
    stem = f"gaitscope_{re.sub(r'[^A-Za-z0-9_.-]+', '_', b.patient_code)}_{b.visit_date}_a{b.analysis_id}"
    with user_errors("The PDF could not be written"):
        st.download_button("Download PDF report", data=_pdf_for(b.analysis_id, url, str(video) if video else None),
                           file_name=f"{stem}.pdf",
                           mime="application/pdf", key=f"dl_pdf_{b.analysis_id}", icon=":material/picture_as_pdf:",
                           on_click=data.record_export, args=(user, b.analysis_id, "pdf", f"{stem}.pdf", url))
    cols = st.columns(len(CSV_FILES))
    for col, (key, frame) in zip(cols, report_tables(b.report).items()):
        name = f"{stem}_{CSV_FILES[key]}"
        col.download_button(f"Download {CSV_FILES[key]}", data=table_csv(frame),
                            file_name=name, mime="text/csv", key=f"dl_{key}_{b.analysis_id}",
                            on_click=data.record_export, args=(user, b.analysis_id, "csv", name, url))
    st.caption("CSV columns are documented in the README (CSV exports).")


@guarded
def render() -> None:
    url = db_url()
    user = signed_in_user()
    st.title("Results")
    show_flash()
    analysis_id = None
    with user_errors("Could not list the analyses"):
        analysis_id = _choose_analysis(user, url)
    if analysis_id is None:
        return
    data.check_report_access(user, analysis_id, url)  # every run: the bundle below is cached across users
    try:
        b = graded(cached_result(analysis_id, url))
    except Exception as exc:  # a deleted analysis or a damaged row: say so, keep the page alive
        st.error(f"Analysis {analysis_id} could not be loaded: {exc}")
        return
    _header(b)
    names = ["Video and 2D", "3D motion", "Gait cycle", "Parameters", "Scores and classifiers", "Trends", "Reports"]
    mocap = b.keypoints is None and (b.model_name or "").startswith("mocap")  # marker data: no video, no 2D
    tabs = st.tabs(names[1:] if mocap else names)
    video = None
    if mocap:
        tabs = [None] + list(tabs)
    else:
        with tabs[0]:
            video = _video_tab(user, b, url)
    with tabs[1]:
        st.plotly_chart(plots.skeleton_3d_figure(b.motion), key=f"skel3d_{b.analysis_id}", width="stretch")
        st.caption(f"Scale: {md_escape(b.motion.scale_source)}. Press Play or drag the slider.")
    with tabs[2]:
        _curves_tab(b)
    with tabs[3]:
        _parameters_tab(b)
    with tabs[4]:
        _scores_tab(b)
    with tabs[5]:
        _trends_tab(user, b, url)
    with tabs[6]:
        _reports_tab(user, b, url, video)
