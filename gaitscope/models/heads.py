"""Task heads on top of the DSTformer representation (fine-tuning / probing for clinical classes).

The recipe of the Parkinson's benchmark (Adeli et al., FG 2024; MotionBERT notes section 4.3 and 8): take the
``(B, F, 17, D)`` representation, average over time, then either average over joints (``D`` features) or flatten
the joints (``17 D``), then a small MLP. MotionBERT's action head (section 4.1) is the flatten variant with one
2048-wide hidden layer with BatchNorm; we use LayerNorm instead so a batch of one clip behaves like a batch of many.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from gaitscope.models.dstformer import DSTformer

Pooling = Literal["mean", "flatten"]


class ClassificationHead(nn.Module):
    """Pooled representation -> logits. ``hidden=()`` gives a linear probe."""

    def __init__(
        self,
        dim_rep: int,
        num_classes: int,
        num_joints: int = 17,
        pooling: Pooling = "mean",
        hidden: tuple[int, ...] = (256,),
        dropout: float = 0.5,
    ):
        super().__init__()
        if pooling not in ("mean", "flatten"):
            raise ValueError(f"pooling must be 'mean' or 'flatten', got {pooling!r}")
        self.pooling = pooling
        width = dim_rep if pooling == "mean" else dim_rep * num_joints
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.mlp = nn.Sequential(*layers)

    def pool(self, rep: torch.Tensor) -> torch.Tensor:
        """``(B, F, J, D)`` -> ``(B, D)`` (mean) or ``(B, J*D)`` (flatten)."""
        over_time = rep.mean(dim=1)
        return over_time.mean(dim=1) if self.pooling == "mean" else over_time.flatten(1)

    def forward(self, rep: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.pool(rep))


class EncoderClassifier(nn.Module):
    """DSTformer encoder + :class:`ClassificationHead`; ``forward(x)`` maps 2D clips ``(B, F, 17, 3)`` to logits.

    ``freeze_backbone=True`` is the frozen-probe protocol (backbone in eval mode, no gradients); otherwise the
    whole model is fine-tuned (give the backbone a smaller learning rate, see ``TrainConfig.backbone_lr_mult``).
    The state dict keeps the official task layout (``backbone.*``, ``head.*``), so our fine-tuned files read like
    MotionBERT's action checkpoints.
    """

    def __init__(self, backbone: DSTformer, head: ClassificationHead, freeze_backbone: bool = False):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> "EncoderClassifier":
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.freeze_backbone:
            with torch.no_grad():
                rep = self.backbone.get_representation(x)
        else:
            rep = self.backbone.get_representation(x)
        return self.head(rep)
