"""DSTformer speed / size benchmark: prints one table row per (config, device, batch).

    .venv/bin/python benchmarks/dstformer.py                      # MB, Lite, small; batch 1 and 8; CPU (+GPU)
    .venv/bin/python benchmarks/dstformer.py --configs small --batches 1
    .venv/bin/python benchmarks/dstformer.py --official-repo /path/to/MotionBERT   # add the official code's rows

Columns: parameters; multiply-accumulates per 243-frame clip (counted by ``torch.utils.flop_counter`` on the
meta device, FLOPs = 2 x MACs; attention matmuls included); median seconds per forward over ``--repeats`` runs
after one warm-up (``torch.inference_mode``, fp32 on CPU, bf16 autocast on CUDA); frames per second
(= batch x frames / seconds); peak memory (CPU: peak RSS of a fresh worker process, minus its RSS before the model
was built, i.e. weights + activations; CUDA: ``max_memory_allocated``).

Every measurement runs in its own subprocess so that peak memory is per row and one row cannot warm another's
caches. CPU rows use ``torch.set_num_threads(--threads)`` (2 by default: the CI machine). Timings on a shared
machine are noisy (the header prints the load average): compare rows measured in the same run only.

``--official-repo`` points at a checkout of github.com/Walter0807/MotionBERT; its ``lib/model/DSTformer.py`` is
imported from there (nothing of it is copied into gaitscope). Both models then get the same weights and are run
alternately in one process (so that both see the same load on a shared machine); the table gives both times, the
speed-up and the largest output difference (a parity check). ``--official-rows`` also gives the official code
full rows in the main table; ``--compare-only`` runs just the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build(config: str, official_repo: str | None):
    import torch

    from gaitscope.models.configs import get_config
    from gaitscope.models.dstformer import DSTformer

    cfg = get_config(config)
    if official_repo is None:
        return DSTformer(**cfg.model_kwargs()), cfg
    sys.path.insert(0, official_repo)
    from lib.model.DSTformer import DSTformer as Official  # type: ignore[import-not-found]

    model = Official(
        dim_in=3, dim_out=3, dim_feat=cfg.dim_feat, dim_rep=cfg.dim_rep, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        maxlen=cfg.maxlen, num_joints=cfg.num_joints,
    )
    return model, cfg


def count_macs(config: str, frames: int) -> int:
    """MACs of one forward of one clip (half of :func:`gaitscope.models.dstformer.flops_per_clip`)."""
    from gaitscope.models.dstformer import flops_per_clip

    return flops_per_clip(config, frames) // 2


def worker(args: argparse.Namespace) -> None:
    """One measurement; prints a JSON line."""
    import psutil
    import torch

    torch.set_num_threads(args.threads)
    rss0 = psutil.Process().memory_info().rss
    device = torch.device(args.device)
    model, cfg = _build(args.worker, args.official_repo)
    model = model.to(device).eval()
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.randn(args.batch, args.frames, cfg.num_joints, cfg.dim_in, device=device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)

    def run() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.inference_mode(), amp:
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t

    run()  # warm-up
    times = [run() for _ in range(args.repeats)]
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
    print(json.dumps({"params": n_params, "times": times, "peak_bytes": peak}))


def _load_baseline(path: str):
    """The DSTformer class of another version of ``gaitscope/models/dstformer.py`` (e.g. ``git show main:...``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_dstformer_baseline", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.DSTformer


def compare_official(args: argparse.Namespace) -> None:
    """Ours vs the official code in ONE process, runs alternated, so both see the same machine load.

    ``--baseline-file`` adds an older version of our class (same weights) and ``--bf16`` our class under CPU bf16
    autocast (:func:`gaitscope.models.inference.autocast_for` with ``cpu_bf16``); their columns are times and
    speed-ups against the official code too, and max |diff| is against the official fp32 output.
    """
    import torch

    from gaitscope.models.inference import autocast_for

    torch.set_num_threads(args.threads)
    if args.keep_freed:
        from gaitscope.models.inference import keep_freed_cpu_memory

        keep_freed_cpu_memory()
    print(f"\nSame-process comparison with the official code (batch 1, {args.frames} frames, runs alternated, "
          f"{args.threads} threads, keep-freed {args.keep_freed}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}, torch "
          f"{torch.__version__}; median of {args.repeats}; load average before {os.getloadavg()[0]:.1f})")
    names = ["official"] + (["baseline"] if args.baseline_file else []) + ["ours"] + (["ours bf16"] if args.bf16 else [])
    header = f"{'config':<18}" + "".join(f"{n + ' s':>14}" for n in names) + "".join(
        f"{n + ' x':>13}{'|diff|':>10}" for n in names[1:])
    print(header)
    for config in [c for c in args.configs if c != "small"]:
        torch.manual_seed(0)
        ours, cfg = _build(config, None)
        official, _ = _build(config, args.official_repo)
        ours.load_state_dict(official.state_dict(), strict=True)  # same weights: also a parity check
        models = {"official": official.eval(), "ours": ours.eval()}
        if args.baseline_file:
            base = _load_baseline(args.baseline_file)(**cfg.model_kwargs())
            base.load_state_dict(official.state_dict(), strict=True)
            models["baseline"] = base.eval()
        if args.bf16:
            models["ours bf16"] = ours
        x = torch.randn(1, args.frames, cfg.num_joints, cfg.dim_in)
        times: dict[str, list[float]] = {n: [] for n in names}
        diffs: dict[str, float] = {}

        def call(name: str) -> torch.Tensor:
            cast = autocast_for(torch.device("cpu"), cpu_bf16=name == "ours bf16")
            with cast:
                return models[name](x).float()

        with torch.inference_mode():
            ref = call("official")  # also the warm-up
            for n in names[1:]:
                diffs[n] = float((call(n) - ref).abs().max())
            for _ in range(args.repeats):
                for n in names:
                    t = time.perf_counter()
                    call(n)
                    times[n].append(time.perf_counter() - t)
        med = {n: statistics.median(times[n]) for n in names}
        print(f"{config:<18}" + "".join(f"{med[n]:>14.3f}" for n in names) + "".join(
            f"{med['official'] / med[n]:>12.2f}x{diffs[n]:>10.1e}" for n in names[1:]), flush=True)
    print(f"load average after {os.getloadavg()[0]:.1f}")


def run_row(config: str, device: str, batch: int, args: argparse.Namespace, official: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", config, "--device", device, "--batch", str(batch),
           "--frames", str(args.frames), "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if official:
        cmd += ["--official-repo", args.official_repo]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker failed for {config} {device} b{batch}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["motionbert", "motionbert-lite", "small"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--frames", type=int, default=243)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--official-repo", default=None, help="MotionBERT checkout to time the official code too")
    p.add_argument("--official-rows", action="store_true", help="also give the official code full table rows")
    p.add_argument("--compare-only", action="store_true", help="only the same-process official comparison")
    p.add_argument("--no-cpu", action="store_true", help="GPU rows only")
    p.add_argument("--baseline-file", default=None,
                   help="another version of gaitscope/models/dstformer.py to add to --compare-only (before/after)")
    p.add_argument("--keep-freed", action="store_true",
                   help="glibc keeps freed blocks (what gaitscope's Lifter does on CPU; applies to every model)")
    p.add_argument("--bf16", action="store_true", help="add our model under CPU bf16 autocast to --compare-only")
    p.add_argument("--passive-omp", action="store_true",
                   help="set OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep instead of spinning; 2-4x faster "
                        "on a machine shared with other busy processes, no effect on an idle one)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.passive_omp:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before torch is imported; inherited by the workers
    if args.worker:
        worker(args)
        return

    import torch

    if args.compare_only:
        if not args.official_repo:
            p.error("--compare-only needs --official-repo")
        compare_official(args)
        return
    devices = ([] if args.no_cpu else ["cpu"]) + (["cuda"] if torch.cuda.is_available() else [])
    print(f"DSTformer benchmark: {args.frames}-frame clips, median of {args.repeats} after 1 warm-up, "
          f"CPU threads {args.threads}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}, "
          f"torch {torch.__version__}, {os.cpu_count()} visible cores, load average {os.getloadavg()[0]:.1f}"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    header = f"{'model':<26}{'device':<7}{'batch':>6}{'params':>13}{'GMACs/clip':>12}{'GFLOPs/clip':>12}" \
             f"{'s/forward':>11}{'s/clip':>9}{'frames/s':>10}{'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    for config in args.configs:
        macs = count_macs(config, args.frames)
        variants = [(config, False)] + ([(config + " (official)", True)] if args.official_repo and config != "small" else [])
        if args.official_repo and not args.official_rows:
            variants = variants[:1]
        for device in devices:
            for batch in args.batches:
                for label, official in variants:
                    r = run_row(config, device, batch, args, official)
                    med = statistics.median(r["times"])
                    print(f"{label:<26}{device:<7}{batch:>6}{r['params']:>13,}{macs / 1e9:>12.1f}{2 * macs / 1e9:>12.1f}"
                          f"{med:>11.3f}{med / batch:>9.3f}{batch * args.frames / med:>10.1f}"
                          f"{r['peak_bytes'] / 2**20:>10.0f}", flush=True)
    if args.official_repo and "cpu" in devices:
        compare_official(args)


if __name__ == "__main__":
    main()
