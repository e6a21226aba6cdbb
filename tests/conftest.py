"""Settings and fixtures for the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run torch on one thread in tests: on the shared 2-core CI machine, with BlazePose or a database server
    beside it, the small test models were about 10x faster on one thread than on two."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency; kept for clarity
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _main_module_kept():
    """Put back ``sys.modules["__main__"]`` after each test. Streamlit's script runner (AppTest) installs the app
    script as ``__main__`` and never restores it; a process started later with the "spawn" method (the batch's
    process pool) re-imports ``__main__`` from that path, runs the script outside Streamlit and dies
    (BrokenProcessPool). tests/ui/test_apptest_isolation.py is that order."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


# ---------------------------------------------------------------------------------------------------------
# What the product really produces, computed once per session (database tests store it on both engines)
# ---------------------------------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"
HORST_C3D = REPO / ".." / "shared" / "data" / "mocap" / "horst2019_S01" / "c3d" / "S01_0011_Gait.c3d"


@pytest.fixture(scope="session")
def real_sample_result():
    """A real :class:`AnalysisResult` of the bundled sample video: real decoding, BlazePose, the bundled lifter
    and the analysis against the bundled reference (no database), with a 170 cm height. ~15 s, once a session."""
    from gaitscope.pipeline.steps import AnalysisOptions, run_stages

    return run_stages(SAMPLE_VIDEO, AnalysisOptions(height_cm=170.0, workers=1))


@pytest.fixture(scope="session")
def real_c3d_result():
    """A real :class:`AnalysisResult` of a marker-based C3D trial (Horst 2019, subject 1), no database."""
    if not HORST_C3D.exists():
        pytest.skip(f"shared motion-capture data not found at {HORST_C3D}")
    from gaitscope.pipeline.mocap import analyze_mocap

    return analyze_mocap(HORST_C3D)


# ---------------------------------------------------------------------------------------------------------
# Videos for the io / pose2d / pipeline tests: small videos written with cv2.VideoWriter, and the shared real
# clips (was tests/platform/conftest.py)
# ---------------------------------------------------------------------------------------------------------

import struct  # noqa: E402
from typing import Callable  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
VIDEO_DIR = SHARED_DATA / "video"
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "gaitscope" / "data" / "sample"

FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".webm": "VP80"}

Frame = Callable[[int], np.ndarray]


def write_video(path: Path, frame: Frame, n_frames: int, fps: float = 30.0, fourcc: str | None = None) -> Path:
    """Write ``frame(k)`` for k < n_frames; the size is taken from the first frame."""
    first = frame(0)
    h, w = first.shape[:2]
    code = fourcc or FOURCC[path.suffix.lower()]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*code), fps, (w, h))
    assert writer.isOpened(), f"cannot write {path} with {code}"
    try:
        for k in range(n_frames):
            writer.write(first if k == 0 else frame(k))
    finally:
        writer.release()
    return path


def gray_level_frame(k: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Uniform frame whose grey level encodes the frame index (10 levels per frame) + a red corner marker."""
    w, h = size
    img = np.full((h, w, 3), (10 * k) % 250, np.uint8)
    img[: h // 6, : w // 6] = (0, 0, 255)
    return img


def empty_room_frame(k: int, size: tuple[int, int] = (640, 360)) -> np.ndarray:
    """A background-only scene (wall, floor, a small table, a door) with sensor noise: no person."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[: int(h * 0.6)] = (205, 210, 215)
    img[int(h * 0.6):] = (40, 80, 130)
    cv2.rectangle(img, (int(w * 0.05), int(h * 0.1)), (int(w * 0.2), int(h * 0.6)), (90, 70, 60), -1)
    cx = int(w * 0.55)
    cv2.ellipse(img, (cx, int(h * 0.45)), (45, 12), 0, 0, 360, (240, 240, 240), -1)
    cv2.line(img, (cx, int(h * 0.45)), (cx, int(h * 0.75)), (120, 120, 120), 5)
    for dx in (-30, 30):
        cv2.line(img, (cx, int(h * 0.75)), (cx + dx, int(h * 0.8)), (60, 60, 60), 5)
    rng = np.random.default_rng(k)
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_video(name, frame=gray_level_frame, n_frames=20, fps=30)`` -> path in tmp_path."""

    def _make(name: str = "clip.mp4", frame: Frame = gray_level_frame, n_frames: int = 20, fps: float = 30.0,
              fourcc: str | None = None) -> Path:
        return write_video(tmp_path / name, frame, n_frames, fps, fourcc)

    return _make


def set_mp4_rotation(src: Path, dst: Path, degrees: int) -> Path:
    """Copy an MP4 and set its track-header display matrix to a clockwise rotation (what phones write)."""
    data = bytearray(src.read_bytes())
    t = data.find(b"tkhd")
    assert t > 0, "no tkhd box"
    matrix_at = t + (44 if data[t + 4] == 0 else 56)
    a, b, c, d = {0: (1, 0, 0, 1), 90: (0, 1, -1, 0), 180: (-1, 0, 0, -1), 270: (0, -1, 1, 0)}[degrees]
    vals = list(struct.unpack(">9i", data[matrix_at: matrix_at + 36]))
    vals[0], vals[1], vals[3], vals[4] = a << 16, b << 16, c << 16, d << 16
    data[matrix_at: matrix_at + 36] = struct.pack(">9i", *vals)
    dst.write_bytes(bytes(data))
    return dst


def shared_video(*parts: str) -> Path:
    """Path of a shared real clip, or skip the test with the reason."""
    p = VIDEO_DIR.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real clip not available: {p} (needs ../shared/data beside the repository)")
    return p


@pytest.fixture
def vt():
    """Video helpers for tests (test modules must not import conftest: several test folders have one)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        write_video=write_video,
        gray_level_frame=gray_level_frame,
        empty_room_frame=empty_room_frame,
        set_mp4_rotation=set_mp4_rotation,
        make_faststart=make_faststart,
        shared_video=shared_video,
        sample_dir=SAMPLE_DIR,
    )


def make_faststart(src: Path, dst: Path) -> Path:
    """Rewrite an MP4 with its index ('moov') before the media data, as streaming exports do.

    Only 32-bit chunk offsets ('stco', what OpenCV's writer produces) are shifted by the moov size.
    """
    data = src.read_bytes()
    boxes = []
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos: pos + 8])
        boxes.append((kind, data[pos: pos + size]))
        pos += size
    kinds = [k for k, _ in boxes]
    moov = bytearray(dict(boxes)[b"moov"])
    assert kinds.index(b"moov") > kinds.index(b"mdat"), "already fast-start"
    i = 0
    while (i := moov.find(b"stco", i)) > 0:
        n = struct.unpack(">I", moov[i + 8: i + 12])[0]
        for e in range(n):
            at = i + 12 + 4 * e
            moov[at: at + 4] = struct.pack(">I", struct.unpack(">I", moov[at: at + 4])[0] + len(moov))
        i += 4
    mdat_at = kinds.index(b"mdat")
    parts = [b for k, b in boxes if k != b"moov"]
    out = b"".join(parts[:mdat_at] + [bytes(moov)] + parts[mdat_at:])
    dst.write_bytes(out)
    return dst
