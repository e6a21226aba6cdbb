"""Where the side view's knee and hip RMSE come from (issue 20): offset, gain, timing, swaps, jitter.

The video evaluation (``benchmarks/video_accuracy.py``, :func:`gaitscope.training.video_eval.evaluate_case`)
reports one RMSE per angle and leg over the force-plate-cut gait cycles (frame by frame where no stride is
complete), offset included. This script runs the same cases through the same code and splits that error, per
case and leg, into parts that point at different fixes:

* **offset**: the mean of test - reference. A constant from a definition (a joint centre placed elsewhere by
  the detector than by the markers, a pelvis without tilt) would show the same sign in every case.
* **gain**: the ordinary least-squares slope ``b`` of test on reference over the same points; its share of the
  mean square is ``(b - 1)^2 var(reference)`` (range too small or too large).
* **residual** after offset and gain: what no linear correction removes. OLS residuals are orthogonal to the
  reference, so ``MSE = offset^2 + gain part + residual`` exactly; the table gives each as a share of the MSE.
* **lag**: the shift (within +/- 0.15 s) of the test series that minimises its RMSE after offset and gain, and
  how much of the residual it removes (timing).
* **swap**: frames where the test's left and right legs match the reference's right and left better (knee and
  hip together, by more than 10 deg summed over the four angles), in stretches of at least 3 frames at the
  reference rate; and the residual that exchanging them back would remove.
* **jitter**: the part of the residual above 6 Hz (4th-order Butterworth, zero phase; gait angles have almost
  no power there, Winter 2009), i.e. frame-to-frame noise.

With ``--swaps-2d`` the detector's knee and ankle labels are checked against the true 2D joints (the rendered
walk through the case's own camera): frames whose labels are exchanged as detected and after
:mod:`gaitscope.models.leg_identity` decided them over the whole sequence (without its walking-pattern cue, and
with it as shipped), and what that costs beside the lift
on a 30 s clip (``--cost``).

With ``--mocap-ik`` the markers' own OpenSim inverse-kinematics angles (OpenCap walking3, Camargo) are compared
with the reference the evaluation uses (markers -> our 17-joint skeleton -> our analysis): a definitional offset
of our skeleton would show there too.

    nice -n 10 .venv/bin/python benchmarks/angle_error_parts.py --views side [--trials ...] [--save runs/x.npz]
        [--load runs/x.npz] [--mocap-ik] [--swaps-2d] [--cost] [--checkpoint runs/x/model.pt]

``--save`` keeps every case's test and reference angle series, so the table can be recomputed (``--load``)
without lifting again.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gaitscope.analysis.agreement import PCT, _sample, _strides_from_events  # noqa: E402

ANGLES = ("knee_flexion", "hip_flexion")
MAX_LAG_S = 0.15
SWAP_MARGIN_DEG = 10.0
SWAP_MIN_FRAMES = 3
JITTER_HZ = 6.0


def _series_of(report, cols: tuple[str, ...]) -> dict[str, np.ndarray]:
    df = report.angles
    out = {"time_s": df["time_s"].to_numpy(float), "fps": np.array(float(report.fps))}
    for c in cols:
        out[c] = df[c].to_numpy(float) if c in df else np.full(len(df), np.nan)
    return out


def collect(cases, lifter, mocap_dir) -> list[dict]:
    """Evaluate every case as the video evaluation does; keep both angle series and the reference events."""
    from gaitscope.training.video_eval import case_rows, evaluate_case

    cols = tuple(f"{a}_{s}" for a in ANGLES for s in "LR")
    out = []
    for c in cases:
        t = time.perf_counter()
        try:
            cr = evaluate_case(c, lifter, mocap_dir=mocap_dir)
        except Exception as exc:  # reported, never dropped silently
            print(f"FAILED {c.name}: {type(exc).__name__}: {exc}")
            continue
        ev = [(e.side, e.kind, e.reference_time_s) for e in cr.result.events if e.status != "extra"]
        rows = {r["side"]: r for r in case_rows(cr)}
        out.append({"case": c.name, "view": c.view, "near": c.near_side or "", "trial": c.trial,
                    "test": _series_of(cr.test, cols), "ref": _series_of(cr.reference, cols), "events": ev,
                    "rmse": {(a, s): rows[s][f"{a}_rmse_deg"] for a in ANGLES for s in "LR"}})
        print(f"{c.name:60s} {time.perf_counter() - t:5.1f} s", flush=True)
    return out


def _points(case: dict, col: str, side: str, lag_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, str]:
    """(test, reference) at the points the evaluation's RMSE uses: 101 per force-plate-cut stride of this side,
    else frame by frame on the reference clock (as :func:`gaitscope.analysis.agreement._compare_angles`)."""
    tt, vt, ft = case["test"]["time_s"], case["test"][col], float(case["test"]["fps"])
    tr, vr, fr = case["ref"]["time_s"], case["ref"][col], float(case["ref"]["fps"])
    events = [SimpleNamespace(side=s, kind=k, time_s=t) for s, k, t in case["events"]]
    tc, rc = [], []
    for a, b in _strides_from_events(events, side):
        tq = a + PCT / 100.0 * (b - a)
        cr, ct = _sample(tr, vr, fr, tq), _sample(tt, vt, ft, tq - lag_s)
        if np.all(np.isfinite(cr)) and np.all(np.isfinite(ct)):
            tc.append(ct)
            rc.append(cr)
    if tc:
        return np.concatenate(tc), np.concatenate(rc), "cycles"
    on_ref = _sample(tt, vt, ft, tr - lag_s)
    ok = np.isfinite(on_ref) & np.isfinite(vr)
    return on_ref[ok], vr[ok], "series"


def _linear_parts(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float]:
    """test ``x`` vs reference ``y``: (rmse, offset, slope, gain mean square, residual mean square)."""
    d = x - y
    mse = float(np.mean(d**2))
    off = float(np.mean(d))
    vy = float(np.var(y))
    b = float(np.cov(x, y, bias=True)[0, 1] / vy) if vy > 0 else 1.0
    gain_ms = (b - 1.0) ** 2 * vy
    return math.sqrt(mse), off, b, gain_ms, max(mse - off**2 - gain_ms, 0.0)


def _on_ref_clock(case: dict, col: str, lag_s: float = 0.0) -> np.ndarray:
    tt, vt, ft = case["test"]["time_s"], case["test"][col], float(case["test"]["fps"])
    return _sample(tt, vt, ft, case["ref"]["time_s"] - lag_s)


def _swap_mask(case: dict) -> np.ndarray:
    """Reference frames inside a stretch where the test's legs match the reference's opposite legs better."""
    ref = case["ref"]
    straight = np.zeros(len(ref["time_s"]))
    crossed = np.zeros(len(ref["time_s"]))
    for a in ANGLES:
        tl, tr_ = _on_ref_clock(case, f"{a}_L"), _on_ref_clock(case, f"{a}_R")
        rl, rr = ref[f"{a}_L"], ref[f"{a}_R"]
        straight += np.abs(tl - rl) + np.abs(tr_ - rr)
        crossed += np.abs(tl - rr) + np.abs(tr_ - rl)
    sw = np.nan_to_num(crossed + SWAP_MARGIN_DEG < straight, nan=False).astype(bool)
    # keep stretches of at least SWAP_MIN_FRAMES frames at the reference rate scaled to 30 fps equivalents
    need = max(SWAP_MIN_FRAMES, int(round(SWAP_MIN_FRAMES * float(ref["fps"]) / 30.0)))
    out = np.zeros_like(sw)
    i = 0
    while i < len(sw):
        if sw[i]:
            j = i
            while j < len(sw) and sw[j]:
                j += 1
            if j - i >= need:
                out[i:j] = True
            i = j
        else:
            i += 1
    return out


def _jitter_rms(case: dict, col: str) -> float:
    """RMS of the test series above JITTER_HZ (the reference's own high-frequency part subtracted)."""
    from scipy.signal import butter, sosfiltfilt

    out = []
    for key in ("test", "ref"):
        v, fps = case[key][col], float(case[key]["fps"])
        ok = np.isfinite(v)
        if ok.sum() < 20 or fps <= 2 * JITTER_HZ:
            return float("nan")
        seg = np.interp(np.arange(len(v)), np.flatnonzero(ok), v[ok])
        sos = butter(4, JITTER_HZ, "low", fs=fps, output="sos")
        hf = seg - sosfiltfilt(sos, seg)
        out.append(float(np.sqrt(np.mean(hf[ok] ** 2))))
    return float(math.sqrt(max(out[0] ** 2 - out[1] ** 2, 0.0)))


def parts(case: dict) -> list[dict]:
    """Per leg and angle: the parts of the evaluation's RMSE (see the module docstring)."""
    sw = _swap_mask(case)
    rows = []
    for side in "LR":
        leg = ("near" if side == case["near"] else "far") if case["near"] else side
        for a in ANGLES:
            col = f"{a}_{side}"
            x, y, basis = _points(case, col, side)
            if len(x) < 10:
                continue
            rmse, off, b, gain_ms, res_ms = _linear_parts(x, y)
            mse = rmse**2
            best = (res_ms, 0.0)
            for lag in np.arange(-MAX_LAG_S, MAX_LAG_S + 1e-9, 1.0 / 120.0):
                xl, yl, _ = _points(case, col, side, float(lag))
                if len(xl) >= 0.8 * len(x):
                    r = _linear_parts(xl, yl)[4]
                    if r < best[0]:
                        best = (r, float(lag))
            # swaps, frame by frame on the reference clock
            other = f"{a}_{'R' if side == 'L' else 'L'}"
            t_own, t_oth, r_own = _on_ref_clock(case, col), _on_ref_clock(case, other), case["ref"][col]
            ok = np.isfinite(t_own) & np.isfinite(r_own)
            fixed = np.where(sw, t_oth, t_own)
            okf = ok & np.isfinite(fixed)
            d0 = t_own[ok] - r_own[ok]
            d1 = fixed[okf] - r_own[okf]
            swap_gain_ms = (float(np.mean(d0**2)) - float(np.mean(d1**2))) if d0.size and d1.size else 0.0
            rows.append({
                "case": case["case"], "side": side, "leg": leg, "angle": a, "basis": basis,
                "rmse": rmse, "rmse_eval": case["rmse"].get((a, side), float("nan")), "offset": off, "gain": b,
                "offset_share": off**2 / mse if mse else 0.0, "gain_share": gain_ms / mse if mse else 0.0,
                "residual_share": res_ms / mse if mse else 0.0, "residual_rms": math.sqrt(res_ms),
                "lag_ms": 1000 * best[1], "lag_share": (res_ms - best[0]) / mse if mse else 0.0,
                "swap_frac": float(sw[ok].mean()) if ok.any() else 0.0,
                "swap_share": max(swap_gain_ms, 0.0) / float(np.mean(d0**2)) if d0.size and np.mean(d0**2) else 0.0,
                "jitter_rms": _jitter_rms(case, col),
            })
    return rows


def print_table(rows: list[dict], title: str) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return
    print(f"\n== {title}: {df['case'].nunique()} cases ==")
    print(f"{'angle':13s} {'leg':5s} {'RMSE':>5s} {'offset mean (|mean|, sd)':>24s} {'gain':>5s} "
          f"{'%offset':>7s} {'%gain':>6s} {'%resid':>6s} {'resid rms':>9s} {'|lag| ms':>8s} {'%lag':>5s} "
          f"{'swap fr%':>8s} {'%swap':>6s} {'jitter':>6s}")
    for a in ANGLES:
        for leg in (("near", "far") if (df["leg"].isin(["near", "far"])).any() else ("L", "R")):
            g = df[(df["angle"] == a) & (df["leg"] == leg)]
            if g.empty:
                continue
            mse = float(np.mean(g["rmse"] ** 2))

            def share(col: str) -> float:  # share of the pooled mean square (cases weighted by their MSE)
                return 100 * float(np.sum(g[col] * g["rmse"] ** 2)) / (len(g) * mse)

            off = f"{g['offset'].mean():+.1f} ({g['offset'].abs().mean():.1f}, {g['offset'].std():.1f})"
            print(f"{a:13s} {leg:5s} {math.sqrt(mse):5.1f} {off:>24s} {g['gain'].mean():5.2f} "
                  f"{share('offset_share'):7.0f} {share('gain_share'):6.0f} {share('residual_share'):6.0f} "
                  f"{math.sqrt(np.mean(g['residual_rms'] ** 2)):9.1f} {g['lag_ms'].abs().mean():8.0f} "
                  f"{share('lag_share'):5.0f} {100 * g['swap_frac'].mean():8.1f} {share('swap_share'):6.0f} "
                  f"{np.nanmean(g['jitter_rms']):6.1f}")
    print("RMSE: root of the mean square over cases (the evaluation's table averages the per-case RMSE); "
          "%offset + %gain + %resid = 100; %lag and %swap are parts of the residual / of the series' MSE; "
          "jitter: RMS above 6 Hz beyond the reference's, deg")


def true_label_swaps(case, kp, mocap_dir: Path) -> np.ndarray:
    """``(T,)`` bool: frames of the detections ``kp`` of ``case`` whose knees and ankles sit closer to the true
    opposite leg's (summed over the four joints, by more than a fifth of the hip-to-ankle length) than to their
    own. Truth: the walk the renderer filmed, projected through the case's camera (same seed)."""
    from gaitscope.io.mocap import load_motion
    from gaitscope.training.real_motion_video import case_camera, real_walk

    trial = load_motion(Path(mocap_dir) / case.trial, events_from="none", grf=False, ik=False)
    rw = real_walk(trial.motion, case.fps, case.crop_s)
    track, _ = case_camera(case, rw.walk, np.random.default_rng(case.seed))
    xy = track.project(np.asarray(rw.walk.motion.xyz_m, float))[np.asarray(kp.frame_index, int)]
    det = np.asarray(kp.xy_px, float)
    scale = float(np.median(np.linalg.norm(xy[:, 1] - xy[:, 3], axis=-1)))
    own = sum(np.linalg.norm(det[:, j] - xy[:, j], axis=-1) for j in (2, 3, 5, 6))
    other = sum(np.linalg.norm(det[:, a] - xy[:, b], axis=-1) for a, b in ((2, 5), (3, 6), (5, 2), (6, 3)))
    return other + 0.2 * scale < own


def swaps_2d(cases, mocap_dir: Path) -> None:
    """Exchanged knee/ankle labels against the true 2D, as detected and after the whole-sequence decision."""
    from gaitscope.models.leg_identity import leg_swap_states
    from gaitscope.pose2d.detect import cached_detection
    from gaitscope.training.real_motion_video import CACHE_DIR, render_case

    print("\n== knee/ankle labels exchanged against the true 2D (frames): as detected -> after leg identity "
          "(without its walking-pattern cue, and with it: undone / made) ==")
    print(f"{'view':8s} {'frames':>7s} {'detected':>9s} {'no walk':>8s} {'after':>6s} {'undone':>7s} {'made':>5s}")
    for view in ("side", "oblique", "frontal", "back"):
        tot = np.zeros(6, int)
        for c in (c for c in cases if c.view == view):
            video, meta = render_case(c, mocap_dir)
            kp = cached_detection(video, meta["key"], CACHE_DIR)
            truth = true_label_swaps(c, kp, mocap_dir)
            found = leg_swap_states(kp.xy_px, kp.conf, kp.fps)
            no_walk = leg_swap_states(kp.xy_px, kp.conf, kp.fps, stance_per_s=0.0)
            after = truth ^ found
            tot += [len(truth), truth.sum(), (truth ^ no_walk).sum(), after.sum(), (truth & found).sum(),
                    (found & ~truth).sum()]
        if tot[0]:
            print(f"{view:8s} {tot[0]:7d} {tot[1]:9d} {tot[2]:8d} {tot[3]:6d} {tot[4]:7d} {tot[5]:5d}")


def cost(seconds: float = 30.0, fps: float = 30.0) -> None:
    """Time of the leg-identity decision beside the bundled lifter's lift on a synthetic clip."""
    from gaitscope.models.leg_identity import relabel_legs
    from gaitscope.pipeline.lifter_choice import load_lifter
    from gaitscope.synthetic.cohort_labels import walk_keypoints
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    kp = walk_keypoints(simulate_walk(WalkParams(seed=1, fps=fps, duration_s=seconds)), seed=1)
    t = time.perf_counter()
    relabel_legs(kp)
    t_id = time.perf_counter() - t
    lifter = load_lifter()
    lifter.leg_identity = False
    t = time.perf_counter()
    lifter.lift(kp, height_m=1.7)
    t_lift = time.perf_counter() - t
    print(f"\n== cost on a {seconds:.0f} s clip at {fps:.0f} fps ({kp.n_frames} frames) ==\n"
          f"leg identity {1000 * t_id:.0f} ms, lift {1000 * t_lift:.0f} ms: {100 * t_id / t_lift:.1f} % of the lift")


def mocap_ik(mocap_dir: Path) -> None:
    """Our skeleton's analysis of the markers against the markers' own OpenSim IK (hip and knee flexion)."""
    from gaitscope.io.mocap import load_motion
    from gaitscope.io.mocap.opensim_mot import read_ik_angles
    from gaitscope.training.validate import analyze_or_partial

    pairs = [("opencap_lab_subject/MarkerData/walking3.trc", "opencap_lab_subject/IK/walking3_ik.mot"),
             ("camargo2021_circuit/levelground_ccw_fast_01_01.trc",
              "camargo2021_circuit/levelground_ccw_fast_01_01_ik.mot")]
    print("\n== markers -> our skeleton -> our analysis, against the markers' own OpenSim IK ==")
    print(f"{'trial':45s} {'angle':16s} {'offset':>7s} {'gain':>5s} {'RMSE':>5s} {'RMSE-offset':>11s}")
    for trc, mot in pairs:
        if not (mocap_dir / trc).exists() or not (mocap_dir / mot).exists():
            print(f"{trc}: not found")
            continue
        trial = load_motion(mocap_dir / trc)
        ours = analyze_or_partial(trial.motion)
        ik = read_ik_angles(mocap_dir / mot)
        t_ik = ik["time"].to_numpy(float) - float(ik["time"].iloc[0])
        t_ours = ours.angles["time_s"].to_numpy(float)
        for ours_col, ik_col in (("hip_flexion_R", "hip_flexion_r"), ("hip_flexion_L", "hip_flexion_l"),
                                 ("knee_flexion_R", "knee_angle_r"), ("knee_flexion_L", "knee_angle_l")):
            if ik_col not in ik:
                continue
            y = ik[ik_col].to_numpy(float)
            x = np.interp(t_ik, t_ours, ours.angles[ours_col].to_numpy(float), left=np.nan, right=np.nan)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 10:
                continue
            if ik_col.startswith("knee") and np.corrcoef(x[ok], y[ok])[0, 1] < 0:
                y = -y  # OpenSim models differ in the knee's sign (gait2392: flexion negative)
            rmse, off, b, _, _ = _linear_parts(x[ok], y[ok])
            print(f"{trc[:45]:45s} {ours_col:16s} {off:+7.1f} {b:5.2f} {rmse:5.1f} "
                  f"{float(np.std(x[ok] - y[ok])):11.1f}")


def main(argv: list[str] | None = None) -> int:
    from gaitscope.training.real_motion_video import DEFAULT_MOCAP_DIR, EVAL_MOCAP, default_cases

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_MOCAP_DIR)
    ap.add_argument("--views", nargs="+", default=["side"], choices=["side", "oblique", "frontal", "back"])
    ap.add_argument("--trials", nargs="+", default=None)
    ap.add_argument("--save", type=Path, default=None, help="keep the angle series of every case here (.npz)")
    ap.add_argument("--load", type=Path, default=None, help="recompute the table from a --save file")
    ap.add_argument("--csv", type=Path, default=None, help="write the per-case, per-leg parts here")
    ap.add_argument("--mocap-ik", action="store_true")
    ap.add_argument("--swaps-2d", action="store_true", help="label exchanges against the true 2D, before/after")
    ap.add_argument("--cost", action="store_true", help="time of the leg-identity decision beside the lift")
    ap.add_argument("--no-angles", action="store_true", help="skip the angle table (with --swaps-2d / --cost)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoint", type=Path, default=None, help="lifter checkpoint (default: the bundled one)")
    args = ap.parse_args(argv)
    cases = default_cases(tuple(args.views), (30.0, 60.0), tuple(args.trials or EVAL_MOCAP))
    if args.no_angles:
        data = []
    elif args.load:
        data = list(np.load(args.load, allow_pickle=True)["cases"])
    else:
        import torch

        from gaitscope.pipeline.lifter_choice import load_lifter

        torch.set_num_threads(args.threads)
        lifter = load_lifter(args.checkpoint)
        print(f"lifter: {lifter.version}")
        data = collect(cases, lifter, args.data)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(args.save, cases=np.array(data, dtype=object))
    rows = [r for c in data for r in parts(c)]
    for view in ("side", "oblique", "frontal", "back"):
        names = {c["case"] for c in data if c["view"] == view}
        print_table([r for r in rows if r["case"] in names], f"{view} views")
    if args.csv:
        import pandas as pd

        args.csv.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False, float_format="%.4g")
    if args.mocap_ik:
        mocap_ik(args.data)
    if args.swaps_2d:
        swaps_2d(cases, args.data)
    if args.cost:
        cost()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
