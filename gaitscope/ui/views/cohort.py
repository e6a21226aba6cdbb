"""Research cohort (researchers only): pseudonymised tables, never names, videos, file names or notes.

Everything on this page comes from :func:`gaitscope.db.access.cohort_patients` and
:func:`~gaitscope.db.access.cohort_parameters`, which refuse every other role and coarsen quasi-identifiers
(5-year age bands, visit years); this page adds no column of its own. The diagnosis filter forgives case and
partial words (:func:`gaitscope.ui.cohort_tools.match_diagnoses`) and is passed on as the list of matching
diagnoses, the same query as the notebook API (:mod:`gaitscope.db.cohort`), whose call the page shows.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from gaitscope.ui import data
from gaitscope.ui.cohort_tools import GROUPS, group_summary, match_diagnoses, notebook_call, per_analysis
from gaitscope.ui.components import db_url, guarded, md_escape, show_flash, signed_in_user, user_errors

_SEXES = {"": "any", "F": "female", "M": "male", "X": "other / not stated"}


def _group_figure(values, summary, by: str, parameter: str, unit: str) -> go.Figure:
    """Each analysis as a point and the group mean with its 95 % confidence interval."""
    fig = go.Figure()
    groups = values.assign(group=values[by].astype(object).where(values[by].notna(), "not recorded").astype(str))
    fig.add_trace(go.Box(x=groups["group"], y=groups["value"], boxpoints="all", jitter=0.3, pointpos=0,
                         fillcolor="rgba(0,0,0,0)", line=dict(color="rgba(0,0,0,0)"), marker=dict(color="#9aa5b1"),
                         name="analyses", hovertemplate="%{y:.3g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=summary["group"], y=summary["mean"], mode="markers", name="mean ± 95 % CI",
                             marker=dict(color="#1f77b4", size=11, symbol="diamond"),
                             error_y=dict(type="data", symmetric=False,
                                          array=summary["ci95_high"] - summary["mean"],
                                          arrayminus=summary["mean"] - summary["ci95_low"])))
    fig.update_layout(height=360, margin=dict(l=40, r=10, t=30, b=40), yaxis_title=f"{parameter} ({unit})",
                      xaxis_title=GROUPS[by], legend=dict(orientation="h", y=1.1))
    return fig


@guarded
def render() -> None:
    user = signed_in_user()
    st.title("Research cohort")
    show_flash()
    data.require_role(user, ("researcher",), "query the research cohort")
    st.caption("Pseudonymised: patient codes only, ages in 5-year bands, visit years instead of dates. "
               "Every query is recorded in the audit log.")
    db = data.database(db_url())
    from gaitscope.db import access

    c1, c2 = st.columns(2)
    sex = c1.selectbox("Sex", list(_SEXES), format_func=_SEXES.get, key="cohort_sex")
    query = c2.text_input("Diagnosis contains (any case, several words: all must appear; empty: all)",
                          key="cohort_diagnosis", max_chars=200)
    with user_errors("The cohort could not be read"):
        everyone = access.cohort_patients(db, user, **({"sex": sex} if sex else {}))
        diagnoses = match_diagnoses(query, everyone["diagnosis"])
        if diagnoses is not None:
            st.caption("Matching diagnoses: " + (", ".join(md_escape(d) for d in diagnoses) or "none"))
        if diagnoses == []:
            st.info("No diagnosis in the cohort contains these words.")
            return
        filters: dict = {}
        if sex:
            filters["sex"] = sex
        if diagnoses is not None:
            filters["diagnosis"] = diagnoses
        patients = everyone if diagnoses is None else access.cohort_patients(db, user, **filters)
        params = access.cohort_parameters(db, user, **filters)

        st.subheader(f"Patients ({len(patients)})")
        st.dataframe(patients, hide_index=True, width="stretch", key="cohort_patients_table")

        st.subheader("Groups")
        names = sorted(params["parameter"].unique()) if len(params) else []
        if not names:
            st.info("No gait parameters stored for these patients.")
        else:
            g1, g2 = st.columns(2)
            parameter = g1.selectbox("Parameter", names, key="cohort_parameter",
                                     index=names.index("speed") if "speed" in names else 0)
            by = g2.selectbox("Group by", list(GROUPS), format_func=GROUPS.get, key="cohort_group_by")
            values = per_analysis(params, parameter)
            summary = group_summary(values, by)
            unit = str(values["unit"].iloc[0]) if "unit" in values and len(values) else ""
            st.dataframe(summary.rename(columns={"group": GROUPS[by]}), hide_index=True, width="stretch",
                         key="cohort_summary_table")
            st.caption("One value per analysis (left and right averaged); n = analyses; SD and the 95 % "
                       "confidence interval of the mean (Student's t) need two or more analyses in a group.")
            st.plotly_chart(_group_figure(values, summary, by, parameter, unit), key="cohort_group_plot",
                            width="stretch")
            st.download_button("Download group summary (CSV)", data=summary.to_csv(index=False, float_format="%.6g"),
                               file_name=f"gaitscope_cohort_{parameter}_by_{by}.csv", mime="text/csv",
                               key="cohort_summary_download")

        st.subheader(f"Gait parameters ({len(params)} rows)")
        st.dataframe(params, hide_index=True, width="stretch", key="cohort_parameters_table")
        st.download_button("Download parameters (CSV)", data=params.to_csv(index=False, float_format="%.6g"),
                           file_name="gaitscope_cohort_parameters.csv", mime="text/csv", key="cohort_download")
        with st.expander("The same query in a notebook"):
            st.code(notebook_call("sqlite:///gaitscope.db" if db_url().startswith("sqlite") else "<database URL>",
                                  diagnoses, sex or None), language="python")
