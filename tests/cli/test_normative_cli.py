"""``gaitscope normative build`` on a folder of healthy VIDEOS: each walk is analyzed against the bundled reference
set (found in session 6: the video branch imported ``bundled_reference_set`` from a module that only imports it
inside a function, so every video walk failed with an ImportError; mocap walks took the other branch)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from gaitscope.analysis.normative_build import bundled_reference_set


def test_a_video_walk_is_analyzed_against_the_bundled_reference(tmp_path, monkeypatch):
    from gaitscope.cli import normative
    from gaitscope.pipeline import steps

    seen = {}

    def fake_run_stages(path, options, reference=None, **kwargs):
        # the 2D/3D stages are not under test: record what the build asked for
        seen.update(path=Path(path), height_cm=options.height_cm, reference=reference)
        return SimpleNamespace(motion="motion", report="report")

    monkeypatch.setattr(steps, "run_stages", fake_run_stages)
    video = tmp_path / "S01_walk.mp4"
    video.write_bytes(b"")
    report, leg = normative.analyze_walk(normative.Walk(path=video, subject="S01", height_cm=180.0))

    assert report == "report"
    assert seen["path"] == video and seen["height_cm"] == 180.0
    # the reference is the bundled set (independent truth: its own loader), not a file's or a saved one
    assert seen["reference"].name == bundled_reference_set().name
    assert abs(leg - 0.530 * 1.80) < 1e-9  # Winter 2009: greater trochanter height = 0.530 x stature
