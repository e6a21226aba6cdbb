"""DSTformer: the dual-stream spatio-temporal transformer of MotionBERT (Zhu et al., ICCV 2023, arXiv 2210.06551).

Our own implementation of the architecture described in ``../shared/notes/motionbert.md`` section 1. Module and
parameter names reproduce the official ``state_dict`` one to one (section 1.8: 260 tensors, ``proj`` registered
before ``qkv``, ``pre_logits.fc``, ``ts_attn.{i}``), so the published checkpoints load strictly with no key map.

Input ``x``: ``(B, F, J, 3)`` with channels (u, v, conf): 2D keypoints normalised to about [-1, 1] plus the
detector confidence; zeros mean "joint unknown". ``F`` may be anything from 1 to ``maxlen``: the temporal embedding
is sliced to the first ``F`` rows and there is no padding or masking anywhere, so a short clip is simply a short
clip (never pad: padding changes the result).

Output of :meth:`DSTformer.forward`: ``(B, F, J, 3)`` 3D joints in the same normalised image space (x right, y
down, z away from the camera). :meth:`DSTformer.get_representation` stops before the head and returns the
``(B, F, J, dim_rep)`` motion representation (values in (-1, 1) after the Tanh).

Speed: attention uses :func:`torch.nn.functional.scaled_dot_product_attention`, which on CPU runs a fused kernel
instead of materialising the softmax in separate ops; it computes the same function as the textbook
``softmax(q k^T / sqrt(d)) v``. The parity of this implementation with an explicit reference forward is tested in
``tests/models/test_models_dstformer.py``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

#: MotionBERT builds every LayerNorm with eps 1e-6 (the class default 1e-5 would break numerical parity).
LAYERNORM_EPS = 1e-6


class Attention(nn.Module):
    """Multi-head self-attention over joints (``mode="spatial"``) or over frames per joint (``"temporal"``).

    ``proj`` is created before ``qkv`` on purpose: the official module registers them in that order and we keep
    the ``state_dict`` order identical. ``qkv`` rows are [q | k | v], each split head-major into ``num_heads``
    contiguous slices of width ``dim // num_heads``.
    """

    def __init__(self, dim: int, num_heads: int, mode: Literal["spatial", "temporal"], qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.mode = mode
        self.proj = nn.Linear(dim, dim)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)

    def forward(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        """``x``: ``(B*F, J, C)`` tokens, batch-major then frame (b, f); returns the same shape.

        No step here copies a tensor: the fused CPU attention kernel takes strided q/k/v (only the last axis must
        be contiguous) and returns its output as a transposed view of a ``(batch, seq, heads, d)`` block, which is
        exactly the token layout ``proj`` wants.
        """
        bf, n, c = x.shape
        h, d = self.num_heads, self.head_dim
        if self.mode == "spatial":
            # (BF, J, 3, H, d) -> 3 x (BF, H, J, d) strided views: each frame attends over its 17 joints.
            q, k, v = self.qkv(x).view(bf, n, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)  # (BF, H, J, d), a view of (BF, J, H, d)
            return self.proj(out.transpose(1, 2).reshape(bf, n, c))
        # Temporal: each joint attends over its own trajectory. q, k and v are projected separately (three GEMMs on
        # row blocks of the one ``qkv`` weight, the same arithmetic as one) so that each comes out contiguous as
        # (B, F, J*H, d); joints and heads then merge into one batch axis as a free view (a fused qkv output would
        # interleave q/k/v between joints and force a permute copy of all three). 4-D tensors keep PyTorch on its
        # fused CPU kernel (a 5-D call falls back to the unfused path, about 3x slower here).
        b = bf // seqlen
        w, bias = self.qkv.weight, self.qkv.bias
        q, k, v = (
            F.linear(x, w[i * c : (i + 1) * c], None if bias is None else bias[i * c : (i + 1) * c])
            .view(b, seqlen, n * h, d)
            .transpose(1, 2)
            for i in range(3)
        )
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)  # (B, J*H, F, d), a view of (B, F, J*H, d)
        return self.proj(out.transpose(1, 2).reshape(bf, n, c))


class Mlp(nn.Module):
    """Position-wise feed-forward: ``fc1`` -> exact (erf) GELU -> ``fc2``."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # approximate="none": MotionBERT uses the exact GELU
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """One pre-norm transformer block holding a spatial and a temporal half.

    ``order="st"``: spatial attention + MLP, then temporal attention + MLP; ``"ts"`` the other way round. Both
    orders own the same parameters (attribute order as in the official ``state_dict``).
    """

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, order: Literal["st", "ts"], qkv_bias: bool = True):
        super().__init__()
        self.order = order
        self.norm1_s = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.norm1_t = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.attn_s = Attention(dim, num_heads, "spatial", qkv_bias)
        self.attn_t = Attention(dim, num_heads, "temporal", qkv_bias)
        self.norm2_s = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.norm2_t = nn.LayerNorm(dim, eps=LAYERNORM_EPS)
        self.mlp_s = Mlp(dim, mlp_hidden)
        self.mlp_t = Mlp(dim, mlp_hidden)

    def _spatial(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        x = x + self.attn_s(self.norm1_s(x), seqlen)
        return x + self.mlp_s(self.norm2_s(x))

    def _temporal(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        x = x + self.attn_t(self.norm1_t(x), seqlen)
        return x + self.mlp_t(self.norm2_t(x))

    def forward(self, x: torch.Tensor, seqlen: int) -> torch.Tensor:
        if self.order == "st":
            return self._temporal(self._spatial(x, seqlen), seqlen)
        return self._spatial(self._temporal(x, seqlen), seqlen)


class DSTformer(nn.Module):
    """Dual-stream spatio-temporal transformer (MotionBERT backbone + 3D head).

    Arguments mirror :class:`gaitscope.models.configs.DSTformerConfig`; use
    ``DSTformer(**get_config("motionbert").model_kwargs())`` for the published base model.
    """

    def __init__(
        self,
        dim_in: int = 3,
        dim_out: int = 3,
        dim_feat: int = 512,
        dim_rep: int = 512,
        depth: int = 5,
        num_heads: int = 8,
        mlp_ratio: float = 2.0,
        num_joints: int = 17,
        maxlen: int = 243,
        qkv_bias: bool = True,
        att_fuse: bool = True,
    ):
        super().__init__()
        self.dim_in, self.dim_out, self.dim_feat, self.dim_rep = dim_in, dim_out, dim_feat, dim_rep
        self.num_joints, self.maxlen, self.depth, self.att_fuse = num_joints, maxlen, depth, att_fuse
        hidden = int(dim_feat * mlp_ratio)
        # Raw parameters first: the official state_dict lists temp_embed, then pos_embed, then the children.
        self.temp_embed = nn.Parameter(torch.zeros(1, maxlen, 1, dim_feat))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.blocks_st = nn.ModuleList([Block(dim_feat, num_heads, hidden, "st", qkv_bias) for _ in range(depth)])
        self.blocks_ts = nn.ModuleList([Block(dim_feat, num_heads, hidden, "ts", qkv_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim_feat, eps=LAYERNORM_EPS)
        self.pre_logits = nn.Sequential(OrderedDict([("fc", nn.Linear(dim_feat, dim_rep)), ("act", nn.Tanh())]))
        self.head = nn.Linear(dim_rep, dim_out)
        if att_fuse:
            self.ts_attn = nn.ModuleList([nn.Linear(dim_feat * 2, 2) for _ in range(depth)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MotionBERT's initialisation (truncated normal 0.02; fusion starts as a plain average)."""
        nn.init.trunc_normal_(self.temp_embed, std=0.02, a=-2.0, b=2.0)
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-2.0, b=2.0)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.att_fuse:
            for lin in self.ts_attn:
                nn.init.zeros_(lin.weight)
                nn.init.constant_(lin.bias, 0.5)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[2] != self.num_joints or x.shape[3] != self.dim_in:
            raise ValueError(
                f"DSTformer input must have shape (B, F, {self.num_joints}, {self.dim_in}), got {tuple(x.shape)}"
            )
        if not 1 <= x.shape[1] <= self.maxlen:
            raise ValueError(
                f"clip length {x.shape[1]} is outside 1..{self.maxlen}; cut long sequences into windows "
                "(gaitscope.models.inference does this)"
            )

    def get_representation(self, x: torch.Tensor) -> torch.Tensor:
        """Motion representation ``(B, F, J, dim_rep)``: the backbone up to and including ``pre_logits``."""
        self._check_input(x)
        b, f, j, _ = x.shape
        h = self.joints_embed(x.reshape(b * f, j, -1)) + self.pos_embed
        h = (h.view(b, f, j, -1) + self.temp_embed[:, :f]).view(b * f, j, -1)
        for i in range(self.depth):
            x_st = self.blocks_st[i](h, f)
            x_ts = self.blocks_ts[i](h, f)
            if self.att_fuse:
                # ts_attn(cat([x_st, x_ts])) without building the (tokens, 2C) concatenation: the weight's two
                # column blocks are applied to each stream and summed (the same sum, one copy fewer per block).
                fuse = self.ts_attn[i]
                logits = F.linear(x_st, fuse.weight[:, : self.dim_feat]) + F.linear(
                    x_ts, fuse.weight[:, self.dim_feat :], fuse.bias
                )
                alpha = logits.softmax(dim=-1)
                h = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
            else:
                h = (x_st + x_ts) * 0.5
        h = self.norm(h).view(b, f, j, -1)
        return self.pre_logits(h)

    def forward(self, x: torch.Tensor, return_rep: bool = False) -> torch.Tensor:
        """3D joints ``(B, F, J, dim_out)``; with ``return_rep=True`` the representation instead."""
        rep = self.get_representation(x)
        return rep if return_rep else self.head(rep)


def count_parameters(model: nn.Module) -> int:
    """All parameters, the raw embeddings included (``thop``-style counters miss those; notes section 1.7)."""
    return sum(p.numel() for p in model.parameters())


def flops_per_clip(config: str, frames: int) -> int:
    """FLOPs (2 per multiply-accumulate) of one forward of one ``frames``-long clip of the named configuration,
    attention matmuls included; counted by ``torch.utils.flop_counter`` on meta tensors (no compute, no memory)."""
    from torch.utils.flop_counter import FlopCounterMode

    from gaitscope.models.configs import get_config

    cfg = get_config(config)
    with torch.device("meta"):
        model = DSTformer(**cfg.model_kwargs())
        x = torch.zeros(1, frames, cfg.num_joints, cfg.dim_in)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x)
    return int(counter.get_total_flops())
