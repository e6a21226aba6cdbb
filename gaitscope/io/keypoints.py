"""Import and export 2D keypoints from other detectors: COCO-17 / AlphaPose JSON and OpenPose BODY_25 JSON.

Clinics that already run AlphaPose, MMPose or OpenPose can skip our BlazePose stage: their files are
converted to :class:`~gaitscope.records.Keypoints2D` in H36M-17 order, the DSTformer's input layout.

**COCO-17 -> H36M-17** (COCO order: 0 nose, 1/2 L/R eye, 3/4 L/R ear, 5/6 L/R shoulder, 7/8 elbows,
9/10 wrists, 11/12 L/R hip, 13/14 knees, 15/16 ankles)

===================  ==========================================  =====================
H36M joint            COCO source                                 confidence
===================  ==========================================  =====================
0 pelvis              mid(11, 12)                                 min
1/2/3 R hip/knee/ank  12 / 14 / 16                                own
4/5/6 L hip/knee/ank  11 / 13 / 15                                own
7 spine               mid(pelvis, thorax)                         min
8 thorax              mid(5, 6)                                   min
9 nose                0                                           own
10 head               mid_ears + 0.5 * (mid_ears - thorax)        min(ears, thorax)
11/12/13 L arm        5 / 7 / 9                                   own
14/15/16 R arm        6 / 8 / 10                                  own
===================  ==========================================  =====================

Head: MotionBERT's own ``coco2h36m`` uses mid-eyes. We use the same head-top (crown) estimate as for
BlazePose (:mod:`gaitscope.io.blazepose_map`) so that every source gives the lifter one convention,
the one of H36M's crown marker.

**OpenPose BODY_25 -> H36M-17** (0 nose, 1 neck, 2-4 R shoulder/elbow/wrist, 5-7 L arm, 8 mid-hip,
9-11 R hip/knee/ankle, 12-14 L leg, 15/16 R/L eye, 17/18 R/L ear, 19-24 L big toe, L small toe, L heel,
R big toe, R small toe, R heel): pelvis = 8 (mid-hip, own confidence), thorax = 1 (neck), spine =
mid(pelvis, thorax), head = crown estimate from the ears (17, 18) and the neck, the other joints direct.

The original points stay in ``Keypoints2D.raw`` (``raw_format`` "coco17" or "openpose_body25"; the third
channel is 0, the fourth the score), so OpenPose's heels and toes remain available to gait-event detection.

**Several people.** If detections carry a track id (AlphaPose ``idx``), the track seen in most frames is
kept; otherwise, per frame, the detection with the highest score (COCO ``score``, else the mean keypoint
confidence). The choice is written to ``notes``.

**Missing frames.** Frames without the chosen person inside gaps up to ``max_gap_s`` are filled linearly
and flagged in ``interpolated``; longer gaps split the sequence and the longest stretch is kept (noted).
Confidences are used as given (clipped to [0, 1]); nothing is thresholded on import.

**Export.** :func:`save_coco_json` and :func:`save_openpose_dir` write files that these loaders read back
to the same joints: eyes and ears come from ``raw`` when it is in the same format; otherwise eyes are
written at the nose with score 0 ("not measured") and both ears at the point from which the head-top rule
gives back the H36M head. Pelvis, thorax and spine survive a round trip whenever they are the mid-points
defined above, as for every 2D source in this platform.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from gaitscope.errors import KeypointFormatError
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import NUM_JOINTS

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
BODY25 = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)

# H36M index -> source index, for joints copied one to one.
_COCO_DIRECT = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 9: 0, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
_BODY25_DIRECT = {0: 8, 1: 9, 2: 10, 3: 11, 4: 12, 5: 13, 6: 14, 8: 1, 9: 0, 11: 5, 12: 6, 13: 7, 14: 2, 15: 3, 16: 4}


# ---------------------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------------------


def _head_top(mid_ears: np.ndarray, thorax: np.ndarray) -> np.ndarray:
    return mid_ears + 0.5 * (mid_ears - thorax)


def _ears_for_head(head: np.ndarray, thorax: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_head_top`: the mid-ears point that gives back ``head``."""
    return (head + 0.5 * thorax) / 1.5


def coco17_to_h36m(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 17, 3)`` COCO x, y, score -> H36M ``xy (T, 17, 2)``, ``conf (T, 17)`` (see module table)."""
    xy_c, s = pts[..., :2].astype(np.float64), pts[..., 2].astype(np.float64)
    t = pts.shape[0]
    xy = np.zeros((t, NUM_JOINTS, 2))
    conf = np.zeros((t, NUM_JOINTS))
    for j, c in _COCO_DIRECT.items():
        xy[:, j], conf[:, j] = xy_c[:, c], s[:, c]
    xy[:, 0], conf[:, 0] = 0.5 * (xy_c[:, 11] + xy_c[:, 12]), np.minimum(s[:, 11], s[:, 12])
    xy[:, 8], conf[:, 8] = 0.5 * (xy_c[:, 5] + xy_c[:, 6]), np.minimum(s[:, 5], s[:, 6])
    xy[:, 7], conf[:, 7] = 0.5 * (xy[:, 0] + xy[:, 8]), np.minimum(conf[:, 0], conf[:, 8])
    xy[:, 10] = _head_top(0.5 * (xy_c[:, 3] + xy_c[:, 4]), xy[:, 8])
    conf[:, 10] = np.minimum(np.minimum(s[:, 3], s[:, 4]), conf[:, 8])
    return xy.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


def body25_to_h36m(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 25, 3)`` OpenPose BODY_25 x, y, score -> H36M ``xy``, ``conf`` (see module docstring)."""
    xy_b, s = pts[..., :2].astype(np.float64), pts[..., 2].astype(np.float64)
    t = pts.shape[0]
    xy = np.zeros((t, NUM_JOINTS, 2))
    conf = np.zeros((t, NUM_JOINTS))
    for j, b in _BODY25_DIRECT.items():
        xy[:, j], conf[:, j] = xy_b[:, b], s[:, b]
    xy[:, 7], conf[:, 7] = 0.5 * (xy[:, 0] + xy[:, 8]), np.minimum(conf[:, 0], conf[:, 8])
    xy[:, 10] = _head_top(0.5 * (xy_b[:, 17] + xy_b[:, 18]), xy[:, 8])
    conf[:, 10] = np.minimum(np.minimum(s[:, 17], s[:, 18]), conf[:, 8])
    return xy.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------


def _check_fps(fps: float, name: str) -> float:
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        fps = float("nan")
    if not math.isfinite(fps) or not 0 < fps <= 1000:
        raise KeypointFormatError(
            f"The frame rate given for '{name}' ({fps}) is not usable.",
            "Give the frame rate of the video the keypoints came from (e.g. 30 or 60).",
        )
    return fps


def _read_json(path: Path) -> Any:
    if not path.exists():
        raise KeypointFormatError(f"The keypoint file '{path}' does not exist.", "Check the file name and folder.")
    try:
        with path.open("r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise KeypointFormatError(
            f"The keypoint file '{path.name}' is not valid JSON (line {exc.lineno}, column {exc.colno}).",
            "Export the keypoints again from the pose software; the file may be cut short.",
        ) from exc
    except UnicodeDecodeError as exc:
        raise KeypointFormatError(f"The keypoint file '{path.name}' is not a text (JSON) file.",
                                  "Choose the .json file written by the pose software.") from exc


def _points(values: Any, n: int, where: str) -> np.ndarray:
    """Validate a flat [x, y, score] * n list and return ``(n, 3)`` floats."""
    if not isinstance(values, (list, tuple)) or len(values) != 3 * n:
        got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
        raise KeypointFormatError(
            f"{where}: expected {3 * n} numbers ({n} joints x [x, y, score]), found {got}.",
            "Check that the file holds COCO-17 (51 numbers) or OpenPose BODY_25 (75 numbers) keypoints.",
        )
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(n, 3)
    except (TypeError, ValueError) as exc:
        raise KeypointFormatError(f"{where}: the keypoints contain values that are not numbers.",
                                  "Export the keypoints again from the pose software.") from exc
    if not np.isfinite(arr).all():
        raise KeypointFormatError(f"{where}: the keypoints contain NaN or infinite values.",
                                  "Export the keypoints again from the pose software.")
    return arr


def _frame_number(image_id: Any, fallback: int) -> int:
    """Frame index from a COCO image_id: an integer, or the last number in a file name such as '000123.jpg'."""
    if isinstance(image_id, bool):
        return fallback
    if isinstance(image_id, (int, np.integer)):
        return int(image_id)
    if isinstance(image_id, float) and image_id.is_integer():
        return int(image_id)
    if isinstance(image_id, str):
        nums = re.findall(r"\d+", Path(image_id).stem)
        if nums:
            return int(nums[-1])
    return fallback


def _assemble(
    frames: dict[int, np.ndarray],
    *,
    n_src: int,
    convert: Any,
    fps: float,
    width: int | None,
    height: int | None,
    max_gap_s: float,
    source: str,
    raw_format: str,
    notes: list[str],
) -> Keypoints2D:
    """Build Keypoints2D from ``{frame: (n_src, 3) points}``: gaps, longest stretch, conversion, image size."""
    if not frames:
        raise KeypointFormatError("The keypoint file contains no person.",
                                  "Check that the pose software found the patient.")
    idx = np.array(sorted(frames))
    max_gap = int(math.floor(max_gap_s * fps + 1e-9))
    # split at long gaps and keep the longest stretch
    cuts = np.flatnonzero(np.diff(idx) - 1 > max_gap) + 1
    pieces = np.split(idx, cuts)
    best = max(pieces, key=lambda p: (len(p), -p[0]))
    if len(pieces) > 1:
        notes.append(
            f"Kept frames {best[0]}-{best[-1]}, the longest stretch with the person; {len(pieces) - 1} other "
            f"stretch(es) separated by gaps longer than {max_gap_s:g} s were left out."
        )
    full = np.arange(best[0], best[-1] + 1)
    have = np.isin(full, best)
    pts = np.zeros((len(full), n_src, 3))
    pts[have] = np.stack([frames[int(f)] for f in best])
    if not have.all():
        for k in range(n_src):
            for c in range(3):
                pts[~have, k, c] = np.interp(full[~have], full[have], pts[have, k, c])
        notes.append(f"Filled {int((~have).sum())} frame(s) without the person by linear interpolation.")
    xy, conf = convert(pts)
    if width is None or height is None:
        max_xy = np.nanmax(pts[..., :2].reshape(-1, 2), axis=0)
        est_w, est_h = int(math.ceil(max_xy[0])) + 1, int(math.ceil(max_xy[1])) + 1
        notes.append(
            f"The image size was not given; {est_w}x{est_h} px was estimated from the keypoints. "
            "Give the video's size for accurate 3D lifting."
        )
        width = width if width is not None else est_w
        height = height if height is not None else est_h
    raw = np.zeros((len(full), n_src, 4), dtype=np.float32)
    raw[..., :2] = pts[..., :2]
    raw[..., 3] = np.clip(pts[..., 2], 0, 1)
    return Keypoints2D(
        xy_px=xy,
        conf=conf,
        fps=fps,
        width=int(width),
        height=int(height),
        frame_index=full.astype(np.int64),
        interpolated=~have,
        source=source,
        raw=raw,
        raw_format=raw_format,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------------
# COCO / AlphaPose
# ---------------------------------------------------------------------------------------------------------


def _track_id(det: dict[str, Any]) -> int | None:
    tid = det.get("idx", det.get("track_id"))
    if isinstance(tid, list) and len(tid) == 1:
        tid = tid[0]
    if isinstance(tid, (int, float)) and not isinstance(tid, bool) and float(tid).is_integer():
        return int(tid)
    return None


def load_coco_json(
    path: str | os.PathLike[str],
    fps: float,
    width: int | None = None,
    height: int | None = None,
    *,
    max_gap_s: float = 0.5,
) -> Keypoints2D:
    """Read COCO-17 keypoints: AlphaPose/COCO *results* (a list of detections with ``image_id``,
    ``keypoints`` [51 numbers], ``score``, optional ``idx`` track id) or a COCO *dataset* dict
    (``images`` + ``annotations``; image sizes are taken from it when not given).
    """
    p = Path(path)
    fps = _check_fps(fps, p.name)
    data = _read_json(p)
    images: dict[Any, dict[str, Any]] = {}
    if isinstance(data, dict) and "annotations" in data:
        images = {im.get("id"): im for im in data.get("images", []) if isinstance(im, dict)}
        dets = data["annotations"]
    elif isinstance(data, list):
        dets = data
    else:
        raise KeypointFormatError(
            f"'{p.name}' is not a COCO/AlphaPose keypoint file (expected a list of detections or a dict with "
            "'annotations').",
            "Export the results in COCO JSON format.",
        )
    if not isinstance(dets, list) or not dets:
        raise KeypointFormatError(f"'{p.name}' contains no detections.",
                                  "Check that the pose software found the patient.")

    image_order = {iid: k for k, iid in enumerate(sorted(images, key=lambda i: (str(type(i)), i)))} if images else {}
    parsed: list[tuple[int, int | None, float, np.ndarray]] = []
    first_seen: dict[Any, int] = {}
    for n, det in enumerate(dets):
        where = f"'{p.name}', detection {n}"
        if not isinstance(det, dict) or "keypoints" not in det or "image_id" not in det:
            raise KeypointFormatError(f"{where}: each detection needs 'image_id' and 'keypoints'.",
                                      "Export the results in COCO JSON format.")
        pts = _points(det["keypoints"], 17, where)
        iid = det["image_id"]
        if image_order:
            im = images.get(iid, {})
            frame = int(im["frame_id"]) if isinstance(im.get("frame_id"), int) else image_order.get(iid, -1)
            if frame < 0:
                raise KeypointFormatError(f"{where}: image_id {iid!r} is not among the file's images.",
                                          "Export the file again; it seems inconsistent.")
        else:
            key = iid if isinstance(iid, (int, str, float)) else str(iid)
            first_seen.setdefault(key, len(first_seen))
            frame = _frame_number(iid, first_seen[key])
        score = det.get("score")
        has_score = isinstance(score, (int, float)) and not isinstance(score, bool)
        score = float(score) if has_score else float(pts[:, 2].mean())
        parsed.append((frame, _track_id(det), score, pts))

    notes: list[str] = []
    tracks = Counter(tid for _, tid, _, _ in parsed if tid is not None)
    per_frame: dict[int, list[tuple[int | None, float, np.ndarray]]] = defaultdict(list)
    for frame, tid, score, pts in parsed:
        per_frame[frame].append((tid, score, pts))
    crowded = sum(1 for v in per_frame.values() if len(v) > 1)
    chosen: dict[int, np.ndarray] = {}
    if tracks and all(tid is not None for _, tid, _, _ in parsed) and len(tracks) > 1:
        keep, n_frames = max(tracks.items(), key=lambda kv: (kv[1], -kv[0]))
        for frame, cands in per_frame.items():
            mine = [c for c in cands if c[0] == keep]
            if mine:
                chosen[frame] = max(mine, key=lambda c: c[1])[2]
        notes.append(f"{len(tracks)} tracked people in the file; kept track {keep}, seen in {n_frames} frames.")
    else:
        for frame, cands in per_frame.items():
            chosen[frame] = max(cands, key=lambda c: c[1])[2]
        if crowded:
            notes.append(f"{crowded} frame(s) held several people; the highest-scoring one was kept in each frame.")

    if image_order and (width is None or height is None):
        ws = {im.get("width") for im in images.values()}
        hs = {im.get("height") for im in images.values()}
        if len(ws) == 1 and len(hs) == 1 and all(isinstance(v, int) for v in (*ws, *hs)):
            width = width if width is not None else ws.pop()
            height = height if height is not None else hs.pop()
    return _assemble(
        chosen, n_src=17, convert=coco17_to_h36m, fps=fps, width=width, height=height, max_gap_s=max_gap_s,
        source="coco-json", raw_format="coco17", notes=notes,
    )


def _rows_for_export(kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Eyes (T,2,3) and ears (T,2,3) [left, right] as x, y, score for export (see module docstring)."""
    t = kp.n_frames
    xy = kp.xy_px.astype(np.float64)
    c = kp.conf.astype(np.float64)
    if kp.raw is not None and kp.raw_format == "coco17":
        r = kp.raw.astype(np.float64)
        eyes = np.concatenate([r[:, 1:3, :2], r[:, 1:3, 3:4]], axis=-1)
        ears = np.concatenate([r[:, 3:5, :2], r[:, 3:5, 3:4]], axis=-1)
        return eyes, ears, xy, c
    eyes = np.zeros((t, 2, 3))
    eyes[:, :, :2] = xy[:, None, 9]
    ear = _ears_for_head(xy[:, 10], xy[:, 8])
    ears = np.zeros((t, 2, 3))
    ears[:, :, :2] = ear[:, None]
    ears[:, :, 2] = c[:, None, 10]
    return eyes, ears, xy, c


def _h36m_to_coco_points(kp: Keypoints2D) -> np.ndarray:
    eyes, ears, xy, c = _rows_for_export(kp)
    pts = np.zeros((kp.n_frames, 17, 3))
    for j, k in _COCO_DIRECT.items():
        pts[:, k, :2], pts[:, k, 2] = xy[:, j], c[:, j]
    pts[:, 1:3] = eyes
    pts[:, 3:5] = ears
    return pts


def save_coco_json(kp: Keypoints2D, path: str | os.PathLike[str]) -> Path:
    """Write ``kp`` as COCO-17 results (one detection per frame, ``image_id`` = frame index, track ``idx`` 0)."""
    pts = _h36m_to_coco_points(kp)
    out = []
    for row, frame in enumerate(kp.frame_index):
        flat = pts[row].reshape(-1)
        out.append({
            "image_id": int(frame),
            "category_id": 1,
            "keypoints": [round(float(v), 4) for v in flat],
            "score": round(float(kp.conf[row].mean()), 4),
            "idx": 0,
        })
    p = Path(path)
    p.write_text(json.dumps(out), encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------------------------
# OpenPose
# ---------------------------------------------------------------------------------------------------------


def _openpose_files(dir_or_files: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(dir_or_files, (str, os.PathLike)):
        d = Path(dir_or_files)
        if d.is_dir():
            files = sorted(d.glob("*.json"))
        elif d.exists():
            files = [d]
        else:
            raise KeypointFormatError(f"'{d}' does not exist.", "Choose the folder of OpenPose JSON files.")
    else:
        files = [Path(f) for f in dir_or_files]
    if not files:
        raise KeypointFormatError(f"No OpenPose JSON files found in '{dir_or_files}'.",
                                  "Choose the folder written by OpenPose with --write_json.")
    return files


def load_openpose_dir(
    dir_or_files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    fps: float,
    width: int | None = None,
    height: int | None = None,
    *,
    max_gap_s: float = 0.5,
) -> Keypoints2D:
    """Read OpenPose BODY_25 per-frame JSON files (``{"people": [{"pose_keypoints_2d": [75 numbers]}]}``).

    Frames are ordered by the last number in each file name (OpenPose writes ``<name>_000000000123_keypoints.json``),
    or by file name if some have none. OpenPose does not track people: the highest-scoring person (mean
    keypoint confidence) is kept in each frame.
    """
    files = _openpose_files(dir_or_files)
    fps = _check_fps(fps, str(dir_or_files))
    numbered = [_frame_number(f.name, -1) for f in files]
    if any(n < 0 for n in numbered) or len(set(numbered)) != len(numbered):
        order = sorted(range(len(files)), key=lambda k: files[k].name)
        numbered = [0] * len(files)
        for rank, k in enumerate(order):
            numbered[k] = rank
    chosen: dict[int, np.ndarray] = {}
    crowded = 0
    for f, frame in zip(files, numbered):
        data = _read_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise KeypointFormatError(f"'{f.name}' is not an OpenPose file (no 'people' list).",
                                      "Choose the JSON files written by OpenPose with --write_json.")
        cands = []
        for n, person in enumerate(data["people"]):
            if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
                raise KeypointFormatError(f"'{f.name}', person {n}: no 'pose_keypoints_2d'.",
                                          "Choose the JSON files written by OpenPose with --write_json.")
            vals = person["pose_keypoints_2d"]
            if isinstance(vals, list) and len(vals) == 54:
                raise KeypointFormatError(f"'{f.name}': these are OpenPose COCO-18 keypoints; BODY_25 is needed.",
                                          "Run OpenPose with its default BODY_25 model.")
            pts = _points(vals, 25, f"'{f.name}', person {n}")
            cands.append(pts)
        if not cands:
            continue
        crowded += len(cands) > 1
        chosen[frame] = max(cands, key=lambda pts: float(pts[:, 2].mean()))
    notes = []
    if crowded:
        notes.append(f"{crowded} frame(s) held several people; the most confident one was kept in each frame.")
    return _assemble(
        chosen, n_src=25, convert=body25_to_h36m, fps=fps, width=width, height=height, max_gap_s=max_gap_s,
        source="openpose-json", raw_format="openpose_body25", notes=notes,
    )


def save_openpose_dir(kp: Keypoints2D, directory: str | os.PathLike[str], stem: str = "video") -> list[Path]:
    """Write one OpenPose BODY_25 JSON per frame (``<stem>_<frame:012d>_keypoints.json``).

    Feet (heels, toes) come from ``raw`` when it holds BODY_25 or BlazePose-33 points, else score 0.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    eyes, ears, xy, c = _rows_for_export(kp)
    pts = np.zeros((kp.n_frames, 25, 3))
    for j, b in _BODY25_DIRECT.items():
        pts[:, b, :2], pts[:, b, 2] = xy[:, j], c[:, j]
    pts[:, 16], pts[:, 15] = eyes[:, 0], eyes[:, 1]  # left, right
    pts[:, 18], pts[:, 17] = ears[:, 0], ears[:, 1]
    if kp.raw is not None and kp.raw_format == "openpose_body25":
        r = kp.raw.astype(np.float64)
        pts[:, 15:25, :2], pts[:, 15:25, 2] = r[:, 15:25, :2], r[:, 15:25, 3]
    elif kp.raw is not None and kp.raw_format == "blazepose33":
        r = kp.raw.astype(np.float64)
        for b25, bp in ((19, 31), (21, 29), (22, 32), (24, 30)):  # big toes <- foot index, heels
            pts[:, b25, :2], pts[:, b25, 2] = r[:, bp, :2], r[:, bp, 3]
    written = []
    for row, frame in enumerate(kp.frame_index):
        flat = [round(float(v), 4) for v in pts[row].reshape(-1)]
        doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}]}
        f = d / f"{stem}_{int(frame):012d}_keypoints.json"
        f.write_text(json.dumps(doc), encoding="utf-8")
        written.append(f)
    return written
