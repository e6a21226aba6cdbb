"""Gait Variable Scores and the Gait Profile Score (Baker et al. 2009, Gait & Posture 30:265-269).

GVS of one variable on one side = root-mean-square difference, over the time-normalised gait cycle, between
the patient's curve and the reference mean curve (degrees). As Baker et al. define it, the GVS is computed for
each gait cycle and then averaged over the cycles (the RMS difference of the *mean* curve is smaller whenever the
cycles differ from each other, so it would hide stride-to-stride deviation). GPS = root-mean-square of the GVS.
The overall GPS takes the pelvic variables once (Baker: from the left side; here the right side's when the left
has none), the other variables from both sides: 3 + 2 x 6 = 15 GVS for Baker's nine variables. GPS_L / GPS_R
each pool one side's GVS, its own pelvic curves included (9 each). Baker defined the GPS over nine variables
(pelvic tilt, obliquity and rotation, hip flexion, abduction and rotation, knee flexion, ankle dorsiflexion,
foot progression); from H36M-17 joint centres only pelvic obliquity and rotation, hip flexion and abduction
and knee flexion are measurable in a comparable way (plus ankle dorsiflexion and foot progression when heel
and toe points exist), so the GPS here uses that subset (the report's warnings name it): it is not
numerically interchangeable with a nine-variable GPS from a marker lab. Reported normal values for the full
score (typically developing mean about 5 deg, MCID 1.6 deg, Baker 2012 G&P 35:612) are for the nine-variable
version and children.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from gaitscope.records import GaitCurve, GaitScores, VariableScore

#: Pelvic variables: counted once in the overall GPS (Baker et al. 2009), per side in GPS_L / GPS_R.
PELVIC_VARIABLES: frozenset[str] = frozenset({"pelvis_tilt", "pelvis_obliquity", "pelvis_rotation"})

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


def cycle_averaged_gvs(cycles: np.ndarray, reference_mean: np.ndarray) -> float:
    """Baker's GVS: the GVS of each gait cycle (rows of ``cycles``, time-normalised like the reference), averaged."""
    c = np.atleast_2d(np.asarray(cycles, dtype=float))
    return float(np.mean([gait_variable_score(row, reference_mean) for row in c]))


def compute_scores(
    curves: Iterable[GaitCurve],
    variables: tuple[str, ...] = GPS_VARIABLES,
    cycles: Mapping[tuple[str, str], np.ndarray] | None = None,
) -> GaitScores:
    """The GVS of each curve with a reference, and the GPS overall and per side (``GPS``, ``GPS_L``, ``GPS_R``).

    ``cycles[(name, side)]``: the single gait cycles behind a curve's mean, shape (n_cycles, n_points); when given,
    the GVS is Baker's per-cycle average, else the GVS of the mean curve (for stored curves whose cycles are gone).
    """
    found: list[VariableScore] = []
    per_side: dict[str, dict[str, float]] = {"L": {}, "R": {}}
    for c in curves:
        if c.name not in variables or c.normal_mean is None or c.n_strides == 0:
            continue
        if not np.all(np.isfinite(c.mean)):
            continue
        rows = None if cycles is None else cycles.get((c.name, c.side))
        if rows is not None and len(rows) and np.all(np.isfinite(rows)):
            g = cycle_averaged_gvs(rows, c.normal_mean)
        else:
            g = gait_variable_score(c.mean, c.normal_mean)
        found.append(VariableScore(c.name, c.side, g))
        if c.side in per_side:
            per_side[c.side][c.name] = g
    overall = [g for side in ("L", "R") for name, g in per_side[side].items() if name not in PELVIC_VARIABLES]
    for name in PELVIC_VARIABLES:  # once: the left side's, else the right side's
        g = per_side["L"].get(name, per_side["R"].get(name))
        if g is not None:
            overall.append(g)
    if not overall:
        return GaitScores(variables=tuple(found))
    side_gps = {s: gait_profile_score(per_side[s].values()) if per_side[s] else None for s in ("L", "R")}
    return GaitScores(gait_profile_score(overall), side_gps["L"], side_gps["R"], tuple(found))


#: SD of the GPS of typically developing children (Baker et al. 2009, Gait Posture 30:265, Table 2: 1.4 deg).
TD_GPS_SD_DEG = 1.4


def expected_reference_gps(curves: Iterable[GaitCurve], scores: Mapping[str, float]) -> float:
    """The GPS a typical subject *of the reference set* would get against its own bands (deg).

    For one variable, the expected squared deviation of a reference subject from the reference mean at each point
    of the cycle is the band's variance, so the expected GVS is the RMS of the band SD over the cycle; the expected
    GPS pools them like :func:`compute_scores` pools the GVS (the same variables, pelvic ones once). Computed from
    the bands actually used, so it stays comparable with this report's GPS whatever subset of Baker's variables
    could be measured (a published nine-variable normal value would not be). NaN when no GVS was computed.
    """
    used = {(v.curve, v.side) for v in GaitScores.from_mapping(scores).variables}
    per_side: dict[str, dict[str, float]] = {"L": {}, "R": {}, "": {}}
    for c in curves:
        if (c.name, c.side) not in used or c.normal_sd is None:
            continue
        per_side.setdefault(c.side, {})[c.name] = float(np.sqrt(np.mean(np.asarray(c.normal_sd, float) ** 2)))
    overall = [g for side in ("L", "R") for name, g in per_side[side].items() if name not in PELVIC_VARIABLES]
    for name in PELVIC_VARIABLES:
        g = per_side["L"].get(name, per_side["R"].get(name))
        if g is not None:
            overall.append(g)
    return gait_profile_score(overall)
