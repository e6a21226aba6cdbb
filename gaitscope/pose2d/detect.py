"""2D keypoints of the walking person with MediaPipe BlazePose, run in parallel chunks.

Model: BlazePose GHUM "full" (Bazarevsky et al. 2020, arXiv 2006.10204) through MediaPipe's legacy
``mp.solutions.pose.Pose`` with ``model_complexity=1`` (the only model bundled with mediapipe 0.10.14; lite
and heavy would be downloaded, which fails offline), ``static_image_mode=False`` so the detector runs once
and a tracker follows the person from frame to frame, and ``smooth_landmarks=True`` (MediaPipe's One-Euro
style filter; jitter would otherwise reach the lifter and the gait events).

Engine: the same two BlazePose networks run either on LiteRT (:mod:`gaitscope.pose2d.blazepose_litert`, the
default where ``ai-edge-litert`` is installed: about 2x cheaper per frame, landmarks within a few pixels of
MediaPipe's) or in MediaPipe's own graph. ``GAITSCOPE_POSE_ENGINE=mediapipe|litert|auto`` or ``engine=`` chooses.

Speed: BlazePose is the slowest stage of the pipeline (about 20 fps at 720p on one core with MediaPipe's graph,
about 40 with LiteRT). The frame
range is split into ``workers`` contiguous chunks, each processed by its own process with its own decoder
and its own ``Pose`` (a Pose graph is not shareable), and the results are merged in frame order. A chunk
starts decoding ``overlap_s`` earlier than its first frame and throws those results away, so its tracker is
already locked on when its own frames begin. Processes are started with the "spawn" context: MediaPipe and
OpenCV run threads, and forking a process with threads can deadlock. (As always with "spawn", a script that
calls this must guard its entry point with ``if __name__ == "__main__":``.)

After detection, :mod:`gaitscope.pose2d.person_gate` rejects phantom skeletons and identity switches and
picks the longest stretch with one person; short gaps inside it are linearly interpolated and flagged.
Conversion to H36M-17 is in :mod:`gaitscope.io.blazepose_map`.
"""

from __future__ import annotations

import dataclasses
import os
import queue as queue_mod
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from gaitscope.errors import GaitscopeError, VideoError
from gaitscope.io.blazepose_map import DEFAULT_MIN_VISIBILITY, blazepose_to_h36m
from gaitscope.io.frame_times import read_frame_times, resample_keypoints
from gaitscope.io.video import iter_frames, probe_video
from gaitscope.pose2d.people import PersonChoice
from gaitscope.pose2d.person_gate import GateParams, select_person
from gaitscope.pose2d.walk_direction import (
    HIPS,
    leftward_stretches,
    mirror_leftward_enabled,
    splice,
    unmirror_landmarks,
)
from gaitscope.records import Keypoints2D, VideoInfo

# MediaPipe's C++ logging is chatty on stderr; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

N_LANDMARKS = 33
#: Chunks shorter than this are not worth a process start (a detector process imports OpenCV and the engine and
#: re-detects ``overlap_s`` of warm-up frames: about 1 s). Measured with LiteRT on the 210-frame sample: one
#: process 6.8 s, two 5.0 s; 105 frames: one 3.2 s, two 4.3 s.
MIN_FRAMES_PER_WORKER = 90
_PROGRESS_EVERY = 10

Progress = Callable[[int, int], None]


class DetectionCancelled(GaitscopeError):
    """Raised inside :func:`detect_keypoints` when its ``cancel`` event is set (e.g. the analysis was found stored)."""


def mediapipe_version() -> str:
    """The installed mediapipe's version, from its metadata (importing mediapipe costs about a second)."""
    from importlib.metadata import version

    return version("mediapipe")


ENGINES = ("auto", "litert", "mediapipe")


def resolve_engine(engine: str | None = None) -> str:
    """``engine`` (or ``$GAITSCOPE_POSE_ENGINE``, default ``auto``) -> ``"litert"`` or ``"mediapipe"``.

    ``auto`` takes LiteRT when ``ai-edge-litert`` imports, else MediaPipe's graph. Asking for ``litert`` where it
    is not installed is an error (a silent fallback would change the 2D noise behind a user's back).
    """
    from gaitscope.pose2d.blazepose_litert import litert_available
    from gaitscope.settings import settings

    choice = (engine or settings().pose_engine or "auto").strip().lower()
    if choice not in ENGINES:
        raise GaitscopeError(f"Unknown pose engine '{choice}'.", f"Use one of: {', '.join(ENGINES)}.")
    if choice == "auto":
        return "litert" if litert_available() else "mediapipe"
    if choice == "litert" and not litert_available():
        raise GaitscopeError("The LiteRT pose engine was asked for, but ai-edge-litert is not installed.",
                             "Run `pip install ai-edge-litert` or set GAITSCOPE_POSE_ENGINE=mediapipe.")
    return choice


def detector_source(engine: str) -> str:
    """The ``Keypoints2D.source`` tag of a detection by ``engine`` (names the runtime and the model files)."""
    if engine == "litert":
        from importlib.metadata import version

        from gaitscope.pose2d.blazepose_litert import PORT_VERSION

        tag = (f"blazepose-full/litert-{version('ai-edge-litert')}+mediapipe-{mediapipe_version()}-models"
               f"/port{PORT_VERSION}")
    else:
        tag = f"blazepose-full/mediapipe-{mediapipe_version()}"
    # Stored analyses name the detection they rest on: one made with leftward stretches mirrored is another one.
    return tag + ("+mirrorleft" if mirror_leftward_enabled() else "")


def engine_tag(engine: str) -> str:
    """Short file-name tag of an engine and its version, for caches of detections (``mp0.10.14``, ``lt2.3.0``)."""
    if engine == "litert":
        from importlib.metadata import version

        from gaitscope.pose2d.blazepose_litert import PORT_VERSION

        tag = f"lt{version('ai-edge-litert')}-p{PORT_VERSION}"
    else:
        tag = f"mp{mediapipe_version()}"
    return tag + ("-ml" if mirror_leftward_enabled() else "")


class _MediaPipePose:
    """MediaPipe's legacy graph behind the same ``process(rgb) -> (33, 4) | None`` interface as LiteRT's."""

    def __init__(self) -> None:
        self._pose = _new_mediapipe_pose()

    def __enter__(self) -> "_MediaPipePose":
        return self

    def __exit__(self, *exc: object) -> None:
        self._pose.close()

    def process(self, rgb: np.ndarray) -> np.ndarray | None:
        lms = self._pose.process(rgb).pose_landmarks
        if lms is None:
            return None
        return np.array([(p.x, p.y, p.z, p.visibility) for p in lms.landmark], dtype=np.float32)


def _new_pose(engine: str) -> Any:
    if engine == "litert":
        from gaitscope.pose2d.blazepose_litert import BlazePoseLiteRT

        return BlazePoseLiteRT(min_detection_confidence=0.5, min_tracking_confidence=0.5, smooth_landmarks=True)
    return _MediaPipePose()


def _new_mediapipe_pose() -> Any:
    import mediapipe as mp

    return mp.solutions.pose.Pose(
        static_image_mode=False,
        model_complexity=1,
        smooth_landmarks=True,
        enable_segmentation=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


def _people_detector(engine: str, pose: Any) -> Any:
    """What looks for the other people: the LiteRT pose itself (its detector does not disturb its tracking), a
    LiteRT detector beside MediaPipe's graph, or None where LiteRT is not installed (nobody else is looked for)."""
    if engine == "litert":
        return pose
    from gaitscope.pose2d.blazepose_litert import BlazePoseLiteRT, litert_available

    return BlazePoseLiteRT() if litert_available() else None


def _detect_range(
    info: VideoInfo,
    start: int,
    stop: int,
    warm_start: int,
    max_side: int,
    report: Callable[[int], None] | None = None,
    engine: str = "mediapipe",
    cancel: Any = None,
    people_every: int = 0,
    people_sink: list | None = None,
    follow: tuple[float, float] | None = None,
    mirror: bool = False,
) -> np.ndarray:
    """BlazePose on frames ``[warm_start, stop)``; returns rows for ``[start, stop)``: ``(n, 33, 4)`` px, NaN if none.

    ``mirror``: BlazePose sees each frame mirrored left to right; the rows are mapped back to the original image
    (:mod:`gaitscope.pose2d.walk_direction`), and ``follow`` is given in original pixels as always.

    ``report(n)`` is called with the number of newly finished frames of ``[start, stop)``. Every ``people_every``
    frames (0: never) the other people in view are appended to ``people_sink`` as
    :class:`~gaitscope.pose2d.people.Sample` (full-resolution pixels). ``follow``: a point (full-resolution
    pixels) on the person to follow (LiteRT only): they are detected there, and found again near where they were
    last seen.
    """
    out = np.full((stop - start, N_LANDMARKS, 4), np.nan, dtype=np.float32)
    w, h = info.width, info.height
    scale = min(1.0, max_side / max(w, h)) if max_side else 1.0
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    pending = 0
    with warnings.catch_warnings(), _new_pose(engine) as pose:
        if follow is not None:
            from gaitscope.pose2d.people import all_people

            fx = w - follow[0] if mirror else follow[0]
            pose.follow = (fx * small[0] / w, follow[1] * small[1] / h)
            pose.find_all = lambda rgb: all_people(pose, rgb)
        counter = _people_detector(engine, pose) if people_every and people_sink is not None else None
        # mediapipe 0.10.14 calls a protobuf API that protobuf 4.25 marks deprecated, once per process.
        warnings.filterwarnings("ignore", message=".*GetPrototype.*", category=UserWarning)
        for index, frame in iter_frames(info, warm_start, stop):
            if cancel is not None and cancel.is_set():
                raise DetectionCancelled("2D detection was cancelled.")
            if scale < 1.0:
                # Landmarks are normalised to the image, so a smaller copy gives the same coordinates; it saves
                # the engines' copies and crops of a 1080p/4K frame. Bilinear, not INTER_AREA: at 1080p -> 720p
                # INTER_AREA cost 16 ms a frame (a third of BlazePose itself), and on the real 1080p side-view
                # clip the landmarks moved by 0.4 px (median; 691-px body) between the two.
                frame = cv2.resize(frame, small, interpolation=cv2.INTER_LINEAR)
            if mirror:
                frame = cv2.flip(frame, 1)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            lms = pose.process(rgb)
            if index < start:
                continue
            if lms is not None:
                row = lms * np.array([w, h, w, 1.0], dtype=np.float32)
                out[index - start] = unmirror_landmarks(row[None], w)[0] if mirror else row
            if counter is not None and (index - start) % people_every == 0:
                people_sink.append(_people_sample(counter, rgb, lms, index, w / rgb.shape[1], h / rgb.shape[0]))
            pending += 1
            if report is not None and pending >= _PROGRESS_EVERY:
                report(pending)
                pending = 0
    if report is not None and pending:
        report(pending)
    return out


def _people_sample(counter: Any, rgb: np.ndarray, lms: np.ndarray | None, index: int, sx: float, sy: float):
    """The other people on one (possibly downscaled) frame, boxes in full-resolution pixels."""
    from gaitscope.pose2d.people import Sample, landmark_box, people_in_frame

    sh, sw = rgb.shape[:2]
    mask = landmark_box(lms[:, :2] * np.array([sw, sh])) if lms is not None else None
    others = people_in_frame(counter, rgb, mask)

    def full(b):
        return (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)

    return Sample(index, None if mask is None else full(mask), tuple(full(b) for b, _ in others))


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Why: the detector processes are daemons, which Python stops at a normal exit; but a parent stopped by a
    signal (a job manager's SIGTERM, a kill, an out-of-memory kill) runs no exit handlers, and its BlazePose
    processes went on decoding and detecting the whole video as orphans, holding both cores. Elsewhere (no
    ``prctl``) nothing is done. A parent that died before the call is caught by the ``getppid`` check."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker(info: VideoInfo, chunk: int, start: int, stop: int, warm_start: int, max_side: int, q: Any,
            engine: str = "mediapipe", people_every: int = 0, parent_pid: int | None = None) -> None:
    """Process entry point: detect one chunk and send progress, then the result (or the error) to ``q``."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    try:
        sink: list = []
        arr = _detect_range(info, start, stop, warm_start, max_side,
                            report=lambda n: q.put(("progress", chunk, n)), engine=engine,
                            people_every=people_every, people_sink=sink)
        q.put(("done", chunk, (arr, sink)))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent, which raises it
        q.put(("error", chunk, f"{type(exc).__name__}: {exc}"))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start "spawn" processes without making them re-run the parent's ``__main__`` script.

    A spawned child normally re-executes the parent's main script (so objects defined there unpickle). The
    detector's entry point lives in this module, so that is never needed, and under Streamlit it is harmful:
    ``__main__`` is then the dashboard script, and each detector process ran the whole app (and died at its
    sign-in form, exit code 1). The preparation data is read while ``Process.start()`` runs, so the main module
    is swapped for an empty one just for that call.
    """
    import sys
    import types

    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _detect_parallel(
    info: VideoInfo, start: int, stop: int, n_workers: int, warm: int, max_side: int, progress: Progress | None,
    engine: str = "mediapipe",
    cancel: Any = None,
    people_every: int = 0,
    people_sink: list | None = None,
) -> np.ndarray:
    import multiprocessing as mp_proc

    ctx = mp_proc.get_context("spawn")
    q = ctx.Queue()
    bounds = np.linspace(start, stop, n_workers + 1).round().astype(int)
    procs = []
    for c in range(n_workers):
        a, b = int(bounds[c]), int(bounds[c + 1])
        warm_start = max(start, a - warm) if c else a
        p = ctx.Process(target=_worker, args=(info, c, a, b, warm_start, max_side, q, engine, people_every,
                                              os.getpid()), daemon=True)
        with _main_module_hidden():
            p.start()
        procs.append(p)
    results: dict[int, np.ndarray] = {}
    done = 0
    total = stop - start
    try:
        while len(results) < n_workers:
            if cancel is not None and cancel.is_set():  # the processes are stopped in `finally`
                raise DetectionCancelled("2D detection was cancelled.")
            try:
                kind, chunk, payload = q.get(timeout=0.2 if cancel is not None else 1.0)
            except queue_mod.Empty:
                dead = [c for c, p in enumerate(procs) if c not in results and not p.is_alive()]
                if dead:
                    try:  # its last message may still be in flight
                        kind, chunk, payload = q.get(timeout=5.0)
                    except queue_mod.Empty:
                        raise VideoError(
                            f"The pose detector stopped unexpectedly (exit code {procs[dead[0]].exitcode}).",
                            "Try again; if it happens again, convert the video to MP4 (H.264) and retry.",
                        ) from None
                else:
                    continue
            if kind == "progress":
                done += payload
                if progress is not None:
                    progress(min(done, total), total)
            elif kind == "done":
                results[chunk] = payload
            else:
                raise VideoError(
                    f"The pose detector failed on part of the video ({payload}).",
                    "Try again; if it happens again, convert the video to MP4 (H.264) and retry.",
                )
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
        q.close()
    if people_sink is not None:
        people_sink.extend(sample for c in range(n_workers) for sample in results[c][1])
    return np.concatenate([results[c][0] for c in range(n_workers)], axis=0)


def _interpolate_gaps(raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill rows where ``valid`` is False by linear interpolation between credible rows (ends are credible)."""
    if valid.all():
        return raw
    from scipy.interpolate import interp1d  # here, not at the top: the detector processes import this module

    idx = np.flatnonzero(valid)
    f = interp1d(idx, raw[idx], axis=0, kind="linear", assume_sorted=True)
    out = raw.copy()
    gaps = np.flatnonzero(~valid)
    out[gaps] = f(gaps)
    return out


def _count_runs(mask: np.ndarray) -> int:
    m = mask.astype(np.int8)
    return int(((m[1:] == 1) & (m[:-1] == 0)).sum() + (m[0] == 1 if len(m) else 0))


def detect_keypoints(
    path_or_info: VideoInfo | str | os.PathLike[str],
    *,
    workers: int = 2,
    progress: Progress | None = None,
    min_person_frames: int = 15,
    max_gap_s: float = 0.5,
    start: int = 0,
    stop: int | None = None,
    min_visibility: float = DEFAULT_MIN_VISIBILITY,
    max_side: int = 1280,
    overlap_s: float = 0.5,
    gate: GateParams = GateParams(),
    engine: str | None = None,
    cancel: Any = None,
    person: PersonChoice | None = None,
    look_for_people: bool = True,
) -> Keypoints2D:
    """Detect the walking person's 2D joints in ``[start, stop)`` of a video.

    Returns :class:`Keypoints2D` in H36M-17 order, pixels of the upright image, with the 33 BlazePose
    landmarks in ``raw`` (x_px, y_px, z scaled by width like x, visibility; ``raw_format="blazepose33"``)
    so heels and toes remain available. Only the longest stretch with one credible person is returned; the
    reason for anything dropped is in ``notes``. Gaps up to ``max_gap_s`` inside it are filled linearly and
    flagged in ``interpolated``.

    ``workers`` processes share the frames (``workers=1`` runs in this process); ``progress(done, total)``
    is called in this process as frames finish. Frames are downscaled to ``max_side`` pixels on their
    longer side before BlazePose (coordinates are still given in full-resolution pixels). ``engine`` picks the
    BlazePose runtime (:func:`resolve_engine`; ``source`` names the one used). ``cancel``: a
    ``threading.Event``; once set, detection stops (its processes too) and :class:`DetectionCancelled` is raised.

    Other people (:mod:`gaitscope.pose2d.people`, ``look_for_people``; needs LiteRT): when several are seen, a
    note says so first and ``people`` holds where; when the person measured cannot be told apart from another one
    (crossing, overlapping, or a change of the person followed while others were in view) the analysis is refused
    with :class:`~gaitscope.errors.MultiplePeopleError`. ``person``: the person to analyze, picked on the frame
    where the most people are seen (:func:`~gaitscope.pose2d.people.find_people`); detection then starts at that
    frame, in one process, with LiteRT.

    Raises :class:`~gaitscope.errors.NoPersonError` (no, or too short, presence of a person),
    :class:`~gaitscope.errors.MultiplePeopleError` (the tracker keeps switching between people, or the person
    cannot be told apart) and :class:`~gaitscope.errors.VideoError` (unreadable video, detector crash).
    """
    from gaitscope.pose2d import people as people_mod

    info = path_or_info if isinstance(path_or_info, VideoInfo) else probe_video(path_or_info)
    stop = info.n_frames if stop is None else min(int(stop), info.n_frames)
    start = max(0, int(start))
    follow = None
    if person is not None:
        if resolve_engine(engine) != "litert":
            raise GaitscopeError("Picking a person needs the LiteRT pose engine (MediaPipe's graph always follows "
                                 "the person it finds first).",
                                 "Install ai-edge-litert, or set GAITSCOPE_POSE_ENGINE=litert.")
        frame = people_mod.find_people(info, start=start)
        follow = frame.resolve(person)
        start, workers = frame.frame, 1
    if stop - start < 1:
        raise VideoError(f"No frames to analyze between frame {start} and {stop}.",
                         "Choose a longer part of the video.")
    total = stop - start
    engine_used = resolve_engine(engine)
    n_workers = max(1, min(int(workers), os.cpu_count() or 1, total // MIN_FRAMES_PER_WORKER))
    warm = int(np.clip(round(overlap_s * info.fps), 0, 60))
    people_every = max(1, int(round(people_mod.SAMPLE_EVERY_S * info.fps))) if look_for_people else 0
    samples: list = []
    mirror_note = None

    try:
        if n_workers == 1:
            done = [0]

            def report(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress(min(done[0], total), total)

            raw = _detect_range(info, start, stop, start, max_side, report=report, engine=engine_used, cancel=cancel,
                                people_every=people_every, people_sink=samples, follow=follow)
        else:
            raw = _detect_parallel(info, start, stop, n_workers, warm, max_side, progress, engine=engine_used,
                                   cancel=cancel, people_every=people_every, people_sink=samples)
        if mirror_leftward_enabled():
            raw, mirror_note = _redetect_leftward(info, raw, start, warm, max_side, engine_used, cancel, follow)
    except GaitscopeError:
        raise
    except Exception as exc:  # MediaPipe/OpenCV internals: never show a raw traceback to the user
        raise VideoError(
            f"The pose detector could not process '{Path(info.path).name}' ({type(exc).__name__}).",
            "Convert the video to MP4 (H.264) and try again.",
        ) from exc

    sel = select_person(
        raw, info.width, info.height, info.fps,
        min_person_frames=min_person_frames, max_gap_s=max_gap_s, frame_offset=start, params=gate,
    )
    chosen = person.key if person is not None else ""
    seen, why = people_mod.summarize(sorted(samples, key=lambda x: x.frame), (start + sel.start, start + sel.stop),
                                     info.fps, chosen=chosen, change_frames=sel.change_frames)
    if why is not None:
        raise people_mod.refuse(why, chosen=person is not None)
    kept = _interpolate_gaps(raw[sel.start : sel.stop], sel.valid)
    xy, conf = blazepose_to_h36m(kept, min_visibility=min_visibility)
    interpolated = ~sel.valid
    notes = list(sel.notes)
    if seen is not None:
        notes.insert(0, people_mod.several_people_note(seen))
    elif person is not None:
        notes.insert(0, f"The person picked ({chosen}) was analyzed from frame {start} on.")
    if mirror_note is not None:
        notes.append(mirror_note)
    if interpolated.any():
        notes.append(
            f"Filled {_count_runs(interpolated)} short gap(s) ({int(interpolated.sum())} frames, each gap at most "
            f"{max_gap_s:g} s) by linear interpolation."
        )
    kp = Keypoints2D(
        xy_px=xy,
        conf=conf,
        fps=info.fps,
        width=info.width,
        height=info.height,
        frame_index=np.arange(start + sel.start, start + sel.stop),
        interpolated=interpolated,
        source=detector_source(engine_used),
        raw=kept.astype(np.float32),
        raw_format="blazepose33",
        notes=tuple(notes),
        people=seen,
    )
    if info.variable_rate:
        times = read_frame_times(info.path)
        if times is not None and len(times) >= info.n_frames:
            kp = dataclasses.replace(resample_keypoints(kp, times[: info.n_frames], info.fps), people=seen)
    return kp


def _redetect_leftward(info: VideoInfo, raw: np.ndarray, start: int, warm: int, max_side: int, engine: str,
                       cancel: Any, follow: tuple[float, float] | None) -> tuple[np.ndarray, str | None]:
    """``raw`` (rows from frame ``start``) with the stretches where the person walks toward the image's left
    detected again on mirrored frames (:mod:`gaitscope.pose2d.walk_direction`: BlazePose follows walkers moving
    right better), and a note saying where; one process, after the first pass (and inside its error handling)."""
    stretches = leftward_stretches(raw, info.fps)
    if not stretches:
        return raw, None
    for a, b in stretches:
        hips = raw[a, list(HIPS), :2]
        at = tuple(np.nanmean(hips, axis=0)) if follow is not None and np.isfinite(hips).all() else follow
        mirrored = _detect_range(info, start + a, start + b, max(start, start + a - warm), max_side,
                                 engine=engine, cancel=cancel, follow=at, mirror=True)
        raw = splice(raw, mirrored, a)
    where = ", ".join(f"{start + a}-{start + b - 1}" for a, b in stretches)
    return raw, (f"2D detected on mirrored frames where the person walks toward the image's left (frames {where}): "
                 "BlazePose tracks the legs of walkers moving right better.")


def cached_detection(video: str | os.PathLike[str] | Callable[[], str | os.PathLike[str]], key: str,
                     cache_dir: str | os.PathLike[str] | None, **detect_kw: Any) -> Keypoints2D:
    """:func:`detect_keypoints` (one process, the configured engine) of ``video``, cached as
    ``cache_dir/<key>-<engine tag>.npz`` for evaluations that detect the same rendered videos again and again.

    ``video`` may be a callable that renders the video and returns its path: it is called only on a cache miss.
    The engine tag keeps a detector change from reusing stale detections. ``cache_dir=None`` caches nothing.
    The cache holds the H36M keypoints only (not ``raw``).
    """
    engine = resolve_engine()
    path = Path(cache_dir) / f"{key}-{engine_tag(engine)}.npz" if cache_dir else None
    if path is not None and path.exists():
        d = np.load(path)
        return Keypoints2D(d["xy_px"], d["conf"], float(d["fps"]), int(d["width"]), int(d["height"]),
                           d["frame_index"], d["interpolated"], str(d["source"]))
    kp = detect_keypoints(video() if callable(video) else video, workers=1, engine=engine, **detect_kw)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez_compressed(tmp, xy_px=kp.xy_px, conf=kp.conf, fps=kp.fps, width=kp.width, height=kp.height,
                            frame_index=kp.frame_index, interpolated=kp.interpolated, source=kp.source)
        tmp.replace(path)
    return kp
