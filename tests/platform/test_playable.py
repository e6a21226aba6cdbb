"""Browser-playable copies of recordings (gaitscope.platform.playable): camera codecs that browsers cannot play
become VP9/WebM with every frame kept; browser codecs are used as they are."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from gaitscope.errors import VideoError  # noqa: E402
from gaitscope.platform.playable import (  # noqa: E402
    browser_playable,
    playable_path,
    playable_video,
    video_codec,
    write_playable_copy,
)


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


def test_mpeg4_part2_is_transcoded_to_vp9_with_every_frame(tmp_path):
    src = _clip(tmp_path / "camera.mp4", "mp4v")
    assert video_codec(src) in ("mp4v", "fmp4") and not browser_playable(src)  # OpenCV names the decoder
    sha = "ab" * 32
    assert playable_video(src, tmp_path / "cache", sha) is None  # nothing written yet
    seen = []
    out = write_playable_copy(src, playable_path(tmp_path / "cache", sha), progress=lambda d, t: seen.append((d, t)))
    assert video_codec(out) == "vp90" and browser_playable(out)
    assert _frames(out) == 30  # the clip was written with 30 frames
    assert seen[-1] == (30, 30)
    assert playable_video(src, tmp_path / "cache", sha) == out
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [out.name]  # no partial file left


def test_wide_video_is_scaled_to_the_maximum_width_keeping_the_aspect(tmp_path):
    src = _clip(tmp_path / "wide.avi", "MJPG", n=5, size=(1280, 720))
    out = write_playable_copy(src, tmp_path / "out.webm", max_width=640)
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
        write_playable_copy(bad, tmp_path / "cache" / "x.webm")
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
