"""Strides that cannot be real are left out with a note (gaitscope/analysis/parameters.py), by hand-made strides.

The walk: strides of 1.10 s with steps of 0.65 m, alternating feet. Each test spoils one stride the way a missed
or spurious event does and checks that exactly that one is left out, with a note naming its frames.
"""

import math

from gaitscope.analysis.parameters import StrideWindow, drop_implausible_strides
from gaitscope.records import Stride


def _window(side, start, time_s=1.10, step_m=0.65, contra=1, seen=True):
    end = start + round(time_s * 30)
    s = Stride(side=side, start_frame=start, end_frame=end, stride_time_s=time_s, stride_length_m=2 * step_m,
               step_time_s=time_s / 2, step_length_m=step_m, stance_pct=60.0, swing_pct=40.0,
               double_support_pct=20.0, step_width_m=0.1, speed_m_s=2 * step_m / time_s)
    return StrideWindow(s, 30.0, float(start), float(end), 60.0, 40.0, contra, seen)


def _walk():
    return [_window("L" if i % 2 == 0 else "R", 16 * i) for i in range(6)]


def test_a_steady_walk_keeps_every_stride():
    kept, notes = drop_implausible_strides(_walk())
    assert len(kept) == 6 and notes == []


def test_a_two_centimetre_step_is_left_out():
    walk = _walk()
    walk[3] = _window("R", 48, step_m=0.02)  # the 0.018 m step of the real side-view clip
    kept, notes = drop_implausible_strides(walk)
    assert len(kept) == 5 and walk[3] not in kept
    assert len(notes) == 1 and "frames 48-81" in notes[0] and "0.02 m" in notes[0]


def test_a_stride_with_two_strikes_of_the_other_foot_is_left_out():
    walk = _walk()
    walk[2] = _window("L", 32, contra=2)
    kept, notes = drop_implausible_strides(walk)
    assert walk[2] not in kept and len(kept) == 5 and "struck 2 times" in notes[0]


def test_one_foot_walks_are_not_judged_on_alternation():
    walk = [_window("L", 33 * i, contra=0, seen=False) for i in range(4)]
    kept, _ = drop_implausible_strides(walk)
    assert len(kept) == 4


def test_strides_far_from_the_median_time_are_left_out():
    walk = _walk()
    walk[1] = _window("R", 16, time_s=0.55)  # a missed heel strike's neighbour: half a stride
    walk[4] = _window("L", 64, time_s=2.20)  # a missed heel strike: two strides as one
    kept, notes = drop_implausible_strides(walk)
    assert [w.stride.start_frame for w in kept] == [0, 32, 48, 80]
    assert len(notes) == 2


def test_backward_step_is_left_out_and_two_strides_are_judged_on_what_they_show():
    walk = [_window("L", 0), _window("R", 16, step_m=-0.1)]
    kept, notes = drop_implausible_strides(walk)
    assert len(kept) == 1 and "-0.10 m" in notes[0]
    # with two strides no walk-relative rule applies: a short step alone is not proof
    kept, notes = drop_implausible_strides([_window("L", 0), _window("R", 16, step_m=0.1)])
    assert len(kept) == 2 and notes == []
    assert math.isclose(kept[1].stride.step_length_m, 0.1)
