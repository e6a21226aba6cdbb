"""Receiving a video from the browser: size limit, type by content, a generated file name.

The browser's file name is only ever shown back as text; the file is saved as ``<sha256>.<ext>`` in the uploads
folder, where ``ext`` comes from the file's magic bytes. A name made by us means no path from the user can
reach the file system (``../../x``), and naming by content makes a re-upload of the same video land on the
same file (the database finds the recording by the same hash).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gaitscope.errors import InvalidInputError, VideoError

DEFAULT_MAX_UPLOAD_MB = 500
#: Extensions offered in the file picker (a convenience only: the content decides).
VIDEO_EXTENSIONS = ("mp4", "mov", "m4v", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "wmv", "flv", "3gp")


def max_upload_bytes() -> int:
    """``$GAITSCOPE_MAX_UPLOAD_MB`` megabytes (default 500)."""
    raw = os.environ.get("GAITSCOPE_MAX_UPLOAD_MB", "")
    try:
        mb = float(raw) if raw else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        mb = DEFAULT_MAX_UPLOAD_MB
    return int(mb * 1024 * 1024)


def uploads_dir() -> Path:
    """``$GAITSCOPE_UPLOAD_DIR`` or ``<gaitscope home>/uploads``, created on first use."""
    env = os.environ.get("GAITSCOPE_UPLOAD_DIR")
    if env:
        path = Path(env)
    else:
        from gaitscope.db.engine import gaitscope_home

        path = gaitscope_home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff_video(head: bytes) -> str | None:
    """The container of a video from its first bytes (``"mp4"``, ``"avi"``, ``"mkv"``...), or None.

    Signatures: ISO-BMFF ``ftyp`` box at offset 4 (MP4/MOV/3GP), RIFF....AVI, EBML (Matroska/WebM),
    MPEG program/transport streams, ASF (WMV) and FLV. These are the containers FFmpeg (OpenCV's reader) opens.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        if brand.startswith(b"3g"):
            return "3gp"
        return "mp4"
    if len(head) >= 12 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[:4] == b"\x00\x00\x01\xba" or head[:4] == b"\x00\x00\x01\xb3":
        return "mpg"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "ts"
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return "wmv"
    if head[:3] == b"FLV":
        return "flv"
    return None


@dataclass(frozen=True)
class SavedUpload:
    path: Path
    sha256: str
    size_bytes: int
    container: str
    original_name: str  # as the browser sent it: display only, never a path


def save_upload(stream: BinaryIO, original_name: str, *, size_bytes: int | None = None,
                max_bytes: int | None = None, directory: Path | None = None) -> SavedUpload:
    """Check and store an uploaded video; raises :class:`InvalidInputError` (too big) or :class:`VideoError`.

    The stream is copied in chunks to a temporary file beside the target (so the limit holds even when the
    declared size lies), hashed on the way, then renamed atomically to ``<sha256>.<ext>``.
    """
    limit = max_upload_bytes() if max_bytes is None else max_bytes
    limit_mb = limit / 1024 / 1024
    if size_bytes is not None and size_bytes > limit:
        raise InvalidInputError(f"The file is {size_bytes / 1024 / 1024:.0f} MB; the limit is {limit_mb:.0f} MB.",
                                "Trim the video to the walking part or lower its resolution, then upload again.")
    directory = directory or uploads_dir()
    directory.mkdir(parents=True, exist_ok=True)
    head = stream.read(512)
    container = sniff_video(head)
    if container is None:
        raise VideoError("This file is not a video gaitscope can read (its content is not MP4, MOV, AVI, MKV, WebM, "
                         "MPEG, WMV or FLV, whatever its name says).", "Upload the original video file from the camera.")
    digest = hashlib.sha256(head)
    total = len(head)
    fd, tmp_name = tempfile.mkstemp(prefix=f".upload-{uuid.uuid4().hex}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            while chunk := stream.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise InvalidInputError(f"The file is larger than the {limit_mb:.0f} MB limit.",
                                            "Trim the video to the walking part, then upload again.")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = directory / f"{sha}.{container}"
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return SavedUpload(path=target, sha256=sha, size_bytes=total, container=container,
                       original_name=Path(original_name or "video").name[:200])


def probe_saved(upload: SavedUpload):
    """Decode the saved file with the ingest module's probe (the real content check); returns its VideoInfo."""
    from gaitscope.platform.video import probe_video

    return probe_video(str(upload.path))


def find_video(sha256: str | None, directory: Path | None = None) -> Path | None:
    """The stored upload with this content hash, or the bundled sample when it has that hash; else None."""
    if not sha256 or not all(c in "0123456789abcdef" for c in sha256.lower()):
        return None
    directory = directory or uploads_dir()
    for path in sorted(directory.glob(f"{sha256.lower()}.*")):
        if path.is_file():
            return path
    from gaitscope.ui.demo_data import SAMPLE_VIDEO, sample_sha256

    if SAMPLE_VIDEO.exists() and sample_sha256() == sha256.lower():
        return SAMPLE_VIDEO
    return None
