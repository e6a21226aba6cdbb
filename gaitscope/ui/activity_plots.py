"""Figures of the Activities page: a timeline of labelled segments and a 3D mesh (plotly ``Mesh3d``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

_PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")


def activity_timeline_figure(segments: Sequence, duration_s: float | None = None) -> go.Figure:
    """One horizontal bar per segment on a time axis, coloured by activity (hover: times and similarity)."""
    labels = list(dict.fromkeys(s.label for s in segments))
    colour = {lab: _PALETTE[i % len(_PALETTE)] for i, lab in enumerate(labels)}
    fig = go.Figure()
    for lab in labels:
        mine = [s for s in segments if s.label == lab]
        fig.add_trace(go.Bar(
            x=[s.end_s - s.start_s for s in mine], base=[s.start_s for s in mine], y=["activity"] * len(mine),
            orientation="h", name=lab, marker_color=colour[lab],
            customdata=[[s.start_s, s.end_s, s.similarity] for s in mine],
            hovertemplate=f"{lab}<br>%{{customdata[0]:.2f}}-%{{customdata[1]:.2f}} s"
                          "<br>similarity %{customdata[2]:.3f}<extra></extra>",
        ))
    fig.update_layout(barmode="overlay", height=180, margin=dict(l=10, r=10, t=10, b=40),
                      xaxis_title="time (s)", yaxis=dict(showticklabels=False), legend_orientation="h")
    if duration_s:
        fig.update_xaxes(range=[0, duration_s])
    return fig


def mesh_figure(vertices_mm: np.ndarray, faces: np.ndarray, title: str = "") -> go.Figure:
    """One frame of a mesh ``(V, 3)`` in the model's camera-like frame (x right, y down, z away), drawn z-up."""
    v = np.asarray(vertices_mm, dtype=np.float64) / 1000.0
    x, y, z = v[:, 0], v[:, 2], -v[:, 1]  # image down -> plot down; depth -> plot y
    f = np.asarray(faces)
    fig = go.Figure(go.Mesh3d(x=x, y=y, z=z, i=f[:, 0], j=f[:, 1], k=f[:, 2], color="#9fb7d9", opacity=1.0,
                              flatshading=False, lighting=dict(ambient=0.5, diffuse=0.8, specular=0.2)))
    span = float(max(np.ptp(x), np.ptp(y), np.ptp(z), 1e-3)) / 2 * 1.1
    cx, cy, cz = float(x.mean()), float(y.mean()), float(z.mean())
    axis = dict(showbackground=False, title="")
    fig.update_layout(
        title=title, height=520, margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        scene=dict(aspectmode="cube", xaxis=dict(range=[cx - span, cx + span], **axis),
                   yaxis=dict(range=[cy - span, cy + span], **axis), zaxis=dict(range=[cz - span, cz + span], **axis)),
    )
    return fig
