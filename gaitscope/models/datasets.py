"""Training data for the DSTformer: clips of corrupted 2D input and clean 3D targets.

Any dataset that yields ``(x2d, y)`` pairs plugs into :func:`gaitscope.models.training.train`: ``x2d`` is a
``(F, 17, 3)`` float tensor of normalised 2D + confidence (as at inference, see ``preprocess``), ``y`` a ``(F, 17, 3)``
3D target (lifting) or a class index (classification). :class:`ClipDataset` states that contract.

:class:`Motion3DClipDataset` makes lifting pairs from any 3D motion (synthetic walker, motion capture, a user's
data): it cuts clips, asks an injected ``camera_sampler`` for a view of each clip (so this module never imports
the synthetic package; the platform or a training script wires a camera in), normalises the 2D exactly as
inference does and corrupts it like MotionBERT's pretraining (notes section 3): smooth per-joint offsets plus
jitter, a confidence that falls with the displacement, random joint and frame masking, random mirroring.

Target convention (as MotionBERT's Human3.6M labels, notes section 2.2): x and y are the clean 2D projection in
the same normalised units as the input, z is depth relative to the root converted to the same units
("2.5D": depth x focal / root depth, i.e. pixels, then / the normalisation half-size); root-relative per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from gaitscope.models.preprocess import NormMode, flip_skeleton, normalise_array, window_starts
from gaitscope.records import Motion3D


@runtime_checkable
class ClipDataset(Protocol):
    """Map-style dataset of training pairs (a ``torch.utils.data.Dataset`` satisfies it)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class CameraView:
    """One camera's view of a clip: pixel coordinates and root-relative depth in pixel-equivalent units.

    ``xy_px``: ``(F, 17, 2)`` image coordinates (x right, y down). ``z_px``: ``(F, 17)`` depth minus the root's
    depth, times focal length / root depth (for an orthographic view: depth times the image scale), so it has
    the units of ``xy_px``. ``conf``: optional ``(F, 17)`` visibility (1 where omitted).
    """

    xy_px: np.ndarray
    z_px: np.ndarray
    width: int
    height: int
    conf: np.ndarray | None = None


#: ``camera_sampler(xyz_m (F, 17, 3) in the motion's own frame, up vector, rng) -> CameraView``.
CameraSampler = Callable[[np.ndarray, tuple[float, float, float], np.random.Generator], CameraView]


def pinhole_view(
    xyz_cam: np.ndarray,
    focal_px: float,
    width: int,
    height: int,
    principal_px: tuple[float, float] | None = None,
    focal_y_px: float | None = None,
) -> CameraView:
    """Project camera-frame points (x right, y down, z forward, metres) with a pinhole camera.

    OpenCV conventions (u = fx x / z + cx, v = fy y / z + cy); the principal point defaults to the image centre.
    Depth is converted with fx (square pixels assumed for the depth scale).
    """
    z = xyz_cam[..., 2]
    if np.any(z <= 0):
        raise ValueError("points behind the camera")
    cx, cy = principal_px if principal_px is not None else (width / 2.0, height / 2.0)
    fy = focal_y_px if focal_y_px is not None else focal_px
    xy = np.stack([xyz_cam[..., 0] * focal_px / z + cx, xyz_cam[..., 1] * fy / z + cy], axis=-1)
    z_root = z[:, :1]
    return CameraView(xy, (z - z_root) * focal_px / z_root, width, height)


def orthographic_sampler(
    yaw_range_deg: tuple[float, float] = (-180.0, 180.0), image_size: int = 1000, fill: tuple[float, float] = (0.4, 0.8)
) -> CameraSampler:
    """A simple sampler: random yaw about the motion's up axis, orthographic projection, random size/position.

    Matches MotionBERT's AMASS pretraining (orthographic 2D from 3D); use a perspective sampler (``pinhole_view``
    plus a camera model) for video-like data.
    """

    def sample(xyz: np.ndarray, up: tuple[float, float, float], rng: np.random.Generator) -> CameraView:
        up_v = np.asarray(up, dtype=np.float64)
        up_v = up_v / np.linalg.norm(up_v)
        # Build a camera frame: image-y = -up, a horizontal axis as image-x, depth completes a right-handed frame.
        ref = np.array([1.0, 0.0, 0.0]) if abs(up_v[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        h1 = ref - up_v * (ref @ up_v)
        h1 /= np.linalg.norm(h1)
        h2 = np.cross(up_v, h1)
        yaw = np.deg2rad(rng.uniform(*yaw_range_deg))
        x_axis = np.cos(yaw) * h1 + np.sin(yaw) * h2
        y_axis = -up_v
        z_axis = np.cross(x_axis, y_axis)
        cam = (xyz - xyz[:, :1].mean(axis=0, keepdims=True)) @ np.stack([x_axis, y_axis, z_axis], axis=1)
        extent = max(float(np.ptp(cam[..., 0])), float(np.ptp(cam[..., 1])), 1e-6)
        px_per_m = rng.uniform(*fill) * image_size / extent
        shift = rng.uniform(0.3, 0.7, size=2) * image_size
        xy = cam[..., :2] * px_per_m + shift - cam[..., :2].mean(axis=(0, 1)) * px_per_m
        z = cam[..., 2] * px_per_m
        return CameraView(xy, z - z[:, :1], image_size, image_size)

    return sample


@dataclass(frozen=True)
class Corruption:
    """2D corruption of MotionBERT's pretraining, in normalised units (1.0 = half the person box).

    ``offset_std``: per-joint detector-like error, drawn at ``n_keyframes`` and interpolated in time (errors of
    real detectors are correlated across frames); ``jitter_std``: i.i.d. noise per frame (MotionBERT: 0.002);
    confidence is re-synthesised from the displacement d as a / (d + a) (the shape of MotionBERT's fitted
    displacement-to-confidence curve; ``conf_a``); ``joint_mask_p`` / ``frame_mask_p``: probability that a joint
    in a frame / a whole frame is zeroed (MotionBERT 0.05 / 0.10); ``flip_p``: random mirroring.
    """

    offset_std: float = 0.02
    n_keyframes: int = 27
    jitter_std: float = 0.002
    conf_a: float = 0.05
    joint_mask_p: float = 0.05
    frame_mask_p: float = 0.10
    flip_p: float = 0.5

    @classmethod
    def none(cls) -> "Corruption":
        return cls(0.0, 27, 0.0, 0.05, 0.0, 0.0, 0.0)


def corrupt(x: np.ndarray, c: Corruption, rng: np.random.Generator) -> np.ndarray:
    """Apply :class:`Corruption` to a clean ``(F, J, 3)`` normalised clip (conf channel = visibility)."""
    f, j, _ = x.shape
    out = x.copy()
    visible = x[..., 2] > 0
    if c.offset_std > 0 or c.jitter_std > 0:
        disp = np.zeros((f, j, 2))
        if c.offset_std > 0:
            k = max(2, min(c.n_keyframes, f))
            keys = rng.normal(0.0, c.offset_std, size=(k, j, 2))
            tk = np.linspace(0, f - 1, k)
            t = np.arange(f)
            smooth = [[np.interp(t, tk, keys[:, jj, d]) for d in range(2)] for jj in range(j)]
            disp += np.asarray(smooth).transpose(2, 0, 1)
        if c.jitter_std > 0:
            disp += rng.normal(0.0, c.jitter_std, size=(f, j, 2))
        out[..., :2] += disp
        d = np.linalg.norm(disp, axis=-1)
        out[..., 2] = np.where(visible, np.clip(c.conf_a / (d + c.conf_a), 0.0, 1.0), 0.0)
    mask = ~visible
    if c.joint_mask_p > 0:
        mask |= rng.random((f, j)) < c.joint_mask_p
    if c.frame_mask_p > 0:
        mask |= (rng.random(f) < c.frame_mask_p)[:, None]
    out[mask] = 0.0
    return out.astype(np.float32)


def _resample(xyz: np.ndarray, n: int) -> np.ndarray:
    """Stretch a short sequence to ``n`` frames by nearest-index resampling (as MotionBERT does)."""
    idx = np.round(np.linspace(0, xyz.shape[0] - 1, n)).astype(int)
    return xyz[idx]


class Motion3DClipDataset(torch.utils.data.Dataset):
    """Clips of 3D motions seen through sampled cameras: ``(x2d (F,17,3), y3d (F,17,3))`` float32 tensors.

    ``norm_mode`` must match the :class:`~gaitscope.models.inference.Lifter`'s (``"box"`` by default). At
    inference the box spans the WHOLE video, so a clip of a person walking across the frame occupies only part
    of it; MotionBERT's training (and this class before) used each clip's own box, so the model saw every clip
    filling [-1, 1] and met smaller, off-centre skeletons at run time. Here the camera views a random stretch of
    ``box_context_s`` seconds around the clip (at most; at least the clip, at most the whole motion), the box is
    taken over that stretch, and the clip is cut from it. ``box_context_s=None`` restores the clip's own box.

    Deterministic per ``(seed, epoch, index)``: the same item is the same pair until :meth:`set_epoch` changes the
    epoch (the training loop does that), so a resumed run sees exactly the data of an uninterrupted one.
    """

    def __init__(
        self,
        motions: Sequence[Motion3D],
        camera_sampler: CameraSampler,
        corruption: Corruption = Corruption(),
        clip_len: int = 81,
        stride: int | None = None,
        seed: int = 0,
        norm_mode: NormMode = "box",
        box_context_s: float | None = 8.0,
    ):
        if not motions:
            raise ValueError("no motions given")
        self.motions = list(motions)
        self.camera_sampler = camera_sampler
        self.corruption = corruption
        self.clip_len = clip_len
        self.seed = seed
        self.norm_mode = norm_mode
        self.box_context_s = box_context_s
        self.epoch = 0
        self.index: list[tuple[int, int]] = []  # (motion, start)
        for m_i, m in enumerate(self.motions):
            for s in window_starts(m.n_frames, clip_len, stride or clip_len):
                self.index.append((m_i, s))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def clip(self, i: int) -> np.ndarray:
        m_i, s = self.index[i]
        xyz = self.motions[m_i].xyz_m[s : s + self.clip_len].astype(np.float64)
        return xyz if xyz.shape[0] == self.clip_len else _resample(xyz, self.clip_len)

    def context(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """The stretch of motion the camera sees for item ``i`` and the clip's offset in it."""
        m_i, s = self.index[i]
        m = self.motions[m_i]
        n = m.n_frames
        if self.box_context_s is None or n <= self.clip_len:
            return self.clip(i), 0
        max_ctx = int(max(self.clip_len, min(n, round(self.box_context_s * m.fps))))
        ctx_len = int(rng.integers(self.clip_len, max_ctx + 1))
        lo = max(0, s + self.clip_len - ctx_len)
        hi = min(s, n - ctx_len)
        c0 = int(rng.integers(lo, max(lo, hi) + 1))
        return m.xyz_m[c0 : c0 + ctx_len].astype(np.float64), s - c0

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, i])
        m = self.motions[self.index[i][0]]
        ctx, off = self.context(i, rng)
        view = self.camera_sampler(ctx, m.up, rng)
        conf = np.ones(view.xy_px.shape[:2]) if view.conf is None else view.conf
        ctx_in, norm = normalise_array(view.xy_px, conf, view.width, view.height, mode=self.norm_mode)
        sl = slice(off, off + self.clip_len)
        clean = ctx_in[sl]
        target = np.zeros(clean.shape, dtype=np.float64)
        target[..., :2] = (view.xy_px[sl] - np.asarray(norm.center_px)) / norm.half_size_px
        target[..., 2] = view.z_px[sl] / norm.half_size_px
        target -= target[:, :1]
        x = corrupt(clean, self.corruption, rng)
        if self.corruption.flip_p > 0 and rng.random() < self.corruption.flip_p:
            x, target = flip_skeleton(x), flip_skeleton(target)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(target.astype(np.float32))


class TensorClipDataset(torch.utils.data.Dataset):
    """Ready-made pairs held in memory (users' data, tests): ``x`` ``(N, F, 17, 3)`` with ``y`` per item."""

    def __init__(self, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray):
        self.x = torch.as_tensor(x, dtype=torch.float32)
        self.y = torch.as_tensor(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} items but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]
