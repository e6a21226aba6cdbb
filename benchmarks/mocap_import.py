"""Import speed of every real mocap file (prints a table): seconds per file and frames per second of import.

    .venv/bin/python benchmarks/mocap_import.py [--data ../shared/data/mocap]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gaitscope.io.mocap import load_motion

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "mocap")
    args = ap.parse_args(argv)
    files = sorted(p for ext in ("*.c3d", "*.trc", "*.bvh") for p in args.data.rglob(ext))
    if not files:
        print(f"no mocap files under {args.data}")
        return 1
    print(f"{'file':45s} {'set':14s} {'frames':>6s} {'fps':>5s} {'events':>6s} {'s':>6s} {'frames/s':>9s}")
    total = 0.0
    for p in files:
        t0 = time.perf_counter()
        tr = load_motion(p)
        dt = time.perf_counter() - t0
        total += dt
        m = tr.motion
        print(f"{str(p.relative_to(args.data)):45s} {tr.marker_set:14s} {m.n_frames:6d} {m.fps:5.0f} "
              f"{len(tr.events):6d} {dt:6.3f} {m.n_frames / dt:9.0f}")
    print(f"{len(files)} files in {total:.2f} s (first C3D load includes importing ezc3d; static trials are cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
