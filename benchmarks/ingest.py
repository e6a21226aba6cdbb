"""Ingest benchmark: video decode speed, BlazePose 2D detection speed (1 and 2 workers), peak memory.

Usage::

    .venv/bin/python benchmarks/ingest.py [--frames 270] [--video PATH]

Clip: ``--video`` if given, else the bundled synthetic sample ``gaitscope/data/sample/walk_side.mp4`` if
present, else the shared real clip ``../shared/data/video/sarwesh_side/sarwesh_side.mp4`` (1080p), played
forwards then backwards to reach ``--frames``; it is written at 1080p and resized to 720p (MPEG-4 Part 2,
the encoder every OpenCV wheel has). Timings depend on the machine and its load: compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import cv2

from gaitscope.io.video import iter_frames, probe_video
from gaitscope.pose2d.detect import detect_keypoints

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"
SARWESH = REPO / ".." / "shared" / "data" / "video" / "sarwesh_side" / "sarwesh_side.mp4"


def _source_frames(path: Path, n: int):
    # JPEG in memory (~0.2 MB a frame) so that the source clip does not inflate the peak RSS reported below
    frames = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1] for _, f in iter_frames(probe_video(path))]
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))  # ping-pong: no jump in motion
    for k in range(n):
        yield cv2.imdecode(frames[order[k % len(order)]], cv2.IMREAD_COLOR)


def _write(path: Path, frames, size: tuple[int, int], fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for f in frames:
        if (f.shape[1], f.shape[0]) != size:
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
        writer.write(f)
    writer.release()
    return path


def _cpu_s() -> float:
    """CPU seconds of this process plus its finished children (the detection workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn) -> tuple[float, float, object]:
    c0, t0 = _cpu_s(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, _cpu_s() - c0, out


def _decode(path: Path) -> tuple[int, float, float]:
    info = probe_video(path)
    wall, cpu, n = _timed(lambda: sum(1 for _ in iter_frames(info)))
    return n, wall, cpu


def _detect(path: Path, workers: int) -> tuple[int, float, float]:
    info = probe_video(path)
    wall, cpu, _ = _timed(lambda: detect_keypoints(info, workers=workers))
    return info.n_frames, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--frames", type=int, default=270)
    args = ap.parse_args()
    src = args.video or (SAMPLE if SAMPLE.exists() else SARWESH)
    if not src.exists():
        raise SystemExit(f"no clip: pass --video (looked for {SAMPLE} and {SARWESH})")
    info = probe_video(src)
    with tempfile.TemporaryDirectory() as tmp:
        clip1080 = _write(Path(tmp) / "c1080.mp4", _source_frames(src, args.frames), (1920, 1080), info.fps)
        clip720 = _write(Path(tmp) / "c720.mp4", _source_frames(src, args.frames), (1280, 720), info.fps)
        rows = [("decode 1920x1080", *_decode(clip1080)), ("decode 1280x720", *_decode(clip720))]
        for workers in (1, 2):
            rows.append((f"BlazePose 1280x720, workers={workers}", *_detect(clip720, workers)))
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"source: {src.name} ({info.width}x{info.height}, {info.fps:.1f} fps), {args.frames} frames per clip, "
          f"{cv2.getNumberOfCPUs()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'stage':<34} {'frames':>7} {'wall fps':>9} {'CPU ms/frame':>13}")
    for label, n, wall, cpu in rows:
        print(f"{label:<34} {n:>7d} {n / wall:>9.1f} {1000 * cpu / n:>13.1f}")
    print("wall fps is what a user waits for; CPU ms/frame (all processes) does not depend on other load.")
    print(f"peak RSS: main process {self_mb:.0f} MB, largest worker process {child_mb:.0f} MB")


if __name__ == "__main__":  # required: detection workers are started with "spawn"
    main()
