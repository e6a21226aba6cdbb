"""A browser-playable copy of a recording: VP9 in WebM, written once next to the uploads and reused.

Why: clinics upload what their cameras write (MPEG-4 Part 2 'mp4v', MJPEG, HEVC, ...). Chromium plays H.264,
VP8, VP9 and AV1 only; anything else fails with ``DEMUXER_ERROR_NO_SUPPORTED_STREAMS`` and the video element
stays black. The stored original is never changed (its SHA-256 identifies the recording); the copy lives in
``<uploads>/playable/<sha256 prefix>.webm``.

Encoder: the FFmpeg that OpenCV bundles can write VP8 and VP9 (libvpx) but has no H.264 encoder, and PyAV is not
a dependency, so the copy is VP9 (WebM, no audio: gait videos need none). libvpx-vp9 is slow at default settings
(about 5 frames/s at 1280x720 on one busy core), so frames wider than :data:`MAX_WIDTH` are scaled down and the
dashboard writes the copy in the background (:func:`gaitscope.ui.jobs.start_job`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

#: codecs (FourCC as OpenCV reports them, lower case) that Chromium and Firefox play in MP4 or WebM
BROWSER_CODECS = frozenset({"avc1", "h264", "x264", "vp80", "vp90", "vp08", "vp09", "av01"})
BROWSER_CONTAINERS = frozenset({".mp4", ".m4v", ".webm"})
MAX_WIDTH = 960

Progress = Callable[[int, int], None]


def video_codec(path: Path) -> str:
    """The FourCC of the first video stream as OpenCV reads it ("mp4v", "h264", "vp90", ...), lower case; ""
    when the file does not open."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return ""
        code = int(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    return code.to_bytes(4, "little").decode("ascii", errors="replace").strip("\x00 ").lower()


def browser_playable(path: Path) -> bool:
    """True when browsers play ``path`` as it is (a browser codec in MP4 or WebM)."""
    return path.suffix.lower() in BROWSER_CONTAINERS and video_codec(path) in BROWSER_CODECS


def playable_path(cache_dir: Path, sha256: str) -> Path:
    """Where the playable copy of the recording with this content hash is (or will be) stored."""
    return cache_dir / f"{sha256[:24]}.webm"


def write_playable_copy(src: Path, out: Path, *, max_width: int = MAX_WIDTH,
                        progress: Progress | None = None) -> Path:
    """Transcode ``src`` to VP9/WebM at ``out`` (atomically: a partial file is never left under ``out``).

    Raises :class:`gaitscope.errors.VideoError` when the source does not decode or the encoder is missing.
    """
    import cv2

    from gaitscope.errors import VideoError

    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise VideoError(f"The video {src.name} could not be opened for playback conversion.")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part.webm")
    writer = None
    done = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            if w > max_width:
                size = (max_width, int(round(h * max_width / w / 2)) * 2)
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            if writer is None:
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP90"), float(fps),
                                         (frame.shape[1], frame.shape[0]))
                if not writer.isOpened():
                    raise VideoError("This installation cannot write VP9 video (OpenCV without libvpx).")
            writer.write(frame)
            done += 1
            if progress is not None and (done % 10 == 0 or done == total):
                progress(done, max(total, done))
        if writer is None:
            raise VideoError(f"The video {src.name} has no readable frame.")
        writer.release()
        writer = None
        tmp.replace(out)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    return out


def playable_video(src: Path, cache_dir: Path, sha256: str) -> Path | None:
    """``src`` itself when browsers play it, else its stored playable copy, else None (not written yet)."""
    if browser_playable(src):
        return src
    out = playable_path(cache_dir, sha256)
    return out if out.is_file() else None
