"""BVH reader: parse the joint hierarchy, run forward kinematics, map to H36M-17.

BVH stores offsets and per-frame Euler angles; a joint's rotation is the product of its rotation channels in
the order listed (``Zrotation Yrotation Xrotation`` -> Rz @ Ry @ Rx, intrinsic), and its world position is its
parent's position plus the parent's world rotation applied to its offset. BVH is Y up; we rotate to Z up like
every other import.

Units: the CMU Graphics Lab conversions (cgspeed) keep the ASF length unit, where 1 unit = 1/0.45 inch
(CMU FAQ: "multiply by (1/0.45) * 2.54 / 100 to get metres"), i.e. 0.05644 m. Files with the CMU joint
names get this factor; for other files pass ``unit_m`` or the leg is scaled to an assumed 0.85 m hip-to-ankle
length, and ``scale_source`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gaitscope.errors import MocapError
from gaitscope.io.mocap.markers import Y_UP_TO_Z_UP
from gaitscope.records import Motion3D
from gaitscope.skeleton import NUM_JOINTS, J

CMU_UNIT_M = 0.0254 / 0.45
ASSUMED_LEG_M = 0.85  # hip centre to ankle, adult of ~1.75 m (Winter, Biomechanics and Motor Control, ch. 4)

#: H36M joint -> (BVH joint, fraction toward its first child / end site) for the CMU skeleton.
CMU_TO_H36M: dict[str, tuple[str, float]] = {
    "pelvis": ("Hips", 0.0),
    "right_hip": ("RightHip", 0.0),
    "right_knee": ("RightKnee", 0.0),
    "right_ankle": ("RightAnkle", 0.0),
    "left_hip": ("LeftHip", 0.0),
    "left_knee": ("LeftKnee", 0.0),
    "left_ankle": ("LeftAnkle", 0.0),
    "spine": ("Chest", 0.0),
    "thorax": ("Neck", 0.0),
    "nose": ("Head", 0.3),  # between the upper neck and the head top: approximate face level
    "head": ("Head", 1.0),  # head end site = head top
    "left_shoulder": ("LeftShoulder", 0.0),
    "left_elbow": ("LeftElbow", 0.0),
    "left_wrist": ("LeftWrist", 0.0),
    "right_shoulder": ("RightShoulder", 0.0),
    "right_elbow": ("RightElbow", 0.0),
    "right_wrist": ("RightWrist", 0.0),
}
CMU_FEET = {"left_toe": "LeftToe", "right_toe": "RightToe"}


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    end_site: np.ndarray | None = None


def parse_bvh(path: str | Path) -> tuple[list[_Joint], np.ndarray, float]:
    """Hierarchy, motion array ``(T, C)`` and frame time in seconds."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MocapError(f"{path} could not be read ({exc}).", hint="Check the path and permissions.") from exc
    if "HIERARCHY" not in text or "MOTION" not in text:
        raise MocapError(f"{path.name} is not a BVH file (no HIERARCHY/MOTION sections).",
                         hint="Give a .bvh export with a skeleton and motion data.")
    head, motion = text.split("MOTION", 1)
    tokens = head.split()
    joints: list[_Joint] = []
    stack: list[int] = []
    i = 0
    pending_end = False
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            parent = stack[-1] if stack else -1
            joints.append(_Joint(tokens[i + 1], parent, np.zeros(3)))
            if parent >= 0:
                joints[parent].children.append(len(joints) - 1)
            i += 2
        elif tok == "End":
            pending_end = True
            i += 2
        elif tok == "{":
            stack.append(-1 if pending_end else len(joints) - 1)
            i += 1
        elif tok == "}":
            stack.pop()
            pending_end = False
            i += 1
        elif tok == "OFFSET":
            off = np.array([float(x) for x in tokens[i + 1 : i + 4]])
            if pending_end:
                owner = next(s for s in reversed(stack) if s >= 0)
                joints[owner].end_site = off
            else:
                joints[-1].offset = off
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            joints[-1].channels = tokens[i + 2 : i + 2 + n]
            i += 2 + n
        else:
            i += 1
    if not joints:
        raise MocapError(f"{path.name}: the HIERARCHY section declares no joints.", hint="Re-export the BVH.")
    lines = [ln for ln in motion.strip().splitlines() if ln.strip()]
    n_frames = _header_value(path, lines, 0, "Frames", int)
    frame_time = _header_value(path, lines, 1, "Frame Time", float)
    # 0 (some exporters' "unknown"), negative or NaN would give an infinite or meaningless sampling rate
    if not (np.isfinite(frame_time) and 1e-5 <= frame_time <= 1.0):
        raise MocapError(f"{path.name}: 'Frame Time: {lines[1].split(':', 1)[1].strip()}' is not a usable frame "
                         "time (expected seconds per frame between 0.00001 and 1, e.g. 0.0083333 for 120 Hz).",
                         hint="Re-export the BVH with its real frame rate.")
    if n_frames < 1:
        raise MocapError(f"{path.name} holds no motion ('Frames: {n_frames}').",
                         hint="Re-export the BVH with the recorded frames.")
    rows = lines[2 : 2 + n_frames]
    if len(rows) < n_frames:
        raise MocapError(f"{path.name} is truncated: the header announces {n_frames} frames, the file holds "
                         f"{len(rows)}.", hint="Copy or upload the complete file again.")
    try:
        data = np.array([[float(x) for x in ln.split()] for ln in rows])
    except ValueError as exc:
        raise MocapError(f"{path.name}: the MOTION section is malformed ({exc}).", hint="Re-export the BVH.") from exc
    n_channels = sum(len(j.channels) for j in joints)
    if data.ndim != 2 or data.shape[1] != n_channels:
        raise MocapError(f"{path.name}: frames have {data.shape[-1] if data.ndim == 2 else 0} values but the "
                         f"hierarchy declares {n_channels} channels.", hint="The file is truncated or malformed.")
    return joints, data, frame_time


def _header_value(path: Path, lines: list[str], index: int, key: str, kind: type):
    """``Frames: N`` / ``Frame Time: S`` right after ``MOTION``, parsed, or a MocapError naming what is wrong."""
    line = lines[index].strip() if index < len(lines) else ""
    label, sep, value = line.partition(":")
    if not sep or label.strip().lower() != key.lower():
        raise MocapError(f"{path.name}: the MOTION section lacks its '{key}:' line "
                         f"(found {line[:40]!r} instead).", hint="The file is truncated or not a BVH export.")
    try:
        return kind(value.strip())
    except ValueError as exc:
        raise MocapError(f"{path.name}: '{key}: {value.strip()[:40]}' is not a number.",
                         hint="Re-export the BVH.") from exc


def forward_kinematics(joints: list[_Joint], data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions ``(T, J, 3)`` of each joint origin and of each joint's end site (NaN if none)."""
    t = data.shape[0]
    pos = np.zeros((t, len(joints), 3))
    ends = np.full((t, len(joints), 3), np.nan)
    rots: list[np.ndarray] = []
    col = 0
    for k, jt in enumerate(joints):
        trans = np.zeros((t, 3))
        rot_axes, rot_cols = "", []
        for ch in jt.channels:
            c = ch.lower()
            if c.endswith("position"):
                trans[:, "xyz".index(c[0])] = data[:, col]
            elif c.endswith("rotation"):
                rot_axes += c[0].upper()
                rot_cols.append(col)
            col += 1
        local = (Rotation.from_euler(rot_axes, data[:, rot_cols], degrees=True).as_matrix()
                 if rot_axes else np.broadcast_to(np.eye(3), (t, 3, 3)))
        if jt.parent < 0:
            pos[:, k] = jt.offset + trans
            rots.append(local)
        else:
            pr = rots[jt.parent]
            pos[:, k] = pos[:, jt.parent] + np.einsum("tij,tj->ti", pr, jt.offset + trans)
            rots.append(pr @ local)
        if jt.end_site is not None:
            ends[:, k] = pos[:, k] + np.einsum("tij,j->ti", rots[k], jt.end_site)
    return pos, ends


def load_bvh(path: str | Path, *, unit_m: float | None = None) -> Motion3D:
    """BVH file -> :class:`Motion3D` (metres, Z up). Needs the CMU joint names (see :data:`CMU_TO_H36M`)."""
    path = Path(path)
    joints, data, frame_time = parse_bvh(path)
    names = [j.name for j in joints]
    missing = sorted({b for b, _ in CMU_TO_H36M.values()} - set(names))
    if missing:
        raise MocapError(
            f"{path.name} lacks BVH joints required by the CMU skeleton mapping: {', '.join(missing)}.",
            hint="gaitscope maps BVH files with CMU joint names (Hips, LeftHip, LeftKnee, ...).",
        )
    pos, ends = forward_kinematics(joints, data)
    idx = {n: i for i, n in enumerate(names)}
    xyz = np.full((pos.shape[0], NUM_JOINTS, 3), np.nan)
    for h36m, (bvh_name, frac) in CMU_TO_H36M.items():
        k = idx[bvh_name]
        if frac == 0.0:
            xyz[:, J[h36m]] = pos[:, k]
        else:
            tip = ends[:, k] if joints[k].end_site is not None else pos[:, joints[k].children[0]]
            xyz[:, J[h36m]] = pos[:, k] + frac * (tip - pos[:, k])
    feet = {fp: pos[:, idx[b]] for fp, b in CMU_FEET.items() if b in idx}
    assumed = False
    if unit_m is not None:
        scale, scale_source = unit_m, f"BVH units x {unit_m:g} m (given)"
    elif "LHipJoint" in names and "lowerback" in names:
        scale, scale_source = CMU_UNIT_M, "motion capture (CMU BVH units, 1/0.45 inch each)"
    else:
        leg = np.nanmedian(np.linalg.norm(xyz[:, J["left_knee"]] - xyz[:, J["left_hip"]], axis=-1)
                           + np.linalg.norm(xyz[:, J["left_ankle"]] - xyz[:, J["left_knee"]], axis=-1))
        scale = ASSUMED_LEG_M / leg
        scale_source = f"assumed leg length {ASSUMED_LEG_M} m (BVH units unknown)"
        assumed = True
    rot = Y_UP_TO_Z_UP
    xyz = (xyz * scale) @ rot.T
    feet = {k: (v * scale) @ rot.T for k, v in feet.items()}
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-3 * fps:  # ".0083333" is 120 Hz written with 7 digits
        fps = float(round(fps))
    return Motion3D(
        xyz_m=xyz,
        fps=fps,
        up=(0.0, 0.0, 1.0),
        root_relative=False,
        scale_source=scale_source,
        scale_assumed=assumed,
        source=f"bvh:{path.name}",
        valid=np.isfinite(xyz[:, :7]).all(axis=(1, 2)),
        feet=feet,
        notes=(
            "BVH Y up rotated to Z up",
            "joints are the BVH skeleton's joint origins (CMU: hip, knee, ankle, neck, shoulder...); nose at 30% "
            "of the head bone, head at its end site",
            "no heel in the CMU skeleton: feet hold toes (LeftToe/RightToe joint origins) only",
        ),
    )
