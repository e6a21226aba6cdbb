"""A small synthetic action set written as real NTU ``.skeleton`` files (tests, demos, smoke training).

Four procedural actions of clinical interest, each a few seconds of one Kinect-v2 body (25 joints):

1. ``walk``: straight walking across the room (sinusoidal hip/knee/arm swing, pelvis travel);
2. ``sit-to-stand``: seated -> trunk lean -> rise to standing (feet fixed on the floor);
3. ``arm raise``: both arms raised forward overhead and lowered, legs straight;
4. ``squat``: standing -> knees and hips flexed with trunk lean and arms forward -> standing.

The body is a chain of segments with lengths from Winter's anthropometric table (D. A. Winter, Biomechanics and
Motor Control of Human Movement, 4th ed., 2009, Fig. 4.1: thigh 0.245 H, shank 0.246 H, upper arm 0.186 H, forearm
0.146 H ...); joint angles follow smooth phase curves per action. Subjects differ in height and tempo; cameras look
from -45, 0 and +45 degrees like NTU's three Kinects, 3 m away. 3D joints are written in Kinect camera space
(metres, y up, z away from the sensor) together with colour/depth pixel coordinates from a pinhole projection
(:func:`gaitscope.models.ntu.project_points`), so the loader reads exactly the fields of the real format.

The folder also gets ``classes.txt`` naming these four actions (actions 1-4), which the loader uses instead of the
NTU-60 class names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gaitscope.models.ntu import (
    CLASSES_FILE,
    COLOR_INTRINSICS,
    DEPTH_INTRINSICS,
    NUM_KINECT_JOINTS,
    K,
    NTUName,
    format_skeleton,
    project_points,
)

SYNTHETIC_ACTIONS: tuple[str, ...] = ("walk", "sit-to-stand", "arm raise", "squat")
#: NTU's cameras look at the subject from -45, 0 and +45 degrees (camera 1, 2, 3 here: 0, -45, +45).
CAMERA_YAW_DEG = {1: 0.0, 2: -45.0, 3: 45.0}
CAMERA_DISTANCE_M = 3.0
FPS = 30.0


def _smooth_bump(u: np.ndarray) -> np.ndarray:
    """0 -> 1 -> 0 over u in [0, 1] with zero slope at the ends (sin^2)."""
    return np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2


def _smooth_step(u: np.ndarray) -> np.ndarray:
    """0 -> 1 over u in [0, 1] (cubic smoothstep)."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _angles(action: str, t: np.ndarray, tempo: float) -> dict[str, np.ndarray]:
    """Joint angles (radians) and pelvis travel per frame; ``t`` seconds, ``tempo`` speed factor."""
    n = len(t)
    zero = np.zeros(n)
    a = {k: zero.copy() for k in ("hip_l", "hip_r", "knee_l", "knee_r", "sh_l", "sh_r", "el_l", "el_r", "lean",
                                  "travel", "bob")}
    a["el_l"] += np.radians(15)
    a["el_r"] += np.radians(15)
    u = t / t[-1] if n > 1 else zero
    if action == "walk":
        w = 2 * np.pi * 0.9 * tempo * t  # 0.9 strides/s
        a["hip_l"] = np.radians(22) * np.sin(w)
        a["hip_r"] = -a["hip_l"]
        a["knee_l"] = np.radians(5) + np.radians(50) * np.clip(np.sin(w - 1.2), 0, None)
        a["knee_r"] = np.radians(5) + np.radians(50) * np.clip(np.sin(w + np.pi - 1.2), 0, None)
        a["sh_l"] = -np.radians(18) * np.sin(w)
        a["sh_r"] = -a["sh_l"]
        a["travel"] = 1.2 * tempo * (t - t.mean())
        a["bob"] = 0.02 * np.cos(2 * w)
        a["lean"] += np.radians(4)
    elif action == "sit-to-stand":
        rise = _smooth_step((u - 0.25) / 0.5)
        a["hip_l"] = a["hip_r"] = np.radians(90) * (1 - rise)
        a["knee_l"] = a["knee_r"] = np.radians(90) * (1 - rise)
        a["lean"] = np.radians(10) * (1 - rise) + np.radians(40) * _smooth_bump((u - 0.15) / 0.55)
        a["sh_l"] = a["sh_r"] = np.radians(10) + np.radians(15) * _smooth_bump((u - 0.15) / 0.55)
    elif action == "arm raise":
        up = _smooth_bump(u)
        a["sh_l"] = a["sh_r"] = np.radians(170) * up
        a["el_l"] = a["el_r"] = np.radians(15) * (1 - up) + np.radians(5)
    elif action == "squat":
        down = _smooth_bump(u)
        a["hip_l"] = a["hip_r"] = np.radians(100) * down
        a["knee_l"] = a["knee_r"] = np.radians(115) * down
        a["lean"] = np.radians(35) * down
        a["sh_l"] = a["sh_r"] = np.radians(80) * down
    else:
        raise ValueError(f"unknown synthetic action {action!r}; known: {SYNTHETIC_ACTIONS}")
    return a


def body_joints(action: str, n_frames: int, height_m: float = 1.7, tempo: float = 1.0) -> np.ndarray:
    """``(T, 25, 3)`` Kinect joints in a body frame: x the subject's left, y up, z forward; feet on y = 0."""
    h = height_m
    t = np.arange(n_frames) / FPS
    a = _angles(action, t, tempo)
    thigh, shank, ankle_h, foot = 0.245 * h, 0.246 * h, 0.039 * h, 0.10 * h
    hip_half, sh_half = 0.055 * h, 0.11 * h
    upper, fore, hand, tip = 0.186 * h, 0.146 * h, 0.05 * h, 0.04 * h
    out = np.zeros((n_frames, NUM_KINECT_JOINTS, 3))

    def sag(angle: np.ndarray, down: bool = True) -> np.ndarray:
        """Unit vector in the sagittal plane: angle 0 points down, positive swings forward."""
        return np.stack([np.zeros_like(angle), -np.cos(angle), np.sin(angle)], axis=-1)

    # Legs: pelvis height and fore-aft position keep the stance feet on the floor (averaged over both legs).
    thigh_l, thigh_r = sag(a["hip_l"]), sag(a["hip_r"])
    shank_l, shank_r = sag(a["hip_l"] - a["knee_l"]), sag(a["hip_r"] - a["knee_r"])
    drop_l = -(thigh * thigh_l[:, 1] + shank * shank_l[:, 1])
    drop_r = -(thigh * thigh_r[:, 1] + shank * shank_r[:, 1])
    pelvis_y = ankle_h + np.maximum(drop_l, drop_r) + a["bob"]
    if action == "walk":
        pelvis_z = a["travel"]
    else:  # ankles fixed at z = 0
        pelvis_z = -0.5 * (thigh * (thigh_l[:, 2] + thigh_r[:, 2]) + shank * (shank_l[:, 2] + shank_r[:, 2]))
    pelvis = np.stack([np.zeros(n_frames), pelvis_y, pelvis_z], axis=-1)
    for side, sgn, th, sh in (("left", 1.0, thigh_l, shank_l), ("right", -1.0, thigh_r, shank_r)):
        hip = pelvis + np.array([sgn * hip_half, 0.0, 0.0])
        knee = hip + thigh * th
        ankle = knee + shank * sh
        out[:, K[f"hip_{side}"]] = hip
        out[:, K[f"knee_{side}"]] = knee
        out[:, K[f"ankle_{side}"]] = ankle
        out[:, K[f"foot_{side}"]] = ankle + np.array([0.0, -ankle_h * 0.8, foot])
    # Trunk: built upright from the pelvis, then pitched forward by the lean angle about the pelvis.
    c, s = np.cos(a["lean"]), np.sin(a["lean"])

    def trunk(offset: np.ndarray) -> np.ndarray:
        """Rotate body-frame offsets ``(T, 3)`` forward by the lean (about the x axis) and add the pelvis."""
        y = offset[:, 1] * c - offset[:, 2] * s
        z = offset[:, 1] * s + offset[:, 2] * c
        return pelvis + np.stack([offset[:, 0], y, z], axis=-1)

    def const(x: float, y: float, z: float = 0.0) -> np.ndarray:
        return np.tile([x, y, z], (n_frames, 1))

    out[:, K["spine_base"]] = pelvis + np.array([0.0, 0.02 * h, 0.0])
    out[:, K["spine_mid"]] = trunk(const(0, 0.15 * h))
    out[:, K["spine_shoulder"]] = trunk(const(0, 0.29 * h))
    out[:, K["neck"]] = trunk(const(0, 0.33 * h))
    out[:, K["head"]] = trunk(const(0, 0.39 * h, 0.01 * h))
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sho_off = const(sgn * sh_half, 0.28 * h)
        sf, ef = a[f"sh_{side[0]}"], a[f"el_{side[0]}"]
        elbow_off = sho_off + upper * sag(sf)
        wrist_off = elbow_off + fore * sag(sf + ef)
        hand_off = wrist_off + hand * sag(sf + ef)
        out[:, K[f"shoulder_{side}"]] = trunk(sho_off)
        out[:, K[f"elbow_{side}"]] = trunk(elbow_off)
        out[:, K[f"wrist_{side}"]] = trunk(wrist_off)
        out[:, K[f"hand_{side}"]] = trunk(hand_off)
        out[:, K[f"hand_tip_{side}"]] = trunk(hand_off + tip * sag(sf + ef))
        out[:, K[f"thumb_{side}"]] = trunk(hand_off + const(-sgn * 0.02 * h, 0.0, 0.02 * h))
    return out


def to_camera(body: np.ndarray, yaw_deg: float, distance_m: float = CAMERA_DISTANCE_M) -> np.ndarray:
    """Body-frame joints -> Kinect camera space: the subject faces the sensor turned by ``yaw_deg``.

    Facing the sensor, the subject's forward is the camera's -z and the subject's left is the camera's +x
    (Kinect x points to the sensor's left); the floor is 1 m below the sensor.
    """
    yaw = np.radians(yaw_deg)
    cy, sy = np.cos(yaw), np.sin(yaw)
    x_b, y_b, z_b = body[..., 0], body[..., 1], body[..., 2]
    # rotate about the vertical axis, then map body (left, up, forward) to camera (x, y, -z)
    xr = cy * x_b + sy * z_b
    zr = -sy * x_b + cy * z_b
    return np.stack([xr, y_b - 1.0, distance_m - zr], axis=-1)


def write_synthetic_ntu(
    folder: str | Path,
    subjects: Sequence[int] = (1, 2, 4, 3, 6),
    cameras: Sequence[int] = (1, 2, 3),
    actions: Sequence[str] = SYNTHETIC_ACTIONS,
    n_frames: int = 72,
    noise_m: float = 0.01,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Write one ``.skeleton`` file per (subject, camera, action) plus ``classes.txt``; returns the file paths.

    The default subjects put 1, 2, 4 on the cross-subject training side and 3, 6 on the test side; cameras 2 and 3
    are the cross-view training views. ``n_frames`` frames at 30 fps per clip.
    """
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / CLASSES_FILE).write_text("\n".join(actions) + "\n")
    rng = np.random.default_rng(seed)
    paths: list[Path] = []
    total = len(subjects) * len(cameras) * len(actions)
    for subj in subjects:
        height = float(rng.uniform(1.5, 1.9))
        tempo = float(rng.uniform(0.85, 1.15))
        for cam in cameras:
            for a_i, action in enumerate(actions):
                body = body_joints(action, n_frames, height, tempo)
                yaw = CAMERA_YAW_DEG.get(cam, 0.0) + float(rng.normal(0, 5))
                xyz = to_camera(body, yaw) + rng.normal(0, noise_m, body.shape)
                rows = np.zeros((n_frames, NUM_KINECT_JOINTS, 12))
                rows[..., 0:3] = xyz
                rows[..., 3:5] = project_points(xyz, DEPTH_INTRINSICS)
                rows[..., 5:7] = project_points(xyz, COLOR_INTRINSICS)
                rows[..., 7] = 1.0  # identity joint orientation quaternion (w, x, y, z)
                tracking = np.full((n_frames, NUM_KINECT_JOINTS), 2)
                tracking[rng.random(tracking.shape) < 0.02] = 1  # a few "inferred" joints, as Kinect reports
                rows[..., 11] = tracking
                body_id = str(72057594037900000 + subj * 100 + cam)
                name = NTUName(setup=1, camera=cam, subject=subj, replication=1, action=a_i + 1)
                p = root / f"{name.stem}.skeleton"
                p.write_text(format_skeleton([[(body_id, rows[f])] for f in range(n_frames)]))
                paths.append(p)
                if progress is not None:
                    progress(len(paths), total)
    return paths
