"""Read MediaPipe Pose landmark files (33 BlazePose landmarks per frame, normalised image coordinates).

Clinics and studies that ran MediaPipe themselves keep only the landmark table, not the video (for example the
Parkinson's recordings of Deng et al., npj Parkinson's Disease 2024). Such a file enters the pipeline at the 2D
stage: it becomes a :class:`~gaitscope.records.Keypoints2D` through the same BlazePose-to-H36M mapping as our own
BlazePose stage (:func:`gaitscope.io.blazepose_map.blazepose_to_h36m`), then is lifted and analyzed as a
video would be.

**Format** (CSV, comma-separated, one row per frame, an optional header row is skipped):

=================  ==================================================================================
numbers per row     meaning
=================  ==================================================================================
101 / 134           timestamp, detection flag, 33 x (x, y, z) / 33 x (x, y, z, visibility)
100 / 133           timestamp, 33 x (x, y, z) / 33 x (x, y, z, visibility)
99 / 132            33 x (x, y, z) / 33 x (x, y, z, visibility): no timestamps, give ``fps``
=================  ==================================================================================

x and y are MediaPipe's normalised image coordinates (0-1 across the width and the height), z its relative depth
(not used: the lifter makes its own depth). Timestamps are read as microseconds when the median frame interval
exceeds 1000, milliseconds when it exceeds 1, else seconds; the frame rate is 1 / median interval and each row
goes to frame ``round((t - t0) / interval)``, so dropped frames become gaps (filled linearly up to
``max_gap_s``, longer gaps split the walk and the longest stretch is kept, as for the other keypoint
importers). A flag of 0 means "no person in this frame".

**Out of the image is missing.** MediaPipe extrapolates landmarks it cannot see: when the camera cuts the feet
off, the ankles come with y > 1. Such landmarks (x or y outside [0, 1]) are kept as NaN with confidence 0, the
"unknown joint" the lifter saw in its masked pretraining, never as positions. Visibility, when the file has it, is
the confidence (below ``min_visibility`` it counts as missing too, as in the video path).

**Image size.** Normalised coordinates hide the aspect ratio, which the lifter needs (x and y must be in the
same pixels). Give ``width``/``height`` when known. Otherwise it is estimated from the body: over the frames
where the shoulders look widest (the person faces the camera), the vertical shoulder-to-hip distance is about
1.11 x the shoulder width (Winter 2009, segment lengths as fractions of height: shoulder 0.818 H, hip 0.530 H,
biacromial breadth 0.259 H), and the nearest common aspect ratio (16:9, 4:3, 1:1, 3:4, 9:16) is taken. The
guess is written to ``notes``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gaitscope.errors import KeypointFormatError
from gaitscope.io.blazepose_map import DEFAULT_MIN_VISIBILITY, blazepose_to_h36m
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import BLAZEPOSE_LANDMARKS

N_LANDMARKS = len(BLAZEPOSE_LANDMARKS)  # 33
LANDMARK_SUFFIXES: tuple[str, ...] = (".csv",)
#: (numbers per row) -> (has timestamp, has flag, values per landmark)
_LAYOUTS: dict[int, tuple[bool, bool, int]] = {
    2 + 3 * N_LANDMARKS: (True, True, 3),
    2 + 4 * N_LANDMARKS: (True, True, 4),
    1 + 3 * N_LANDMARKS: (True, False, 3),
    1 + 4 * N_LANDMARKS: (True, False, 4),
    3 * N_LANDMARKS: (False, False, 3),
    4 * N_LANDMARKS: (False, False, 4),
}
#: Common image aspect ratios (width / height) the estimate snaps to.
ASPECTS: tuple[tuple[str, float], ...] = (("16:9", 16 / 9), ("4:3", 4 / 3), ("1:1", 1.0), ("3:4", 3 / 4),
                                          ("9:16", 9 / 16))
#: Vertical shoulder-to-hip distance / biacromial breadth of an upright adult (Winter 2009: (0.818 - 0.530) / 0.259).
TORSO_PER_SHOULDER_WIDTH = (0.818 - 0.530) / 0.259
#: Long side of the image assumed when the size is estimated (only the aspect ratio matters to the lifter).
ASSUMED_LONG_SIDE_PX = 1920


def is_landmark_file(path: str | os.PathLike[str]) -> bool:
    """True for files ``gaitscope analyze`` reads as MediaPipe landmark tables (``.csv``)."""
    return Path(path).suffix.lower() in LANDMARK_SUFFIXES


@dataclass(frozen=True)
class LandmarkTable:
    """The file as read: normalised landmarks per row, before any frame or image-size decision."""

    landmarks: np.ndarray  # (N, 33, 3|4) x, y, z[, visibility], normalised image coordinates
    timestamps_s: np.ndarray | None  # (N,) seconds, or None when the file has none
    detected: np.ndarray  # (N,) bool: the flag column (True when absent)

    @property
    def has_visibility(self) -> bool:
        return self.landmarks.shape[-1] == 4


def read_landmark_table(path: str | os.PathLike[str]) -> LandmarkTable:
    """Parse the CSV (see the module docstring for the layouts); :class:`KeypointFormatError` when it is not one."""
    p = Path(path)
    if not p.exists():
        raise KeypointFormatError(f"The landmark file '{p}' does not exist.", "Check the file name and folder.")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KeypointFormatError(f"'{p.name}' is not a text (CSV) file.",
                                  "Choose the .csv landmark table written for MediaPipe Pose.") from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and not _is_numeric_row(lines[0]):
        lines = lines[1:]  # header
    if not lines:
        raise KeypointFormatError(f"The landmark file '{p.name}' is empty.",
                                  "MediaPipe found no person in this recording, or the export failed.")
    try:
        arr = np.array([[float(v) for v in ln.split(",")] for ln in lines], dtype=np.float64)
    except ValueError as exc:
        widths = sorted({len(ln.split(",")) for ln in lines})
        if len(widths) > 1:
            raise KeypointFormatError(f"'{p.name}': rows have different numbers of values ({widths}).",
                                      "Export the landmarks again; the file may be cut short.") from exc
        raise KeypointFormatError(f"'{p.name}' contains values that are not numbers.",
                                  "Export the landmarks again from MediaPipe.") from exc
    layout = _LAYOUTS.get(arr.shape[1])
    if layout is None:
        raise KeypointFormatError(
            f"'{p.name}' has {arr.shape[1]} values per row; a MediaPipe Pose table has 33 landmarks x (x, y, z) or "
            "(x, y, z, visibility), optionally after a timestamp and a detection flag (99-134 values).",
            "Check that the file holds MediaPipe Pose (33-landmark) output, not hands or face.",
        )
    has_t, has_flag, per = layout
    col = 0
    ts = None
    if has_t:
        ts = arr[:, 0]
        col = 1
    detected = np.ones(len(arr), dtype=bool)
    if has_flag:
        detected = arr[:, 1] != 0
        col = 2
    lm = arr[:, col:].reshape(len(arr), N_LANDMARKS, per)
    if ts is not None:
        if not np.isfinite(ts).all():
            raise KeypointFormatError(f"'{p.name}': some timestamps are not numbers.", "Export the landmarks again.")
        if len(ts) > 1 and np.any(np.diff(ts) < 0):
            raise KeypointFormatError(f"'{p.name}': the timestamps go backwards.",
                                      "Export the landmarks again; rows must be in time order.")
        ts = _to_seconds(ts)
    detected &= np.isfinite(lm[..., :2]).all(axis=(1, 2)) & (np.abs(lm[..., :2]).sum(axis=(1, 2)) > 0)
    return LandmarkTable(lm, ts, detected)


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
    except ValueError:
        return False
    return True


def _to_seconds(ts: np.ndarray) -> np.ndarray:
    steps = np.diff(ts)
    steps = steps[steps > 0]
    med = float(np.median(steps)) if steps.size else 1.0
    unit = 1e-6 if med > 1000 else 1e-3 if med > 1 else 1.0
    return (ts - ts[0]) * unit


def estimate_aspect(landmarks: np.ndarray, seen: np.ndarray) -> tuple[str, float] | None:
    """Nearest common width/height ratio from body proportions (module docstring); None when not judgeable."""
    ls, rs, lh, rh = (BLAZEPOSE_LANDMARKS.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip",
                                                               "right_hip"))
    ok = seen[:, [ls, rs, lh, rh]].all(axis=1)
    if ok.sum() < 5:
        return None
    xy = landmarks[ok][..., :2]
    sw = np.abs(xy[:, ls, 0] - xy[:, rs, 0])
    torso = np.abs(0.5 * (xy[:, ls, 1] + xy[:, rs, 1]) - 0.5 * (xy[:, lh, 1] + xy[:, rh, 1]))
    front = sw >= np.quantile(sw, 0.9)  # the frames facing the camera most
    if not np.any(sw[front] > 0):
        return None
    ratio = float(np.median(torso[front] / np.maximum(sw[front], 1e-6)))  # in normalised units
    aspect = ratio / TORSO_PER_SHOULDER_WIDTH  # W/H that makes it anatomical in pixels
    return min(ASPECTS, key=lambda a: abs(math.log(a[1]) - math.log(max(aspect, 1e-6))))


def load_mediapipe_csv(
    path: str | os.PathLike[str],
    fps: float | None = None,
    width: int | None = None,
    height: int | None = None,
    *,
    max_gap_s: float = 0.5,
    min_visibility: float = DEFAULT_MIN_VISIBILITY,
) -> Keypoints2D:
    """Read a MediaPipe Pose landmark CSV into H36M-17 :class:`Keypoints2D` (pixels; see module docstring).

    ``fps`` is required when the file has no timestamps and overrides them otherwise. ``raw`` keeps the 33
    landmarks in pixels (``raw_format`` "blazepose33"; z is 0, NaN where outside the image) so the heels and
    toes remain available.
    """
    from gaitscope.io.keypoints import _assemble, _check_fps

    p = Path(path)
    table = read_landmark_table(p)
    notes: list[str] = [f"MediaPipe Pose landmarks read from {p.name} ({len(table.detected)} rows"
                        f"{', with visibility' if table.has_visibility else ', no visibility column'})."]
    if fps is None:
        if table.timestamps_s is None:
            raise KeypointFormatError(f"'{p.name}' has no timestamps, so its frame rate is unknown.",
                                      "Give the frame rate of the video the landmarks came from (e.g. 30).")
        steps = np.diff(table.timestamps_s)
        steps = steps[steps > 0]
        if not steps.size:
            raise KeypointFormatError(f"'{p.name}': all rows have the same timestamp.", "Export the landmarks again.")
        fps = 1.0 / float(np.median(steps))
    fps = _check_fps(fps, p.name)
    if table.timestamps_s is not None:
        frame_no = np.rint(table.timestamps_s * fps).astype(np.int64)
    else:
        frame_no = np.arange(len(table.detected), dtype=np.int64)

    lm = table.landmarks
    xy_n = lm[..., :2]
    inside = np.isfinite(xy_n).all(axis=-1) & (xy_n >= 0.0).all(axis=-1) & (xy_n <= 1.0).all(axis=-1)
    vis = np.clip(lm[..., 3], 0.0, 1.0) if table.has_visibility else np.ones(inside.shape)
    seen = inside & table.detected[:, None]
    if not seen.any():
        raise KeypointFormatError(f"'{p.name}': no landmark lies inside the image.",
                                  "Check that the file holds normalised (0-1) MediaPipe coordinates.")

    if width is None or height is None:
        guess = estimate_aspect(lm, seen & (vis >= min_visibility))
        name, aspect = guess if guess is not None else ("16:9", 16 / 9)
        if width is None and height is None:
            if aspect >= 1:
                width, height = ASSUMED_LONG_SIDE_PX, int(round(ASSUMED_LONG_SIDE_PX / aspect))
            else:
                width, height = int(round(ASSUMED_LONG_SIDE_PX * aspect)), ASSUMED_LONG_SIDE_PX
        elif width is None:
            width = int(round(height * aspect))
        else:
            height = int(round(width / aspect))
        how = "from the body's proportions" if guess is not None else "by default (too few frames to judge)"
        notes.append(f"The image size was not given; {name} ({width}x{height} px) was assumed {how}. "
                     "Give the video's size for accurate 3D lifting.")

    frames: dict[int, np.ndarray] = {}
    dup = 0
    for row in np.flatnonzero(table.detected):
        f = int(frame_no[row])
        if f in frames:
            dup += 1
            continue
        pts = np.full((N_LANDMARKS, 3), np.nan)
        pts[:, 0] = xy_n[row, :, 0] * width
        pts[:, 1] = xy_n[row, :, 1] * height
        pts[:, 2] = np.where(inside[row], vis[row], 0.0)
        pts[~inside[row], :2] = np.nan
        frames[f] = pts
    if dup:
        notes.append(f"{dup} row(s) repeated the timestamp of an earlier row and were left out.")
    if not frames:
        raise KeypointFormatError(f"'{p.name}': no frame with a detected person.",
                                  "MediaPipe found no person in this recording.")
    out_frac = 1.0 - inside[table.detected].mean(axis=0)
    cut = [BLAZEPOSE_LANDMARKS[k] for k in np.flatnonzero(out_frac > 0.05)]
    if cut:
        worst = int(np.argmax(out_frac))
        notes.append(
            f"{len(cut)} landmark(s) were outside the image in more than 5 % of frames ({', '.join(cut[:6])}"
            f"{', ...' if len(cut) > 6 else ''}; {BLAZEPOSE_LANDMARKS[worst]} in {100 * out_frac[worst]:.0f} %): "
            "they are treated as missing, not as positions."
        )
    kp = _assemble(
        frames, n_src=N_LANDMARKS, convert=lambda pts: blazepose_to_h36m(pts, min_visibility), fps=fps,
        width=width, height=height, max_gap_s=max_gap_s, source="mediapipe-landmarks-csv",
        raw_format="blazepose33", notes=notes,
    )
    raw = kp.raw.copy()
    raw[~np.isfinite(raw[..., :2]).all(axis=-1)] = np.nan  # keep "outside the image" as missing, not 0
    raw[..., 3] = np.nan_to_num(raw[..., 3], nan=0.0)
    return Keypoints2D(kp.xy_px, kp.conf, kp.fps, kp.width, kp.height, kp.frame_index, kp.interpolated,
                       kp.source, raw, kp.raw_format, kp.notes)
