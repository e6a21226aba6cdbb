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
from gaitscope.skeleton import J, NUM_JOINTS

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
