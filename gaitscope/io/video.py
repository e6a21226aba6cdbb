"""Video ingest: validate an uploaded file and stream its frames upright.

Why this module exists: OpenCV is happy to "open" many things that are not usable walking videos (a PNG
renamed ``.mp4`` opens as a one-frame video, a half-copied AVI opens and then stops early, a container can
declare 1000 fps or none) and reports problems as ``False`` return values or C++ tracebacks. Every later
stage assumes a sound :class:`~gaitscope.records.VideoInfo`, so all of these are turned into a
:class:`~gaitscope.errors.VideoError` here, with a message a clinician can act on.

Decisions (documented because they are choices, not facts):

* **Frame count.** Container metadata can lie (estimated from duration, negative for picture files, the
  full count for a file whose end is missing). ``VideoInfo.n_frames`` is the number of frames that really
  decode. It is the container's count when frame ``N-1`` decodes and frame ``N`` does not (checked with one
  seek near the end, cheap); otherwise the frames are counted by decoding them all (``grab``: no colour
  conversion).
* **Truncated files.** A half-written upload is an error, not a shorter walk: if fewer than
  :data:`TRUNCATION_TOLERANCE` of the declared frames decode, :func:`probe_video` raises ``VideoError``
  (a clinician would otherwise get a report on part of the walk without knowing it). An MP4 whose index
  (``moov`` box) is missing, the usual state of a file cut during upload, cannot be opened at all and is
  diagnosed from its box structure; an MP4/MOV whose last box runs past the end of the file is reported
  as incomplete even when its first frames decode (a "fast-start" file cut short).
* **Variable frame rate.** Phone videos are often VFR. The container's presentation time stamps (read with
  PyAV, :mod:`gaitscope.io.frame_times`) decide: when frame intervals vary, ``VideoInfo.fps`` is the
  mean rate and ``variable_rate`` is set, and the 2D stage resamples its keypoints onto an even clock.
* **Rotation.** Phones store portrait video as landscape frames plus a rotation tag. OpenCV's automatic
  rotation is switched off and the tag (``CAP_PROP_ORIENTATION_META``, clockwise degrees, the same
  convention OpenCV and FFmpeg use for display) is applied here, so ``VideoInfo.width/height`` and every
  frame from :func:`iter_frames` are upright, whatever the OpenCV build's default.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from gaitscope.errors import VideoError
from gaitscope.io.file_hash import file_sha256
from gaitscope.io.frame_times import is_variable_rate, mean_rate, read_frame_times
from gaitscope.records import VideoInfo

#: A file whose decodable frames fall below this fraction of its declared count is reported as truncated.
TRUNCATION_TOLERANCE = 0.95
#: Frames counted slack: declared counts estimated from duration (WebM, VFR phones) are often off by one or two.
_COUNT_SLACK = 2

_ROTATE_CODE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}

_HINT_REUPLOAD = "Upload the original recording again, or export it from the camera/phone as MP4."


# ---------------------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------------------


def _open_capture(path: str) -> cv2.VideoCapture:
    """Open with FFmpeg explicitly (no image-sequence or camera backends), rotation left to us."""
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if cap.isOpened():
        # We rotate ourselves: OpenCV builds differ in their default for automatic rotation.
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return cap


def _rotate(frame: np.ndarray, rotation_deg: int) -> np.ndarray:
    code = _ROTATE_CODE.get(rotation_deg)
    return frame if code is None else cv2.rotate(frame, code)


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    text = code.to_bytes(4, "little").decode("latin-1")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _mp4_box_problem(size: int, path: Path) -> str | None:
    """Walk the top-level boxes of an ISO-BMFF file (MP4/MOV); say what is wrong, or None."""
    seen: list[bytes] = []
    pos = 0
    with path.open("rb") as fh:
        while pos < size:
            fh.seek(pos)
            hdr = fh.read(16)
            if len(hdr) < 8:
                return "it ends in the middle of its structure"
            box_size, kind = struct.unpack(">I4s", hdr[:8])
            if box_size == 1 and len(hdr) >= 16:
                box_size = struct.unpack(">Q", hdr[8:16])[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8:
                return "its structure is damaged"
            seen.append(kind)
            if pos + box_size > size:
                return "it ends before its last part is complete"
            pos += box_size
    if b"moov" not in seen:
        return "its index (the 'moov' part written last) is missing"
    return None


def _check_iso_structure(path: Path, size: int) -> None:
    """MP4/MOV whose last box runs past the end of the file: cut short, even if the start still decodes."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head[4:8] == b"ftyp":
        problem = _mp4_box_problem(size, path)
        if problem and "ends" in problem:
            raise VideoError(
                f"The video '{path.name}' is incomplete: {problem}. The upload or copy was probably interrupted.",
                _HINT_REUPLOAD,
            )


def _diagnose_unopenable(path: Path) -> VideoError:
    """Explain why FFmpeg could not open ``path`` as well as the first bytes allow."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(16)
    name = path.name
    if head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or head[:4] in (b"GIF8",):
        return VideoError(f"'{name}' is a still picture, not a video.", "Upload the walking video itself.")
    if head[4:8] == b"ftyp":
        problem = _mp4_box_problem(size, path)
        if problem:
            return VideoError(
                f"The video '{name}' is incomplete: {problem}. The upload or copy was probably interrupted.",
                _HINT_REUPLOAD,
            )
    return VideoError(f"'{name}' could not be read as a video (unknown or damaged format).", _HINT_REUPLOAD)


# ---------------------------------------------------------------------------------------------------------
# Frame counting
# ---------------------------------------------------------------------------------------------------------


def _read_at(cap: cv2.VideoCapture, index: int) -> bool:
    if index < 0:
        return False
    if not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
        return False
    ok = cap.grab()
    return bool(ok)


def _count_by_decoding(path: str, limit: int) -> int:
    """Decode (grab) frames until the stream ends or ``limit + 1`` frames were seen."""
    cap = _open_capture(path)
    n = 0
    try:
        while n <= limit and cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def _decodable_frames(path: str, declared: int, limit: int) -> tuple[int, str]:
    """Number of frames that decode, and how it was found ("metadata" or "counted")."""
    if 0 < declared <= limit + _COUNT_SLACK:
        cap = _open_capture(path)
        try:
            last_ok = _read_at(cap, declared - 1)
            beyond = bool(cap.grab()) if last_ok else True  # the next frame, without a second seek
        finally:
            cap.release()
        if last_ok and not beyond:
            return declared, "metadata"
    return _count_by_decoding(path, limit), "counted"


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------


def probe_video(
    path: str | os.PathLike[str],
    max_duration_s: float = 600,
    min_fps: float = 5,
    max_fps: float = 480,
) -> VideoInfo:
    """Validate a video file and describe it.

    Opens anything OpenCV's FFmpeg backend decodes (MP4, MOV, AVI, WebM, MKV...), decodes the first frame to
    prove it is a real video, and returns frame rate, decodable frame count (see the module docstring),
    upright size (after the rotation tag), duration, rotation, codec FourCC, size and SHA-256 of the bytes.

    Raises :class:`VideoError` for: a missing or empty file, a file that is not a video (text, picture),
    no decodable frame, a missing or implausible frame rate (outside ``[min_fps, max_fps]``, NaN), a
    recording longer than ``max_duration_s`` and a truncated file.
    """
    p = Path(path)
    if not p.exists():
        raise VideoError(f"The video file '{p}' does not exist.", "Check the file name and folder, then try again.")
    if not p.is_file():
        raise VideoError(f"'{p}' is a folder, not a video file.", "Choose the video file itself.")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(f"The video file '{p.name}' is empty (0 bytes).", _HINT_REUPLOAD)

    cap = _open_capture(str(p))
    try:
        if not cap.isOpened():
            raise _diagnose_unopenable(p)
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        declared_raw = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rotation = int(round(float(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0))) % 360
        codec = _fourcc(cap)
        try:
            ok, first = cap.read()
        except cv2.error as exc:  # pragma: no cover - depends on the damaged file
            raise VideoError(f"The first frame of '{p.name}' could not be decoded.", _HINT_REUPLOAD) from exc
    finally:
        cap.release()
    if not ok or first is None:
        raise VideoError(f"'{p.name}' contains no picture that can be decoded.", _HINT_REUPLOAD)
    _check_iso_structure(p, size)
    if rotation not in (0, 90, 180, 270):
        rotation = 0  # odd angles are not a phone orientation; ignore rather than distort
    first = _rotate(first, rotation)
    height, width = first.shape[:2]

    # Phones record variable frame rate: the container's time stamps say when each frame was taken, and the
    # nominal rate is then the mean rate (OpenCV reports a nominal or a maximum rate for such files).
    times = read_frame_times(str(p))
    variable = times is not None and is_variable_rate(times)
    if variable:
        fps = mean_rate(times)
    if not math.isfinite(fps) or fps <= 0:
        raise VideoError(
            f"The video '{p.name}' does not say how many frames per second it has.",
            "Export it again from the camera or phone as MP4 with a fixed frame rate.",
        )
    if not (min_fps <= fps <= max_fps):
        raise VideoError(
            f"The video '{p.name}' reports {fps:g} frames per second, outside the usable range "
            f"{min_fps:g}-{max_fps:g}.",
            "The file's timing information is probably wrong: export it again with a normal frame rate "
            "(e.g. 30 or 60 fps).",
        )

    declared = int(declared_raw) if math.isfinite(declared_raw) and declared_raw > 0 else 0
    limit = int(math.ceil(max_duration_s * fps))
    if declared > limit + _COUNT_SLACK:
        raise _too_long(p.name, declared / fps, max_duration_s)
    n_frames, how = _decodable_frames(str(p), declared, limit)
    if n_frames > limit:
        raise _too_long(p.name, n_frames / fps, max_duration_s)
    if n_frames < 2:
        raise VideoError(
            f"'{p.name}' holds a single picture, not a video." if n_frames == 1
            else f"'{p.name}' contains no picture that can be decoded.",
            "Upload the walking video itself.",
        )
    if how == "counted" and declared > 0 and n_frames < TRUNCATION_TOLERANCE * declared - _COUNT_SLACK:
        raise VideoError(
            f"The video '{p.name}' is incomplete: only {n_frames} of its {declared} frames can be read. "
            "The upload or copy was probably interrupted.",
            _HINT_REUPLOAD,
        )

    return VideoInfo(
        path=str(p),
        fps=fps,
        n_frames=n_frames,
        width=int(width),
        height=int(height),
        duration_s=n_frames / fps,
        rotation_deg=rotation,
        codec=codec,
        size_bytes=size,
        sha256=file_sha256(p),
        variable_rate=bool(variable and abs(len(times) - n_frames) <= _COUNT_SLACK),
    )


def _too_long(name: str, duration_s: float, max_duration_s: float) -> VideoError:
    return VideoError(
        f"The video '{name}' lasts {duration_s / 60:.1f} min, longer than the {max_duration_s / 60:.1f} min limit.",
        "Trim it to the walking trials (a few passes are enough) and upload it again.",
    )


def iter_frames(
    info_or_path: VideoInfo | str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, bgr_frame)`` for ``range(start, stop, step)``, upright, one frame in memory at a time.

    ``start > 0`` seeks (so workers can process contiguous chunks independently); frames skipped by
    ``step`` are grabbed but not colour-converted. Stops early, without error, where the stream ends.
    A plain path is probed first (validation and rotation).
    """
    info = info_or_path if isinstance(info_or_path, VideoInfo) else probe_video(info_or_path)
    if start < 0 or step < 1:
        raise ValueError(f"need start >= 0 and step >= 1, got start={start}, step={step}")
    end = info.n_frames if stop is None else min(stop, info.n_frames)
    if start >= end:
        return
    cap = _open_capture(info.path)
    if not cap.isOpened():
        raise VideoError(f"The video '{Path(info.path).name}' can no longer be opened.", _HINT_REUPLOAD)
    try:
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            pos = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
            if pos != start:  # seeking is approximate in some containers: fall back to decoding forward
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                for _ in range(start):
                    if not cap.grab():
                        return
        index = start
        while index < end:
            if (index - start) % step == 0:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield index, _rotate(frame, info.rotation_deg)
            elif not cap.grab():
                return
            index += 1
    finally:
        cap.release()
