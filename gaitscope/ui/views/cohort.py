"""Research cohort (researchers only): pseudonymised tables, never names, videos, file names or notes.

Everything on this page comes from :func:`gaitscope.db.access.cohort_patients` and
:func:`~gaitscope.db.access.cohort_parameters`, which refuse every other role and coarsen quasi-identifiers
(5-year age bands, visit years); this page adds no column of its own.
"""

from __future__ import annotations

import streamlit as st

from gaitscope.ui import data
from gaitscope.ui.components import db_url, guarded, show_flash, signed_in_user, user_errors

_SEXES = {"": "any", "F": "female", "M": "male", "X": "other / not stated"}


def _filters() -> dict:
    c1, c2 = st.columns(2)
    sex = c1.selectbox("Sex", list(_SEXES), format_func=_SEXES.get, key="cohort_sex")
    diagnosis = c2.text_input("Diagnosis (exact, case-insensitive; empty: all)", key="cohort_diagnosis",
                              max_chars=200)
    filters: dict = {}
    if sex:
        filters["sex"] = sex
    if diagnosis.strip():
        filters["diagnosis"] = diagnosis.strip()
    return filters


@guarded
def render() -> None:
    user = signed_in_user()
    st.title("Research cohort")
    show_flash()
    data.require_role(user, ("researcher",), "query the research cohort")
    st.caption("Pseudonymised: patient codes only, ages in 5-year bands, visit years instead of dates. "
               "Every query is recorded in the audit log.")
    filters = _filters()
    db = data.database(db_url())
    from gaitscope.db import access

    with user_errors("The cohort could not be read"):
        patients = access.cohort_patients(db, user, **filters)
        st.subheader(f"Patients ({len(patients)})")
        st.dataframe(patients, hide_index=True, width="stretch", key="cohort_patients_table")
        params = access.cohort_parameters(db, user, **filters)
        st.subheader(f"Gait parameters ({len(params)} rows)")
        st.dataframe(params, hide_index=True, width="stretch", key="cohort_parameters_table")
        st.download_button("Download parameters (CSV)", data=params.to_csv(index=False, float_format="%.6g"),
                           file_name="gaitscope_cohort_parameters.csv", mime="text/csv", key="cohort_download")
