"""A PDF gait report a clinician can file: who and when, what video, the numbers, the curves, the scores, and
what the method can and cannot tell.

Content follows what clinical gait labs put in a report (``../shared/notes/gait-references.md`` section 12):
patient header, spatiotemporal table with normal ranges and out-of-range flags, kinematic curves over the gait
cycle with left/right overlaid on a reference band, summary indices (GPS and GVS, Baker et al. 2009, Gait
Posture 30:265), classifier outputs, provenance (model and analysis versions) and a statement of limits.

Built with reportlab's platypus (flowing layout, pure Python, no network); plots are matplotlib PNGs from
:mod:`gaitscope.reports.plots`. Every text that may come from a user (patient code, file name) is
XML-escaped before it reaches a reportlab Paragraph, because Paragraph interprets markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from gaitscope.analysis.scores import TD_GPS_SD_DEG
from gaitscope.records import GaitReport, ParameterSummary, Prediction
from gaitscope.reports import plots as report_plots

METHOD_NOTE = (
    "Method: the person's joints were located in every frame of a single video, the 2D joint sequence was turned "
    "into 3D by a learned model, and gait events, spatiotemporal parameters and joint angles were computed from the "
    "3D motion. The models and versions used are listed under Technical details at the end."
)
#: The internal model names: in the Technical details section only, never in the clinician's summary.
MODEL_NOTE = (
    "2D joints: MediaPipe BlazePose (full model); 3D lifting: DSTformer (MotionBERT, Zhu et al. ICCV 2023); gait "
    "events: Zeni et al. 2008; deviation scores: Baker et al. 2009."
)
LIMITS = (
    "The video comes from one camera: depth is inferred by a learned model, not measured, so frontal- and "
    "transverse-plane angles (abduction, rotation, obliquity) are low confidence; sagittal hip and knee are the "
    "most reliable (published single-camera systems reach about 4-6 degrees of error against marker-based capture).",
    "Lengths in metres are scaled from the subject's height; if the height was not given an assumed height was used "
    "and every length and the walking speed carry that error.",
    "Reference curves come from the source named under the plots; where they are children's values (Schwartz 2008) "
    "they are shown for orientation only, because no adult curve set with documented provenance was available.",
    "Classifier outputs are research outputs, not a diagnosis.",
)
METHOD_NOTE_MOCAP = (
    "Method: the joint centres were computed from marker-based motion capture (not from a video) with the marker "
    "set named above, and gait events, spatiotemporal parameters and joint angles were computed from them with "
    "the same analysis as for video."
)
LIMITS_MOCAP = (
    "Joint centres come from skin markers (regression-based hip centres, knee and ankle centres from the markers "
    "present): marker placement and soft-tissue movement limit frontal- and transverse-plane angles; the angles "
    "use gaitscope's 17-joint conventions and are not Plug-in-Gait angles.",
    "Gait events are computed from the joint trajectories (Zeni et al. 2008), not read from force plates.",
) + LIMITS[2:]


@dataclass(frozen=True)
class ReportContext:
    """What the PDF says around the analysis: the patient, the visit, the video and the versions used.

    Every field has a default so a report can be written from a bare GaitReport (e.g. in a notebook).
    """

    patient_code: str = "UNASSIGNED"
    visit_date: date | None = None
    video_name: str = ""
    video_fps: float | None = None
    video_duration_s: float | None = None
    video_resolution: tuple[int, int] | None = None  # (width, height) in pixels
    height_cm: float | None = None
    model_name: str = ""
    model_version: str = ""
    analysis_version: str = ""
    predictions: tuple[Prediction, ...] = ()
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    clinician: str = ""
    notes: str = ""
    source_kind: str = "video"  # "video" or "mocap" (marker-based motion capture: no image, no lifter)
    source_description: str = ""  # e.g. "marker-based motion capture: plug-in-gait markers, C3D file"
    person_still_png: bytes | None = None  # a video frame with the person measured boxed (PNG)
    person_still_caption: str = ""


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: a value that rounds to zero prints "0.0", not "-0.0"


def _digits(unit: str) -> int:
    return {"m": 2, "m/s": 2, "s": 2, "%": 1, "steps/min": 1, "deg": 1}.get(unit, 2)


_DERIVED_SUFFIXES = ("_cv", "_sd", "_si", "_symmetry_index", "_symmetry_ratio", "_ratio")


def is_main_parameter(p: ParameterSummary) -> bool:
    """True for the parameters of the main table; variability (CV) and symmetry go to a second table."""
    return not p.name.endswith(_DERIVED_SUFFIXES)


NOT_MEASURED = "not measured"


def _value_text(p: ParameterSummary) -> str:
    d = _digits(p.unit)
    if not math.isfinite(p.value):
        return NOT_MEASURED
    if p.reliability == "not measurable":
        return "not reported"
    text = _fmt(p.value, d)
    if math.isfinite(p.sd) and math.isfinite(p.value):
        text += f" ± {p.sd:.{d}f}"
    return text


def interval_text(p: ParameterSummary) -> str:
    """The 95 % interval of a reported value, "[low, high]" (gaitscope.analysis.intervals); "" when the value is
    not reported or has no interval."""
    if not (math.isfinite(p.value) and math.isfinite(p.ci_low) and math.isfinite(p.ci_high)):
        return ""
    if p.reliability == "not measurable":
        return ""
    d = _digits(p.unit)
    return f"[{_fmt(p.ci_low, d)}, {_fmt(p.ci_high, d)}]"


def _range_text(p: ParameterSummary) -> str:
    if not (math.isfinite(p.normal_low) and math.isfinite(p.normal_high)):
        return ""
    d = _digits(p.unit)
    return f"{p.normal_low:.{d}f} - {p.normal_high:.{d}f}"


def parameter_rows(parameters: tuple[ParameterSummary, ...] | list[ParameterSummary]) -> list[list[str]]:
    """Long rows (parameter, side, value, unit, normal range, flag), one per parameter and side."""
    return [[p.label, {"both": "L+R"}.get(p.side, p.side), _value_text(p), p.unit, _range_text(p),
             {"unknown": "-"}.get(p.flag, p.flag)] for p in parameters]


@dataclass(frozen=True)
class ParameterGridRow:
    """One parameter with its left, right and both-sides values side by side, as gait reports print them."""

    name: str
    label: str
    unit: str
    cells: dict[str, str]  # side ("L", "R", "both") -> "value ± SD"
    flags: dict[str, str]  # side -> "low" / "normal" / "high" / "unknown"
    normal_range: str
    reliability: dict[str, str] = field(default_factory=dict)  # side -> "reliable" / "limited" / "not measurable"
    intervals: dict[str, str] = field(default_factory=dict)  # side -> "[low, high]", the 95 % interval

    @property
    def reliability_text(self) -> str:
        """The grade of the row: one word when all sides share it, else per side ("L: limited; R: reliable")."""
        grades = {s: g for s, g in self.reliability.items() if g}
        if not grades:
            return "-"
        if len(set(grades.values())) == 1:
            return next(iter(grades.values()))
        return "; ".join(f"{ {'both': 'L+R'}.get(s, s)}: {g}" for s, g in grades.items())

    @property
    def out_of_range(self) -> list[str]:
        return [side for side, flag in self.flags.items() if flag in ("low", "high")]

    @property
    def flag_text(self) -> str:
        bad = self.out_of_range
        if not bad:
            if any(f == "normal" for f in self.flags.values()):
                return "normal"
            grades = set(self.reliability.values()) - {"", "reliable"}
            if grades:  # not graded reliable from this recording: no flag, and the cell says why
                return "not measurable here" if grades == {"not measurable"} else "limited: not flagged"
            return "-"
        if len(bad) == len(self.flags) and len({self.flags[s] for s in bad}) == 1:
            return self.flags[bad[0]]
        return ", ".join(f"{ {'both': 'L+R'}.get(s, s)}: {self.flags[s]}" for s in bad)


GRID_SIDES = ("L", "R", "both")


def parameter_grid(parameters: tuple[ParameterSummary, ...] | list[ParameterSummary]) -> list[ParameterGridRow]:
    """Group parameters by name (first-seen order) into rows with one column per side.

    The normal range shown is the both-sides one when it exists (it is the same for each side in the bundled
    references), else the first side's.
    """
    order: list[str] = []
    groups: dict[str, dict[str, ParameterSummary]] = {}
    for p in parameters:
        if p.name not in groups:
            order.append(p.name)
            groups[p.name] = {}
        groups[p.name].setdefault(p.side, p)
    # Whole-walk parameters (speed, cadence) first, as reports open with them; then per-side ones, in order.
    order.sort(key=lambda n: set(groups[n]) != {"both"})
    rows = []
    for name in order:
        by_side = groups[name]
        first = by_side.get("both") or next(iter(by_side.values()))
        rng = next((r for r in (_range_text(by_side[s]) for s in ("both", "L", "R") if s in by_side) if r), "")
        rows.append(ParameterGridRow(
            name=name, label=first.label, unit=first.unit,
            cells={s: _value_text(by_side[s]) for s in GRID_SIDES if s in by_side},
            flags={s: by_side[s].flag for s in GRID_SIDES if s in by_side}, normal_range=rng,
            reliability={s: by_side[s].reliability for s in GRID_SIDES
                         if s in by_side and math.isfinite(by_side[s].value)},
            intervals={s: interval_text(by_side[s]) for s in GRID_SIDES if s in by_side and interval_text(by_side[s])}))
    return rows


def _styles():
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("gs-title", parent=base["Title"], fontSize=16, spaceAfter=4),
        "h2": ParagraphStyle("gs-h2", parent=base["Heading2"], fontSize=11.5, spaceBefore=8, spaceAfter=3),
        "h3": ParagraphStyle("gs-h3", parent=base["Heading3"], fontSize=9.5, spaceBefore=5, spaceAfter=2),
        "body": ParagraphStyle("gs-body", parent=base["BodyText"], fontSize=8.5, leading=11),
        "small": ParagraphStyle("gs-small", parent=base["BodyText"], fontSize=7.5, leading=9.5,
                                textColor="#444444"),
        "cell": ParagraphStyle("gs-cell", parent=base["BodyText"], fontSize=8, leading=9.5),
    }


def _image(png: bytes, width_pt: float):
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Image

    iw, ih = ImageReader(BytesIO(png)).getSize()
    return Image(BytesIO(png), width=width_pt, height=width_pt * ih / iw)


def _kv_table(pairs: list[tuple[str, str]], styles, col_widths):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data = [[Paragraph(f"<b>{escape(k)}</b>", styles["cell"]), Paragraph(escape(v), styles["cell"])]
            for k, v in pairs]
    table = Table(data, colWidths=col_widths, hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                               ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#dddddd"))]))
    return table


#: parameter table column widths (fractions of the text width): Parameter, Unit, Left, Right, Both, range, Flag
PARAMETER_COLUMNS = (0.22, 0.09, 0.14, 0.14, 0.14, 0.13, 0.14)
CELL_PADDING = 3.0


def _parameter_table(parameters: list[ParameterSummary], styles, width_pt: float):
    """Parameter | unit | left | right | both | normal range | flag; out-of-range value cells shaded red. Each
    value cell holds "value ± SD" and, below it, its 95 % interval in brackets.

    Column widths: every word of a cell must fit its column (reportlab otherwise splits a long word, e.g. the flag
    "not measurable here" printed as "measura-ble" in a 10 % column), hence the wider flag column and the 3 pt
    side padding."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    header = ["Parameter", "Unit", "Left", "Right", "Both sides", "Normal range", "Flag"]
    grid = parameter_grid(parameters)
    data = [header]
    for row in grid:
        values = [escape(row.cells.get(s, "")) + (f"<br/>{escape(row.intervals[s])}" if s in row.intervals else "")
                  for s in GRID_SIDES]
        cells = [escape(row.label), escape(row.unit)] + values + [escape(row.normal_range), escape(row.flag_text)]
        data.append([Paragraph(c, styles["cell"]) for c in cells])
    table = Table(data, colWidths=[f * width_pt for f in PARAMETER_COLUMNS], repeatRows=1, hAlign="LEFT")
    red = colors.HexColor("#fde0dc")
    style = [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING), ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]
    for i, row in enumerate(grid, start=1):
        for side in row.out_of_range:
            col = 2 + GRID_SIDES.index(side)
            style.append(("BACKGROUND", (col, i), (col, i), red))
        if row.out_of_range:
            style.append(("BACKGROUND", (6, i), (6, i), red))
    table.setStyle(TableStyle(style))
    return table


def _prediction_table(predictions: tuple[Prediction, ...], styles, width_pt: float):
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data = [["Classifier", "Version", "Predicted", "Probabilities"]]
    for p in predictions:
        probs = ", ".join(f"{c}: {100 * pr:.0f} %" for c, pr in zip(p.classes, p.probabilities))
        data.append([Paragraph(escape(x), styles["cell"]) for x in (p.head_name, p.head_version, p.predicted, probs)])
    table = Table(data, colWidths=[w * width_pt for w in (0.28, 0.16, 0.18, 0.38)], hAlign="LEFT")
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb"))]))
    return table


def _quality_block(report: GaitReport, st, width: float) -> list:
    """What this recording allows: camera view, legs seen, usable strides, grades, and how to film better."""
    from reportlab.platypus import Paragraph

    q = report.quality
    if q is None:
        return []
    if q.view_angle_deg is None:
        view = "no camera (3D capture)"
    else:
        view = f"{q.view} ({q.view_angle_deg:.0f} deg between walking direction and camera axis)"
        if q.near_leg:
            view += f", near leg {'left' if q.near_leg == 'L' else 'right'}"
    pairs = [("Camera view", view), ("Usable strides", str(q.usable_strides))]
    if q.leg_visibility:
        pairs.append(("Legs seen", ", ".join(f"{'left' if k == 'L' else 'right'} {100 * v:.0f} % of frames"
                                             for k, v in sorted(q.leg_visibility.items()))))
    grades = [p.reliability for p in report.parameters if p.reliability]
    if grades:
        pairs.append(("Parameters", f"{grades.count('reliable')} reliable, {grades.count('limited')} limited, "
                                    f"{grades.count('not measurable')} not measurable from this recording; only "
                                    "reliable ones are flagged"))
    out = [Paragraph("Reliability of this recording", st["h3"]), _kv_table(pairs, st, [0.28 * width, 0.72 * width])]
    for a in q.advice:
        out.append(Paragraph("<b>How to film better:</b> " + escape(a), st["body"]))
    return out


def build_story(report: GaitReport, context: ReportContext) -> list:
    """The report's flowables, in reading order (exposed so tests and other layouts can reuse them)."""
    from reportlab.lib.units import cm
    from reportlab.platypus import KeepTogether, Paragraph, Spacer

    st = _styles()
    width = 18.0 * cm
    story: list = []
    visit = context.visit_date.isoformat() if context.visit_date else "not recorded"
    story.append(Paragraph("Gait analysis report", st["title"]))
    story.append(Paragraph(f"Patient <b>{escape(context.patient_code)}</b> &nbsp;&nbsp; Visit {escape(visit)}",
                           st["body"]))
    story.append(Spacer(1, 4))
    for w in report.warnings:  # a possible change of person must be read before any number
        if w.startswith("Several people"):
            story.append(Paragraph("<b>Attention:</b> " + escape(w), st["body"]))
    if context.person_still_png:  # which person was measured, before any number
        story.append(Paragraph("Person measured", st["h2"]))
        story.append(_image(context.person_still_png, 0.5 * width))
        if context.person_still_caption:
            story.append(Paragraph(escape(context.person_still_caption), st["body"]))

    res = f"{context.video_resolution[0]} x {context.video_resolution[1]} px" if context.video_resolution else "n/a"
    mocap = context.source_kind == "mocap"
    details = [
        ("Motion-capture file" if mocap else "Video", context.video_name or "n/a"),
        ("Sampling rate / duration", f"{_fmt(context.video_fps, 1)} Hz / {_fmt(context.video_duration_s, 1)} s")
        if mocap else
        ("Frame rate / duration", f"{_fmt(context.video_fps, 2)} fps / {_fmt(context.video_duration_s, 1)} s"),
        ("Source", context.source_description or "marker-based motion capture (no video)") if mocap else
        ("Resolution", res),
        ("Frames analyzed", f"{report.n_frames} ({_fmt(report.duration_s, 1)} s); strides: {len(report.strides)}"),
        ("Scale", report.scale_note or "n/a"),
    ]
    if context.height_cm:
        details.insert(4, ("Subject height used", f"{_fmt(context.height_cm, 0)} cm"))
    if context.clinician:
        details.append(("Clinician", context.clinician))
    if context.notes:
        details.append(("Notes", context.notes))
    story.append(Paragraph("Recording", st["h2"]))
    story.append(_kv_table(details, st, [0.28 * width, 0.72 * width]))
    story += _quality_block(report, st, width)

    story.append(Paragraph("Spatiotemporal parameters", st["h2"]))
    gps_rows = {p.side: p for p in report.parameters if p.name == "gps"}  # shown with the deviation scores
    main = [p for p in report.parameters if is_main_parameter(p) and p.name != "gps"]
    derived = [p for p in report.parameters if not is_main_parameter(p)]
    if main:
        story.append(_parameter_table(main, st, width))
        sources = sorted({p.normal_source for p in main if p.normal_source})
        note = ("Each value is the mean ± SD over strides, with its 95 % interval below it in brackets: "
                + ("the stride-to-stride spread (motion capture: no model error added)" if mocap else
                   "the stride-to-stride spread and the video method's own error measured on video of real walking "
                   "(a known bias of the method widens the interval towards the likely true value; the value "
                   "itself is never shifted)") + ". Values shaded red are outside the normal range. Only numbers graded "
                "reliable from this recording are flagged; \"not reported\" means the camera view cannot measure "
                "it (see Reliability of this recording and the warnings).")
        if sources:
            note += " Normal ranges: " + "; ".join(sources) + "."
        story.append(Paragraph(escape(note), st["small"]))
        if derived:
            story.append(Paragraph("Variability and symmetry", st["h3"]))
            story.append(_parameter_table(derived, st, width))
    elif not report.parameters:
        story.append(Paragraph("No spatiotemporal parameters could be computed.", st["body"]))

    heading = Paragraph("Kinematics over the gait cycle", st["h2"])
    fig = report_plots.curves_figure(report)
    if fig is not None:
        shown = [c for c in report.curves if c.name.startswith(report_plots.PDF_CURVE_PREFIXES)]
        note = Paragraph(escape("Left red, right blue, each lightly shaded over its 95 % band; reference band grey. "
                                + report_plots.reference_note(shown)),
                         st["small"])
        story.append(KeepTogether([heading, _image(report_plots.figure_png(fig), width), note]))
    else:
        story.append(heading)
        story.append(Paragraph("No gait-cycle curves (no complete stride was found).", st["body"]))

    gps = report.scores.gps
    scores_block = [Paragraph("Deviation scores", st["h2"])]
    sides = ", ".join(f"{name} {value:.1f}" for value, name in ((report.scores.gps_left, "left"),
                                                                 (report.scores.gps_right, "right"))
                      if value is not None and math.isfinite(value))
    scores_block.append(Paragraph(
        escape(f"Gait Profile Score (GPS): {_fmt(gps, 1)} deg" + (f" ({sides})" if sides else "") + ". GPS is the "
               "RMS difference of the kinematic curves from the reference mean (Baker et al. 2009); GVS is the same "
               "per variable. About 1.6 deg is the minimal clinically important difference."), st["body"]))
    if "both" in gps_rows:
        g = gps_rows["both"]
        # the upper limit is the expected GPS + 2 x the GPS SD of typically developing children (analysis.report)
        expected_gps = g.normal_high - 2 * TD_GPS_SD_DEG
        expected = f"about {expected_gps:.1f} deg, " if math.isfinite(expected_gps) else ""
        scores_block.append(Paragraph(escape(
            f"Normal GPS for this reference: {expected}upper limit {g.normal_high:.1f} deg; this GPS is "
            f"{ {'unknown': 'not graded'}.get(g.flag, g.flag)}. " + ("The reference is typically developing children's: for orientation only in adults."
                    if "CHILDREN" in g.normal_source else "")), st["body"]))
    gfig = report_plots.gvs_figure(report.scores)
    if gfig is not None:
        scores_block.append(_image(report_plots.figure_png(gfig), 0.8 * width))
    story.append(KeepTogether(scores_block))

    story.append(Paragraph("Classifier output", st["h2"]))
    if context.predictions:
        story.append(_prediction_table(context.predictions, st, width))
    else:
        story.append(Paragraph("No classifier was run for this analysis.", st["body"]))

    if report.warnings:
        story.append(Paragraph("Warnings", st["h2"]))
        for w in report.warnings:
            story.append(Paragraph("- " + escape(w), st["body"]))

    story.append(Paragraph("Method and limits", st["h2"]))
    story.append(Paragraph(escape(METHOD_NOTE_MOCAP if mocap else METHOD_NOTE), st["body"]))
    for lim in LIMITS_MOCAP if mocap else LIMITS:
        story.append(Paragraph("- " + escape(lim), st["body"]))

    # Internal names (models, versions, the motion source) are for the technical record, not the summary.
    story.append(Paragraph("Technical details", st["h2"]))
    versions = [
        ("3D source" if mocap else "3D model", f"{context.model_name or 'n/a'} {context.model_version}".strip()),
        ("Analysis version", context.analysis_version or report.analysis_version),
        ("Motion source", report.source),
        ("Generated", context.generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()),
    ]
    story.append(_kv_table(versions, st, [0.28 * width, 0.72 * width]))
    if not mocap:
        story.append(Spacer(1, 3))
        story.append(Paragraph(escape(MODEL_NOTE), st["small"]))
    return story


def write_pdf_report(report: GaitReport, path: str | Path, *, context: ReportContext) -> Path:
    """Write the report to ``path`` (parents created) and return it."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    footer = f"gaitscope - patient {context.patient_code} - generated {context.generated_at:%Y-%m-%d}"

    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillGray(0.4)
        canvas.drawString(1.5 * cm, 1.0 * cm, footer)  # drawString does not parse markup: no escaping needed
        canvas.drawRightString(A4[0] - 1.5 * cm, 1.0 * cm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm, topMargin=1.4 * cm,
                            bottomMargin=1.6 * cm, title=f"Gait analysis report {context.patient_code}",
                            author="gaitscope", subject="Gait analysis")
    doc.build(build_story(report, context), onFirstPage=on_page, onLaterPages=on_page)
    return path


def pdf_bytes(report: GaitReport, *, context: ReportContext) -> bytes:
    """The PDF in memory (for a download button), written through a temporary file."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return write_pdf_report(report, Path(tmp) / "report.pdf", context=context).read_bytes()
