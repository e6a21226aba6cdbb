"""Heel strikes and toe offs at a clip's ends (issue 20: "none spurious and none missed away from the clip's
ends"; on the real side clip ``sarwesh_side`` a strike at frame 9 stood for one before the clip, and the strike
6 frames before the end was not found).

Independent truth: the synthetic walker's exact contact times (60 fps, as the real clip), the walk cut where the
test says and turned into what a lifter returns (root-relative, camera axes, no heel/toe points). Tolerance for
a found event: 2 frames at 60 fps (33 ms), the accuracy the issue asks for (2 frames at 30 fps) with margin.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from analysis_helpers import to_camera_root_relative

from gaitscope.records import GaitEvent, Motion3D
from gaitscope.skeleton import J
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk
from gaitscope.training.validate import analyze_or_partial

FPS = 60.0
TOL_FRAMES = 2.0
SEEDS = (11, 12, 13)


def _walk(seed: int) -> tuple[Motion3D, list[GaitEvent]]:
    w = simulate_walk(WalkParams(seed=seed, fps=FPS, duration_s=8.0))
    return to_camera_root_relative(w.motion), list(w.truth.events)


def _cut(m: Motion3D, a: int, b: int) -> Motion3D:
    return replace(m, xyz_m=m.xyz_m[a:b], valid=None if m.valid is None else m.valid[a:b], feet={})


def _exchange_labels(m: Motion3D, lo: int, hi: int) -> Motion3D:
    """The legs' labels exchanged in frames [lo, hi), as BlazePose did in frames 2-11 of the real clip."""
    x = m.xyz_m.copy()
    for a, b in (("left_ankle", "right_ankle"), ("left_knee", "right_knee"), ("left_hip", "right_hip")):
        x[lo:hi, J[a]], x[lo:hi, J[b]] = m.xyz_m[lo:hi, J[b]], m.xyz_m[lo:hi, J[a]]
    return replace(m, xyz_m=x)


def _frames(events, kind: str, a: int = 0) -> list[tuple[str, float]]:
    """(side, frame in the cut clip) of the events of ``kind``; ``a``: the cut's first frame in the walk."""
    return [(e.side, e.time_s * FPS - a) for e in events if e.kind == kind]


def _strikes_around(truth: list[GaitEvent], after_frame: float, gap: float) -> tuple[float, float]:
    """Two true heel strikes: the first after ``after_frame`` and the first ``gap`` frames after that."""
    hs = [e.time_s * FPS for e in truth if e.kind == "heel_strike"]
    t0 = next(t for t in hs if t > after_frame)
    return t0, next(t for t in hs if t > t0 + gap)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_heel_strike_for_the_one_before_the_clip_when_labels_are_exchanged_at_the_start(seed):
    """The clip starts 3 frames after a heel strike and the legs' labels are exchanged in its frames 3-8 (the
    real clip's situation). Every heel strike found must be a true one within 2 frames; before the change the
    label exchange made a false maximum and a strike at frame ~7 (no true strike within 20 frames)."""
    m, truth = _walk(seed)
    t0, t1 = _strikes_around(truth, 100, 200)
    a, b = int(np.ceil(t0)) + 3, int(np.floor(t1)) + 20
    report = analyze_or_partial(_exchange_labels(_cut(m, a, b), 3, 9))
    true_hs = [t - a for s, t in _frames(truth, "heel_strike")]
    found = _frames(report.events, "heel_strike")
    assert found, "no heel strike found"
    for side, f in found:
        assert min(abs(f - t) for t in true_hs) <= TOL_FRAMES, (f"spurious heel strike {side}@{f:.1f}", true_hs)
    # and every true strike inside the clip (a step after its start) is found
    inner = [t for t in true_hs if 10 <= t <= b - a - 10]
    assert all(min(abs(f - t) for _, f in found) <= TOL_FRAMES for t in inner)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("after", [2, 3, 4])
def test_a_heel_strike_just_before_the_clip_ends_is_found(seed, after):
    """The clip ends ``after`` frames (33-67 ms at 60 fps) after a true heel strike: the foot has landed and
    its signal has turned, so the strike is reported, on the right foot, within 2 frames. Before the change
    find_peaks' two-sided prominence missed it until 5 frames after the strike."""
    m, truth = _walk(seed)
    t0, t1 = _strikes_around(truth, 100, 200)
    a, b = int(np.ceil(t0)) + 3, int(np.ceil(t1)) + after
    report = analyze_or_partial(_cut(m, a, b))
    last_true_side = next(e.side for e in truth if e.kind == "heel_strike" and abs(e.time_s * FPS - t1) < 1e-6)
    side, f = _frames(report.events, "heel_strike")[-1]
    assert abs(f - (t1 - a)) <= TOL_FRAMES, (f, t1 - a)
    assert side == last_true_side


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("before", [3, 6])
def test_no_heel_strike_where_the_clip_ends_while_the_foot_still_swings(seed, before):
    """The clip ends ``before`` frames before a true heel strike: the foot is still moving forward, nothing in
    the data says where it will land, so the last heel strike reported is the previous true one."""
    m, truth = _walk(seed)
    t0, t1 = _strikes_around(truth, 100, 200)
    a, b = int(np.ceil(t0)) + 3, int(np.floor(t1)) - before
    report = analyze_or_partial(_cut(m, a, b))
    true_hs = [t - a for _, t in _frames(truth, "heel_strike") if t < b]
    _, f = _frames(report.events, "heel_strike")[-1]
    assert abs(f - true_hs[-1]) <= TOL_FRAMES, (f, true_hs[-1])


@pytest.mark.parametrize("seed", SEEDS)
def test_a_toe_off_before_the_first_heel_strike_belongs_to_its_foot(seed):
    """The clip starts 3 frames after a heel strike, so the other foot's toe off (about 6 frames later) comes
    before any heel strike the clip shows. It is that first shown strike's foot (its own strike follows 40 % of
    a stride later), found within 2 frames. Before the change it was not found (its rise is cut by the start);
    a toe off is given the foot other than the nearest heel strike's, which here is the wrong foot."""
    m, truth = _walk(seed)
    t0, t1 = _strikes_around(truth, 100, 200)
    a, b = int(np.ceil(t0)) + 3, int(np.floor(t1)) + 20
    report = analyze_or_partial(_cut(m, a, b))
    first_hs = min(f for _, f in _frames(report.events, "heel_strike"))
    true_to = [(s, t - a) for s, t in _frames(truth, "toe_off") if 0 <= t - a < first_hs]
    assert len(true_to) == 1
    found = [(s, f) for s, f in _frames(report.events, "toe_off") if f < first_hs]
    assert len(found) == 1 and found[0][0] == true_to[0][0], (found, true_to)
    assert abs(found[0][1] - true_to[0][1]) <= TOL_FRAMES
