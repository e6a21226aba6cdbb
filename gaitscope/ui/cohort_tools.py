"""Research cohort helpers without Streamlit: a forgiving diagnosis filter, group summaries with confidence
intervals, and the notebook call that gives the same table (:mod:`gaitscope.db.cohort`).

The page's data still comes only from :func:`gaitscope.db.access.cohort_patients` / ``cohort_parameters``
(pseudonymised, researchers only); these functions work on those tables and add no column of identity.
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats

#: the columns a researcher may group by, with their labels
GROUPS = {"diagnosis": "Diagnosis", "updrs_gait": "Severity (UPDRS-III gait item)", "age_band": "Age band",
          "sex": "Sex"}
SUMMARY_COLUMNS = ["group", "n_patients", "n", "mean", "sd", "ci95_low", "ci95_high"]


def match_diagnoses(query: str, diagnoses: Iterable[str | None]) -> list[str] | None:
    """The stored diagnoses that contain every word of ``query``, ignoring case ("parkinson" finds
    "Parkinson's disease"; "disease park" too). None for an empty query (no filter); [] when nothing matches."""
    words = [w for w in re.split(r"\s+", query.strip().lower()) if w]
    if not words:
        return None
    known = sorted({d for d in diagnoses if isinstance(d, str) and d})
    return [d for d in known if all(w in d.lower() for w in words)]


def per_analysis(params: pd.DataFrame, parameter: str) -> pd.DataFrame:
    """One value of ``parameter`` per analysis (the mean of its sides when left and right are stored), with the
    patient's columns; the unit of observation of the group summary."""
    rows = params[params["parameter"] == parameter]
    if rows.empty:
        return rows.assign(value=pd.Series(dtype=float))
    keys = [c for c in ("analysis_id", "patient_code", "diagnosis", "updrs_gait", "age_band", "sex", "unit")
            if c in rows.columns]
    return rows.groupby(keys, dropna=False, as_index=False)["value"].mean()


def group_summary(values: pd.DataFrame, by: str, level: float = 0.95) -> pd.DataFrame:
    """n, mean, SD and the ``level`` confidence interval of the mean (Student's t) of ``values`` (from
    :func:`per_analysis`) per group of column ``by``. Groups of one have no SD or interval (NaN)."""
    out = []
    if values.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    groups = values.assign(group=values[by].astype(object).where(values[by].notna(), "not recorded").astype(str))
    for name, g in groups.groupby("group", sort=True):
        v = g["value"].astype(float).dropna().to_numpy()
        n = len(v)
        mean = float(np.mean(v)) if n else np.nan
        sd = float(np.std(v, ddof=1)) if n > 1 else np.nan
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        out.append(dict(group=name, n_patients=int(g["patient_code"].nunique()), n=n, mean=mean, sd=sd,
                        ci95_low=mean - half, ci95_high=mean + half))
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def notebook_call(db_hint: str, diagnoses: list[str] | None, sex: str | None) -> str:
    """The :mod:`gaitscope.db.cohort` call that returns the same rows as the page (before pseudonymisation)."""
    args = []
    if diagnoses is not None:
        args.append(f"diagnosis={diagnoses!r}")
    if sex:
        args.append(f"sex={sex!r}")
    return ("import gaitscope.db.cohort as cohort\n"
            f"c = cohort.load({db_hint!r}).patients({', '.join(args)})\n"
            "params = c.gait_parameters()  # the page shows it pseudonymised (age bands, visit years)")
