"""The lifter's training and evaluation data: synthetic walks over the walker's full range, motion-capture
trials as Z-up world motions, resampling, and random perspective cameras that keep the walker in the frame.

Shared by the training recipe (:mod:`gaitscope.training.lifter_training`) and the held-out evaluation
(:mod:`gaitscope.training.lifter_eval`), which is why it is its own module: training evaluates its checkpoint and
evaluation reuses these helpers, with no circle between the two (issue 25). Which trials are trained on and which
are held out: :mod:`gaitscope.training.mocap_trials`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from gaitscope.records import Motion3D
from gaitscope.skeleton import J
from gaitscope.training.mocap_trials import TRAIN_MOCAP

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MOCAP_DIR = REPO_ROOT / ".." / "shared" / "data" / "mocap"


# ---------------------------------------------------------------------------------------------------------
# Motion sources
# ---------------------------------------------------------------------------------------------------------


def sample_walk_params(rng: np.random.Generator, seed: int):
    """Walker parameters drawn over the walker's full range (healthy to severe Parkinsonian, small to tall)."""
    from gaitscope.synthetic.truth import WalkParams

    height = float(rng.uniform(1.45, 2.00))
    sev = float(rng.choice([0.0, rng.uniform(0.0, 1.0)], p=[0.4, 0.6]))  # 40 % healthy, the rest a spectrum
    fps = float(rng.choice([25.0, 30.0, 30.0, 50.0, 60.0]))
    return WalkParams(
        fps=fps,
        duration_s=float(rng.uniform(3.0, 6.0)),
        height_m=height,
        cadence_steps_min=float(np.clip(rng.normal(110.0 + 10.0 * sev, 12.0), 80.0, 145.0)),
        step_length_m=float(np.clip(height * rng.uniform(0.30, 0.47) * (1.0 - 0.35 * sev), 0.25, 0.95)),
        step_asymmetry=float(rng.normal(0.0, 0.02 + 0.08 * sev)),
        stance_pct=float(np.clip(rng.normal(60.0 + 4.0 * sev, 2.0), 55.0, 72.0)),
        step_width_m=float(rng.uniform(0.04, 0.22)),
        knee_rom_scale=float(np.clip(rng.normal(1.0 - 0.4 * sev, 0.08), 0.4, 1.15)),
        hip_rom_scale=float(np.clip(rng.normal(1.0 - 0.3 * sev, 0.08), 0.4, 1.15)),
        arm_swing_scale=float(np.clip(rng.normal(1.0 - 0.8 * sev, 0.2), 0.0, 1.4)),
        trunk_flexion_deg=float(np.clip(rng.normal(3.0 + 20.0 * sev, 3.0), 0.0, 35.0)),
        shuffle=float(np.clip(sev * rng.uniform(0.5, 1.0), 0.0, 1.0)),
        festination=float(np.clip(sev * rng.uniform(-0.5, 1.0), 0.0, 1.0)),
        step_length_cv=float(rng.uniform(0.0, 0.03 + 0.07 * sev)),
        step_time_cv=float(rng.uniform(0.0, 0.02 + 0.05 * sev)),
        heading_deg=float(rng.uniform(-180.0, 180.0)),
        leg_length_ratio=float(rng.uniform(0.49, 0.57)),
        seed=int(seed),
    )


def synthetic_motions(n: int, seed: int, log=None) -> list[Motion3D]:
    """``n`` simulated walks (world frame, Z up). Seeds ``seed*100000 + i``: train and held-out seeds differ."""
    from gaitscope.synthetic.walker import simulate_walk

    rng = np.random.default_rng(seed)
    out: list[Motion3D] = []
    tries = 0
    while len(out) < n and tries < 3 * n:
        params = sample_walk_params(rng, seed * 100_000 + tries)
        tries += 1
        try:
            out.append(simulate_walk(params).motion)
        except Exception as exc:  # an extreme corner of the parameter space: skip it, say so
            if log:
                log(f"walker failed for seed {params.seed}: {type(exc).__name__}: {exc}")
    return out


def resample_motion(m: Motion3D, fps: float) -> Motion3D:
    """Linear resampling in time to ``fps`` (motion capture runs at 100-250 Hz, video at 25-60)."""
    t_src = np.arange(m.n_frames) / m.fps
    n = max(2, int(np.floor(t_src[-1] * fps)) + 1)
    t_dst = np.arange(n) / fps
    flat = m.xyz_m.reshape(m.n_frames, -1)
    xyz = np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return Motion3D(xyz.reshape(n, 17, 3), float(fps), m.up, m.root_relative, m.scale_source, m.source,
                    notes=m.notes)


def load_mocap_motions(
    root: str | Path = DEFAULT_MOCAP_DIR, trials: Sequence[str] = TRAIN_MOCAP, log=None
) -> dict[str, Motion3D]:
    """Load motion-capture trials as Z-up world motions (missing heads filled, others dropped)."""
    from gaitscope.io.mocap import load_motion
    from gaitscope.io.mocap.world import complete_world_joints

    root = Path(root)
    out: dict[str, Motion3D] = {}
    if not root.is_dir():
        return out
    for rel in trials:
        p = root / rel
        if not p.exists():
            continue
        try:
            m = load_motion(p, events_from="none", grf=False, ik=False).motion
        except Exception as exc:
            if log:
                log(f"mocap {rel} skipped: {type(exc).__name__}: {exc}")
            continue
        xyz = np.asarray(m.xyz_m, dtype=np.float64)
        bad_frames = ~np.isfinite(np.delete(xyz, [J["nose"], J["head"]], axis=1)).all(axis=(1, 2))
        if bad_frames.mean() > 0.2:
            if log:
                log(f"mocap {rel} skipped: {bad_frames.mean():.0%} of frames lack body joints")
            continue
        xyz, _ = complete_world_joints(xyz, m.up)
        out[rel] = Motion3D(xyz.astype(np.float64), float(m.fps), (0.0, 0.0, 1.0), False, m.scale_source,
                            f"mocap:{rel}", notes=m.notes)
    return out


# ---------------------------------------------------------------------------------------------------------
# Cameras
# ---------------------------------------------------------------------------------------------------------

IMAGE_SIZES = ((1280, 720), (1920, 1080), (1080, 1920), (640, 480), (1280, 720))


@dataclass(frozen=True)
class CameraPath:
    """Pinhole camera with a fixed orientation and a per-frame position (static or sliding)."""

    R: np.ndarray  # (3, 3) world -> camera rotation (rows: x right, y down, z forward)
    positions: np.ndarray  # (T, 3) camera centres
    f: float
    width: int
    height: int

    def to_camera(self, xyz: np.ndarray) -> np.ndarray:
        return np.einsum("tjk,ik->tji", xyz - self.positions[:, None, :], self.R)

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(T, J, 3)`` world -> ``(T, J, 2)`` pixels and ``(T, J)`` depth."""
        c = self.to_camera(xyz)
        z = c[..., 2]
        zz = np.maximum(z, 1e-6)
        xy = np.stack([self.f * c[..., 0] / zz + self.width / 2.0, self.f * c[..., 1] / zz + self.height / 2.0], -1)
        return xy, z


def _heading(xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    d = xyz[-1, 0, :2] - xyz[0, 0, :2]
    if np.linalg.norm(d) < 0.2:
        a = rng.uniform(-np.pi, np.pi)
        d = np.array([np.cos(a), np.sin(a)])
    d = d / np.linalg.norm(d)
    return np.array([d[0], d[1], 0.0])


def sample_camera_path(xyz: np.ndarray, rng: np.random.Generator, margin_px: float = 10.0,
                       frontal_p: float = 0.0) -> CameraPath:
    """A random perspective view of a Z-up motion ``(T, 17, 3)`` that keeps the person in the frame.

    Yaw (from the walker's left, 90 = walking toward the camera): with probability ``frontal_p`` near a frontal
    or rear view (90 or -90 deg, spread 12 deg), else half near a side view (0 or 180 deg, spread 15 deg) and
    half uniform all round. ``frontal_p = 0`` is the first recipes' sampler, draw for draw.
    """
    fwd = _heading(xyz, rng)
    left = np.array([-fwd[1], fwd[0], 0.0])
    r = rng.random()
    if r < frontal_p:  # coronal views: clinics film them often, and the uniform half alone gives few
        yaw = np.deg2rad(rng.normal(0.0, 12.0) + rng.choice([90.0, -90.0]))
    elif r < frontal_p + 0.5 * (1.0 - frontal_p):  # side views are the clinical standard: weight them
        yaw = np.deg2rad(rng.normal(0.0, 15.0) + rng.choice([0.0, 180.0]))
    else:
        yaw = rng.uniform(-np.pi, np.pi)
    direction = np.cos(yaw) * left + np.sin(yaw) * fwd
    width, height = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
    f = 0.5 * width / np.tan(np.deg2rad(rng.uniform(40.0, 75.0)) / 2.0)
    stature = float(np.nanmax(xyz[..., 2]))
    flat = xyz.reshape(-1, 3)
    centre = 0.5 * (flat.min(axis=0) + flat.max(axis=0))
    target = np.array([centre[0], centre[1], 0.5 * stature])
    cam_h = rng.uniform(0.5, 1.7)
    tracking = rng.random() < 0.35
    follow = rng.uniform(0.5, 1.0) if tracking else 0.0
    along = (xyz[:, 0] - centre) @ fwd
    slide = follow * (along - 0.5 * (along.max() + along.min()))
    # camera axes (no roll), looking from the camera position toward the target
    def build(dist: float) -> CameraPath:
        pos0 = target + direction * dist
        pos0[2] = cam_h
        z = target - pos0
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        pos = pos0[None] + slide[:, None] * fwd[None]
        return CameraPath(np.stack([x, y, z]), pos, float(f), int(width), int(height))

    dist = 1.5 + 0.5 * stature
    cam = build(dist)
    for _ in range(40):
        xy, z = cam.project(xyz)
        inside = ((z > 0.3).all() and (xy[..., 0] > margin_px).all() and (xy[..., 0] < width - margin_px).all()
                  and (xy[..., 1] > margin_px).all() and (xy[..., 1] < height - margin_px).all())
        if inside:
            break
        dist *= 1.12
        cam = build(dist)
    return build(dist + rng.uniform(0.0, 2.5))
