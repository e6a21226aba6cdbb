"""Mocap import on small files written here (C3D with ezc3d, TRC, MOT, BVH): units, axes, geometry, events.

These need no shared data: each test builds a file whose joint centres are known by construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.errors import MocapError
from gaitscope.io.mocap import contact_intervals, load_motion, read_ik_angles, read_trc
from gaitscope.io.mocap.force_plates import Contact, events_from_contacts
from gaitscope.io.mocap.joint_centres import harrington_hjc, rigid_fit
from gaitscope.io.mocap.markers import Y_UP_TO_Z_UP, normalize_label
from gaitscope.skeleton import J

ezc3d = pytest.importorskip("ezc3d")

FPS = 100.0
T = 120
SPEED = 1.2


def _pig_markers(t: int = T) -> dict[str, np.ndarray]:
    """Plug-in-Gait markers (metres, Z up, walking +x, body right = -y) of a rigid, gliding body."""
    o = np.stack([np.arange(t) / FPS * SPEED, np.zeros(t), np.full(t, 0.95)], axis=1)
    off = {
        "RASI": (0.0, -0.125, 0.0), "LASI": (0.0, 0.125, 0.0),
        "RPSI": (-0.16, -0.045, 0.0), "LPSI": (-0.16, 0.045, 0.0),
        "RKNE": (-0.05, -0.15, -0.50), "RKNM": (-0.05, -0.04, -0.50),
        "LKNE": (-0.05, 0.15, -0.50), "LKNM": (-0.05, 0.04, -0.50),
        "RANK": (-0.06, -0.13, -0.88), "RMED": (-0.06, -0.06, -0.88),
        "LANK": (-0.06, 0.13, -0.88), "LMED": (-0.06, 0.06, -0.88),
        "RHEE": (-0.12, -0.095, -0.92), "LHEE": (-0.12, 0.095, -0.92),
        "RTOE": (0.08, -0.10, -0.93), "LTOE": (0.08, 0.10, -0.93),
    }
    return {k: o + np.array(v) for k, v in off.items()}


def _write_c3d(path: Path, markers: dict[str, np.ndarray], *, units: str = "mm", events=()) -> Path:
    scale = {"mm": 1000.0, "m": 1.0}[units]
    c = ezc3d.c3d()
    labels = list(markers)
    t = next(iter(markers.values())).shape[0]
    pts = np.ones((4, len(labels), t))
    for i, lab in enumerate(labels):
        pts[:3, i, :] = markers[lab].T * scale
    c["parameters"]["POINT"]["RATE"]["value"] = [FPS]
    c["parameters"]["POINT"]["LABELS"]["value"] = labels
    c["parameters"]["POINT"]["UNITS"]["value"] = [units]
    c["data"]["points"] = pts
    if events:
        c.add_parameter("EVENT", "CONTEXTS", [e[0] for e in events])
        c.add_parameter("EVENT", "LABELS", [e[1] for e in events])
        c.add_parameter("EVENT", "TIMES", np.array([[0.0] * len(events), [e[2] for e in events]]))
        c.add_parameter("EVENT", "USED", [len(events)])
    c.write(str(path))
    return path


def test_c3d_mm_and_m_give_the_same_metres(tmp_path):
    mk = _pig_markers()
    a = load_motion(_write_c3d(tmp_path / "mm.c3d", mk, units="mm"))
    b = load_motion(_write_c3d(tmp_path / "m.c3d", mk, units="m"))
    assert a.marker_set == b.marker_set == "plug-in-gait"
    np.testing.assert_allclose(a.motion.xyz_m[:, :7], b.motion.xyz_m[:, :7], atol=1e-4)
    assert "mm" in a.units_note and "m" in b.units_note
    # heel is where it was put, in metres (not 1000x)
    np.testing.assert_allclose(a.motion.feet["right_heel"], mk["RHEE"], atol=1e-4)
    assert a.motion.up == (0.0, 0.0, 1.0) and a.motion.fps == FPS and not a.motion.root_relative


def test_c3d_y_up_is_rotated_to_z_up(tmp_path):
    mk = _pig_markers()
    to_y_up = Y_UP_TO_Z_UP.T  # inverse rotation: Z-up -> Y-up
    path = _write_c3d(tmp_path / "yup.c3d", {k: v @ to_y_up.T for k, v in mk.items()})
    c = ezc3d.c3d(str(path))
    c.add_parameter("POINT", "Y_SCREEN", ["+Y"])
    c.write(str(path))
    tr = load_motion(path)
    np.testing.assert_allclose(tr.motion.feet["right_toe"], mk["RTOE"], atol=1e-4)
    assert "Y up" in tr.units_note


def test_joint_centres_follow_the_declared_methods(tmp_path):
    mk = _pig_markers()
    x = load_motion(_write_c3d(tmp_path / "pig.c3d", mk)).motion.xyz_m
    # knee / ankle: midpoint of lateral and medial markers
    np.testing.assert_allclose(x[:, J["right_knee"]], (mk["RKNE"] + mk["RKNM"]) / 2, atol=1e-4)
    np.testing.assert_allclose(x[:, J["left_ankle"]], (mk["LANK"] + mk["LMED"]) / 2, atol=1e-4)
    # hip: Harrington 2007 with PW = 0.25 m, PD = 0.16 m, by hand in the pelvis frame (x fwd, z right = -y)
    pw, pd_ = 250.0, 160.0
    expect_r = (mk["RASI"] + mk["LASI"]) / 2 + np.array(
        [(-0.24 * pd_ - 9.9), -(0.33 * pw + 7.3), (-0.30 * pw - 10.9)]) / 1000
    np.testing.assert_allclose(x[:, J["right_hip"]], expect_r, atol=1e-4)
    np.testing.assert_allclose(x[:, J["pelvis"]], (x[:, J["right_hip"]] + x[:, J["left_hip"]]) / 2)
    # no trunk markers -> NaN upper body, and a note that says so
    assert np.isnan(x[:, J["thorax"]]).all() and np.isnan(x[:, J["head"]]).all()


def test_lateral_only_knee_is_shifted_medially(tmp_path):
    mk = {k: v for k, v in _pig_markers().items() if k not in ("RKNM", "LKNM")}
    tr = load_motion(_write_c3d(tmp_path / "lat.c3d", mk))
    shift = 0.105 / 2 + 0.007
    # thigh axis is not vertical here, but the medial axis (+y for the right leg) is perpendicular to it in x-z
    got = tr.motion.xyz_m[:, J["right_knee"]]
    np.testing.assert_allclose(got[:, 1] - mk["RKNE"][:, 1], shift, atol=2e-3)
    assert any("knee width" in n for n in tr.motion.notes)
    # a measured knee width replaces the default
    wide = load_motion(tmp_path / "lat.c3d", knee_width_m=0.125).motion.xyz_m[:, J["right_knee"]]
    np.testing.assert_allclose(wide[:, 1] - got[:, 1], 0.01, atol=1e-3)
    with pytest.raises(MocapError, match="plausible"):
        load_motion(tmp_path / "lat.c3d", knee_width_m=105.0)


def test_missing_marker_is_named(tmp_path):
    mk = {k: v for k, v in _pig_markers().items() if k != "LHEE"}
    with pytest.raises(MocapError, match=r"LHEE") as err:
        load_motion(_write_c3d(tmp_path / "noheel.c3d", mk), marker_set="plug-in-gait")
    assert "plug-in-gait" in str(err.value)


def test_c3d_event_labels_become_frames(tmp_path):
    ev = [("Right", "Foot Strike", 0.20), ("Left", "Foot Off", 0.31), ("Left", "Foot Strike", 0.72),
          ("General", "Event", 0.5)]
    tr = load_motion(_write_c3d(tmp_path / "ev.c3d", _pig_markers(), events=ev))
    assert tr.event_source == "C3D events"
    # ezc3d writes first frame 1: index = round(t * rate) - 1
    assert [(e.side, e.kind, e.frame) for e in tr.events] == [
        ("R", "heel_strike", 19), ("L", "toe_off", 30), ("L", "heel_strike", 71)]


def _write_trc(path: Path, markers: dict[str, np.ndarray], *, units: str, y_up: bool, extra_names=()) -> Path:
    scale = {"mm": 1000.0, "m": 1.0}[units]
    names = list(markers)
    t = next(iter(markers.values())).shape[0]
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             f"{FPS:g}\t{FPS:g}\t{t}\t{len(names)}\t{units}\t{FPS:g}\t1\t{t}",
             "Frame#\tTime\t" + "\t\t\t".join(names + list(extra_names)) + "\t\t\t",
             "\t\t" + "\t".join(f"{a}{i + 1}" for i in range(len(names)) for a in "XYZ"), ""]
    inv = Y_UP_TO_Z_UP.T  # Z-up -> Y-up
    for f in range(t):
        vals = []
        for n in names:
            p = markers[n][f] @ inv.T if y_up else markers[n][f]
            vals += [f"{v * scale:.5f}" for v in p]
        lines.append(f"{f + 1}\t{f / FPS:.4f}\t" + "\t".join(vals))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trc_units_and_y_up(tmp_path):
    mk = _pig_markers()
    mm = load_motion(_write_trc(tmp_path / "a.trc", mk, units="mm", y_up=True, extra_names=("V_extra",)))
    m = load_motion(_write_trc(tmp_path / "b.trc", mk, units="m", y_up=True))
    np.testing.assert_allclose(mm.motion.xyz_m[:, :7], m.motion.xyz_m[:, :7], atol=1e-5)
    # Y-up file comes back Z up, identical to the Z-up construction
    np.testing.assert_allclose(m.motion.feet["left_toe"], mk["LTOE"], atol=1e-5)
    assert any("NumMarkers" in n for n in mm.motion.notes)


def test_trc_mirrored_frame_is_made_right_handed(tmp_path):
    mk = {k: v * np.array([1.0, -1.0, 1.0]) for k, v in _pig_markers().items()}  # mirror image
    tr = load_motion(_write_trc(tmp_path / "mirror.trc", mk, units="m", y_up=False))
    x = tr.motion.xyz_m
    right = x[:, J["right_hip"]] - x[:, J["left_hip"]]
    fwd = np.diff(x[:, J["pelvis"]], axis=0).mean(0)
    assert np.dot(right.mean(0), np.cross(fwd, [0, 0, 1])) > 0  # right = forward x up
    assert any("left-handed" in n for n in tr.motion.notes)


def test_trc_gap_filled_and_edges_trimmed(tmp_path):
    mk = _pig_markers()
    mk["RKNE"][50:55] = np.nan  # 50 ms: filled
    mk["LANK"][:10] = np.nan  # leading gap in a leg marker: frames dropped
    tr = load_motion(_write_trc(tmp_path / "gap.trc", mk, units="m", y_up=False))
    assert tr.motion.n_frames == T - 10
    assert np.isfinite(tr.motion.xyz_m[:, J["right_knee"]]).all()


def test_contact_cleaning_drops_blips_and_bridges_dips():
    rate = 1000.0
    fz = np.zeros(3000)
    fz[500:1100] = 700.0  # a 600 ms stance
    fz[800:810] = 5.0  # 10 ms dip below 20 N: same stance
    fz[1120:1125] = 150.0  # ringing after foot off
    fz[2000:2050] = 300.0  # 50 ms graze: not a stance
    assert contact_intervals(fz, rate) == [(500, 1099)]


def test_events_need_a_swing():
    fps = 100.0
    still = np.zeros((300, 3))
    moving = np.zeros((300, 3))
    moving[:100, 0] = np.linspace(-0.8, 0.0, 100)  # swing that ends at frame 100
    moving[150:, 0] = np.linspace(0.0, 1.5, 150)  # and a swing starting at 150
    c = [Contact("p", 100, 149, fps, 0.0, True, True, side="R")]
    ev = events_from_contacts(c, fps, 300, feet={"R": moving})
    assert [(e.kind, e.frame) for e in ev] == [("heel_strike", 100), ("toe_off", 150)]
    assert events_from_contacts(c, fps, 300, feet={"R": still}) == ()  # weight shift while standing


def test_rigid_fit_recovers_a_rotation():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(4, 3))
    ang = np.linspace(0, 1.0, 20)
    rot = np.stack([[[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]] for a in ang])
    moving = np.einsum("tij,kj->tki", rot, ref) + np.array([1.0, 2.0, 3.0])
    moving[5, 1] = np.nan  # one marker lost: three remain
    r, t = rigid_fit(ref, moving)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    np.testing.assert_allclose(t, np.tile([1.0, 2.0, 3.0], (20, 1)), atol=1e-9)


def test_harrington_scales_with_pelvis_width():
    o = np.zeros((1, 3))
    r, l, pw, pd_ = harrington_hjc(o + [0, -0.125, 0], o + [0, 0.125, 0], o + [-0.16, 0, 0])
    assert pw == pytest.approx(0.25) and pd_ == pytest.approx(0.16)
    assert np.linalg.norm(r - l) == pytest.approx(2 * (0.33 * 0.25 + 0.0073), abs=1e-9)


def test_ik_table_radians_become_degrees(tmp_path):
    p = tmp_path / "x_ik.mot"
    p.write_text("Coordinates\nversion=1\nnRows=2\nnColumns=3\ninDegrees=no\nendheader\n"
                 "time\tknee_angle_r\tpelvis_tx\n0\t1.0\t0.5\n0.01\t0.5\t0.6\n")
    df = read_ik_angles(p)
    assert df["knee_angle_r"].tolist() == pytest.approx([np.degrees(1.0), np.degrees(0.5)])
    assert df["pelvis_tx"].tolist() == [0.5, 0.6]  # translations stay metres


def test_bvh_forward_kinematics(tmp_path):
    # Two-bone leg: hip rotates 90 degrees about Z in frame 1, so the knee swings from -Y to +X.
    bvh = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Knee
  {
    OFFSET 0 -10 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -10 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.01
0 20 0 0 0 0 0 0 0
0 20 0 90 0 0 0 0 0
"""
    from gaitscope.io.mocap.bvh import forward_kinematics, parse_bvh

    p = tmp_path / "leg.bvh"
    p.write_text(bvh)
    joints, data, ft = parse_bvh(p)
    pos, ends = forward_kinematics(joints, data)
    np.testing.assert_allclose(pos[0, 1], [0, 10, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, 1], [10, 20, 0], atol=1e-9)  # Rz(90) maps (0,-10,0) to (10,0,0)
    np.testing.assert_allclose(ends[1, 1], [20, 20, 0], atol=1e-9)
    assert ft == 0.01


def test_unreadable_files_raise_mocap_error(tmp_path):
    bad = tmp_path / "bad.c3d"
    bad.write_bytes(b"not a c3d file at all" * 10)
    with pytest.raises(MocapError):
        load_motion(bad)
    with pytest.raises(MocapError, match="OpenSim table"):
        (tmp_path / "a.mot").write_text("x")
        load_motion(tmp_path / "a.mot")
    with pytest.raises(MocapError, match="TRC header"):
        (tmp_path / "a.trc").write_text("hello\n" * 10)
        read_trc(tmp_path / "a.trc")


def test_label_normalisation():
    assert normalize_label("Sub01:R THIGH  1") == normalize_label("r_thigh_1") == "R_THIGH_1"
