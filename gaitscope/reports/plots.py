"""Static figures of a GaitReport for the PDF report (matplotlib, Agg backend: no display, no network).

Conventions follow common clinical gait reports (see ``../shared/notes/gait-references.md`` section 12):
angles over 0-100 % of the gait cycle, left and right overlaid (left red, right blue), the reference mean
+/- 1 SD as a grey band, and the band's source written under the plot, because the only curve set with
documented provenance is for typically developing *children* (Schwartz et al. 2008, J Biomech 41:1639).

The pure helpers at the top (labels, curve ordering, pairing) are shared with the dashboard so the two
show the same names in the same order.
"""

from __future__ import annotations

import io
import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from gaitscope.records import GaitCurve, GaitReport, GaitScores

LEFT_COLOR = "#d62728"
RIGHT_COLOR = "#1f77b4"
CENTRE_COLOR = "#2ca02c"
BAND_COLOR = "#bbbbbb"

#: Curves in the order a clinician reads them: pelvis and trunk first, then hip, knee, ankle, foot.
CURVE_ORDER: tuple[str, ...] = (
    "pelvis_tilt", "pelvis_obliquity", "pelvis_rotation", "trunk_tilt", "trunk_flexion", "trunk_obliquity",
    "trunk_lean", "hip_flexion", "hip_abduction", "hip_rotation", "knee_flexion", "knee_valgus",
    "ankle_dorsiflexion", "foot_progression", "shoulder_flexion", "elbow_flexion",
)
#: The groups the PDF shows: hip, knee, pelvis/trunk (the sagittal variables a single side camera sees best).
PDF_CURVE_PREFIXES: tuple[str, ...] = ("hip_", "knee_", "pelvis_", "trunk_", "ankle_")

_ACRONYMS = {"gps": "GPS", "gvs": "GVS", "rom": "ROM", "cv": "CV", "si": "SI"}


def curve_label(name: str) -> str:
    """``"knee_flexion"`` -> ``"Knee flexion"``."""
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    return " ".join(words)[:1].upper() + " ".join(words)[1:] if words else name


def ordered_curve_names(curves: Iterable[GaitCurve], prefixes: Sequence[str] | None = None) -> list[str]:
    """Distinct curve names, known ones in :data:`CURVE_ORDER`, unknown ones after them alphabetically."""
    names = {c.name for c in curves if prefixes is None or c.name.startswith(tuple(prefixes))}
    rank = {n: i for i, n in enumerate(CURVE_ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def curves_by_side(curves: Iterable[GaitCurve], name: str) -> dict[str, GaitCurve]:
    """The curves called ``name`` keyed by side ("L", "R" or "")."""
    return {c.side: c for c in curves if c.name == name}


def reference_note(curves: Iterable[GaitCurve]) -> str:
    """One sentence naming the reference bands used, and saying so where none was available."""
    # Sources carry per-curve details after ";" (speed class, sign conventions): name each source once.
    sources = sorted({c.normal_source.split(";")[0].strip() for c in curves
                      if c.normal_mean is not None and c.normal_source})
    missing = sorted({curve_label(c.name) for c in curves if c.normal_mean is None})
    parts = []
    if sources:
        parts.append("Grey bands: reference mean +/- 1 SD from " + "; ".join(sources) + ".")
        if any("child" in s.lower() for s in sources):
            parts.append("These are children's reference values; adult curve references were not available.")
    if missing:
        parts.append("No reference band for: " + ", ".join(missing) + ".")
    return " ".join(parts)


def gvs_scores(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Each Gait Variable Score as (readable label, value), in clinical curve order."""
    rank = {n: i for i, n in enumerate(CURVE_ORDER)}
    items = sorted((rank.get(v.curve, len(rank)), v.curve, v.side, v.gvs_deg)
                   for v in GaitScores.from_mapping(scores).variables if math.isfinite(v.gvs_deg))
    return [(curve_label(c) + (f" ({s})" if s else ""), v) for _, c, s, v in items]


# ---------------------------------------------------------------------------------------------------------
# matplotlib figures
# ---------------------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _draw_curve_axes(ax, by_side: Mapping[str, GaitCurve], title: str) -> None:
    band_drawn = False
    for side, curve in sorted(by_side.items()):
        if curve.normal_mean is not None and not band_drawn:
            sd = curve.normal_sd if curve.normal_sd is not None else np.zeros_like(curve.normal_mean)
            ax.fill_between(curve.pct, curve.normal_mean - sd, curve.normal_mean + sd, color=BAND_COLOR, alpha=0.6,
                            linewidth=0, label="reference")
            band_drawn = True
    # Right first and wider, left on top and thinner: identical sides stay visible as red on blue.
    for side, curve in sorted(by_side.items(), key=lambda kv: {"R": 0, "": 1, "L": 2}.get(kv[0], 1)):
        color = {"L": LEFT_COLOR, "R": RIGHT_COLOR}.get(side, CENTRE_COLOR)
        label = {"L": "left", "R": "right"}.get(side, "")
        if curve.ci_low is not None and curve.ci_high is not None:  # 95 % band (gaitscope.analysis.intervals)
            ax.fill_between(curve.pct, curve.ci_low, curve.ci_high, color=color, alpha=0.12, linewidth=0)
        ax.plot(curve.pct, curve.mean, color=color, linewidth=1.2 if side == "L" else 2.4, label=label or None)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 100)
    ax.tick_params(labelsize=7)
    unit = next(iter(by_side.values())).unit
    ax.set_ylabel(unit, fontsize=7)
    ax.grid(True, linewidth=0.3, alpha=0.5)


def curves_figure(report: GaitReport, prefixes: Sequence[str] | None = PDF_CURVE_PREFIXES, ncols: int = 3,
                  width_in: float = 7.2):
    """A grid of gait-cycle plots (one panel per curve name, L vs R over the reference band); None if no curves."""
    names = ordered_curve_names(report.curves, prefixes)
    if not names:
        return None
    plt = _pyplot()
    nrows = math.ceil(len(names) / ncols)
    height_in = 2.0 * nrows + 0.4
    fig, axes = plt.subplots(nrows, ncols, figsize=(width_in, height_in), squeeze=False)
    for ax, name in zip(axes.flat, names):
        _draw_curve_axes(ax, curves_by_side(report.curves, name), curve_label(name))
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        if ax.has_data():
            ax.set_xlabel("% gait cycle", fontsize=7)
    legend: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    if legend:
        fig.legend(list(legend.values()), list(legend.keys()), loc="upper center", ncol=len(legend), fontsize=7,
                   frameon=False)
    # Fixed margins in inches, not tight_layout: the layout is the same for every report, and tight_layout
    # measured 0.6 s of the ~3 s a PDF report took (most of the export stage).
    fig.subplots_adjust(left=0.55 / width_in, right=1 - 0.12 / width_in, top=1 - 0.5 / height_in,
                        bottom=0.45 / height_in, wspace=0.32, hspace=0.45)
    return fig


def gvs_figure(scores: Mapping[str, float], width_in: float = 7.2):
    """Movement Analysis Profile (Baker 2009, Gait Posture 30:265): bars of GVS per variable and GPS; None if empty."""
    items = gvs_scores(scores)
    gps = scores.get("GPS")
    if gps is not None and math.isfinite(gps):
        items.append(("GPS (overall)", float(gps)))
    if not items:
        return None
    plt = _pyplot()
    height_in = 0.28 * len(items) + 0.8
    fig, ax = plt.subplots(figsize=(width_in, height_in))
    labels = [i[0] for i in items]
    values = [i[1] for i in items]
    colors = [LEFT_COLOR if "(L)" in lb else RIGHT_COLOR if "(R)" in lb else "#555555" for lb in labels]
    ax.barh(range(len(items)), values, color=colors)
    ax.set_yticks(range(len(items)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("RMS difference from the reference mean (deg)", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    fig.subplots_adjust(left=1.7 / width_in, right=1 - 0.15 / width_in, top=1 - 0.12 / height_in,
                        bottom=0.5 / height_in)  # fixed margins: see curves_figure
    return fig


def figure_png(fig, dpi: int = 150) -> bytes:
    """Render ``fig`` to PNG bytes and close it (matplotlib keeps figures alive otherwise)."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
