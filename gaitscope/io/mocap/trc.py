"""TRC reader (OpenSim / Motion Analysis marker text files) -> :class:`MarkerData` in metres, Z up.

The header says the units (``Units`` = mm or m) and the rate (``DataRate``). TRC files written for OpenSim use
its ground frame, Y up (X forward, Z to the right); we rotate them to Z up with a proper rotation so the frame
stays right-handed (:data:`Y_UP_TO_Z_UP`). Some exporters list more marker names than ``NumMarkers`` (virtual
markers named but never written): the header count wins, and a note says what was dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitscope.errors import MocapError
from gaitscope.io.mocap.markers import Y_UP_TO_Z_UP, MarkerData, unit_scale


def read_trc(path: str | Path, *, y_up: bool | None = None) -> tuple[MarkerData, np.ndarray]:
    """Read a TRC file. Returns ``(markers, time_s)`` where ``time_s`` is the file's Time column.

    ``y_up=None`` decides the vertical axis from the data (the axis along which the markers stand highest
    above their lowest point, which for a standing or walking person is the vertical); TRC files are Y up
    almost always.
    """
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise MocapError(f"{path} could not be read ({exc}).", hint="Check the path and permissions.") from exc
    if len(lines) < 6 or not lines[0].startswith("PathFileType"):
        raise MocapError(f"{path.name} does not start with a TRC header ('PathFileType').",
                         hint="Give a .trc file exported by OpenSim, Cortex or Motive.")
    keys = lines[1].split("\t")
    vals = lines[2].split("\t")
    head = {k.strip(): v.strip() for k, v in zip(keys, vals)}
    try:
        rate = float(head.get("DataRate") or head["CameraRate"])
        n_markers = int(head["NumMarkers"])
        units = head.get("Units", "m")
    except (KeyError, ValueError) as exc:
        raise MocapError(f"{path.name}: the TRC header lacks DataRate/NumMarkers ({exc}).",
                         hint="Re-export the file; the second and third lines must hold these fields.") from exc
    if not (np.isfinite(rate) and 1.0 <= rate <= 100000.0) or n_markers < 1:
        raise MocapError(f"{path.name}: the TRC header gives DataRate {rate:g} Hz and NumMarkers {n_markers}; "
                         "a recording needs a rate of at least 1 Hz and at least one marker.",
                         hint="Re-export the file with its real sampling rate.")
    names = [n.strip() for n in lines[3].split("\t")[2:] if n.strip()]
    notes = []
    if len(names) > n_markers:
        notes.append(f"header names {len(names)} markers but NumMarkers={n_markers}; "
                     f"ignored: {', '.join(names[n_markers:])}")
        names = names[:n_markers]
    rows = []
    for number, ln in enumerate(lines[5:], start=6):
        if not ln.strip():
            continue
        parts = ln.rstrip("\r\n").split("\t")
        try:
            vals_row = [float(p) if p.strip() else np.nan for p in parts[: 2 + 3 * n_markers]]
        except ValueError as exc:  # a copy or upload cut mid-number ends in "-" or "1.2e"
            last = number == len(lines)
            raise MocapError(f"{path.name}: line {number} is not numbers ({exc})"
                             + ("; it is the last line, so the file was probably cut off." if last else "."),
                             hint="Copy or upload the complete file again." if last else "Re-export the trial."
                             ) from exc
        vals_row += [np.nan] * (2 + 3 * n_markers - len(vals_row))
        rows.append(vals_row)
    if not rows:
        raise MocapError(f"{path.name} has a header but no frames.", hint="Re-export the trial.")
    data = np.asarray(rows, dtype=float)
    time = data[:, 1]
    scale = unit_scale(units, path=path.name)
    xyz = data[:, 2:].reshape(len(rows), n_markers, 3) * scale
    xyz[np.all(xyz == 0.0, axis=-1)] = np.nan
    if y_up is None:
        y_up = _vertical_axis(xyz) == 1
    if y_up:
        xyz = xyz @ Y_UP_TO_Z_UP.T
        axis_note = "Y up in the file, rotated to Z up (x, -z, y)"
    else:
        axis_note = "Z up as recorded"
    markers = MarkerData(labels=tuple(names), xyz_m=xyz, fps=rate, path=str(path),
                         units_note=f"TRC Units={units} (x {scale:g} to metres); {axis_note}", notes=tuple(notes))
    return markers, time


def _vertical_axis(xyz: np.ndarray) -> int:
    """Index of the vertical axis: markers spread from the floor to the head along it, on average above 0.

    Horizontal axes carry the walk (metres of travel, either sign); the vertical one has all markers within
    ~2 m of the floor and on one side of it, so we pick the axis whose per-frame marker spread is largest
    relative to its travel of the marker centroid.
    """
    spread = np.nanmedian(np.nanmax(xyz, axis=1) - np.nanmin(xyz, axis=1), axis=0)  # (3,)
    centroid = np.nanmean(xyz, axis=1)
    travel = np.nanmax(centroid, axis=0) - np.nanmin(centroid, axis=0)
    return int(np.argmax(spread / (travel + 0.05)))
