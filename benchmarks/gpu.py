"""DSTformer encoder on a CUDA GPU in bf16: frames per second and the fraction of the device's bf16 peak.

    .venv/bin/python benchmarks/gpu.py                                   # MB and MB-Lite, batch 64 and 128
    .venv/bin/python benchmarks/gpu.py --configs motionbert --batches 64 256 --repeats 20
    .venv/bin/python benchmarks/gpu.py --peak-tflops 300                 # a device not in the table below

Each row: a batch of ``--batch`` windows of 243 frames (the lifter's window) through the whole model (encoder and
3D head) under ``torch.autocast("cuda", dtype=torch.bfloat16)`` and ``torch.inference_mode``; median seconds over
``--repeats`` timed runs after ``--warmup`` untimed ones (CUDA synchronised around each); frames/s = batch x 243 /
seconds. FLOPs are counted once per clip by :class:`torch.utils.flop_counter.FlopCounterMode` on the meta device
(matrix products and attention; 2 FLOPs per multiply-accumulate); achieved TFLOP/s = FLOPs x batch / seconds, and
"% of peak" divides it by the device's dense bf16 tensor-core peak, looked up from the device name in ``PEAK_TFLOPS``
(vendor data sheets, dense, no sparsity) or given with ``--peak-tflops``. Goal (issue 24): >= 30 % for MotionBERT at
batch >= 64.

Without CUDA the script prints one line saying so and exits 0 (the CPU numbers are in ``benchmarks/dstformer.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Dense bf16 tensor-core peak in TFLOP/s by device-name fragment (most specific first). Sources: NVIDIA data
#: sheets (H200/H100 SXM 989.5, H100 PCIe 756, H100 NVL 835, A100 312, L40S 362, L4 121, A10 125, RTX 4090 165
#: (330 with sparsity), RTX 3090 71).
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.5),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.5),
    ("GH200", 989.5),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)

NO_CUDA_MESSAGE = "benchmarks/gpu.py: no CUDA device here (torch.cuda.is_available() is False); nothing to measure."


def peak_tflops_for(device_name: str) -> float | None:
    """The dense bf16 peak of a device from its name, or None when it is not in :data:`PEAK_TFLOPS`."""
    for fragment, peak in PEAK_TFLOPS:
        if fragment.lower() in device_name.lower():
            return peak
    return None


def flops_per_clip(config: str, frames: int) -> int:
    """FLOPs of one forward of one clip (:func:`gaitscope.models.dstformer.flops_per_clip`)."""
    from gaitscope.models.dstformer import flops_per_clip as count

    return count(config, frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["motionbert", "motionbert-lite"])
    ap.add_argument("--batches", nargs="+", type=int, default=[64, 128])
    ap.add_argument("--frames", type=int, default=243)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, TFLOP/s")
    args = ap.parse_args(argv)

    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA_MESSAGE)
        return 0

    from gaitscope.models.configs import get_config
    from gaitscope.models.dstformer import DSTformer

    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or peak_tflops_for(name)
    print(f"DSTformer on {name} (bf16 peak {'unknown: pass --peak-tflops' if peak is None else f'{peak:g} TFLOP/s'}), "
          f"bf16 autocast, {args.frames}-frame windows, median of {args.repeats} after {args.warmup} warm-ups, "
          f"torch {torch.__version__}")
    header = f"{'model':<18}{'batch':>6}{'GFLOP/clip':>12}{'s/batch':>10}{'frames/s':>12}{'TFLOP/s':>10}{'% of peak':>11}" \
             f"{'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    for config in args.configs:
        cfg = get_config(config)
        flops = flops_per_clip(config, args.frames)
        model = DSTformer(**cfg.model_kwargs()).cuda().eval()
        for batch in args.batches:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            x = torch.randn(batch, args.frames, cfg.num_joints, cfg.dim_in, device="cuda")
            times = []
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                for i in range(args.warmup + args.repeats):
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    model(x)
                    torch.cuda.synchronize()
                    if i >= args.warmup:
                        times.append(time.perf_counter() - t)
            sec = statistics.median(times)
            tflops = flops * batch / sec / 1e12
            share = "-" if peak is None else f"{100 * tflops / peak:.1f} %"
            print(f"{config:<18}{batch:>6}{flops / 1e9:>12.1f}{sec:>10.4f}{batch * args.frames / sec:>12.0f}"
                  f"{tflops:>10.1f}{share:>11}{torch.cuda.max_memory_allocated() / 2**20:>10.0f}", flush=True)
        del model
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
