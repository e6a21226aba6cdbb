"""gaitscope.models: the DSTformer motion encoder (MotionBERT), its checkpoints, inference and training.

Modules (each with one job):

* ``configs``     DSTformerConfig; published "motionbert" / "motionbert-lite" and our fast "small".
* ``dstformer``   the network, with the official parameter names (official checkpoints load strictly).
* ``checkpoints`` official MotionBERT files and our weights-only format; ``load_checkpoint``, ``save_checkpoint``.
* ``preprocess``  Keypoints2D -> normalised model input; flip; sliding windows with cross-fade.
* ``inference``   ``Lifter``: ``lift(Keypoints2D) -> Motion3D`` and ``embed(Keypoints2D) -> MotionEmbedding``.
* ``embed``       pooling of the representation into clip / sequence embeddings.
* ``heads``       classification head and encoder + head model for clinical fine-tuning.
* ``losses``      MPJPE, N-MPJPE, velocity, limb, weighted 2D losses.
* ``datasets``    training-pair datasets (any 3D motion through an injected camera sampler).
* ``training``    the single training loop (AMP, clipping, warm-up + cosine, checkpoint/resume, CSV log).
* ``features``, ``classifiers``, ``evaluation``: clinical classifiers on embeddings / gait features.

``from gaitscope.models import Lifter`` works and imports torch only when used.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Lifter": "gaitscope.models.inference",
    "DSTformer": "gaitscope.models.dstformer",
    "DSTformerConfig": "gaitscope.models.configs",
    "get_config": "gaitscope.models.configs",
    "load_checkpoint": "gaitscope.models.checkpoints",
    "save_checkpoint": "gaitscope.models.checkpoints",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gaitscope.models' has no attribute {name!r}")
