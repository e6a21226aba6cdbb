"""Render a synthetic walk as a video of a shaded humanoid that a 2D pose detector recognises.

Why: the platform's first stage is a 2D detector (MediaPipe BlazePose) run on real videos. To test the whole
chain end to end against exact truth we need videos of people whose joints we know. A mannequin made of
shaded capsules (limbs tapered like Winter's segment girths), a head with a face, hands and shoes is enough
for BlazePose to find the person and place its landmarks within a few centimetres of the truth.

Drawing is plain OpenCV (filled anti-aliased convex polygons): each body segment is a capsule between two
joints, projected with the pinhole camera; its radius in pixels is ``f * r / depth``. Segments are painted
far to near (painter's algorithm on camera depth), so the far leg disappears behind the near one as it does
on film. Shading fakes a cylinder lit from above-front: nested, progressively lighter and thinner copies of the
capsule shifted toward the light, and segments on the far side of the body are darker. Clothing colours and
the background (plain wall, gradient, or noise texture, with a floor and a soft shadow) come from the seed.

Frames are streamed to ``cv2.VideoWriter`` one at a time: a long video never sits in memory.
"""

from __future__ import annotations

import colorsys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from gaitscope.skeleton import J
from gaitscope.synthetic.camera import CameraTrack, PerspectiveCamera
from gaitscope.synthetic.truth import SyntheticWalk

__all__ = [
    "Appearance",
    "RenderResult",
    "available_codec",
    "random_appearance",
    "render_background",
    "render_frame",
    "render_frames",
    "render_walk",
]

_SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices
_SCALE = 1 << _SHIFT


# ---------------------------------------------------------------------------------------------------------
# Appearance
# ---------------------------------------------------------------------------------------------------------


def _bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return int(b * 255), int(g * 255), int(r * 255)


@dataclass(frozen=True)
class Appearance:
    """Colours (BGR) and background style of one rendered person and scene."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    shoes: tuple[int, int, int]
    background: str  # "plain", "gradient" or "noise"
    wall: tuple[int, int, int]
    wall2: tuple[int, int, int]
    floor: tuple[int, int, int]
    short_sleeves: bool
    seed: int = 0


def _luma(bgr: tuple[int, int, int]) -> float:
    b, g, r = bgr
    return 0.114 * b + 0.587 * g + 0.299 * r


def random_appearance(seed: int) -> Appearance:
    """Draw clothing and scene colours. Clothes keep a clear luminance contrast with the wall and the floor.

    Contrast matters: a detector finds limbs by their edges, and dark trousers on a dark floor make the legs
    (the part gait analysis needs) hard to see, which is not what the sample videos should test.
    """
    rng = np.random.default_rng(seed)
    skins = [(0.07, 0.35, 0.95), (0.06, 0.45, 0.80), (0.07, 0.55, 0.62), (0.06, 0.60, 0.42), (0.08, 0.30, 0.88)]
    sk = skins[int(rng.integers(len(skins)))]
    wall_v = float(rng.uniform(0.72, 0.95))
    wall = _bgr(rng.uniform(0, 1), rng.uniform(0.03, 0.25), wall_v)
    wall2 = _bgr(rng.uniform(0, 1), rng.uniform(0.05, 0.3), wall_v - rng.uniform(0.1, 0.3))
    floor = _bgr(rng.uniform(0.05, 0.15), rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.6))

    def cloth(lo: float, hi: float, against: list[tuple[int, int, int]], min_diff: float) -> tuple[int, int, int]:
        best, best_diff = None, -1.0
        for _ in range(50):
            c = _bgr(rng.uniform(0, 1), rng.uniform(0.35, 0.9), rng.uniform(lo, hi))
            diff = min(abs(_luma(c) - _luma(a)) for a in against)
            if diff >= min_diff:
                return c
            if diff > best_diff:
                best, best_diff = c, diff
        return best  # type: ignore[return-value]

    trousers = cloth(0.12, 0.95, [floor], 55.0)
    return Appearance(
        skin=_bgr(*sk),
        hair=_bgr(rng.uniform(0.02, 0.1), rng.uniform(0.3, 0.7), rng.uniform(0.08, 0.35)),
        shirt=cloth(0.2, 0.85, [wall, wall2, trousers], 45.0),
        trousers=trousers,
        shoes=cloth(0.05, 0.9, [floor, trousers], 40.0),
        background=str(rng.choice(["plain", "gradient", "noise"])),
        wall=wall,
        wall2=wall2,
        floor=floor,
        short_sleeves=bool(rng.random() < 0.5),
        seed=int(seed),
    )


# ---------------------------------------------------------------------------------------------------------
# Background
# ---------------------------------------------------------------------------------------------------------


class _Scene:
    """Wall above the horizon and a tiled floor below it (ray-plane intersection per pixel).

    Rays depend only on the camera orientation, so they are computed once; for a sliding camera only the
    floor tiles are recomputed per frame (the wall is at infinity and does not move).
    """

    def __init__(self, cam: PerspectiveCamera, app: Appearance) -> None:
        h, w = cam.height, cam.width
        rng = np.random.default_rng(app.seed + 1)
        uu, vv = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        rays = np.stack([(uu - cam.cx) / cam.fx, (vv - cam.cy) / cam.fy, np.ones_like(uu)], axis=-1) @ cam.R.astype(
            np.float32
        )
        self.cam_z = float(cam.position[2])
        with np.errstate(divide="ignore", invalid="ignore"):
            s = -self.cam_z / rays[..., 2]
        on_floor = (rays[..., 2] < -1e-4) & (s > 0) & (s < 60.0)
        img = np.empty((h, w, 3), np.float32)
        wall, wall2 = np.array(app.wall, np.float32), np.array(app.wall2, np.float32)
        if app.background == "gradient":
            a = (vv / max(h - 1, 1))[..., None]
            img[:] = wall * (1 - a) + wall2 * a
        else:
            img[:] = wall
        if app.background == "noise":
            noise = rng.normal(0.0, 1.0, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
            noise = cv2.resize(cv2.GaussianBlur(noise, (0, 0), 1.2), (w, h), interpolation=cv2.INTER_CUBIC)
            img += 18.0 * noise[..., None]
        wall_u8 = np.clip(img, 0, 255).astype(np.uint8)
        # floor hit point relative to the camera, per pixel (zero on the wall, where it is unused)
        self.ax = np.where(on_floor, s * rays[..., 0], 0.0).astype(np.float32)
        self.ay = np.where(on_floor, s * rays[..., 1], 0.0).astype(np.float32)
        shade = (1.0 - 0.35 * np.clip(np.where(on_floor, s, 0.0) / 25.0, 0, 1))[..., None]
        base = np.array(app.floor, np.float32)[None, None, :] * shade
        self.light = np.where(on_floor[..., None], np.clip(base, 0, 255), wall_u8).astype(np.uint8)
        self.dark = np.where(on_floor[..., None], np.clip(base * 0.92, 0, 255), wall_u8).astype(np.uint8)
        self._cache: tuple[tuple[float, float], np.ndarray] | None = None

    def background(self, position: np.ndarray) -> np.ndarray:
        key = (round(float(position[0]), 6), round(float(position[1]), 6))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1].copy()
        inv = np.float32(1.0 / 0.6)
        i = np.floor((self.ax + np.float32(position[0])) * inv) + np.floor((self.ay + np.float32(position[1])) * inv)
        mask = (i.astype(np.int32) & 1).astype(np.uint8)
        img = self.light.copy()
        cv2.copyTo(self.dark, mask, img)
        self._cache = (key, img)
        return img.copy()


# ---------------------------------------------------------------------------------------------------------
# Capsules
# ---------------------------------------------------------------------------------------------------------

_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 20, endpoint=False))], axis=-1)
_LIGHT = np.array([-0.45, -0.89])  # light from the upper left in image coordinates


def _blob_poly(pts: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Convex hull of circles (``pts`` (n,2) pixels, ``radii`` (n,)): a capsule when n = 2."""
    ring = (pts[:, None, :] + radii[:, None, None] * _CIRCLE[None]).reshape(-1, 2)
    return cv2.convexHull((ring * _SCALE).astype(np.int32))


@lru_cache(maxsize=4096)
def _shade(colour: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    c = np.array(colour, np.float32)
    if k < 0:
        c = c * (1.0 + k)
    else:
        c = c + (255.0 - c) * k
    return tuple(int(x) for x in np.clip(c, 0, 255))  # type: ignore[return-value]


def _draw_blob(img: np.ndarray, pts: np.ndarray, radii: np.ndarray, colour: tuple[int, int, int],
               layers: int = 4) -> None:
    """A shaded convex body part: dark rim, then lighter, smaller copies shifted toward the light."""
    c = pts.mean(axis=0)
    r_mean = float(radii.mean())
    for i in range(layers):
        f = 1.0 - 0.8 * i / layers
        shift = _LIGHT * (1.0 - f) * 0.45 * r_mean
        p = c + (pts - c) * (1.0 - 0.15 * (1.0 - f)) + shift
        k = -0.35 + 0.5 * i / max(layers - 1, 1)
        poly = _blob_poly(p, np.maximum(radii * f, 0.6))
        cv2.fillConvexPoly(img, poly, _shade(colour, k), lineType=cv2.LINE_AA, shift=_SHIFT)


def _draw_ellipse(img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle: float,
                  colour: tuple[int, int, int]) -> None:
    cv2.ellipse(img, (int(c[0] * _SCALE), int(c[1] * _SCALE)),
                (max(int(axes[0] * _SCALE), 1), max(int(axes[1] * _SCALE), 1)), angle, 0, 360, colour,
                -1, cv2.LINE_AA, _SHIFT)


# ---------------------------------------------------------------------------------------------------------
# The mannequin
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    points: tuple[str, ...]  # joint / point names; the part is the convex hull of spheres around them
    radii: tuple[float, ...]  # fractions of standing height
    material: str  # "skin", "shirt", "trousers", "shoes"
    side: int  # +1 left, -1 right, 0 centre
    depth_bias: float = 0.0  # metres added to the sort depth (negative: drawn later, on top)


def _parts(app: Appearance) -> list[_Part]:
    sleeve = "skin" if app.short_sleeves else "shirt"
    parts = [
        _Part(("left_shoulder", "right_shoulder", "chest_l", "chest_r", "spine", "belly_l", "belly_r"),
              (0.042, 0.042, 0.058, 0.058, 0.066, 0.060, 0.060), "shirt", 0),
        _Part(("left_hip", "right_hip", "waist_l", "waist_r", "pelvis"),
              (0.060, 0.060, 0.058, 0.058, 0.064), "trousers", 0, -0.01),
        _Part(("thorax", "neck_top"), (0.028, 0.026), "skin", 0, 0.02),
    ]
    for side, pre in ((1, "left"), (-1, "right")):
        parts += [
            _Part((f"{pre}_hip", f"{pre}_knee"), (0.050, 0.034), "trousers", side),
            _Part((f"{pre}_knee", f"{pre}_ankle"), (0.033, 0.023), "trousers", side),
            _Part((f"{pre}_heel_up", f"{pre}_toe_up"), (0.026, 0.017), "shoes", side),
            _Part((f"{pre}_ankle", f"{pre}_heel_up"), (0.019, 0.025), "shoes", side),
            _Part((f"{pre}_ankle", f"{pre}_instep"), (0.019, 0.021), "shoes", side),
            _Part((f"{pre}_shoulder", f"{pre}_elbow"), (0.028, 0.022), "shirt", side),
            _Part((f"{pre}_elbow", f"{pre}_wrist"), (0.021, 0.017), sleeve, side),
            _Part((f"{pre}_wrist", f"{pre}_hand"), (0.018, 0.016), "skin", side),
        ]
    return parts


def _extra_points(x: np.ndarray, feet: dict[str, np.ndarray], height: float) -> dict[str, np.ndarray]:
    """Named 3D points for one frame: joints, feet, and derived points (neck top, chest, hands, shoe tops)."""
    pts = {name: x[i] for name, i in J.items()}
    up = np.array([0.0, 0.0, 1.0])
    trunk = x[J["thorax"]] - x[J["pelvis"]]
    trunk /= np.linalg.norm(trunk)
    pts["neck_top"] = x[J["thorax"]] + 0.55 * (x[J["nose"]] - x[J["thorax"]]) - 0.02 * height * _fwd(x)
    lat = x[J["left_shoulder"]] - x[J["right_shoulder"]]
    pts["chest_l"] = x[J["thorax"]] - 0.10 * height * trunk + 0.30 * lat
    pts["chest_r"] = x[J["thorax"]] - 0.10 * height * trunk - 0.30 * lat
    hips = x[J["left_hip"]] - x[J["right_hip"]]
    pts["belly_l"] = x[J["pelvis"]] + 0.07 * height * trunk + 0.45 * hips
    pts["belly_r"] = x[J["pelvis"]] + 0.07 * height * trunk - 0.45 * hips
    pts["waist_l"] = x[J["pelvis"]] + 0.035 * height * trunk + 0.4 * hips
    pts["waist_r"] = x[J["pelvis"]] + 0.035 * height * trunk - 0.4 * hips
    for pre in ("left", "right"):
        fa = x[J[f"{pre}_wrist"]] - x[J[f"{pre}_elbow"]]
        pts[f"{pre}_hand"] = x[J[f"{pre}_wrist"]] + 0.055 * height * fa / np.linalg.norm(fa)
        heel, toe = feet[f"{pre}_heel"], feet[f"{pre}_toe"]
        sole = toe - heel
        n = np.cross(np.cross(sole, up), sole)  # sole normal pointing up-ish
        n = -n if n[2] < 0 else n
        n /= max(np.linalg.norm(n), 1e-9)
        u = sole / np.linalg.norm(sole)
        pts[f"{pre}_heel_up"] = heel + 0.026 * height * n + 0.012 * height * u
        pts[f"{pre}_toe_up"] = toe + 0.017 * height * n - 0.012 * height * u
        pts[f"{pre}_instep"] = heel + 0.55 * sole + 0.030 * height * n
    return pts


def _fwd(x: np.ndarray) -> np.ndarray:
    lat = x[J["left_hip"]] - x[J["right_hip"]]  # toward the walker's left; forward is 90 deg clockwise of it
    f = np.array([lat[1], -lat[0], 0.0])
    return f / max(np.linalg.norm(f), 1e-9)


def _draw_head(img: np.ndarray, cam: PerspectiveCamera, x: np.ndarray, height: float, app: Appearance) -> None:
    """Head as a sphere with hair cap, ears, eyes, nose and mouth placed in 3D and drawn where visible."""
    fwd = _fwd(x)
    up = x[J["head"]] - x[J["thorax"]]
    up /= np.linalg.norm(up)
    fwd = fwd - up * (fwd @ up)
    fwd /= np.linalg.norm(fwd)
    lat = np.cross(up, fwd)  # walker's left
    r = 0.062 * height
    centre = x[J["head"]] - up * r * 1.05 - fwd * 0.25 * r
    depth = cam.depth(centre)
    r_px = cam.fx * r / depth
    view = cam.position - centre
    view /= np.linalg.norm(view)
    # hair cap: a sphere offset back and up; face sphere offset forward. Paint the farther one first.
    hair_c = cam.project(centre - fwd * 0.18 * r + up * 0.12 * r)
    face_c = cam.project(centre + fwd * 0.08 * r - up * 0.05 * r)

    def hair() -> None:
        _draw_ellipse(img, hair_c, (r_px * 1.02, r_px * 1.02), 0, app.hair)

    def face() -> None:
        _draw_ellipse(img, face_c, (r_px * 0.93, r_px * 0.98), 0, _shade(app.skin, -0.12))
        _draw_ellipse(img, face_c + _LIGHT * 0.15 * r_px, (r_px * 0.7, r_px * 0.75), 0, app.skin)

    if fwd @ view > -0.3:
        hair()
        face()
    else:  # seen from behind: the hair covers the head
        face()
        hair()

    def feature(offset: np.ndarray, size: float, colour: tuple[int, int, int], min_cos: float = 0.1) -> None:
        p = centre + offset * r
        n = offset / np.linalg.norm(offset)
        if n @ view > min_cos:  # facing the camera
            _draw_ellipse(img, cam.project(p), (size * r_px, size * r_px), 0, colour)

    dark = (40, 30, 30)
    for s in (1, -1):
        feature(0.35 * s * lat + 0.86 * fwd + 0.10 * up, 0.11, (250, 250, 250))
        feature(0.36 * s * lat + 0.92 * fwd + 0.10 * up, 0.06, dark)
        feature(1.0 * s * lat - 0.05 * fwd - 0.05 * up, 0.16, _shade(app.skin, -0.2))  # ear
        feature(0.38 * s * lat + 0.84 * fwd + 0.32 * up, 0.05, _shade(app.hair, -0.2))  # eyebrow
    feature(1.0 * fwd - 0.18 * up, 0.13, _shade(app.skin, -0.08), min_cos=-0.35)  # nose: a bump in profile
    feature(0.88 * fwd - 0.50 * up, 0.09, (60, 60, 150))  # mouth


def render_frame(
    bg: np.ndarray, cam: PerspectiveCamera, x: np.ndarray, feet: dict[str, np.ndarray], height: float,
    app: Appearance, parts: list[_Part]
) -> np.ndarray:
    """One frame drawn onto ``bg`` (modified in place): shadow, body parts far to near, head."""
    img = bg
    pts = _extra_points(x, feet, height)
    # soft shadow on the floor under the pelvis
    p = x[J["pelvis"]].copy()
    ring = np.array([[np.cos(a) * 0.35, np.sin(a) * 0.18, 0.0] for a in np.linspace(0, 2 * np.pi, 24)])
    ring[:, 0:2] = ring[:, 0:2] @ np.array([[_fwd(x)[0], _fwd(x)[1]], [-_fwd(x)[1], _fwd(x)[0]]])
    shadow = cam.project(ring + np.array([p[0], p[1], 0.002]))
    if np.isfinite(shadow).all():
        x0, y0 = np.maximum(np.floor(shadow.min(axis=0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(shadow.max(axis=0)).astype(int) + 2, [img.shape[1], img.shape[0]])
        if x1 > x0 and y1 > y0:
            roi = img[y0:y1, x0:x1]
            overlay = roi.copy()
            poly = ((shadow - [x0, y0]) * _SCALE).astype(np.int32)
            cv2.fillPoly(overlay, [poly], (0, 0, 0), cv2.LINE_AA, _SHIFT)
            cv2.addWeighted(overlay, 0.18, roi, 0.82, 0, dst=roi)
    colours = {"skin": app.skin, "shirt": app.shirt, "trousers": app.trousers, "shoes": app.shoes,
               "hair": app.hair}
    centre_depth = cam.depth(x[J["pelvis"]])
    names = list(pts)
    where = {n: i for i, n in enumerate(names)}
    arr = np.stack([pts[n] for n in names])
    uv_all, d_all = cam.project(arr), cam.depth(arr)
    items = []
    for part in parts:
        idx = [where[n] for n in part.points]
        d = d_all[idx]
        if (d <= 0.05).any():
            continue
        items.append((float(d.mean()) + part.depth_bias, part, uv_all[idx], d))
    head_depth = cam.depth(x[J["head"]])
    items.sort(key=lambda it: -it[0])
    head_drawn = False
    for depth, part, uv, d in items:
        if not head_drawn and depth < head_depth:
            _draw_head(img, cam, x, height, app)
            head_drawn = True
        col = colours[part.material]
        if part.side != 0 and depth > centre_depth + 0.02:  # far side of the body: in shadow
            col = _shade(col, -0.22)
        radii = cam.fx * np.asarray(part.radii) * height / d
        _draw_blob(img, uv, radii, col)
    if not head_drawn:
        _draw_head(img, cam, x, height, app)
    return img


def render_background(camera: PerspectiveCamera, appearance: Appearance) -> np.ndarray:
    """The empty scene (wall and floor) as seen by ``camera``: what a frame shows without the person."""
    return _Scene(camera, appearance).background(camera.position)


def _as_track(camera: PerspectiveCamera | CameraTrack, n_frames: int) -> CameraTrack:
    track = camera if isinstance(camera, CameraTrack) else CameraTrack.static(camera, n_frames)
    if track.n_frames < n_frames:
        raise ValueError(f"the camera track has {track.n_frames} frames but the walk has {n_frames}")
    return track


def render_frames(
    walk: SyntheticWalk,
    camera: PerspectiveCamera | CameraTrack,
    appearance: Appearance | None = None,
    seed: int = 0,
    girth: float = 1.0,
) -> Iterator[np.ndarray]:
    """Yield rendered BGR frames one by one (nothing is accumulated). ``girth`` scales every limb and trunk
    radius (1 = Winter's proportions of the stature): a heavier or slimmer person hides more or less of the far
    leg."""
    app = appearance if appearance is not None else random_appearance(seed)
    m = walk.motion
    track = _as_track(camera, m.n_frames)
    scene = _Scene(track.base, app)
    parts = _parts(app)
    if girth != 1.0:
        from dataclasses import replace

        parts = [replace(p, radii=tuple(r * girth for r in p.radii)) for p in parts]
    for i in range(m.n_frames):
        cam = track.at(i)
        feet = {k: v[i] for k, v in m.feet.items()}
        yield render_frame(scene.background(track.positions[i]), cam, m.xyz_m[i], feet, walk.params.height_m,
                           app, parts)


# ---------------------------------------------------------------------------------------------------------
# Video files
# ---------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def available_codec() -> str:
    """The first FourCC this OpenCV build can write to .mp4: 'avc1' (H.264) if present, else 'mp4v'.

    The pip OpenCV wheels ship FFmpeg without an H.264 encoder (probing 'avc1' prints an FFmpeg error and
    fails), so in practice this is 'mp4v' (MPEG-4 Part 2), which FFmpeg-based readers (OpenCV, MediaPipe)
    decode. Probed once per process.
    """
    import os
    import tempfile

    for cc in ("avc1", "mp4v"):
        fd, tmp = tempfile.mkstemp(suffix=".mp4")
        os.close(fd)
        try:
            w = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*cc), 30.0, (64, 64))
            ok = w.isOpened()
            if ok:
                w.write(np.zeros((64, 64, 3), np.uint8))
            w.release()
            if ok and os.path.getsize(tmp) > 0:
                return cc
        finally:
            os.remove(tmp)
    raise RuntimeError("this OpenCV build cannot write .mp4 video (neither avc1 nor mp4v)")


@dataclass(frozen=True)
class RenderResult:
    path: str
    n_frames: int
    fps: float
    width: int
    height: int
    codec: str
    seconds: float  # wall time spent rendering and encoding
    appearance: Appearance

    @property
    def render_fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("inf")


def render_walk(
    walk: SyntheticWalk,
    camera: PerspectiveCamera | CameraTrack,
    path: str | Path,
    *,
    seed: int = 0,
    appearance: Appearance | None = None,
    codec: str | None = None,
    max_frames: int | None = None,
) -> RenderResult:
    """Render ``walk`` through ``camera`` into a video file at the walk's fps, streaming frame by frame."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cc = codec or available_codec()
    app = appearance if appearance is not None else random_appearance(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*cc), float(walk.motion.fps),
                             (camera.width, camera.height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a {cc!r} video writer for {path}")
    t0 = time.perf_counter()
    n = 0
    try:
        for frame in render_frames(walk, camera, app):
            writer.write(frame)
            n += 1
            if max_frames is not None and n >= max_frames:
                break
    finally:
        writer.release()
    return RenderResult(str(path), n, float(walk.motion.fps), camera.width, camera.height, cc,
                        time.perf_counter() - t0, app)
