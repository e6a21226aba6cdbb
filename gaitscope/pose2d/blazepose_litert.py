"""BlazePose (full) on the LiteRT interpreter: the same two networks MediaPipe bundles, run 2-2.5x cheaper.

Why this exists: measured on this project's 2-core machines, MediaPipe 0.10.14's legacy ``Pose`` graph spends
about 47 ms of CPU per 720p frame, while the very same ``pose_landmark_full.tflite`` costs 19 ms per call on
LiteRT's XNNPACK interpreter (``ai-edge-litert``) with one thread. The 2D stage is the pipeline's floor, so this
module re-implements the legacy graph's tracking loop around the bundled ``.tflite`` files (nothing is
downloaded: the files are read from the installed ``mediapipe`` package):

1. **Detection** (only when no person is tracked): the image is letterboxed into 224x224 (values in [-1, 1]),
   ``pose_detection.tflite`` scores 2254 SSD anchors (strides 8, 16, 32, 32, 32; fixed anchor size), the
   best-scoring box is merged with its overlapping boxes by score-weighted averaging (weighted NMS), and its
   two full-body key points (mid-hip, and a point that encodes size and rotation) give the region of interest.
2. **Landmarks**: the rotated square ROI (side 2 x |kp1 - kp0| x 1.25 around kp0, turned so the body is upright)
   is warped into 256x256 (values in [0, 1]); the network gives 39 landmarks (33 + 2 auxiliary + 4 unused) with
   visibility/presence logits, a pose-presence score and 64x64 heat maps, which refine each landmark's x, y by
   a 7x7 score-weighted mean where the heat map is confident.
3. **Tracking**: the next frame's ROI comes from the two auxiliary landmarks; a presence score below
   ``min_tracking_confidence`` drops the frame and triggers detection on the next one.
4. **Smoothing** as MediaPipe's ``PoseLandmarkFiltering``: visibilities by a low-pass filter (alpha 0.1),
   coordinates by a One-Euro filter whose speed is measured in object sizes (so it does not depend on the
   resolution), at MediaPipe's simulated 30 fps clock.

The lifter's 2D noise model was measured on MediaPipe's output, so this port is checked against it
(``tests/pose2d/test_blazepose_litert.py``: median landmark difference on the bundled sample, and the
benchmark ``benchmarks/pose_engines.py``). MediaPipe stays available as ``engine="mediapipe"``
(``GAITSCOPE_POSE_ENGINE=mediapipe``), and is used automatically where ``ai-edge-litert`` is not installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

#: Version of this port's tracking loop (in cache keys and ``Keypoints2D.source``): bump when its output changes.
PORT_VERSION = 2
DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
HEATMAP_SIZE = 64
N_MODEL_LANDMARKS = 39
N_POSE_LANDMARKS = 33
ROI_SCALE = 1.25
REFINE_KERNEL = 7
REFINE_MIN_CONFIDENCE = 0.5
NMS_IOU = 0.3
#: MediaPipe's legacy solution stamps frames 1/30 s apart whatever the video's rate; the lifter's noise model was
#: measured through that clock, so the filters here keep it.
FILTER_FPS = 30.0


def mediapipe_model_dir() -> Path:
    """Folder of the installed ``mediapipe`` package's bundled models (``modules/``)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("mediapipe is not installed; it provides the BlazePose model files.")
    return Path(list(spec.submodule_search_locations)[0]) / "modules"


def litert_available() -> bool:
    """True when the LiteRT interpreter can be imported (``ai-edge-litert``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "use MediaPipe"
        return False
    return True


@lru_cache(maxsize=1)
def ssd_anchors() -> np.ndarray:
    """Centres ``(2254, 2)`` of the detector's anchors, normalised to the 224x224 input (fixed anchor size 1)."""
    strides = (8, 16, 32, 32, 32)
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        # Consecutive layers with the same stride share one grid: 2 anchors (scale and interpolated scale) each.
        last = layer
        while last + 1 < len(strides) and strides[last + 1] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer + 1)
        size = math.ceil(DETECTOR_SIZE / strides[layer])
        ys, xs = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last + 1
    return np.concatenate(centres).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -100.0, 100.0)))


@dataclass(frozen=True)
class Roi:
    """A rotated square region in image pixels (corner convention: pixel i spans [i, i + 1))."""

    cx: float
    cy: float
    size: float
    rotation: float  # radians; 0 = upright body

    @classmethod
    def from_alignment(cls, p0: np.ndarray, p1: np.ndarray, scale: float = ROI_SCALE) -> "Roi":
        """MediaPipe's alignment-point rectangle: centred on ``p0``, side ``2|p1 - p0|``, turned so p0->p1 is up."""
        dx, dy = float(p1[0] - p0[0]), float(p1[1] - p0[1])
        rotation = math.pi / 2 - math.atan2(-dy, dx)
        rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
        return cls(float(p0[0]), float(p0[1]), 2.0 * math.hypot(dx, dy) * scale, rotation)

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        """ROI-normalised points ``(n, 2)`` in [0, 1] -> image pixels (corner convention)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        d = (uv - 0.5) * self.size
        return np.stack([self.cx + c * d[:, 0] - s * d[:, 1], self.cy + s * d[:, 0] + c * d[:, 1]], axis=1)

    def warp_matrix(self, out_size: int) -> np.ndarray:
        """2x3 affine from output pixel indices to source pixel indices (for ``cv2.WARP_INVERSE_MAP``).

        Pixel indices are mapped as corner coordinates (no half-pixel shift), as MediaPipe's OpenCV converter
        does: on the bundled sample this agrees with MediaPipe's landmarks better (median 2.85 px) than the
        centre-correct mapping (3.13 px).
        """
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / out_size
        a = np.array([[c * k, -s * k], [s * k, c * k]])
        origin = np.array([self.cx, self.cy]) - a @ np.array([out_size / 2, out_size / 2])
        return np.hstack([a, origin[:, None]]).astype(np.float64)


class _LowPass:
    def __init__(self) -> None:
        self.value: np.ndarray | None = None
        self.raw: np.ndarray | None = None

    def apply(self, value: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
        self.raw = value
        self.value = value if self.value is None else alpha * value + (1.0 - alpha) * self.value
        return self.value


class OneEuro:
    """Vectorised One-Euro filter as in MediaPipe's landmark smoothing (speed scaled by 1 / object size)."""

    def __init__(self, min_cutoff: float, beta: float, derivate_cutoff: float, fps: float = FILTER_FPS) -> None:
        self.min_cutoff, self.beta, self.derivate_cutoff, self.fps = min_cutoff, beta, derivate_cutoff, fps
        self.x = _LowPass()
        self.dx = _LowPass()

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.fps)

    def apply(self, value: np.ndarray, value_scale: float) -> np.ndarray:
        d = np.zeros_like(value) if self.x.raw is None else (value - self.x.raw) * value_scale * self.fps
        ed = self.dx.apply(d, self._alpha(self.derivate_cutoff))
        return self.x.apply(value, self._alpha(self.min_cutoff + self.beta * np.abs(ed)))


def _object_scale(points_px: np.ndarray) -> float:
    span = points_px.max(axis=0) - points_px.min(axis=0)
    return float((span[0] + span[1]) / 2.0)


@dataclass
class _Smoother:
    """MediaPipe's PoseLandmarkFiltering: visibility low-pass, then One-Euro on pixel coordinates."""

    min_cutoff: float
    beta: float
    derivate_cutoff: float = 1.0
    visibility: _LowPass = field(default_factory=_LowPass)
    coords: OneEuro | None = None

    def reset(self) -> None:
        self.visibility = _LowPass()
        self.coords = None

    def apply(self, xyz_px: np.ndarray, vis: np.ndarray, object_scale: float) -> tuple[np.ndarray, np.ndarray]:
        vis_f = self.visibility.apply(vis, 0.1)
        if self.coords is None:
            self.coords = OneEuro(self.min_cutoff, self.beta, self.derivate_cutoff)
        if object_scale < 1e-6:
            return xyz_px, vis_f
        return self.coords.apply(xyz_px, 1.0 / object_scale), vis_f


class BlazePoseLiteRT:
    """Drop-in for ``mp.solutions.pose.Pose(model_complexity=1)`` in video mode: ``process(rgb) -> (33, 4) | None``.

    Rows are (x, y) normalised to the image, z normalised like x (by the image width), and the smoothed
    visibility, as MediaPipe's ``pose_landmarks``.
    """

    def __init__(
        self,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        smooth_landmarks: bool = True,
        num_threads: int = 1,
        model_dir: Path | None = None,
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        root = model_dir or mediapipe_model_dir()
        self._det = Interpreter(model_path=str(root / "pose_detection" / "pose_detection.tflite"),
                                num_threads=num_threads)
        self._lmk = Interpreter(model_path=str(root / "pose_landmark" / "pose_landmark_full.tflite"),
                                num_threads=num_threads)
        for it in (self._det, self._lmk):
            it.allocate_tensors()
        self._det_in = self._det.get_input_details()[0]["index"]
        det_out = sorted(self._det.get_output_details(), key=lambda d: int(d["shape"][-1]), reverse=True)
        self._det_boxes, self._det_scores = det_out[0]["index"], det_out[1]["index"]
        self._lmk_in = self._lmk.get_input_details()[0]["index"]
        outs = {tuple(int(v) for v in d["shape"]): d["index"] for d in self._lmk.get_output_details()}
        self._lmk_points = outs[(1, N_MODEL_LANDMARKS * 5)]
        self._lmk_flag = outs[(1, 1)]
        self._lmk_heat = outs[(1, HEATMAP_SIZE, HEATMAP_SIZE, N_MODEL_LANDMARKS)]
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.smooth = smooth_landmarks
        self._roi: Roi | None = None
        #: A point (image pixels) near the person to follow: a (re-)detection takes the person nearest it instead of
        #: the best-scoring one, and it moves with the followed person's hips. None: MediaPipe's choice.
        self.follow: tuple[float, float] | None = None
        #: What finds every person when following one (``rgb -> [PersonBox]``; the caller sets
        #: gaitscope.pose2d.people.all_people, which also looks at tiles for small people); None: detect_people.
        self.find_all = None
        # One-Euro constants. Auxiliary points (next frame's ROI): min cutoff 0.01, beta 1.0, as MediaPipe's
        # PoseLandmarkFiltering graph; with beta 10 the ROI followed the swinging legs on the real 60 fps side-view
        # clip and the analysis saw 40 deg of heading wobble (MediaPipe: 13; beta 1.0: 14). Landmarks: 0.05 / 80,
        # which agreed best with MediaPipe's output on the sample (2.6 px median against 3.2-4.0 for 0.1 / 40).
        self._main = _Smoother(min_cutoff=0.05, beta=80.0)
        self._aux = _Smoother(min_cutoff=0.01, beta=1.0)

    # -- context manager, as mp.solutions.pose.Pose --------------------------------------------------------------
    def __enter__(self) -> "BlazePoseLiteRT":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._roi = None

    # -- stages ------------------------------------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> Roi | None:
        """Run the person detector on the whole frame; the ROI of the best person (or, with :attr:`follow` set, of
        the person nearest that point), or None."""
        if self.follow is None:
            people = self.detect_people(rgb)
            return people[0].roi if people else None
        people = self.find_all(rgb) if self.find_all is not None else self.detect_people(rgb)
        return nearest_person(people, self.follow).roi if people else None

    def detect_people(self, rgb: np.ndarray) -> list["PersonBox"]:
        """Every person the detector finds in the frame, best score first (MediaPipe keeps only the first).

        Boxes are merged as MediaPipe merges the best one: each remaining best-scoring box absorbs the boxes that
        overlap it by more than :data:`NMS_IOU` (score-weighted mean of boxes and key points), then the next one.
        """
        h, w = rgb.shape[:2]
        s = DETECTOR_SIZE / max(w, h)
        off = np.array([(DETECTOR_SIZE - w * s) / 2, (DETECTOR_SIZE - h * s) / 2])
        m = np.array([[s, 0, off[0] + 0.5 * s - 0.5], [0, s, off[1] + 0.5 * s - 0.5]])
        tensor = cv2.warpAffine(rgb, m, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        x = (tensor.astype(np.float32) - 127.5) / 127.5
        self._det.set_tensor(self._det_in, x[None])
        self._det.invoke()
        raw = self._det.get_tensor(self._det_boxes)[0]
        scores = _sigmoid(self._det.get_tensor(self._det_scores)[0, :, 0])
        keep = np.flatnonzero(scores >= self.min_detection_confidence)
        if keep.size == 0:
            return []
        anchors = ssd_anchors()
        boxes = raw[keep, :4] / DETECTOR_SIZE
        centre = boxes[:, :2] + anchors[keep]
        half = boxes[:, 2:4] / 2
        corners = np.concatenate([centre - half, centre + half], axis=1)
        kps = raw[keep, 4:12].reshape(-1, 4, 2) / DETECTOR_SIZE + anchors[keep][:, None, :]
        sc = scores[keep]
        left = np.ones(len(keep), dtype=bool)
        people: list[PersonBox] = []
        while left.any():
            best = int(np.flatnonzero(left)[np.argmax(sc[left])])
            group = left & (_iou(corners[best], corners) > NMS_IOU)
            left &= ~group
            weights = sc[group]
            kp = (kps[group] * weights[:, None, None]).sum(axis=0) / weights.sum()
            box = (corners[group] * weights[:, None]).sum(axis=0) / weights.sum()
            kp_px = (kp * DETECTOR_SIZE - off) / s  # tensor-normalised -> image pixels
            box_px = (box.reshape(2, 2) * DETECTOR_SIZE - off) / s
            people.append(PersonBox(tuple(float(v) for v in box_px.ravel()), float(sc[best]),  # type: ignore[arg-type]
                                    Roi.from_alignment(kp_px[0], kp_px[1])))
        return people

    def landmarks(self, rgb: np.ndarray, roi: Roi) -> tuple[float, np.ndarray]:
        """Landmark network on one ROI: (presence score, ``(39, 5)`` rows x_px, y_px, z_px, visibility, presence)."""
        crop = cv2.warpAffine(rgb, roi.warp_matrix(LANDMARK_SIZE), (LANDMARK_SIZE, LANDMARK_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        self._lmk.set_tensor(self._lmk_in, (crop.astype(np.float32) / 255.0)[None])
        self._lmk.invoke()
        flag = float(self._lmk.get_tensor(self._lmk_flag)[0, 0])
        raw = self._lmk.get_tensor(self._lmk_points)[0].reshape(N_MODEL_LANDMARKS, 5)
        uv = raw[:, :2] / LANDMARK_SIZE
        uv = refine_with_heatmap(uv, self._lmk.get_tensor(self._lmk_heat)[0])
        out = np.empty((N_MODEL_LANDMARKS, 5), np.float64)
        out[:, :2] = roi.to_image(uv)
        out[:, 2] = raw[:, 2] / LANDMARK_SIZE * roi.size
        out[:, 3] = _sigmoid(raw[:, 3])
        out[:, 4] = _sigmoid(raw[:, 4])
        return flag, out

    def process(self, rgb: np.ndarray) -> np.ndarray | None:
        """One video frame (RGB, uint8) -> ``(33, 4)`` (x/W, y/H, z/W, visibility) or None when nobody is tracked."""
        h, w = rgb.shape[:2]
        roi = self._roi if self._roi is not None else self.detect(rgb)
        if roi is None:
            return None
        flag, pts = self.landmarks(rgb, roi)
        if flag < self.min_tracking_confidence:
            self._roi = None
            self._main.reset()
            self._aux.reset()
            return None
        main, aux = pts[:N_POSE_LANDMARKS], pts[N_POSE_LANDMARKS : N_POSE_LANDMARKS + 2]
        xyz, vis = main[:, :3], main[:, 3]
        aux_xy = aux[:, :2]
        if self.smooth:
            # The main landmarks' speed is measured in sizes of the auxiliary ROI (MediaPipe's OBJECT_SCALE_ROI),
            # the auxiliary points' in the extent of the two points themselves.
            xyz, vis = self._main.apply(xyz, vis, Roi.from_alignment(aux_xy[0], aux_xy[1], scale=1.0).size)
            aux_xyz, _ = self._aux.apply(aux[:, :3], aux[:, 3], _object_scale(aux_xy))
            aux_xy = aux_xyz[:, :2]
        self._roi = Roi.from_alignment(aux_xy[0], aux_xy[1])
        if self.follow is not None:  # where to look for this person if the tracker loses them
            self.follow = (float(0.5 * (xyz[23, 0] + xyz[24, 0])), float(0.5 * (xyz[23, 1] + xyz[24, 1])))
        out = np.empty((N_POSE_LANDMARKS, 4), np.float32)
        out[:, 0] = xyz[:, 0] / w
        out[:, 1] = xyz[:, 1] / h
        out[:, 2] = xyz[:, 2] / w
        out[:, 3] = vis
        return out


@dataclass(frozen=True)
class PersonBox:
    """One person found by the detector: its face box ``(x0, y0, x1, y1)`` in image pixels (what the detector's
    box encloses), its score, and the landmark ROI built from its two alignment points (mid-hip centre, and a
    point whose distance from it is the radius of the circle around the whole body)."""

    face: tuple[float, float, float, float]
    score: float
    roi: Roi

    @property
    def body(self) -> tuple[float, float, float, float]:
        """An upright box around the body, centred on the hips: the alignment circle's radius / 1.3 above and below
        (on the two-walker test videos this matched the landmarks' height within 5 %: the circle has a margin),
        0.4 x that either side."""
        r = self.roi.size / (2.0 * ROI_SCALE) / 1.3
        return self.roi.cx - 0.4 * r, self.roi.cy - r, self.roi.cx + 0.4 * r, self.roi.cy + r

    def shifted(self, dx: float, dy: float) -> "PersonBox":
        """The same person in a frame of which this one's image was the crop at ``(dx, dy)``."""
        f = self.face
        return PersonBox((f[0] + dx, f[1] + dy, f[2] + dx, f[3] + dy), self.score,
                         Roi(self.roi.cx + dx, self.roi.cy + dy, self.roi.size, self.roi.rotation))

    @property
    def centre(self) -> tuple[float, float]:
        return self.roi.cx, self.roi.cy


def nearest_person(people: list[PersonBox], point: tuple[float, float]) -> PersonBox:
    """The person ``point`` (image pixels) designates: among those whose body box holds it, the one whose hips
    are nearest; else the one whose hips are nearest."""
    px, py = point
    inside = [p for p in people if p.body[0] <= px <= p.body[2] and p.body[1] <= py <= p.body[3]]
    return min(inside or people, key=lambda p: math.hypot(p.centre[0] - px, p.centre[1] - py))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def refine_with_heatmap(uv: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Refine ROI-normalised landmarks ``(k, 2)`` with the ``(64, 64, k')`` heat maps, k <= k'.

    Each landmark inside the map moves to the score-weighted mean of the 7x7 cells around its cell (cells
    outside the map count as zero), if the best score there reaches 0.5; as MediaPipe's
    RefineLandmarksFromHeatmapCalculator, cell indices are used as coordinates (no half-cell shift).
    """
    n = heat.shape[0]
    r = (REFINE_KERNEL - 1) // 2
    k = uv.shape[0]
    cols = np.floor(uv[:, 0] * n).astype(int)
    rows = np.floor(uv[:, 1] * n).astype(int)
    inside = (cols >= 0) & (cols < n) & (rows >= 0) & (rows < n)
    offs = np.arange(-r, r + 1)
    rr = rows[:, None] + offs[None, :]  # (k, 7)
    cc = cols[:, None] + offs[None, :]
    valid = ((rr >= 0) & (rr < n))[:, :, None] & ((cc >= 0) & (cc < n))[:, None, :]  # (k, 7, 7)
    channel = np.arange(k)[:, None, None]
    logits = heat[np.clip(rr, 0, n - 1)[:, :, None], np.clip(cc, 0, n - 1)[:, None, :], channel]
    conf = np.where(valid, _sigmoid(logits.astype(np.float64)), 0.0)
    total = conf.sum(axis=(1, 2))
    ok = inside & (conf.max(axis=(1, 2)) >= REFINE_MIN_CONFIDENCE) & (total > 0)
    out = uv.astype(np.float64).copy()
    safe = np.where(total > 0, total, 1.0)
    ref_x = (conf * cc[:, None, :]).sum(axis=(1, 2)) / safe / n
    ref_y = (conf * rr[:, :, None]).sum(axis=(1, 2)) / safe / n
    out[ok, 0] = ref_x[ok]
    out[ok, 1] = ref_y[ok]
    return out
