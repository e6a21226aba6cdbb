"""C3D reader (via ezc3d): markers, event labels and force plates in metres, Z up.

C3D stores its own length unit in ``POINT:UNITS`` (almost always "mm") and its frame rate in ``POINT:RATE``.
Event times in ``EVENT:TIMES`` are absolute seconds since the start of the *recording*, not of the trimmed
trial, so they are turned into sample indices with the first-frame number of the header: following the
convention of BTK / pyCGM2, frame number = round(t * rate) and index = frame number - first frame (1-based).
ezc3d reports the header's first frame 0-based, hence the ``+ 1`` below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitscope.errors import MocapError
from gaitscope.io.mocap.force_plates import PlateSeries
from gaitscope.io.mocap.markers import Y_UP_TO_Z_UP, MarkerData, unit_scale

#: (context, label) words as written by Vicon Nexus, Qualisys, Motion Analysis.
_STRIKE_WORDS = ("foot strike", "heel strike", "foot contact", "initial contact", "hs", "fs")
_OFF_WORDS = ("foot off", "toe off", "terminal contact", "to", "fo")


def _param(params: dict, group: str, name: str, default=None):
    try:
        return params[group][name]["value"]
    except KeyError:
        return default


def _up_rotation(params: dict) -> tuple[np.ndarray, str]:
    """Rotation to Z up from POINT:Y_SCREEN (the axis a viewer draws upwards); Z up when absent."""
    y_screen = _param(params, "POINT", "Y_SCREEN")
    axis = (y_screen[0] if isinstance(y_screen, list) and y_screen else "+Z").strip().upper()
    if axis in ("+Z", "Z", ""):
        return np.eye(3), "Z up as recorded"
    if axis in ("+Y", "Y"):
        return Y_UP_TO_Z_UP, "Y up in the file (POINT:Y_SCREEN=+Y), rotated to Z up"
    return np.eye(3), f"POINT:Y_SCREEN={axis} not understood; Z assumed up"


def read_c3d(path: str | Path, *, with_plates: bool = True):
    """Read a C3D file.

    Returns ``(markers, events, plates)``: :class:`MarkerData` (metres, Z up), a list of
    ``(side, kind, index)`` tuples from the EVENT group, and a list of :class:`PlateSeries` (empty when the
    file has no force platform or ``with_plates`` is False).
    """
    import ezc3d  # imported here: reading C3D is optional for the rest of the platform

    path = Path(path)
    try:
        c = ezc3d.c3d(str(path), extract_forceplat_data=with_plates)
    except Exception as exc:  # ezc3d raises plain RuntimeError/IOError
        raise MocapError(
            f"{path.name} could not be read as a C3D file ({exc}).",
            hint="Check that the file is a complete C3D export (not truncated, not a different format).",
        ) from exc
    params = c["parameters"]
    labels = list(_param(params, "POINT", "LABELS", []))
    for extra in ("LABELS2", "LABELS3", "LABELS4"):  # more than 255 markers continue in LABELS2...
        labels += list(_param(params, "POINT", extra, []))
    pts = np.asarray(c["data"]["points"], dtype=float)  # (4, M, T)
    labels = labels[: pts.shape[1]]
    label_note = ""
    descriptions = list(_param(params, "POINT", "DESCRIPTIONS", []))[: len(labels)]
    if len(set(labels)) < len(labels) and len(descriptions) == len(labels) and len(set(descriptions)) == len(labels) \
            and all(d.strip() for d in descriptions):
        # Some exports re-use a label (two 'RKNE': lateral and medial) and keep the meaning in DESCRIPTIONS.
        label_note = "duplicated POINT:LABELS; POINT:DESCRIPTIONS used as marker names"
        labels = [d.strip() for d in descriptions]
    rate = float(np.asarray(_param(params, "POINT", "RATE", [c["header"]["points"]["frame_rate"]])).ravel()[0])
    units = _param(params, "POINT", "UNITS", ["mm"])
    units = units[0] if isinstance(units, list) and units else "mm"
    scale = unit_scale(units or "mm", path=path.name)
    rot, axis_note = _up_rotation(params)

    xyz = np.transpose(pts[:3], (2, 1, 0)) * scale  # (T, M, 3)
    # C3D readers mark an occluded marker by a negative residual; ezc3d turns it into NaN. Zeros at the origin
    # are the other common placeholder.
    xyz[np.all(xyz == 0.0, axis=-1)] = np.nan
    xyz = xyz @ rot.T
    first_frame_1based = int(c["header"]["points"]["first_frame"]) + 1
    markers = MarkerData(
        labels=tuple(labels),
        xyz_m=xyz,
        fps=rate,
        path=str(path),
        units_note=f"POINT:UNITS={units} (x {scale:g} to metres); {axis_note}",
        first_frame=first_frame_1based,
        notes=(label_note,) if label_note else (),
    )
    events = _events(params, rate, first_frame_1based, xyz.shape[0])
    plates = _plates(c, rot) if with_plates else []
    return markers, events, plates


def _events(params: dict, rate: float, first_frame: int, n_frames: int) -> list[tuple[str, str, int]]:
    if "EVENT" not in params:
        return []
    contexts = list(_param(params, "EVENT", "CONTEXTS", []))
    labels = list(_param(params, "EVENT", "LABELS", []))
    times = np.asarray(_param(params, "EVENT", "TIMES", np.zeros((2, 0))), dtype=float)
    if times.size == 0:
        return []
    times = times.reshape(2, -1) if times.ndim == 1 else times
    seconds = times[0] * 60.0 + times[1]  # row 0: minutes, row 1: seconds
    out = []
    for ctx, lab, t in zip(contexts, labels, seconds):
        side = {"LEFT": "L", "RIGHT": "R"}.get(str(ctx).strip().upper())
        word = str(lab).strip().lower()
        kind = "heel_strike" if word in _STRIKE_WORDS else "toe_off" if word in _OFF_WORDS else None
        if side is None or kind is None:
            continue  # "General" events (e.g. "Event") carry no foot
        idx = int(round(t * rate)) - first_frame
        if 0 <= idx < n_frames:
            out.append((side, kind, idx))
    return sorted(out, key=lambda e: e[2])


def _plates(c: dict, rot: np.ndarray) -> list[PlateSeries]:
    out = []
    analog_rate = float(c["header"]["analogs"]["frame_rate"])
    for i, fp in enumerate(c["data"].get("platform", [])):
        pos_scale = unit_scale(fp.get("unit_position", "mm") or "mm")
        force = np.asarray(fp["force"], dtype=float).T @ rot.T  # (N, 3) newtons, global frame
        cop = np.asarray(fp["center_of_pressure"], dtype=float).T * pos_scale @ rot.T
        corners = np.asarray(fp["corners"], dtype=float).T * pos_scale @ rot.T  # (4, 3)
        out.append(PlateSeries(name=f"plate {i + 1}", force_n=force, cop_m=cop, rate=analog_rate, corners_m=corners))
    return out
