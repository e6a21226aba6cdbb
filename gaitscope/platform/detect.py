"""2D keypoints of the walking person with MediaPipe BlazePose, run in parallel chunks.

Model: BlazePose GHUM "full" (Bazarevsky et al. 2020, arXiv 2006.10204) through MediaPipe's legacy
``mp.solutions.pose.Pose`` with ``model_complexity=1`` (the only model bundled with mediapipe 0.10.14; lite
and heavy would be downloaded, which fails offline), ``static_image_mode=False`` so the detector runs once
and a tracker follows the person from frame to frame, and ``smooth_landmarks=True`` (MediaPipe's One-Euro
style filter; jitter would otherwise reach the lifter and the gait events).

Engine: the same two BlazePose networks run either on LiteRT (:mod:`gaitscope.platform.blazepose_litert`, the
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

After detection, :mod:`gaitscope.platform.person_gate` rejects phantom skeletons and identity switches and
picks the longest stretch with one person; short gaps inside it are linearly interpolated and flagged.
Conversion to H36M-17 is in :mod:`gaitscope.platform.blazepose_map`.
"""

from __future__ import annotations

import os
import queue as queue_mod
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from gaitscope.errors import GaitscopeError, VideoError
from gaitscope.platform.blazepose_map import DEFAULT_MIN_VISIBILITY, blazepose_to_h36m
from gaitscope.platform.frame_times import read_frame_times, resample_keypoints
from gaitscope.platform.person_gate import GateParams, select_person
from gaitscope.platform.video import iter_frames, probe_video
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
    from gaitscope.platform.blazepose_litert import litert_available
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

        from gaitscope.platform.blazepose_litert import PORT_VERSION

        return (f"blazepose-full/litert-{version('ai-edge-litert')}+mediapipe-{mediapipe_version()}-models"
                f"/port{PORT_VERSION}")
    return f"blazepose-full/mediapipe-{mediapipe_version()}"


def engine_tag(engine: str) -> str:
    """Short file-name tag of an engine and its version, for caches of detections (``mp0.10.14``, ``lt2.3.0``)."""
    if engine == "litert":
        from importlib.metadata import version

        from gaitscope.platform.blazepose_litert import PORT_VERSION

        return f"lt{version('ai-edge-litert')}-p{PORT_VERSION}"
    return f"mp{mediapipe_version()}"


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
        from gaitscope.platform.blazepose_litert import BlazePoseLiteRT

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


def _detect_range(
    info: VideoInfo,
    start: int,
    stop: int,
    warm_start: int,
    max_side: int,
    report: Callable[[int], None] | None = None,
    engine: str = "mediapipe",
    cancel: Any = None,
) -> np.ndarray:
    """BlazePose on frames ``[warm_start, stop)``; returns rows for ``[start, stop)``: ``(n, 33, 4)`` px, NaN if none.

    ``report(n)`` is called with the number of newly finished frames of ``[start, stop)``.
    """
    out = np.full((stop - start, N_LANDMARKS, 4), np.nan, dtype=np.float32)
    w, h = info.width, info.height
    scale = min(1.0, max_side / max(w, h)) if max_side else 1.0
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    pending = 0
    with warnings.catch_warnings(), _new_pose(engine) as pose:
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
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            lms = pose.process(rgb)
            if index < start:
                continue
            if lms is not None:
                out[index - start] = lms * np.array([w, h, w, 1.0], dtype=np.float32)
            pending += 1
            if report is not None and pending >= _PROGRESS_EVERY:
                report(pending)
                pending = 0
    if report is not None and pending:
        report(pending)
    return out


def _worker(info: VideoInfo, chunk: int, start: int, stop: int, warm_start: int, max_side: int, q: Any,
            engine: str = "mediapipe") -> None:
    """Process entry point: detect one chunk and send progress, then the result (or the error) to ``q``."""
    try:
        arr = _detect_range(info, start, stop, warm_start, max_side,
                            report=lambda n: q.put(("progress", chunk, n)), engine=engine)
        q.put(("done", chunk, arr))
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
) -> np.ndarray:
    import multiprocessing as mp_proc

    ctx = mp_proc.get_context("spawn")
    q = ctx.Queue()
    bounds = np.linspace(start, stop, n_workers + 1).round().astype(int)
    procs = []
    for c in range(n_workers):
        a, b = int(bounds[c]), int(bounds[c + 1])
        warm_start = max(start, a - warm) if c else a
        p = ctx.Process(target=_worker, args=(info, c, a, b, warm_start, max_side, q, engine), daemon=True)
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
    return np.concatenate([results[c] for c in range(n_workers)], axis=0)


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

    Raises :class:`~gaitscope.errors.NoPersonError` (no, or too short, presence of a person),
    :class:`~gaitscope.errors.MultiplePeopleError` (the tracker keeps switching between people) and
    :class:`~gaitscope.errors.VideoError` (unreadable video, detector crash).
    """
    info = path_or_info if isinstance(path_or_info, VideoInfo) else probe_video(path_or_info)
    stop = info.n_frames if stop is None else min(int(stop), info.n_frames)
    start = max(0, int(start))
    if stop - start < 1:
        raise VideoError(f"No frames to analyse between frame {start} and {stop}.",
                         "Choose a longer part of the video.")
    total = stop - start
    engine_used = resolve_engine(engine)
    n_workers = max(1, min(int(workers), os.cpu_count() or 1, total // MIN_FRAMES_PER_WORKER))
    warm = int(np.clip(round(overlap_s * info.fps), 0, 60))

    try:
        if n_workers == 1:
            done = [0]

            def report(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress(min(done[0], total), total)

            raw = _detect_range(info, start, stop, start, max_side, report=report, engine=engine_used, cancel=cancel)
        else:
            raw = _detect_parallel(info, start, stop, n_workers, warm, max_side, progress, engine=engine_used,
                                   cancel=cancel)
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
    kept = _interpolate_gaps(raw[sel.start : sel.stop], sel.valid)
    xy, conf = blazepose_to_h36m(kept, min_visibility=min_visibility)
    interpolated = ~sel.valid
    notes = list(sel.notes)
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
    )
    if info.variable_rate:
        times = read_frame_times(info.path)
        if times is not None and len(times) >= info.n_frames:
            kp = resample_keypoints(kp, times[: info.n_frames], info.fps)
    return kp


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
