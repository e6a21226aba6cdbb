"""Zeni events on real walking with force plates (OpenCap validation lab data, ../shared/data/mocap).

Ground truth = vertical ground-reaction force crossing 20 N. Measured on the three trials (100 Hz): heel strike
from the heel marker 20-55 ms early, toe off from the toe marker within 10 ms, toe off from the ankle marker
about 50 ms early (Zeni et al. 2008 report the same pattern).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.analysis.events import detect_events
from gaitscope.analysis.frames import GaitFrame
from gaitscope.skeleton import NUM_JOINTS, J

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mocap" / "opencap_lab_subject"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.exists(), reason=f"real mocap data not found at {DATA} (../shared/data)"),
]


def read_trc(path: Path) -> tuple[float, dict[str, np.ndarray]]:
    lines = path.read_text().splitlines()
    rate = float(lines[2].split("\t")[0])
    names = [n for n in lines[3].split("\t")[2:] if n]
    rows = [[float(x) if x else np.nan for x in ln.split("\t")[2 : 2 + 3 * len(names)]] for ln in lines[5:] if ln.strip()]
    data = np.array(rows)
    return rate, {n: data[:, 3 * i : 3 * i + 3] for i, n in enumerate(names)}


def plate_events(grf: pd.DataFrame, markers: dict[str, np.ndarray], rate: float) -> list[tuple[str, str, float]]:
    """(side, kind, time) from each plate's vertical force; the foot is the heel nearest the centre of pressure."""
    out = []
    for plate in (1, 2):
        on = grf[f"ground_force_{plate}_vy"].to_numpy() > 20.0
        for i in np.flatnonzero(np.diff(on.astype(int)) != 0):
            kind = "heel_strike" if on[i + 1] else "toe_off"
            k = min(i + 3, len(on) - 1) if kind == "heel_strike" else max(i - 2, 0)
            cop = np.array([grf[f"ground_force_{plate}_px"][k], grf[f"ground_force_{plate}_pz"][k]])
            d = {s: np.linalg.norm(markers[m][int(grf.time[i + 1] * rate)][[0, 2]] - cop)
                 for s, m in (("L", "L_calc"), ("R", "r_calc"))}
            out.append((min(d, key=d.get), kind, float(grf.time[i + 1])))
    return out


@pytest.mark.parametrize("use_feet", [True, False], ids=["heel_toe", "ankle_only"])
def test_zeni_events_against_force_plates(use_feet):
    errors: dict[str, list[float]] = {"heel_strike": [], "toe_off": []}
    for trial in ("walking2", "walking3", "walking4"):
        rate, mk = read_trc(DATA / "MarkerData" / f"{trial}.trc")
        grf = pd.read_csv(DATA / "ID" / f"{trial}_grf.mot", sep="\t", skiprows=6)
        t = len(mk["L_calc"])
        xyz = np.zeros((t, NUM_JOINTS, 3))
        xyz[:, J["pelvis"]] = (mk["L.ASIS"] + mk["r.ASIS"] + mk["L.PSIS"] + mk["r.PSIS"]) / 4
        xyz[:, J["left_ankle"]], xyz[:, J["right_ankle"]] = mk["L_ankle"], mk["r_ankle"]
        feet = {"left_heel": mk["L_calc"], "right_heel": mk["r_calc"], "left_toe": mk["L_toe"], "right_toe": mk["r_toe"]}
        travel = xyz[-1, J["pelvis"]] - xyz[0, J["pelvis"]]
        travel[1] = 0.0  # Y is up in these files
        fwd = travel / np.linalg.norm(travel)
        frame = GaitFrame(np.tile(fwd, (t, 1)), np.tile(np.cross([0, 1.0, 0], fwd), (t, 1)),
                          np.tile([0, 1.0, 0], (t, 1)), np.zeros(t), "test", True)
        ev = detect_events(xyz, frame, rate, 1.1, [(0, t)], feet if use_feet else None)
        for side, kind, time in plate_events(grf, mk, rate):
            if not 0.15 <= time <= (t - 1) / rate - 0.15:
                continue  # an extremum at the very edge of a 1.4 s trial cannot be located
            found = [e.time_s for e in ev if e.side == side and e.kind == kind]
            assert found, f"{trial}: no {side} {kind} near {time:.2f} s"
            errors[kind].append(min(found, key=lambda x: abs(x - time)) - time)
    hs, to = np.array(errors["heel_strike"]), np.array(errors["toe_off"])
    print("heel strike errors (s):", hs.round(3), "toe off errors (s):", to.round(3))
    assert len(hs) >= 5 and len(to) >= 3
    assert np.max(np.abs(hs)) <= 0.060
    assert np.max(np.abs(to)) <= (0.025 if use_feet else 0.080)


CIRCUIT = DATA.parent / "camargo2021_circuit"


def _circuit_motion():
    """Camargo et al. 2021 level-ground circuit (200 Hz, lower-body markers, Y up) as a Motion3D.

    Hips are approximated from the pelvis markers, knees/ankles from the lateral markers shifted medially;
    the upper body is a rigid stand-in above the pelvis (this data set has no upper-body markers), so only
    events, walking bouts and spatiotemporal parameters are meaningful here, not trunk or arm angles.
    """
    from gaitscope.records import Motion3D

    rate, mk = read_trc(CIRCUIT / "levelground_ccw_fast_01_01.trc")
    idx = np.arange(len(mk["L_Heel"]))
    for k, v in mk.items():  # a few flickering markers: interpolate
        ok = ~np.isnan(v).any(1)
        mk[k] = np.stack([np.interp(idx, idx[ok], v[ok, c]) for c in range(3)], 1)
    up = np.array([0.0, 1.0, 0.0])
    pel = np.mean([mk[n] for n in ("L_ASIS", "R_ASIS", "L_PSIS", "R_PSIS")], axis=0)
    lat = mk["L_ASIS"] - mk["R_ASIS"]
    lat -= np.outer(lat @ up, up)
    lat /= np.linalg.norm(lat, axis=1, keepdims=True)
    xyz = np.zeros((len(pel), NUM_JOINTS, 3))
    xyz[:, J["pelvis"]] = pel
    for side, p, sg in (("left", "L", 1.0), ("right", "R", -1.0)):
        xyz[:, J[f"{side}_hip"]] = pel + sg * 0.08 * lat - 0.08 * up
        xyz[:, J[f"{side}_knee"]] = mk[f"{p}_Knee_Lat"] - sg * 0.05 * lat
        xyz[:, J[f"{side}_ankle"]] = mk[f"{p}_Ankle_Lat"] - sg * 0.035 * lat
        for joint, h, w in (("shoulder", 0.5, 0.18), ("elbow", 0.22, 0.2), ("wrist", 0.0, 0.2)):
            xyz[:, J[f"{side}_{joint}"]] = pel + h * up + sg * w * lat
    for joint, h in (("spine", 0.25), ("thorax", 0.5), ("nose", 0.65), ("head", 0.8)):
        xyz[:, J[joint]] = pel + h * up
    feet = {"left_heel": mk["L_Heel"], "right_heel": mk["R_Heel"], "left_toe": mk["L_Toe_Tip"], "right_toe": mk["R_Toe_Tip"]}
    return Motion3D(xyz_m=xyz, fps=rate, up=(0.0, 1.0, 0.0), root_relative=False, scale_source="motion capture (m)",
                    source="trc:camargo2021", feet=feet), mk


@pytest.mark.skipif(not CIRCUIT.exists(), reason=f"real mocap data not found at {CIRCUIT}")
def test_real_circuit_with_u_turn_and_standing():
    from gaitscope.analysis import analyze_gait

    m, mk = _circuit_motion()
    r = analyze_gait(m)
    rate = m.fps
    # standing at both ends and the U-turn between 7.5 and 9.5 s are left out; straight walking on both sides kept
    assert any("turning" in w for w in r.warnings) and any("standing" in w for w in r.warnings)
    assert not any(s.start_frame < 9.5 * rate and s.end_frame > 7.5 * rate for s in r.strides)
    assert not any(s.start_frame < 2.5 * rate or s.end_frame > 13.5 * rate for s in r.strides)
    assert any(s.end_frame < 7.5 * rate for s in r.strides) and any(s.start_frame > 9.5 * rate for s in r.strides)
    # fast walking: plausible values
    assert 115 < r.parameter("cadence").value < 150
    assert 1.4 < r.parameter("speed").value < 2.2
    assert 1.4 < r.parameter("stride_length").value < 2.0
    # force plate 4 (clean, unlike plates 1-2): heel strike within 60 ms of a detected one of the same foot
    grf = pd.read_csv(CIRCUIT / "levelground_ccw_fast_01_01_grf.mot", sep="\t", skiprows=6)
    on = grf["ground_force_4_vy"].to_numpy() > 20.0
    t_on = float(grf.time[np.flatnonzero(np.diff(on.astype(int)) == 1)[0] + 1])
    k = int(round(t_on * rate)) + 5
    cop = np.array([grf["ground_force_4_px"][k], grf["ground_force_4_pz"][k]])
    side = min(("L", "R"), key=lambda s: np.linalg.norm(mk[f"{s}_Heel"][k][[0, 2]] - cop))
    hs = [e.time_s for e in r.events if e.side == side and e.kind == "heel_strike"]
    assert min(abs(np.array(hs) - t_on)) < 0.060
