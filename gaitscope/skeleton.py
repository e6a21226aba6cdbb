"""Joint sets used across the platform.

The internal skeleton is Human3.6M-17 in MotionBERT's order, because that is the DSTformer's input and output
layout (see ``../shared/notes/motionbert.md`` section 2.1). Every 2D source (BlazePose, COCO, OpenPose) and
every 3D source (lifter, motion capture, synthetic walker) is converted to it.
"""

from __future__ import annotations

H36M_JOINTS: tuple[str, ...] = (
    "pelvis",          # 0  root
    "right_hip",       # 1
    "right_knee",      # 2
    "right_ankle",     # 3
    "left_hip",        # 4
    "left_knee",       # 5
    "left_ankle",      # 6
    "spine",           # 7
    "thorax",          # 8
    "nose",            # 9  ("neck/nose" in H36M)
    "head",            # 10 head top
    "left_shoulder",   # 11
    "left_elbow",      # 12
    "left_wrist",      # 13
    "right_shoulder",  # 14
    "right_elbow",     # 15
    "right_wrist",     # 16
)
NUM_JOINTS = len(H36M_JOINTS)
J = {name: i for i, name in enumerate(H36M_JOINTS)}

#: Left/right pairs swapped by a horizontal flip (test-time augmentation, left/right fixes).
H36M_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16))

#: Permutation that maps a skeleton onto its mirror image's joint order.
H36M_FLIP_PERMUTATION: tuple[int, ...] = tuple(
    next((b if a == i else a for a, b in H36M_FLIP_PAIRS if i in (a, b)), i) for i in range(NUM_JOINTS)
)

#: Bones for drawing and for bone-length checks: (parent, child).
H36M_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3),
    (0, 4), (4, 5), (5, 6),
    (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13),
    (8, 14), (14, 15), (15, 16),
)

#: MediaPipe BlazePose 33 landmark names, in the model's output order.
BLAZEPOSE_LANDMARKS: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

#: Foot points that H36M-17 lacks but gait-event detection can use, where a source provides them.
FOOT_POINTS: tuple[str, ...] = ("left_heel", "right_heel", "left_toe", "right_toe")
