"""Research cohort page: a diagnosis filter that forgives case and partial words, group summaries against
values computed by hand, and the filtered export (AppTest, no browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("argon2")
from ui_app_helpers import app as _app  # noqa: E402
from ui_app_helpers import ok as _ok  # noqa: E402

from gaitscope.ui.cohort_tools import group_summary, match_diagnoses, per_analysis  # noqa: E402


def test_diagnosis_filter_forgives_case_and_partial_words():
    known = ["Parkinson's disease (demo)", "healthy control (demo)", "Stroke, left", None]
    assert match_diagnoses("PARKINSON", known) == ["Parkinson's disease (demo)"]
    assert match_diagnoses("disease park", known) == ["Parkinson's disease (demo)"]
    assert match_diagnoses("demo", known) == ["Parkinson's disease (demo)", "healthy control (demo)"]
    assert match_diagnoses("  ", known) is None
    assert match_diagnoses("ataxia", known) == []


def test_group_summary_matches_hand_computed_mean_sd_and_interval():
    params = pd.DataFrame({
        "analysis_id": [1, 1, 2, 3, 4], "patient_code": ["A", "A", "B", "C", "D"],
        "diagnosis": ["PD", "PD", "PD", "PD", "HC"], "updrs_gait": [1, 1, 2, 2, None],
        "age_band": ["60-64"] * 5, "sex": ["M"] * 5, "unit": ["m/s"] * 5, "parameter": ["speed"] * 5,
        "side": ["L", "R", None, None, None], "value": [0.9, 1.1, 2.0, 3.0, 1.3]})
    values = per_analysis(params, "speed")
    assert sorted(values["value"].round(9)) == [1.0, 1.3, 2.0, 3.0]  # analysis 1: (0.9 + 1.1) / 2
    s = group_summary(values, "diagnosis").set_index("group")
    pd_row = s.loc["PD"]  # values 1, 2, 3: mean 2, SD 1, t(0.975, 2) = 4.302653
    assert pd_row["n"] == 3 and pd_row["n_patients"] == 3
    assert pd_row["mean"] == pytest.approx(2.0) and pd_row["sd"] == pytest.approx(1.0)
    assert pd_row["ci95_high"] == pytest.approx(2.0 + 4.302653 / np.sqrt(3), abs=1e-5)
    hc = s.loc["HC"]
    assert hc["n"] == 1 and np.isnan(hc["sd"]) and np.isnan(hc["ci95_low"])
    assert "not recorded" in set(group_summary(values, "updrs_gait")["group"])


def test_researcher_filters_groups_and_exports_the_filtered_table(env):
    at = _app("res").run()
    _ok(at)
    at.text_input(key="cohort_diagnosis").input("parkinson").run()  # lower case, part of the word
    _ok(at)
    patients = at.dataframe[0].value
    assert list(patients["patient_code"]) == ["DEMO-001"]
    summary = next(d.value for d in at.dataframe if "Diagnosis" in d.value.columns)
    assert list(summary["n"]) == [3]  # DEMO-001 has three analyzed visits
    assert at.get("plotly_chart")
    assert any(b.proto.label == "Download parameters (CSV)" for b in at.get("download_button"))
    params = next(d.value for d in at.dataframe if "parameter" in d.value.columns)
    assert set(params["patient_code"]) == {"DEMO-001"}
    at.text_input(key="cohort_diagnosis").input("HEALTHY").run()
    _ok(at)
    assert list(at.dataframe[0].value["patient_code"]) == ["DEMO-002"]
    at.text_input(key="cohort_diagnosis").input("ataxia").run()
    _ok(at)
    assert not at.dataframe and any("No diagnosis" in i.value for i in at.info)
