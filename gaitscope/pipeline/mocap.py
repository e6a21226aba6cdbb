"""Motion-capture files through the same analysis, storage and reports as videos.

A gait lab's marker recording (C3D, TRC, BVH) already holds 3D joint positions in metres, so the 2D and 3D
stages of the video pipeline do not apply: the file is read into a :class:`Motion3D`
(:func:`gaitscope.io.mocap.load_motion`), analyzed by the same ``analyze_gait``, and stored through the
same storage layer with the same all-or-nothing rule: an unreadable file raises :class:`MocapError` before
anything is stored; a failure after the recording row exists marks it ``failed`` and stores nothing else.

The stored analysis names its source as ``mocap:<marker set>@<format>`` (e.g. ``mocap:plug-in-gait@c3d``):
it is the Motion3D source, so the analysis' model name/version columns say which importer and marker set
produced the joints (there is no lifter). Lower-body marker sets work: the analysis needs only the pelvis,
hips, knees and ankles, and leaves out the angles that need trunk or arm joints.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from gaitscope.io.file_hash import file_sha256
from gaitscope.pipeline.steps import (
    AnalysisOptions,
    AnalysisResult,
    ProgressFn,
    _no_progress,
    _reuse,
    analyze_motion,
    check_patient_code,
    failure_recorded,
    store_and_export,
    with_patient_subject,
)
from gaitscope.records import VideoInfo

#: Extensions read as motion capture by ``gaitscope analyze`` (OpenSim tables are refused with a hint by the
#: loader: they hold angles or forces, not marker positions).
MOCAP_EXTENSIONS: tuple[str, ...] = (".c3d", ".trc", ".mot", ".sto", ".bvh")


def is_mocap_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in MOCAP_EXTENSIONS


def mocap_source(trial) -> str:
    """``mocap:<marker set>@<format>`` for a :class:`~gaitscope.io.mocap.MocapTrial`."""
    return f"mocap:{trial.marker_set}@{Path(trial.path).suffix.lower().lstrip('.')}"


def describe(trial) -> str:
    """One line for the report: what kind of source this is and where its numbers come from."""
    fmt = Path(trial.path).suffix.lower().lstrip(".").upper()
    events = f"; reference events in the file: {trial.event_source}" if trial.events else ""
    return (f"marker-based motion capture (not a video): {trial.marker_set} markers, {fmt} file, "
            f"{trial.motion.fps:g} Hz, {trial.units_note}{events}")


def analyze_mocap(
    path: str | Path,
    *,
    db_url: str | None = None,
    patient_code: str | None = None,
    visit_date: date | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    out_dir: str | Path | None = None,
    progress: ProgressFn = _no_progress,
    original_name: str | None = None,
    force: bool = False,
    marker_set: str | None = None,
) -> AnalysisResult:
    """Analyze one motion-capture file end to end and store it (when ``db_url`` is given) in one transaction.

    Same arguments and guarantees as :func:`gaitscope.pipeline.steps.analyze_video`; ``options.height_cm``
    only refines the leg length used to match the reference speed class (marker data are already metric).
    ``marker_set`` forces a set from :data:`gaitscope.io.mocap.MARKER_SETS` (default: best match).
    A file already analyzed for this patient with the same inputs (importer and marker set, analysis version,
    reference set, height) is loaded, not recomputed, unless ``force`` (then the new analysis replaces it).
    Frames and times in the report count from the file's first sample, also when leading samples without the
    leg markers were trimmed.
    """
    from gaitscope.io.mocap import load_motion
    from gaitscope.pipeline import analysis_inputs, normative_choice, storage

    check_patient_code(patient_code)
    path = Path(path)
    name = original_name or path.name
    reference = normative_choice.resolve(options.normative)
    progress("decode", 0, 1)
    trial = load_motion(path, marker_set=marker_set)  # MocapError for unreadable files: nothing stored yet
    source = mocap_source(trial)
    motion = replace(trial.motion, source=source,
                     notes=tuple(trial.motion.notes) + (f"read from {path.name} ({trial.units_note})",))
    info = VideoInfo(path=str(path), fps=float(motion.fps), n_frames=int(motion.n_frames), width=0, height=0,
                     duration_s=motion.n_frames / float(motion.fps), codec=path.suffix.lower().lstrip("."),
                     size_bytes=path.stat().st_size, sha256=file_sha256(path))
    progress("decode", 1, 1)
    note = describe(trial)

    recording_id = None
    database = None
    if db_url is not None:
        database = storage.open_db(db_url)
        options = with_patient_subject(options, database, patient_code, visit_date)
    inputs = analysis_inputs.for_mocap(model_source=source, reference=reference, height_cm=options.height_cm,
                                       age_years=options.age_years, sex=options.sex)
    if database is not None:
        if not force:
            reused = _reuse(database, info, inputs, out_dir, patient_code, visit_date, options.height_cm, name,
                            progress, kind="mocap", source_note=note)
            if reused is not None:
                return reused
        recording_id = storage.register(database, info, patient_code=patient_code, visit_date=visit_date,
                                        original_name=name, kind="mocap")
    with failure_recorded(database, recording_id):
        progress("analysis", 0, 1)
        height_m = options.height_cm / 100.0 if options.height_cm else None
        report = analyze_motion(motion, reference, height_m=height_m, first_frame=trial.first_row,
                                age=options.age_years, sex=options.sex)
        progress("analysis", 1, 1)
        result = AnalysisResult(info, None, motion, None, report, kind="mocap", source_note=note)
        result = store_and_export(result, database, recording_id, out_dir, progress, patient_code=patient_code,
                                  visit_date=visit_date, height_cm=options.height_cm, name=name, inputs=inputs,
                                  replace_stored=force)
    return result
