"""Activities and meshes of stored recordings, for the dashboard (and scripts).

* Activity segmentation: an :class:`~gaitscope.models.action_matching.ActionMatcher` is built from labelled
  example clips, either the built-in synthetic examples (walk, sit-to-stand, arm raise, squat; see
  :mod:`gaitscope.models.ntu_synthetic`) or NTU-format ``.skeleton`` files a user supplies (label = the action
  number's class name), with the platform's encoder (the bundled lifter's DSTformer, or a given checkpoint); then
  :func:`~gaitscope.models.action_matching.segment_activities` labels a recording's 2D keypoints (or its 3D motion
  when no keypoints were stored).
* Mesh: when the SMPL files are configured (``$GAITSCOPE_SMPL_DIR``) and a mesh checkpoint is named by
  ``$GAITSCOPE_MESH_CHECKPOINT`` (the official ``FT_MB_release_MB_ft_pw3d/best_epoch.bin`` or one of ours), a
  :class:`~gaitscope.models.mesh.MeshSequence` of the recording; :func:`mesh_status` says what is missing otherwise.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitscope.errors import CheckpointError, InvalidInputError

log = logging.getLogger(__name__)

MESH_CHECKPOINT_ENV = "GAITSCOPE_MESH_CHECKPOINT"
#: Clip length fed to the encoder by the dashboard's matcher (81 keeps CPU segmentation interactive).
MATCHER_FRAMES = 81


def builtin_examples(subjects: Sequence[int] = (11, 12), n_frames: int = 72, yaw_deg: Sequence[float] = (90.0, 0.0)
                     ) -> tuple[list[np.ndarray], list[str]]:
    """Clips ``(T, 17, 3)`` (colour pixels + confidence) of the four synthetic actions, one per subject and view.

    The default views are a side view (90 degrees, like a gait video) and a frontal one.
    """
    from gaitscope.models import ntu
    from gaitscope.models.ntu_synthetic import SYNTHETIC_ACTIONS, body_joints, to_camera

    clips: list[np.ndarray] = []
    labels: list[str] = []
    for s in subjects:
        rng = np.random.default_rng(s)
        height, tempo = float(rng.uniform(1.5, 1.9)), float(rng.uniform(0.85, 1.15))
        for yaw in yaw_deg:
            for action in SYNTHETIC_ACTIONS:
                xyz = to_camera(body_joints(action, n_frames, height, tempo), yaw)
                xy, conf = ntu.kinect_to_h36m(ntu.project_points(xyz))
                clips.append(np.concatenate([xy, conf[..., None]], axis=-1).astype(np.float32))
                labels.append(action)
    return clips, labels


def examples_from_skeleton_files(files: Sequence[tuple[str, bytes]], class_names: Sequence[str] | None = None
                                 ) -> tuple[list[np.ndarray], list[str]]:
    """Labelled clips from uploaded ``.skeleton`` files ``(file name, content)``; the label is the class name of
    the file's action number (``class_names``, default NTU-60), the first body's colour-pixel keypoints."""
    from gaitscope.models import ntu

    names = tuple(class_names) if class_names else ntu.NTU60_CLASSES
    clips: list[np.ndarray] = []
    labels: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fname, content in files:
            meta = ntu.parse_ntu_name(fname)
            p = Path(tmp) / Path(fname).name
            p.write_bytes(content)
            skel = ntu.read_skeleton(p)
            xy, conf = ntu.skeleton_to_h36m_2d(skel, "color")
            clips.append(np.concatenate([xy[0], conf[0][..., None]], axis=-1).astype(np.float32))
            labels.append(names[meta.label] if meta.label < len(names) else f"action {meta.action}")
    if not clips:
        raise InvalidInputError("No example clips were given.", "Upload at least one .skeleton file per activity.")
    return clips, labels


@dataclass
class MatcherInfo:
    """A fitted matcher and where its encoder came from (shown to the user)."""

    matcher: Any
    encoder: str
    untrained: bool
    labels: tuple[str, ...]


def build_matcher(clips: Sequence[Any], labels: Sequence[str], checkpoint: str | os.PathLike | None = None,
                  n_frames: int | None = None) -> MatcherInfo:
    """Fit an :class:`ActionMatcher` on the examples with the platform's encoder (see the module docstring)."""
    from gaitscope.models.action_matching import ActionMatcher
    from gaitscope.pipeline.lifter_choice import embedding_lifter

    lifter = embedding_lifter(checkpoint, allow_untrained=True)
    untrained = str(lifter.version).startswith("untrained")
    matcher = ActionMatcher(lifter.model, n_frames=n_frames or MATCHER_FRAMES).fit(list(clips), list(labels))
    return MatcherInfo(matcher, f"{lifter.name}@{lifter.version}", untrained, matcher.classes_)


def segment_recording(keypoints: Any, motion: Any, info: MatcherInfo, window_s: float = 2.0, hop_s: float = 0.5):
    """Segments of a stored recording: its 2D keypoints when stored (the encoder's own input), else its 3D motion."""
    from gaitscope.models.action_matching import segment_activities

    source = keypoints if keypoints is not None else motion
    if source is None:
        raise InvalidInputError("The recording has neither 2D keypoints nor 3D motion stored.")
    return segment_activities(source, info.matcher, window_s=window_s, hop_s=hop_s)


def segments_frame(segments: Sequence[Any]) -> pd.DataFrame:
    """Table of segments: start, end, duration (s), activity, similarity."""
    return pd.DataFrame({
        "start_s": [round(s.start_s, 2) for s in segments],
        "end_s": [round(s.end_s, 2) for s in segments],
        "duration_s": [round(s.end_s - s.start_s, 2) for s in segments],
        "activity": [s.label for s in segments],
        "similarity": [round(s.similarity, 3) for s in segments],
    })


# ---------------------------------------------------------------------------------------------------------
# Mesh
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeshStatus:
    ready: bool
    message: str  # what is missing and how to configure it (empty when ready)
    smpl_dir: str | None = None
    checkpoint: str | None = None


def mesh_status(smpl_dir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None) -> MeshStatus:
    """Whether the mesh view can run: SMPL files found and a mesh checkpoint named (env vars or arguments)."""
    from gaitscope.models.body_model import find_model_file
    from gaitscope.models.body_model import smpl_dir as resolve_dir

    try:
        find_model_file(smpl_dir)
    except CheckpointError as exc:
        return MeshStatus(False, str(exc))
    from gaitscope.settings import settings

    ckpt = str(checkpoint) if checkpoint else settings().mesh_checkpoint
    folder = str(resolve_dir(smpl_dir))
    if not ckpt:
        return MeshStatus(False, f"SMPL files found in {folder}, but no mesh model is configured: set "
                                 f"${MESH_CHECKPOINT_ENV} to a mesh checkpoint (the official MotionBERT "
                                 "FT_MB_release_MB_ft_pw3d/best_epoch.bin, or one saved by gaitscope).", folder)
    if not Path(ckpt).is_file():
        return MeshStatus(False, f"The mesh checkpoint {ckpt} (${MESH_CHECKPOINT_ENV}) does not exist.", folder, ckpt)
    return MeshStatus(True, "", folder, ckpt)


def load_mesh_model(smpl_dir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None):
    """The configured :class:`~gaitscope.models.mesh.LoadedMesh` (raises the configuration problem otherwise)."""
    from gaitscope.models.body_model import BodyModel
    from gaitscope.models.mesh import load_mesh_checkpoint

    status = mesh_status(smpl_dir, checkpoint)
    if not status.ready:
        raise CheckpointError(status.message)
    body = BodyModel.from_dir(smpl_dir)
    return load_mesh_checkpoint(status.checkpoint, body)  # type: ignore[arg-type]


def mesh_for_keypoints(loaded: Any, keypoints: Any, max_frames: int = 300):
    """Mesh sequence of (at most the first ``max_frames`` frames of) a recording's 2D keypoints."""
    from dataclasses import replace

    from gaitscope.models.mesh import recover_mesh

    if keypoints is None:
        raise InvalidInputError("No 2D keypoints are stored for this recording; the mesh needs them.")
    kp = keypoints
    if kp.n_frames > max_frames:
        kp = replace(kp, xy_px=kp.xy_px[:max_frames], conf=kp.conf[:max_frames],
                     frame_index=kp.frame_index[:max_frames], interpolated=kp.interpolated[:max_frames],
                     raw=None if kp.raw is None else kp.raw[:max_frames])
    version = loaded.metadata.get("model_version", "unversioned")
    return recover_mesh(loaded.model, kp, source=f"mesh:{version}+{loaded.model.body_model.name}")
