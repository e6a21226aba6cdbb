"""Motion-capture joints made ready for projection through a virtual camera.

Training the lifter and the video-free validation both project marker-derived H36M joints through random
cameras; a camera needs every joint in every frame, in a Z-up world whose floor is near z = 0. This module is
the one place that turns an imported motion into that.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from gaitscope.errors import MocapError
from gaitscope.skeleton import J

#: Ankle joint centres sit about this high above the floor (lateral malleolus height, Winter 2009).
ANKLE_HEIGHT_M = 0.07


def fill_head(xyz: np.ndarray) -> np.ndarray:
    """Place missing nose / head top from the thorax along the trunk axis (Winter 2009 proportions): marker sets
    without head markers (OpenCap's lab set) would otherwise lose every frame."""
    out = xyz.copy()
    axis = out[:, J["thorax"]] - out[:, J["pelvis"]]
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
    trunk = np.nanmedian(np.linalg.norm(out[:, J["thorax"]] - out[:, J["pelvis"]], axis=-1))
    for j, k in ((J["nose"], 0.38), (J["head"], 0.62)):  # head+neck about 0.18 H; trunk (pelvis-thorax) 0.29 H
        bad = ~np.isfinite(out[:, j]).all(axis=-1)
        out[bad, j] = out[bad, J["thorax"]] + k * trunk * axis[bad]
    return out


def complete_world_joints(xyz: np.ndarray, up, min_complete: int = 1) -> tuple[np.ndarray, int]:
    """``(xyz, first)``: the joints rotated to Z up, heads filled, cut to the first..last frame in which every
    joint is present, interior gaps interpolated linearly per coordinate, and shifted so the lower ankle is
    :data:`ANKLE_HEIGHT_M` above z = 0; ``first`` is the input frame the output starts at.

    Raises :class:`MocapError` when fewer than ``min_complete`` frames hold every joint.
    """
    xyz = np.asarray(xyz, dtype=np.float64).copy()
    up = np.asarray(up, dtype=float)
    if not np.allclose(up, (0.0, 0.0, 1.0)):
        rot, _ = Rotation.align_vectors([[0, 0, 1]], [up])
        xyz = rot.apply(xyz.reshape(-1, 3)).reshape(xyz.shape)
    xyz = fill_head(xyz)
    keep = np.flatnonzero(np.isfinite(xyz).all(axis=(1, 2)))
    if len(keep) < max(min_complete, 1):
        raise MocapError(f"Fewer than {max(min_complete, 1)} frames of the motion capture have every body joint.",
                         hint="Gap-fill the trial in the capture software and export again.")
    first = int(keep[0])
    xyz = xyz[first : keep[-1] + 1]
    if not np.isfinite(xyz).all():  # interior gaps: interpolate per coordinate
        flat = xyz.reshape(len(xyz), -1)
        t = np.arange(len(xyz))
        for k in range(flat.shape[1]):
            ok = np.isfinite(flat[:, k])
            flat[:, k] = np.interp(t, t[ok], flat[:, k][ok])
        xyz = flat.reshape(xyz.shape)
    xyz[..., 2] -= np.nanmin(xyz[:, [J["right_ankle"], J["left_ankle"]], 2]) - ANKLE_HEIGHT_M
    return xyz, first
