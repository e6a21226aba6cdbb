"""Gait Variable Scores and the Gait Profile Score (Baker et al. 2009, Gait & Posture 30:265-269).

GVS of one variable on one side = root-mean-square difference, over the time-normalised gait cycle, between
the patient's curve and the reference mean curve (degrees). GPS = root-mean-square of all GVS (Baker's
overall GPS pools both sides); GPS_L / GPS_R pool one side's GVS. Baker defined the GPS over nine variables
(pelvic tilt, obliquity and rotation, hip flexion, abduction and rotation, knee flexion, ankle dorsiflexion,
foot progression); from H36M-17 joint centres only pelvic obliquity and rotation, hip flexion and abduction
and knee flexion are measurable in a comparable way (plus ankle dorsiflexion and foot progression when heel
and toe points exist), so the GPS here uses that subset (the report's warnings name it): it is not
numerically interchangeable with a nine-variable GPS from a marker lab. Reported normal values for the full
score (typically developing mean about 5 deg, MCID 1.6 deg, Baker 2012 G&P 35:612) are for the nine-variable
version and children.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gaitscope.records import GaitCurve

#: Baker's GPS variables that can be measured from our data (ankle/foot only with heel and toe points).
GPS_VARIABLES: tuple[str, ...] = (
    "pelvis_obliquity",
    "pelvis_rotation",
    "hip_flexion",
    "hip_abduction",
    "knee_flexion",
    "ankle_dorsiflexion",
    "foot_progression",
)


def gait_variable_score(curve: np.ndarray, reference_mean: np.ndarray) -> float:
    """RMS difference (deg) between a time-normalised curve and the reference mean, same sampling."""
    c = np.asarray(curve, dtype=float)
    r = np.asarray(reference_mean, dtype=float)
    if c.shape != r.shape:
        raise ValueError(f"curve {c.shape} and reference {r.shape} must be sampled alike")
    return float(np.sqrt(np.mean((c - r) ** 2)))


def gait_profile_score(gvs: Iterable[float]) -> float:
    """RMS of Gait Variable Scores."""
    g = np.asarray(list(gvs), dtype=float)
    if g.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(g**2)))


def compute_scores(curves: Iterable[GaitCurve], variables: tuple[str, ...] = GPS_VARIABLES) -> dict[str, float]:
    """``GVS_<curve>_<side>`` for each curve with a reference, plus ``GPS``, ``GPS_L``, ``GPS_R``."""
    scores: dict[str, float] = {}
    per_side: dict[str, list[float]] = {"L": [], "R": []}
    for c in curves:
        if c.name not in variables or c.normal_mean is None or c.n_strides == 0:
            continue
        if not np.all(np.isfinite(c.mean)):
            continue
        g = gait_variable_score(c.mean, c.normal_mean)
        scores[f"GVS_{c.name}_{c.side}"] = g
        if c.side in per_side:
            per_side[c.side].append(g)
    all_gvs = per_side["L"] + per_side["R"]
    if all_gvs:
        scores["GPS"] = gait_profile_score(all_gvs)
        for s in ("L", "R"):
            if per_side[s]:
                scores[f"GPS_{s}"] = gait_profile_score(per_side[s])
    return scores
