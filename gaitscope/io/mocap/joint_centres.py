"""Joint centres from skin markers, and their assembly into the H36M-17 skeleton.

Methods (one per joint, chosen by which markers a set has; every choice is written to the notes):

* Hip: the virtual hip-joint-centre markers when the file has them (OpenCap ``R_HJC``; these come from a
  functional or regression method in the lab's own pipeline), otherwise the regression of Harrington et al.
  2007 (J Biomech 40:595, "Prediction of the hip joint centre in adults, children, and patients with
  cerebral palsy based on magnetic resonance imaging"), which predicts the centre in the ISB pelvis frame
  from pelvis width PW (inter-ASIS) and depth PD (mid-ASIS to mid-PSIS), in mm:
  x = -0.24 PD - 9.9, y = -0.30 PW - 10.9, z = +/-(0.33 PW + 7.3). PW and PD are taken as the trial medians,
  since pelvis size does not change while walking and the median ignores skin-motion spikes.
* Knee / ankle: the midpoint of the lateral and medial epicondyle (malleolus) markers where both exist.
  With a lateral marker only, the centre is the lateral marker moved medially by half the joint width plus
  the marker radius (the Plug-in-Gait convention), along the pelvis medio-lateral axis made perpendicular to
  the segment. The joint width comes from the marker set (a typical adult knee 105 mm, ankle 70 mm), as no
  anthropometry travels with these files; an error of 20 mm in knee width moves the centre 10 mm.
* Markers only present in a static trial (Horst: epicondyles, malleoli) are carried into each walking trial
  through their segment's marker cluster, fitted by least squares (Soderkvist & Wedin 1993, J Biomech 26:1473;
  Cappozzo et al. 1995).
* Trunk, head and arms from C7/CLAV/STRN/T10, head markers, shoulders, elbows and wrists when present. The
  H36M head joints are loosely defined, so nose and head top are placed at fixed offsets from the head
  markers along the neck-to-head axis (documented below). Sets without these markers leave the joints NaN and
  say so; the gait analysis ignores NaN joints.
"""

from __future__ import annotations

import numpy as np

from gaitscope.errors import MocapError
from gaitscope.io.mocap.marker_sets import REQUIRED_LEG_ROLES, SIDES, MarkerSet
from gaitscope.io.mocap.markers import MarkerData, normalize_label
from gaitscope.skeleton import NUM_JOINTS, J

MARKER_RADIUS_M = 0.007  # 14 mm markers, the usual gait-lab size
SHOULDER_DROP_M = 0.04  # glenohumeral centre below the acromion marker (Plug-in-Gait uses ~ this offset)
HEAD_TOP_ABOVE_MARKERS_M = 0.09  # vertex above the centre of a head band / head markers
NOSE_BELOW_FRONT_MARKERS_M = 0.06  # nose tip below the forehead markers


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / n


class MarkerLookup:
    """Resolves marker-set roles to trajectories, including markers reconstructed from a static trial."""

    def __init__(self, markers: MarkerData, extra: dict[str, np.ndarray] | None = None) -> None:
        self.markers = markers
        self.extra = {normalize_label(k): v for k, v in (extra or {}).items()}

    def label(self, label: str) -> np.ndarray | None:
        key = normalize_label(label)
        if key in self.extra:
            return self.extra[key]
        if self.markers.has(label):
            arr = self.markers.get(label)
            return arr if np.isfinite(arr).any() else None
        return None

    def alternative(self, alt: str) -> np.ndarray | None:
        parts = [self.label(p) for p in alt.split("+")]
        if any(p is None for p in parts):
            return None
        return np.mean(parts, axis=0)

    def role(self, mset: MarkerSet, role: str) -> np.ndarray | None:
        for alt in mset.alternatives(role):
            arr = self.alternative(alt)
            if arr is not None:
                return arr
        return None


# --------------------------------------------------------------------------------------------------------
# static calibration (cluster technique)
# --------------------------------------------------------------------------------------------------------


def rigid_fit(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation and translation per frame taking ``reference (K,3)`` onto ``moving (T,K,3)``.

    Soderkvist & Wedin 1993 (SVD solution). Markers that are NaN in a frame get zero weight; frames with fewer
    than three visible markers get NaN. Returns ``R (T,3,3)`` and ``t (T,3)`` with moving ~= R @ ref + t.
    """
    w = np.isfinite(moving).all(axis=-1) & np.isfinite(reference).all(axis=-1)[None]  # (T, K)
    n = w.sum(axis=1)
    wf = w.astype(float)[..., None]
    mov = np.where(w[..., None], moving, 0.0)
    ref = np.where(np.isfinite(reference), reference, 0.0)[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        cm = (mov * wf).sum(1) / n[:, None]
        cr = (ref * wf).sum(1) / n[:, None]
    a = (ref - cr[:, None]) * wf
    b = (mov - cm[:, None]) * wf
    h = np.einsum("tki,tkj->tij", a, b)
    h = np.nan_to_num(h)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    rot = np.einsum("tji,tj,tkj->tik", vt, fix, u)  # V diag(1,1,d) U^T
    t = cm - np.einsum("tij,tj->ti", rot, cr)
    bad = n < 3
    rot[bad] = np.nan
    t[bad] = np.nan
    return rot, t


def calibrate_from_static(
    markers: MarkerData, static: MarkerData, calibrated: dict[str, tuple[str, ...]]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Virtual trajectories of static-only markers, carried by their cluster (see module docstring)."""
    out: dict[str, np.ndarray] = {}
    notes = []
    for target, cluster in calibrated.items():
        if markers.has(target) and np.isfinite(markers.get(target)).any():
            continue  # the walking trial has the marker itself
        if not static.has(target):
            continue
        present = [c for c in cluster if static.has(c) and markers.has(c)]
        if len(present) < 3:
            continue
        ref = np.nanmedian(np.stack([static.get(c) for c in present], axis=1), axis=0)  # (K, 3)
        tgt = np.nanmedian(static.get(target), axis=0)
        rot, t = rigid_fit(ref, np.stack([markers.get(c) for c in present], axis=1))
        out[target] = np.einsum("tij,j->ti", rot, tgt) + t
        notes.append(target)
    msg = []
    if notes:
        msg.append(f"{', '.join(notes)} reconstructed from the static trial {static.path.rsplit('/', 1)[-1]} "
                   "through the thigh/shank marker clusters (calibrated anatomical systems technique)")
    return out, msg


# --------------------------------------------------------------------------------------------------------
# joint centres
# --------------------------------------------------------------------------------------------------------


def pelvis_frame(r_asis: np.ndarray, l_asis: np.ndarray, mid_psis: np.ndarray):
    """ISB pelvis axes per frame: x anterior, y superior, z to the right; origin mid-ASIS."""
    origin = (r_asis + l_asis) / 2
    z = _unit(r_asis - l_asis)
    y = _unit(np.cross(z, origin - mid_psis))
    x = np.cross(y, z)
    return origin, x, y, z


def harrington_hjc(r_asis, l_asis, mid_psis) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Right and left hip centres (T,3) by Harrington et al. 2007; also PW and PD in metres (medians)."""
    origin, x, y, z = pelvis_frame(r_asis, l_asis, mid_psis)
    pw = float(np.nanmedian(np.linalg.norm(r_asis - l_asis, axis=-1)))
    pd_ = float(np.nanmedian(np.linalg.norm(origin - mid_psis, axis=-1)))
    pw_mm, pd_mm = pw * 1000, pd_ * 1000
    ax = (-0.24 * pd_mm - 9.9) / 1000
    ay = (-0.30 * pw_mm - 10.9) / 1000
    az = (0.33 * pw_mm + 7.3) / 1000
    right = origin + ax * x + ay * y + az * z
    left = origin + ax * x + ay * y - az * z
    return right, left, pw, pd_


def medial_shift(lateral: np.ndarray, proximal: np.ndarray, medial_axis: np.ndarray, distance: float) -> np.ndarray:
    """Move a lateral marker ``distance`` along ``medial_axis`` made perpendicular to the segment axis."""
    seg = _unit(proximal - lateral)
    m = medial_axis - np.sum(medial_axis * seg, axis=-1, keepdims=True) * seg
    return lateral + distance * _unit(m)


def build_skeleton(
    markers: MarkerData,
    mset: MarkerSet,
    *,
    static: MarkerData | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """H36M-17 joints ``(T,17,3)``, foot points and notes from the markers of one trial.

    Raises :class:`MocapError` naming the markers the set needs and the file lacks.
    """
    notes: list[str] = []
    extra: dict[str, np.ndarray] = {}
    if mset.calibrated and static is not None:
        extra, msg = calibrate_from_static(markers, static, mset.calibrated)
        notes += msg
    look = MarkerLookup(markers, extra)
    check_required(look, mset, static_given=static is not None, path=markers.path)

    t = markers.n_frames
    xyz = np.full((t, NUM_JOINTS, 3), np.nan)
    get = {s: (lambda role, s=s: look.role(mset, f"{s}.{role}")) for s in SIDES}

    # ---- hips
    hjc = {s: get[s]("hjc") for s in SIDES}
    if all(h is not None for h in hjc.values()):
        notes.append("hip centres: virtual HJC markers from the file")
    else:
        psis = [get[s]("psis") for s in SIDES]
        mid_psis = (psis[0] + psis[1]) / 2 if all(p is not None for p in psis) else look.role(mset, "sacrum")
        r, l, pw, pd_ = harrington_hjc(get["R"]("asis"), get["L"]("asis"), mid_psis)
        hjc = {"R": r, "L": l}
        notes.append(f"hip centres: Harrington et al. 2007 regression (pelvis width {pw * 1000:.0f} mm, "
                     f"depth {pd_ * 1000:.0f} mm)")
        if not 0.18 <= pw <= 0.32:
            notes.append(f"pelvis width {pw * 1000:.0f} mm is outside the adult ASIS range 180-320 mm: the "
                         f"'ASIS' markers of set {mset.name} may sit elsewhere on the iliac crest; hip centres "
                         "are less certain")
    medial = {"R": hjc["L"] - hjc["R"], "L": hjc["R"] - hjc["L"]}

    # ---- knees and ankles
    for s in SIDES:
        hip = hjc[s]
        knee = _joint_centre(get[s]("knee_lat"), get[s]("knee_med"), hip, medial[s], mset.knee_width_m,
                             "knee", s, notes)
        ankle = _joint_centre(get[s]("ankle_lat"), get[s]("ankle_med"), knee, medial[s], mset.ankle_width_m,
                              "ankle", s, notes)
        side = "right" if s == "R" else "left"
        xyz[:, J[f"{side}_hip"]] = hip
        xyz[:, J[f"{side}_knee"]] = knee
        xyz[:, J[f"{side}_ankle"]] = ankle
    xyz[:, J["pelvis"]] = (hjc["R"] + hjc["L"]) / 2

    # ---- feet
    feet: dict[str, np.ndarray] = {}
    for s in SIDES:
        side = "right" if s == "R" else "left"
        feet[f"{side}_heel"] = get[s]("heel")
        toe = get[s]("toe")
        if toe is not None:
            feet[f"{side}_toe"] = toe
    if len(feet) < 4:
        notes.append("no toe markers: feet hold heels only")

    notes += _upper_body(xyz, look, mset)
    return xyz, feet, notes


def _joint_centre(lat, med, proximal, medial_axis, width, name, side, notes) -> np.ndarray:
    if med is not None:
        if side == "R":
            notes.append(f"{name} centres: midpoint of lateral and medial markers")
        return (lat + med) / 2
    if side == "R":
        notes.append(f"{name} centres: lateral marker moved medially by {(width / 2 + MARKER_RADIUS_M) * 1000:.0f} mm "
                     f"(half the {name} width {width * 1000:.0f} mm + marker radius; no medial marker)")
    return medial_shift(lat, proximal, medial_axis, width / 2 + MARKER_RADIUS_M)


def _upper_body(xyz: np.ndarray, look: MarkerLookup, mset: MarkerSet) -> list[str]:
    notes = []
    pelvis = xyz[:, J["pelvis"]]
    c7, clav, strn, t10 = (look.role(mset, r) for r in ("c7", "clav", "strn", "t10"))
    sho = {s: look.role(mset, f"{s}.shoulder") for s in SIDES}
    thorax = None
    if c7 is not None and clav is not None:
        thorax = (c7 + clav) / 2
        notes.append("thorax: midpoint of C7 and clavicle/jugular notch")
    elif sho["R"] is not None and sho["L"] is not None:
        thorax = (sho["R"] + sho["L"]) / 2
        if c7 is not None:
            thorax = (thorax + c7) / 2
        notes.append("thorax: midpoint of the shoulder markers" + (" and C7" if c7 is not None else ""))
    elif c7 is not None and strn is not None:
        thorax = (c7 + strn) / 2
        notes.append("thorax: midpoint of C7 and sternum")
    if thorax is None:
        notes.append(f"marker set {mset.name} has no trunk, head or arm markers in this file: spine, thorax, "
                     "nose, head, shoulders, elbows and wrists are NaN (lower-body-only); the gait analysis "
                     "ignores NaN joints")
        return notes
    xyz[:, J["thorax"]] = thorax
    if t10 is not None and strn is not None:
        xyz[:, J["spine"]] = (t10 + strn) / 2
        notes.append("spine: midpoint of T10 and sternum")
    else:
        xyz[:, J["spine"]] = (pelvis + thorax) / 2
        notes.append("spine: midpoint of pelvis and thorax (no T10/sternum pair)")
    trunk_down = _unit(pelvis - thorax)
    head = look.role(mset, "head")
    if head is not None:
        up = _unit(head - thorax)
        front = look.role(mset, "head_front")
        front = head if front is None else front
        xyz[:, J["head"]] = head + HEAD_TOP_ABOVE_MARKERS_M * up
        xyz[:, J["nose"]] = front - NOSE_BELOW_FRONT_MARKERS_M * up
        notes.append(f"head top {HEAD_TOP_ABOVE_MARKERS_M * 100:.0f} cm above the head-marker centre, nose "
                     f"{NOSE_BELOW_FRONT_MARKERS_M * 100:.0f} cm below the front head markers (approximate)")
    else:
        notes.append("no head markers: nose and head are NaN")
    missing_arm = []
    for s in SIDES:
        side = "right" if s == "R" else "left"
        if sho[s] is None:
            missing_arm.append(f"{side} shoulder")
            continue
        xyz[:, J[f"{side}_shoulder"]] = sho[s] + SHOULDER_DROP_M * trunk_down
        el, em = look.role(mset, f"{s}.elbow_lat"), look.role(mset, f"{s}.elbow_med")
        if el is not None:
            xyz[:, J[f"{side}_elbow"]] = (el + em) / 2 if em is not None else el
        else:
            missing_arm.append(f"{side} elbow")
        wa, wb = look.role(mset, f"{s}.wrist_a"), look.role(mset, f"{s}.wrist_b")
        if wa is not None:
            xyz[:, J[f"{side}_wrist"]] = (wa + wb) / 2 if wb is not None else wa
        else:
            missing_arm.append(f"{side} wrist")
    notes.append(f"shoulders {SHOULDER_DROP_M * 100:.0f} cm below the acromion markers; elbows and wrists at "
                 "the midpoint of their two markers (or the single marker)")
    if missing_arm:
        notes.append(f"no markers for: {', '.join(missing_arm)} (NaN)")
    return notes


def handedness(markers: MarkerData, mset: MarkerSet) -> float:
    """Median sign of right . (anterior x up) over frames: +1 in a right-handed lab frame, -1 in a mirrored one.

    Right = R.asis - L.asis, anterior = mid-ASIS - mid-PSIS (or sacrum), up = +Z. Returns 0 when the pelvis
    markers are missing (nothing to judge from).
    """
    look = MarkerLookup(markers)
    ra, la = look.role(mset, "R.asis"), look.role(mset, "L.asis")
    psis = [look.role(mset, f"{s}.psis") for s in SIDES]
    back = (psis[0] + psis[1]) / 2 if all(p is not None for p in psis) else look.role(mset, "sacrum")
    if ra is None or la is None or back is None:
        return 0.0
    right = ra - la
    anterior = (ra + la) / 2 - back
    s = np.einsum("ti,ti->t", right, np.cross(anterior, np.array([0.0, 0.0, 1.0])))
    s = s[np.isfinite(s)]
    return float(np.sign(np.median(s))) if len(s) else 0.0


# --------------------------------------------------------------------------------------------------------
# required markers
# --------------------------------------------------------------------------------------------------------


def missing_markers(look: MarkerLookup, mset: MarkerSet) -> list[str]:
    """Labels (first alternative of each role) that the set requires and the file lacks."""
    missing = []
    for s in SIDES:
        for role in REQUIRED_LEG_ROLES:
            if look.role(mset, f"{s}.{role}") is None:
                missing.append(_first(mset, f"{s}.{role}"))
    have_hjc = all(look.role(mset, f"{s}.hjc") is not None for s in SIDES)
    have_psis = all(look.role(mset, f"{s}.psis") is not None for s in SIDES)
    if not (have_hjc or have_psis or look.role(mset, "sacrum") is not None):
        alts = [_first(mset, f"{s}.psis") for s in SIDES if mset.alternatives(f"{s}.psis")]
        if mset.alternatives("sacrum"):
            alts.append(f"or {_first(mset, 'sacrum')}")
        missing.append(" ".join(alts) if alts else "PSIS/sacrum")
    return missing


def _first(mset: MarkerSet, role: str) -> str:
    alts = mset.alternatives(role)
    return alts[0].replace("+", " + ") if alts else role


def check_required(look: MarkerLookup, mset: MarkerSet, *, static_given: bool, path: str) -> None:
    missing = missing_markers(look, mset)
    if not missing:
        return
    hint = "Label the markers as the set expects, or choose another marker set (marker_set=...)."
    if mset.calibrated and not static_given:
        hint = ("This set carries knee and ankle markers only in the static trial: put the static trial "
                "(file name containing 'Static') beside the walking trial or pass static=...")
    raise MocapError(
        f"{path.rsplit('/', 1)[-1]} lacks markers required by marker set '{mset.name}': {', '.join(missing)}.",
        hint=hint,
    )
