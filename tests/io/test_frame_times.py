"""Variable-frame-rate video (gaitscope/io/frame_times.py): frame times from the container, keypoints
resampled onto an even clock, and the whole chain on a VFR walk.

Truth is what the test wrote: the presentation time stamp of every frame (PyAV) and, for the walk, the synthetic
walker's own stride time.
"""

from __future__ import annotations

from dataclasses import replace  # noqa: F401  (kept: the branch h20cam uses it; remove if unused after merging)
from fractions import Fraction

import av
import numpy as np
import pytest

from gaitscope.io.frame_times import is_variable_rate, read_frame_times, resample_keypoints
from gaitscope.io.video import probe_video
from gaitscope.records import Keypoints2D


def _write(path, frames, times_s, size):
    """Encode BGR ``frames`` with presentation times ``times_s`` (ms time base) as H.264 in MP4."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for img, t in zip(frames, times_s):
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts = int(round(t * 1000))
            f.time_base = Fraction(1, 1000)
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _uneven_times(n: int) -> np.ndarray:
    """First half at 30 fps, second half at 15 fps (a phone moving into a darker room)."""
    dt = np.where(np.arange(n - 1) < n // 2, 1 / 30, 1 / 15)
    return np.concatenate([[0.0], np.cumsum(dt)])


def test_probe_reads_frame_times_and_the_mean_rate(tmp_path):
    times = _uneven_times(40)
    frames = [np.full((64, 96, 3), 10 * i % 255, np.uint8) for i in range(40)]
    path = tmp_path / "vfr.mp4"
    _write(path, frames, times, (96, 64))
    read = read_frame_times(str(path))
    assert read is not None and len(read) == 40
    np.testing.assert_allclose(read, times, atol=1.5e-3)  # the ms time base
    assert is_variable_rate(read)
    info = probe_video(path)
    assert info.variable_rate and info.n_frames == 40
    assert info.fps == pytest.approx(39 / times[-1], rel=1e-3)  # mean rate, not the 30 the stream declares


def test_constant_rate_video_is_not_variable(tmp_path):
    times = np.arange(30) / 30.0
    path = tmp_path / "cfr.mp4"
    _write(path, [np.zeros((64, 96, 3), np.uint8)] * 30, times, (96, 64))
    assert not is_variable_rate(read_frame_times(str(path)))
    assert not probe_video(path).variable_rate


def test_resampling_puts_keypoints_on_an_even_clock():
    """A joint moving at 100 px/s sampled at uneven times: after resampling at 20 fps, row k is at t = k / 20."""
    times = _uneven_times(31)
    n = len(times)
    xy = np.zeros((n, 17, 2), np.float32)
    xy[..., 0] = (100.0 * times)[:, None]
    kp = Keypoints2D(xy_px=xy, conf=np.ones((n, 17), np.float32), fps=30.0, width=640, height=480,
                     frame_index=np.arange(n), interpolated=np.zeros(n, bool), source="test")
    fps = 20.0
    out = resample_keypoints(kp, times, fps)
    t_new = np.arange(out.n_frames) / fps
    # 15 intervals of 1/30 s and 15 of 1/15 s span 1.5 s: rows at 0, 0.05, ..., 1.5 s
    assert out.n_frames == 31 and out.fps == fps
    np.testing.assert_allclose(out.xy_px[:, 0, 0], 100.0 * t_new, atol=1e-3)
    # each row names the source frame nearest in time
    np.testing.assert_array_equal(out.frame_index, [int(np.argmin(np.abs(times - t))) for t in t_new])
    assert not out.interpolated.any() and "Variable frame rate" in out.notes[-1]


@pytest.mark.slow
def test_a_variable_rate_walk_has_the_walkers_stride_time(tmp_path):
    """The synthetic walker filmed at 30 fps, then 15 fps: every stride time within 5 % of the walker's own.

    Taken as constant-rate, the 15 fps half would run at twice its real speed and its strides would be half as
    long in time as the 30 fps half's.
    """
    from gaitscope.pipeline.steps import AnalysisOptions, run_stages
    from gaitscope.synthetic.make_sample import sample_camera
    from gaitscope.synthetic.render import render_frames
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(fps=30.0, duration_s=7.0, seed=4))
    n = walk.motion.n_frames
    times = np.arange(n) / 30.0
    keep = np.concatenate([np.arange(0, n // 2), np.arange(n // 2, n, 2)])  # every frame, then every other
    cam = sample_camera(walk)
    frames = [f for i, f in enumerate(render_frames(walk, cam, seed=4)) if i in set(keep.tolist())]
    path = tmp_path / "vfr_walk.mp4"
    _write(path, frames, times[keep], (cam.width, cam.height))
    info = probe_video(path)
    assert info.variable_rate
    result = run_stages(info, AnalysisOptions(workers=1))
    assert any("Variable frame rate" in n for n in result.keypoints.notes)
    truth = walk.truth.stride_time_s["L"]  # 60 / 110 steps/min x 2
    assert truth == pytest.approx(1.0909, abs=1e-3)
    stride_times = [s.stride_time_s for s in result.report.strides]
    assert len(stride_times) >= 3
    np.testing.assert_allclose(stride_times, truth, rtol=0.05)
    # events carry the video's own frames and clock (the frames and times the test wrote), not even-clock rows
    written = times[keep]
    truth_hs = [e.time_s for e in walk.truth.events if e.kind == "heel_strike"]
    for e in (e for e in result.report.events if e.kind == "heel_strike"):
        assert abs(written[e.frame] - e.time_s) <= 0.5 / 15 + 0.5 / info.fps + 1e-6
        assert min(abs(t - e.time_s) for t in truth_hs) < 3.0 / 30  # BlazePose + lifter: within 3 frames


def test_events_on_a_vfr_video_carry_the_videos_own_frames_and_times(tmp_path):
    """The walker filmed at 30 fps, then 15 fps (every other frame), written with those time stamps; the 2D
    stage kept the stretch from decoded frame 10 on. Events, strides and angles must name the video's own
    frames (the written frame nearest in time) and its clock (the walker's event times, within the analysis'
    own 2-frame accuracy), not rows of the even clock, which drift from the frames in the 15 fps half.
    Truth is what the test wrote: the frame times and the walker's events."""
    from gaitscope.analysis.report import analyze_gait, on_source_timeline
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(fps=30.0, duration_s=6.0, seed=2))
    n = walk.motion.n_frames
    keep = np.concatenate([np.arange(0, n // 2), np.arange(n // 2, n, 2)])
    written = np.arange(n)[keep] / 30.0  # the video's clock = the walker's clock
    path = tmp_path / "vfr.mp4"
    _write(path, [np.full((64, 96, 3), 10 * i % 255, np.uint8) for i in range(len(keep))], written, (96, 64))
    times = read_frame_times(str(path))
    np.testing.assert_allclose(times, written, atol=1.5e-3)

    first = 10  # the stretch the 2D stage kept starts at decoded frame 10
    rows = len(keep) - first
    kp = Keypoints2D(xy_px=np.zeros((rows, 17, 2), np.float32), conf=np.ones((rows, 17), np.float32),
                     fps=float((len(times) - 1) / times[-1]), width=96, height=64,
                     frame_index=np.arange(first, len(keep)), interpolated=np.zeros(rows, bool), source="test")
    even = resample_keypoints(kp, times, kp.fps)
    np.testing.assert_allclose(even.time_s, times[first] + np.arange(even.n_frames) / even.fps)
    # the lifted motion on the even clock: the walker sampled at those times
    t_walk = np.arange(n) / 30.0
    xyz = np.stack([np.stack([np.interp(even.time_s, t_walk, walk.motion.xyz_m[:, j, c]) for c in range(3)], -1)
                    for j in range(walk.motion.xyz_m.shape[1])], axis=1)
    motion = replace(walk.motion, xyz_m=xyz, fps=even.fps, feet={}, valid=None)
    report = on_source_timeline(analyze_gait(motion), first, frame_index=even.frame_index, time_s=even.time_s)

    truth = [e.time_s for e in walk.truth.events if e.kind == "heel_strike"]
    hs = [e for e in report.events if e.kind == "heel_strike"]
    assert len(hs) >= 6 and any(e.time_s > 3.5 for e in hs)  # strikes in the 15 fps half too
    row_dt = 1.0 / even.fps
    for e in hs:
        # the written frame the nearest even-clock row was taken from: within half a row and half a written
        # interval (1/15 s in the second half) of the event
        gap = np.diff(written)[min(max(e.frame - 1, 0), len(written) - 2):e.frame + 1].max()
        assert abs(written[e.frame] - e.time_s) <= 0.5 * row_dt + 0.5 * gap + 1e-6
        assert min(abs(t - e.time_s) for t in truth) < 2.0 / 30.0  # the video's clock, not rows / mean fps
    for s in report.strides:
        assert abs(written[s.start_frame] - min(truth, key=lambda t: abs(t - written[s.start_frame]))) < 2.5 / 30
    assert report.angles.index[0] == first and report.angles.index[-1] == len(keep) - 1
    np.testing.assert_allclose(report.angles["time_s"].to_numpy(), even.time_s)
