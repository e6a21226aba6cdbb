"""Zeni et al. 2008 event detection (gaitscope/analysis/events.py) on hand-made trajectories."""

import numpy as np
import pytest

from gaitscope.analysis.events import detect_events
from gaitscope.analysis.frames import GaitFrame
from gaitscope.skeleton import NUM_JOINTS, J

FPS = 30.0
PERIOD = 33.0  # frames per stride
# Stated here, not read from the code: heel strikes are reported 30 ms after the coordinate maximum (force-plate
# latency of the coordinate method), toe offs found from the ankle 25 ms after its minimum (the ankle stands in
# for the toe); both measured against force plates (benchmarks/real_mocap_events.py [--ankles]).
LAT = 0.030 * FPS
LAT_TO_ANKLE = 0.025 * FPS


def _frame(t: int) -> GaitFrame:
    return GaitFrame(np.tile([1.0, 0, 0], (t, 1)), np.tile([0, 1.0, 0], (t, 1)), np.tile([0, 0, 1.0], (t, 1)),
                     np.zeros(t), "test", True)


def synthetic_ankles(n: int = 240, left_hs: float = 10.3, speed: float = 1.2) -> np.ndarray:
    """Pelvis travels along +x; each ankle swings +/-0.35 m about it, maximum (heel strike) at left_hs + k*PERIOD,
    the right foot half a stride later."""
    t = np.arange(n, dtype=float)
    xyz = np.zeros((n, NUM_JOINTS, 3))
    pel = speed * t / FPS
    xyz[:, J["pelvis"], 0] = pel
    xyz[:, J["pelvis"], 2] = 0.9
    for name, phase in (("left_ankle", left_hs), ("right_ankle", left_hs + PERIOD / 2)):
        xyz[:, J[name], 0] = pel + 0.35 * np.cos(2 * np.pi * (t - phase) / PERIOD)
        xyz[:, J[name], 2] = 0.1
    return xyz


def test_heel_strikes_at_maxima_and_toe_offs_at_minima_with_subframe_timing():
    xyz = synthetic_ankles()
    ev = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))])
    hs_l = [e.time_s * FPS for e in ev if e.side == "L" and e.kind == "heel_strike"]
    to_l = [e.time_s * FPS for e in ev if e.side == "L" and e.kind == "toe_off"]
    hs_r = [e.time_s * FPS for e in ev if e.side == "R" and e.kind == "heel_strike"]
    expected = 10.3 + PERIOD * np.arange(7)
    assert np.allclose(hs_l, expected[expected < 239] + LAT, atol=0.15)
    assert np.allclose(to_l, (expected + PERIOD / 2)[expected + PERIOD / 2 < 239] + LAT_TO_ANKLE, atol=0.15)
    assert np.allclose(hs_r, (expected + PERIOD / 2)[expected + PERIOD / 2 < 239] + LAT, atol=0.15)
    assert all(e.frame == round(e.time_s * FPS) for e in ev)
    assert min(e.quality for e in ev) > 0.9
    assert [e.time_s for e in ev] == sorted(e.time_s for e in ev)


def test_toe_off_from_a_toe_point_is_not_shifted():
    """With a real toe point the toe-off maximum is the event itself; only the ankle stand-in is corrected."""
    xyz = synthetic_ankles()
    feet = {f"{p}_toe": xyz[:, J[f"{p}_ankle"]].copy() for p in ("left", "right")}
    ev = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))], feet)
    to_l = [e.time_s * FPS for e in ev if e.side == "L" and e.kind == "toe_off"]
    expected = 10.3 + PERIOD / 2 + PERIOD * np.arange(7)
    assert np.allclose(to_l, expected[expected < 239], atol=0.15)


def test_root_relative_input_gives_the_same_events():
    xyz = synthetic_ankles()
    rel = xyz - xyz[:, J["pelvis"] : J["pelvis"] + 1]
    a = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))])
    b = detect_events(rel, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))])
    assert [(e.side, e.kind, e.frame) for e in a] == [(e.side, e.kind, e.frame) for e in b]


def test_small_noise_bumps_are_not_events():
    xyz = synthetic_ankles()
    rng = np.random.default_rng(0)
    xyz[:, J["left_ankle"], 0] += 0.01 * np.sin(2 * np.pi * np.arange(len(xyz)) / 5.0) + rng.normal(0, 0.002, len(xyz))
    ev = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))])
    assert sum(e.side == "L" and e.kind == "heel_strike" for e in ev) == 7


def test_missing_contralateral_step_and_irregular_spacing_lower_quality():
    from gaitscope.analysis.events import _Peak, _with_quality

    def peaks(frames):
        return [_Peak(int(f), float(f), 0.7) for f in frames]

    found = {
        ("L", "heel_strike"): peaks([10, 43, 76, 109]),
        ("R", "heel_strike"): peaks([27, 93]),  # the right heel strike near 60 is missing
        ("L", "toe_off"): peaks([27, 60, 93]),
        ("R", "toe_off"): peaks([10, 43, 76, 109]),
    }
    ev = {(e.side, e.kind, e.frame): e.quality for e in _with_quality(found, FPS, PERIOD / FPS)}
    assert ev[("L", "heel_strike", 43)] < 1.0  # no right heel strike before the next left one
    assert ev[("L", "heel_strike", 10)] == 1.0
    assert ev[("R", "heel_strike", 27)] < 1.0  # 66 frames to the next right strike: irregular spacing
    found[("L", "heel_strike")] = [_Peak(10, 10.0, 0.7), _Peak(43, 43.0, 0.05)]  # a weak peak
    ev = {(e.side, e.kind, e.frame): e.quality for e in _with_quality(found, FPS, PERIOD / FPS)}
    assert ev[("L", "heel_strike", 43)] < 0.3


def test_events_only_inside_bouts():
    xyz = synthetic_ankles()
    ev = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, 80), (150, 240)])
    assert not any(80 <= e.frame < 150 for e in ev)
    assert any(e.frame < 80 for e in ev) and any(e.frame >= 150 for e in ev)


@pytest.mark.parametrize("feet", [True, False])
def test_heel_and_toe_points_are_used_when_present(feet):
    xyz = synthetic_ankles()
    n = len(xyz)
    pts = {}
    if feet:
        # heel leads the ankle's maximum by 2 frames: events must follow the heel, not the ankle
        t = np.arange(n, dtype=float)
        pel = xyz[:, J["pelvis"], 0]
        for side, phase in (("left", 10.3 - 2), ("right", 10.3 + PERIOD / 2 - 2)):
            heel = np.zeros((n, 3))
            heel[:, 0] = pel + 0.35 * np.cos(2 * np.pi * (t - phase) / PERIOD)
            pts[f"{side}_heel"] = heel
            pts[f"{side}_toe"] = heel + [0.2, 0, 0]
    ev = detect_events(xyz, _frame(n), FPS, PERIOD / FPS, [(0, n)], pts or None)
    first = min(e.time_s * FPS for e in ev if e.side == "L" and e.kind == "heel_strike")
    assert first == pytest.approx((8.3 if feet else 10.3) + LAT, abs=0.15)


def test_events_next_to_interpolated_frames_lose_quality():
    xyz = synthetic_ankles()
    measured = np.ones(len(xyz), bool)
    measured[43:46] = False  # around the left heel strike at 43.3 + LAT
    ev = detect_events(xyz, _frame(len(xyz)), FPS, PERIOD / FPS, [(0, len(xyz))], measured=measured)
    q = {(e.side, e.kind, e.frame): e.quality for e in ev}
    assert q[("L", "heel_strike", round(43.3 + LAT))] <= 0.5
    assert q[("L", "heel_strike", round(76.3 + LAT))] > 0.9
