"""How much of a stride two ankle-to-ankle step lengths miss: the measurement behind
``gaitscope.analysis.parameters.ANKLE_STEPS_TO_STRIDE``.

For every stride of real marker recordings, the travelling markers' stride (the heel's displacement between its
two heel strikes) is compared with what the product computes from the same motion made root-relative and
without heels, as a lifter returns it (the sum of the stride's two ankle-to-ankle step lengths at heel strike).
The constant is measured on the lifter's TRAINING trials (default); ``--held-out`` prints the evaluation trials'
ratios as a check of the form (ratio vs offset), never to choose the value.

    .venv/bin/python benchmarks/stride_ratio.py [--held-out]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaitscope.analysis.parameters import ANKLE_STEPS_TO_STRIDE  # noqa: E402
from gaitscope.training.mocap_trials import EVAL_MOCAP, TRAIN_MOCAP  # noqa: E402
from gaitscope.training.real_motion_video import DEFAULT_MOCAP_DIR, stature_m  # noqa: E402
from gaitscope.training.validate import analyze_or_partial, as_lifted  # noqa: E402

#: Slower than this is not steady walking (CMU 131_02's start-stop strides): left out of the measurement.
MIN_SPEED_M_S = 0.5


def stride_pairs(trial: str, mocap_dir: Path) -> list[tuple[float, float, float, float]]:
    """(stature, markers' stride, root-relative ankle stride without the ratio, speed) per matched stride."""
    from gaitscope.io.mocap import load_motion

    motion = load_motion(mocap_dir / trial).motion
    ref = analyze_or_partial(motion)
    test = analyze_or_partial(as_lifted(motion))
    stature = stature_m(np.asarray(motion.xyz_m, dtype=np.float64))
    out = []
    for s in test.strides:
        match = [r for r in ref.strides if r.side == s.side and abs(r.start_frame - s.start_frame) <= 3
                 and abs(r.end_frame - s.end_frame) <= 3]
        if match and np.isfinite(s.stride_length_m) and np.isfinite(match[0].stride_length_m):
            out.append((stature, match[0].stride_length_m, s.stride_length_m / ANKLE_STEPS_TO_STRIDE,
                        match[0].speed_m_s))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", action="store_true", help="the evaluation trials instead (a check, not a fit)")
    ap.add_argument("--data", type=Path, default=DEFAULT_MOCAP_DIR)
    args = ap.parse_args(argv)
    trials = EVAL_MOCAP if args.held_out else TRAIN_MOCAP
    rows = []
    print(f"{'trial':52s} {'stature':>7s} {'markers':>8s} {'ankles':>7s} {'ratio':>6s} {'miss/H':>7s} {'speed':>6s}")
    for t in trials:
        try:
            pairs = stride_pairs(t, args.data)
        except Exception as exc:  # a trial without strides is reported, not hidden
            print(f"{t:52s} skipped: {type(exc).__name__}: {exc}")
            continue
        for h, ref, ank, v in pairs:
            print(f"{t:52s} {h:7.3f} {ref:8.3f} {ank:7.3f} {ref / ank:6.3f} {(ref - ank) / h:7.4f} {v:6.2f}")
            if v >= MIN_SPEED_M_S:
                rows.append((h, ref, ank))
    a = np.array(rows)
    ratio, miss = a[:, 1] / a[:, 2], (a[:, 1] - a[:, 2]) / a[:, 0]
    print(f"\n{len(a)} strides at >= {MIN_SPEED_M_S} m/s: ratio {ratio.mean():.3f} (SD {ratio.std(ddof=1):.3f}, "
          f"CV {ratio.std(ddof=1) / ratio.mean() * 100:.1f} %); missing length / stature {miss.mean():.4f} "
          f"(CV {miss.std(ddof=1) / miss.mean() * 100:.1f} %); shipped ratio {ANKLE_STEPS_TO_STRIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
