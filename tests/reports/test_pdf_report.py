"""The PDF report: generated from a hand-built GaitReport and read back with pypdf."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency (pip install -e '.[dev]')")

from gaitscope.reports.pdf_report import ReportContext, parameter_grid, parameter_rows, pdf_bytes, write_pdf_report
from gaitscope.ui.example_records import example_predictions, example_report  # noqa: E402


def _text(path) -> tuple[str, int]:
    reader = pypdf.PdfReader(str(path))
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)  # line breaks depend on the layout


@pytest.fixture(scope="module")
def full_pdf(tmp_path_factory):
    report = example_report()
    ctx = ReportContext(patient_code="P-0042", visit_date=date(2026, 3, 14), video_name="walk_side.mp4",
                        video_fps=29.97, video_duration_s=8.0, video_resolution=(1280, 720), height_cm=172.0,
                        model_name="lifter:dstformer-small", model_version="1.2", analysis_version="0.3.1",
                        predictions=example_predictions(),
                        generated_at=datetime(2026, 3, 14, 10, 0, tzinfo=timezone.utc))
    path = write_pdf_report(report, tmp_path_factory.mktemp("pdf") / "sub" / "report.pdf", context=ctx)
    return report, path


def test_pdf_holds_header_table_scores_and_provenance(full_pdf):
    report, path = full_pdf
    assert path.exists() and path.read_bytes()[:5] == b"%PDF-"
    text, pages = _text(path)
    assert 1 <= pages <= 4
    for needle in ("P-0042", "2026-03-14", "walk_side.mp4", "1280 x 720", "172 cm", "29.97 fps",
                   "dstformer-small", "0.3.1", "parkinsonian_gait", "healthy: 82 %", "Gait Profile Score",
                   "6.4", "children's reference values", "one camera", "height"):
        assert needle in text, needle
    for p in report.parameters:
        assert p.label in text
    # the out-of-range parameter is flagged in the table
    assert "high" in text


def test_flags_and_missing_values_in_table_rows():
    report = example_report()
    rows = {(r[0], r[1]): r for r in parameter_rows(report.parameters)}
    assert rows[("Double support", "L+R")][5] == "high"
    assert rows[("Step width", "L+R")][2] == "not measured"
    assert rows[("Step width", "L+R")][5] == "-"
    assert rows[("Cadence", "L+R")][4] == "100.0 - 125.0"


def test_parameter_grid_puts_left_right_and_both_in_one_row():
    grid = {r.name: r for r in parameter_grid(example_report().parameters)}
    step = grid["step_length"]
    assert step.cells == {"L": "0.68 ± 0.01", "R": "0.70 ± 0.01", "both": "0.69 ± 0.01"}
    assert step.normal_range == "0.60 - 0.80" and step.flag_text == "normal"
    assert grid["double_support_pct"].out_of_range == ["both"] and grid["double_support_pct"].flag_text == "high"
    mixed = replace(grid["step_length"], flags={"L": "low", "R": "normal", "both": "normal"})
    assert mixed.flag_text == "L: low"


def test_user_text_with_markup_is_printed_literally(tmp_path):
    ctx = ReportContext(patient_code="<b>X&Y</b>", video_name="<script>alert(1)</script>.mp4",
                        notes="pain < 3 & > 1")
    text, _ = _text(write_pdf_report(example_report(), tmp_path / "r.pdf", context=ctx))
    assert "<b>X&Y</b>" in text
    assert "<script>alert(1)</script>.mp4" in text


def test_bare_report_without_curves_scores_or_predictions(tmp_path):
    bare = replace(example_report(), curves=(), scores={}, parameters=(), strides=(), warnings=())
    data = pdf_bytes(bare, context=ReportContext())
    (tmp_path / "bare.pdf").write_bytes(data)
    text, pages = _text(tmp_path / "bare.pdf")
    assert pages == 1
    assert "No gait-cycle curves" in text and "No classifier was run" in text and "UNASSIGNED" in text


def test_pdf_module_keeps_the_analysis_layer_rule():
    code = ("import sys, gaitscope.reports.pdf_report, gaitscope.reports.plots; "
            "bad=[m for m in sys.modules if m.startswith(('gaitscope.ui','gaitscope.db','gaitscope.io',"
            "'gaitscope.pose2d','gaitscope.pipeline','gaitscope.training','gaitscope.cli',"
            "'streamlit','sqlalchemy'))]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_model_names_stay_out_of_the_clinician_summary(full_pdf):
    """Internal model names (2D detector, lifter, motion source) appear only under Technical details (issue 21.5)."""
    _, path = full_pdf
    text, _ = _text(path)
    summary, _, details = text.partition("Technical details")
    assert details, "the PDF has a Technical details section"
    for name in ("DSTformer", "dstformer", "BlazePose", "MediaPipe", "MotionBERT", "lifter:"):
        assert name not in summary, name
    assert "DSTformer" in details and "dstformer-small" in details


def test_no_nan_text_in_the_pdf(full_pdf):
    _, path = full_pdf
    text, _ = _text(path)
    assert "nan" not in text.lower().replace("nance", "")  # no "nan" token ("maintenance" etc. excluded)
    assert "not measured" in text


def test_flag_text_of_unreliable_rows_ignores_sides_that_were_not_measured():
    from gaitscope.records import ParameterSummary

    rows = [ParameterSummary("step_width", "Step width", "m", "L", -0.2, reliability="not measurable"),
            ParameterSummary("step_width", "Step width", "m", "R", float("nan"), reliability="limited"),
            ParameterSummary("cadence", "Cadence", "steps/min", "both", 101.7, reliability="limited")]
    grid = {r.name: r for r in parameter_grid(rows)}
    assert grid["step_width"].flag_text == "not measurable here"
    assert grid["step_width"].cells == {"L": "not reported", "R": "not measured"}
    assert grid["cadence"].flag_text == "limited: not flagged"


def test_numbers_that_round_to_zero_print_without_a_minus_sign():
    """A symmetry index of -0.004 % is printed as 0.0, not -0.0 (seen in the demo report)."""
    from gaitscope.reports.pdf_report import _fmt

    assert _fmt(-0.004, 1) == "0.0" and _fmt(-0.04, 1) == "0.0"
    assert _fmt(-0.06, 1) == "-0.1" and _fmt(0.26, 1) == "0.3" and _fmt(-1.0, 2) == "-1.00"
