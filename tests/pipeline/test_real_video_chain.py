"""The whole chain on a real phone-like video nobody here made (../shared/data/video/sarwesh_side, MIT).

Side view, 1920x1080 at 59.7 fps, 2.3 s, about two strides; the heel separation peaks about every 33 frames,
i.e. a cadence of about 110 steps/min. Decoding, BlazePose, the bundled lifter and the analysis must find at
least 3 heel strikes and a cadence within 10 % of 110 steps/min.

A hand-checkable fact of a steady walker: no step is a few centimetres long. BlazePose swaps the legs where they
cross on this clip, which gave a stride with a 0.017 m step that was averaged into the step length; a stride that
cannot be real is now left out with a note (the target of two equal alternating step times is not met yet).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitscope.pipeline.steps import AnalysisOptions, run_stages

VIDEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "video" / "sarwesh_side" / "sarwesh_side.mp4"


@pytest.mark.realdata
@pytest.mark.slow
def test_real_side_view_video_gives_heel_strikes_and_a_plausible_cadence():
    if not VIDEO.exists():
        pytest.skip(f"real video not found at {VIDEO} (needs ../shared/data beside the repository)")
    result = run_stages(VIDEO, AnalysisOptions(workers=1))
    heel_strikes = [e for e in result.report.events if e.kind == "heel_strike"]
    assert len(heel_strikes) >= 3
    assert result.report.parameter("cadence").value == pytest.approx(110.0, rel=0.10)
    assert result.keypoints.n_frames == result.video.n_frames  # the person is found in every frame
    steps = [s.step_length_m for s in result.report.strides if s.step_length_m == s.step_length_m]  # NaN: none
    assert steps and min(steps) > 0.3, steps
    # the legs' labels swap inside the strides of this clip: stance is left out there, with a note, not guessed
    assert any("not measured" in w and "swapped" in w for w in result.report.warnings)
