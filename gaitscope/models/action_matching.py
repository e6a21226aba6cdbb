"""Few-shot action matching and activity segmentation by embedding similarity.

MotionBERT's one-shot protocol (section 4.1 of the paper, NTU-120 one-shot) compares clips by the cosine
similarity of their pooled motion representations: a new action needs one or a few labelled examples, no training.
That suits clinical movement tasks (sit-to-stand, timed up-and-go segments, arm raises) whose classes a clinic
defines itself.

:class:`ActionMatcher` is sklearn-like: ``fit(support_clips, labels)`` stores one prototype per label (the mean of
its L2-normalised clip embeddings, normalised again: a prototypical-network classifier, Snell et al., NeurIPS
2017), ``predict`` picks the most similar prototype, ``score`` is top-1 accuracy. A clip embedding is the
backbone representation averaged over time with the joints flattened (the pooling of the official action head),
or averaged over joints too (``pooling="mean"``). Persons are averaged over those present in the clip (the
classification head averages over both slots, the zero "fake" person included, as the official code does; for
similarity that empty slot would only pull every clip towards the same point).

:func:`segment_activities` slides a window over a recording, labels each window with the matcher and merges runs
of the same label into :class:`ActivitySegment` records.

Clips may be :class:`~gaitscope.records.Keypoints2D` (pixels), :class:`~gaitscope.records.Motion3D` (projected
orthographically onto a vertical plane: image "down" is ``-up``), or arrays ``(T, 17, 2|3)`` / ``(M, T, 17, 2|3)``
of coordinates (+ confidence). All go through the official action normalisation
(:func:`gaitscope.models.action.action_clip`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from gaitscope.errors import InvalidInputError
from gaitscope.models.action import DEFAULT_CLIP_FRAMES, action_clip
from gaitscope.models.dstformer import DSTformer
from gaitscope.records import Keypoints2D, Motion3D

Pooling = Literal["flatten", "mean"]


@dataclass(frozen=True)
class ActivitySegment:
    """One labelled stretch of a recording: ``[start_s, end_s)`` seconds, best label, its cosine similarity."""

    start_s: float
    end_s: float
    label: str
    similarity: float


def orthographic_view(motion: Motion3D) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 17, 2)`` image-like coordinates (x right, y down) of a 3D motion seen from the side of its frame.

    "Down" is ``-up``; "right" is the first of the frame's x / z axes that is not vertical, made perpendicular to
    ``up``. For the lifter's camera frame (up = -y) this is exactly the camera image.
    """
    up = np.asarray(motion.up, dtype=np.float64)
    up /= np.linalg.norm(up)
    right = None
    for cand in (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])):
        r = cand - up * float(cand @ up)
        if np.linalg.norm(r) > 0.5:
            right = r / np.linalg.norm(r)
            break
    assert right is not None
    xyz = np.asarray(motion.xyz_m, dtype=np.float64)
    xy = np.stack([xyz @ right, -(xyz @ up)], axis=-1)
    conf = np.ones(xy.shape[:2]) if motion.valid is None else np.repeat(
        np.asarray(motion.valid, dtype=np.float64)[:, None], xy.shape[1], axis=1)
    return xy, conf


def as_keypoints(obj: Any) -> tuple[np.ndarray, np.ndarray]:
    """Any supported clip -> ``(xy (M, T, 17, 2), conf (M, T, 17))`` (see the module docstring)."""
    if isinstance(obj, Keypoints2D):
        return obj.xy_px[None].astype(np.float64), obj.conf[None].astype(np.float64)
    if isinstance(obj, Motion3D):
        xy, c = orthographic_view(obj)
        return xy[None], c[None]
    arr = np.asarray(obj, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (2, 3):
        raise InvalidInputError(
            f"A clip must be Keypoints2D, Motion3D or an array (T, 17, 2|3) / (M, T, 17, 2|3); got shape {arr.shape}.")
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:-1])
    return arr[..., :2], conf


def _slice(obj: Any, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    xy, c = as_keypoints(obj)
    return xy[:, start:stop], c[:, start:stop]


def fps_of(obj: Any, fps: float | None = None) -> float:
    f = fps if fps is not None else getattr(obj, "fps", None)
    if f is None or not f > 0:
        raise InvalidInputError("The frame rate of the recording is unknown.", "Pass fps=... for array input.")
    return float(f)


class ActionMatcher:
    """Nearest-prototype classifier on pooled DSTformer embeddings (cosine similarity); see the module docstring.

    ``backbone``: a :class:`DSTformer` (e.g. ``Lifter.model`` or ``ActionNet.backbone``); it is used in eval mode,
    without gradients. ``n_frames``: clip length fed to the encoder (every clip is resampled to it).
    """

    def __init__(self, backbone: DSTformer, n_frames: int = DEFAULT_CLIP_FRAMES, pooling: Pooling = "flatten",
                 batch_size: int = 8):
        if pooling not in ("flatten", "mean"):
            raise ValueError(f"pooling must be 'flatten' or 'mean', got {pooling!r}")
        self.backbone = backbone
        self.n_frames = min(n_frames, backbone.maxlen)
        self.pooling = pooling
        self.batch_size = batch_size
        self.classes_: tuple[str, ...] = ()
        self.prototypes_: np.ndarray | None = None

    # -- embeddings ---------------------------------------------------------------------------------------------

    def _clip(self, obj: Any) -> np.ndarray:
        xy, c = as_keypoints(obj)
        return action_clip(xy, c, self.n_frames)

    @torch.inference_mode()
    def embed_inputs(self, clips: np.ndarray) -> np.ndarray:
        """Ready model inputs ``(N, M, T, 17, 3)`` -> L2-normalised embeddings ``(N, D')``."""
        was_training = self.backbone.training
        self.backbone.eval()
        dev = next(self.backbone.parameters()).device
        out = []
        try:
            for i in range(0, len(clips), self.batch_size):
                x = torch.as_tensor(clips[i : i + self.batch_size], dtype=torch.float32, device=dev)
                n, m, t, j, ch = x.shape
                rep = self.backbone.get_representation(x.reshape(n * m, t, j, ch)).float()
                rep = rep.reshape(n, m, t, j, -1).mean(dim=2)  # (N, M, J, D)
                present = (x[..., 2].abs().sum(dim=(2, 3)) > 0).float()  # persons with any keypoint
                present[present.sum(dim=1) == 0] = 1.0
                w = (present / present.sum(dim=1, keepdim=True))[..., None, None]
                pooled = (rep * w).sum(dim=1)  # (N, J, D): mean over the persons present
                feat = pooled.mean(dim=1) if self.pooling == "mean" else pooled.flatten(1)
                out.append(torch.nn.functional.normalize(feat, dim=-1).cpu())
        finally:
            self.backbone.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)

    def embed(self, clips: Sequence[Any]) -> np.ndarray:
        """Clips (any supported form) -> L2-normalised embeddings ``(N, D')``."""
        if len(clips) == 0:
            raise InvalidInputError("No clips given.")
        return self.embed_inputs(np.stack([self._clip(c) for c in clips]))

    # -- sklearn-like API ---------------------------------------------------------------------------------------

    def fit(self, support_clips: Sequence[Any], labels: Sequence[Any]) -> ActionMatcher:
        """One prototype per label from one or more example clips each."""
        if len(support_clips) != len(labels):
            raise InvalidInputError(f"{len(support_clips)} example clips but {len(labels)} labels.")
        if len(support_clips) == 0:
            raise InvalidInputError("No example clips given.", "Give at least one labelled example per activity.")
        emb = self.embed(support_clips)
        names = [str(y) for y in labels]
        self.classes_ = tuple(dict.fromkeys(names))
        protos = np.stack([emb[[n == c for n in names]].mean(axis=0) for c in self.classes_])
        self.prototypes_ = protos / np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
        return self

    def _check_fitted(self) -> np.ndarray:
        if self.prototypes_ is None:
            raise InvalidInputError("The matcher has no examples yet.", "Call fit(example_clips, labels) first.")
        return self.prototypes_

    def similarities(self, clips: Sequence[Any]) -> np.ndarray:
        """Cosine similarity ``(N, n_labels)`` of each clip to each label's prototype."""
        return self.embed(clips) @ self._check_fitted().T

    def predict(self, clips: Sequence[Any]) -> np.ndarray:
        sim = self.similarities(clips)
        return np.asarray(self.classes_, dtype=object)[sim.argmax(axis=1)]

    def score(self, clips: Sequence[Any], labels: Sequence[Any]) -> float:
        """Top-1 accuracy."""
        pred = self.predict(clips)
        return float(np.mean([p == str(y) for p, y in zip(pred, labels)]))


def segment_activities(
    motion_or_keypoints: Keypoints2D | Motion3D | np.ndarray,
    matcher: ActionMatcher,
    window_s: float = 2.0,
    hop_s: float = 0.5,
    fps: float | None = None,
    min_similarity: float | None = None,
    unknown_label: str = "unknown",
    merge: bool = True,
) -> list[ActivitySegment]:
    """Label sliding windows of a recording with ``matcher`` and merge neighbouring windows of one label.

    Each window ``[s, s + window_s)`` (the last one ends on the last frame) gets the best-matching label; with
    ``min_similarity`` a window below it is ``unknown_label``. Overlapping windows are resolved by their centres:
    a merged segment runs from the first window's start (or the previous segment's end) to the midpoint between
    its last window centre and the next window's centre. ``similarity`` of a merged segment is the mean over its
    windows. A recording shorter than one window is one window.
    """
    if window_s <= 0 or hop_s <= 0:
        raise InvalidInputError("window_s and hop_s must be positive.")
    f = fps_of(motion_or_keypoints, fps)
    xy, conf = as_keypoints(motion_or_keypoints)
    n = xy.shape[1]
    if n == 0:
        raise InvalidInputError("The recording has no frames.")
    win = max(1, int(round(window_s * f)))
    hop = max(1, int(round(hop_s * f)))
    if n <= win:
        starts = [0]
        win = n
    else:
        starts = list(range(0, n - win + 1, hop))
        if starts[-1] != n - win:
            starts.append(n - win)
    clips = np.stack([action_clip(xy[:, s : s + win], conf[:, s : s + win], matcher.n_frames) for s in starts])
    sim = matcher.embed_inputs(clips) @ matcher._check_fitted().T
    best = sim.argmax(axis=1)
    labels = [matcher.classes_[b] for b in best]
    sims = sim[np.arange(len(starts)), best]
    if min_similarity is not None:
        labels = [lab if s >= min_similarity else unknown_label for lab, s in zip(labels, sims)]
    centres = [(s + win / 2.0) / f for s in starts]
    # window i "owns" time from the midpoint with its predecessor to the midpoint with its successor
    bounds = [0.0] + [(centres[i] + centres[i + 1]) / 2.0 for i in range(len(starts) - 1)] + [n / f]
    segs = [ActivitySegment(bounds[i], bounds[i + 1], labels[i], float(sims[i])) for i in range(len(starts))]
    if not merge:
        return [ActivitySegment(s / f, (s + win) / f, lab, float(v)) for s, lab, v in zip(starts, labels, sims)]
    merged: list[ActivitySegment] = []
    acc: list[float] = []
    for seg in segs:
        if merged and merged[-1].label == seg.label:
            acc.append(seg.similarity)
            merged[-1] = ActivitySegment(merged[-1].start_s, seg.end_s, seg.label, float(np.mean(acc)))
        else:
            acc = [seg.similarity]
            merged.append(seg)
    return merged
