"""Cohort research API: the clinical database as tidy pandas DataFrames, without identifying data.

    import gaitscope.db.cohort as cohort
    pd_elderly = cohort.load("sqlite:///gaitscope.db").patients(diagnosis="PD", age=(60, 80), sex="F")
    params = pd_elderly.gait_parameters()            # one row per analysis x parameter x side
    X, keys = pd_elderly.embeddings()                # (N, D) pooled embeddings + who/when they belong to
    speed = pd_elderly.longitudinal("walking_speed") # a patient's values across visits

Rules that protect researchers from common mistakes:

* **No identities.** Queries never touch ``patient_identity`` (names, hospital numbers) nor free-text notes
  (``patient.notes``, ``visit.notes``), which may contain names; patients appear by pseudonymous code only.
* **One analysis per recording** by default: the newest one (highest id) among those matching
  :meth:`Cohort.versions`. A recording re-analyzed with a new model version would otherwise count twice.
  ``Cohort.all_analyses()`` lifts this when comparing model versions on purpose.
* **Age is age at the visit** (visit year - birth year), so an ``age=(60, 80)`` filter keeps the visits at
  which the patient was 60-80 years old; patients without a birth year are excluded by an age filter.
* Filters are immutable: every filter method returns a new :class:`Cohort`, so cohorts can be branched.

This module is for people who may read the database directly (exact ages included). Signed-in researchers of
the web application reach the cohort through :func:`gaitscope.db.access.cohort_parameters` and friends, which
pseudonymise the tables and widen age filters to the same 5-year bands they show, so ``age=(64, 64)`` cannot
give exact ages back one query at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, extract, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import aliased

from gaitscope.db.arrays import decode_array, decode_bundle
from gaitscope.db.engine import Database, open_database
from gaitscope.db.models import (
    Analysis,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    Patient,
    PredictionRow,
    Recording,
    StrideRow,
    Visit,
)
from gaitscope.db.translate import translate
from gaitscope.errors import DatabaseError

#: Columns identifying one analysis in every table the API returns (in this order).
KEY_COLUMNS = (
    "patient_code", "sex", "age", "diagnosis", "updrs_iii", "updrs_gait", "site", "visit_id", "visit_date",
    "recording_id", "analysis_id", "model_name", "model_version", "analysis_version",
)


def _as_tuple(x: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if x is None:
        return None
    return (x,) if isinstance(x, str) else tuple(x)


@dataclass(frozen=True)
class _Filters:
    diagnosis: tuple[str, ...] | None = None
    sex: tuple[str, ...] | None = None
    site: tuple[str, ...] | None = None
    codes: tuple[str, ...] | None = None
    age: tuple[float | None, float | None] | None = None
    updrs_gait: tuple[int | None, int | None] | None = None
    start: date | None = None
    end: date | None = None
    model_version: str | None = None
    analysis_version: str | None = None
    latest_only: bool = True


class Cohort:
    """A filtered view of the database. Build it with :func:`load`, narrow it with :meth:`patients`."""

    def __init__(self, db: Database, filters: _Filters | None = None) -> None:
        self.db = db
        self._f = filters or _Filters()

    # ----------------------------------------------------------------------------------------- filters

    def patients(
        self,
        *,
        diagnosis: str | Sequence[str] | None = None,
        age: tuple[float | None, float | None] | None = None,
        sex: str | Sequence[str] | None = None,
        site: str | Sequence[str] | None = None,
        codes: Sequence[str] | None = None,
        updrs_gait: tuple[int | None, int | None] | None = None,
    ) -> Cohort:
        """Narrow to patients by diagnosis (exact, case-insensitive), age at visit (inclusive range, either end
        None), sex (F/M/X), site, explicit codes, or UPDRS gait item range. Unset arguments keep earlier filters."""
        f = self._f
        changes: dict = {}
        if diagnosis is not None:
            changes["diagnosis"] = tuple(d.lower() for d in _as_tuple(diagnosis))  # type: ignore[union-attr]
        if sex is not None:
            changes["sex"] = tuple(s.upper()[:1] for s in _as_tuple(sex))  # type: ignore[union-attr]
        if site is not None:
            changes["site"] = _as_tuple(site)
        if codes is not None:
            changes["codes"] = tuple(codes)
        if age is not None:
            changes["age"] = tuple(age)
        if updrs_gait is not None:
            changes["updrs_gait"] = tuple(updrs_gait)
        return Cohort(self.db, replace(f, **changes))

    def visits(self, *, start: date | None = None, end: date | None = None) -> Cohort:
        """Keep visits dated within [start, end] (inclusive)."""
        return Cohort(self.db, replace(self._f, start=start, end=end))

    def versions(self, *, model_version: str | None = None, analysis_version: str | None = None) -> Cohort:
        """Keep analyses made with these model / analysis versions."""
        return Cohort(self.db, replace(self._f, model_version=model_version, analysis_version=analysis_version))

    def all_analyses(self) -> Cohort:
        """Keep every analysis of each recording (e.g. to compare model versions), not only the newest."""
        return Cohort(self.db, replace(self._f, latest_only=False))

    # ----------------------------------------------------------------------------------------- queries

    def _age(self):  # noqa: ANN202
        return extract("year", Visit.visit_date) - Patient.birth_year

    def _keys(self) -> Select:
        """SELECT of the key columns over analysis/recording/visit/patient, with every filter applied."""
        f = self._f
        q = (
            select(
                Patient.code.label("patient_code"), Patient.sex.label("sex"), self._age().label("age"),
                Patient.diagnosis.label("diagnosis"), Patient.updrs_iii.label("updrs_iii"),
                Patient.updrs_gait.label("updrs_gait"), Patient.site.label("site"), Visit.id.label("visit_id"),
                Visit.visit_date.label("visit_date"), Recording.id.label("recording_id"),
                Analysis.id.label("analysis_id"), Analysis.model_name.label("model_name"),
                Analysis.model_version.label("model_version"), Analysis.analysis_version.label("analysis_version"),
            )
            .select_from(Analysis)
            .join(Recording, Recording.id == Analysis.recording_id)
            .join(Visit, Visit.id == Recording.visit_id)
            .join(Patient, Patient.id == Visit.patient_id)
        )
        conds = []
        if f.diagnosis is not None:
            conds.append(func.lower(Patient.diagnosis).in_(f.diagnosis))
        if f.sex is not None:
            conds.append(Patient.sex.in_(f.sex))
        if f.site is not None:
            conds.append(Patient.site.in_(f.site))
        if f.codes is not None:
            conds.append(Patient.code.in_(f.codes))
        if f.age is not None:
            lo, hi = f.age
            conds.append(Patient.birth_year.is_not(None))
            if lo is not None:
                conds.append(self._age() >= lo)
            if hi is not None:
                conds.append(self._age() <= hi)
        if f.updrs_gait is not None:
            lo, hi = f.updrs_gait
            conds.append(Patient.updrs_gait.is_not(None))
            if lo is not None:
                conds.append(Patient.updrs_gait >= lo)
            if hi is not None:
                conds.append(Patient.updrs_gait <= hi)
        if f.start is not None:
            conds.append(Visit.visit_date >= f.start)
        if f.end is not None:
            conds.append(Visit.visit_date <= f.end)
        a2 = aliased(Analysis)  # an alias keeps the "newest per recording" subquery uncorrelated
        if f.model_version is not None:
            conds.append(Analysis.model_version == f.model_version)
        if f.analysis_version is not None:
            conds.append(Analysis.analysis_version == f.analysis_version)
        if f.latest_only:
            newest = select(func.max(a2.id)).group_by(a2.recording_id)
            if f.model_version is not None:
                newest = newest.where(a2.model_version == f.model_version)
            if f.analysis_version is not None:
                newest = newest.where(a2.analysis_version == f.analysis_version)
            conds.append(Analysis.id.in_(newest))
        return q.where(and_(*conds)) if conds else q

    def _frame(self, q: Select, raw: bool = False) -> pd.DataFrame:
        """Run a Core SELECT (no ORM) into pandas. ``raw`` reads the DBAPI cursor directly, skipping SQLAlchemy's
        per-row processing (about half the time of a 300k-row query); only for numbers, text and blobs, not JSON
        or dates, whose conversion SQLAlchemy does."""
        try:
            with self.db.engine.connect() as conn:
                res = conn.execute(q)
                rows = res.cursor.fetchall() if raw else res.fetchall()
                df = pd.DataFrame.from_records(rows, columns=list(res.keys()))
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, "Cohort query") from exc
        if "visit_date" in df:
            df["visit_date"] = pd.to_datetime(df["visit_date"])
        if "age" in df:
            df["age"] = pd.to_numeric(df["age"], errors="coerce").astype("Float64")
        return df

    def _detail(self, model, *columns, where=(), order=None, raw: bool = True) -> pd.DataFrame:  # noqa: ANN001
        """Rows of a per-analysis table for the cohort's analyses, with the key columns in front.

        The detail query selects only its own columns (filtered by ``analysis_id IN (cohort)``) and the keys
        are joined in pandas: repeating 14 key columns per row in SQL made large queries several times slower.
        """
        keys = self.analyses()
        ids = self._keys().with_only_columns(Analysis.id)
        q = select(model.analysis_id.label("analysis_id"), *columns).where(model.analysis_id.in_(ids), *where)
        q = q.order_by(model.analysis_id, order if order is not None else model.id)
        detail = self._frame(q, raw=raw)
        return keys.merge(detail, on="analysis_id", how="inner")

    def analyses(self) -> pd.DataFrame:
        """One row per analysis in the cohort: the key columns."""
        return self._frame(self._keys().order_by(Patient.code, Visit.visit_date, Analysis.id))

    def patient_table(self) -> pd.DataFrame:
        """One row per patient who has at least one analysis in the cohort (no identities, no notes)."""
        keys = self._keys().subquery("k")
        q = (
            select(
                Patient.code.label("patient_code"), Patient.sex, Patient.birth_year, Patient.height_cm,
                Patient.diagnosis, Patient.updrs_iii, Patient.updrs_gait, Patient.site,
                func.count(func.distinct(keys.c.visit_id)).label("n_visits"),
                func.count(keys.c.analysis_id).label("n_analyses"),
            )
            .join(keys, keys.c.patient_code == Patient.code)
            .group_by(Patient.id)
            .order_by(Patient.code)
        )
        return self._frame(q)

    def gait_parameters(
        self, parameters: str | Sequence[str] | None = None, side: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Tidy parameters: one row per analysis x parameter x side (value NaN where not measurable)."""
        where = []
        if parameters is not None:
            where.append(GaitParameter.name.in_(_as_tuple(parameters)))
        if side is not None:
            where.append(GaitParameter.side.in_(_as_tuple(side)))
        df = self._detail(
            GaitParameter, GaitParameter.name.label("parameter"), GaitParameter.side, GaitParameter.value,
            GaitParameter.unit, GaitParameter.sd, GaitParameter.cv_pct, GaitParameter.n.label("n_strides"),
            GaitParameter.normal_low, GaitParameter.normal_high, GaitParameter.flag, where=where,
        )
        for c in ("value", "sd", "cv_pct", "normal_low", "normal_high"):
            df[c] = df[c].astype(float)
        return df

    def parameter_matrix(self, side: str | Sequence[str] = "both") -> pd.DataFrame:
        """Wide table for statistics / machine learning: one row per analysis, one column per
        ``parameter`` (side "both") or ``parameter_L`` / ``parameter_R``; key columns first."""
        keys = self.analyses()
        where = [GaitParameter.side.in_(_as_tuple(side))]
        ids = self._keys().with_only_columns(Analysis.id)
        q = select(GaitParameter.analysis_id, GaitParameter.name, GaitParameter.side, GaitParameter.value).where(
            GaitParameter.analysis_id.in_(ids), *where)
        long = self._frame(q, raw=True)
        if long.empty:
            return keys
        long["column"] = np.where(long["side"] == "both", long["name"], long["name"] + "_" + long["side"])
        long["value"] = long["value"].astype(float)
        # (analysis, name, side) is UNIQUE in the schema, so a plain pivot (much faster than pivot_table) is safe
        wide = long.pivot(index="analysis_id", columns="column", values="value")
        wide.columns.name = None
        return keys.merge(wide, left_on="analysis_id", right_index=True, how="inner")

    def curves(self, names: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Tidy curves: one row per analysis x curve x side x percent of gait cycle (101 points)."""
        where = [] if names is None else [GaitCurveRow.name.in_(_as_tuple(names))]
        rows = self._detail(GaitCurveRow, GaitCurveRow.name.label("curve"), GaitCurveRow.side, GaitCurveRow.unit,
                            GaitCurveRow.n_strides, GaitCurveRow.arrays, where=where)
        cols = list(KEY_COLUMNS) + ["curve", "side", "unit", "n_strides", "pct", "mean", "sd", "normal_mean", "normal_sd"]
        if rows.empty:
            return pd.DataFrame(columns=cols)
        parts = []
        for blob in rows.pop("arrays"):
            b = decode_bundle(blob)
            n = len(b["pct"])
            parts.append(
                {
                    "pct": b["pct"], "mean": b["mean"], "sd": b["sd"],
                    "normal_mean": b.get("normal_mean", np.full(n, np.nan)),
                    "normal_sd": b.get("normal_sd", np.full(n, np.nan)),
                }
            )
        lengths = np.array([len(p["pct"]) for p in parts])
        out = rows.loc[rows.index.repeat(lengths)].reset_index(drop=True)
        for c in ("pct", "mean", "sd", "normal_mean", "normal_sd"):
            out[c] = np.concatenate([p[c] for p in parts]).astype(float)
        return out[cols]

    def strides(self) -> pd.DataFrame:
        """The per-stride tables of every analysis, stacked (one row per stride)."""
        df = self._detail(
            StrideRow, StrideRow.idx.label("stride"), StrideRow.side, StrideRow.start_frame, StrideRow.end_frame,
            StrideRow.stride_time_s, StrideRow.stride_length_m, StrideRow.step_time_s, StrideRow.step_length_m,
            StrideRow.stance_pct, StrideRow.swing_pct, StrideRow.double_support_pct, StrideRow.step_width_m,
            StrideRow.speed_m_s, StrideRow.toe_off_frame, order=StrideRow.idx,
        )
        for c in ("stride_time_s", "stride_length_m", "step_time_s", "step_length_m", "stance_pct", "swing_pct",
                  "double_support_pct", "step_width_m", "speed_m_s"):
            df[c] = df[c].astype(float)  # NULL (not measurable) -> NaN
        df["toe_off_frame"] = df["toe_off_frame"].astype("Int64")
        return df

    def events(self) -> pd.DataFrame:
        """Heel strikes and toe offs of every analysis (one row per event)."""
        return self._detail(GaitEventRow, GaitEventRow.side, GaitEventRow.kind, GaitEventRow.frame,
                            GaitEventRow.time_s, GaitEventRow.quality, order=GaitEventRow.idx)

    def embeddings(
        self, *, model_name: str | None = None, model_version: str | None = None
    ) -> tuple[np.ndarray, pd.DataFrame]:
        """Pooled motion embeddings as an (N, D) float32 array, with a keys DataFrame whose row i describes X[i].

        All embeddings must share one dimension; when several embedding models are stored, pick one with
        ``model_name`` / ``model_version``.
        """
        where = []
        if model_name is not None:
            where.append(Embedding.model_name == model_name)
        if model_version is not None:
            where.append(Embedding.model_version == model_version)
        df = self._detail(Embedding, Embedding.model_name.label("embedding_model"),
                          Embedding.model_version.label("embedding_version"), Embedding.dim, Embedding.pooled,
                          where=where)
        if df.empty:
            return np.zeros((0, 0), dtype=np.float32), df.drop(columns=["pooled"])
        dims = sorted(set(df["dim"]))
        if len(dims) > 1:
            models = sorted(set(zip(df["embedding_model"], df["embedding_version"])))
            raise DatabaseError(
                f"The cohort mixes embeddings of different sizes {dims} from models {models}.",
                hint="Choose one with embeddings(model_name=..., model_version=...).",
            )
        X = np.stack([decode_array(b).astype(np.float32) for b in df.pop("pooled")])  # type: ignore[union-attr]
        return X, df.reset_index(drop=True)

    def predictions(self) -> pd.DataFrame:
        """Classifier outputs: one row per analysis x head, with a ``p_<class>`` column per class."""
        df = self._detail(PredictionRow, PredictionRow.head_name, PredictionRow.head_version,
                          PredictionRow.feature_set, PredictionRow.predicted, PredictionRow.confidence,
                          PredictionRow.classes, PredictionRow.probabilities, raw=False)  # JSON columns
        if df.empty:
            return df.drop(columns=["classes", "probabilities"])
        probs = [dict(zip(c, p)) for c, p in zip(df.pop("classes"), df.pop("probabilities"))]
        p = pd.DataFrame(probs, index=df.index).add_prefix("p_")
        return pd.concat([df, p], axis=1)

    def longitudinal(self, parameter: str, side: str = "both") -> pd.DataFrame:
        """A parameter across visits for each patient: one row per patient x visit (mean over that visit's
        recordings), sorted by date, with ``days_since_first`` and ``change_from_first``."""
        df = self.gait_parameters(parameters=parameter, side=side)
        cols = ["patient_code", "visit_date", "age", "diagnosis", "parameter", "side", "unit", "value",
                "n_recordings", "days_since_first", "change_from_first"]
        if df.empty:
            return pd.DataFrame(columns=cols)
        g = (
            df.groupby(["patient_code", "visit_date", "parameter", "side", "unit"], dropna=False)
            .agg(value=("value", "mean"), n_recordings=("recording_id", "nunique"), age=("age", "first"),
                 diagnosis=("diagnosis", "first"))
            .reset_index()
            .sort_values(["patient_code", "visit_date"])
        )
        first = g.groupby("patient_code")["visit_date"].transform("min")
        g["days_since_first"] = (g["visit_date"] - first).dt.days
        g["change_from_first"] = g["value"] - g.groupby("patient_code")["value"].transform("first")
        return g[cols].reset_index(drop=True)

    def __repr__(self) -> str:
        set_filters = {k: v for k, v in vars(self._f).items() if v is not None and k != "latest_only"}
        return f"Cohort({self.db.url!r}, {set_filters})"


def load(db: str | Database | None = None) -> Cohort:
    """Open a cohort over the whole database at ``db`` (a URL, an open Database, or the default database).

    The schema must be at the current version (a research session never upgrades a clinical database).
    """
    database = db if isinstance(db, Database) else open_database(db)
    return Cohort(database)
