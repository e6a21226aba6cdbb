"""The command line's stderr holds gaitscope's messages only: no MediaPipe / LiteRT / OpenCV / FFmpeg log lines.

Each test runs ``python -m gaitscope.cli.main`` (what the ``gaitscope`` script runs) in a fresh process, with
none of the libraries' log switches set in its environment, and reads its stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"

#: Lines the native libraries write: TFLite ("INFO: Created TensorFlow Lite XNNPACK delegate"), absl before
#: InitializeLog ("WARNING: All log messages before absl..."), glog/absl records ("W0000 00:00:...",
#: "I0000 ..."), OpenCV ("[ WARN:0@0.01] global cap.cpp") and FFmpeg ("[mov,mp4,m4a,... @ 0x...] moov atom").
LIBRARY_LINE = re.compile(r"^(INFO: |WARNING: All log messages before absl|[IWEF]\d{4} |\[ ?(WARN|INFO|ERROR)|"
                          r"\[[a-z0-9_,]+ @ 0x)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL", "OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL",
                        "GAITSCOPE_NATIVE_LOGS", "GAITSCOPE_NORMATIVE")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env["GAITSCOPE_HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def _gaitscope(tmp_path: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaitscope.cli.main", *args], capture_output=True, text=True,
                          env=_env(tmp_path, **env), cwd=tmp_path, timeout=timeout)


def _library_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if LIBRARY_LINE.match(ln.strip())]


def test_native_writes_are_dropped_and_python_output_is_kept(tmp_path):
    code = """
import logging, os, sys, warnings
from gaitscope.pose2d.native_logs import native_stderr_silenced
with native_stderr_silenced():
    os.write(2, b"I0000 00:00:1.0 native library line\\n")
    print("gaitscope: a message", file=sys.stderr)
    warnings.warn("a python warning")
    logging.getLogger("gaitscope.test").warning("a logged warning")
os.write(2, b"native after the block\\n")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "native library line" not in err
    for kept in ("gaitscope: a message", "a python warning", "a logged warning", "native after the block"):
        assert kept in err, (kept, err)


def test_unreadable_video_prints_one_clean_message(tmp_path):
    bad = tmp_path / "text.mp4"
    bad.write_text("this is not a video\n" * 20)  # FFmpeg: "moov atom not found", OpenCV: "[ WARN:0...]"
    proc = _gaitscope(tmp_path, "analyze", str(bad), "--no-db", "--quiet", timeout=120)
    assert proc.returncode == 2
    assert _library_lines(proc.stderr) == []
    assert proc.stderr.strip().splitlines() == [
        "gaitscope: 'text.mp4' could not be read as a video (unknown or damaged format). Upload the original "
        "recording again, or export it from the camera/phone as MP4."]
    # the control: asked to keep them (GAITSCOPE_NATIVE_LOGS=1), the same run shows FFmpeg's and OpenCV's lines
    loud = _gaitscope(tmp_path, "analyze", str(bad), "--no-db", "--quiet", timeout=120, GAITSCOPE_NATIVE_LOGS="1")
    assert loud.returncode == 2 and len(_library_lines(loud.stderr)) >= 1, loud.stderr


@pytest.mark.slow  # BlazePose in two detector processes, the lifter and the PDF: about 30 s on 2 busy cores
def test_sample_analysis_shows_no_library_log_lines(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("the bundled sample video is missing")
    proc = _gaitscope(tmp_path, "analyze", str(SAMPLE), "--no-db", "--quiet", "--workers", "2",
                      "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert _library_lines(proc.stderr) == [], proc.stderr
    assert "Traceback" not in proc.stderr
    assert "warning: " in proc.stdout  # gaitscope's own warnings are still shown
    assert (tmp_path / "out" / "report.pdf").exists()


@pytest.mark.slow  # MediaPipe's own graph in this process on a 2.5 s clip: about 20 s on 2 busy cores
def test_mediapipe_engine_absl_lines_are_silenced(tmp_path):
    cv2 = pytest.importorskip("cv2")
    if not SAMPLE.exists():
        pytest.skip("the bundled sample video is missing")
    cap = cv2.VideoCapture(str(SAMPLE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    clip = tmp_path / "clip.mp4"
    out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(75):
        ok, frame = cap.read()
        assert ok
        out.write(frame)
    out.release()
    cap.release()
    proc = _gaitscope(tmp_path, "analyze", str(clip), "--no-db", "--quiet", GAITSCOPE_POSE_ENGINE="mediapipe")
    assert proc.returncode == 0, proc.stderr
    assert _library_lines(proc.stderr) == [], proc.stderr
    assert "Traceback" not in proc.stderr
