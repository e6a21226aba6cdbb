"""The dispatch by file type: one entry point for a video, a motion-capture file or a MediaPipe Pose landmark
file. It imports the three pipelines, which share the steps of :mod:`gaitscope.pipeline.steps`; the steps never
import a pipeline, so there is no circle (issue 25)."""

from __future__ import annotations

from pathlib import Path

from gaitscope.errors import InvalidInputError
from gaitscope.io.landmarks import is_landmark_file
from gaitscope.pipeline.landmarks import analyze_landmarks
from gaitscope.pipeline.mocap import analyze_mocap, is_mocap_file
from gaitscope.pipeline.steps import AnalysisResult, analyze_video


def analyze_file(path: str | Path, **kwargs) -> AnalysisResult:
    """Dispatch on the file extension: motion capture (.c3d .trc .mot .sto .bvh), MediaPipe Pose landmarks
    (.csv, :mod:`gaitscope.pipeline.landmarks`) or video (anything else).

    ``kwargs`` are those of :func:`analyze_video`; the video-only ones (``lifter``) are ignored for motion
    capture.
    """
    options = kwargs.get("options")
    if options is not None and options.person and (is_mocap_file(path) or is_landmark_file(path)):
        raise InvalidInputError(f"A person can be picked in a video only; {Path(path).name} holds one person's "
                                "data.", "Leave out --person for motion-capture and landmark files.")
    if is_mocap_file(path):
        kwargs.pop("lifter", None)
        return analyze_mocap(path, **kwargs)
    if is_landmark_file(path):
        return analyze_landmarks(path, **kwargs)
    return analyze_video(path, **kwargs)
