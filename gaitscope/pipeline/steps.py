"""The stage order of a video, and the steps the mocap and landmark pipelines reuse: video -> 2D -> 3D ->
embedding + gait analysis -> database. The dispatch by file type is :mod:`gaitscope.pipeline.dispatch`.

Each stage is a function of another package that takes one record and returns the next; this module wires them,
reports progress per stage, and makes storage all-or-nothing: the recording row is written first (status
``processing``); every result is then saved in ONE transaction at the end; any failure marks the recording
``failed`` with the clinician-readable error and stores nothing else, so what was stored before stays as it was.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

from gaitscope.errors import GaitscopeError, InvalidInputError, OutputError
from gaitscope.records import GaitReport, Keypoints2D, Motion3D, MotionEmbedding, Prediction, VideoInfo

log = logging.getLogger(__name__)

PIPELINE_VERSION = "0.1.0"

#: Stages in order, as shown to the user (progress bars, the dashboard).
STAGES: tuple[str, ...] = ("decode", "2d", "3d", "embed", "analysis", "classify", "store")

#: progress(stage, done, total): called often; must be cheap.
ProgressFn = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class AnalysisOptions:
    """What the user chose for one analysis."""

    height_cm: float | None = None
    checkpoint: str | None = None  # official MotionBERT or our own; None = the bundled lifter
    workers: int = 2  # parallel BlazePose processes
    flip_tta: bool = True
    max_duration_s: float = 600.0
    # reference ("normal") set: a set's .json, a name saved with `gaitscope normative build`, or "schwartz2008";
    # None = the configured default ($GAITSCOPE_NORMATIVE, `gaitscope normative use`), else the bundled set
    normative: str | None = None
    # the subject's age (years) and sex ("M"/"F") for the normal ranges; None: taken from the patient record
    # (birth year, sex) when the analysis is filed under a patient, else adult ranges of both sexes
    age_years: float | None = None
    sex: str | None = None
    # the person to analyze when several walk: "2" (numbered left to right) or "x,y" (a pixel point) on the frame
    # where the most people are seen (gaitscope.pose2d.people); None: the person the detector follows
    person: str | None = None

    def __post_init__(self) -> None:
        from gaitscope.pose2d.people import PersonChoice

        choice = PersonChoice.parse(self.person)  # a malformed choice fails here, before any work
        object.__setattr__(self, "person", None if choice is None else choice.key)
        if self.age_years is not None and not (0.0 <= self.age_years <= 120.0):
            raise InvalidInputError(f"Age {self.age_years:g} years is outside 0-120.",
                                    "Enter the subject's age in years.")
        if self.sex is not None:
            code = str(self.sex).strip().upper()[:1]
            if code not in ("M", "F", "X"):
                raise InvalidInputError(f"Sex must be M, F or X (not stated), got {self.sex!r}.")
            # "X" (not stated) compares with both sexes, as no sex given does: one spelling, one stored key
            object.__setattr__(self, "sex", None if code == "X" else code)
        if self.height_cm is not None and not (50.0 <= self.height_cm <= 250.0):
            raise InvalidInputError(
                f"Height {self.height_cm} cm is outside 50-250 cm.", "Enter the subject's height in centimetres."
            )
        if self.workers < 1:
            raise InvalidInputError(f"workers must be at least 1, got {self.workers}.")


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one run produced, plus where it was stored."""

    video: VideoInfo  # for motion capture: the file's sampling rate and duration, no image size
    keypoints: Keypoints2D | None  # None for motion capture (no 2D stage)
    motion: Motion3D
    embedding: MotionEmbedding | None
    report: GaitReport
    predictions: tuple[Prediction, ...] = ()
    recording_id: int | None = None
    analysis_id: int | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    kind: str = "video"  # "video" or "mocap"
    reused: bool = False  # True: analyzed before for this patient with the same inputs; loaded, not recomputed
    source_note: str = ""  # for motion capture: marker set, file format, where events came from


def run_stages(
    video: str | Path | VideoInfo,
    options: AnalysisOptions = AnalysisOptions(),
    progress: ProgressFn = _no_progress,
    lifter=None,
    reference=None,
    keypoints: Keypoints2D | None = None,
) -> AnalysisResult:
    """Run decode -> 2D -> 3D -> embedding -> analysis without touching any database.

    ``reference``: a :class:`~gaitscope.analysis.normative_build.ReferenceSet` (default: ``options.normative``
    resolved by :func:`gaitscope.pipeline.normative_choice.resolve`). ``keypoints``: the 2D stage's result when
    the caller ran it already (:func:`analyze_video` starts it first, in the background).
    """
    from gaitscope.io.video import probe_video
    from gaitscope.pipeline import normative_choice
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.pose2d.detect import detect_keypoints

    reference = reference if reference is not None else normative_choice.resolve(options.normative)
    progress("decode", 0, 1)
    info = video if isinstance(video, VideoInfo) else probe_video(str(video), max_duration_s=options.max_duration_s)
    progress("decode", 1, 1)

    if keypoints is None:
        picked = {"person": person_choice(options)} if options.person else {}
        keypoints = detect_keypoints(
            info, workers=options.workers, progress=lambda done, total: progress("2d", done, total), **picked
        )
    progress("2d", 1, 1)

    lifter = lifter if lifter is not None else load_lifter(options.checkpoint)
    height_m = options.height_cm / 100.0 if options.height_cm else None
    motion, embedding = lift_and_embed(lifter, keypoints, height_m=height_m, flip_tta=options.flip_tta,
                                       progress=progress)
    progress("analysis", 0, 1)
    report = analyze_motion(motion, reference, height_m=height_m, first_frame=first_frame_of(keypoints),
                            age=options.age_years, sex=options.sex, keypoints=keypoints)
    progress("analysis", 1, 1)
    return AnalysisResult(info, keypoints, motion, embedding, report)


def with_patient_subject(options: AnalysisOptions, database, patient_code: str | None,
                         visit_date: date | None) -> AnalysisOptions:
    """``options`` with the age and sex of the patient record filled in where the user gave none.

    Age is the visit year minus the birth year (as the cohort tables count it); "X" (not stated) or no record
    leaves the ranges at both sexes / adults. Nothing is read without a database or a patient code.
    """
    if database is None or not patient_code or (options.age_years is not None and options.sex is not None):
        return options
    from gaitscope.db import patients

    with database.read_session() as s:
        patient = patients.get_patient(s, patient_code)
        birth_year, sex = (patient.birth_year, patient.sex) if patient is not None else (None, None)
    age = options.age_years
    if age is None and birth_year is not None:
        age = float((visit_date or date.today()).year - int(birth_year))
    return replace(options, age_years=age, sex=options.sex if options.sex is not None else (sex or None))


def person_choice(options: AnalysisOptions):
    """The :class:`~gaitscope.pose2d.people.PersonChoice` of ``options`` (None: the detector's choice)."""
    from gaitscope.pose2d.people import PersonChoice

    return PersonChoice.parse(options.person)


SEVERAL_PEOPLE = ("Several people may be in the video: the person being followed changed, so only the longest "
                  "stretch showing one person was analyzed. Check on the video that the person measured in that "
                  "stretch is the patient; if not, film the patient walking alone or trim the video.")


def with_2d_notes(report: GaitReport, keypoints: Keypoints2D | None) -> GaitReport:
    """``report`` with what the 2D stage noted (stretch kept, person changes, gaps filled, doubtful frames) among
    its warnings, so the dashboard and the PDF show them; a change of the person followed leads the warnings.
    Idempotent (a stored report already holds them)."""
    if keypoints is None or not keypoints.notes:
        return report
    notes = [f"Video: {n}" if not n.startswith("Several people") else n for n in keypoints.notes]
    if any("change(s) of the person being followed" in n for n in keypoints.notes):
        notes.insert(0, SEVERAL_PEOPLE)
    new = [n for n in notes if n not in report.warnings]
    if not new:
        return report
    lead = [n for n in new if n.startswith("Several people")]
    rest = [n for n in new if not n.startswith("Several people")]
    return replace(report, warnings=tuple(lead) + tuple(report.warnings) + tuple(rest))


def first_frame_of(keypoints: Keypoints2D) -> int:
    """Index in the video of the first frame that was kept (the 2D stage keeps one stretch with one person)."""
    return int(keypoints.frame_index[0]) if keypoints.n_frames else 0


def lift_and_embed(lifter, keypoints: Keypoints2D, *, height_m: float | None, flip_tta: bool = True,
                   progress: ProgressFn = _no_progress) -> tuple[Motion3D, MotionEmbedding]:
    """The model stages after 2D: 3D motion and the motion embedding, from one loaded lifter.

    One function for the pipeline and the Ray batch actor (which holds the model on a GPU and calls this per
    video), so both store the same records for the same keypoints.
    """
    progress("3d", 0, 1)
    both = getattr(lifter, "lift_and_embed", None)
    if both is not None:  # one encoder pass for the pose and the embedding (the Lifter's)
        motion, embedding = both(keypoints, height_m=height_m, flip_tta=flip_tta)
        progress("3d", 1, 1)
        progress("embed", 0, 1)
    else:  # a lifter with the two separate methods only
        motion = lifter.lift(keypoints, height_m=height_m, flip_tta=flip_tta)
        progress("3d", 1, 1)
        progress("embed", 0, 1)
        embedding = lifter.embed(keypoints)
    progress("embed", 1, 1)
    return motion, embedding


def analyze_motion(motion: Motion3D, reference=None, *, height_m: float | None, first_frame: int = 0,
                   age: float | None = None, sex: str | None = None,
                   keypoints: Keypoints2D | None = None) -> GaitReport:
    """Gait analysis of lifted motion against ``reference`` (None: the configured reference set), as stored.

    The reference set takes part in the analysis version, so a batch made elsewhere (Ray) must come through
    here to be the same record as a local one. ``first_frame``: the index in the source (video frame, file
    sample) of the motion's first row; the report's frames and times are counted from the start of the source, so
    a clinician finds an event of the exported tables in the video
    (:func:`~gaitscope.analysis.report.on_source_timeline`); on a variable-frame-rate video each row is mapped
    through ``keypoints.frame_index`` and ``keypoints.time_s`` (the video's own frames and times). ``age``/``sex`` pick the normal ranges. Every
    parameter is graded from the recording (camera view, leg visibility in ``keypoints``, usable strides) and only
    reliable ones are flagged (:mod:`gaitscope.analysis.reliability`).
    """
    from gaitscope.analysis.reliability import apply_reliability, assess
    from gaitscope.analysis.report import on_source_timeline
    from gaitscope.pipeline import normative_choice

    reference = reference if reference is not None else normative_choice.resolve(None)
    report = normative_choice.analyze_with(motion, reference, height_m=height_m, age=age, sex=sex)
    report = apply_reliability(report, assess(report, motion, keypoints))
    report = with_2d_notes(report, keypoints)
    vfr = keypoints is not None and keypoints.time_s is not None and keypoints.n_frames == motion.n_frames
    return on_source_timeline(report, first_frame, frame_index=keypoints.frame_index if vfr else None,
                              time_s=keypoints.time_s if vfr else None)


def analyze_video(
    video_path: str | Path,
    *,
    db_url: str | None = None,
    patient_code: str | None = None,
    visit_date: date | None = None,
    options: AnalysisOptions = AnalysisOptions(),
    out_dir: str | Path | None = None,
    progress: ProgressFn = _no_progress,
    lifter=None,
    original_name: str | None = None,
    force: bool = False,
) -> AnalysisResult:
    """Analyze one video end to end and store it (when ``db_url`` is given) in one transaction.

    With ``patient_code`` the recording is attached to that patient (created if new, pseudonymous code only)
    and a visit on ``visit_date`` (today by default). ``out_dir`` receives the CSV and PDF reports.
    ``original_name`` is the file name the user uploaded (uploads are stored under generated names).

    A video whose content (SHA-256) was already analyzed for this patient with the same inputs (lifter and its
    checkpoint, analysis version, reference set, height, flip TTA: :mod:`gaitscope.pipeline.analysis_inputs`) is
    not analyzed again: the stored analysis is loaded and returned (``result.reused``) and the 2D stage, started in
    the background while the lifter loads, is cancelled; every stage is deterministic for those inputs and the
    rerun costs minutes. Any other input, or another patient, is a new analysis (filed under that patient).
    ``force=True`` reruns every stage anyway and the new analysis replaces the stored one of the same inputs, so
    the database holds the numbers that were exported.
    """
    from gaitscope.io.video import probe_video
    from gaitscope.pose2d.detect_background import BackgroundDetection

    video_path = Path(video_path)
    recording_id = None
    database = None
    progress("decode", 0, 1)
    info = probe_video(str(video_path), max_duration_s=options.max_duration_s)
    # BlazePose is the slowest stage: it starts now, before anything else is imported or loaded (the database
    # layer, SciPy, torch and the lifter take seconds of CPU on a cold start), and runs while they load; it is
    # cancelled when the input turns out to be bad or the video analyzed already (or the setup fails).
    picked = {"person": person_choice(options)} if options.person else {}  # (test doubles take no person)
    detection = BackgroundDetection(info, workers=options.workers,
                                    progress=lambda done, total: progress("2d", done, total), **picked)
    try:
        from gaitscope.pipeline import analysis_inputs, normative_choice, storage

        check_patient_code(patient_code)
        reference = normative_choice.resolve(options.normative)  # a bad choice fails before anything is stored
        inputs = None
        if db_url is not None:
            from gaitscope.pipeline.lifter_choice import load_lifter

            database = storage.open_db(db_url)
            lifter = lifter if lifter is not None else load_lifter(options.checkpoint)
            options = with_patient_subject(options, database, patient_code, visit_date)
            inputs = analysis_inputs.for_video(
                model_source=analysis_inputs.lifter_source(lifter), checkpoint=options.checkpoint,
                reference=reference, height_cm=options.height_cm, flip_tta=options.flip_tta,
                age_years=options.age_years, sex=options.sex, person=options.person)
            if not force:
                reused = _reuse(database, info, inputs, out_dir, patient_code, visit_date, options.height_cm,
                                original_name or video_path.name, progress, on_found=detection.cancel)
                if reused is not None:
                    return reused
            recording_id = storage.register(database, info, patient_code=patient_code, visit_date=visit_date,
                                            original_name=original_name or video_path.name)
        with failure_recorded(database, recording_id):
            keypoints = detection.result()
            result = run_stages(info, options, progress, lifter=lifter, reference=reference, keypoints=keypoints)
            result = store_and_export(result, database, recording_id, out_dir, progress,
                                      patient_code=patient_code, visit_date=visit_date, height_cm=options.height_cm,
                                      name=original_name or video_path.name, inputs=inputs, replace_stored=force)
        return result
    finally:
        detection.cancel()  # a no-op once it has finished


@contextmanager
def failure_recorded(database, recording_id: int | None) -> Iterator[None]:
    """Mark the recording ``failed`` with a clinician-readable message when the block raises, then re-raise.

    The mark is written in its own short transaction so it survives the rollback of the failed work; an internal
    bug (not a :class:`GaitscopeError`) is recorded too, and keeps its traceback for developers.
    """
    from gaitscope.pipeline import storage

    try:
        yield
    except OutputError:  # the analysis is complete and stored; only the report files are missing
        raise
    except GaitscopeError as exc:
        if database is not None and recording_id is not None:
            storage.mark_failed(database, recording_id, str(exc))
        raise
    except Exception as exc:
        if database is not None and recording_id is not None:
            storage.mark_failed(database, recording_id, f"Internal error: {type(exc).__name__}: {exc}")
        raise


def check_patient_code(patient_code: str | None) -> None:
    """Refuse a patient code longer than the database keeps, before any work (:class:`InvalidInputError`)."""
    from gaitscope.db.rows import check_length

    if patient_code is not None:
        check_length("patient code", patient_code.strip())


def store_and_export(result: AnalysisResult, database, recording_id: int | None, out_dir: str | Path | None,
                     progress: ProgressFn, *, patient_code: str | None, visit_date: date | None,
                     height_cm: float | None, name: str, inputs=None, replace_stored: bool = False) -> AnalysisResult:
    """The stages after the analysis, for every kind of source: classify with the active head and store
    everything in one transaction (when there is a database), then write the CSV/PDF reports (when ``out_dir``).

    ``inputs`` (:class:`~gaitscope.pipeline.analysis_inputs.AnalysisInputs`) identify the stored analysis;
    ``replace_stored`` stores this one in place of a stored analysis with the same inputs (``--force``)."""
    from gaitscope.pipeline import storage

    analysis_id = None
    if database is not None:
        progress("classify", 0, 1)
        result = replace(result, predictions=storage.predict(database, result.report, result.embedding))
        progress("classify", 1, 1)
        progress("store", 0, 1)
        analysis_id = storage.save(database, recording_id, result, pipeline_version=PIPELINE_VERSION, inputs=inputs,
                                   replace=replace_stored)
        progress("store", 1, 1)
    try:
        outputs = (write_outputs(result, Path(out_dir), patient_code=patient_code, visit_date=visit_date,
                                 height_cm=height_cm, video_name=name)
                   if out_dir is not None else {})
    except OutputError as exc:
        if analysis_id is None:
            raise
        raise OutputError(f"{exc.message} The analysis itself was stored (analysis {analysis_id}).",
                          exc.hint) from exc
    return replace(result, recording_id=recording_id, analysis_id=analysis_id, outputs=outputs)


def _reuse(database, info: VideoInfo, inputs, out_dir, patient_code, visit_date, height_cm, name: str,
           progress: ProgressFn, kind: str = "video", source_note: str = "",
           on_found: Callable[[], None] | None = None) -> AnalysisResult | None:
    """The stored analysis of this content, for this patient, from these ``inputs``, as an
    :class:`AnalysisResult`, else None. Its exports carry the stored numbers and the date of the visit the
    recording is filed under (``visit_date`` is used only for a new recording).

    ``on_found()`` is called as soon as a stored analysis is found, before any progress is reported (the
    pipeline cancels its background 2D detection there)."""
    from gaitscope.pipeline import storage

    found = storage.find_existing(database, info.sha256, patient_code, inputs.key)
    if found is None:
        return None
    if on_found is not None:
        on_found()
    recording_id, analysis_id, visit_date = found.recording_id, found.analysis_id, found.visit_date
    log.info("%s was analyzed before (recording %s, analysis %s): loading it", name, recording_id, analysis_id)
    report, motion, keypoints, embedding, predictions = storage.load_stored(database, analysis_id)
    for stage in STAGES:
        progress(stage, 1, 1)
    result = AnalysisResult(info, keypoints, motion, embedding, report, predictions, recording_id, analysis_id,
                            kind=kind, reused=True, source_note=source_note)
    if out_dir is not None:
        result = replace(result, outputs=write_outputs(result, Path(out_dir), patient_code=patient_code,
                                                       visit_date=visit_date, height_cm=height_cm, video_name=name))
    return result


def write_outputs(result: AnalysisResult, out_dir: Path, *, patient_code: str | None = None,
                  visit_date: date | None = None, height_cm: float | None = None,
                  video_name: str = "") -> dict[str, Path]:
    """Write the CSV exports (stable column names, see README) and the PDF report into ``out_dir``.

    All or nothing (:func:`gaitscope.pipeline.output_files.staged_outputs`): a full disk raises
    :class:`OutputError` and leaves no half-written file.
    """
    from gaitscope.pipeline.output_files import staged_outputs
    from gaitscope.pipeline.storage import model_of
    from gaitscope.reports import csv_report, pdf_report

    model_name, model_version = model_of(result.motion.source)
    mocap = result.kind == "mocap"
    context = pdf_report.ReportContext(
        patient_code=patient_code or "UNASSIGNED", visit_date=visit_date or date.today(),
        video_name=video_name or Path(result.video.path).name, video_fps=result.video.fps,
        video_duration_s=result.video.duration_s,
        video_resolution=None if mocap else (result.video.width, result.video.height),
        height_cm=height_cm, model_name=model_name, model_version=model_version,
        analysis_version=result.report.analysis_version, predictions=tuple(result.predictions),
        source_kind=result.kind, source_description=result.source_note,
        **({} if mocap else _person_still(result)),
    )
    with staged_outputs(out_dir) as staging:
        written = csv_report.write_csv_reports(result.report, staging)
        written["pdf"] = pdf_report.write_pdf_report(result.report, staging / "report.pdf", context=context)
    return {key: out_dir / Path(p).name for key, p in written.items()}


def _person_still(result: AnalysisResult) -> dict:
    """The PDF's still frame of the person measured (``ReportContext`` fields) of a result."""
    if result.keypoints is None:
        return {}
    return person_still_fields(str(result.video.path), result.keypoints)


def person_still_fields(video: str, keypoints: Keypoints2D) -> dict:
    """``ReportContext`` fields with a frame of ``video`` showing the person measured boxed; empty when the video
    cannot be read (the report is still written, without it)."""
    if not Path(video).exists():
        return {}
    import cv2

    from gaitscope.pose2d.people import measured_still

    people = keypoints.people
    image = measured_still(video, keypoints, people)
    if image is None:
        return {}
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        return {}
    frame = people.frame if people is not None and people.frame >= 0 else None
    caption = ("Green box: the person whose numbers are reported" + (f" (video frame {frame})" if frame is not None
               else "") + (". Grey boxes: other people seen." if people is not None and people.other_boxes else "."))
    return {"person_still_png": png.tobytes(), "person_still_caption": caption}
