"""MediaPipe BlazePose-33 landmarks -> Human3.6M-17 joints (MotionBERT's input layout).

BlazePose (Bazarevsky et al. 2020, arXiv 2006.10204) has no pelvis, spine, thorax or head-top point, and
MotionBERT (Zhu et al. ICCV 2023) was pretrained on H36M-17 skeletons, so the missing joints are built from
neighbours. Mapping (BlazePose indices in :data:`gaitscope.skeleton.BLAZEPOSE_LANDMARKS`; see also
``../shared/notes/motionbert.md`` section 5.2):

==================  =================================================  ===========================
H36M-17 joint        position from BlazePose                            confidence
==================  =================================================  ===========================
0  pelvis            mid(23 left_hip, 24 right_hip)                     min(v23, v24)
1  right_hip         24                                                 v24
2  right_knee        26                                                 v26
3  right_ankle       28                                                 v28
4  left_hip          23                                                 v23
5  left_knee         25                                                 v25
6  left_ankle        27                                                 v27
7  spine             mid(pelvis, thorax)                                min(c0, c8)
8  thorax            mid(11 left_shoulder, 12 right_shoulder)           min(v11, v12)
9  nose              0                                                  v0
10 head (crown)      mid_ears + 0.5 * (mid_ears - thorax)               min(v7, v8, c8)
11 left_shoulder     11                                                 v11
12 left_elbow        13                                                 v13
13 left_wrist        15                                                 v15
14 right_shoulder    12                                                 v12
15 right_elbow       14                                                 v14
16 right_wrist       16                                                 v16
==================  =================================================  ===========================

Why a head-top estimate rather than COCO's mid-eyes: H36M's "head" marker is the crown, and the lifter's
bone-length prior expects the crown; mid-ears plus half the ear-to-thorax vector lands near it.

Confidence: BlazePose's ``visibility`` (a sigmoid score) is used as confidence. A joint whose confidence is
below ``min_visibility`` (default 0.2) gets confidence 0, the "missing" encoding MotionBERT saw in
pretraining, but its position is kept (the lifter weights it by confidence; gait-event code may still want
a rough position).
"""

from __future__ import annotations

import numpy as np

from gaitscope.skeleton import BLAZEPOSE_LANDMARKS, NUM_JOINTS

_B = {name: i for i, name in enumerate(BLAZEPOSE_LANDMARKS)}

#: H36M index -> BlazePose index for joints that map one to one.
DIRECT: dict[int, int] = {
    1: _B["right_hip"], 2: _B["right_knee"], 3: _B["right_ankle"],
    4: _B["left_hip"], 5: _B["left_knee"], 6: _B["left_ankle"],
    9: _B["nose"],
    11: _B["left_shoulder"], 12: _B["left_elbow"], 13: _B["left_wrist"],
    14: _B["right_shoulder"], 15: _B["right_elbow"], 16: _B["right_wrist"],
}

#: Foot points kept in ``Keypoints2D.raw`` that gait-event detection may use (BlazePose indices).
FOOT_LANDMARKS: dict[str, int] = {
    "left_heel": _B["left_heel"], "right_heel": _B["right_heel"],
    "left_toe": _B["left_foot_index"], "right_toe": _B["right_foot_index"],
}

DEFAULT_MIN_VISIBILITY = 0.2


def blazepose_to_h36m(raw: np.ndarray, min_visibility: float = DEFAULT_MIN_VISIBILITY) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``(T, 33, >=3)`` BlazePose landmarks (x_px, y_px, [z], visibility last) to H36M-17.

    Returns ``xy (T, 17, 2) float32`` and ``conf (T, 17) float32``. NaN landmarks (no detection) give NaN
    positions and confidence 0.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1] != len(BLAZEPOSE_LANDMARKS) or raw.shape[2] < 3:
        raise ValueError(f"expected (T, 33, 3 or 4) BlazePose landmarks, got {raw.shape}")
    xy_b = raw[..., :2]
    vis_b = np.nan_to_num(raw[..., -1], nan=0.0)
    t = raw.shape[0]
    xy = np.full((t, NUM_JOINTS, 2), np.nan)
    conf = np.zeros((t, NUM_JOINTS))
    for j, b in DIRECT.items():
        xy[:, j] = xy_b[:, b]
        conf[:, j] = vis_b[:, b]

    lh, rh = _B["left_hip"], _B["right_hip"]
    ls, rs = _B["left_shoulder"], _B["right_shoulder"]
    le, re = _B["left_ear"], _B["right_ear"]
    xy[:, 0] = 0.5 * (xy_b[:, lh] + xy_b[:, rh])
    conf[:, 0] = np.minimum(vis_b[:, lh], vis_b[:, rh])
    xy[:, 8] = 0.5 * (xy_b[:, ls] + xy_b[:, rs])
    conf[:, 8] = np.minimum(vis_b[:, ls], vis_b[:, rs])
    xy[:, 7] = 0.5 * (xy[:, 0] + xy[:, 8])
    conf[:, 7] = np.minimum(conf[:, 0], conf[:, 8])
    mid_ears = 0.5 * (xy_b[:, le] + xy_b[:, re])
    xy[:, 10] = mid_ears + 0.5 * (mid_ears - xy[:, 8])
    conf[:, 10] = np.minimum(np.minimum(vis_b[:, le], vis_b[:, re]), conf[:, 8])

    conf = np.clip(conf, 0.0, 1.0)
    conf[conf < min_visibility] = 0.0
    conf[np.isnan(xy).any(axis=-1)] = 0.0
    return xy.astype(np.float32), conf.astype(np.float32)
