"""A browser-playable copy of a recording: H.264 in MP4, written once next to the uploads and reused.

Why: clinics upload what their cameras write (MPEG-4 Part 2 'mp4v', MJPEG, HEVC, ...). Chromium plays H.264,
VP8, VP9 and AV1 only; anything else fails with ``DEMUXER_ERROR_NO_SUPPORTED_STREAMS`` and the video element
stays black. The stored original is never changed (its SHA-256 identifies the recording); the copy lives in
``<uploads>/playable/<sha256 prefix>.mp4``.

Encoder: libx264 through PyAV (a dependency; its wheels bundle FFmpeg with libx264), preset ``veryfast``, CRF 23,
8-bit 4:2:0 and the index at the front of the file (``+faststart``, so playback starts before the whole file has
arrived). Debian's Chromium plays it (checked headless: ``canPlayType('video/mp4; codecs="avc1.64001f"')`` is
"probably" and the copy loads with its size and duration, where the 'mp4v' original fails as above). It replaced
VP9 through OpenCV's writer (the only browser codec OpenCV's bundled FFmpeg writes): libvpx-vp9 at its default
settings wrote about 5 frames/s at 1280x720 on one busy core; H.264 writes 720p several times faster (README,
speed section: `benchmarks/playable.py`). Copies written by earlier versions (``.webm``) are still found and
played. Frames wider than :data:`MAX_WIDTH` are scaled down, and the dashboard writes the copy in the background
(:func:`gaitscope.ui.jobs.start_job`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

#: codecs (FourCC as OpenCV reports them, lower case) that Chromium and Firefox play in MP4 or WebM
BROWSER_CODECS = frozenset({"avc1", "h264", "x264", "vp80", "vp90", "vp08", "vp09", "av01"})
BROWSER_CONTAINERS = frozenset({".mp4", ".m4v", ".webm"})
MAX_WIDTH = 1280
#: libx264 settings: ``veryfast`` is about 3x the default ``medium`` for a slightly larger file; CRF 23 is x264's
#: default quality (visually clean for a walking person)
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}

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
    return cache_dir / f"{sha256[:24]}.mp4"


def _even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def write_playable_copy(src: Path, out: Path, *, max_width: int = MAX_WIDTH,
                        progress: Progress | None = None) -> Path:
    """Transcode ``src`` to H.264/MP4 at ``out`` (atomically: a partial file is never left under ``out``), every
    frame kept, upright (a phone's rotation tag is applied, as :mod:`gaitscope.io.video` does).

    Raises :class:`gaitscope.errors.VideoError` when the source does not decode or the encoder is missing.
    """
    import av
    import cv2

    from gaitscope.errors import VideoError

    try:
        inp = av.open(str(src))
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"The video {src.name} could not be opened for playback conversion.") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part.mp4")
    done = 0
    try:
        if not inp.streams.video:
            raise VideoError(f"The video {src.name} could not be opened for playback conversion.")
        stream = inp.streams.video[0]
        stream.thread_type = "AUTO"  # frame-threaded decoding
        total = int(stream.frames or 0)
        rate = stream.average_rate or stream.guessed_rate or 30
        rotate = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                  270: cv2.ROTATE_90_COUNTERCLOCKWISE}.get(_rotation_deg(src))
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            enc = None
            for frame in inp.decode(stream):
                pts, time_base = frame.pts, frame.time_base
                if rotate is not None:  # rare (phones in portrait): through an array
                    frame = av.VideoFrame.from_ndarray(cv2.rotate(frame.to_ndarray(format="bgr24"), rotate),
                                                       format="bgr24")
                if enc is None:
                    w, h = frame.width, frame.height
                    size = (_even(max_width), _even(h * max_width / w)) if w > max_width else (_even(w), _even(h))
                    enc = _h264_stream(container, rate, size)
                # one swscale pass: scale (area-averaging when shrinking) and convert to 4:2:0
                yuv = frame.reformat(width=enc.width, height=enc.height, format="yuv420p",
                                     interpolation="AREA" if enc.width < frame.width else None)
                yuv.pts, yuv.time_base = pts, time_base  # the source's time stamps (a phone's variable rate too)
                container.mux(enc.encode(yuv))
                done += 1
                if progress is not None and (done % 10 == 0 or done == total):
                    progress(done, max(total, done))
            if enc is None:
                raise VideoError(f"The video {src.name} has no readable frame.")
            container.mux(enc.encode(None))
        if progress is not None and done != total:
            progress(done, done)
        tmp.replace(out)
    except av.FFmpegError as exc:
        raise VideoError(f"The video {src.name} could not be converted for playback ({exc}).") from exc
    finally:
        inp.close()
        tmp.unlink(missing_ok=True)
    return out


def _rotation_deg(src: Path) -> int:
    """The rotation tag (clockwise degrees) as :mod:`gaitscope.io.video` reads it; 0 when absent."""
    import cv2

    cap = cv2.VideoCapture(str(src), cv2.CAP_FFMPEG)
    try:
        return int(round(float(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0))) % 360 if cap.isOpened() else 0
    finally:
        cap.release()


def _h264_stream(container, rate, size: tuple[int, int]):
    """An H.264 stream (libx264, :data:`X264_OPTIONS`) of ``size`` at ``rate`` in ``container``."""
    from gaitscope.errors import VideoError

    try:
        enc = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
    except Exception as exc:  # an FFmpeg build without libx264
        raise VideoError("This installation cannot write H.264 video (PyAV without libx264).") from exc
    enc.width, enc.height = size
    enc.pix_fmt = "yuv420p"
    return enc


def playable_video(src: Path, cache_dir: Path, sha256: str) -> Path | None:
    """``src`` itself when browsers play it, else its stored playable copy, else None (not written yet)."""
    if browser_playable(src):
        return src
    out = playable_path(cache_dir, sha256)
    if out.is_file():
        return out
    legacy = out.with_suffix(".webm")  # VP9 copies written before H.264
    return legacy if legacy.is_file() else None
