"""``on_source_timeline``: a report's frames and times counted from the start of the source (issue 18, point 3)."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.analysis.report import analyze_gait, on_source_timeline
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk


def test_frames_and_times_move_to_the_source_clock_and_nothing_else_changes():
    walk = simulate_walk(WalkParams(duration_s=6.0, fps=30.0, seed=2))
    report = analyze_gait(walk.motion)
    shifted = on_source_timeline(report, 1980)  # the stretch starts at frame 1980 = 66 s
    assert [e.frame for e in shifted.events] == [e.frame + 1980 for e in report.events]
    np.testing.assert_allclose([e.time_s for e in shifted.events], [e.time_s + 66.0 for e in report.events])
    assert [(s.start_frame, s.end_frame, s.toe_off_frame) for s in shifted.strides] == [
        (s.start_frame + 1980, s.end_frame + 1980, None if s.toe_off_frame is None else s.toe_off_frame + 1980)
        for s in report.strides]
    assert [(s.stride_time_s, s.stride_length_m) for s in shifted.strides] == [
        (s.stride_time_s, s.stride_length_m) for s in report.strides]
    assert shifted.parameters == report.parameters and shifted.duration_s == report.duration_s
    assert list(shifted.angles.index[:2]) == [1980, 1981]
    assert shifted.angles["time_s"].iloc[0] == pytest.approx(66.0)
    np.testing.assert_array_equal(shifted.angles.drop(columns="time_s").to_numpy(),
                                  report.angles.drop(columns="time_s").to_numpy())
    assert on_source_timeline(report, 0) is report
    with pytest.raises(ValueError):
        on_source_timeline(report, -1)
