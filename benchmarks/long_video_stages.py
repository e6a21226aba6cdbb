"""Long videos: peak memory of each stage after 2D (lift + embed, analysis, database, reports) by length.

Usage::

    nice -n 10 .venv/bin/python benchmarks/long_video_stages.py [--minutes 1,3,10] [--db sqlite|none]

Why a second long-video benchmark: BlazePose costs about 80 s per 1080p video minute on two cores, so measuring
what grows after 2D through :mod:`long_video` takes hours. Here the 2D stage runs once, on the bundled 7 s sample
(BlazePose, 1280x720), and its keypoints are played forward then backward (no jump in pose) up to the length
asked for; each length is then analyzed in a NEW process, stage by stage, as the pipeline does it
(:func:`gaitscope.pipeline.steps.lift_and_embed`, ``analyze_motion``, ``storage.save`` into a fresh SQLite
file, ``write_outputs`` with the CSV/PDF reports).

Memory is the process's resident set, sampled every 5 ms by a thread: ``base`` (after imports, the lifter loaded
and one warm-up lift), then per stage the peak during the stage above ``base`` and what stays after it. ``VmHWM``
is the kernel's high-water mark of this process (``/proc/self/status``). Not ``ru_maxrss``: Linux carries the
parent's high-water mark into a child across ``fork``/``exec`` (``getrusage(2)``), so a child started by a
process that once held 1.3 GB reports at least 1.3 GB (what inflated the 10-minute row of ``long_video.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set of this process now (``/proc/self/statm``, second field)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def hwm_bytes() -> int:
    """This process's own peak resident set (``VmHWM``; unlike ``ru_maxrss`` not inherited across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class StagePeaks:
    """Samples the resident set every ``period_s`` in a thread and keeps the peak per named stage."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.period_s = period_s
        self.stage = "setup"
        self.peaks: dict[str, int] = {}
        self.ends: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            r = rss_bytes()
            if r > self.peaks.get(self.stage, 0):
                self.peaks[self.stage] = r
            time.sleep(self.period_s)

    def enter(self, stage: str) -> None:
        self.ends[self.stage] = rss_bytes()
        self.stage = stage
        self.peaks[stage] = rss_bytes()

    def close(self) -> None:
        self.enter("done")
        self._stop.set()
        self._thread.join()


def sample_keypoints(cache: Path):
    """BlazePose keypoints of the bundled sample (cached as a pickle in the temporary folder of this run)."""
    import pickle

    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from gaitscope.pose2d.detect import detect_keypoints

    kp = detect_keypoints(str(SAMPLE), workers=1)
    cache.write_bytes(pickle.dumps(kp))
    return kp


def looped(kp, n_frames: int):
    """``kp`` played forward then backward until ``n_frames`` rows, on an even clock from frame 0."""
    from dataclasses import replace

    import numpy as np

    order = np.concatenate([np.arange(kp.n_frames), np.arange(kp.n_frames)[::-1]])
    idx = np.resize(order, n_frames)
    return replace(kp, xy_px=kp.xy_px[idx], conf=kp.conf[idx], interpolated=np.asarray(kp.interpolated)[idx],
                   raw=None if kp.raw is None else kp.raw[idx], frame_index=np.arange(n_frames), time_s=None,
                   people=None)


def child(kp_cache: str, n_frames: int, db: str, tmp: str) -> None:
    """Runs in a fresh process: each stage after 2D on ``n_frames`` looped keypoints; prints one JSON line."""
    import pickle

    from gaitscope.pipeline import normative_choice, storage
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.pipeline.steps import PIPELINE_VERSION, AnalysisResult, analyze_motion, lift_and_embed, write_outputs
    from gaitscope.records import VideoInfo

    kp = looped(pickle.loads(Path(kp_cache).read_bytes()), n_frames)
    reference = normative_choice.resolve(None)
    lifter = load_lifter()
    lift_and_embed(lifter, looped(kp, 243), height_m=1.72)  # warm-up: the first forward allocates its buffers
    info = VideoInfo(path=str(Path(tmp) / "absent.mp4"), fps=kp.fps, n_frames=n_frames, width=kp.width,
                     height=kp.height, duration_s=n_frames / kp.fps, sha256=f"{n_frames:064x}")
    meter = StagePeaks()
    t: dict[str, float] = {}

    def stage(name: str) -> None:
        meter.enter(name)
        t[name] = time.perf_counter()

    base = rss_bytes()
    stage("3d+embed")
    motion, embedding = lift_and_embed(lifter, kp, height_m=1.72)
    stage("analysis")
    report = analyze_motion(motion, reference, height_m=1.72, keypoints=kp)
    result = AnalysisResult(info, kp, motion, embedding, report)
    if db != "none":
        stage("store")
        database = storage.open_db(f"sqlite:///{tmp}/long{n_frames}.db")
        rec = storage.register(database, info, patient_code=None, visit_date=None, original_name="walk.mp4")
        storage.save(database, rec, result, pipeline_version=PIPELINE_VERSION)
    stage("reports")
    write_outputs(result, Path(tmp) / f"out{n_frames}", height_cm=172.0, video_name="walk.mp4")
    stage("end")
    meter.close()
    order = [s for s in ("3d+embed", "analysis", "store", "reports") if s in meter.peaks]
    names = list(t) + ["done"]
    secs = {s: (t[names[i + 1]] if names[i + 1] in t else time.perf_counter()) - t[s] for i, s in enumerate(order)}
    print("STAGES " + json.dumps({"base": base, "hwm": hwm_bytes(), "peaks": {s: meter.peaks[s] for s in order},
                                  "ends": {s: meter.ends[s] for s in order}, "secs": secs}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,3,10")
    ap.add_argument("--db", default="sqlite", choices=("sqlite", "none"))
    args = ap.parse_args()
    mb = 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "kp.pkl"
        kp = sample_keypoints(cache)
        for minutes in (float(m) for m in args.minutes.split(",")):
            n = int(round(minutes * 60 * kp.fps))
            code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import long_video_stages as b; "
                    f"b.child({str(cache)!r}, {n}, {args.db!r}, {tmp!r})")
            p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("STAGES ")]
            if p.returncode or not line:
                print(p.stderr[-3000:], file=sys.stderr)
                continue
            rows.append((minutes, n, json.loads(line[-1][7:])))
            print(f"{minutes:g} min done", flush=True)
    print(f"\nStages after 2D on the sample's BlazePose keypoints looped to length (db: {args.db}); "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}. MB: peak during the stage above base "
          f"(what stays after it), seconds")
    stages = ("3d+embed", "analysis", "store", "reports")
    print(f"{'min':>5}{'frames':>7}{'base MB':>8}{'VmHWM MB':>9}" + "".join(f"{s:>22}" for s in stages))
    for minutes, n, r in rows:
        cells = "".join(
            f"{(r['peaks'][s] - r['base']) / mb:>7.0f} ({(r['ends'][s] - r['base']) / mb:>4.0f}) {r['secs'][s]:>6.1f} s"
            if s in r["peaks"] else f"{'-':>22}" for s in stages)
        print(f"{minutes:>5g}{n:>7d}{r['base'] / mb:>8.0f}{r['hwm'] / mb:>9.0f}{cells}")


if __name__ == "__main__":  # required: detection workers are started with "spawn"
    main()
