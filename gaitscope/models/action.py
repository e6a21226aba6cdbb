"""Action recognition on the DSTformer representation (MotionBERT section 4.1, Zhu et al., ICCV 2023).

The recipe of the paper for NTU RGB+D: every person's clip goes through the backbone; the ``(T, 17, 512)``
representation is averaged over time, the joints are flattened (17 x 512), persons are averaged, and a small MLP
(Linear 8704 -> 2048, BatchNorm, ReLU, Linear -> classes) gives the logits. Reported top-1 accuracy on NTU-60:
93.0 % cross-subject, 97.2 % cross-view (fine-tuned MotionBERT).

Module and parameter names reproduce the official ``ActionNet`` (``backbone.*``, ``head.fc1``, ``head.bn``,
``head.fc2``; the 1-shot variant ``head.fc1`` only), so the released checkpoints (``FT_MB_release_MB_ft_NTU60_xsub``
/ ``_xview``: a ``'model'`` dict with ``module.backbone.*`` / ``module.head.*`` keys) load shape for shape with
:func:`load_action_checkpoint`.

Input layout: ``(N, M, T, 17, 3)``: M persons (2 in NTU; a missing second person is all zeros), channels
(x, y, confidence). :func:`action_clip` reproduces the official normalisation: one square box around every
confident joint of all persons and frames, enlarged ``scale_ratio`` times (2 at test time in the NTU configs) and
mapped to [-1, 1], and the clip resampled to ``n_frames`` (243 in the paper) by evenly spaced frame indices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gaitscope.errors import CheckpointError, InvalidInputError
from gaitscope.models.checkpoints import (
    LoadReport,
    extract_state_dict,
    infer_config,
    is_gaitscope_checkpoint,
    load_into,
    read_checkpoint_file,
    save_checkpoint,
)
from gaitscope.models.configs import DSTformerConfig, get_config
from gaitscope.models.dstformer import DSTformer

ACTION_FORMAT = "gaitscope-action"
ACTION_FORMAT_VERSION = 1
#: Official defaults (configs/action/MB_ft_NTU60_*.yaml).
DEFAULT_HIDDEN = 2048
DEFAULT_CLIP_FRAMES = 243
TEST_SCALE_RATIO = 2.0
NUM_PERSONS = 2


# ---------------------------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------------------------


def pool_persons(feat: torch.Tensor) -> torch.Tensor:
    """``(N, M, T, J, C)`` -> ``(N, J*C)``: mean over time, flatten joints, mean over persons (official order)."""
    n, m = feat.shape[:2]
    return feat.mean(dim=2).reshape(n, m, -1).mean(dim=1)


class ActionHeadClassification(nn.Module):
    """Pooled representation -> logits: ``fc1`` (17 D -> hidden), ``bn`` (BatchNorm1d), ReLU, ``fc2``.

    BatchNorm as in the official head (its running statistics are part of the released checkpoints); in eval mode
    it is a fixed affine map, so single clips are fine at inference. Dropout acts on the representation.
    """

    def __init__(self, dim_rep: int = 512, num_classes: int = 60, num_joints: int = 17,
                 hidden_dim: int = DEFAULT_HIDDEN, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.bn = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.relu = nn.ReLU()
        self.fc1 = nn.Linear(dim_rep * num_joints, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    @property
    def num_classes(self) -> int:
        return int(self.fc2.out_features)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        x = pool_persons(self.dropout(feat))
        return self.fc2(self.relu(self.bn(self.fc1(x))))


class ActionHeadEmbed(nn.Module):
    """The official 1-shot head: pooled representation -> ``fc1`` -> L2-normalised embedding."""

    def __init__(self, dim_rep: int = 512, num_joints: int = 17, hidden_dim: int = DEFAULT_HIDDEN,
                 dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(dim_rep * num_joints, hidden_dim)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fc1(pool_persons(self.dropout(feat))), dim=-1)


class ActionNet(nn.Module):
    """DSTformer backbone + action head; ``forward(x (N, M, T, 17, 3))`` -> logits (or embeddings).

    ``class_names`` (optional) travel with the model into our checkpoints.
    """

    def __init__(self, backbone: DSTformer, head: nn.Module, class_names: Sequence[str] = ()):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.class_names = tuple(class_names)

    @classmethod
    def build(cls, config: str | DSTformerConfig, num_classes: int, hidden_dim: int = DEFAULT_HIDDEN,
              dropout: float = 0.0, version: Literal["class", "embed"] = "class",
              class_names: Sequence[str] = ()) -> ActionNet:
        cfg = get_config(config)
        backbone = DSTformer(**cfg.model_kwargs())
        if version == "class":
            head: nn.Module = ActionHeadClassification(cfg.dim_rep, num_classes, cfg.num_joints, hidden_dim, dropout)
        elif version == "embed":
            head = ActionHeadEmbed(cfg.dim_rep, cfg.num_joints, hidden_dim, dropout)
        else:
            raise ValueError(f"version must be 'class' or 'embed', got {version!r}")
        return cls(backbone, head, class_names)

    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, M, T, J, 3)`` -> ``(N, M, T, J, D)``."""
        if x.ndim != 5:
            raise ValueError(f"ActionNet input must be (N, M, T, J, 3), got {tuple(x.shape)}")
        n, m, t, j, c = x.shape
        return self.backbone.get_representation(x.reshape(n * m, t, j, c)).reshape(n, m, t, j, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.representation(x))


# ---------------------------------------------------------------------------------------------------------
# Input preparation (official action normalisation)
# ---------------------------------------------------------------------------------------------------------


def resample_indices(n_in: int, n_out: int) -> np.ndarray:
    """Evenly spaced frame indices taking ``n_in`` frames to ``n_out`` (repeats frames of short clips)."""
    if n_in < 1:
        raise InvalidInputError("The clip has no frames.", "Give at least one frame of keypoints.")
    return np.linspace(0, n_in, num=n_out, endpoint=False).astype(int).clip(0, n_in - 1)


def crop_scale(xy: np.ndarray, conf: np.ndarray, scale_ratio: float = TEST_SCALE_RATIO) -> np.ndarray:
    """Map ``(..., 2)`` coordinates into [-1, 1] with one square box of all confident joints, ``scale_ratio`` x.

    Returns ``(..., 3)`` (x, y, conf); all zeros when fewer than 4 confident joints exist (as the official code).
    """
    xy = np.asarray(xy, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    out = np.zeros(xy.shape[:-1] + (3,), dtype=np.float32)
    known = (conf > 0) & np.isfinite(xy).all(axis=-1)
    pts = xy[known]
    if len(pts) < 4:
        return out
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    scale = float((hi - lo).max()) * scale_ratio
    if scale <= 0:
        return out
    start = (lo + hi - scale) / 2.0
    norm = np.clip(((xy - start) / scale - 0.5) * 2.0, -1.0, 1.0)
    out[..., :2] = np.where(known[..., None], norm, 0.0)
    out[..., 2] = np.where(known, np.clip(conf, 0.0, 1.0), 0.0)
    return out


def action_clip(
    xy: np.ndarray,
    conf: np.ndarray | None = None,
    n_frames: int = DEFAULT_CLIP_FRAMES,
    scale_ratio: float = TEST_SCALE_RATIO,
    n_persons: int = NUM_PERSONS,
) -> np.ndarray:
    """2D keypoints ``(T, 17, 2)`` or ``(M, T, 17, 2)`` (+ confidences) -> model input ``(n_persons, n_frames, 17, 3)``.

    Units of ``xy`` do not matter (pixels, metres of an orthographic view): the box normalisation removes them.
    Extra persons are dropped, missing ones are zeros (the official "fake person").
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim == 3:
        xy = xy[None]
    if xy.ndim != 4 or xy.shape[-1] != 2:
        raise InvalidInputError(f"Keypoints must be (T, J, 2) or (M, T, J, 2), got shape {xy.shape}.")
    c = np.ones(xy.shape[:-1]) if conf is None else np.asarray(conf, dtype=np.float64).reshape(xy.shape[:-1])
    idx = resample_indices(xy.shape[1], n_frames)
    clip = crop_scale(xy[:, idx], c[:, idx], scale_ratio)
    out = np.zeros((n_persons, n_frames) + clip.shape[2:], dtype=np.float32)
    k = min(n_persons, clip.shape[0])
    out[:k] = clip[:k]
    return out


def random_move(xy: np.ndarray, conf: np.ndarray | None, rng: np.random.Generator,
                angle_deg: float = 10.0, scale: tuple[float, float] = (0.9, 1.1), shift: float = 0.1) -> np.ndarray:
    """The official training augmentation: an in-plane rotation / scale / shift that drifts linearly from a random
    start value to a random end value over the clip (angles +-10 deg, scale 0.9-1.1, shift +-0.1 of the body size).

    ``xy`` ``(..., T, J, 2)``; the transform is about the centre of the confident joints, so units do not matter.
    """
    xy = np.asarray(xy, dtype=np.float64)
    c = np.ones(xy.shape[:-1]) if conf is None else np.asarray(conf).reshape(xy.shape[:-1])
    known = c > 0
    if known.sum() < 2:
        return xy
    pts = xy[known]
    centre = pts.mean(axis=0)
    size = float(np.ptp(pts, axis=0).max()) or 1.0
    t = xy.shape[-3]
    w = np.linspace(0.0, 1.0, t)[:, None]
    a0, a1 = np.radians(rng.uniform(-angle_deg, angle_deg, 2))
    s0, s1 = rng.uniform(*scale, 2)
    d0, d1 = rng.uniform(-shift, shift, (2, 2)) * size
    ang = (a0 + (a1 - a0) * w)[:, 0]
    sc = (s0 + (s1 - s0) * w)[:, 0]
    d = d0 + (d1 - d0) * w  # (T, 2)
    cos, sin = np.cos(ang) * sc, np.sin(ang) * sc
    p = xy - centre
    x = p[..., 0] * cos[:, None] - p[..., 1] * sin[:, None]
    y = p[..., 0] * sin[:, None] + p[..., 1] * cos[:, None]
    out = np.stack([x, y], axis=-1) + centre + d[:, None, :]
    return np.where(known[..., None], out, xy)


class ActionClipDataset(torch.utils.data.Dataset):
    """``(clip (M, T, 17, 3), label)`` pairs from 2D keypoints, with the official training augmentation.

    Training items (``augment=True``) use a random box enlargement in ``scale_range`` (official: [1, 3]) and
    :func:`random_move`; test items use the fixed ratio 2. Deterministic per ``(seed, epoch, index)``.
    """

    def __init__(self, clips: Sequence[tuple[np.ndarray, np.ndarray]], labels: Sequence[int],
                 n_frames: int = DEFAULT_CLIP_FRAMES, augment: bool = False,
                 scale_range: tuple[float, float] = (1.0, 3.0), seed: int = 0):
        if len(clips) != len(labels):
            raise ValueError(f"{len(clips)} clips but {len(labels)} labels")
        self.clips = list(clips)
        self.labels = [int(y) for y in labels]
        self.n_frames = n_frames
        self.augment = augment
        self.scale_range = scale_range
        self.seed = seed
        self.epoch = 0
        self._fixed = None if augment else [action_clip(xy, c, n_frames) for xy, c in self.clips]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.tensor(self.labels[i])
        if self._fixed is not None:
            return torch.from_numpy(self._fixed[i]), y
        rng = np.random.default_rng([self.seed, self.epoch, i])
        xy, c = self.clips[i]
        clip = action_clip(random_move(xy, c, rng), c, self.n_frames, scale_ratio=float(rng.uniform(*self.scale_range)))
        return torch.from_numpy(clip), y


# ---------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------


@dataclass
class LoadedAction:
    model: ActionNet
    config: DSTformerConfig
    metadata: dict[str, Any]
    report: LoadReport
    version: str = "class"
    extra: dict[str, Any] = field(default_factory=dict)


def _head_layout(head_sd: Mapping[str, torch.Tensor]) -> tuple[str, int, int | None]:
    """``(version, hidden_dim, num_classes)`` from the head tensors (official names after ``head.``)."""
    if "head.fc1.weight" not in head_sd:
        raise CheckpointError(
            "The checkpoint has no action head (no 'head.fc1.weight'): it is not an action model.",
            "Use an action checkpoint such as FT_MB_release_MB_ft_NTU60_xsub/best_epoch.bin, or train one with "
            "'gaitscope train-action'.",
        )
    hidden = int(head_sd["head.fc1.weight"].shape[0])
    if "head.fc2.weight" in head_sd:
        return "class", hidden, int(head_sd["head.fc2.weight"].shape[0])
    return "embed", hidden, None


def load_head_strict(model: nn.Module, prefix: str, state: Mapping[str, torch.Tensor]) -> int:
    """Copy ``state`` (keys start with ``prefix``) into ``model`` strictly: every key present, every shape equal.

    Raises :class:`CheckpointError` naming the offending keys and both shapes.
    """
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [(k, list(expected[k].shape), list(state[k].shape)) for k in expected
             if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append("missing key(s): " + ", ".join(missing[:5]))
    if unexpected:
        problems.append("unexpected key(s): " + ", ".join(unexpected[:5]))
    if wrong:
        problems.append("shape mismatch: " + "; ".join(
            f"{k} expected {e} but the checkpoint has {f}" for k, e, f in wrong[:5]))
    if problems:
        raise CheckpointError(
            "The checkpoint's task head does not match the model (" + " | ".join(problems) + ").",
            "Check the number of classes / hidden width, or that the file is a checkpoint of this kind of model.",
        )
    model.load_state_dict(dict(state), strict=False)
    return len(state)


def load_action_checkpoint(
    path: str | Path,
    config: str | DSTformerConfig | None = None,
    num_classes: int | None = None,
    trust_checkpoint: bool = False,
) -> LoadedAction:
    """An :class:`ActionNet` from an official MotionBERT action file or one saved by :func:`save_action_checkpoint`.

    The backbone is loaded strictly (as :func:`gaitscope.models.checkpoints.load_into`); the head too: its layout
    (hidden width, classes, class vs 1-shot embedding head) is read from the tensor shapes, and ``num_classes``,
    when given, must agree. Any mismatch is a :class:`CheckpointError` naming the key and both shapes.
    """
    ck = read_task_checkpoint(path, ACTION_FORMAT, config, trust_checkpoint, "an action head",
                              "Pass it as the encoder (--checkpoint) of 'gaitscope train-action' instead.")
    backbone_sd, head_sd, cfg, meta = ck.backbone_state, ck.head_state, ck.config, ck.metadata
    container, info = ck.container, ck.info
    version, hidden, n_cls = _head_layout(head_sd)
    if num_classes is not None and n_cls is not None and num_classes != n_cls:
        raise CheckpointError(
            f"The checkpoint's action head has {n_cls} classes (head.fc2.weight "
            f"{list(head_sd['head.fc2.weight'].shape)}) but {num_classes} were asked for.",
            "Use a checkpoint trained for these classes, or leave the number of classes unset.",
        )
    names = tuple(meta.get("class_names", ()))
    model = ActionNet.build(cfg, n_cls or 1, hidden_dim=hidden, version=version,  # type: ignore[arg-type]
                            class_names=names)
    n_bb, skipped = load_into(model.backbone, backbone_sd)
    n_head = load_head_strict(model, "head.", head_sd)
    report = LoadReport(str(path), container, n_bb + n_head, tuple(skipped), info)
    meta.setdefault("model_version", f"official:{Path(path).parent.name or Path(path).stem}")
    return LoadedAction(model.eval(), cfg, meta, report, version)


def save_task_checkpoint(path: str | Path, model: nn.Module, config: DSTformerConfig, format_name: str,
                         metadata: Mapping[str, Any] | None = None, format_version: int = 1) -> Path:
    """Backbone + task head weights (official key names, no ``module.``) + JSON metadata; atomic write.

    The lifter's writer with this task's format tag: read back with ``torch.load(weights_only=True)``, tensors and
    strings only, nothing that can run code.
    """
    return save_checkpoint(path, model, config, metadata, format_name=format_name, format_version=format_version)


@dataclass(frozen=True)
class TaskCheckpoint:
    """A task model's file split into encoder and head weights, before any model is built."""

    backbone_state: dict[str, Any]
    head_state: dict[str, Any]
    config: DSTformerConfig
    metadata: dict[str, Any]
    container: str
    info: dict[str, Any]


def read_task_checkpoint(path: str | Path, format_name: str, config: str | DSTformerConfig | None,
                         trust_checkpoint: bool, what: str, hint: str) -> TaskCheckpoint:
    """Read our task format (``format_name``) or an official MotionBERT task file (``module.backbone.*`` +
    ``module.head.*``); a plain lifter checkpoint is refused, saying it has no ``what`` and what to do (``hint``).

    The config comes from our metadata, from the official backbone's tensor shapes, or from ``config`` when given.
    """
    obj = read_checkpoint_file(path, trust_checkpoint=trust_checkpoint)
    if isinstance(obj, Mapping) and obj.get("format") == format_name:
        meta = json.loads(obj["metadata_json"])
        sd = obj["state_dict"]
        backbone_sd = {k.removeprefix("backbone."): v for k, v in sd.items() if k.startswith("backbone.")}
        head_sd = {k: v for k, v in sd.items() if not k.startswith("backbone.")}
        cfg = DSTformerConfig.from_dict(meta["config"]) if config is None else get_config(config)
        return TaskCheckpoint(backbone_sd, head_sd, cfg, meta, "gaitscope", {"format_version": obj.get("format_version")})
    if is_gaitscope_checkpoint(obj):
        raise CheckpointError(f"{path} is a gaitscope lifter checkpoint without {what}.", hint)
    backbone_sd, head_sd, container, info = extract_state_dict(obj)
    cfg = infer_config(backbone_sd) if config is None else get_config(config)
    return TaskCheckpoint(backbone_sd, head_sd, cfg, {}, container, info)


def save_action_checkpoint(path: str | Path, model: ActionNet, config: DSTformerConfig,
                           metadata: Mapping[str, Any] | None = None) -> Path:
    """Our action format: weights + metadata (config, class names, metrics); see :func:`save_task_checkpoint`."""
    meta = dict(metadata or {})
    meta["class_names"] = list(model.class_names)
    return save_task_checkpoint(path, model, config, ACTION_FORMAT, meta, ACTION_FORMAT_VERSION)


# ---------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def predict_logits(model: ActionNet, clips: np.ndarray | torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Logits ``(N, classes)`` of ready clips ``(N, M, T, 17, 3)`` in eval mode."""
    model.eval()
    x = torch.as_tensor(clips, dtype=torch.float32)
    dev = next(model.parameters()).device
    out = [model(x[i : i + batch_size].to(dev)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class, over all ``n_classes`` (:func:`sklearn.metrics.confusion_matrix`)."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    return sk_confusion_matrix(np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int),
                               labels=np.arange(n_classes))
