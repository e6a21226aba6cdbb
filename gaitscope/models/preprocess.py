"""Turning 2D keypoints into DSTformer input, and windows over long sequences.

Image coordinate frame (input): pixels of the displayed (rotated) frame, origin at the top-left corner, x to the
right, y downwards, exactly as :class:`gaitscope.records.Keypoints2D` stores them.

Normalisation follows MotionBERT's in-the-wild recipe (``../shared/notes/motionbert.md`` section 2.2):

* ``mode="box"`` (default, like ``infer_wild.py``): the bounding box of every confident keypoint over the WHOLE
  sequence is turned into a square of side max(box width, box height) with the same centre, and that square is
  mapped to [-1, 1] on both axes (then clipped). One scale per video, so walking towards the camera still shows
  up as a growing skeleton, and the subject fills the range the model was trained on.
* ``mode="pixel"`` (like ``infer_wild.py --pixel`` and the Human3.6M training data): subtract the image centre and
  divide by min(width, height) / 2, which keeps the subject's true position and size in the frame.

The confidence becomes the third channel unchanged; joints with confidence 0 (or non-finite coordinates) are
written as all-zero rows, the "unknown joint" code the model saw during its masked pretraining. The normalised
frame keeps the image axes (x right, y down), so the model's 3D output is x right, y down, z away from the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch

from gaitscope.errors import NoPersonError
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import H36M_FLIP_PERMUTATION

NormMode = Literal["box", "pixel"]


@dataclass(frozen=True)
class Normalisation:
    """How pixels were mapped to model units: ``model = (px - center_px) / half_size_px``."""

    mode: str
    center_px: tuple[float, float]
    half_size_px: float

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Inverse map of the first two channels (e.g. to draw the lifted skeleton over the video)."""
        return xy * self.half_size_px + np.asarray(self.center_px, dtype=xy.dtype)


def normalise_array(
    xy_px: np.ndarray, conf: np.ndarray, width: int, height: int, mode: NormMode = "box"
) -> tuple[np.ndarray, Normalisation]:
    """``(T, J, 2)`` pixels + ``(T, J)`` confidences -> ``(T, J, 3)`` float32 model input."""
    xy_px = np.asarray(xy_px, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    known = (conf > 0) & np.isfinite(xy_px).all(axis=-1) & np.isfinite(conf)
    xy_px = np.where(known[..., None], xy_px, 0.0)
    conf = np.where(known, conf, 0.0)
    if mode == "box":
        if known.sum() < 2:
            raise NoPersonError(
                "Too few detected joints to place the person in the image (fewer than 2 over the whole video).",
                "Check that the person is visible and the 2D keypoints were detected.",
            )
        pts = xy_px[known]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        center = (lo + hi) / 2.0
        half = max(float((hi - lo).max()) / 2.0, 1e-6)
    elif mode == "pixel":
        center = np.array([width / 2.0, height / 2.0])
        half = min(width, height) / 2.0
    else:
        raise ValueError(f"unknown normalisation mode {mode!r}; use 'box' or 'pixel'")
    out = np.zeros(xy_px.shape[:-1] + (3,), dtype=np.float32)
    xy = (xy_px - center) / half
    if mode == "box":
        xy = np.clip(xy, -1.0, 1.0)
    out[..., :2] = xy
    out[..., 2] = np.clip(conf, 0.0, 1.0)
    out[~known] = 0.0
    return out, Normalisation(mode, (float(center[0]), float(center[1])), float(half))


def normalise_keypoints(kp: Keypoints2D, mode: NormMode = "box") -> tuple[np.ndarray, Normalisation]:
    """:class:`Keypoints2D` -> ``(T, 17, 3)`` DSTformer input (see the module docstring)."""
    return normalise_array(kp.xy_px, kp.conf, kp.width, kp.height, mode)


def flip_skeleton(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Mirror left/right: negate x and swap left and right joints (input or output, any leading dims).

    Valid only because normalised coordinates are centred (x = 0 is the box or image centre). The confidence
    channel, if present, moves with its joint and is not negated.
    """
    perm = list(H36M_FLIP_PERMUTATION)
    if isinstance(x, torch.Tensor):
        out = x[..., perm, :].clone()
    else:
        out = np.array(x[..., perm, :], copy=True)
    out[..., 0] = -out[..., 0]
    return out


# ---------------------------------------------------------------------------------------------------------
# Sliding windows
# ---------------------------------------------------------------------------------------------------------


def window_starts(n_frames: int, window: int, stride: int) -> list[int]:
    """Start frames of windows of length ``window`` covering ``n_frames``; the last one ends on the last frame.

    A sequence no longer than the window gets one window of its own length (no padding: the model takes any
    ``F <= maxlen`` and padding would change its output).
    """
    if n_frames <= window:
        return [0]
    if stride < 1 or stride > window:
        raise ValueError(f"stride must be in 1..window ({window}), got {stride}")
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return starts


def blend_weights(window: int, floor: float = 1e-3) -> np.ndarray:
    """Per-frame weights of one window: a Hann (raised-cosine) taper with a small floor.

    Frames near a window's edges have the least temporal context, so the overlapping neighbour should dominate
    there; with stride = window / 2 Hann windows add up to a constant, so the blend is a smooth cross-fade
    (no seams like the non-overlapping chunks of the official demo, MotionBERT issues #31, #58). The floor keeps
    the first and last frames of the sequence, covered by one window only, well defined.
    """
    t = (np.arange(window) + 0.5) / window
    return np.maximum(0.5 - 0.5 * np.cos(2 * np.pi * t), floor)


def sliding_window_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    window: int,
    stride: int,
    batch_size: int = 8,
) -> torch.Tensor:
    """Apply ``fn`` ``(B, F, J, C) -> (B, F, J, D)`` over a ``(T, J, C)`` sequence with overlap and blending.

    A sequence that fits one window is one exact call of ``fn`` (no blending arithmetic at all). ``fn`` may run
    on another device; results are gathered on ``x``'s device. Windows go through ``fn`` ``batch_size`` at a time
    and are added into one ``(T, ...)`` sum that is divided in place, so a long video holds its output once (not
    twice: 40 MB for 10 minutes of pose + embedding rows) besides one batch of windows.
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError("empty sequence")
    window = min(window, n)
    starts = window_starts(n, window, stride)
    if len(starts) == 1:
        return fn(x[None])[0].to(x.device)
    w = torch.as_tensor(blend_weights(window), dtype=torch.float32, device=x.device)[:, None, None]
    acc = None
    wsum = torch.zeros(n, 1, 1, dtype=torch.float32, device=x.device)
    for i in range(0, len(starts), batch_size):
        chunk = starts[i : i + batch_size]
        out = fn(torch.stack([x[s : s + window] for s in chunk])).float().to(x.device)
        if acc is None:
            acc = torch.zeros((n,) + tuple(out.shape[2:]), dtype=torch.float32, device=x.device)
        for s, o in zip(chunk, out):
            acc[s : s + window] += o * w
            wsum[s : s + window] += w
    return acc.div_(wsum)
