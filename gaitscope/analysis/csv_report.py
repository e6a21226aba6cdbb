"""CSV exports of a GaitReport, with stable column names (documented in README.md, "CSV exports").

Four files, one tidy table each, so a spreadsheet or pandas reads them without reshaping:
``parameters.csv`` (one row per parameter and side), ``strides.csv`` (one row per stride), ``events.csv`` (one row
per heel strike / toe off) and ``curves.csv`` (one row per curve, side and percent of the gait cycle).
"""

from __future__ import annotations

from pathlib import Path

from gaitscope.records import GaitReport

CSV_FILES: dict[str, str] = {
    "parameters": "parameters.csv",
    "strides": "strides.csv",
    "events": "events.csv",
    "curves": "curves.csv",
}


def report_tables(report: GaitReport) -> dict[str, "object"]:
    """The report's tables as DataFrames keyed like :data:`CSV_FILES`."""
    return {
        "parameters": report.parameters_frame(),
        "strides": report.strides_frame(),
        "events": report.events_frame(),
        "curves": report.curves_frame(),
    }


def write_csv_reports(report: GaitReport, out_dir: Path) -> dict[str, Path]:
    """Write the four CSV files into ``out_dir`` and return their paths keyed by table name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, frame in report_tables(report).items():
        path = out_dir / CSV_FILES[key]
        frame.to_csv(path, index=False, float_format="%.6g")
        paths[key] = path
    return paths
