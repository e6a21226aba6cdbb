"""``load_motion``: one call from a gait-lab file to a :class:`MocapTrial` (Motion3D + reference events)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gaitscope.errors import MocapError
from gaitscope.io.mocap.bvh import load_bvh
from gaitscope.io.mocap.c3d import read_c3d
from gaitscope.io.mocap.force_plates import DEFAULT_THRESHOLD_N, PlateSeries, detect_contacts, events_from_contacts
from gaitscope.io.mocap.gaps import fill_short_gaps
from gaitscope.io.mocap.joint_centres import (
    MarkerLookup,
    build_skeleton,
    calibrate_from_static,
    handedness,
    missing_markers,
)
from gaitscope.io.mocap.marker_sets import MARKER_SETS, MarkerSet
from gaitscope.io.mocap.markers import MarkerData, normalize_label
from gaitscope.io.mocap.opensim_mot import read_grf_plates, read_ik_angles
from gaitscope.io.mocap.trc import read_trc
from gaitscope.records import GaitEvent, Motion3D

MAX_GAP_S = 0.10  # marker gaps up to 100 ms are interpolated (about a third of a swing phase at most)
EVENT_SOURCE_PLATES = f"force plates ({DEFAULT_THRESHOLD_N:.0f} N threshold)"
EVENT_SOURCE_C3D = "C3D events"
EVENT_SOURCE_NONE = "none"


@dataclass(frozen=True)
class MocapTrial:
    """A motion-capture trial as the rest of gaitscope sees it.

    ``events`` are the reference heel strikes / toe offs (frames of ``motion``); ``angles_deg`` the lab's own
    inverse-kinematics angles (OpenSim names, degrees, a ``time`` column in the file's seconds and a ``frame``
    column aligned with ``motion``) when a MOT file came with the trial.
    """

    motion: Motion3D
    events: tuple[GaitEvent, ...]
    event_source: str
    marker_set: str
    angles_deg: pd.DataFrame | None
    units_note: str
    path: str
    first_row: int = 0  # sample of the file that is the motion's row 0 (samples without leg markers trimmed)


def load_motion(
    path: str | Path,
    *,
    marker_set: str | None = None,
    static: str | Path | None | bool = True,
    grf: str | Path | None | bool = True,
    ik: str | Path | None | bool = True,
    events_from: str = "auto",
    threshold_n: float = DEFAULT_THRESHOLD_N,
    knee_width_m: float | None = None,
    ankle_width_m: float | None = None,
) -> MocapTrial:
    """Read a C3D, TRC or BVH file into a :class:`MocapTrial`.

    ``marker_set``: a name from :data:`MARKER_SETS` or None to pick the set that fits the labels best.
    ``static``/``grf``/``ik``: a path, True to look beside the file (``*Static*.c3d``; ``<stem>_grf.mot`` and
    ``<stem>_ik.mot`` in the same folder or in ``../ID`` and ``../IK``), or False/None to skip.
    ``events_from``: "auto" (force plates, else C3D event labels), "force_plates", "c3d" or "none".
    ``knee_width_m`` / ``ankle_width_m``: the subject's measured joint widths (calipers, as Plug-in-Gait asks
    for), used only where a set has no medial marker; otherwise the marker set's adult defaults apply.
    Raises :class:`MocapError` for unreadable files and for marker sets that lack required markers.
    """
    path = Path(path)
    if events_from not in ("auto", "force_plates", "c3d", "none"):
        raise MocapError(f"events_from={events_from!r} is not one of auto, force_plates, c3d, none.",
                         hint="Choose where the reference gait events should come from.")
    if not path.exists():
        raise MocapError(f"Motion-capture file {path} does not exist.", hint="Check the path.")
    ext = path.suffix.lower()
    if ext == ".bvh":
        motion = load_bvh(path)
        return MocapTrial(motion=motion, events=(), event_source=EVENT_SOURCE_NONE, marker_set="bvh-cmu",
                          angles_deg=None, units_note=motion.scale_source + "; Y up rotated to Z up", path=str(path))
    if ext in (".mot", ".sto"):
        raise MocapError(
            f"{path.name} is an OpenSim table (joint angles or forces), not marker positions.",
            hint="Load the .trc marker file recorded with it; its _ik.mot and _grf.mot are picked up automatically "
                 "(or read the table alone with gaitscope.io.mocap.read_ik_angles / read_grf_plates).",
        )
    if ext == ".c3d":
        markers, c3d_events, plates = read_c3d(path)
        static_md = _static_for(path, static)
        trc_t0 = 0.0
    elif ext == ".trc":
        markers, time = read_trc(path)
        c3d_events, static_md = [], None
        trc_t0 = float(time[0]) if np.isfinite(time[0]) else 0.0
        plates = []
        grf_path = _companion(path, grf, "_grf.mot", "ID")
        if grf_path is not None:
            plates = read_grf_plates(grf_path, t0_s=trc_t0)
    else:
        raise MocapError(f"{path.name}: unknown motion-capture format '{ext}'.",
                         hint="gaitscope reads .c3d, .trc and .bvh files.")

    mset = _choose_marker_set(markers, marker_set, static_md)
    for name, value in (("knee_width_m", knee_width_m), ("ankle_width_m", ankle_width_m)):
        if value is not None:
            if not 0.03 <= value <= 0.20:
                raise MocapError(f"{name}={value} m is not a plausible joint width.",
                                 hint="Give the width in metres, e.g. 0.105 for a 105 mm knee.")
            mset = replace(mset, **{name: float(value)})
    notes: list[str] = list(markers.notes)
    if handedness(markers, mset) < 0:
        # The body's right lies on the lab's left: the file's frame is a mirror image (left-handed). Flip the
        # horizontal axis across the walk so that right-handed geometry (and left/right) holds again.
        markers, plates = _mirror(markers, plates)
        if static_md is not None and handedness(static_md, mset) < 0:
            static_md = _mirror(static_md, [])[0]
        notes.append("the file's lab frame is left-handed (mirror image): the lateral axis was flipped to make "
                     "it right-handed; marker labels were kept")
    filled_xyz, n_filled = fill_short_gaps(markers.xyz_m, int(round(MAX_GAP_S * markers.fps)))
    if n_filled:
        notes.append(f"{n_filled} marker-frames in gaps of <= {MAX_GAP_S * 1000:.0f} ms interpolated (PCHIP)")
    markers_f = MarkerData(labels=markers.labels, xyz_m=filled_xyz, fps=markers.fps, path=markers.path,
                           units_note=markers.units_note, first_frame=markers.first_frame, notes=markers.notes)
    xyz, feet, skel_notes = build_skeleton(markers_f, mset, static=static_md)
    notes += skel_notes

    # ---- reference events (before trimming, in file frames)
    events: tuple[GaitEvent, ...] = ()
    source = EVENT_SOURCE_NONE
    if events_from in ("auto", "force_plates") and plates:
        foot_ref = _foot_reference(feet)
        contacts = detect_contacts(plates, foot_ref, markers.fps, threshold_n=threshold_n)
        events = events_from_contacts(contacts, markers.fps, xyz.shape[0], feet=foot_ref)
        if events:
            source = EVENT_SOURCE_PLATES.replace(f"{DEFAULT_THRESHOLD_N:.0f} N", f"{threshold_n:g} N")
            dropped = len([c for c in contacts if c.side in ("L", "R")]) * 2 - len(events)
            notes.append(f"{len(contacts)} plate contacts on {len(plates)} plates -> {len(events)} events"
                         + (f" ({dropped} contact ends not seen or not gait: standing, trial edge)" if dropped else ""))
    if not events and events_from in ("auto", "c3d") and c3d_events:
        events = tuple(GaitEvent(side=s, kind=k, frame=f, time_s=f / markers.fps) for s, k, f in c3d_events)
        source = EVENT_SOURCE_C3D

    # ---- trim frames without a lower body at either end
    lower = np.isfinite(xyz[:, :7]).all(axis=(1, 2))
    if not lower.any():
        raise MocapError(f"{path.name}: no frame has all leg markers visible.",
                         hint="Gap-fill the trial in the capture software and export again.")
    first, last = int(np.argmax(lower)), int(len(lower) - np.argmax(lower[::-1]) - 1)
    if first > 0 or last < len(lower) - 1:
        notes.append(f"frames {first}-{last} of {len(lower)} kept: the legs are not fully visible outside them")
        xyz = xyz[first : last + 1]
        feet = {k: v[first : last + 1] for k, v in feet.items()}
        events = tuple(GaitEvent(side=e.side, kind=e.kind, frame=e.frame - first, time_s=e.time_s - first / markers.fps,
                                 quality=e.quality) for e in events if first <= e.frame <= last)
        lower = lower[first : last + 1]

    angles = None
    if ext == ".trc":
        ik_path = _companion(path, ik, "_ik.mot", "IK")
        if ik_path is not None:
            angles = read_ik_angles(ik_path)
            frames = np.round((angles["time"].to_numpy() - trc_t0) * markers.fps).astype(int) - first
            angles.insert(1, "frame", frames)
            angles = angles[(frames >= 0) & (frames < xyz.shape[0])].reset_index(drop=True)

    unit_word = markers.units_note.split("=", 1)[1].split(" ", 1)[0] if "=" in markers.units_note else "m"
    motion = Motion3D(
        xyz_m=xyz,
        fps=markers.fps,
        up=(0.0, 0.0, 1.0),
        root_relative=False,
        scale_source=f"motion capture ({unit_word})",
        source=f"{ext[1:]}:{path.name}",
        valid=lower,
        feet={k: v for k, v in feet.items() if v is not None},
        notes=tuple(notes),
    )
    units_note = markers.units_note + (f"; forces from {len(plates)} plates" if plates else "")
    return MocapTrial(motion=motion, events=events, event_source=source, marker_set=mset.name,
                      angles_deg=angles, units_note=units_note, path=str(path), first_row=first)


def _mirror(markers: MarkerData, plates: list[PlateSeries]) -> tuple[MarkerData, list[PlateSeries]]:
    """Negate the horizontal axis with the least pelvis travel (the lateral one)."""
    centroid = np.nanmean(markers.xyz_m, axis=1)
    travel = np.nanmax(centroid[:, :2], axis=0) - np.nanmin(centroid[:, :2], axis=0)
    axis = int(np.argmin(travel))
    flip = np.ones(3)
    flip[axis] = -1.0
    md = MarkerData(labels=markers.labels, xyz_m=markers.xyz_m * flip, fps=markers.fps, path=markers.path,
                    units_note=markers.units_note + f"; mirrored ({'xy'[axis]} negated) to a right-handed frame",
                    first_frame=markers.first_frame, notes=markers.notes)
    pl = [replace(p, force_n=p.force_n * flip, cop_m=p.cop_m * flip,
                  corners_m=None if p.corners_m is None else p.corners_m * flip) for p in plates]
    return md, pl


def _foot_reference(feet: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for s, side in (("L", "left"), ("R", "right")):
        heel, toe = feet.get(f"{side}_heel"), feet.get(f"{side}_toe")
        if heel is not None:
            out[s] = (heel + toe) / 2 if toe is not None else heel
    return out


def _companion(path: Path, choice, suffix: str, folder: str) -> Path | None:
    if choice is None or choice is False:
        return None
    if choice is not True:
        p = Path(choice)
        if not p.exists():
            raise MocapError(f"{p} does not exist.", hint="Check the path of the companion table.")
        return p
    for cand in (path.with_name(path.stem + suffix), path.parent.parent / folder / (path.stem + suffix)):
        if cand.exists():
            return cand
    return None


@functools.lru_cache(maxsize=8)
def _read_static(path: str, mtime: float) -> MarkerData:
    return read_c3d(path, with_plates=False)[0]


def _static_for(path: Path, choice) -> MarkerData | None:
    if choice is None or choice is False:
        return None
    if choice is True:
        if "static" in path.stem.lower():
            return None
        cands = sorted(p for p in path.parent.glob("*.c3d") if "static" in p.stem.lower())
        if not cands:
            return None
        prefix = path.stem.split("_")[0]
        cands.sort(key=lambda p: (not p.stem.startswith(prefix), p.name))
        choice = cands[0]
    p = Path(choice)
    if not p.exists():
        raise MocapError(f"Static trial {p} does not exist.", hint="Check the path or pass static=None.")
    return _read_static(str(p), p.stat().st_mtime)


def _choose_marker_set(markers: MarkerData, name: str | None, static: MarkerData | None) -> MarkerSet:
    if name is not None:
        if name not in MARKER_SETS:
            raise MocapError(f"Unknown marker set '{name}'.", hint=f"Known sets: {', '.join(MARKER_SETS)}.")
        return MARKER_SETS[name]
    present = {normalize_label(lab) for lab in markers.labels}
    scored = []
    for mset in MARKER_SETS.values():
        extra = calibrate_from_static(markers, static, mset.calibrated)[0] if (mset.calibrated and static) else {}
        missing = missing_markers(MarkerLookup(markers, extra), mset)
        labels = {normalize_label(x) for x in mset.all_labels()}
        scored.append((len(missing), -len(labels & present), mset.name))
    scored.sort()
    return MARKER_SETS[scored[0][2]]
