"""The synthetic walker's truth written as a motion-capture file (TRC with Plug-in-Gait labels).

No real video in ``../shared/data`` comes with simultaneous motion capture, so the video + mocap validation
path is exercised on a rendered walk whose "mocap" is the walker's own truth. Markers are placed so that
:func:`gaitscope.io.mocap.load_motion` rebuilds the walker's joints exactly: virtual hip joint centres
(``LHJC``/``RHJC``), knee and ankle markers in lateral/medial pairs whose midpoints are the joints, heel and toe
markers at the walker's foot points, and trunk/arm/head markers around the upper-body joints. A clock offset and
another sampling rate can be given, so that the synchronisation has something real to recover.

File layout follows OpenSim's TRC (tab-separated, Y up, X forward), so it also goes through the TRC reader's
axis handling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from gaitscope.records import Motion3D
from gaitscope.skeleton import J


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def plug_in_gait_markers(motion: Motion3D) -> dict[str, np.ndarray]:
    """Marker trajectories ``label -> (T, 3)`` (metres, Z-up world) from a world-frame walker motion."""
    x = np.asarray(motion.xyz_m, float)
    up = np.array([0.0, 0.0, 1.0])
    left = _unit(x[:, J["left_hip"]] - x[:, J["right_hip"]])  # toward the subject's left
    fwd = _unit(np.cross(left, up))
    pel, thorax, spine = x[:, J["pelvis"]], x[:, J["thorax"]], x[:, J["spine"]]
    trunk_up = _unit(thorax - pel)
    m: dict[str, np.ndarray] = {}
    for s, side, out in (("L", "left", 1.0), ("R", "right", -1.0)):
        lat = out * left  # pointing away from the midline on this side
        hip = x[:, J[f"{side}_hip"]]
        m[f"{s}HJC"] = hip
        m[f"{s}ASI"] = hip + 0.06 * fwd + 0.07 * up + 0.03 * lat
        m[f"{s}PSI"] = pel - 0.11 * fwd + 0.09 * up + 0.045 * lat
        for joint, lab, med, half in (("knee", "KNE", "KNM", 0.055), ("ankle", "ANK", "MED", 0.04)):
            c = x[:, J[f"{side}_{joint}"]]
            m[f"{s}{lab}"] = c + half * lat
            m[f"{s}{med}"] = c - half * lat
        m[f"{s}HEE"] = np.asarray(motion.feet[f"{side}_heel"], float)
        m[f"{s}TOE"] = np.asarray(motion.feet[f"{side}_toe"], float)
        sho = x[:, J[f"{side}_shoulder"]]
        m[f"{s}SHO"] = sho + 0.04 * trunk_up  # the importer drops the shoulder 4 cm below the acromion marker
        for joint, a, b, half in (("elbow", "ELB", "ELM", 0.03), ("wrist", "WRA", "WRB", 0.02)):
            c = x[:, J[f"{side}_{joint}"]]
            m[f"{s}{a}"] = c + half * lat
            m[f"{s}{b}"] = c - half * lat
    m["C7"] = thorax - 0.07 * fwd
    m["CLAV"] = thorax + 0.07 * fwd
    m["T10"] = spine - 0.09 * fwd
    m["STRN"] = spine + 0.09 * fwd
    head_c = x[:, J["head"]] - 0.09 * _unit(x[:, J["head"]] - thorax)
    for lab, f, s in (("LFHD", 1, 1), ("RFHD", 1, -1), ("LBHD", -1, 1), ("RBHD", -1, -1)):
        m[lab] = head_c + f * 0.08 * fwd + s * 0.07 * left
    return m


def write_trc(path: str | Path, markers: dict[str, np.ndarray], fps: float, start_time_s: float = 0.0,
              units: str = "mm") -> Path:
    """Write ``markers`` (Z-up metres) as an OpenSim-style TRC: Y up, X forward, Z right; units mm or m."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = list(markers)
    scale = 1000.0 if units == "mm" else 1.0
    data = np.stack([markers[k] for k in labels], axis=1)  # (T, M, 3) Z up
    yup = np.stack([data[..., 0], data[..., 2], -data[..., 1]], axis=-1) * scale  # inverse of the reader's turn
    t = data.shape[0]
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{fps:g}\t{fps:g}\t{t}\t{len(labels)}\t{units}\t{fps:g}\t1\t{t}",
        "Frame#\tTime\t" + "\t\t\t".join(labels),
        "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(len(labels))),
    ]
    for i in range(t):
        vals = "\t".join(f"{v:.4f}" for v in yup[i].ravel())
        lines.append(f"{i + 1}\t{start_time_s + i / fps:.5f}\t{vals}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_walk_trc(motion: Motion3D, path: str | Path, *, start_s: float = 0.0, rate_hz: float | None = None,
                   duration_s: float | None = None) -> Path:
    """The walker motion as a TRC whose frame 0 is walker time ``start_s``, sampled at ``rate_hz`` (cubic
    spline through the walker frames; default the walker's rate), ``duration_s`` long (default: to the end).

    A video rendered from the whole walk then satisfies ``t_mocap = t_video - start_s``: the offset that
    :func:`gaitscope.analysis.agreement.estimate_lag` must recover (lag = ``-start_s``).
    """
    markers = plug_in_gait_markers(motion)
    rate = float(rate_hz or motion.fps)
    t_src = np.arange(motion.n_frames) / motion.fps
    end = t_src[-1] if duration_s is None else min(t_src[-1], start_s + duration_s)
    t_dst = np.arange(start_s, end + 1e-9, 1.0 / rate)
    out = {k: CubicSpline(t_src, v, axis=0)(t_dst) for k, v in markers.items()}
    return write_trc(path, out, rate)
