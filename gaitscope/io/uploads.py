"""Safe handling of an uploaded video: content sniffing, limits, generated names, no temp files left behind.

An upload is untrusted input twice over: its *name* may try to reach the file system (``../../etc/passwd.mp4``,
``C:\\evil.mp4``, control characters) and its *content* may not be what the name says. Therefore:

* the file is stored as ``<uuid4>.<container>`` inside the uploads folder; the user's file name is sanitised and
  kept only as metadata (shown back as text, never used as a path);
* the container is decided by magic bytes (MP4/MOV ``ftyp``, AVI ``RIFF....AVI``, Matroska/WebM EBML header),
  and then the file must actually decode (:func:`gaitscope.io.video.probe_video`);
* the size limit is enforced while streaming (a lying ``Content-Length`` does not help) and the duration limit
  after probing;
* the bytes go to a temporary file in the uploads folder (same file system, so the final rename is atomic),
  removed on every failure and also if the caller never commits (:func:`staged_upload` is a context manager).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gaitscope.errors import InvalidInputError, OutputError, VideoError
from gaitscope.records import VideoInfo

CONTAINERS = ("mp4", "mov", "avi", "webm", "mkv")
DEFAULT_MAX_BYTES = 500 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 600.0
_CHUNK = 1 << 20
_SNIFF_BYTES = 64
_TMP_PREFIX = ".incoming-"
_NAME_OK = re.compile(r"[^A-Za-z0-9._ ()+-]")


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_duration_s: float = DEFAULT_MAX_DURATION_S


@dataclass(frozen=True)
class StoredUpload:
    """A checked video in the uploads folder. ``storage_name`` is ours; ``original_name`` is display text."""

    path: Path
    storage_name: str
    original_name: str
    container: str
    size_bytes: int
    sha256: str
    info: VideoInfo


def sniff_container(head: bytes) -> str | None:
    """The container from the first bytes: ``mp4``/``mov`` (ISO-BMFF ``ftyp`` box at offset 4, brand ``qt``
    for QuickTime), ``avi`` (RIFF form type ``AVI``), ``webm``/``mkv`` (EBML magic ``1A 45 DF A3``, doctype
    decides), else None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:_SNIFF_BYTES] else "mkv"
    return None


def sanitize_filename(name: str | None, max_len: int = 120) -> str:
    """A display-safe version of a user's file name: last path component only (``/`` and ``\\``), Unicode
    NFKC, no control or shell-special characters, no leading dots, at most ``max_len`` characters."""
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _NAME_OK.sub("_", base).strip(" .")
    if len(base) > max_len:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: max_len - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:max_len]
    return base or "video"


class StagedUpload:
    """A received, checked upload still in its temporary file; :meth:`commit` moves it to its final name."""

    def __init__(self, tmp: Path, directory: Path, container: str, original_name: str, size: int, sha256: str,
                 info: VideoInfo) -> None:
        self.tmp_path, self.directory, self.container = tmp, directory, container
        self.original_name, self.size_bytes, self.sha256, self.info = original_name, size, sha256, info
        self.stored: StoredUpload | None = None

    def commit(self) -> StoredUpload:
        """Rename to ``<uuid4>.<container>`` inside the uploads folder (atomic, never overwrites)."""
        if self.stored is not None:
            return self.stored
        name = f"{uuid.uuid4().hex}.{self.container}"
        target = self.directory / name
        try:
            os.link(self.tmp_path, target)  # fails if the name exists, unlike rename
            self.tmp_path.unlink()
        except (AttributeError, NotImplementedError, PermissionError):  # file systems without hard links
            os.replace(self.tmp_path, target)  # a uuid4 collision is not a practical concern
        info = VideoInfo(**{**self.info.__dict__, "path": str(target)})
        self.stored = StoredUpload(path=target, storage_name=name, original_name=self.original_name,
                                   container=self.container, size_bytes=self.size_bytes, sha256=self.sha256, info=info)
        return self.stored


@contextmanager
def staged_upload(stream: BinaryIO, original_name: str | None, uploads_dir: str | Path,
                  limits: UploadLimits = UploadLimits()) -> Iterator[StagedUpload]:
    """Receive ``stream`` into a temporary file in ``uploads_dir`` and check it; yields a :class:`StagedUpload`.

    Typical use: register the recording in the database inside the block and :meth:`StagedUpload.commit`
    last, so a database error leaves no orphan file. The temporary file is removed when the block ends,
    whatever happens. Raises :class:`VideoError` (not a supported video / does not decode / too long) or
    :class:`InvalidInputError` (too large, empty).
    """
    directory = Path(uploads_dir)
    shown = sanitize_filename(original_name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=directory)
    except OSError as exc:
        raise _receive_error(exc, shown) from exc
    tmp = Path(tmp_name)
    try:
        digest, total = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            head = stream.read(_SNIFF_BYTES)
            container = sniff_container(head)
            if container is None:
                raise VideoError(
                    f"'{shown}' is not a video gaitscope accepts: its content is not MP4, MOV, AVI, WebM or MKV, "
                    "whatever its name says.",
                    "Upload the original video file from the camera or phone.",
                )
            chunk = head
            while chunk:
                total += len(chunk)
                if total > limits.max_bytes:
                    raise InvalidInputError(
                        f"'{shown}' is larger than the {limits.max_bytes / 2**20:.0f} MB upload limit.",
                        "Trim the video to the walking part or lower its resolution, then upload again.",
                    )
                digest.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:  # the disk filled up mid-upload: the partial file goes in `finally`
                    raise _receive_error(exc, shown) from exc
                chunk = stream.read(_CHUNK)
        info = _probe(tmp, shown, limits)
        staged = StagedUpload(tmp, directory, container, shown, total, digest.hexdigest(), info)
        yield staged
    finally:
        tmp.unlink(missing_ok=True)


def _receive_error(exc: OSError, shown: str) -> OutputError:
    """The message for an upload the server could not write (full disk, unwritable uploads folder)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"The server's disk is full: '{shown}' could not be received (nothing of it was kept).",
                           "Ask the administrator to free space in the uploads folder, then upload again.")
    return OutputError(f"The server could not store '{shown}' ({exc.strerror or exc}); nothing of it was kept.",
                       "Ask the administrator to check the uploads folder (GAITSCOPE_UPLOAD_DIR).")


def _probe(tmp: Path, shown: str, limits: UploadLimits) -> VideoInfo:
    from gaitscope.io.video import probe_video  # local: OpenCV is heavy to import

    try:
        return probe_video(tmp, max_duration_s=limits.max_duration_s)
    except VideoError as exc:
        # probe_video names the temporary file; the user knows their own file name.
        msg = str(exc.message).replace(tmp.name, shown).replace(str(tmp), shown)
        raise VideoError(msg, exc.hint) from exc


def store_upload(stream: BinaryIO, original_name: str | None, uploads_dir: str | Path,
                 limits: UploadLimits = UploadLimits()) -> StoredUpload:
    """Check and store an upload in one call (no database step between checking and committing)."""
    with staged_upload(stream, original_name, uploads_dir, limits) as staged:
        return staged.commit()


def leftover_temp_files(uploads_dir: str | Path) -> list[Path]:
    """Temporary files of interrupted uploads (for a cleanup job and for tests)."""
    d = Path(uploads_dir)
    return sorted(d.glob(f"{_TMP_PREFIX}*")) if d.is_dir() else []
