"""OpenSim motion / storage tables (``.mot``, ``.sto``): inverse-kinematics angles and ground reaction forces.

Both are a text header ending in ``endheader`` and a tab-separated table with a ``time`` column. IK tables
give joint coordinates (``hip_flexion_r``, ``knee_angle_r``...) in radians or degrees (``inDegrees``); GRF
tables give, per plate ``k``, ``ground_force_k_v{x,y,z}`` (N) and ``ground_force_k_p{x,y,z}`` (centre of
pressure, m) in the OpenSim ground frame, which is Y up like the TRC files beside them.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from gaitscope.errors import MocapError
from gaitscope.io.mocap.force_plates import PlateSeries
from gaitscope.io.mocap.markers import Y_UP_TO_Z_UP

#: Coordinates that are translations (metres) in OpenSim models, never converted to degrees.
_TRANSLATIONS = re.compile(r"(_t[xyz]$)|(^pelvis_t[xyz]$)")


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a MOT/STO file into ``(table, header)``; header keys are lower-case (``indegrees``, ``nrows``)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MocapError(f"{path} could not be read ({exc}).", hint="Check the path and permissions.") from exc
    lines = text.splitlines()
    end = next((i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader"), None)
    if end is None:
        raise MocapError(
            f"{path.name} has no 'endheader' line, so it is not an OpenSim .mot/.sto table.",
            hint="Export the table from OpenSim (or AddBiomechanics) without editing its header.",
        )
    header: dict[str, str] = {}
    for ln in lines[:end]:
        if "=" in ln:
            k, v = ln.split("=", 1)
            header[k.strip().lower()] = v.strip()
    body = "\n".join(ln for ln in lines[end + 1 :] if ln.strip())
    try:
        table = pd.read_csv(io.StringIO(body), sep=r"\s+", engine="python")
    except Exception as exc:
        raise MocapError(f"{path.name}: the table after 'endheader' is malformed ({exc}).",
                         hint="Re-export it.") from exc
    if "time" not in table.columns:
        raise MocapError(f"{path.name} has no 'time' column (columns: {list(table.columns)[:6]}...).",
                         hint="OpenSim tables start with a time column; re-export the file.")
    return table, header


def read_ik_angles(path: str | Path) -> pd.DataFrame:
    """IK joint coordinates with rotations in DEGREES (translations stay in metres) and a ``time`` column.

    OpenSim writes ``inDegrees=no`` when the values are radians; AddBiomechanics does so, which is easy to
    miss because knee angles of 0-1.2 rad look like small degrees.
    """
    table, header = read_table(path)
    in_degrees = header.get("indegrees", "yes").strip().lower() in ("yes", "true", "1")
    out = table.copy()
    if not in_degrees:
        for col in out.columns:
            if col != "time" and not _TRANSLATIONS.search(col):
                out[col] = np.degrees(out[col].to_numpy(dtype=float))
    out.attrs["source"] = str(path)
    out.attrs["units"] = "degrees (rotations), metres (translations)"
    return out


def read_grf_plates(path: str | Path, *, t0_s: float = 0.0) -> list[PlateSeries]:
    """Ground reaction forces per plate, rotated to Z up; ``t0_s`` is the marker time of frame 0."""
    table, _ = read_table(path)
    time = table["time"].to_numpy(dtype=float)
    if len(time) < 2:
        raise MocapError(f"{Path(path).name} has fewer than two rows of forces.", hint="Check the export.")
    rate = 1.0 / float(np.median(np.diff(time)))
    plates = []
    pattern = re.compile(r"^(.*?)(\d*)_?v([xyz])$")
    prefixes: list[str] = []
    for col in table.columns:
        m = pattern.match(col)
        if m and m.group(3) == "x":
            prefixes.append(col[:-1])  # e.g. "ground_force_1_v"
    for pre in prefixes:
        stem = pre[:-1]  # "ground_force_1_"
        try:
            force = table[[pre + a for a in "xyz"]].to_numpy(dtype=float)
            cop = table[[stem + "p" + a for a in "xyz"]].to_numpy(dtype=float)
        except KeyError:
            continue
        name = stem.rstrip("_").replace("ground_force_", "plate ")
        plates.append(PlateSeries(name=name, force_n=force @ Y_UP_TO_Z_UP.T, cop_m=cop @ Y_UP_TO_Z_UP.T,
                                  rate=rate, start_s=float(time[0]) - t0_s))
    if not plates:
        raise MocapError(f"{Path(path).name} has no ground_force_*_vx/vy/vz columns.",
                         hint="Give the GRF table written by OpenSim or AddBiomechanics.")
    return plates
