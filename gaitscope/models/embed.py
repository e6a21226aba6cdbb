"""Pooling the DSTformer motion representation into embeddings for downstream classifiers.

The representation is ``get_representation(x)``: ``(T, 17, D)`` per frame and joint (D = ``dim_rep`` = 512 for
the published models). Following the clinical benchmark of Adeli et al. (FG 2024; notes section 4.3/8), a clip or
a whole sequence is summarized by the mean over time and then over joints (``D`` numbers); the per-joint variant
keeps the joints (``17 x D``) for heads that want body-part detail.
"""

from __future__ import annotations

import numpy as np

from gaitscope.models.preprocess import window_starts
from gaitscope.records import MotionEmbedding


def to_motion_embedding(
    rep: np.ndarray, model_name: str, model_version: str, keep_per_joint: bool = False
) -> MotionEmbedding:
    """``(T, 17, D)`` representation -> :class:`MotionEmbedding` (pooled ``(D,)``, per frame ``(T, D)``).

    A ``(T, D)`` array is taken as already averaged over joints (what a long-video pass keeps to stay in flat
    memory); ``keep_per_joint`` then has nothing to keep and is refused.
    """
    rep = np.asarray(rep, dtype=np.float32)
    if rep.ndim == 2:
        if keep_per_joint:
            raise ValueError("keep_per_joint needs the (T, 17, D) representation, got one averaged over joints")
        per_frame = rep
    else:
        per_frame = rep.mean(axis=1)
    return MotionEmbedding(
        pooled=per_frame.mean(axis=0),
        per_frame=per_frame,
        model_name=model_name,
        model_version=model_version,
        per_joint=rep if keep_per_joint else None,
    )


def pool_clips(per_frame: np.ndarray, clip_len: int, stride: int | None = None) -> np.ndarray:
    """Mean embedding of each clip of ``clip_len`` frames (stride defaults to ``clip_len``: disjoint clips).

    Works on ``(T, D)`` per-frame embeddings or on ``(T, 17, D)`` per-joint ones (then ``(n_clips, 17, D)``).
    A sequence shorter than ``clip_len`` gives one clip. The last clip is aligned to the last frame so no frame
    is dropped. Clip-level vectors are what a classifier trained on clips (as in the PD benchmark) expects.
    """
    n = per_frame.shape[0]
    starts = window_starts(n, clip_len, stride or clip_len)
    length = min(clip_len, n)
    return np.stack([per_frame[s : s + length].mean(axis=0) for s in starts])
