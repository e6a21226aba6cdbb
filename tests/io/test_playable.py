"""Browser-playable copies of recordings (gaitscope.io.playable): camera codecs that browsers cannot play
become H.264/MP4 with every frame kept; browser codecs are used as they are."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from gaitscope.errors import VideoError  # noqa: E402
from gaitscope.io.playable import browser_playable, playable_path, playable_video, video_codec, write_playable_copy


def _clip(path, fourcc: str, n: int = 30, size=(320, 240)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, size)
    assert writer.isOpened()
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 60, np.uint8)
        frame[:, 10 * i % (size[0] - 20):10 * i % (size[0] - 20) + 20] = 220
        writer.write(frame)
    writer.release()
    return path


def _frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_mpeg4_part2_is_transcoded_to_h264_with_every_frame(tmp_path):
    src = _clip(tmp_path / "camera.mp4", "mp4v")
    assert video_codec(src) in ("mp4v", "fmp4") and not browser_playable(src)  # OpenCV names the decoder
    sha = "ab" * 32
    assert playable_video(src, tmp_path / "cache", sha) is None  # nothing written yet
    seen = []
    out = write_playable_copy(src, playable_path(tmp_path / "cache", sha), progress=lambda d, t: seen.append((d, t)))
    assert out.suffix == ".mp4" and video_codec(out) in ("avc1", "h264") and browser_playable(out)
    assert _frames(out) == 30  # the clip was written with 30 frames
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0, abs=0.01)  # written at 25 fps
    cap.release()
    assert seen[-1] == (30, 30)
    assert playable_video(src, tmp_path / "cache", sha) == out
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [out.name]  # no partial file left


def test_wide_video_is_scaled_to_the_maximum_width_keeping_the_aspect(tmp_path):
    src = _clip(tmp_path / "wide.avi", "MJPG", n=5, size=(1280, 720))
    out = write_playable_copy(src, tmp_path / "out.mp4", max_width=640)
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (640, 360)
    cap.release()


def test_a_browser_codec_is_used_as_it_is(tmp_path):
    src = _clip(tmp_path / "web.webm", "VP80", n=5)
    assert browser_playable(src)
    assert playable_video(src, tmp_path / "cache", "cd" * 32) == src
    assert not (tmp_path / "cache").exists()


def test_a_file_that_is_not_a_video_is_refused_without_leftovers(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoError):
        write_playable_copy(bad, tmp_path / "cache" / "x.mp4")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_the_copy_shows_the_same_pictures(tmp_path):
    """Frame k of the copy is frame k of the source (up to compression): the bright bar moves 10 px a frame, so a
    dropped or repeated frame moves it by 10 px."""
    src = _clip(tmp_path / "camera.avi", "MJPG", n=20)
    out = write_playable_copy(src, tmp_path / "copy.mp4")
    a, b = cv2.VideoCapture(str(src)), cv2.VideoCapture(str(out))
    for k in range(20):
        fa, fb = a.read()[1], b.read()[1]
        bar_a = np.flatnonzero(fa[120, :, 1] > 140)
        bar_b = np.flatnonzero(fb[120, :, 1] > 140)
        assert abs(bar_a.mean() - bar_b.mean()) < 2.0, k
    assert not b.read()[0]  # and nothing more
    a.release()
    b.release()


def test_a_vp9_copy_written_by_an_earlier_version_is_still_played(tmp_path):
    src = _clip(tmp_path / "camera.mp4", "mp4v", n=5)
    sha = "ef" * 32
    legacy = playable_path(tmp_path / "cache", sha).with_suffix(".webm")
    _clip(legacy.parent.mkdir(parents=True) or legacy, "VP90", n=5)
    assert playable_video(src, tmp_path / "cache", sha) == legacy
