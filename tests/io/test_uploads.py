"""Safe upload handling: names never become paths, content decides the type, limits hold, no temp files stay."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gaitscope.errors import InvalidInputError, VideoError
from gaitscope.io.uploads import (
    UploadLimits,
    leftover_temp_files,
    sanitize_filename,
    sniff_container,
    staged_upload,
    store_upload,
)


def _only_files(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


def test_traversal_name_is_stored_under_a_generated_name_inside_the_uploads_dir(make_video, tmp_path):
    video = make_video("clip.mp4")
    uploads = tmp_path / "uploads"
    stored = store_upload(io.BytesIO(video.read_bytes()), "../../etc/passwd.mp4", uploads)
    assert stored.path.parent.resolve() == uploads.resolve()
    assert stored.storage_name == stored.path.name
    assert stored.path.suffix == ".mp4" and len(stored.path.stem) == 32  # uuid4 hex
    assert "passwd" not in stored.storage_name
    assert stored.original_name == "passwd.mp4"  # metadata only, no folders
    assert not [p for p in tmp_path.parent.rglob("passwd*")]  # nothing written under the user's name anywhere
    assert _only_files(uploads) == [stored.path]
    assert stored.info.n_frames == 20 and stored.info.path == str(stored.path)
    assert stored.size_bytes == video.stat().st_size and len(stored.sha256) == 64


def test_two_uploads_of_the_same_name_do_not_overwrite(make_video, tmp_path):
    data = make_video("clip.mp4").read_bytes()
    a = store_upload(io.BytesIO(data), "walk.mp4", tmp_path / "u")
    b = store_upload(io.BytesIO(data), "walk.mp4", tmp_path / "u")
    assert a.path != b.path and a.path.exists() and b.path.exists()


def test_file_claiming_to_be_mp4_but_not_a_video_is_refused_and_cleaned_up(tmp_path):
    uploads = tmp_path / "uploads"
    with pytest.raises(VideoError, match="not a video gaitscope accepts") as err:
        store_upload(io.BytesIO(b"<html><script>alert(1)</script></html>" * 100), "walk.mp4", uploads)
    assert "walk.mp4" in str(err.value)
    assert _only_files(uploads) == []


def test_right_magic_bytes_but_undecodable_content_is_refused_by_the_probe(tmp_path):
    uploads = tmp_path / "uploads"
    fake = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(4000)
    with pytest.raises(VideoError) as err:
        store_upload(io.BytesIO(fake), "fake.mp4", uploads)
    assert ".incoming-" not in str(err.value)  # the message names the user's file, not our temp file
    assert _only_files(uploads) == []


def test_size_limit_holds_while_streaming(make_video, tmp_path):
    data = make_video("clip.mp4").read_bytes()
    with pytest.raises(InvalidInputError, match="upload limit"):
        store_upload(io.BytesIO(data), "big.mp4", tmp_path / "u", UploadLimits(max_bytes=len(data) - 1))
    assert _only_files(tmp_path / "u") == []


def test_duration_limit(make_video, tmp_path):
    data = make_video("clip.mp4", n_frames=60, fps=30).read_bytes()  # 2 s
    with pytest.raises(VideoError, match="long|longer"):
        store_upload(io.BytesIO(data), "long.mp4", tmp_path / "u", UploadLimits(max_duration_s=1.0))
    assert _only_files(tmp_path / "u") == []


def test_staged_upload_removes_temp_file_when_the_caller_fails_before_commit(make_video, tmp_path):
    data = make_video("clip.mp4").read_bytes()
    uploads = tmp_path / "u"
    with pytest.raises(RuntimeError):
        with staged_upload(io.BytesIO(data), "walk.mp4", uploads) as staged:
            assert staged.tmp_path.exists() and staged.info.n_frames == 20
            raise RuntimeError("database down")
    assert _only_files(uploads) == [] and leftover_temp_files(uploads) == []
    with staged_upload(io.BytesIO(data), "walk.mp4", uploads) as staged:
        stored = staged.commit()
    assert _only_files(uploads) == [stored.path]


@pytest.mark.parametrize("ext", [".avi", ".webm"])
def test_other_containers_are_sniffed_and_stored_with_their_extension(make_video, tmp_path, ext):
    video = make_video(f"clip{ext}")
    stored = store_upload(io.BytesIO(video.read_bytes()), f"clip{ext}", tmp_path / "u")
    assert stored.path.suffix == ext and stored.container == ext[1:]


def test_sniff_container_signatures():
    assert sniff_container(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00") == "mov"
    assert sniff_container(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00") == "mp4"
    assert sniff_container(b"RIFF\x00\x00\x00\x00AVI LIST") == "avi"
    assert sniff_container(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == "webm"
    assert sniff_container(b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska") == "mkv"
    assert sniff_container(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff_container(b"GIF89a") is None
    assert sniff_container(b"") is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("C:\\Users\\x\\walk 1.mp4", "walk 1.mp4"),
        ("..", "video"),
        ("", "video"),
        (None, "video"),
        (".hidden.mp4", "hidden.mp4"),
        ("a\x00b\nc.mp4", "abc.mp4"),
        ("<script>.mp4", "_script_.mp4"),
        ("x" * 300 + ".mp4", "x" * 116 + ".mp4"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_full_disk_during_an_upload_is_a_message_and_leaves_no_partial_file(make_video, tmp_path, monkeypatch):
    import errno
    import os

    from gaitscope.errors import OutputError
    from gaitscope.io import uploads as uploads_module

    real_fdopen = os.fdopen

    class FullDisk:
        """The upload's file: half of the first chunk reaches the disk, then the disk is full."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(uploads_module.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    video = make_video("clip.mp4")
    uploads = tmp_path / "uploads"
    with pytest.raises(OutputError, match=r"The server's disk is full: 'clip.mp4' could not be received"):
        store_upload(io.BytesIO(video.read_bytes()), "clip.mp4", uploads)
    assert _only_files(uploads) == [] and leftover_temp_files(uploads) == []
