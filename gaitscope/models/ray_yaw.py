"""The lifted body turned back from its viewing ray to the camera's axes (issue 20, point 4: the camera). Turning
the frames is opt-in (``GAITSCOPE_RAY_YAW=1``): on the rendered evaluation it gained nothing and lost under 0.4 %
or 0.2 deg on four numbers (docs/validation.md). By default the lifter only records each frame's ray azimuth
(``Motion3D.view_yaw_rad``, from :func:`ray_azimuth`), which the analysis's turn test uses: that is what the
mirrored real clip's misread turn needed.

Why. A lifter sees one person's 2D pose and answers with the body as seen along the ray from the camera to that
person: a walker at the image's right edge, seen from an angle ``phi`` off the optical axis, looks like a walker
in the centre turned by ``-phi``, and that is the pose the lifter returns. A walker crossing a fixed camera's
field of view therefore seems to turn by the whole change of viewing angle -- about 40 deg on the real side clip
``sarwesh_side`` (1,285 of 1,920 px crossed), which the analysis read as 0.7 s of turning -- while a panning
camera, which keeps the walker near the centre, shows no such drift. Rotating each frame by its ray's azimuth
about the camera's vertical axis puts every frame back in the camera's axes, where a straight walk is straight.
This is the perspective correction of the global orientation that methods estimating people in world
coordinates make from the camera intrinsics (e.g. Kocabas et al., SPEC, ICCV 2021; Yuan et al., GLAMR, CVPR
2022), here only the yaw from the horizontal image position.

The focal length of an upload is not known. :data:`ASSUMED_HFOV_DEG` is a typical phone or camcorder video's
horizontal field of view (main phone cameras film 16:9 video at about 60-70 deg); a wrong guess leaves part of
the drift (a 45 deg lens read as 60 removes about 75 % of it) and never adds a turn that is not in the video.
Camera coordinates as the lifter's: x right, y down, z away from the camera.
"""

from __future__ import annotations

import numpy as np

#: Horizontal field of view assumed for every video (degrees), for want of the lens's.
ASSUMED_HFOV_DEG = 60.0


def ray_azimuth(u_px: np.ndarray, width: int, hfov_deg: float = ASSUMED_HFOV_DEG) -> np.ndarray:
    """Horizontal angle (rad) between the optical axis and the ray through image column ``u_px`` (pixels, 0 at the
    left edge), positive to the right; NaN stays NaN."""
    f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
    return np.arctan((np.asarray(u_px, dtype=np.float64) - width / 2.0) / f)


def turn_to_camera_axes(xyz: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Root-relative ``(T, J, 3)`` poses as seen along rays of azimuth ``phi`` (T,) -> the camera's axes: each
    frame rotated by ``phi`` about the camera's vertical (y) axis. Frames whose azimuth is unknown (NaN) take
    the nearest known one; with none known the poses are returned unchanged."""
    phi = np.asarray(phi, dtype=np.float64)
    known = np.isfinite(phi)
    if not known.any():
        return np.array(xyz, copy=True)
    idx = np.arange(len(phi))
    phi = np.interp(idx, idx[known], phi[known])
    c, s = np.cos(phi)[:, None], np.sin(phi)[:, None]
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)


__all__ = ["ASSUMED_HFOV_DEG", "ray_azimuth", "turn_to_camera_axes"]
