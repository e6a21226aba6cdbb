"""MediaPipe landmark files (:mod:`gaitscope.io.landmarks`) through the video pipeline from the 2D stage on.

The file replaces decoding and BlazePose; lifting, embedding, analysis, storage and reports are the video
pipeline's (:func:`gaitscope.pipeline.steps.run_stages`, :func:`store_and_export`), so a landmark file and the
video it came from give the same kind of record. It is stored as a ``video`` recording (its content hash is the
landmark file's) with the image size the reader used.

**What could not be measured is said, not guessed.** The lifter fills every joint of every frame, including joints
it never saw (feet cut off by the camera). :func:`mask_unseen` sets the 3D position of a joint to NaN in the frames
where its 2D joint was missing, so the gait analysis leaves those frames out (its own gap filling bridges at most
0.25 s) and reports fewer strides rather than strides of invented feet; both the lifted motion's notes and the
report's warnings say how much was left out.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from gaitscope.errors import AnalysisError
from gaitscope.io.file_hash import file_sha256
from gaitscope.pipeline.steps import (
    AnalysisOptions,
    AnalysisResult,
    ProgressFn,
    _no_progress,
    _reuse,
    check_patient_code,
    failure_recorded,
    store_and_export,
)
from gaitscope.records import Keypoints2D, Motion3D, VideoInfo
from gaitscope.skeleton import H36M_JOINTS

#: Joints without which no stride can be measured (the analysis' leg joints).
LEG_JOINTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)


def unseen_fraction(kp: Keypoints2D) -> np.ndarray:
    """``(17,)`` share of frames in which each H36M joint had no 2D position (confidence 0)."""
    return (np.asarray(kp.conf) <= 0).mean(axis=0)


def mask_unseen(motion: Motion3D, kp: Keypoints2D) -> Motion3D:
    """The lifted motion with NaN wherever the 2D joint was missing (same frames as ``kp``), with a note."""
    if motion.n_frames != kp.n_frames:
        raise ValueError(f"motion has {motion.n_frames} frames, keypoints {kp.n_frames}")
    missing = np.asarray(kp.conf) <= 0
    if not missing.any():
        return motion
    xyz = np.array(motion.xyz_m, dtype=float, copy=True)
    xyz[missing] = np.nan
    frac = missing.mean(axis=0)
    parts = [f"{H36M_JOINTS[j]} {100 * frac[j]:.0f} %" for j in np.argsort(-frac) if frac[j] >= 0.01]
    note = ("Joints not seen in 2D were left missing in 3D rather than taken from the lifter's guess "
            f"(share of frames: {', '.join(parts[:8])}).")
    return replace(motion, xyz_m=xyz, notes=tuple(motion.notes) + (note,))


def measurement_warnings(kp: Keypoints2D) -> list[str]:
    """Clinician-readable lines on what the recording could not show (for the report's warnings)."""
    frac = unseen_fraction(kp)
    out = []
    legs = [j for j in LEG_JOINTS if frac[j] >= 0.05]
    if legs:
        out.append("Outside the image or not detected: " + ", ".join(
            f"{H36M_JOINTS[j]} in {100 * frac[j]:.0f} % of frames" for j in legs)
            + ". Those frames are left out of gait events, strides and joint angles (not guessed).")
    legs_missing = (np.asarray(kp.conf)[:, list(LEG_JOINTS)] <= 0).any(axis=1).mean()
    if legs_missing >= 0.05:
        out.append(f"{100 * legs_missing:.0f} % of frames lack at least one leg joint; parameters rest on the "
                   f"remaining {100 * (1 - legs_missing):.0f} %.")
    if "nose" in H36M_JOINTS and frac[H36M_JOINTS.index("nose")] >= 0.2:
        out.append("The head is out of view in many frames; trunk and head angles are less reliable.")
    return out


def check_legs_visible(kp: Keypoints2D, name: str, min_share: float = 0.05) -> None:
    """:class:`AnalysisError` when a leg joint is (practically) never in view: no stride can be measured."""
    frac = unseen_fraction(kp)
    never = [H36M_JOINTS[j] for j in LEG_JOINTS if 1.0 - frac[j] < min_share]
    if never:
        raise AnalysisError(
            f"'{name}': the {', '.join(never)} joint(s) are outside the image (or undetected) in more than "
            f"{100 * (1 - min_share):.0f} % of frames, so no stride can be measured.",
            "Film the whole body, feet included, while the person walks.",
        )


def lift_landmarks(kp: Keypoints2D, lifter, *, height_m: float | None = None, flip_tta: bool = True):
    """Lift and embed one landmark walk, with the unseen joints masked: ``(motion, embedding)``."""
    from gaitscope.pipeline.steps import lift_and_embed

    motion, embedding = lift_and_embed(lifter, kp, height_m=height_m, flip_tta=flip_tta)
    return mask_unseen(motion, kp), embedding


def analyze_landmarks(
    path: str | Path,
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
    fps: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> AnalysisResult:
    """Analyze one MediaPipe landmark file end to end and store it (when ``db_url``) in one transaction.

    Same arguments and guarantees as :func:`gaitscope.pipeline.steps.analyze_video`; ``fps``, ``width`` and
    ``height`` override the file's timestamps and the estimated image size.
    """
    from gaitscope.io.landmarks import load_mediapipe_csv
    from gaitscope.pipeline import analysis_inputs, normative_choice, storage
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.pipeline.steps import analyze_motion, with_patient_subject

    check_patient_code(patient_code)
    path = Path(path)
    name = original_name or path.name
    reference = normative_choice.resolve(options.normative)
    progress("decode", 0, 1)
    kp = load_mediapipe_csv(path, fps=fps, width=width, height=height)  # KeypointFormatError: nothing stored yet
    info = VideoInfo(path=str(path), fps=float(kp.fps), n_frames=kp.n_frames, width=kp.width, height=kp.height,
                     duration_s=kp.n_frames / float(kp.fps), codec="mediapipe-landmarks",
                     size_bytes=path.stat().st_size, sha256=file_sha256(path))
    progress("decode", 1, 1)
    progress("2d", 1, 1)
    note = "MediaPipe Pose landmark file (no video): " + " ".join(kp.notes[1:2])
    lifter = lifter if lifter is not None else load_lifter(options.checkpoint)

    recording_id = None
    database = None
    inputs = None
    if db_url is not None:
        database = storage.open_db(db_url)
        options = with_patient_subject(options, database, patient_code, visit_date)
        # the video inputs, with the landmark file (not our 2D detector) as the 2D stage
        inputs = replace(analysis_inputs.for_video(
            model_source=analysis_inputs.lifter_source(lifter), checkpoint=options.checkpoint, reference=reference,
            height_cm=options.height_cm, flip_tta=options.flip_tta, age_years=options.age_years, sex=options.sex),
            detector=kp.source)
        if not force:
            reused = _reuse(database, info, inputs, out_dir, patient_code, visit_date, options.height_cm, name,
                            progress, source_note=note)
            if reused is not None:
                return reused
        recording_id = storage.register(database, info, patient_code=patient_code, visit_date=visit_date,
                                        original_name=name)
    with failure_recorded(database, recording_id):
        check_legs_visible(kp, name)
        height_m = options.height_cm / 100.0 if options.height_cm else None
        progress("3d", 0, 1)
        motion, embedding = lift_landmarks(kp, lifter, height_m=height_m, flip_tta=options.flip_tta)
        progress("3d", 1, 1)
        progress("embed", 1, 1)
        progress("analysis", 0, 1)
        report = analyze_motion(motion, reference, height_m=height_m, age=options.age_years, sex=options.sex,
                                keypoints=kp)
        report = replace(report, warnings=tuple(measurement_warnings(kp)) + tuple(report.warnings))
        progress("analysis", 1, 1)
        result = AnalysisResult(info, kp, motion, embedding, report, source_note=note)
        result = store_and_export(result, database, recording_id, out_dir, progress, patient_code=patient_code,
                                  visit_date=visit_date, height_cm=options.height_cm, name=name, inputs=inputs,
                                  replace_stored=force)
    return result
