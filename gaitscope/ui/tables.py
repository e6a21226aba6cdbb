"""Tables of an analysis for the dashboard (pandas), with out-of-range rows highlighted."""

from __future__ import annotations

import math

import pandas as pd

from gaitscope.analysis.pdf_report import parameter_rows
from gaitscope.records import GaitReport

SPATIOTEMPORAL_COLUMNS = ["Parameter", "Side", "Value (± SD)", "Unit", "Normal range", "Flag"]
OUT_OF_RANGE_STYLE = "background-color: #fde0dc; color: #8a1c12; font-weight: 600"


def spatiotemporal_table(report: GaitReport) -> pd.DataFrame:
    """One row per parameter and side, same text as the PDF: value +/- SD, normal range, flag."""
    return pd.DataFrame(parameter_rows(report.parameters), columns=SPATIOTEMPORAL_COLUMNS)


def out_of_range_rows(table: pd.DataFrame) -> list[int]:
    """Row positions flagged low or high."""
    return [i for i, f in enumerate(table["Flag"]) if f in ("low", "high")]


def styled_spatiotemporal(report: GaitReport):
    """The table as a pandas Styler whose out-of-range rows are red (st.dataframe renders Stylers)."""
    table = spatiotemporal_table(report)
    bad = set(out_of_range_rows(table))

    def row_style(row: pd.Series) -> list[str]:
        return [OUT_OF_RANGE_STYLE if row.name in bad else ""] * len(row)

    return table.style.apply(row_style, axis=1)


def scores_table(report: GaitReport) -> pd.DataFrame:
    """GPS and GVS as a two-column table (label, degrees)."""
    from gaitscope.analysis.report_plots import gvs_scores

    rows = [("GPS (overall)", report.scores.get("GPS", float("nan")))] + gvs_scores(report.scores)
    return pd.DataFrame([(lb, None if v is None or not math.isfinite(v) else round(float(v), 2)) for lb, v in rows],
                        columns=["Score", "deg"])
