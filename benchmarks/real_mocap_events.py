"""Gait analysis on real motion capture vs force-plate reference events (prints a table).

For each trial with force plates (Horst 2019 S01, OpenCap lab walks, Camargo 2021 circuit, BMClab Gait.c3d)
the marker data are imported with ``gaitscope.io.mocap.load_motion`` and analyzed with
``gaitscope.analysis.report.analyze_gait``. Every reference event (20 N plate threshold) is matched to the
analysis' event of the same foot and kind nearest in time (within 150 ms); cadence and step length are compared
with the steps the plates bound (contralateral heel strikes less than 1 s apart; step length = distance between
the two heels along the walk at the second strike).

    .venv/bin/python benchmarks/real_mocap_events.py [--data ../shared/data/mocap] [--ankles]

``--ankles`` drops the heel and toe points, so the events come from the ankle joints as they do from the
lifter's 17 joints (H36M has no foot): that measures the toe-off latency of the ankle standing in for the toe.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from gaitscope.io.mocap import load_motion

ROOT = Path(__file__).resolve().parents[1]
MATCH_S = 0.15


def trials(data: Path) -> list[tuple[str, Path]]:
    out = [("horst", p) for p in sorted((data / "horst2019_S01" / "c3d").glob("S01_00*_Gait.c3d"))]
    out += [("opencap", p) for p in sorted((data / "opencap_lab_subject" / "MarkerData").glob("walking*.trc"))]
    out += [("camargo", data / "camargo2021_circuit" / "levelground_ccw_fast_01_01.trc")]
    out += [("bmclab", data / "bmclab" / "data" / "Gait.c3d")]
    return out


def stub_upper_body(motion):
    """Workaround for the benchmark only: replace all-NaN trunk/head/arm joints by a rigid stub over the
    pelvis, because analyze_gait currently drops every frame in which any of the 17 joints is NaN. Events,
    cadence and step length come from the legs and feet, so the stub does not bias them (trunk angles are
    meaningless then and are not reported here)."""
    from dataclasses import replace

    from gaitscope.skeleton import J

    x = motion.xyz_m.copy()
    dead = [j for j in range(17) if np.isnan(x[:, j]).all()]
    if not dead:
        return motion, False
    up = np.asarray(motion.up)
    pel = x[:, J["pelvis"]]
    lat = x[:, J["left_hip"]] - x[:, J["right_hip"]]
    lat /= np.linalg.norm(lat, axis=-1, keepdims=True)
    stub = {"spine": pel + 0.25 * up, "thorax": pel + 0.5 * up, "nose": pel + 0.65 * up, "head": pel + 0.75 * up}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        sh = pel + 0.5 * up + sign * 0.18 * lat
        stub.update({f"{side}_shoulder": sh, f"{side}_elbow": sh - 0.3 * up, f"{side}_wrist": sh - 0.55 * up})
    for j in dead:
        name = [k for k, v in J.items() if v == j][0]
        x[:, j] = stub[name]
    return replace(motion, xyz_m=x), True


def events_only(motion):
    """The analysis' own event detection (same steps as analyze_gait up to events), for trials too short to
    hold a complete stride, where analyze_gait raises before returning its events."""
    from gaitscope.analysis import events as ev
    from gaitscope.analysis import frames as fr
    from gaitscope.analysis.filtering import smooth_and_fill
    from gaitscope.skeleton import FOOT_POINTS

    fps = motion.fps
    xyz, usable = smooth_and_fill(motion.xyz_m, motion.valid, fps)
    feet = {k: smooth_and_fill(motion.feet[k], motion.valid, fps)[0] for k in FOOT_POINTS if k in motion.feet}
    up = np.asarray(motion.up)
    masked = np.where(usable[:, None, None], xyz, np.nan)
    stride_s = fr.estimate_stride_period_s(masked, fps, up)
    frame, _ = fr.build_gait_frame(masked, fps, motion.up, motion.root_relative, stride_s)
    state = fr.frame_states(xyz, usable, frame, fps, stride_s)
    bouts = fr.split_bouts(state, fps, min_s=stride_s)
    return ev.detect_events(xyz, frame, fps, stride_s, [(b.start, b.stop) for b in bouts], feet or None)


def reference_steps(trial) -> list[tuple[float, float]]:
    """(step time s, step length m) for plate-bounded steps of steady walking.

    Steps taken from or into standing (Camargo's circuit starts and ends on the plates) are left out: the
    pelvis must move at >= 80 % of the trial's 90th-percentile speed at both heel strikes.
    """
    m = trial.motion
    pel = m.xyz_m[:, 0, :2]
    speed = np.linalg.norm(np.gradient(pel, axis=0), axis=-1) * m.fps
    k = max(int(0.2 * m.fps), 1)
    ok = np.isfinite(speed)
    speed = np.convolve(np.where(ok, speed, 0.0), np.ones(k), mode="same") / np.maximum(
        np.convolve(ok.astype(float), np.ones(k), mode="same"), 1.0)  # moving mean, edges not pulled to 0
    cruise = np.nanpercentile(speed, 90)
    hs = sorted((e for e in trial.events if e.kind == "heel_strike"), key=lambda e: e.frame)
    steps = []
    for a, b in zip(hs, hs[1:]):
        dt = b.time_s - a.time_s
        if a.side == b.side or not 0.3 < dt < 1.0:
            continue
        if min(speed[a.frame], speed[b.frame]) < 0.8 * cruise:
            continue
        new = m.feet["left_heel" if b.side == "L" else "right_heel"][b.frame]
        old = m.feet["left_heel" if a.side == "L" else "right_heel"][b.frame]
        fwd = m.xyz_m[min(b.frame + 5, m.n_frames - 1), 0] - m.xyz_m[max(a.frame - 5, 0), 0]
        fwd[2] = 0.0
        fwd /= np.linalg.norm(fwd)
        length = float(np.dot(new - old, fwd))
        if np.isfinite(length):
            steps.append((dt, length))
    return steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "mocap")
    ap.add_argument("--ankles", action="store_true", help="drop heel/toe points: events from the ankle joints")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no data at {args.data}")
        return 1
    try:
        from gaitscope.analysis.report import analyze_gait
    except ImportError as exc:
        print(f"gaitscope.analysis.report is not available: {exc}")
        return 1

    groups: dict[str, dict[str, list]] = {}
    print(f"{'trial':38s} {'ref ev':>6s} {'found':>5s} {'HS err ms':>10s} {'TO err ms':>10s} "
          f"{'cad ref':>7s} {'cad an':>7s} {'step ref':>8s} {'step an':>8s} {'t s':>5s}  note")
    for group, path in trials(args.data):
        t0 = time.perf_counter()
        tr = load_motion(path)
        g = groups.setdefault(group, {"hs": [], "to": [], "miss": 0, "n": 0, "cad": [], "step": []})
        motion, stubbed = stub_upper_body(tr.motion)
        if args.ankles:
            from dataclasses import replace

            motion = replace(motion, feet={})
        try:
            rep = analyze_gait(motion)
        except Exception as exc:  # report, do not stop the table
            msg = getattr(exc, "message", str(exc))
            rep, failure = None, f"analyze_gait: {type(exc).__name__}: {msg}"
            try:
                found = events_only(motion)
            except Exception as exc2:
                print(f"{path.name:38s} {len(tr.events):6d}  {failure}; events failed too: {exc2}")
                g["n"] += len(tr.events)
                g["miss"] += len(tr.events)
                continue
        else:
            found, failure = rep.events, ""
        errs = {"heel_strike": [], "toe_off": []}
        for e in tr.events:
            cands = [a for a in found if a.side == e.side and a.kind == e.kind]
            g["n"] += 1
            if not cands:
                g["miss"] += 1
                continue
            best = min(cands, key=lambda a: abs(a.frame / tr.motion.fps - e.time_s))
            d = best.frame / tr.motion.fps - e.time_s
            if abs(d) > MATCH_S:
                g["miss"] += 1
                continue
            errs[e.kind].append(d * 1000)
        g["hs"] += errs["heel_strike"]
        g["to"] += errs["toe_off"]
        steps = reference_steps(tr)
        cad_ref = 60.0 / np.mean([s[0] for s in steps]) if steps else np.nan
        step_ref = np.mean([s[1] for s in steps]) if steps else np.nan
        cad = step = np.nan
        if rep is not None:
            try:
                cad = rep.parameter("cadence").value
                step = rep.parameter("step_length").value
            except KeyError:
                pass
        if np.isfinite(cad_ref) and np.isfinite(cad):
            g["cad"].append(cad - cad_ref)
        if np.isfinite(step_ref) and np.isfinite(step):
            g["step"].append(step - step_ref)
        fmt = lambda v: f"{np.mean(v):+.0f}" if v else "-"  # noqa: E731
        print(f"{path.name:38s} {len(tr.events):6d} {sum(map(len, errs.values())):5d} {fmt(errs['heel_strike']):>10s} "
              f"{fmt(errs['toe_off']):>10s} {cad_ref:7.1f} {cad:7.1f} {step_ref:8.3f} {step:8.3f} "
              f"{time.perf_counter() - t0:5.2f}  "
              + (f"{len(rep.strides)} strides, {len(rep.events)} events" if rep is not None
                 else f"{len(found)} events; no report ({failure[:60]}...)")
              + (" (upper body stubbed)" if stubbed else ""))
    print()
    print(f"{'group':10s} {'ref ev':>6s} {'matched':>7s} {'HS bias ms':>10s} {'HS MAE ms':>9s} {'TO bias ms':>10s} "
          f"{'TO MAE ms':>9s} {'cadence err':>11s} {'step len err m':>14s}")
    for name, g in groups.items():
        hs, to = np.array(g["hs"]), np.array(g["to"])
        f = lambda a, fn: f"{fn(a):.0f}" if len(a) else "-"  # noqa: E731
        cad = f"{np.mean(np.abs(g['cad'])):.1f}" if g["cad"] else "-"
        st = f"{np.mean(np.abs(g['step'])):.3f}" if g["step"] else "-"
        print(f"{name:10s} {g['n']:6d} {g['n'] - g['miss']:7d} {f(hs, np.mean):>10s} {f(np.abs(hs), np.mean):>9s} "
              f"{f(to, np.mean):>10s} {f(np.abs(to), np.mean):>9s} {cad:>11s} {st:>14s}")
    print("\nerrors are analysis minus reference; MAE = mean absolute error; cadence in steps/min (mean |error| "
          "per trial); match window 150 ms.")
    print_latency_cross_validation({name: np.array(g["hs"]) for name, g in groups.items()})
    return 0


def print_latency_cross_validation(hs_errors_ms: dict[str, np.ndarray]) -> None:
    """Leave one data set out: is the heel-strike latency (``events.HEEL_STRIKE_LATENCY_S``) a property of the
    method or was it fitted to these sets?

    For each set, the latency is re-estimated as the mean, over the OTHER sets, of each set's mean raw offset
    (analysis before the shift minus plate), and applied to the held-out set; the table shows the held-out
    bias and MAE with that latency beside the shipped one. Sets count equally, so the set with most events
    does not decide the latency alone.
    """
    from gaitscope.analysis.events import HEEL_STRIKE_LATENCY_S

    shipped_ms = HEEL_STRIKE_LATENCY_S * 1000.0
    raw = {k: v - shipped_ms for k, v in hs_errors_ms.items() if len(v)}
    if len(raw) < 2:
        return
    print(f"\nheel-strike latency, leave one set out (shipped: {shipped_ms:.0f} ms)")
    print(f"{'held out':10s} {'n':>4s} {'latency fit ms':>14s} {'bias ms':>8s} {'MAE ms':>7s} "
          f"{'bias shipped':>12s} {'MAE shipped':>11s}")
    for name, r in raw.items():
        others = [-np.mean(v) for k, v in raw.items() if k != name]
        lat = float(np.mean(others))
        held = r + lat
        print(f"{name:10s} {len(r):4d} {lat:14.0f} {np.mean(held):+8.0f} {np.mean(np.abs(held)):7.0f} "
              f"{np.mean(r + shipped_ms):+12.0f} {np.mean(np.abs(r + shipped_ms)):11.0f}")


if __name__ == "__main__":
    sys.exit(main())
