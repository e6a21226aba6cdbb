"""Keep the native libraries' log lines off the user's terminal; keep everything Python writes.

MediaPipe, LiteRT/TFLite, OpenCV and FFmpeg write their own log lines straight to file descriptor 2 from C++
("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", "WARNING: All log messages before
absl::InitializeLog() ...", "W0000 ... inference_feedback_manager.cc", "[mov,mp4,...] moov atom not found",
"[ WARN:0@0.01] global cap.cpp ..."), around the clean messages of the command line. Two layers:

* :func:`quiet_library_env` sets the switches the libraries do read, before they load: ``GLOG_minloglevel`` and
  ``TF_CPP_MIN_LOG_LEVEL`` (MediaPipe's glog, TensorFlow), ``OPENCV_LOG_LEVEL`` and ``OPENCV_FFMPEG_LOGLEVEL``
  (OpenCV and the FFmpeg it embeds). ``setdefault``: a value the user exported wins.
* :func:`native_stderr_silenced` for what no switch reaches (TFLite's "INFO: Created ..." ignores every level
  setting; MediaPipe 0.10.14 logs through absl before absl is initialised): descriptor 2 is pointed at
  ``/dev/null`` while Python's ``sys.stderr`` keeps a duplicate of the real one, so gaitscope's messages,
  progress bars, Python warnings, log records and tracebacks still reach the terminal. The detector processes
  started meanwhile inherit the silent descriptor 2; their errors reach the parent through its queue.

``GAITSCOPE_NATIVE_LOGS=1`` keeps the native lines (for a developer chasing a library problem).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: Log-level switches the libraries read at load time (values: warnings and info off, errors kept where the
#: library distinguishes them; FFmpeg's -8 is AV_LOG_QUIET: gaitscope words its own message for a bad video).
LIBRARY_LOG_ENV: dict[str, str] = {
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "OPENCV_LOG_LEVEL": "ERROR",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
}


def keep_native_logs() -> bool:
    from gaitscope.errors import InvalidInputError
    from gaitscope.settings import settings

    try:
        return settings().native_logs
    except InvalidInputError:  # a bad setting is reported by the command that reads it (exit code 2), not here
        return False


def quiet_library_env() -> None:
    """Set the libraries' own log-level switches (unless the user set them, or asked for native logs)."""
    if keep_native_logs():
        return
    for key, value in LIBRARY_LOG_ENV.items():
        os.environ.setdefault(key, value)


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test's capture, or closed
        return None


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Inside: native writes to descriptor 2 are dropped, Python's ``sys.stderr`` still reaches the terminal.

    A no-op when ``sys.stderr`` is not descriptor 2 (under a test's capture, or redirected by the caller) or
    when ``GAITSCOPE_NATIVE_LOGS`` is set.
    """
    if keep_native_logs() or _stderr_fd() != 2:
        yield
        return
    original = sys.stderr
    original.flush()
    saved = os.dup(2)
    python_err = open(saved, "w", buffering=1, encoding=original.encoding or "utf-8",
                      errors=original.errors or "backslashreplace", closefd=False)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_err
    try:
        yield
    finally:
        try:
            python_err.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        sys.stderr = original
        python_err.close()
        os.close(saved)
