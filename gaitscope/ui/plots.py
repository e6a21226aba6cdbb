"""Plotly figures of an analysis, built from records by pure functions (testable without Streamlit).

Colours follow the PDF (:mod:`gaitscope.reports.plots`): left red, right blue, reference band grey.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gaitscope.records import GaitCurve, GaitReport, Motion3D, Prediction
from gaitscope.reports.plots import (
    BAND_COLOR,
    CENTRE_COLOR,
    LEFT_COLOR,
    RIGHT_COLOR,
    curve_label,
    curves_by_side,
    gvs_scores,
    ordered_curve_names,
)
from gaitscope.skeleton import H36M_BONES, H36M_JOINTS

SIDE_COLORS = {"L": LEFT_COLOR, "R": RIGHT_COLOR, "": CENTRE_COLOR}
SIDE_NAMES = {"L": "left", "R": "right", "": "centre"}


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band(c: GaitCurve) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The side's shaded band: its 95 % interval (stride spread and the video method's own error, as in the PDF and
    curves.csv) where the analysis gave one, else mean +/- 1 SD over strides; None when neither is finite."""
    lo, hi = getattr(c, "ci_low", None), getattr(c, "ci_high", None)
    if lo is not None and hi is not None and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)):
        return np.asarray(lo, float), np.asarray(hi, float), "95 % interval"
    if np.all(np.isfinite(c.sd)):
        return c.mean - c.sd, c.mean + c.sd, "±1 SD"
    return None


def gait_curve_figure(by_side: Mapping[str, GaitCurve], title: str | None = None, show_sd: bool = True) -> go.Figure:
    """One joint angle over 0-100 % of the cycle: reference band (mean +/- 1 SD), then each side's mean with its
    95 % interval band (mean +/- 1 SD over strides where there is no interval)."""
    fig = go.Figure()
    if not by_side:
        return fig
    first = next(iter(by_side.values()))
    ref = next((c for c in by_side.values() if c.normal_mean is not None), None)
    if ref is not None:
        sd = ref.normal_sd if ref.normal_sd is not None else np.zeros_like(ref.normal_mean)
        fig.add_trace(go.Scatter(x=ref.pct, y=ref.normal_mean + sd, mode="lines", line=dict(width=0),
                                 hoverinfo="skip", showlegend=False, name="reference +1 SD"))
        fig.add_trace(go.Scatter(x=ref.pct, y=ref.normal_mean - sd, mode="lines", line=dict(width=0),
                                 fill="tonexty", fillcolor=_rgba(BAND_COLOR, 0.55), name="reference ±1 SD",
                                 hovertemplate="reference %{x:.0f} %%: %{y:.1f}<extra></extra>"))
    # Right is drawn first and wider, left on top and thinner, so identical sides stay visible (red on blue).
    for side in sorted(by_side, key=lambda s: {"R": 0, "": 1, "L": 2}.get(s, 1)):
        c = by_side[side]
        color = SIDE_COLORS.get(side, CENTRE_COLOR)
        band = _band(c) if show_sd else None
        if band is not None:
            lo, hi, what = band
            fig.add_trace(go.Scatter(x=np.concatenate([c.pct, c.pct[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                                     fill="toself", fillcolor=_rgba(color, 0.12), line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, name=f"{SIDE_NAMES.get(side, side)} {what}"))
        fig.add_trace(go.Scatter(x=c.pct, y=c.mean, mode="lines", line=dict(color=color, width=2.0 if side == "L"
                                                                             else 4.0),
                                 name=f"{SIDE_NAMES.get(side, side)} (n={c.n_strides})",
                                 legendrank={"L": 1, "R": 2}.get(side, 3),
                                 hovertemplate=f"{SIDE_NAMES.get(side, side)} %{{x:.0f}} %%: %{{y:.1f}}<extra></extra>"))
    fig.update_layout(title=title or curve_label(first.name), xaxis_title="% gait cycle",
                      yaxis_title=first.unit, height=300, margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25, traceorder="normal"))
    fig.update_xaxes(range=[0, 100])
    return fig


def gait_curve_figures(report: GaitReport, prefixes: Sequence[str] | None = None) -> list[tuple[str, go.Figure]]:
    """(curve name, figure) for every curve name of the report, in clinical order."""
    return [(name, gait_curve_figure(curves_by_side(report.curves, name)))
            for name in ordered_curve_names(report.curves, prefixes)]


# ---------------------------------------------------------------------------------------------------------
# 3D skeleton
# ---------------------------------------------------------------------------------------------------------

_LEFT = {i for i, n in enumerate(H36M_JOINTS) if n.startswith("left_")}
_RIGHT = {i for i, n in enumerate(H36M_JOINTS) if n.startswith("right_")}
BONE_GROUPS: dict[str, list[tuple[int, int]]] = {
    "L": [b for b in H36M_BONES if b[1] in _LEFT],
    "R": [b for b in H36M_BONES if b[1] in _RIGHT],
    "": [b for b in H36M_BONES if b[1] not in _LEFT | _RIGHT],
}


def rotation_to_z_up(up: Sequence[float]) -> np.ndarray:
    """Rotation matrix that maps the motion's ``up`` vector onto +Z (Rodrigues), so plots stand upright."""
    u = np.asarray(up, float)
    u = u / np.linalg.norm(u)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(u, z)
    c = float(np.dot(u, z))
    if np.linalg.norm(v) < 1e-9:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * (1.0 / (1.0 + c))


def _bone_lines(xyz: np.ndarray, bones: list[tuple[int, int]]) -> tuple[list, list, list]:
    xs, ys, zs = [], [], []
    for a, b in bones:
        xs += [xyz[a, 0], xyz[b, 0], None]
        ys += [xyz[a, 1], xyz[b, 1], None]
        zs += [xyz[a, 2], xyz[b, 2], None]
    return xs, ys, zs


def skeleton_3d_figure(motion: Motion3D, max_frames: int = 120, follow: bool = True) -> go.Figure:
    """An animated 3D stick figure (plotly frames, play/pause and a frame slider), Z up, equal axes.

    With ``follow`` the pelvis' horizontal travel is removed (a camera that walks along, as on a treadmill), so
    the body fills the view instead of a dot crossing a 6 m box. At most ``max_frames`` frames are kept
    (evenly spaced) so the figure stays light in the browser.
    """
    xyz = np.asarray(motion.xyz_m, float) @ rotation_to_z_up(motion.up).T
    if follow and not motion.root_relative:
        xyz = xyz.copy()
        xyz[..., :2] -= xyz[:, :1, :2]
    n = xyz.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    finite = xyz[np.isfinite(xyz).all(axis=-1)]
    lo, hi = (finite.min(0), finite.max(0)) if finite.size else (np.full(3, -1.0), np.full(3, 1.0))
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 0.5) * 1.05

    def traces(k: int) -> list[go.Scatter3d]:
        out = []
        for side, bones in BONE_GROUPS.items():
            xs, ys, zs = _bone_lines(xyz[k], bones)
            out.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", name=SIDE_NAMES[side],
                                    line=dict(color=SIDE_COLORS[side], width=6), marker=dict(size=2.5),
                                    hoverinfo="skip"))
        return out

    frames = [go.Frame(data=traces(k), name=str(int(k))) for k in idx]
    fig = go.Figure(data=traces(int(idx[0])), frames=frames)
    step_ms = 1000.0 / motion.fps * (n / len(idx))
    slider_steps = [dict(method="animate", label=f"{k / motion.fps:.2f}s",
                         args=[[str(int(k))], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                    for k in idx]
    fig.update_layout(
        height=520, margin=dict(l=0, r=0, t=30, b=0),
        scene=dict(xaxis=dict(range=[centre[0] - half, centre[0] + half], title="x (m)"),
                   yaxis=dict(range=[centre[1] - half, centre[1] + half], title="y (m)"),
                   zaxis=dict(range=[centre[2] - half, centre[2] + half], title="up (m)"),
                   aspectmode="cube", camera=dict(eye=dict(x=0.2, y=-2.0, z=0.5))),
        updatemenus=[dict(type="buttons", showactive=False, x=0.02, y=0.02, xanchor="left", yanchor="bottom",
                          buttons=[dict(label="Play", method="animate",
                                        args=[None, dict(frame=dict(duration=step_ms, redraw=True), fromcurrent=True,
                                                         transition=dict(duration=0))]),
                                   dict(label="Pause", method="animate",
                                        args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])],
        sliders=[dict(steps=slider_steps, x=0.15, len=0.85, y=0.02, currentvalue=dict(prefix="t = "),
                      ticklen=0, tickcolor="rgba(0,0,0,0)", font=dict(color="rgba(0,0,0,0)"))],
        title=f"3D motion ({motion.source})",
    )
    return fig


# ---------------------------------------------------------------------------------------------------------
# Scores, classifier outputs, trends
# ---------------------------------------------------------------------------------------------------------


def gvs_figure(scores: Mapping[str, float]) -> go.Figure:
    """Movement Analysis Profile: GVS per variable and side, and GPS (Baker et al. 2009, Gait Posture 30:265)."""
    items = gvs_scores(scores)
    gps = scores.get("GPS")
    if gps is not None and math.isfinite(gps):
        items.append(("GPS (overall)", float(gps)))
    colors = [LEFT_COLOR if "(L)" in lb else RIGHT_COLOR if "(R)" in lb else "#555555" for lb, _ in items]
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[lb for lb, _ in items], orientation="h",
                           marker_color=colors, hovertemplate="%{y}: %{x:.1f} deg<extra></extra>"))
    fig.update_layout(height=max(200, 28 * len(items) + 80), margin=dict(l=10, r=10, t=30, b=40),
                      xaxis_title="RMS difference from the reference mean (deg)", title="Movement analysis profile")
    fig.update_yaxes(autorange="reversed")
    return fig


def prediction_figure(prediction: Prediction) -> go.Figure:
    """Class probabilities of one classifier head as horizontal bars (predicted class highlighted)."""
    colors = ["#1f77b4" if c == prediction.predicted else "#aaaaaa" for c in prediction.classes]
    fig = go.Figure(go.Bar(x=[100 * p for p in prediction.probabilities], y=list(prediction.classes),
                           orientation="h", marker_color=colors,
                           hovertemplate="%{y}: %{x:.0f} %<extra></extra>"))
    fig.update_layout(height=60 + 36 * len(prediction.classes), margin=dict(l=10, r=10, t=30, b=30),
                      xaxis=dict(range=[0, 100], title="probability (%)"),
                      title=f"{prediction.head_name} v{prediction.head_version}")
    return fig


#: The parameters trended across visits: (candidate names in the report, label, unit).
TREND_PARAMETERS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("cadence",), "Cadence", "steps/min"),
    (("speed", "walking_speed", "gait_speed"), "Walking speed", "m/s"),
    (("step_length",), "Step length", "m"),
)


def trend_figure(trends: pd.DataFrame) -> go.Figure:
    """Cadence, speed and step length across visits, with the normal range shaded.

    ``trends`` has one row per analysis and parameter: visit_date, parameter (a label of
    :data:`TREND_PARAMETERS`), value, normal_low, normal_high, analysis_id.
    """
    labels = [lb for _, lb, _ in TREND_PARAMETERS]
    units = {lb: u for _, lb, u in TREND_PARAMETERS}
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=[f"{lb} ({units[lb]})" for lb in labels])
    for col, label in enumerate(labels, start=1):
        sub = trends[trends["parameter"] == label].sort_values("visit_date") if len(trends) else trends
        if sub is None or sub.empty:
            continue
        dates = pd.to_datetime(sub["visit_date"])
        lows, highs = sub["normal_low"].astype(float), sub["normal_high"].astype(float)
        if lows.notna().any() and highs.notna().any():  # the normal range of each visit, as a grey band
            fig.add_trace(go.Scatter(x=dates, y=highs, mode="lines", line=dict(width=0), showlegend=False,
                                     hoverinfo="skip"), row=1, col=col)
            fig.add_trace(go.Scatter(x=dates, y=lows, mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor=_rgba(BAND_COLOR, 0.5), showlegend=False, name="normal range",
                                     hovertemplate="normal %{y:.2f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=dates, y=sub["value"], mode="lines+markers",
                                 name=label, line=dict(color="#1f77b4"), showlegend=False,
                                 hovertemplate="%{x|%Y-%m-%d}: %{y:.2f}<extra></extra>"), row=1, col=col)
    fig.update_layout(height=280, margin=dict(l=30, r=10, t=40, b=30))
    return fig
