"""Helpers for the gait-analysis tests: transform synthetic walks the way real inputs differ from them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gaitscope.records import GaitEvent, Motion3D
from gaitscope.skeleton import J


def rotation(axis: str, deg: float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def to_camera_root_relative(m: Motion3D, yaw_deg: float = 0.0, keep_feet: bool = False) -> Motion3D:
    """What a lifter returns: pelvis subtracted, camera frame (x right, y down, z forward), up = (0,-1,0).

    The world (Z up) is first turned by ``yaw_deg`` about the vertical (camera looking from another side),
    then mapped to camera axes: world X -> camera x, world Z (up) -> camera -y, world Y -> camera z.
    """
    world_to_cam = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]) @ rotation("z", yaw_deg)
    pel = m.xyz_m[:, J["pelvis"] : J["pelvis"] + 1]
    xyz = (m.xyz_m - pel) @ world_to_cam.T
    feet = {k: (v - pel[:, 0]) @ world_to_cam.T for k, v in m.feet.items()} if keep_feet else {}
    return replace(m, xyz_m=xyz, up=(0.0, -1.0, 0.0), root_relative=True, feet=feet,
                   scale_source="subject height 170 cm", source="lifter:test")


def without_feet(m: Motion3D) -> Motion3D:
    return replace(m, feet={})


def add_noise(m: Motion3D, sd_m: float, seed: int = 0) -> Motion3D:
    rng = np.random.default_rng(seed)
    feet = {k: v + rng.normal(0, sd_m, v.shape) for k, v in m.feet.items()}
    return replace(m, xyz_m=m.xyz_m + rng.normal(0, sd_m, m.xyz_m.shape), feet=feet)


def drop_frames(m: Motion3D, frac: float, seed: int = 0, as_nan: bool = True) -> Motion3D:
    """Mark a random ``frac`` of frames invalid (single frames and short runs), NaN in the data."""
    rng = np.random.default_rng(seed)
    valid = np.ones(m.n_frames, dtype=bool)
    n = int(frac * m.n_frames)
    while (~valid).sum() < n:
        start = int(rng.integers(0, m.n_frames))
        valid[start : start + int(rng.integers(1, 4))] = False
    xyz = m.xyz_m.copy()
    feet = {k: v.copy() for k, v in m.feet.items()}
    if as_nan:
        xyz[~valid] = np.nan
        for v in feet.values():
            v[~valid] = np.nan
    return replace(m, xyz_m=xyz, valid=valid, feet=feet)


def concat_with_turn(a: Motion3D, b: Motion3D, turn_deg: float, turn_s: float = 1.5) -> Motion3D:
    """Walk ``a``, turn on the spot by ``turn_deg`` over ``turn_s`` (pelvis still, body yawing), walk ``b``.

    ``b`` is rotated about the vertical by ``turn_deg`` and shifted to start where ``a`` ends.
    """
    n_turn = int(round(turn_s * a.fps))
    last = a.xyz_m[-1]
    pel_end = last[J["pelvis"]]
    turn = []
    for i in range(n_turn):
        r = rotation("z", turn_deg * (i + 1) / n_turn)
        turn.append((last - pel_end) @ r.T + pel_end)
    r = rotation("z", turn_deg)
    b0 = b.xyz_m[0, J["pelvis"]]
    b_xyz = (b.xyz_m - b0) @ r.T + pel_end
    xyz = np.concatenate([a.xyz_m, np.array(turn), b_xyz])
    return replace(a, xyz_m=xyz, valid=None, feet={})


def event_errors_frames(truth: tuple[GaitEvent, ...], found: tuple[GaitEvent, ...], fps: float,
                        kind: str, window_s: float = 0.25) -> tuple[np.ndarray, float]:
    """Signed timing errors (frames) of matched events of ``kind`` and the recall (gaitmap-style matching)."""
    errs = []
    n_truth = 0
    for side in ("L", "R"):
        tt = [e.time_s for e in truth if e.side == side and e.kind == kind]
        ff = np.array([e.time_s for e in found if e.side == side and e.kind == kind])
        for t in tt:
            n_truth += 1
            if ff.size == 0:
                continue
            j = int(np.argmin(np.abs(ff - t)))
            if abs(ff[j] - t) <= window_s:
                errs.append((ff[j] - t) * fps)
    return np.array(errs), (len(errs) / n_truth if n_truth else float("nan"))
