"""Pinhole cameras that film a synthetic walk.

A :class:`PerspectiveCamera` follows OpenCV's conventions (Hartley & Zisserman, *Multiple View Geometry*,
2nd ed., ch. 6): camera axes x right, y down, z forward; ``x_cam = R @ x_world + t``; pixels
``u = fx * x / z + cx``, ``v = fy * y / z + cy``. The world is the walker's: metres, Z up.

Framing helpers place the camera like a clinician would (side-on at hip height, oblique, or frontal) and check
by projection that every joint and foot point stays inside the image for the whole walk, moving the camera
back until it does. :func:`sample_random_camera` draws viewpoints for training-data augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitscope.synthetic.truth import SyntheticWalk

__all__ = [
    "PerspectiveCamera",
    "walk_points",
    "side_view",
    "oblique_view",
    "frontal_view",
    "view_from_angle",
    "sample_random_camera",
    "CameraTrack",
    "tracking_side_view",
    "tracking_view",
]


@dataclass(frozen=True, eq=False)
class PerspectiveCamera:
    """A pinhole camera without lens distortion. ``R`` (3,3) and ``t`` (3,) map world to camera."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    R: np.ndarray
    t: np.ndarray

    def __post_init__(self) -> None:
        r = np.asarray(self.R, dtype=float)
        if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
            raise ValueError("R must be a 3x3 rotation matrix")
        object.__setattr__(self, "R", r)
        object.__setattr__(self, "t", np.asarray(self.t, dtype=float).reshape(3))

    # ----- construction -----
    @classmethod
    def look_at(
        cls,
        position: np.ndarray | tuple[float, float, float],
        target: np.ndarray | tuple[float, float, float],
        *,
        width: int = 1280,
        height: int = 720,
        fx: float | None = None,
        hfov_deg: float = 60.0,
        up: tuple[float, float, float] = (0.0, 0.0, 1.0),
    ) -> "PerspectiveCamera":
        """A camera at ``position`` looking at ``target`` with no roll; square pixels, centred principal point.

        The focal length is ``fx`` pixels, or the one that gives a horizontal field of view of ``hfov_deg``.
        """
        pos, tgt, upv = (np.asarray(v, dtype=float) for v in (position, target, up))
        z = tgt - pos
        if np.linalg.norm(z) < 1e-9:
            raise ValueError("camera position and target coincide")
        z /= np.linalg.norm(z)
        x = np.cross(z, upv)
        if np.linalg.norm(x) < 1e-6:
            raise ValueError("the camera cannot look straight along the up direction")
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        r = np.stack([x, y, z])
        f = float(fx) if fx is not None else 0.5 * width / np.tan(np.radians(hfov_deg) / 2.0)
        return cls(f, f, width / 2.0, height / 2.0, int(width), int(height), r, -r @ pos)

    # ----- geometry -----
    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t

    @property
    def forward(self) -> np.ndarray:
        """Unit optical axis in world coordinates."""
        return self.R[2].copy()

    @property
    def hfov_deg(self) -> float:
        return float(np.degrees(2 * np.arctan(0.5 * self.width / self.fx)))

    def to_camera(self, xyz_world: np.ndarray) -> np.ndarray:
        """World points (..., 3) in camera coordinates (..., 3)."""
        return np.asarray(xyz_world, dtype=float) @ self.R.T + self.t

    def depth(self, xyz_world: np.ndarray) -> np.ndarray:
        """Distance along the optical axis (...,), metres; <= 0 behind the camera."""
        return self.to_camera(xyz_world)[..., 2]

    def project(self, xyz_world: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of world points (..., 3). Points behind the camera give NaN."""
        c = self.to_camera(xyz_world)
        z = c[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * c[..., 0] / z + self.cx
            v = self.fy * c[..., 1] / z + self.cy
        uv = np.stack([u, v], axis=-1)
        uv[z <= 1e-9] = np.nan
        return uv

    def contains(self, xyz_world: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
        """True where a point projects inside the image (with a margin) and lies in front of the camera."""
        uv = self.project(xyz_world)
        ok = (
            (uv[..., 0] >= margin_px)
            & (uv[..., 0] <= self.width - 1 - margin_px)
            & (uv[..., 1] >= margin_px)
            & (uv[..., 1] <= self.height - 1 - margin_px)
        )
        return ok & np.isfinite(uv).all(axis=-1)

    # ----- serialisation -----
    def to_dict(self) -> dict:
        return {
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
            "R": self.R.tolist(),
            "t": self.t.tolist(),
            "position": self.position.tolist(),
            "convention": "OpenCV pinhole: x_cam = R x_world + t; camera x right, y down, z forward; world Z up",
        }

    @classmethod
    def from_dict(cls, d: dict) -> "PerspectiveCamera":
        return cls(
            float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]), int(d["width"]), int(d["height"]),
            np.asarray(d["R"], dtype=float), np.asarray(d["t"], dtype=float),
        )


# ---------------------------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------------------------


def walk_points(walk: SyntheticWalk) -> np.ndarray:
    """Every joint and foot point of the walk, (T, 21, 3), plus a head-top allowance for the rendered skull."""
    m = walk.motion
    feet = np.stack([m.feet[k] for k in sorted(m.feet)], axis=1) if m.feet else np.zeros((m.n_frames, 0, 3))
    top = m.xyz_m[:, 10:11] + np.array([0.0, 0.0, 0.04])
    return np.concatenate([m.xyz_m, feet, top], axis=1)


def _heading(walk: SyntheticWalk) -> np.ndarray:
    a = np.radians(walk.params.heading_deg)
    return np.array([np.cos(a), np.sin(a), 0.0])


def view_from_angle(
    walk: SyntheticWalk,
    yaw_deg: float,
    *,
    width: int = 1280,
    height: int = 720,
    hfov_deg: float = 55.0,
    camera_height_m: float | None = None,
    margin_px: float = 24.0,
    min_distance_m: float = 2.0,
) -> PerspectiveCamera:
    """A static camera that keeps the whole walk in view, placed at ``yaw_deg`` around the walkway.

    ``yaw_deg`` is measured from the walker's left side: 0 = side view with the camera on the walker's left
    (the walker moves leftward on screen), 90 = frontal (the walker comes toward the camera), -90 = from
    behind, 180 = side view from the right (the walker moves rightward on screen). The camera looks at the
    centre of the walk at hip height (or ``camera_height_m``) and steps back from ``min_distance_m`` until
    every point fits, then re-aims at the centre of the projected bounding box so the framing is balanced.
    """
    pts = walk_points(walk)
    flat = pts.reshape(-1, 3)
    centre = 0.5 * (flat.min(axis=0) + flat.max(axis=0))
    fwd = _heading(walk)
    left = np.array([-fwd[1], fwd[0], 0.0])
    a = np.radians(yaw_deg)
    direction = np.cos(a) * left + np.sin(a) * fwd  # from the walk centre toward the camera
    cam_h = float(camera_height_m) if camera_height_m is not None else 0.55 * walk.params.height_m
    target = np.array([centre[0], centre[1], 0.5 * walk.params.height_m])
    # the frontal and rear views must also clear the walker's nearest position
    reach = np.max(np.abs((flat - centre) @ direction))
    dist = max(min_distance_m, reach + 1.0)
    for _ in range(200):
        pos = target + direction * dist
        pos[2] = cam_h
        cam = PerspectiveCamera.look_at(pos, target, width=width, height=height, hfov_deg=hfov_deg)
        if cam.contains(pts, margin_px).all():
            # balance the framing: aim at the middle of what we see, then re-check
            uv = cam.project(pts).reshape(-1, 2)
            mid_uv = 0.5 * (uv.min(axis=0) + uv.max(axis=0))
            ray = cam.R.T @ np.array([(mid_uv[0] - cam.cx) / cam.fx, (mid_uv[1] - cam.cy) / cam.fy, 1.0])
            new_target = pos + ray * np.linalg.norm(target - pos)
            cam2 = PerspectiveCamera.look_at(pos, new_target, width=width, height=height, hfov_deg=hfov_deg)
            return cam2 if cam2.contains(pts, margin_px).all() else cam
        dist *= 1.05
    raise ValueError("could not frame the walk: it is too long for this field of view")


def side_view(walk: SyntheticWalk, *, from_left: bool = True, **kw: object) -> PerspectiveCamera:
    """Side-on (sagittal) camera: the clinical standard for knee and hip flexion and step length."""
    return view_from_angle(walk, 0.0 if from_left else 180.0, **kw)  # type: ignore[arg-type]


def oblique_view(walk: SyntheticWalk, *, angle_deg: float = 35.0, **kw: object) -> PerspectiveCamera:
    """Camera ``angle_deg`` from the side toward the front (the walker approaches it obliquely)."""
    return view_from_angle(walk, angle_deg, **kw)  # type: ignore[arg-type]


def frontal_view(walk: SyntheticWalk, **kw: object) -> PerspectiveCamera:
    """Camera in front of the walkway, the walker coming toward it (step width, frontal-plane motion)."""
    return view_from_angle(walk, 89.0, **kw)  # type: ignore[arg-type]


def sample_random_camera(
    rng: np.random.Generator,
    walk: SyntheticWalk,
    *,
    width: int = 1280,
    height: int = 720,
    yaw_range_deg: tuple[float, float] = (-10.0, 90.0),
    hfov_range_deg: tuple[float, float] = (40.0, 75.0),
    height_range_m: tuple[float, float] = (0.6, 1.6),
    extra_distance_range_m: tuple[float, float] = (0.0, 2.0),
    from_either_side: bool = True,
) -> PerspectiveCamera:
    """A random viewpoint that still keeps the whole walk in view (for 2D-to-3D training data).

    Yaw from slightly behind the side view to frontal, either side of the walkway; focal length from the
    horizontal field of view; camera height from knee to above head height; then moved back by a random extra
    distance along its optical axis (the whole walk stays in the image because moving back only shrinks it).
    """
    yaw = float(rng.uniform(*yaw_range_deg))
    if from_either_side and rng.random() < 0.5:
        yaw = 180.0 - yaw
    cam = view_from_angle(
        walk,
        yaw,
        width=width,
        height=height,
        hfov_deg=float(rng.uniform(*hfov_range_deg)),
        camera_height_m=float(rng.uniform(*height_range_m)),
    )
    extra = float(rng.uniform(*extra_distance_range_m))
    pos = cam.position - cam.forward * extra
    return PerspectiveCamera(cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height, cam.R, -cam.R @ pos)


# ---------------------------------------------------------------------------------------------------------
# Moving cameras
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CameraTrack:
    """One camera per frame: fixed intrinsics and orientation, a position that may change (a dolly shot).

    A tracking camera that slides along the walkway keeps the walker large in the image for many strides (like
    filming a treadmill walk from the side); a static camera is the special case of a constant position.
    """

    base: PerspectiveCamera
    positions: np.ndarray  # (T, 3) camera centres in world coordinates

    def __post_init__(self) -> None:
        pos = np.asarray(self.positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3:
            raise ValueError(f"positions must be (T, 3), got {pos.shape}")
        object.__setattr__(self, "positions", pos)

    @classmethod
    def static(cls, camera: PerspectiveCamera, n_frames: int) -> "CameraTrack":
        return cls(camera, np.repeat(camera.position[None], n_frames, axis=0))

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def width(self) -> int:
        return self.base.width

    @property
    def height(self) -> int:
        return self.base.height

    @property
    def is_static(self) -> bool:
        return bool(np.allclose(self.positions, self.positions[0]))

    def at(self, i: int) -> PerspectiveCamera:
        b = self.base
        return PerspectiveCamera(b.fx, b.fy, b.cx, b.cy, b.width, b.height, b.R, -b.R @ self.positions[i])

    def translations(self) -> np.ndarray:
        """(T, 3) ``t`` of each frame's extrinsics (``x_cam = R x_world + t``)."""
        return -self.positions @ self.base.R.T

    def project(self, xyz_world: np.ndarray) -> np.ndarray:
        """Project per-frame points (T, ..., 3) with each frame's camera: (T, ..., 2) pixels."""
        xyz = np.asarray(xyz_world, dtype=float)
        if xyz.shape[0] != self.n_frames:
            raise ValueError(f"expected {self.n_frames} frames of points, got {xyz.shape[0]}")
        t = self.translations().reshape((self.n_frames,) + (1,) * (xyz.ndim - 2) + (3,))
        c = xyz @ self.base.R.T + t
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.base.fx * c[..., 0] / c[..., 2] + self.base.cx,
                           self.base.fy * c[..., 1] / c[..., 2] + self.base.cy], axis=-1)
        uv[c[..., 2] <= 1e-9] = np.nan
        return uv

    def depth(self, xyz_world: np.ndarray) -> np.ndarray:
        xyz = np.asarray(xyz_world, dtype=float)
        t = self.translations().reshape((self.n_frames,) + (1,) * (xyz.ndim - 2) + (3,))
        return (xyz @ self.base.R.T + t)[..., 2]


def tracking_view(
    walk: SyntheticWalk,
    yaw_deg: float = 0.0,
    *,
    follow: float = 1.0,
    distance_m: float | None = None,
    width: int = 1280,
    height: int = 720,
    hfov_deg: float = 55.0,
    camera_height_m: float | None = None,
    margin_px: float = 24.0,
) -> CameraTrack:
    """A camera that slides along the walkway at the walker's mean speed (a dolly shot, or a treadmill view).

    ``yaw_deg`` places it around the walker as in :func:`view_from_angle` (0 = side-on from the walker's left,
    35 = oblique from the front-left, 180 = side-on from the right). The orientation is fixed, at about hip
    height; the position moves along a straight line fitted to the pelvis path, so the walker stays near the
    image centre while the floor scrolls by. ``follow`` < 1 makes the camera slower than the walker, who then
    crosses the frame (centred at mid-walk; 0 gives a static camera). ``distance_m`` defaults to the closest
    distance at which every point of every frame stays inside the image with ``margin_px`` to spare.
    """
    m = walk.motion
    n = m.n_frames
    fwd = _heading(walk)
    left = np.array([-fwd[1], fwd[0], 0.0])
    a = np.radians(yaw_deg)
    side = np.cos(a) * left + np.sin(a) * fwd
    pel = m.xyz_m[:, 0]
    tt = np.arange(n) / m.fps
    along = pel @ fwd
    coef = np.polyfit(tt, along, 1)
    lateral = float(np.mean(pel @ left))
    cam_h = float(camera_height_m) if camera_height_m is not None else 0.55 * walk.params.height_m
    aim_h = 0.5 * walk.params.height_m
    pts = walk_points(walk)

    t_mid = 0.5 * tt[-1]
    along_cam = np.polyval(coef, t_mid) + float(follow) * (np.polyval(coef, tt) - np.polyval(coef, t_mid))

    def track(dist: float) -> CameraTrack:
        centre = np.outer(along_cam, fwd) + lateral * left
        pos = centre + dist * side
        pos[:, 2] = cam_h
        target0 = centre[0] + np.array([0.0, 0.0, aim_h])
        base = PerspectiveCamera.look_at(pos[0], target0, width=width, height=height, hfov_deg=hfov_deg)
        return CameraTrack(base, pos)

    def fits(tr: CameraTrack) -> bool:
        uv = tr.project(pts)
        return bool(
            np.isfinite(uv).all()
            and (uv[..., 0] >= margin_px).all() and (uv[..., 0] <= width - 1 - margin_px).all()
            and (uv[..., 1] >= margin_px).all() and (uv[..., 1] <= height - 1 - margin_px).all()
        )

    if distance_m is not None:
        tr = track(float(distance_m))
        if not fits(tr):
            raise ValueError(f"at {distance_m} m the walker leaves the image; move the camera back")
        return tr
    dist = 1.5
    for _ in range(200):
        tr = track(dist)
        if fits(tr):
            return tr
        dist *= 1.03
    raise ValueError("could not frame the walk with a tracking camera")


def tracking_side_view(walk: SyntheticWalk, *, from_left: bool = True, **kw: object) -> CameraTrack:
    """Side-on tracking camera (see :func:`tracking_view`)."""
    return tracking_view(walk, 0.0 if from_left else 180.0, **kw)  # type: ignore[arg-type]
