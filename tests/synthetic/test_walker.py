"""The synthetic walker: exact, self-consistent truth and knobs that do what they say."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from gaitscope.skeleton import FOOT_POINTS, H36M_BONES, J
from gaitscope.synthetic.truth import SyntheticWalk, WalkParams
from gaitscope.synthetic.walker import knee_flexion_deg, make_cohort, simulate_walk

GROUND = 1e-6  # metres: "on the floor"


@lru_cache(maxsize=None)
def walk(**kw: object) -> SyntheticWalk:
    return simulate_walk(WalkParams(**kw))


def contact_frames(z: np.ndarray) -> np.ndarray:
    """First frame of each contact of a foot point (its height reaches the floor)."""
    on = z < GROUND
    return np.flatnonzero(on[1:] & ~on[:-1]) + 1


def test_motion_record_matches_the_contract() -> None:
    w = walk()
    m = w.motion
    assert m.xyz_m.shape == (240, 17, 3)
    assert m.up == (0.0, 0.0, 1.0) and not m.root_relative
    assert m.scale_source == "synthetic ground truth" and m.source == "synthetic"
    assert set(m.feet) == set(FOOT_POINTS)
    assert all(arr.shape == (240, 3) for arr in m.feet.values())
    assert np.isfinite(m.xyz_m).all()
    # pelvis travels along +x at about step length x cadence
    travel = m.xyz_m[-1, J["pelvis"]] - m.xyz_m[0, J["pelvis"]]
    assert travel[0] == pytest.approx(w.truth.speed_m_s * (239 / 30.0), rel=0.05)
    assert abs(travel[1]) < 0.05


def test_same_seed_same_walk_and_different_seed_differs() -> None:
    p = dict(step_length_cv=0.04, step_time_cv=0.04)
    a = simulate_walk(WalkParams(seed=7, **p))
    b = simulate_walk(WalkParams(seed=7, **p))
    c = simulate_walk(WalkParams(seed=8, **p))
    np.testing.assert_array_equal(a.motion.xyz_m, b.motion.xyz_m)
    assert a.truth == b.truth
    assert not np.allclose(a.motion.xyz_m, c.motion.xyz_m)


def test_bone_lengths_are_constant() -> None:
    x = walk(step_length_cv=0.05, trunk_flexion_deg=15.0, shuffle=0.5).motion.xyz_m
    for a, b in H36M_BONES:
        length = np.linalg.norm(x[:, a] - x[:, b], axis=-1)
        assert length.std() < 1e-6, (a, b, length.std())
    thigh = np.linalg.norm(x[:, J["left_hip"]] - x[:, J["left_knee"]], axis=-1)
    assert thigh.mean() == pytest.approx(0.245 / 0.491 * (0.53 - 0.039) * 1.70, rel=1e-6)


def test_stance_foot_does_not_slide_and_feet_stay_above_floor() -> None:
    w = walk(step_length_cv=0.04, step_time_cv=0.04, step_width_m=0.15)
    feet = w.motion.feet
    for pre, side in (("left", "L"), ("right", "R")):
        heel, toe = feet[f"{pre}_heel"], feet[f"{pre}_toe"]
        assert heel[:, 2].min() > -1e-9 and toe[:, 2].min() > -1e-9
        hs = [e for e in w.truth.events if e.side == side and e.kind == "heel_strike"]
        to = [e for e in w.truth.events if e.side == side and e.kind == "toe_off"]
        checked = 0
        for e in hs:
            nxt = [o for o in to if o.time_s > e.time_s]
            if not nxt:
                continue
            f0, f1 = int(np.ceil(e.time_s * 30)), int(np.floor(nxt[0].time_s * 30))
            seg_h, seg_t = heel[f0 : f1 + 1], toe[f0 : f1 + 1]
            # every stance frame has the heel or the toe on the floor
            assert (np.minimum(seg_h[:, 2], seg_t[:, 2]) < GROUND).all()
            for seg in (seg_h, seg_t):
                planted = seg[seg[:, 2] < GROUND]
                if len(planted) > 1:
                    drift = np.linalg.norm(planted[:, :2] - planted[0, :2], axis=-1).max()
                    assert drift < 1e-3
                    checked += 1
        assert checked >= 6


def test_heel_trajectories_reproduce_truth_cadence_and_step_length() -> None:
    w = walk(step_length_cv=0.03, step_time_cv=0.03, seed=2)
    feet, fps = w.motion.feet, w.motion.fps
    strikes = sorted(
        (int(f), side)
        for pre, side in (("left", "L"), ("right", "R"))
        for f in contact_frames(feet[f"{pre}_heel"][:, 2])
    )
    frames = np.array([f for f, _ in strikes])
    # each contact frame is within one frame of the true strike, so over the whole walk cadence is within 1 %
    cadence = 60.0 * fps * (len(frames) - 1) / (frames[-1] - frames[0])
    assert cadence == pytest.approx(w.truth.cadence_steps_min, rel=0.015)
    hs_truth = np.array([e.time_s for e in w.truth.events if e.kind == "heel_strike"])
    assert len(hs_truth) == len(frames)
    assert (frames / fps - hs_truth >= 0).all() and (frames / fps - hs_truth < 1.0 / fps).all()
    # step length between heel points at each strike (first frame with the leading heel down)
    lengths: dict[str, list[float]] = {"L": [], "R": []}
    for f, side in strikes[1:]:
        lead = feet["left_heel" if side == "L" else "right_heel"][f, 0]
        trail = feet["right_heel" if side == "L" else "left_heel"][f, 0]
        lengths[side].append(lead - trail)
    for side in ("L", "R"):
        assert np.mean(lengths[side]) == pytest.approx(w.truth.step_length_m[side], rel=0.02)


def test_truth_is_consistent_with_its_parameters() -> None:
    tr = walk().truth
    assert tr.cadence_steps_min == pytest.approx(110.0, rel=1e-6)
    for s in ("L", "R"):
        assert tr.stance_pct[s] == pytest.approx(60.0, abs=1e-6)
        assert tr.stride_time_s[s] == pytest.approx(2 * 60 / 110, rel=1e-6)
        assert tr.step_length_m[s] == pytest.approx(0.70, abs=0.015)
        assert tr.stride_length_m[s] == pytest.approx(1.40, rel=1e-6)
        assert 50 < tr.knee_rom_deg[s] < 70
        assert 35 < tr.hip_rom_deg[s] < 55
    assert tr.double_support_pct == pytest.approx(20.0, abs=1e-6)
    assert tr.step_width_m == pytest.approx(0.10, abs=1e-9)
    assert tr.speed_m_s == pytest.approx(0.70 * 110 / 60, rel=0.01)
    kinds = [(e.side, e.kind) for e in tr.events if e.kind == "heel_strike"]
    assert all(a[0] != b[0] for a, b in zip(kinds, kinds[1:]))  # feet alternate
    for e in tr.events:
        assert e.frame == round(e.time_s * 30)


def test_knee_rom_truth_matches_the_frames() -> None:
    w = walk()
    for side in ("L", "R"):
        k = knee_flexion_deg(w.motion.xyz_m, side)
        assert k.max() - k.min() == pytest.approx(w.truth.knee_rom_deg[side], abs=1.5)
        assert 55 < k.max() < 70  # peak swing flexion
        assert k.min() > -0.5  # no hyperextension


def test_shuffle_lowers_clearance_and_step_length() -> None:
    healthy, shuffling = walk().truth, walk(shuffle=1.0).truth
    assert shuffling.extra["max_toe_height_swing_m"] < 0.5 * healthy.extra["max_toe_height_swing_m"]
    assert shuffling.step_length_m["L"] < 0.8 * healthy.step_length_m["L"]
    assert shuffling.knee_rom_deg["L"] < healthy.knee_rom_deg["L"] - 10


def test_arm_swing_scale_zero_stops_arm_swing() -> None:
    def arm_range(w: SyntheticWalk) -> float:
        x = w.motion.xyz_m
        rel = x[:, J["left_wrist"], 0] - x[:, J["left_shoulder"], 0]
        return float(rel.max() - rel.min())

    assert arm_range(walk()) > 0.2
    assert arm_range(walk(arm_swing_scale=0.0)) < 0.05  # what is left is the trunk's small tilt


def test_asymmetry_gives_unequal_steps() -> None:
    tr = walk(step_asymmetry=0.2).truth
    assert tr.step_length_m["R"] - tr.step_length_m["L"] == pytest.approx(0.2 * 0.7, abs=0.02)


def test_rom_scales_reduce_ranges() -> None:
    base = walk().truth
    assert walk(knee_rom_scale=0.5).truth.knee_rom_deg["L"] < base.knee_rom_deg["L"] - 10


def test_festination_raises_cadence_and_shortens_steps_over_the_walk() -> None:
    w = walk(festination=1.0, duration_s=10.0)
    hs = [e for e in w.truth.events if e.kind == "heel_strike"]
    t = np.array([e.time_s for e in hs])
    dt = np.diff(t)
    assert dt[-3:].mean() < 0.85 * dt[:3].mean()
    feet = w.motion.feet
    x = [feet["left_heel" if e.side == "L" else "right_heel"][e.frame, 0] for e in hs]
    steps = np.diff(x)
    assert steps[-3:].mean() < 0.8 * steps[:3].mean()


def test_heading_and_trunk_flexion() -> None:
    w = walk(heading_deg=90.0, trunk_flexion_deg=20.0)
    x = w.motion.xyz_m
    d = x[-1, J["pelvis"], :2] - x[0, J["pelvis"], :2]
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(90.0, abs=2.0)
    trunk = x[:, J["thorax"]] - x[:, J["pelvis"]]
    lean = np.degrees(np.arctan2(trunk[:, 1], trunk[:, 2])).mean()  # forward is +y here
    assert lean == pytest.approx(20.0, abs=2.0)


def test_cohort_is_reproducible_and_severity_shortens_steps() -> None:
    a, b = make_cohort(40, seed=1), make_cohort(40, seed=1)
    assert a == b
    sev = np.array([s for s, _ in a])
    assert set(sev) == {0, 1, 2, 3}
    step = np.array([p.step_length_m * (1 - 0.35 * p.shuffle) for _, p in a])
    assert step[sev == 3].mean() < step[sev == 0].mean() - 0.1
    w = simulate_walk(a[int(np.argmax(sev))][1])
    assert np.isfinite(w.motion.xyz_m).all()


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="stance_pct"):
        simulate_walk(WalkParams(stance_pct=45.0))
