"""Mocap import on the real recordings in ../shared/data/mocap (skipped when that folder is absent).

Each trial is loaded once per module. Checks: rate as in the file, adult segment lengths, pelvis travel,
``up`` pointing up, reference events that alternate and sit at heel contact, the Horst reference table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gaitscope.errors import MocapError
from gaitscope.io.mocap import load_motion, read_c3d, read_grf_plates, read_trc
from gaitscope.io.mocap.force_plates import contact_intervals
from gaitscope.io.mocap.joint_centres import harrington_hjc
from gaitscope.skeleton import J

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mocap"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real mocap data not found at {DATA} (../shared/data/mocap)"),
]

WALKS = {
    # file: (fps, walks straight enough that the pelvis travels > 1 m, has reference events)
    "horst2019_S01/c3d/S01_0002_Gait.c3d": (250.0, True, True),
    "horst2019_S01/c3d/S01_0011_Gait.c3d": (250.0, True, True),
    "horst2019_S01/c3d/S01_0001_Static.c3d": (250.0, False, False),
    "opencap_lab_subject/MarkerData/walking2.trc": (100.0, True, True),
    "opencap_lab_subject/MarkerData/walking3.trc": (100.0, True, True),
    "opencap_lab_subject/MarkerData/walking4.trc": (100.0, True, True),
    "camargo2021_circuit/levelground_ccw_fast_01_01.trc": (200.0, True, True),
    "bmclab/data/walk.trc": (150.0, True, False),
    "bmclab/data/walk1.trc": (150.0, True, False),
    "bmclab/data/walk2.trc": (150.0, True, False),
    "bmclab/data/Gait.c3d": (100.0, True, True),
    "cmu_131/131_01.bvh": (120.0, True, False),
    "cmu_131/131_02.bvh": (120.0, True, False),
}


@pytest.fixture(scope="module")
def trials():
    return {name: load_motion(DATA / name) for name in WALKS}


def _seg(x, a, b):
    return float(np.nanmedian(np.linalg.norm(x[:, J[a]] - x[:, J[b]], axis=-1)))


@pytest.mark.parametrize("name", list(WALKS))
def test_trial_loads_with_sane_values(trials, name):
    tr = trials[name]
    m = tr.motion
    fps, walks, has_events = WALKS[name]
    assert m.fps == pytest.approx(fps)
    assert m.xyz_m.shape[1:] == (17, 3) and not m.root_relative
    for side in ("left", "right"):
        assert 0.35 <= _seg(m.xyz_m, f"{side}_hip", f"{side}_knee") <= 0.50, "thigh length"
        assert 0.35 <= _seg(m.xyz_m, f"{side}_knee", f"{side}_ankle") <= 0.50, "shank length"
    assert 0.12 <= _seg(m.xyz_m, "left_hip", "right_hip") <= 0.28
    up = np.asarray(m.up)
    height = lambda j: np.nanmedian(m.xyz_m[:, J[j]] @ up)  # noqa: E731
    assert height("pelvis") - height("left_ankle") > 0.6
    if np.isfinite(m.xyz_m[:, J["head"]]).any():
        assert height("head") - height("pelvis") > 0.40  # CMU 131's BVH trunk is short: 0.44 m
    travel = np.linalg.norm(np.nanmax(m.xyz_m[:, 0, :2], 0) - np.nanmin(m.xyz_m[:, 0, :2], 0))
    assert (travel > 1.0) == walks
    assert (len(tr.events) > 0) == has_events
    assert tr.event_source == ("none" if not has_events else tr.event_source)
    assert m.valid is not None and m.valid.mean() > 0.9


@pytest.mark.parametrize("name", [n for n, v in WALKS.items() if v[2]])
def test_reference_events_alternate_and_sit_at_heel_contact(trials, name):
    tr = trials[name]
    m = tr.motion
    assert tr.event_source.startswith("force plates")
    for side, word in (("L", "left"), ("R", "right")):
        ev = [e for e in tr.events if e.side == side]
        kinds = [e.kind for e in ev]
        assert all(a != b for a, b in zip(kinds, kinds[1:])), f"{side} events do not alternate: {kinds}"
        up = np.asarray(m.up)
        heel_z = m.feet[f"{word}_heel"] @ up
        # lowest point of the foot (first steps after standing may land foot-flat or toe-first)
        foot_z = np.fmin(heel_z, m.feet[f"{word}_toe"] @ up)
        floor = np.nanpercentile(foot_z, 5)
        for e in ev:
            if e.kind == "heel_strike":
                # the foot is within 3 cm of its lowest when the plate first feels it...
                assert foot_z[e.frame] - floor < 0.03, (e, foot_z[e.frame] - floor)
                # ...and was higher 0.15 s earlier (it came down onto the plate)
                before = foot_z[max(e.frame - int(0.15 * m.fps), 0)]
                assert before >= foot_z[e.frame] - 0.005
            else:
                # at toe off the heel has already risen
                assert heel_z[e.frame] - np.nanpercentile(heel_z, 5) > 0.03, e


def _zeni(m, mk):
    """Zeni et al. 2008 events (heel/toe relative to the sacrum along the walk), for the reference table."""
    from scipy.signal import find_peaks

    sac = mk.get("SACRUM")[:, 0]
    out = {}
    for s, word in (("r", "right"), ("l", "left")):
        out[f"HS{s}"] = find_peaks(m.feet[f"{word}_heel"][:, 0] - sac)[0].tolist()
        out[f"TO{s}"] = find_peaks(-(m.feet[f"{word}_toe"][:, 0] - sac))[0].tolist()
    return out


@pytest.mark.parametrize("trial", ["S01_0002_Gait", "S01_0003_Gait"])
def test_horst_events_against_reference_table(trial):
    table = pd.read_csv(DATA / "horst2019_S01" / "Gait_cycle_bounds_from_repo.csv", index_col=0)
    tr = load_motion(DATA / "horst2019_S01" / "c3d" / f"{trial}.c3d")
    m = tr.motion
    n = m.n_frames
    # The table's seconds lie on np.linspace(0, n / fps, n): frame = t * (n - 1) / duration.
    ref = {col: int(round(table.loc[trial, col] * (n - 1) / (n / m.fps))) for col in table.columns}
    # 1) the table is coordinate-based (Zeni 2008), and our imported heel/toe points reproduce it within 1 frame
    mk = read_c3d(DATA / "horst2019_S01" / "c3d" / f"{trial}.c3d", with_plates=False)[0]
    zeni = _zeni(m, mk)
    for col, f in ref.items():
        key = col[:2] + col[-1]
        assert min(abs(z - f) for z in zeni[key]) <= 1, (col, f, zeni[key])
    # 2) force-plate events vs the table: Zeni heel strikes come 15-40 ms before the plate feels 20 N,
    #    toe offs agree within 20 ms
    fp = {(e.side, e.kind): e.frame for e in tr.events}
    assert set(fp) == {("R", "heel_strike"), ("L", "heel_strike"), ("R", "toe_off"), ("L", "toe_off")}
    d_hs = [fp[("R", "heel_strike")] - ref["HS1r"], fp[("L", "heel_strike")] - ref["HSl"]]
    d_to = [fp[("R", "toe_off")] - ref["TOr"], fp[("L", "toe_off")] - ref["TO2l"]]
    assert all(3 <= d <= 10 for d in d_hs), d_hs
    assert all(abs(d) <= 5 for d in d_to), d_to


def test_horst_trials_all_give_four_plate_events():
    for p in sorted((DATA / "horst2019_S01" / "c3d").glob("S01_00*_Gait.c3d")):
        tr = load_motion(p)
        kinds = sorted((e.side, e.kind) for e in tr.events)
        assert kinds == [("L", "heel_strike"), ("L", "toe_off"), ("R", "heel_strike"), ("R", "toe_off")], p.name
        # one foot per plate, stance 0.5-0.8 s
        for side in "LR":
            hs = next(e for e in tr.events if e.side == side and e.kind == "heel_strike")
            to = next(e for e in tr.events if e.side == side and e.kind == "toe_off")
            assert 0.5 <= to.time_s - hs.time_s <= 0.8


def test_horst_knee_markers_come_from_the_static_trial(trials):
    m = trials["horst2019_S01/c3d/S01_0002_Gait.c3d"].motion
    assert any("static trial" in n for n in m.notes)
    # knee centre rides with the thigh: hip-knee distance nearly constant while walking (rigid femur)
    d = np.linalg.norm(m.xyz_m[:, J["right_hip"]] - m.xyz_m[:, J["right_knee"]], axis=-1)
    assert d.std() < 0.01


def test_horst_without_static_trial_names_the_knee_markers():
    with pytest.raises(MocapError, match="R KNEE LAT") as err:
        load_motion(DATA / "horst2019_S01" / "c3d" / "S01_0002_Gait.c3d", static=None, marker_set="horst2019")
    assert "static" in str(err.value).lower()


def test_c3d_with_a_marker_removed_names_it(tmp_path):
    ezc3d = pytest.importorskip("ezc3d")
    src = DATA / "horst2019_S01" / "c3d" / "S01_0002_Gait.c3d"
    c = ezc3d.c3d(str(src))
    labels = c["parameters"]["POINT"]["LABELS"]["value"]
    keep = [i for i, lab in enumerate(labels) if lab != "L HEEL"]
    c["parameters"]["POINT"]["LABELS"]["value"] = [labels[i] for i in keep]
    desc = c["parameters"]["POINT"]["DESCRIPTIONS"]["value"]
    if len(desc) == len(labels):
        c["parameters"]["POINT"]["DESCRIPTIONS"]["value"] = [desc[i] for i in keep]
    c["data"]["points"] = c["data"]["points"][:, keep, :]
    for k in list(c["data"]["meta_points"]):
        c["data"]["meta_points"][k] = c["data"]["meta_points"][k][:, keep, :]
    out = tmp_path / "S01_0002_Gait.c3d"
    c.write(str(out))
    with pytest.raises(MocapError, match="L HEEL") as err:
        load_motion(out, static=DATA / "horst2019_S01" / "c3d" / "S01_0001_Static.c3d")
    assert "horst2019" in str(err.value)


def test_opencap_angles_and_virtual_hip_centres(trials):
    tr = trials["opencap_lab_subject/MarkerData/walking2.trc"]
    a = tr.angles_deg
    assert a is not None and {"time", "frame", "knee_angle_r", "hip_flexion_r"} <= set(a.columns)
    assert 40 < a["knee_angle_r"].max() < 90  # degrees, not radians
    assert a["frame"].iloc[0] == 0 and a["frame"].iloc[-1] == tr.motion.n_frames - 1
    assert any("virtual HJC" in n for n in tr.motion.notes)
    # Harrington from the same file's ASIS/PSIS lands within 3 cm of the lab's own hip centres
    mk, _ = read_trc(DATA / "opencap_lab_subject" / "MarkerData" / "walking2.trc")
    r, l, _, _ = harrington_hjc(mk.get("r.ASIS"), mk.get("L.ASIS"), (mk.get("r.PSIS") + mk.get("L.PSIS")) / 2)
    for est, lab in ((r, "R_HJC"), (l, "L_HJC")):
        err = np.nanmedian(np.linalg.norm(est - mk.get(lab), axis=-1))
        assert err < 0.03, err


def test_camargo_flickering_plates_are_cleaned():
    plates = read_grf_plates(DATA / "camargo2021_circuit" / "levelground_ccw_fast_01_01_grf.mot")
    assert len(plates) == 6
    # plate 1 rings +/-150 N for ~0.1 s after the foot leaves at sample 1116: not part of the stance
    assert contact_intervals(plates[0].vertical_n, plates[0].rate)[-1] == (1009, 1116)
    raw_runs = np.diff((plates[1].vertical_n > 20).astype(int)).clip(0).sum()
    assert raw_runs > len(contact_intervals(plates[1].vertical_n, plates[1].rate))


def test_camargo_is_lower_body_only(trials):
    m = trials["camargo2021_circuit/levelground_ccw_fast_01_01.trc"].motion
    assert np.isnan(m.xyz_m[:, J["thorax"]]).all()
    assert any("lower-body-only" in n for n in m.notes)


def test_bmclab_mirrored_file_is_flipped(trials):
    m = trials["bmclab/data/walk1.trc"].motion
    assert any("left-handed" in n for n in m.notes)
    right = np.nanmean(m.xyz_m[:, J["right_hip"]] - m.xyz_m[:, J["left_hip"]], axis=0)
    fwd = m.xyz_m[-1, 0] - m.xyz_m[0, 0]
    assert np.dot(right, np.cross(fwd, m.up)) > 0
