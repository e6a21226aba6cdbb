"""The whole chain on a real phone-like video nobody here made (../shared/data/video/sarwesh_side, MIT).

Side view, 1920x1080 at 59.7 fps, 2.3 s, about two strides; the heel separation peaks about every 33 frames,
i.e. a cadence of about 110 steps/min. Decoding, BlazePose, the bundled lifter and the analysis must find at
least 3 heel strikes and a cadence within 10 % of 110 steps/min.

A hand-checkable fact of a steady walker: no step is a few centimetres long. BlazePose swaps the legs where they
cross on this clip, which gave a stride with a 0.017 m step that was averaged into the step length; a stride that
cannot be real is now left out with a note.

Issue 20's target on this clip: heel strikes that alternate, with step times within 15 % of each other. Truth by
stepping through the video frame by frame: the front foot lands at about frames 32, 63, 97 and 129 (steps of 31,
34, 32 frames). Each strike found must be within 6 frames (100 ms) of one of those: the ankle-as-heel timing is
1-5 frames late on this clip (docs/validation.md, "The real clip").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitscope.pipeline.steps import AnalysisOptions, run_stages

TRUE_STRIKES = (32, 63, 97, 129)  # frames, stepping through the video
VIDEO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "video" / "sarwesh_side" / "sarwesh_side.mp4"


@pytest.mark.realdata
@pytest.mark.slow
def test_real_side_view_video_gives_heel_strikes_and_a_plausible_cadence():
    if not VIDEO.exists():
        pytest.skip(f"real video not found at {VIDEO} (needs ../shared/data beside the repository)")
    result = run_stages(VIDEO, AnalysisOptions(workers=1))
    heel_strikes = sorted((e for e in result.report.events if e.kind == "heel_strike"), key=lambda e: e.frame)
    assert len(heel_strikes) >= 3
    sides = [e.side for e in heel_strikes]
    assert all(a != b for a, b in zip(sides, sides[1:])), sides  # they alternate
    frames = [e.frame for e in heel_strikes]
    assert all(min(abs(f - t) for t in TRUE_STRIKES) <= 6 for f in frames), frames  # none spurious
    steps = [b - a for a, b in zip(frames, frames[1:])]
    assert max(steps) / min(steps) <= 1.15, steps
    # Which foot: at frame 33 the near (left) arm swings back, so the LEFT foot is the one landing (the walker
    # crosses right to left and shows the camera his left side). The sides are right, or the report says that
    # left and right are uncertain (before the stance-merging fix of leg identity the detector's labels at two of
    # the four strikes were exchanged, the vote a tie and the sides wrong; now they are right).
    first = min(heel_strikes, key=lambda e: abs(e.frame - 32))
    assert first.side == "L" or any("which foot is the left one is uncertain" in w for w in result.report.warnings)
    assert result.report.parameter("cadence").value == pytest.approx(110.0, rel=0.10)
    assert result.keypoints.n_frames == result.video.n_frames  # the person is found in every frame
    lengths = [s.step_length_m for s in result.report.strides if s.step_length_m == s.step_length_m]  # NaN: none
    assert lengths and min(lengths) > 0.3, lengths
    # the legs' labels swap inside the strides of this clip: stance is left out there, with a note, not guessed
    assert any("not measured" in w and "swapped" in w for w in result.report.warnings)
