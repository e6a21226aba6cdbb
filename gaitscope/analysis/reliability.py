"""How far one recording supports each number: the camera's view of the walk, each leg's visibility and the number
of usable strides grade every parameter "reliable", "limited" or "not measurable" (issue 21 point 2).

The grades per view class are those measured on video of real walking (``docs/validation.md``, "Which parameters
are reliable from which view": 44 rendered cases per class, BlazePose -> bundled lifter -> analysis, against the
markers and force plates of the same trials). A cell called **reliable** there is "reliable" here; "usable" or
"rough" is "limited"; "not reliable" or "no" is "limited" where the number is still the right kind of quantity but
biased (side-view stride length: 0.20 m short), else "not measurable". A parameter that is not reliable is never
flagged low or high: its flag becomes "unknown" and the report says why.

View angle: the angle between the walking direction and the camera's optical axis (+z of the lifter's camera
frame), both taken in the horizontal plane; the walking direction is the body's facing direction (left-minus-right
hip and shoulder line crossed with up), its median over frames. 0 deg = walking away, 90 = side, 180 = toward the
camera. Classes follow the validation: side 60-120 deg; oblique 25-60 and 120-155 deg (the validation filmed
approaching obliques, 35 deg from the side); frontal above 155 deg; back below 25 deg.

Leg visibility: the fraction of frames in which the 2D detector saw the leg's hip, knee and ankle (confidence at
least 0.5). A leg seen in fewer than half of the frames is hidden most of the time: its own parameters are not
measurable and the both-feet ones at most limited. Above half, nothing changes: the far leg of the validation's
side views was often seen less than fully (the bundled sample's far leg: 66 %), and its measured errors (the
per-leg cells of the table) already include that.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gaitscope.analysis.intervals import apply_intervals
from gaitscope.records import GaitReport, Keypoints2D, Motion3D, ParameterSummary, RecordingQuality
from gaitscope.skeleton import J

RELIABLE, LIMITED, NOT_MEASURABLE = "reliable", "limited", "not measurable"
_RANK = {RELIABLE: 0, LIMITED: 1, NOT_MEASURABLE: 2}
NO_CAMERA = "no camera"
MIN_VISIBLE = 0.5
MIN_STRIDES = 3  # fewer usable strides: no average is better than limited
MIN_STRIDES_VARIABILITY = 4  # variability (CV) and symmetry need at least this many (the analysis warns below it)

R, L, N = RELIABLE, LIMITED, NOT_MEASURABLE
#: base parameter -> view class -> grade, or {"near": grade, "far": grade} where the two legs were measured apart.
#: From docs/validation.md ("Which parameters are reliable from which view"); step width and arm swing were not
#: measured there: at best limited, and not from the side (the step is across the line of sight).
VIEW_GRADES: dict[str, dict[str, object]] = {
    "cadence": {"side": R, "oblique": R, "frontal": R, "back": L},
    "stride_time": {"side": R, "oblique": R, "frontal": L, "back": N},
    "step_time": {"side": R, "oblique": R, "frontal": L, "back": N},
    "stance_pct": {"side": R, "oblique": L, "frontal": L, "back": N},
    "swing_pct": {"side": R, "oblique": L, "frontal": L, "back": N},
    "double_support_pct": {"side": L, "oblique": L, "frontal": N, "back": N},
    "step_length": {"side": R, "oblique": L, "frontal": N, "back": N},
    "stride_length": {"side": L, "oblique": L, "frontal": N, "back": N},
    "speed": {"side": L, "oblique": L, "frontal": N, "back": N},
    "step_width": {"side": N, "oblique": L, "frontal": L, "back": L},
    "hip_rom": {"side": R, "oblique": {"near": N, "far": L}, "frontal": N, "back": N},
    "knee_rom": {"side": {"near": L, "far": L}, "oblique": N, "frontal": N, "back": N},
    "arm_swing": {"side": L, "oblique": N, "frontal": N, "back": N},
    "gps": {"side": L, "oblique": N, "frontal": N, "back": N},
}
_DERIVED = ("_cv", "_symmetry_index", "_symmetry_ratio")
#: parameters that cannot be zero or negative in a real walk: such a value is a failed measurement
_POSITIVE = frozenset({"cadence", "speed", "stride_time", "step_time", "stride_length", "step_length", "step_width"})
_LEG = {"L": ("left_hip", "left_knee", "left_ankle"), "R": ("right_hip", "right_knee", "right_ankle")}

FILM_ADVICE = ("Film from the side: camera still, at hip height, its axis at right angles to the walking line, "
               "3-5 m away, the whole body in view for at least 4 strides (about 6-8 m of straight walking), one "
               "person in view.")


def view_class(angle_deg: float | None) -> str:
    """The validation's view class of a view angle (see the module docstring)."""
    if angle_deg is None or not np.isfinite(angle_deg):
        return NO_CAMERA
    if 60.0 <= angle_deg <= 120.0:
        return "side"
    if angle_deg < 25.0:
        return "back"
    if angle_deg > 155.0:
        return "frontal"
    return "oblique"


def estimate_view(motion: Motion3D) -> tuple[float | None, str | None]:
    """``(view angle in degrees, near leg)`` of a lifted motion (camera frame); ``(None, None)`` for a motion that
    is not in a camera's frame (motion capture, the synthetic walker's world frame) or has no facing direction."""
    if not motion.root_relative or not str(motion.source).startswith("lifter"):
        return None, None
    xyz = np.asarray(motion.xyz_m, dtype=float)
    up = np.asarray(motion.up, dtype=float)
    up = up / np.linalg.norm(up)
    lateral = xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]]
    shoulders = xyz[:, J["left_shoulder"]] - xyz[:, J["right_shoulder"]]
    lateral = np.where(np.isfinite(shoulders), lateral + shoulders, lateral)
    lateral = lateral - (lateral @ up)[:, None] * up  # horizontal
    ok = np.all(np.isfinite(lateral), axis=1) & (np.linalg.norm(lateral, axis=1) > 1e-6)
    if motion.valid is not None:
        ok &= np.asarray(motion.valid, dtype=bool)
    if ok.sum() < 2:
        return None, None
    lat = lateral[ok] / np.linalg.norm(lateral[ok], axis=1, keepdims=True)
    forward = np.cross(lat, up)  # left x up = forward (x forward, y left, z up is right-handed)
    axis = np.array([0.0, 0.0, 1.0])  # the optical axis in the camera frame
    axis_h = axis - (axis @ up) * up
    if np.linalg.norm(axis_h) < 1e-6:  # a camera looking straight down: no horizontal view direction
        return None, None
    axis_h /= np.linalg.norm(axis_h)
    angles = np.degrees(np.arccos(np.clip(forward @ axis_h, -1.0, 1.0)))
    # the left side faces away from the camera when the left direction points along the optical axis
    near = "R" if float(np.median(lat @ axis_h)) > 0 else "L"
    return float(np.median(angles)), near


def leg_visibility(keypoints: Keypoints2D | None, min_conf: float = 0.5) -> dict[str, float]:
    """Fraction of the 2D frames in which each leg's hip, knee and ankle were all detected (conf >= min_conf);
    filled frames (``interpolated``) count as not seen. Empty without keypoints."""
    if keypoints is None or keypoints.n_frames == 0:
        return {}
    conf = np.asarray(keypoints.conf, dtype=float)
    seen = ~np.asarray(keypoints.interpolated, dtype=bool)
    out = {}
    for side, joints in _LEG.items():
        idx = [J[j] for j in joints]
        out[side] = float(np.mean(np.all(conf[:, idx] >= min_conf, axis=1) & seen))
    return out


def _worse(*grades: str) -> str:
    return max(grades, key=_RANK.__getitem__)


def grade(name: str, side: str, quality: RecordingQuality) -> tuple[str, str]:
    """``(grade, reason)`` of one parameter (``side``: "L", "R" or "both") in this recording; reason "" if reliable."""
    base = name
    for suffix in _DERIVED:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
    derived = base != name
    reasons: list[str] = []
    g = RELIABLE
    view = quality.view
    if view != NO_CAMERA and base in VIEW_GRADES:
        cell = VIEW_GRADES[base][view]
        if isinstance(cell, dict):
            near = quality.near_leg
            legs = ("L", "R") if side == "both" else (side,)
            per_leg = [cell["near" if leg == near else "far"] for leg in legs]
            cell = _worse(*per_leg)
        if cell != RELIABLE:
            g = _worse(g, str(cell))
            angle = "" if quality.view_angle_deg is None else f" ({quality.view_angle_deg:.0f} deg)"
            reasons.append(f"{view} view{angle}: {'not measurable' if cell == NOT_MEASURABLE else 'limited accuracy'}"
                           " from this view (docs/validation.md)")
    vis = quality.leg_visibility
    legs = ("L", "R") if side == "both" else (side,) if side in ("L", "R") else ()
    for leg in legs:
        v = vis.get(leg)
        if v is None or v >= MIN_VISIBLE:
            continue
        g = NOT_MEASURABLE if side != "both" else _worse(g, LIMITED)
        reasons.append(f"the {'left' if leg == 'L' else 'right'} leg was seen in only {100 * v:.0f} % of frames")
    if quality.usable_strides < MIN_STRIDES:
        g = _worse(g, LIMITED)
        reasons.append(f"only {quality.usable_strides} usable stride(s)")
    if derived and quality.usable_strides < MIN_STRIDES_VARIABILITY:
        g = NOT_MEASURABLE
        reasons.append(f"variability and symmetry need at least {MIN_STRIDES_VARIABILITY} strides")
    return g, "; ".join(reasons)


def assess(report: GaitReport, motion: Motion3D, keypoints: Keypoints2D | None = None) -> RecordingQuality:
    """The recording's view, leg visibility and usable strides (no grading yet: see :func:`apply_reliability`)."""
    angle, near = estimate_view(motion)
    return RecordingQuality(view=view_class(angle), view_angle_deg=angle, near_leg=near,
                            leg_visibility=leg_visibility(keypoints), usable_strides=len(report.strides))


def _advice(quality: RecordingQuality, graded: list[ParameterSummary]) -> tuple[str, ...]:
    if all(p.reliability == RELIABLE for p in graded):
        return ()
    out = []
    if quality.view not in ("side", NO_CAMERA):
        out.append(f"This was filmed from {'an' if quality.view == 'oblique' else 'the'} {quality.view} view "
                   f"({quality.view_angle_deg:.0f} deg between the walking direction and the camera axis). "
                   + FILM_ADVICE)
    elif quality.view == "side":
        out.append("Side view: lengths, speed, knee range and double support stay limited from one camera (see "
                   "docs/validation.md); a second pass filmed from the other side measures the other leg as the "
                   "near one.")
    hidden = [f"{ {'L': 'left', 'R': 'right'}[leg]} leg seen in {100 * v:.0f} % of frames"
              for leg, v in sorted(quality.leg_visibility.items()) if v < MIN_VISIBLE]
    if hidden:
        out.append("Legs hidden (" + ", ".join(hidden) + "): keep both legs in view, with nothing between the camera "
                   "and the walker, or film a second pass from the other side.")
    if quality.usable_strides < MIN_STRIDES_VARIABILITY:
        out.append(f"Only {quality.usable_strides} usable stride(s): record a longer straight walk (at least 4-6 "
                   "strides, about 6-8 m).")
    return tuple(out)


def apply_reliability(report: GaitReport, quality: RecordingQuality) -> GaitReport:
    """``report`` with a grade and a 95 % interval on every parameter (a band on every curve), flags kept only on
    reliable ones, and warnings that say what was not graded reliable, why, and how to film better. Idempotent (applying it to a stored report again gives
    the same report)."""
    graded: list[ParameterSummary] = []
    why: dict[str, list[str]] = {}
    hidden: dict[str, list[str]] = {}  # not measurable, not flagged either way: why it is not reported
    for p in report.parameters:
        g, reason = grade(p.name, p.side, quality)
        if p.name in _POSITIVE and np.isfinite(p.value) and p.value <= 0:  # e.g. a step width of -0.21 m
            g, reason = NOT_MEASURABLE, (reason + "; " if reason else "") + "a length, time or speed at or below 0"
        flag = p.flag if g == RELIABLE else "unknown"
        if g != RELIABLE and p.flag in ("low", "high"):
            why.setdefault(reason, []).append(f"{p.label} ({ {'both': 'L+R'}.get(p.side, p.side)}) {p.flag}")
        if g == NOT_MEASURABLE and np.isfinite(p.value) and not p.name.endswith(_DERIVED):
            label = p.label if p.side == "both" else f"{p.label} ({p.side})"
            hidden.setdefault(reason, []).append(label)
        graded.append(replace(p, reliability=g, flag=flag))  # type: ignore[arg-type]
    quality = replace(quality, advice=_advice(quality, graded))
    notes = [_summary(quality, graded)]
    for reason, items in why.items():
        notes.append("Not flagged, because the number is not reliable here (" + reason + "): " + "; ".join(items)
                     + ".")
    for reason, items in hidden.items():
        notes.append("Not reported (" + reason + "): " + ", ".join(items) + ".")
    notes += [f"How to film better: {a}" for a in quality.advice]
    warnings = tuple(report.warnings) + tuple(n for n in notes if n not in report.warnings)
    # the 95 % intervals follow from the view graded here (gaitscope.analysis.intervals); not stored either
    return apply_intervals(replace(report, parameters=tuple(graded), warnings=warnings, quality=quality))


def _summary(quality: RecordingQuality, graded: list[ParameterSummary]) -> str:
    counts = {g: sum(p.reliability == g for p in graded) for g in (RELIABLE, LIMITED, NOT_MEASURABLE)}
    if quality.view == NO_CAMERA:
        view = "No camera view to grade (3D capture)"
    else:
        view = f"Camera view: {quality.view} ({quality.view_angle_deg:.0f} deg between walking direction and camera axis"
        view += f", near leg {quality.near_leg})" if quality.near_leg else ")"
    vis = ", ".join(f"{ {'L': 'left', 'R': 'right'}[k]} leg seen {100 * v:.0f} %"
                    for k, v in sorted(quality.leg_visibility.items()))
    return (f"{view}; {quality.usable_strides} usable strides" + (f"; {vis}" if vis else "") +
            f". Parameters: {counts[RELIABLE]} reliable, {counts[LIMITED]} limited, {counts[NOT_MEASURABLE]} not "
            "measurable from this recording; only reliable ones are flagged.")
