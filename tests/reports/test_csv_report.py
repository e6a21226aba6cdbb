"""CSV exports: plain output a researcher's ``pandas.read_csv`` reads as it is (issue 21 point 5)."""

from __future__ import annotations

import pandas as pd
import pytest

from gaitscope.reports.csv_report import write_csv_reports
from gaitscope.ui.example_records import example_report

COLUMNS = ["name", "label", "unit", "side", "value", "sd", "cv_pct", "n", "normal_low", "normal_high",
           "normal_source", "flag"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    report = example_report()
    return report, write_csv_reports(report, tmp_path_factory.mktemp("csv"))


def test_no_nan_text_and_not_measured_flag(written):
    report, paths = written
    for path in paths.values():
        assert "nan" not in path.read_text().lower().split(","), path.name
    params = pd.read_csv(paths["parameters"])
    assert list(params.columns)[:len(COLUMNS)] == COLUMNS
    width = params[(params["name"] == "step_width") & (params["side"] == "both")].iloc[0]
    assert pd.isna(width["value"])  # an empty cell, read back as NaN
    assert width["flag"] == "not measured"


def test_reference_sentence_once_per_table_in_references_csv(written):
    report, paths = written
    params = pd.read_csv(paths["parameters"], keep_default_na=False)
    refs = pd.read_csv(paths["references"])
    long_sources = {p.normal_source for p in report.parameters if p.normal_source}
    assert set(refs.loc[refs["table"] == "parameters", "source"]) == long_sources
    assert refs["key"].is_unique
    # each row holds a key, not the sentence; every key resolves
    assert set(params["normal_source"]) - {""} <= set(refs["key"])
    assert not any(len(s) > 4 for s in params["normal_source"])
    cad = report.parameter("cadence")
    key = params[(params["name"] == "cadence") & (params["side"] == "both")]["normal_source"].iloc[0]
    assert refs.set_index("key").loc[key, "source"] == cad.normal_source


def test_decimals_per_unit(written):
    report, paths = written
    text = paths["parameters"].read_text().splitlines()
    params = pd.read_csv(paths["parameters"])
    for line, (_, row) in zip(text[1:], params.iterrows()):
        value = line.split(",")[4]
        if not value:
            continue
        decimals = len(value.split(".")[1]) if "." in value else 0
        assert decimals <= {"m": 3, "s": 3, "m/s": 2, "%": 1, "steps/min": 1, "deg": 1}.get(row["unit"], 2), line
    truth = report.parameter("step_length", "both").value
    got = params[(params["name"] == "step_length") & (params["side"] == "both")]["value"].iloc[0]
    assert got == pytest.approx(truth, abs=0.0005)  # millimetres kept
