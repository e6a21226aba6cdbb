"""``validation.pdf``: the agreement of the video pipeline with motion capture, as a lab files it.

Content follows what single-camera validations publish (OpenCap, Uhlrich et al. 2023; Stenum et al. 2021): a
summary table per trial (sagittal hip/knee angle RMSE, heel-strike timing error, cadence / step length / stance
errors), the published single-camera results beside it, mean gait-cycle curves of test and reference, the
distribution of event timing errors, and, with several trials, Bland-Altman plots (Bland & Altman 1986) of
the spatiotemporal parameters. Styles and figure helpers are those of :mod:`gaitscope.reports.pdf_report`
and :mod:`gaitscope.reports.plots` so the two documents look alike.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

import numpy as np

from gaitscope.analysis.agreement import AgreementResult, bland_altman, summary_row
from gaitscope.reports import plots as report_plots
from gaitscope.reports.pdf_report import _image, _styles

#: Published single-camera results on real walking (errors against marker-based motion capture).
PUBLISHED_TARGETS: tuple[tuple[str, str], ...] = (
    ("OpenCap monocular (Uhlrich et al. 2023 / OpenCap Monocular)", "joint angles 4.8 deg, pelvis translation 3.4 cm"),
    ("Stenum et al. 2021 (PLoS Comput Biol 17:e1008935)",
     "sagittal hip 4.0 deg, knee 5.6 deg; step length 0.049 m; event timing 0.02 s"),
)
TEST_COLOR = report_plots.RIGHT_COLOR
REF_COLOR = "#333333"
PLANE_ORDER = ("sagittal", "frontal", "transverse", "3D")
BA_PARAMETERS = (("cadence", "steps/min"), ("step_length", "m"), ("stance_pct", "%"), ("speed", "m/s"))


def _f(v: float, d: int = 1) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{d}f}"


def _table(rows: list[list[str]], widths: list[float], header_rows: int = 1):
    """A compact table; header cells wrap (Paragraphs) so long column names never overlap."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, Table, TableStyle

    head_style = ParagraphStyle("gs-agree-head", fontName="Helvetica-Bold", fontSize=7, leading=8)
    head_right = ParagraphStyle("gs-agree-head-r", parent=head_style, alignment=2)
    rows = [[Paragraph(escape(str(c)), head_style if j == 0 else head_right) for j, c in enumerate(r)]
            if i < header_rows else r for i, r in enumerate(rows)]
    t = Table(rows, colWidths=widths, hAlign="LEFT", repeatRows=header_rows)
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7),
        ("FONT", (0, 0), (-1, header_rows - 1), "Helvetica-Bold", 7),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.5, colors.black),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, colors.HexColor("#dddddd")),
        ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]))
    return t


def summary_rows(results: Sequence[AgreementResult]) -> list[list[str]]:
    """Header + one row per trial + (several trials) a mean row."""
    head = ["trial", "hip RMSE deg", "knee RMSE deg", "HS err ms (MAE)", "HS err frames", "HS missed",
            "TO MAE ms", "cadence err", "step len err m", "stance err %"]
    rows = [head]
    keys = ["hip_flexion_rmse_deg", "knee_flexion_rmse_deg", "hs_mae_ms", "hs_mae_frames", "hs_missed",
            "to_mae_ms", "cadence_err", "step_length_err_m", "stance_pct_err"]
    digits = [1, 1, 0, 1, 0, 0, 1, 3, 1]
    table = [summary_row(r) for r in results]
    for r, s in zip(results, table):
        rows.append([r.name[:38]] + [_f(s[k], d) for k, d in zip(keys, digits)])
    if len(results) > 1:
        mean = []
        for k, d in zip(keys, digits):
            vals = np.array([abs(s[k]) if k.endswith(("_err", "_err_m")) else s[k] for s in table])
            vals = vals[np.isfinite(vals)]
            mean.append(_f(float(vals.mean()), d) if vals.size else "n/a")
        rows.append(["mean (|error|)"] + mean)
    return rows


def curves_figure(result: AgreementResult, names: Sequence[str] = ("hip_flexion", "knee_flexion", "hip_abduction",
                                                                    "pelvis_obliquity")):
    """Mean cycle curves, test (blue) vs reference (black), one panel per angle and side; None if none."""
    items = [a for n in names for a in result.angles if a.angle == n and np.isfinite(a.test_mean).all()]
    if not items:
        return None
    plt = report_plots._pyplot()
    ncols = 4
    nrows = math.ceil(len(items) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7.2, 1.8 * nrows + 0.4), squeeze=False)
    pct = np.linspace(0, 100, len(items[0].test_mean))
    for ax, a in zip(axes.flat, items):
        ax.plot(pct, a.ref_mean, color=REF_COLOR, linewidth=2.0, label="motion capture")
        ax.plot(pct, a.test_mean, color=TEST_COLOR, linewidth=1.2, label="video pipeline")
        ax.set_title(f"{report_plots.curve_label(a.angle)} {a.side} (RMSE {a.rmse_deg:.1f})", fontsize=7.5)
        ax.set_xlim(0, 100)
        ax.tick_params(labelsize=6)
        ax.grid(True, linewidth=0.3, alpha=0.5)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def event_errors_figure(results: Sequence[AgreementResult]):
    """Timing errors (ms) of matched events, heel strikes and toe offs, one dot per event; None if none."""
    data = {k: [1000 * e.error_s for r in results for e in r.events if e.kind == k and e.status == "matched"]
            for k in ("heel_strike", "toe_off")}
    if not any(data.values()):
        return None
    plt = report_plots._pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 1.6))
    rng = np.random.default_rng(0)
    for i, (k, vals) in enumerate(data.items()):
        if vals:
            ax.scatter(vals, i + rng.uniform(-0.15, 0.15, len(vals)), s=10,
                       color=[report_plots.LEFT_COLOR, report_plots.RIGHT_COLOR][i])
            ax.plot([np.mean(vals)] * 2, [i - 0.3, i + 0.3], color="black", linewidth=1.5)
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_yticks([0, 1], ["heel strike", "toe off"], fontsize=7)
    ax.set_xlabel("test - reference (ms); bar = mean", fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(True, axis="x", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return fig


def bland_altman_figure(results: Sequence[AgreementResult]):
    """Bland-Altman plots (mean of the methods vs difference, bias and 95 % limits) of the main parameters;
    None with fewer than two paired values for every parameter."""
    panels = []
    for name, unit in BA_PARAMETERS:
        pairs = [(p.test, p.reference) for r in results for p in r.parameters if p.name == name and p.side == "both"]
        if len(pairs) >= 2:
            panels.append((name, unit, bland_altman([a for a, _ in pairs], [b for _, b in pairs])))
    if not panels:
        return None
    plt = report_plots._pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(7.2, 2.2), squeeze=False)
    for ax, (name, unit, ba) in zip(axes[0], panels):
        ax.scatter(ba.means, ba.diffs, s=12, color=TEST_COLOR)
        ax.axhline(ba.bias, color="black", linewidth=1.0)
        if math.isfinite(ba.sd):
            for y in (ba.loa_low, ba.loa_high):
                ax.axhline(y, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(f"{report_plots.curve_label(name)} ({unit})", fontsize=7.5)
        ax.set_xlabel("mean of the two methods", fontsize=6.5)
        ax.tick_params(labelsize=6)
        ax.grid(True, linewidth=0.3, alpha=0.5)
    axes[0][0].set_ylabel("video - mocap", fontsize=6.5)
    fig.tight_layout()
    return fig


def build_story(results: Sequence[AgreementResult], notes: Sequence[str] = (), max_curve_trials: int = 4) -> list:
    from reportlab.platypus import Paragraph, Spacer

    st = _styles()
    width = 18.0 * 28.35  # A4 minus 1.5 cm margins, points
    story = [Paragraph("Validation against motion capture", st["title"]),
             Paragraph(escape(f"{len(results)} comparison(s); generated "
                              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"), st["small"])]
    story.append(Paragraph("Summary", st["h2"]))
    rows = summary_rows(results)
    story.append(_table(rows, [0.25 * width] + [0.083 * width] * 9))
    story.append(Spacer(1, 3))
    story.append(Paragraph(
        "Angle RMSE: test minus reference over the time-normalised gait cycle, strides cut at the reference heel "
        "strikes, both legs pooled. Event errors: each reference event matched to the nearest test event of the "
        "same foot and kind within 150 ms; frames are of the test recording. Parameter errors: test minus "
        "reference.", st["small"]))
    story.append(Paragraph("Published single-camera results (targets)", st["h3"]))
    for who, what in PUBLISHED_TARGETS:
        story.append(Paragraph(escape(f"{who}: {what}"), st["small"]))
    fig = event_errors_figure(results)
    if fig is not None:
        story.append(Paragraph("Event timing errors", st["h2"]))
        story.append(_image(report_plots.figure_png(fig), width))
    if len(results) > 1:
        fig = bland_altman_figure(results)
        if fig is not None:
            story.append(Paragraph("Bland-Altman (Bland & Altman 1986): bias and 95 % limits of agreement", st["h2"]))
            story.append(_image(report_plots.figure_png(fig), width))
    for r in results[:max_curve_trials]:
        story.append(Paragraph(escape(f"Trial {r.name}"), st["h2"]))
        line = f"events from {r.event_reference}; sync {r.lag_s:+.3f} s"
        line += f" (r = {r.sync_r:.2f})" if math.isfinite(r.sync_r) else ""
        if "view_deg" in r.extra:
            line += (f"; camera {r.extra['view_deg']:.0f} deg from the walking direction (90 = side view); lifter "
                     f"MPJPE {r.extra.get('mpjpe_mm', float('nan')):.0f} mm, PA-MPJPE "
                     f"{r.extra.get('pa_mpjpe_mm', float('nan')):.0f} mm")
        story.append(Paragraph(escape(line), st["small"]))
        arows = [["angle", "side", "plane", "basis", "strides", "RMSE", "bias", "r"]]
        for a in sorted(r.angles, key=lambda a: (list(PLANE_ORDER).index(a.plane) if a.plane in PLANE_ORDER
                                                  else 9, a.angle, a.side)):
            arows.append([a.angle, a.side, a.plane, a.basis, str(a.n_strides), _f(a.rmse_deg), _f(a.bias_deg),
                          _f(a.r, 2)])
        story.append(_table(arows, [0.22 * width, 0.06 * width, 0.1 * width, 0.2 * width, 0.08 * width,
                                    0.1 * width, 0.1 * width, 0.08 * width]))
        prows = [["parameter", "side", "unit", "video", "reference", "error", "error %", "reference from"]]
        for p in r.parameters:
            d = 3 if p.unit in ("m", "s", "m/s") else 1
            prows.append([p.label[:30], p.side, p.unit, _f(p.test, d), _f(p.reference, d), _f(p.error, d),
                          _f(p.pct_error, 1), p.reference_source[:34]])
        if len(prows) > 1:
            story.append(Spacer(1, 3))
            story.append(_table(prows, [0.23 * width, 0.06 * width, 0.09 * width, 0.09 * width, 0.09 * width,
                                        0.09 * width, 0.08 * width, 0.27 * width]))
        fig = curves_figure(r)
        if fig is not None:
            story.append(_image(report_plots.figure_png(fig), width))
    if len(results) > max_curve_trials:
        story.append(Paragraph(escape(f"Curves and tables of the other {len(results) - max_curve_trials} "
                                      "comparisons are in the CSV files."), st["small"]))
    all_notes = list(dict.fromkeys(list(notes) + [n for r in results for n in r.notes]))
    if all_notes:
        story.append(Paragraph("Notes", st["h2"]))
        for n in all_notes:
            story.append(Paragraph("- " + escape(n), st["small"]))
    return story


def write_validation_pdf(results: Sequence[AgreementResult], path: str | Path, *, notes: Sequence[str] = ()) -> Path:
    """Write ``validation.pdf`` (parents created) and return its path."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillGray(0.4)
        canvas.drawString(1.5 * cm, 1.0 * cm, "gaitscope - validation against motion capture")
        canvas.drawRightString(A4[0] - 1.5 * cm, 1.0 * cm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.4 * cm,
                            bottomMargin=1.6 * cm, title="Validation against motion capture", author="gaitscope")
    doc.build(build_story(results, notes), onFirstPage=on_page, onLaterPages=on_page)
    return path
