"""Playable copies for the dashboard: frames per second of writing a browser-playable copy, before (VP9 through
OpenCV's writer, as gaitscope did up to issue 24) and now (H.264 through PyAV's libx264,
:func:`gaitscope.io.playable.write_playable_copy`), and the size of the copy.

Usage::

    .venv/bin/python benchmarks/playable.py [--video PATH] [--seconds 10] [--resolutions 720,1080]

Clip: the bundled sample ``gaitscope/data/sample/walk_side.mp4`` (MPEG-4 Part 2, which browsers do not play)
played forward and backward and cut to ``--seconds``, scaled to each resolution (MPEG-4 Part 2 again, as
cameras write it). Rows: the old VP9 path at its width limit (960 px) and at full width, and the H.264 path at
its width limit (1280 px: a 1080p source is scaled to 720p). Wall time on a shared machine is noisy (the header
prints the load average): compare the rows of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import read_frames  # noqa: E402  (the benchmarks' one frame reader)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"


def make_clip(src: Path, dst: Path, size: tuple[int, int], seconds: float) -> int:
    """``src`` forward then backward until ``seconds``, at ``size``, MPEG-4 Part 2; returns the frame count."""
    frames, fps = read_frames(src, size)
    fps = fps or 30.0
    n = int(round(seconds * fps))
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    k = 0
    while k < n:
        for frame in (frames if (k // len(frames)) % 2 == 0 else frames[::-1]):
            if k >= n:
                break
            out.write(frame)
            k += 1
    out.release()
    return n


def opencv_vp9(src: Path, out: Path, max_width: int) -> int:
    """The copy as gaitscope wrote it before: OpenCV decode, INTER_AREA resize above ``max_width``, VP9 writer."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer, n = None, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        if w > max_width:
            frame = cv2.resize(frame, (max_width, int(round(h * max_width / w / 2)) * 2), interpolation=cv2.INTER_AREA)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"VP90"), float(fps),
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
        n += 1
    writer.release()
    cap.release()
    return n


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def main() -> None:
    from gaitscope.io.playable import MAX_WIDTH, write_playable_copy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--resolutions", default="720,1080")
    ap.add_argument("--skip-full-width-vp9", action="store_true", help="skip the slowest row")
    args = ap.parse_args()
    sizes = {"720": (1280, 720), "1080": (1920, 1080)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for res in args.resolutions.split(","):
            clip = tmp / f"clip{res}.mp4"
            n = make_clip(args.video, clip, sizes[res], args.seconds)
            ways = [("before: VP9/WebM via OpenCV, <= 960 px", lambda o, clip=clip: opencv_vp9(clip, o, 960), ".webm")]
            if not args.skip_full_width_vp9:
                ways.append((f"VP9/WebM via OpenCV, <= {MAX_WIDTH} px", lambda o, clip=clip: opencv_vp9(clip, o, MAX_WIDTH),
                             ".webm"))
            ways.append((f"now: H.264/MP4 via PyAV, <= {MAX_WIDTH} px", lambda o, clip=clip: write_playable_copy(clip, o),
                         ".mp4"))
            for k, (label, fn, ext) in enumerate(ways):
                out = tmp / f"out{res}-{k}{ext}"
                t0 = time.perf_counter()
                fn(out)
                wall = time.perf_counter() - t0
                cap = cv2.VideoCapture(str(out))
                width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
                cap.release()
                rows.append((f"{res}p", label, n, frames_in(out), width, wall, out.stat().st_size))
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min) {os.getloadavg()[1]:.1f} (5 min)")
    print(f"{'src':<6}{'writer':<44}{'frames':>7}{'copy':>6}{'width':>6}{'wall s':>8}{'fps':>7}{'MB':>7}")
    for res, label, n, got, width, wall, size in rows:
        print(f"{res:<6}{label:<44}{n:>7d}{got:>6d}{width:>6d}{wall:>8.2f}{n / wall:>7.1f}{size / 2**20:>7.2f}")


if __name__ == "__main__":
    main()
