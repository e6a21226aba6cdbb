"""Pipeline benchmark: seconds of processing per second of video for each stage and end to end, at 720p and 1080p,
peak memory of the whole process tree, and videos per hour for a batch of short clips.

Usage::

    .venv/bin/python benchmarks/pipeline.py [--video PATH] [--workers 2] [--batch-clips 3] [--skip-batch]
                                            [--repeat N]   # N passes of the clip, forward and backward
                                            [--seconds S]  # cut to the first S seconds (issue 24: 10 s)
                                            [--skip-warm]  # no warm-worker row

Clips: the bundled synthetic sample ``gaitscope/data/sample/walk_side.mp4`` (7 s, 1280x720, 30 fps) as it is,
and upscaled to 1920x1080 with OpenCV into a temporary file (MPEG-4 Part 2, the encoder every OpenCV wheel has).

Rows, per resolution:

* ``decode``: :func:`gaitscope.io.video.iter_frames` over the whole clip (upright BGR frames).
* ``2d``: :func:`gaitscope.pose2d.detect.detect_keypoints` with ``workers=--workers`` (a clip shorter than
  ``2 x MIN_FRAMES_PER_WORKER`` frames runs in one process: starting a second costs more than it saves), with
  the default engine (LiteRT where installed) and, for comparison, MediaPipe's own graph (same networks).
* ``3d + embed``: :func:`gaitscope.pipeline.steps.lift_and_embed` with the bundled small DSTformer lifter, flip
  test-time augmentation on: one encoder pass gives the 3D pose and the motion embedding (what the pipeline runs).
* ``analysis``: :func:`gaitscope.pipeline.steps.analyze_motion` (events, parameters, curves against the
  configured reference set).
* ``store``: register the recording + save every record in a fresh SQLite file (one transaction).
* ``end to end``: :func:`gaitscope.pipeline.steps.analyze_video` into a fresh SQLite database, in a NEW
  process (imports, model loading and BlazePose process start-up included, as a user's first analysis pays them).
* ``2d alone (warm process)`` and ``end to end (warm worker)``: as ``gaitscope worker`` runs analyses, in a
  process that analyzed a 2 s clip before (imports done, the lifter loaded once and kept): the 2D stage alone and
  the whole analysis of the clip, alternated ``--warm-repeats`` times under the same load, medians (the BlazePose
  processes still start per video); the ratio of each pair is printed (issue 24's goal: >= 0.9 on a 10 s clip).

Columns: ``s/s video`` = wall seconds of processing per second of video (below 1.0 is faster than real time);
``fps`` = frames processed per wall second; ``CPU s/s`` = CPU seconds (this process + its children) per second of
video, which does not depend on other load; ``peak RSS`` = the largest sum of resident memory over the process
and all its children, sampled every 20 ms with psutil.

Batch: ``gaitscope batch`` (local engine) on ``--batch-clips`` 2.5-second cuts of the sample, in a new process,
one video at a time (``--workers 1``) and with ``--workers`` processes (one video each), gives videos per hour.
A last table gives DSTformer inference speed of the base model (MotionBERT dimensions, untrained weights: speed
does not depend on the values) and of "small" on 243-frame windows, as a multiple of real time at 30 fps: on
CUDA when there is a GPU, and on this CPU. Timings on a shared machine are noisy (the header prints the load average): compare rows of
one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it (see gaitscope/cli/main.py)

import cv2
import psutil

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"


class PeakRSS:
    """Largest RSS sum of this process and all its descendants, sampled from a thread."""

    def __init__(self, pid: int | None = None, every_s: float = 0.02) -> None:
        self.proc = psutil.Process(pid or os.getpid())
        self.every_s, self.peak = every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        total = 0
        try:
            procs = [self.proc] + self.proc.children(recursive=True)
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.sample())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_s() -> float:
    """CPU seconds of this process and its children (running and finished)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    running = 0.0
    for c in psutil.Process().children(recursive=True):
        try:
            t = c.cpu_times()
            running += t.user + t.system
        except psutil.Error:
            pass
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime + running


def _timed(fn):
    c0, t0 = _cpu_s(), time.perf_counter()
    with PeakRSS() as mem:
        out = fn()
    return time.perf_counter() - t0, _cpu_s() - c0, mem.peak, out


def _resize(src: Path, dst: Path, size: tuple[int, int], first: int = 0, n: int | None = None) -> Path:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    k = 0
    while n is None or k < n:
        ok, frame = cap.read()
        if not ok:
            break
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC)
        out.write(frame)
        k += 1
    out.release()
    cap.release()
    return dst


def read_frames(src: Path, size: tuple[int, int] | None = None,
                interpolation: int = cv2.INTER_AREA) -> tuple[list, float]:
    """Every frame of ``src`` (resized to ``size`` = (width, height) when given and different) and its frame rate:
    the benchmarks' test clips are made from the short bundled sample, so holding it whole is fine."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if size is not None and frame.shape[1] != size[0]:
            frame = cv2.resize(frame, size, interpolation=interpolation)
        frames.append(frame)
    cap.release()
    return frames, fps


def _ping_pong(src: Path, dst: Path, copies: int) -> Path:
    """``copies`` passes over ``src``, alternately forward and backward: a longer recording of one person whose
    pose never jumps between passes (the identity gate in detection would cut at a jump), as a clinic's 20-30 s
    walkway recording is long enough for detection to run in several processes."""
    frames, fps = read_frames(src)
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for k in range(copies):
        for frame in (frames if k % 2 == 0 else frames[::-1]):
            out.write(frame)
    out.release()
    return dst


def _end_to_end_child(video: str, db_url: str, workers: int) -> None:
    """Runs in a fresh process: what a user's first analysis costs."""
    from gaitscope.pipeline.steps import AnalysisOptions, analyze_video

    analyze_video(video, db_url=db_url, options=AnalysisOptions(height_cm=172.0, workers=workers))


def _warm_end_to_end_child(warmup: str, video: str, db_url: str, workers: int, repeats: int = 1) -> None:
    """Runs in a fresh process as ``gaitscope worker`` does: one analysis first (imports, the lifter loaded once
    and kept, the database created and migrated), then, ``repeats`` times in turn, the 2D stage alone and the
    whole analysis of ``video`` into that database, filed under another patient each time (the same patient's
    analysis would be reused); prints their wall and CPU seconds (this process and its detector processes).
    Alternating in one process compares the two under the same load."""
    import json
    import resource

    from gaitscope.io.video import probe_video
    from gaitscope.pipeline.batch import LazyLifter
    from gaitscope.pipeline.steps import AnalysisOptions, analyze_video
    from gaitscope.pose2d.detect import detect_keypoints

    lifter = LazyLifter(None)
    options = AnalysisOptions(height_cm=172.0, workers=workers)
    analyze_video(warmup, db_url=db_url, options=options, lifter=lifter)

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def timed(fn) -> dict:
        c0, t0 = cpu(), time.perf_counter()
        fn()
        return {"wall": time.perf_counter() - t0, "cpu": cpu() - c0}

    out: dict[str, list] = {"2d": [], "e2e": []}
    for r in range(repeats):
        out["2d"].append(timed(lambda: detect_keypoints(probe_video(video), workers=workers)))
        # another patient each time: a new analysis (the same one would be reused), in the worker's database
        out["e2e"].append(timed(lambda r=r: analyze_video(video, db_url=db_url, patient_code=f"BENCH-{r}",
                                                      options=options, lifter=lifter)))
    print("WARM " + json.dumps(out), flush=True)


def _in_new_process(code: str) -> tuple[float, float, int, int]:
    """(wall s, CPU s, peak RSS of the tree, return code) of ``python -c code``. CPU: RUSAGE_CHILDREN grows by
    the child's CPU and that of every descendant it waited for (its BlazePose processes)."""
    import resource

    def kids_cpu() -> float:
        k = resource.getrusage(resource.RUSAGE_CHILDREN)
        return k.ru_utime + k.ru_stime

    c0, t0 = kids_cpu(), time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with PeakRSS(p.pid) as mem:
        out, err = p.communicate()
    if p.returncode:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    _in_new_process.stdout = out.decode(errors="replace")
    return time.perf_counter() - t0, kids_cpu() - c0, mem.peak, p.returncode


def stage_rows(video: Path, workers: int, tmp: Path, compare_engines: bool = True,
               warmup: Path | None = None, warm_repeats: int = 1, stages: bool = True,
               cold: bool = True) -> list[tuple]:
    from gaitscope.io.video import iter_frames, probe_video
    from gaitscope.pipeline import storage
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.pipeline.steps import PIPELINE_VERSION, AnalysisResult, analyze_motion, lift_and_embed
    from gaitscope.pose2d.detect import detect_keypoints, resolve_engine

    info = probe_video(video)
    rows = []

    def row(stage, fn):
        wall, cpu, peak, out = _timed(fn)
        rows.append((stage, info.n_frames, info.duration_s, wall, cpu, peak))
        return out

    if stages:
        row("decode", lambda: sum(1 for _ in iter_frames(info)))
        from gaitscope.pose2d.detect import MIN_FRAMES_PER_WORKER

        used = max(1, min(workers, os.cpu_count() or 1, info.n_frames // MIN_FRAMES_PER_WORKER))
        procs = f"{used} proc"
        engine = resolve_engine()
        if compare_engines and engine != "mediapipe":  # the same networks in MediaPipe's own graph, for comparison
            row(f"2d (MediaPipe graph, {procs})", lambda: detect_keypoints(info, workers=workers, engine="mediapipe"))
        kp = row(f"2d ({'LiteRT' if engine == 'litert' else 'MediaPipe graph'}, {procs}; default)",
                 lambda: detect_keypoints(info, workers=workers, engine=engine))
        lifter = load_lifter()
        lifter.lift(kp, height_m=1.72)  # warm-up (first torch call allocates)
        # as the pipeline runs them: one encoder pass gives the pose (flip TTA) and the embedding
        motion, emb = row(f"3d + embed ({lifter.name}, flip TTA)",
                          lambda: lift_and_embed(lifter, kp, height_m=1.72, flip_tta=True))
        from gaitscope.pipeline import normative_choice

        reference = normative_choice.resolve(None)  # the pipeline resolves it once, before the stages
        report = row("analysis", lambda: analyze_motion(motion, reference, height_m=1.72))
        db_url = f"sqlite:///{tmp / f'stages-{video.stem}.db'}"
        database = storage.open_db(db_url)
        result = AnalysisResult(info, kp, motion, emb, report)

        def store():
            rec = storage.register(database, info, patient_code="BENCH", visit_date=None, original_name=video.name)
            return storage.save(database, rec, result, pipeline_version=PIPELINE_VERSION)

        row("store (SQLite)", store)
        database.dispose()
    if cold:
        code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import pipeline as b; "
                f"b._end_to_end_child({str(video)!r}, {('sqlite:///' + str(tmp / f'e2e-{video.stem}.db'))!r}, "
                f"{workers})")
        wall, cpu, peak, rc = _in_new_process(code)
        rows.append(("end to end (new process)" + ("" if rc == 0 else f" FAILED rc={rc}"), info.n_frames,
                     info.duration_s, wall, cpu, peak))
    if warmup is not None:
        code = (f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import pipeline as b; "
                f"b._warm_end_to_end_child({str(warmup)!r}, {str(video)!r}, "
                f"{('sqlite:///' + str(tmp / f'warm-{video.stem}.db'))!r}, {workers}, {warm_repeats})")
        _, _, peak, rc = _in_new_process(code)
        import json
        import statistics

        line = [ln for ln in _in_new_process.stdout.splitlines() if ln.startswith("WARM ")]
        if rc == 0 and line:
            warm = json.loads(line[-1][5:])
            n = len(warm["2d"])
            for key, label in (("2d", "2d alone (warm process)"), ("e2e", "end to end (warm worker)")):
                rows.append((f"{label}{f', median of {n}' if n > 1 else ''}", info.n_frames, info.duration_s,
                             statistics.median(x["wall"] for x in warm[key]),
                             statistics.median(x["cpu"] for x in warm[key]), peak))
            ratios = [a["wall"] / b["wall"] for a, b in zip(warm["2d"], warm["e2e"])]
            print(f"warm worker: end to end fps / 2D-alone fps per alternated pair: "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}", flush=True)
        else:
            rows.append((f"end to end (warm worker) FAILED rc={rc}", info.n_frames, info.duration_s, 1.0, 0.0, peak))
    return rows


def batch_clips(tmp: Path, n_clips: int) -> tuple[Path, float]:
    """``n_clips`` 2.5-second cuts of the sample (different start frames, so different content) in a folder."""
    folder = tmp / "batch"
    folder.mkdir(exist_ok=True)
    n = int(2.5 * 30)
    for k in range(n_clips):
        _resize(SAMPLE, folder / f"clip{k}.mp4", (1280, 720), first=(k * 17) % 130, n=n)  # distinct content
    return folder, n_clips * n / 30.0


def batch_row(folder: Path, seconds: float, n_clips: int, workers: int, db: Path) -> tuple:
    """(label, clips, seconds of video, wall s, CPU s, peak RSS, videos/hour) of ``gaitscope batch`` (local) in a
    new process, into a fresh database."""
    code = ("import sys; from gaitscope.cli.main import main; "
            f"sys.exit(main(['batch', {str(folder)!r}, '--db', {('sqlite:///' + str(db))!r}, "
            f"'--workers', '{workers}']))")
    wall, cpu, peak, rc = _in_new_process(code)
    label = "one video at a time (default)" if workers == 1 else f"--workers {workers} (one video per process)"
    if rc:
        label += f" (exit {rc}: some failed)"
    return label, n_clips, seconds, wall, cpu, peak, 3600.0 * n_clips / wall


def dstformer_rows(device: str) -> list[tuple]:
    """Inference speed of the base model (MotionBERT dimensions) and "small" on 243-frame windows.

    On CUDA in bf16 at batches 1/16/64; on the CPU (fp32, this process's torch threads) at batch 1 and 4, as a
    floor where no GPU is lent: a GPU is far faster than two CPU cores at this, so a CPU multiple of real time at
    or above the GPU target says the target holds on any GPU.
    """
    import torch

    from gaitscope.models.configs import get_config
    from gaitscope.models.dstformer import DSTformer

    cuda = device == "cuda"
    rows = []
    for name in ("motionbert", "small"):
        cfg = get_config(name)
        model = DSTformer(**cfg.model_kwargs()).to(device).eval()
        for batch in ((1, 16, 64) if cuda else (1, 4)):
            x = torch.randn(batch, 243, 17, 3, device=device)
            ctx = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
            with torch.inference_mode(), ctx:
                for _ in range(3 if cuda else 1):
                    model(x)
                if cuda:
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                reps = 10 if cuda else 2
                for _ in range(reps):
                    model(x)
                if cuda:
                    torch.cuda.synchronize()
            s = (time.perf_counter() - t0) / reps
            fps = batch * 243 / s
            rows.append((name, batch, s, fps, fps / 30.0))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-clips", type=int, default=3)
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--resolutions", default="720,1080")
    ap.add_argument("--skip-cpu-dstformer", action="store_true", help="skip the CPU rows of DSTformer inference")
    ap.add_argument("--no-engine-compare", action="store_true",
                    help="skip the 2D row of MediaPipe's own graph when LiteRT is the default")
    ap.add_argument("--repeat", type=int, default=1,
                    help="play the clip forward and backward this many times (a longer recording)")
    ap.add_argument("--skip-warm", action="store_true", help="skip the warm-worker end-to-end row")
    ap.add_argument("--skip-cold", action="store_true", help="skip the new-process end-to-end row")
    ap.add_argument("--warm-repeats", type=int, default=3,
                    help="alternated pairs (2D alone, end to end) in the warm process; medians are printed")
    ap.add_argument("--skip-stages", action="store_true",
                    help="only the end-to-end rows (and the warm pairs): skip decode/2d/3d/analysis/store")
    ap.add_argument("--seconds", type=float, default=None,
                    help="cut the (repeated) clip to its first SECONDS (e.g. --repeat 2 --seconds 10: a 10 s walk)")
    args = ap.parse_args()
    if not args.video.exists():
        raise SystemExit(f"no clip: {args.video}")
    sizes = {"720": (1280, 720), "1080": (1920, 1080)}
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = args.video if args.repeat <= 1 else _ping_pong(args.video, tmp / "long.mp4", args.repeat)
        for res in args.resolutions.split(","):
            n = None if args.seconds is None else int(round(args.seconds * cv2.VideoCapture(str(source)).get(
                cv2.CAP_PROP_FPS)))
            clip = _resize(source, tmp / f"clip{res}.mp4", sizes[res], n=n)
            warmup = None if args.skip_warm else _resize(SAMPLE, tmp / f"warmup{res}.mp4", sizes[res], n=60)
            rows += [(f"{res}p", *r) for r in stage_rows(clip, args.workers, tmp, not args.no_engine_compare, warmup,
                                                             args.warm_repeats, not args.skip_stages,
                                                             not args.skip_cold)]
        batches = []
        if not args.skip_batch:
            folder, secs = batch_clips(tmp, args.batch_clips)
            for w in sorted({1, args.workers}):
                batches.append(batch_row(folder, secs, args.batch_clips, w, tmp / f"batch{w}.db"))
    print(f"\nclip: {args.video.name}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          f"(1 min) {os.getloadavg()[1]:.1f} (5 min); OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"{'res':<6}{'stage':<38}{'frames':>7}{'video s':>8}{'wall s':>8}{'s/s video':>10}{'fps':>8}"
          f"{'CPU s/s':>9}{'peak RSS MB':>12}")
    for res, stage, frames, dur, wall, cpu, peak in rows:
        print(f"{res:<6}{stage:<38}{frames:>7d}{dur:>8.1f}{wall:>8.2f}{wall / dur:>10.3f}{frames / wall:>8.1f}"
              f"{cpu / dur:>9.2f}{peak / 2**20:>12.0f}")
    print("s/s video < 1: faster than real time. CPU s/s counts every process; it does not depend on other load.")
    if batches:
        print(f"\nbatch: gaitscope batch (local) on {args.batch_clips} clips of 2.5 s (720p), new process each")
        print(f"{'engine':<40}{'wall s':>8}{'s/s video':>10}{'CPU s/s':>9}{'peak RSS MB':>12}{'videos/hour':>12}")
        for label, n, secs, wall, cpu, peak, vph in batches:
            print(f"{label:<40}{wall:>8.1f}{wall / secs:>10.2f}{cpu / secs:>9.2f}{peak / 2**20:>12.0f}{vph:>12.0f}")
    import torch

    for device in (["cuda"] if torch.cuda.is_available() else []) + ([] if args.skip_cpu_dstformer else ["cpu"]):
        where = (f"{torch.cuda.get_device_name()} (bf16" if device == "cuda"
                 else f"CPU ({torch.get_num_threads()} torch threads, fp32")
        print(f"\nDSTformer inference on {where}, 243-frame windows; x real time at 30 fps; target on a GPU: base "
              "model >= 20x)")
        print(f"{'model':<12}{'batch':>6}{'s/forward':>11}{'frames/s':>10}{'x real time':>12}")
        for name, b, s, fps, xrt in dstformer_rows(device):
            print(f"{name:<12}{b:>6d}{s:>11.4f}{fps:>10.0f}{xrt:>12.1f}")
    if not torch.cuda.is_available():
        print("(no CUDA device here: the GPU rows are skipped)")


if __name__ == "__main__":  # required: detection workers are started with "spawn"
    main()
