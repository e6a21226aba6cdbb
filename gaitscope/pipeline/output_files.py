"""Report files written all-or-nothing: a full disk (or a folder we may not write) leaves no half-written report.

Every export folder is written through :func:`staged_outputs`: the files go to a hidden staging folder inside the
destination (same file system, so the final ``os.replace`` is an atomic rename and needs no free space), and are
moved into place only when every one of them was written. Any failure removes the staging folder, so the user
never finds a truncated ``report.pdf`` or a CSV cut mid-row beside the complete files of an earlier run; an
``OSError`` becomes an :class:`~gaitscope.errors.OutputError` that says what happened and where (the disk is full,
the folder is read-only...) instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gaitscope.errors import OutputError

_STAGING_PREFIX = ".gaitscope-partial-"


def output_error(exc: OSError, where: Path) -> OutputError:
    """The clinician-readable error for an ``OSError`` met while writing reports into ``where``."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "full" if code == errno.ENOSPC else "over its quota"
        return OutputError(f"The disk holding {where} is {what}: the reports could not be written there (no "
                           "partial file was left).", "Free some space or choose another --out folder, then run the "
                                                      "same command again.")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"The reports could not be written to {where}: "
                           f"{'the disk is read-only' if code == errno.EROFS else 'permission denied'}.",
                           "Choose a folder you may write to with --out.")
    if code in (errno.ENOTDIR, errno.EEXIST):
        return OutputError(f"The reports could not be written to {where}: it (or a folder above it) is a file.",
                           "Choose a folder with --out.")
    return OutputError(f"The reports could not be written to {where} ({exc.strerror or exc}).",
                       "Check the disk and the folder, then run the same command again.")


@contextmanager
def staged_outputs(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging folder to write every report into; on success move its files into ``out_dir``.

    Files of an earlier run with the same names are replaced; other files in ``out_dir`` are left alone. On any
    failure nothing is moved and the staging folder is removed; an ``OSError`` is raised as :class:`OutputError`.
    """
    out = Path(out_dir)
    staging: Path | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
        yield staging
        for f in sorted(staging.iterdir()):
            os.replace(f, out / f.name)
    except OSError as exc:
        raise output_error(exc, out) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def write_file_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp_path)``, then rename the file to ``path``; on failure the temporary file is removed and an old
    file at ``path`` is kept. An ``OSError`` is raised as :class:`OutputError`. Returns ``path``."""
    path = Path(path)
    with staged_outputs(path.parent) as staging:
        write(staging / path.name)
    return path
