"""Joint and segment angles from H36M-17 joint centres (plus optional heel/toe points), in degrees.

All angles are computed in the gait frame of :mod:`gaitscope.analysis.frames` (progression P, lateral L
pointing to the subject's left, vertical V), so they do not depend on the camera. Conventions (zero = upright
standing with segments vertical, feet flat; signs follow the clinical Plug-in-Gait habit, Davis et al. 1991
Hum Mov Sci 10:575, except where the name says otherwise):

``hip_flexion_<S>``
    Sagittal inclination of the thigh (hip -> knee) from the downward vertical, positive = flexion (knee in
    front of the hip). H36M-17 has no pelvic landmarks (ASIS/PSIS), so this is the thigh angle relative to
    the vertical, not to the pelvis: a marker-based hip flexion is about this plus the anterior pelvic tilt
    (about 10 deg). The reference curve is converted accordingly (see :mod:`normative`).
``hip_abduction_<S>``
    Frontal angle of the thigh relative to the pelvis (hip line), positive = abduction (knee away from the
    midline). Note: Plug-in-Gait plots adduction positive.
``knee_flexion_<S>``
    Thigh inclination minus shank inclination in the sagittal plane (0 = straight, negative =
    hyperextension), positive = flexion. A projected angle rather than the 3D angle between the segments
    because the 3D angle is biased upward near full extension when the joints are noisy (it can never be
    negative), which inflated knee ROM by up to 10 deg with lifter-level (25 mm) noise; the two agree within
    about 1 deg on clean walks, where the knee moves in the sagittal plane.
``ankle_dorsiflexion_<S>``
    Only with heel/toe points (``Motion3D.feet``): sagittal angle between the foot (heel -> toe) and the
    perpendicular to the shank, positive = dorsiflexion. Zero = shank vertical, heel-toe line horizontal.
    From 17 joints alone the ankle angle cannot be measured (there is no foot segment).
``foot_progression_<S>``
    Only with heel/toe points: heel -> toe direction in the horizontal plane relative to the progression,
    positive = internal (toes pointing to the midline), as in Plug-in-Gait.
``pelvis_obliquity_<S>``
    Frontal elevation of the hip line, positive = the side's own hip higher ("up").
``pelvis_rotation_<S>``
    Transverse angle of the hip line relative to the lateral axis, positive = the side's own hip forward
    (Plug-in-Gait "internal").
``pelvis_tilt``
    Proxy: sagittal inclination of the pelvis -> spine vector, positive = forward (anterior). Without ASIS and
    PSIS this is lumbo-pelvic lean, not anatomical pelvic tilt; it has no reference band.
``trunk_tilt``
    Sagittal inclination of pelvis -> thorax, positive = forward lean.
``trunk_obliquity_<S>``
    Frontal elevation of the shoulder line, positive = the side's own shoulder higher.
``shoulder_flexion_<S>``
    Sagittal angle of the upper arm (shoulder -> elbow) relative to the trunk, positive = flexion (elbow in
    front); its range over a stride is the arm-swing amplitude.
``elbow_flexion_<S>``
    3D angle between upper arm and forearm, 0 = straight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gaitscope.analysis.frames import GaitFrame
from gaitscope.skeleton import J

SIDES = ("L", "R")
_PREFIX = {"L": "left", "R": "right"}


def _deg(x: np.ndarray) -> np.ndarray:
    return np.degrees(x)


def _angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unsigned angle between vectors (rows), in degrees, robust near 0 and 180 (atan2 of cross/dot)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = (a * b).sum(-1)
    return _deg(np.arctan2(cross, dot))


def sagittal_inclination_down(v_local: np.ndarray) -> np.ndarray:
    """Forward rotation of a downward-pointing segment from the downward vertical (deg)."""
    return _deg(np.arctan2(v_local[..., 0], -v_local[..., 2]))


def sagittal_inclination_up(v_local: np.ndarray) -> np.ndarray:
    """Forward lean of an upward-pointing segment from the upward vertical (deg)."""
    return _deg(np.arctan2(v_local[..., 0], v_local[..., 2]))


def joint_angles(xyz: np.ndarray, frame: GaitFrame, feet: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Angles over time, one column per angle (see the module docstring), one row per frame.

    ``xyz`` is the smoothed ``(T, 17, 3)`` motion; ``feet`` the smoothed heel/toe points if any.
    """
    loc = frame.to_local(xyz)  # (T, 17, 3) in P, L, V
    cols: dict[str, np.ndarray] = {}

    trunk = loc[:, J["thorax"]] - loc[:, J["pelvis"]]
    trunk_tilt = sagittal_inclination_up(trunk)
    cols["trunk_tilt"] = trunk_tilt
    cols["pelvis_tilt"] = sagittal_inclination_up(loc[:, J["spine"]] - loc[:, J["pelvis"]])

    hip_line = loc[:, J["left_hip"]] - loc[:, J["right_hip"]]  # points left
    sh_line = loc[:, J["left_shoulder"]] - loc[:, J["right_shoulder"]]
    obl_left = _deg(np.arctan2(hip_line[:, 2], np.hypot(hip_line[:, 0], hip_line[:, 1])))
    rot_left = _deg(np.arctan2(hip_line[:, 0], hip_line[:, 1]))  # left hip forward -> positive
    tobl_left = _deg(np.arctan2(sh_line[:, 2], np.hypot(sh_line[:, 0], sh_line[:, 1])))

    for s in SIDES:
        p = _PREFIX[s]
        sign = 1.0 if s == "L" else -1.0  # lateral direction of this side, in units of the left axis
        hip, knee, ankle = loc[:, J[f"{p}_hip"]], loc[:, J[f"{p}_knee"]], loc[:, J[f"{p}_ankle"]]
        sho, elb, wri = loc[:, J[f"{p}_shoulder"]], loc[:, J[f"{p}_elbow"]], loc[:, J[f"{p}_wrist"]]
        thigh, shank = knee - hip, ankle - knee
        upper, fore = elb - sho, wri - elb

        thigh_sag = sagittal_inclination_down(thigh)
        shank_sag = sagittal_inclination_down(shank)
        cols[f"hip_flexion_{s}"] = thigh_sag
        cols[f"knee_flexion_{s}"] = thigh_sag - shank_sag

        obl = sign * obl_left
        cols[f"pelvis_obliquity_{s}"] = obl
        cols[f"pelvis_rotation_{s}"] = sign * rot_left
        thigh_front = _deg(np.arctan2(sign * thigh[:, 1], -thigh[:, 2]))  # distal end lateral -> positive
        cols[f"hip_abduction_{s}"] = thigh_front - obl
        cols[f"trunk_obliquity_{s}"] = sign * tobl_left

        cols[f"shoulder_flexion_{s}"] = sagittal_inclination_down(upper) + trunk_tilt
        cols[f"elbow_flexion_{s}"] = _angle_between(upper, fore)

        if feet and f"{p}_heel" in feet and f"{p}_toe" in feet:
            heel = frame.to_local(feet[f"{p}_heel"][:, None, :])[:, 0]
            toe = frame.to_local(feet[f"{p}_toe"][:, None, :])[:, 0]
            foot = toe - heel
            pitch = _deg(np.arctan2(foot[:, 2], np.hypot(foot[:, 0], foot[:, 1])))  # toes up -> positive
            cols[f"ankle_dorsiflexion_{s}"] = pitch - shank_sag
            cols[f"foot_progression_{s}"] = _deg(np.arctan2(-sign * foot[:, 1], foot[:, 0]))

    return pd.DataFrame(cols)


def has_ankle(feet: dict[str, np.ndarray] | None) -> bool:
    return bool(feet) and all(k in feet for k in ("left_heel", "left_toe", "right_heel", "right_toe"))
