"""The vertical from the motion itself, for 3D in a camera's frame (monocular lifter output).

Why: a lifter returns joints in the camera's axes, and "up" was taken to be image -y. Real recordings are made
with the phone rolled (held crooked) or pitched (aimed down at the walker). A roll -- a turn about the walking
direction in a side view -- goes one to one into step width, pelvic and trunk obliquity and hip abduction; a
pitch into hip flexion and trunk tilt.

**Roll (done here).** A walking person's trunk (pelvis -> thorax) sways to either side within a stride but
averages to upright in the frontal plane over strides (healthy adults: mean lateral trunk lean within about
+/- 2 deg). So the mean trunk direction, with its component along the walking direction removed, is the
vertical's tilt about that direction; the declared vertical is turned about the walking direction onto it.
Without an upper body the mean hip line (mean pelvic obliquity is about zero) stands in. Measured: on the
synthetic walker rolled by known angles the roll comes back within 0.5 deg (tests/analysis/test_vertical.py); on
level real motion capture (Horst 2019, OpenCap, BMClab) it reads 0.2-1.8 deg. The assumption is stated in the
report: a patient with a fixed sideways lean would have it taken for camera roll.

**Pitch (not done; measured and rejected).** The idea that the stance feet define the floor plane (OpenCap,
the Portable Biomechanics Laboratory) needs the floor in world coordinates; in root-relative output the
planted foot's motion relative to the pelvis carries the pelvis's own vertical oscillation. Two estimators
were measured on level real motion capture and on the walker: the foot's velocity relative to the pelvis at
mid-stance read -2 to -9 deg (the pelvis is still rising when the foot passes under it), and the average of
two velocities a quarter stride apart read -4 to -8 deg (walker 6-14 deg). Either would swap a phone's pitch
for a gait-dependent error of the same size, so the pitch stays as declared.

The estimate is used only when a walking line and a trunk (or hips) exist and the roll is within
:data:`MAX_TILT_DEG`; otherwise the declared vertical stays and a note says why. Records in, records out:
:func:`estimate_vertical` takes joint positions and returns a :class:`VerticalEstimate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitscope.skeleton import J

#: A sideways camera tilt beyond this is not a rolled phone but a failed estimate.
MAX_TILT_DEG = 30.0
MIN_FRAMES = 10

@dataclass(frozen=True)
class VerticalEstimate:
    """The vertical found in the motion's axes, the declared one, and how they differ."""

    up: tuple[float, float, float]  # unit vector, the motion's axes
    declared_up: tuple[float, float, float]
    tilt_deg: float  # angle between the two
    roll_deg: float  # signed turn about the walking direction (moves step width, obliquity, hip abduction)
    used: bool  # False: the declared vertical was kept (see note)
    note: str


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _walking_line(xyz: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """The walking direction in the declared horizontal (unit vector, sign arbitrary): the main axis of the
    ankles' positions relative to the pelvis, whose dominant motion is the fore-aft swing."""
    pelvis = xyz[:, J["pelvis"]]
    rel = [xyz[:, J[f"{s}_ankle"]] - pelvis for s in ("left", "right")]
    both = np.vstack([r[np.all(np.isfinite(r), axis=1)] for r in rel])
    if len(both) < MIN_FRAMES:
        return None
    _, _, vt = np.linalg.svd(both - both.mean(axis=0), full_matrices=False)
    f = vt[0] - (vt[0] @ up) * up
    return _unit(f) if np.linalg.norm(f) > 1e-6 else None


def _roll_reference(xyz: np.ndarray) -> tuple[np.ndarray | None, str]:
    """A vector whose mean over the walk is vertical in the frontal plane (trunk), or a lateral one (hips)."""
    trunk = xyz[:, J["thorax"]] - xyz[:, J["pelvis"]]
    good = np.all(np.isfinite(trunk), axis=1)
    if good.mean() > 0.5:
        n = np.linalg.norm(trunk[good], axis=1, keepdims=True)
        return (trunk[good] / np.maximum(n, 1e-9)).mean(axis=0), "trunk"
    hips = xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]]
    good = np.all(np.isfinite(hips), axis=1)
    if good.mean() > 0.5:
        return hips[good].mean(axis=0), "hips"
    return None, ""


def estimate_vertical(xyz: np.ndarray, declared_up: tuple[float, float, float]) -> VerticalEstimate:
    """Gravity's direction in the axes of ``xyz`` ``(T, 17, 3)`` (metres, smoothed; root-relative or not): the
    declared vertical turned about the walking direction by the sideways tilt of the mean trunk (the roll);
    its slope along the walking direction (pitch) is kept (see the module docstring)."""
    u0 = _unit(np.asarray(declared_up, dtype=float))
    keep = tuple(float(x) for x in u0)
    f_h = _walking_line(xyz, u0)
    ref, kind = _roll_reference(xyz)
    if f_h is None or ref is None:
        return VerticalEstimate(keep, keep, 0.0, 0.0, False,
                                "The vertical is the 3D source's own (no walking line or trunk to estimate it from).")
    if kind == "trunk":
        v = ref - (ref @ f_h) * f_h
    else:  # hips: a lateral vector; up = forward x left (or back x right), sign fixed below
        v = np.cross(f_h, ref - (ref @ f_h) * f_h)
    if np.linalg.norm(v) < 1e-9:
        return VerticalEstimate(keep, keep, 0.0, 0.0, False, "The vertical is the 3D source's own.")
    up = _unit(v)
    up = up if up @ u0 > 0 else -up
    lat = np.cross(u0, f_h)
    roll = float(np.degrees(np.arctan2(up @ lat, up @ u0)))
    tilt = abs(roll)
    if tilt > MAX_TILT_DEG:
        return VerticalEstimate(keep, keep, tilt, roll, False,
                                f"The motion suggests a camera rolled by {tilt:.0f} deg, more than a crooked phone "
                                f"({MAX_TILT_DEG:.0f} deg): the 3D source's own vertical was kept.")
    what = "mean trunk" if kind == "trunk" else "mean hip line"
    return VerticalEstimate(tuple(float(x) for x in up), keep, tilt, roll, True,
                            f"Camera roll estimated from the motion ({what}, assuming no lasting sideways lean): "
                            f"{roll:+.1f} deg about the walking direction; angles and step width use the corrected "
                            "vertical.")
