"""Tables of an analysis for the dashboard (pandas), with out-of-range values highlighted.

The layout is the PDF's (:func:`gaitscope.reports.pdf_report.parameter_grid`): one row per parameter with
left, right and both-sides columns, as clinical gait reports print them.
"""

from __future__ import annotations

import math

import pandas as pd

from gaitscope.records import ParameterSummary
from gaitscope.reports.pdf_report import GRID_SIDES, parameter_grid

SIDE_COLUMNS = {"L": "Left", "R": "Right", "both": "Both sides"}
SPATIOTEMPORAL_COLUMNS = ["Parameter", "Unit", "Left", "Right", "Both sides", "Normal range", "Flag", "Reliability"]
OUT_OF_RANGE_STYLE = "background-color: #fde0dc; color: #8a1c12; font-weight: 600"


def spatiotemporal_table(parameters: tuple[ParameterSummary, ...] | list[ParameterSummary]) -> pd.DataFrame:
    """One row per parameter: value ± SD per side followed by its 95 % interval in brackets
    (:mod:`gaitscope.analysis.intervals`), the normal range, the flag(s) and the reliability grade(s)."""
    def cell(r, side: str) -> str:
        text = r.cells.get(side, "")
        return f"{text} {r.intervals[side]}" if side in r.intervals else text

    rows = [[r.label, r.unit] + [cell(r, s) for s in GRID_SIDES] + [r.normal_range, r.flag_text, r.reliability_text]
            for r in parameter_grid(parameters)]
    return pd.DataFrame(rows, columns=SPATIOTEMPORAL_COLUMNS)


def out_of_range_cells(parameters: tuple[ParameterSummary, ...] | list[ParameterSummary]) -> list[tuple[int, str]]:
    """(row, column name) of every value outside its normal range."""
    return [(i, SIDE_COLUMNS[side]) for i, r in enumerate(parameter_grid(parameters)) for side in r.out_of_range]


def styled_spatiotemporal(parameters: tuple[ParameterSummary, ...] | list[ParameterSummary]):
    """The table as a pandas Styler whose out-of-range values (and their flag) are red; st.dataframe renders it."""
    table = spatiotemporal_table(parameters)
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    for row, column in out_of_range_cells(parameters):
        styles.loc[row, column] = OUT_OF_RANGE_STYLE
        styles.loc[row, "Flag"] = OUT_OF_RANGE_STYLE
    return table.style.apply(lambda _: styles, axis=None)


def scores_table(scores) -> pd.DataFrame:
    """GPS and GVS as a two-column table (label, degrees)."""
    from gaitscope.reports.plots import gvs_scores

    rows = [("GPS (overall)", scores.get("GPS", float("nan")))] + gvs_scores(scores)
    return pd.DataFrame([(lb, None if v is None or not math.isfinite(v) else round(float(v), 2)) for lb, v in rows],
                        columns=["Score", "deg"])
