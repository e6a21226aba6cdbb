"""One training loop for lifting (pretraining / fine-tuning) and for classification fine-tuning.

What the task is lives in an *objective*: ``objective(model, batch, device) -> (loss, {metric: float})``.
:class:`Pose3DObjective` is MotionBERT's 3D loss (``losses.pose3d_loss``); :class:`ClassificationObjective` is
(class-weighted) cross-entropy for an :class:`~gaitscope.models.heads.EncoderClassifier`.

The loop is step-based (not epoch-based) so short CPU runs and long GPU runs use one code path:

* AdamW (MotionBERT: lr 5e-4, weight decay 0.01), optional smaller learning rate for a ``backbone`` submodule;
* linear warm-up, then cosine decay (or step decay, or constant);
* gradient clipping; bf16/fp16 autocast on CUDA (with a GradScaler for fp16), fp32 on CPU;
* a checkpoint every ``ckpt_every`` steps and at the end (``last.pt``, written atomically) with model,
  optimizer, scaler, RNG states and the step counter; a rerun with the same ``out_dir`` resumes from it, replays
  the data order exactly (the shuffle of each epoch is seeded by ``seed + epoch`` and the batches already done
  are skipped), and truncates ``metrics.csv`` back to the checkpoint so no step is logged twice;
* a tqdm progress bar with the running loss; every step is appended to ``metrics.csv``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch
from torch import nn
from tqdm.auto import tqdm

from gaitscope.errors import CheckpointError
from gaitscope.models.checkpoints import save_checkpoint
from gaitscope.models.configs import DSTformerConfig
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.losses import LossWeights, pose3d_loss

Objective = Callable[[nn.Module, Any, torch.device], tuple[torch.Tensor, dict[str, float]]]

TRAIN_FORMAT = "gaitscope-train-state"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``steps`` is the total number of optimizer steps of the whole run."""

    steps: int
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    backbone_lr_mult: float = 1.0  # lr factor for a submodule named ``backbone`` (fine-tuning: e.g. 0.1)
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    step_size: int = 1000  # "step" schedule: multiply by gamma every step_size steps
    gamma: float = 0.99
    grad_clip: float | None = 1.0
    amp: bool = True  # autocast on CUDA only
    ckpt_every: int = 100
    seed: int = 0
    num_workers: int = 0
    progress: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at ``step`` (0-based): warm-up then the chosen decay."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "step":
        return cfg.gamma ** (t // cfg.step_size)
    span = max(1, cfg.steps - cfg.warmup_steps)
    cos = 0.5 * (1.0 + math.cos(math.pi * min(t, span) / span))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cos


@dataclass
class Pose3DObjective:
    """MotionBERT's 3D objective on ``(x2d, y3d)`` batches."""

    weights: LossWeights = field(default_factory=LossWeights)

    def __call__(self, model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0].to(device), batch[1].to(device)
        pred = model(x)
        return pose3d_loss(pred.float(), y.float(), self.weights)


@dataclass
class ClassificationObjective:
    """Cross-entropy on ``(x2d, label)`` batches; ``class_weights`` for unbalanced clinical classes."""

    class_weights: tuple[float, ...] | None = None
    label_smoothing: float = 0.0

    def __call__(self, model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch[0].to(device), batch[1].to(device).long()
        logits = model(x).float()
        w = torch.tensor(self.class_weights, device=device) if self.class_weights else None
        loss = nn.functional.cross_entropy(logits, y, weight=w, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(dim=-1) == y).float().mean()
        return loss, {"ce": float(loss.detach()), "acc": float(acc)}


@dataclass
class TrainResult:
    step: int
    last_loss: float
    resumed_from: int | None
    checkpoint: Path
    metrics_csv: Path


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    backbone = getattr(model, "backbone", None)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if backbone is None or cfg.backbone_lr_mult == 1.0:
        return [{"params": trainable, "lr_mult": 1.0}]
    bb = {id(p) for p in backbone.parameters()}
    groups = [
        {"params": [p for p in trainable if id(p) in bb], "lr_mult": cfg.backbone_lr_mult},
        {"params": [p for p in trainable if id(p) not in bb], "lr_mult": 1.0},
    ]
    return [g for g in groups if g["params"]]  # a frozen backbone leaves its group empty


def _batches(n: int, cfg: TrainConfig, epoch: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    bs = min(cfg.batch_size, n)
    return [perm[i : i + bs] for i in range(0, n - bs + 1, bs)]  # drop the ragged tail


def _autocast(device: torch.device, enabled: bool) -> tuple[contextlib.AbstractContextManager, torch.dtype | None]:
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


def _save_state(path: Path, model, opt, scaler, step, epoch, cfg, metadata) -> None:
    state = {
        "format": TRAIN_FORMAT,
        "step": step,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "train_config_json": json.dumps(cfg.to_dict()),
        "metadata_json": json.dumps(metadata or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_train_state(path: str | Path) -> dict:
    """Read a ``last.pt`` written by :func:`train` (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"The training checkpoint {path} cannot be read: {exc}",
                              "Delete it to start the run from scratch.") from exc
    if not isinstance(state, dict) or state.get("format") != TRAIN_FORMAT:
        raise CheckpointError(f"{path} is not a gaitscope training checkpoint.")
    return state


def _truncate_csv(path: Path, step: int) -> list[str] | None:
    if not path.exists():
        return None
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0].keys()) if rows else None
    if header is None:
        return None
    keep = [r for r in rows if int(r["step"]) <= step]
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        w.writerows(keep)
    return header


def train(
    model: nn.Module,
    dataset: torch.utils.data.Dataset,
    objective: Objective,
    cfg: TrainConfig,
    out_dir: str | Path,
    device: str | torch.device | None = None,
    resume: bool = True,
    metadata: dict | None = None,
    stop_after: int | None = None,
    export_config: DSTformerConfig | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset`` with ``objective`` until ``cfg.steps`` (resuming from ``out_dir/last.pt``).

    ``stop_after`` ends this call after that many steps of the run (a checkpoint is written first): handy for
    time-sliced jobs. ``metadata`` (JSON-able) is stored in the training checkpoint. torch's global RNG is seeded
    with ``cfg.seed`` (dropout, random heads) and its state is saved with every checkpoint. With ``export_config`` (and a
    :class:`DSTformer` model) the finished run is also written as ``out_dir/model.pt`` in the shipped format
    (:func:`gaitscope.models.checkpoints.save_checkpoint`) with the metadata, the training settings and the
    final loss terms.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, csv_path = out / "last.pt", out / "metrics.csv"
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(dev)
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")

    groups = _param_groups(model, cfg)
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    amp_ctx, amp_dtype = _autocast(dev, cfg.amp)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    step, resumed_from = 0, None
    torch.manual_seed(cfg.seed)
    if resume and ckpt_path.exists():
        state = load_train_state(ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if scaler is not None and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        step = resumed_from = int(state["step"])
    header = _truncate_csv(csv_path, step) if resumed_from is not None else None
    if resumed_from is None and csv_path.exists():
        csv_path.unlink()

    n_batches = len(_batches(len(dataset), cfg, 0))
    end = cfg.steps if stop_after is None else min(cfg.steps, step + stop_after)
    bar = tqdm(total=cfg.steps, initial=step, disable=not cfg.progress, desc="train", dynamic_ncols=True)
    last_loss = float("nan")
    last_metrics: dict[str, float] = {}
    writer_fh = csv_path.open("a", newline="")
    writer: csv.DictWriter | None = None
    if header:
        writer = csv.DictWriter(writer_fh, fieldnames=header, extrasaction="ignore")
    t0 = time.perf_counter()
    try:
        model.train()
        while step < end:
            epoch, skip = divmod(step, n_batches)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            batches = _batches(len(dataset), cfg, epoch)[skip:]
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=cfg.num_workers)
            for batch in loader:
                factor = lr_factor(step, cfg)
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * factor * g.get("lr_mult", 1.0)
                with amp_ctx:
                    loss, metrics = objective(model, batch, dev)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {float(loss)} at step {step}; lower the learning rate")
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(opt)
                else:
                    loss.backward()
                gnorm = (
                    float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
                    if cfg.grad_clip
                    else float("nan")
                )
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                step += 1
                last_loss = float(loss.detach())
                last_metrics = metrics
                row = {"step": step, "epoch": epoch, "lr": cfg.lr * factor, "loss": last_loss,
                       "grad_norm": gnorm, "time_s": round(time.perf_counter() - t0, 3), **metrics}
                if writer is None:
                    writer = csv.DictWriter(writer_fh, fieldnames=list(row), extrasaction="ignore")
                    writer.writeheader()
                writer.writerow(row)
                writer_fh.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}")
                if step % cfg.ckpt_every == 0 or step == end:
                    _save_state(ckpt_path, model, opt, scaler, step, epoch, cfg, metadata)
                if step >= end:
                    break
    finally:
        writer_fh.close()
        bar.close()
    if export_config is not None and step >= cfg.steps and isinstance(model, DSTformer):
        meta = dict(metadata or {})
        meta["training"] = {"config": cfg.to_dict(), "steps": step, "final_loss": last_loss,
                            "final_metrics": last_metrics}
        save_checkpoint(out / "model.pt", model, export_config, meta)
    return TrainResult(step, last_loss, resumed_from, ckpt_path, csv_path)
