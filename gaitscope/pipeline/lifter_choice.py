"""Which 3D lifter the pipeline uses: the user's checkpoint when given, else the one bundled with the package.

The bundled checkpoint is trained by ``gaitscope train-lifter`` (see the model card beside it) so a fresh install
lifts to 3D with no download. An official MotionBERT file is accepted too (same state-dict layout).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gaitscope.errors import CheckpointError

log = logging.getLogger(__name__)

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"
BUNDLED_LIFTER = BUNDLED_DIR / "lifter_small.pt"


def load_lifter(checkpoint: str | os.PathLike | None = None):
    """Return a ``gaitscope.models.inference.Lifter`` for ``checkpoint`` or the bundled lifter, anchored to the
    2D detections unless ``GAITSCOPE_ANCHOR_2D=0`` (:mod:`gaitscope.models.anchoring`), the knees' depth bend
    scaled so the limbs keep their length unless ``GAITSCOPE_KNEE_DEPTH=0`` (:mod:`gaitscope.models.depth_scale`),
    and with the legs' labels decided over the whole sequence unless ``GAITSCOPE_LEG_IDENTITY=0``
    (:mod:`gaitscope.models.leg_identity`); all three are recorded in its source."""
    from gaitscope.models.inference import Lifter
    from gaitscope.settings import settings

    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.exists():
            raise CheckpointError(f"Checkpoint file not found: {path}.",
                                  "Pass the path of an official MotionBERT .bin or a gaitscope .pt file.")
    elif BUNDLED_LIFTER.exists():
        path = BUNDLED_LIFTER
    else:
        raise CheckpointError(
            f"No bundled 3D lifter found at {BUNDLED_LIFTER}.",
            "Train it with `gaitscope train-lifter` or pass --checkpoint PATH to an official MotionBERT checkpoint.",
        )
    lifter = Lifter.from_checkpoint(path)
    lifter.anchor_2d = settings().anchor_2d
    lifter.leg_identity = settings().leg_identity
    lifter.knee_depth = settings().knee_depth
    lifter.ray_yaw = settings().ray_yaw
    return lifter


def embedding_lifter(checkpoint: str | Path | None = None, allow_untrained: bool = True):
    """The encoder for embeddings: ``checkpoint``, else the bundled lifter, else (if allowed) an untrained small
    DSTformer, with a logged warning (random features: fine for plumbing, meaningless clinically)."""
    try:
        return load_lifter(checkpoint)
    except CheckpointError:
        if checkpoint is not None or not allow_untrained:
            raise
    from gaitscope.models.inference import Lifter

    log.warning("No bundled lifter found: embeddings come from an UNTRAINED small DSTformer (random features).")
    return Lifter.untrained("small")
