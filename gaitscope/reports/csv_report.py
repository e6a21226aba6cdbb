"""CSV exports of a GaitReport, with stable column names (documented in README.md, "CSV exports").

Five files, one tidy table each, so a spreadsheet or ``pandas.read_csv`` reads them without options or
reshaping: ``parameters.csv`` (one row per parameter and side), ``strides.csv`` (one row per stride),
``events.csv`` (one row per heel strike / toe off), ``curves.csv`` (one row per curve, side and percent of the
gait cycle) and ``references.csv`` (one row per reference the other tables compare against).

Plain output (issue 21 point 5):

* The reference sentence is written once, in ``references.csv``; the ``normal_source`` column of
  ``parameters.csv`` and ``curves.csv`` holds its short key (``S1``, ``C1``, ...). A comment line at the top of
  ``parameters.csv`` would have kept everything in one file but makes a plain ``pd.read_csv`` fail (it needs
  ``comment="#"``), so a separate file was chosen.
* A number that was not measured is an empty cell (``pandas`` reads it as NaN, a spreadsheet as blank); never the
  text ``nan``. Its ``flag`` says ``not measured``.
* ``ci_low``/``ci_high``: the 95 % interval of the value (curves: per percent of the cycle), from the stride
  spread and the video path's measured error (:mod:`gaitscope.analysis.intervals`); ``ci_note`` says what it is
  made of; ``reliability`` the grade of :mod:`gaitscope.analysis.reliability`. Empty when not computed.
* Numbers are rounded to a resolution that suits their unit (:data:`UNIT_DECIMALS`: millimetres, milliseconds,
  0.1 deg, 0.1 %), not to six significant digits of noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitscope.records import GaitReport

CSV_FILES: dict[str, str] = {
    "parameters": "parameters.csv",
    "strides": "strides.csv",
    "events": "events.csv",
    "curves": "curves.csv",
    "references": "references.csv",
    "warnings": "warnings.csv",
}

#: decimals written per unit: 1 mm, 1 ms, 0.01 m/s, 0.1 %, 0.1 step/min, 0.1 deg, 0.01 for ratios
UNIT_DECIMALS: dict[str, int] = {"m": 3, "s": 3, "m/s": 2, "%": 1, "steps/min": 1, "deg": 1, "ratio": 2}
NOT_MEASURED = "not measured"

#: strides.csv / events.csv columns -> decimals (by the unit in the column name)
_STRIDE_DECIMALS = {"stride_time_s": 3, "stride_length_m": 3, "step_time_s": 3, "step_length_m": 3,
                    "stance_pct": 1, "swing_pct": 1, "double_support_pct": 1, "step_width_m": 3, "speed_m_s": 2}
_EVENT_DECIMALS = {"time_s": 3, "quality": 2}
_CURVE_DECIMALS = {"pct": 0, "mean": 1, "sd": 1, "normal_mean": 1, "normal_sd": 1, "ci_low": 1, "ci_high": 1}


def _reference_keys(sources, prefix: str, table: str, refs: list[dict]) -> dict[str, str]:
    """Key each distinct reference sentence (first-seen order) and append it to ``refs``."""
    keys: dict[str, str] = {}
    for s in sources:
        if s and s not in keys:
            keys[s] = f"{prefix}{len(keys) + 1}"
            refs.append({"key": keys[s], "table": table, "source": s})
    return keys


def report_tables(report: GaitReport) -> dict[str, "object"]:
    """The report's tables as DataFrames keyed like :data:`CSV_FILES`, rounded per unit, references keyed."""
    import pandas as pd

    refs: list[dict] = []
    params = report.parameters_frame()
    if len(params):
        keys = _reference_keys(params["normal_source"], "S", "parameters", refs)
        params["normal_source"] = params["normal_source"].map(lambda s: keys.get(s, ""))
        digits = params["unit"].map(lambda u: UNIT_DECIMALS.get(u, 2))
        for col in ("value", "sd", "normal_low", "normal_high", "ci_low", "ci_high"):
            params[col] = [round(float(v), int(d)) if np.isfinite(v) else np.nan for v, d in zip(params[col], digits)]
        params["cv_pct"] = params["cv_pct"].round(1)
        params["flag"] = [NOT_MEASURED if not np.isfinite(v) else f for v, f in zip(params["value"], params["flag"])]
    strides = report.strides_frame().round(_STRIDE_DECIMALS)
    events = report.events_frame().round(_EVENT_DECIMALS)
    curves = report.curves_frame()
    sources = [c.normal_source for c in report.curves]
    ckeys = _reference_keys(sources, "C", "curves", refs)
    by_curve = {(c.name, c.side): ckeys.get(c.normal_source, "") for c in report.curves}
    curves["normal_source"] = [by_curve.get((n, s), "") for n, s in zip(curves["curve"], curves["side"])]
    curves = curves.round(_CURVE_DECIMALS)
    if len(curves):
        curves["pct"] = curves["pct"].astype(int)
    references = pd.DataFrame(refs, columns=["key", "table", "source"])
    # what the report's warnings say (several people in view first), so a table read without the PDF says it too
    warnings = pd.DataFrame({"warning": list(report.warnings)}, columns=["warning"])
    return {"parameters": params, "strides": strides, "events": events, "curves": curves,
            "references": references, "warnings": warnings}


def table_csv(frame) -> str:
    """One table as CSV text, as written to disk (the dashboard's download buttons use it too)."""
    return frame.to_csv(index=False)


def write_csv_reports(report: GaitReport, out_dir: Path) -> dict[str, Path]:
    """Write the CSV files into ``out_dir`` and return their paths keyed by table name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for key, frame in report_tables(report).items():
        path = out_dir / CSV_FILES[key]
        path.write_text(table_csv(frame), encoding="utf-8")
        paths[key] = path
    return paths
