"""Long videos: wall time, CPU and peak memory of a whole analysis of 1, 3 and 10-minute 1080p walks.

Usage::

    nice -n 10 .venv/bin/python benchmarks/long_video.py [--minutes 1,3,10] [--resolution 1080] [--workers 2]

The walks are made here, never stored in the repository: the bundled sample ``walk_side.mp4`` (7 s) is scaled to
the resolution and played forward then backward (14 s without a jump in pose, so the person gate keeps it all),
encoded once as MPEG-4 Part 2 (what many cameras write); that file's packets are then copied end to end with
shifted time stamps (PyAV, no re-encoding) to the length asked for. The 10-minute walk stops half a second short
of 10 minutes (the pipeline's default limit is 600 s).

Each walk is analyzed in a NEW process, as ``gaitscope analyze FILE --no-db --out DIR`` does
(:func:`gaitscope.pipeline.steps.analyze_video` with the CSV/PDF reports; nothing stored), the bundled lifter.
Columns: ``wall s``; ``s per video min`` (flat when time is linear in length); ``fps``; ``CPU s`` of the process
and its BlazePose processes; ``peak RSS tree`` (largest sum over the process and its children, sampled every
20 ms) and ``main MB`` (the analyzing process alone: its own high-water mark ``VmHWM``); ``ru_maxrss`` for
comparison only: Linux carries a parent's high-water mark into a child across ``fork``/``exec`` (``getrusage(2)``),
so it is at least what this benchmark's own process ever held (session 5's 10-minute "1,350 MB main" was the
1.3 GB of decoded 1080p frames this script then held while making the unit); then seconds per stage (2D includes
the set-up it overlaps) and the main process's peak RSS during each stage (sampled every 5 ms). Goal of issue
24: peak RSS under 1.5 GB and time linear in length.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from long_video_stages import StagePeaks, hwm_bytes  # noqa: E402
from pipeline import SAMPLE, _in_new_process  # noqa: E402  (the same meter as the pipeline benchmark)

REPO = Path(__file__).resolve().parents[1]
SIZES = {"720": (1280, 720), "1080": (1920, 1080)}


def make_unit(dst: Path, size: tuple[int, int]) -> tuple[Path, int, float]:
    """The sample at ``size``, forward then backward, MPEG-4 Part 2: (path, frames, fps).

    The sample's frames are kept PNG-encoded (lossless, about 60 MB) and scaled as they are written: holding the
    scaled frames took 1.3 GB at 1080p, which every child then reported as its ``ru_maxrss``."""
    cap = cv2.VideoCapture(str(SAMPLE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    kept: list[bytes] = []

    def write(frame) -> None:
        out.write(frame if frame.shape[1] == size[0] else cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))

    while True:
        ok, frame = cap.read()
        if not ok:
            break
        write(frame)
        kept.append(cv2.imencode(".png", frame)[1].tobytes())
    cap.release()
    for png in reversed(kept):
        write(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    out.release()
    return dst, 2 * len(kept), fps


def concatenate(unit: Path, dst: Path, n_frames: int) -> int:
    """``unit``'s packets again and again (time stamps shifted) until ``n_frames``: a long walk without
    re-encoding. MPEG-4 Part 2 from OpenCV has no B-frames, so a packet is a frame; returns the frames written."""
    import av

    with av.open(str(unit)) as src:
        s = src.streams.video[0]
        packets = [p for p in src.demux(s) if p.size]
        tb = s.time_base
        with av.open(str(dst), "w") as out:
            o = out.add_stream_from_template(s)
            step = packets[1].pts - packets[0].pts
            span = step * len(packets)
            k = 0
            while k < n_frames:
                for p in packets:
                    if k >= n_frames:
                        break
                    shift = (k // len(packets)) * span
                    q = av.Packet(bytes(p))
                    q.pts, q.dts = p.pts + shift, (p.dts if p.dts is not None else p.pts) + shift
                    q.time_base, q.is_keyframe, q.stream = tb, p.is_keyframe, o
                    out.mux(q)
                    k += 1
    return k


def analyze_child(video: str, out_dir: str, workers: int) -> None:
    """Runs in a fresh process: the analysis as ``gaitscope analyze --no-db --out`` does it; prints stage times."""
    import resource

    t0 = time.perf_counter()
    marks: dict[str, list[float]] = {}
    meter = StagePeaks()

    def progress(stage: str, done: int, total: int) -> None:
        t = time.perf_counter() - t0
        if stage not in marks:
            meter.enter(stage)
        marks.setdefault(stage, [t, t])[1] = t
        if stage == "analysis" and done >= total:  # what follows is the CSV/PDF reports (no progress of their own)
            meter.enter("reports")

    from gaitscope.pipeline.steps import AnalysisOptions, analyze_video

    analyze_video(video, options=AnalysisOptions(height_cm=172.0, workers=workers), out_dir=out_dir,
                  progress=progress)
    marks["reports"] = [marks["embed"][1], time.perf_counter() - t0]
    meter.close()
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("LONG " + json.dumps({"marks": marks, "main_peak": hwm_bytes(), "ru_maxrss": inherited,
                                "stage_peaks": meter.peaks}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,3,10")
    ap.add_argument("--resolution", default="1080", choices=sorted(SIZES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--unit", type=Path, default=None,
                    help="keep the looped 14 s unit here and reuse it when it exists (runs in parallel share it)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.unit is not None and args.unit.exists():
            unit, fps = args.unit, cv2.VideoCapture(str(args.unit)).get(cv2.CAP_PROP_FPS)
        else:
            unit, _, fps = make_unit(args.unit or tmp / "unit.mp4", SIZES[args.resolution])
        for minutes in (float(m) for m in args.minutes.split(",")):
            n = int(round(minutes * 60 * fps)) - (int(fps / 2) if minutes >= 10 else 0)
            clip = tmp / f"walk{minutes:g}.mp4"
            n = concatenate(unit, clip, n)
            code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import long_video as b; "
                    f"b.analyze_child({str(clip)!r}, {str(tmp / f'out{minutes:g}')!r}, {args.workers})")
            wall, cpu, peak, rc = _in_new_process(code)
            line = [ln for ln in _in_new_process.stdout.splitlines() if ln.startswith("LONG ")]
            info = json.loads(line[-1][5:]) if rc == 0 and line else {"marks": {}, "main_peak": 0}
            rows.append((minutes, clip, n, wall, cpu, peak, info, rc))
            clip.unlink()
            print(f"{minutes:g} min done: {wall:.0f} s, peak {peak / 2**20:.0f} MB (rc {rc})", flush=True)
    print(f"\n{args.resolution}p walks (sample looped), {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (1 min) {os.getloadavg()[2]:.1f} (15 min); new process each, --out reports")
    stages = ("2d", "3d", "analysis", "reports")
    print(f"{'min':>5}{'frames':>7}{'wall s':>8}{'s/video min':>12}{'fps':>7}{'CPU s':>8}{'peak RSS tree MB':>17}"
          f"{'main MB':>8}{'ru_maxrss':>10}" + "".join(f"{s + ' s':>11}" for s in stages)
          + "".join(f"{s + ' MB':>13}" for s in stages) + "  rc")
    for minutes, _, n, wall, cpu, peak, info, rc in rows:
        m, sp = info["marks"], info.get("stage_peaks", {})
        per = "".join(f"{(m[s][1] - m[s][0]) if s in m else float('nan'):>11.1f}" for s in stages)
        mem = "".join(f"{sp.get(s, float('nan')) / 2**20:>13.0f}" for s in stages)
        print(f"{minutes:>5g}{n:>7d}{wall:>8.1f}{wall / (n / fps / 60):>12.1f}{n / wall:>7.1f}{cpu:>8.1f}"
              f"{peak / 2**20:>17.0f}{info['main_peak'] / 2**20:>8.0f}{info.get('ru_maxrss', 0) / 2**20:>10.0f}"
              f"{per}{mem}  {rc}")


if __name__ == "__main__":  # required: detection workers are started with "spawn"
    main()
