"""A 95 % interval for every parameter and a 95 % band for every joint-angle curve (issue 21 point 1).

Two sources of uncertainty are combined:

(a) **Stride-to-stride spread.** The value is a mean over ``n`` usable strides with standard deviation ``sd``;
    its standard error is ``sd / sqrt(n)`` and the 95 % half-width ``t(0.975, n - 1) * sd / sqrt(n)`` (Student's
    t interval of a mean). With fewer than 2 strides there is no spread to measure and this part is absent.

(b) **The model's own error.** Video goes through BlazePose, the lifter and the analysis; the error of that path
    (test - reference) was measured on video of real motion (``benchmarks/video_accuracy.py``: held-out
    motion-capture trials rendered as film and compared with the markers and force plates of the same trials),
    per view class, parameter and leg (near/far). Its spread ``s`` over ``m`` cases gives the prediction
    half-width for a new recording, ``t(0.975, m - 1) * s * sqrt(1 + 1/m)``. The fitted numbers ship as
    ``gaitscope/data/error_model.csv`` (provenance in its header; ``benchmarks/error_model.py`` refits it).

The two half-widths are added in quadrature (independent errors). For motion capture (no camera) part (b) is 0:
the markers are the reference. A parameter or view the evaluation did not measure gets part (a) only, and its
``ci_note`` says so.

**Bias: widened, not corrected.** The evaluation also measures a signed bias ``b`` (e.g. side-view stride length
reads short). The reported value is never shifted: a clinician must see the number that was measured, and a
correction learned on 11 trials of mostly healthy adults need not hold for this patient. Instead the interval is
stretched towards the corrected value: ``[min(v, v - b) - h, max(v, v - b) + h]``. It therefore contains both the
measured value and the value the evaluation says is more likely, and is asymmetric where the bias is large (the
``ci_note`` gives the bias). An interval is cut where no walk can be (:func:`physical_limits`).

Calibration (``docs/validation.md``): fitted on some trials, the intervals are checked on the others (leave one
trial out); they must cover the reference in 90-98 % of cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from gaitscope.records import (
    ErrorModel,
    GaitCurve,
    GaitReport,
    ModelError,
    ParameterSummary,
    RecordingQuality,
)

ERROR_MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "error_model.csv"
LEVEL = 0.95
#: an error model entry needs this many evaluation cases (fewer: its spread is not estimated well enough)
MIN_CASES = 4
NO_CAMERA = "no camera"
_COLUMNS = ["kind", "view", "name", "leg", "unit", "bias", "sd", "n_cases"]


# ---------------------------------------------------------------------------------------------------------
# Loading and fitting the error model
# ---------------------------------------------------------------------------------------------------------


def read_error_model(path: str | Path) -> ErrorModel:
    """The error model of a CSV file written by :func:`write_error_model` (``#`` lines are its provenance)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    prov = tuple(ln[1:].strip() for ln in lines if ln.startswith("#"))
    df = pd.read_csv(path, comment="#")
    entries = tuple(ModelError(kind=str(r.kind), view=str(r.view), name=str(r.name), leg=str(r.leg),
                               unit=str(r.unit), bias=float(r.bias), sd=float(r.sd), n_cases=int(r.n_cases))
                    for r in df.itertuples(index=False))
    return ErrorModel(entries=entries, provenance=prov)


@lru_cache(maxsize=1)
def shipped_error_model() -> ErrorModel:
    """The shipped error model (an empty one when the file is absent: intervals then hold the stride spread
    only, and say so)."""
    if not ERROR_MODEL_PATH.exists():
        return ErrorModel(entries=())
    return read_error_model(ERROR_MODEL_PATH)


def write_error_model(model: ErrorModel, path: str | Path) -> None:
    """Write ``model`` as CSV, its provenance as ``#`` lines at the top."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([[e.kind, e.view, e.name, e.leg, e.unit, e.bias, e.sd, e.n_cases] for e in model.entries],
                      columns=_COLUMNS)
    head = "".join(f"# {ln}\n" for ln in model.provenance)
    path.write_text(head + df.to_csv(index=False, float_format="%.6g"), encoding="utf-8")


def fit_error_model(rows: pd.DataFrame, kind: str = "parameter", provenance: Iterable[str] = ()) -> ErrorModel:
    """Bias and spread of ``value - reference`` per (view, name, leg) over the evaluation's cases.

    ``rows``: :func:`gaitscope.training.video_eval.parameter_rows` (``kind="parameter"``) or ``curve_rows``
    (``kind="curve"``: every % of the cycle of a case pooled; the number of cases, not of points, sets the t
    quantile, since the points of one curve are not independent). A group with fewer than :data:`MIN_CASES`
    cases is left out."""
    entries = []
    if rows.empty:
        return ErrorModel(entries=(), provenance=tuple(provenance))
    err = rows["value"].to_numpy(float) - rows["reference"].to_numpy(float)
    df = rows.assign(err=err)[np.isfinite(err)]
    for (view, name, leg), g in df.groupby(["view", "name", "leg"], sort=True):
        m = g["case"].nunique()
        if m < MIN_CASES:
            continue
        e = g["err"].to_numpy(float)
        entries.append(ModelError(kind=kind, view=str(view), name=str(name), leg=str(leg), unit=str(g["unit"].iloc[0]),
                                  bias=float(e.mean()), sd=float(e.std(ddof=1)), n_cases=int(m)))
    return ErrorModel(entries=tuple(entries), provenance=tuple(provenance))


# ---------------------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------------------


def stride_half_width(sd: float | np.ndarray, n: int | np.ndarray) -> float | np.ndarray:
    """Half-width of the t interval of a mean of ``n`` strides with SD ``sd`` (NaN with fewer than 2)."""
    sd = np.asarray(sd, float)
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.where(n >= 2, stats.t.ppf(0.5 + LEVEL / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1)),
                     np.nan)
    return float(h) if h.ndim == 0 else h


def model_half_width(entry: ModelError) -> float:
    """Prediction half-width of the model's error for a new recording (t with ``n_cases - 1`` df)."""
    m = entry.n_cases
    return float(stats.t.ppf(0.5 + LEVEL / 2, m - 1) * entry.sd * math.sqrt(1.0 + 1.0 / m))


def leg_key(side: str, quality: RecordingQuality | None) -> str:
    """The error model's leg of a parameter's side in this recording's view."""
    if side not in ("L", "R"):
        return "both"
    if quality is not None and quality.view in ("side", "oblique") and quality.near_leg in ("L", "R"):
        return "near" if side == quality.near_leg else "far"
    return side


#: what a real walk allows: an interval is cut at these limits (a symmetry ratio below 1, a negative stride
#: length or a stance above 100 % is no possible truth); names not listed, and step width, are not cut
_PERCENT = ("stance_pct", "swing_pct", "double_support_pct")
_NON_NEGATIVE = ("cadence", "speed", "stride_time", "step_time", "stride_length", "step_length", "knee_rom",
                 "hip_rom", "arm_swing", "gps")


def physical_limits(name: str) -> tuple[float, float]:
    """(lowest, highest) possible value of a parameter."""
    if name.endswith("_symmetry_ratio"):
        return 1.0, math.inf
    if name.endswith("_cv"):
        return 0.0, math.inf
    if name in _PERCENT:
        return 0.0, 100.0
    if name in _NON_NEGATIVE:
        return 0.0, math.inf
    return -math.inf, math.inf


def model_entry(model: ErrorModel, kind: str, view: str, name: str, leg: str) -> ModelError | None:
    """The error model's entry for one leg, else (a per-leg value with too few evaluation cases of its own, e.g.
    one leg's variability) the entry of both feet in the same view: the nearest measured error, noted as such."""
    return model.get(kind, view, name, leg) or (model.get(kind, view, name, "both") if leg != "both" else None)


def _combine(value, half_s, entry: ModelError | None, name: str = ""):
    """(low, high) of ``value`` (scalar or array) from the stride half-width (NaN = absent) and a model entry,
    cut at the parameter's :func:`physical_limits`."""
    hs = np.nan_to_num(np.asarray(half_s, float), nan=0.0)
    hm = model_half_width(entry) if entry is not None else 0.0
    h = np.sqrt(hs ** 2 + hm ** 2)
    bias = entry.bias if entry is not None else 0.0
    v = np.asarray(value, float)
    lowest, highest = physical_limits(name)
    return np.maximum(np.minimum(v, v - bias) - h, lowest), np.minimum(np.maximum(v, v - bias) + h, highest)


def parameter_interval(p: ParameterSummary, quality: RecordingQuality | None,
                       model: ErrorModel) -> tuple[float, float, str]:
    """``(ci_low, ci_high, note)`` of one parameter (NaN, NaN when neither part is known)."""
    if not math.isfinite(p.value):
        return float("nan"), float("nan"), "not measured"
    view = quality.view if quality is not None else NO_CAMERA
    half_s = stride_half_width(p.sd, p.n) if math.isfinite(p.sd) else float("nan")
    leg = leg_key(p.side, quality)
    entry = None if view == NO_CAMERA else model_entry(model, "parameter", view, p.name, leg)
    parts = []
    if math.isfinite(half_s):
        parts.append(f"stride spread ({p.n} strides)")
    if entry is not None:
        both = " (both feet)" if entry.leg != leg else ""
        parts.append(f"{view}-view error of the video path{both} (bias {entry.bias:+.3g} {p.unit}, SD "
                     f"{entry.sd:.3g}, {entry.n_cases} evaluation cases)")
    if not math.isfinite(half_s) and entry is None:
        why = "fewer than 2 strides"
        if view != NO_CAMERA:
            why += f" and the video path's error was not measured for this parameter in a {view} view"
        return float("nan"), float("nan"), "no interval: " + why
    if entry is None and view != NO_CAMERA:
        parts.append(f"the video path's error was not measured for this parameter in a {view} view: too narrow")
    lo, hi = _combine(p.value, half_s, entry, p.name)
    return float(lo), float(hi), "; ".join(parts)


def curve_band(c: GaitCurve, quality: RecordingQuality | None,
               model: ErrorModel) -> tuple[np.ndarray | None, np.ndarray | None]:
    """95 % band of a curve per % of cycle (None when neither part is known)."""
    view = quality.view if quality is not None else NO_CAMERA
    half_s = stride_half_width(np.asarray(c.sd, float), c.n_strides)
    entry = None if view == NO_CAMERA else model_entry(model, "curve", view, c.name, leg_key(c.side, quality))
    if entry is None and not np.isfinite(half_s).any():
        return None, None
    lo, hi = _combine(np.asarray(c.mean, float), half_s, entry)
    return lo, hi


def apply_intervals(report: GaitReport, model: ErrorModel | None = None) -> GaitReport:
    """``report`` with ``ci_low``/``ci_high`` on every parameter and a band on every curve, for the recording's
    view (``report.quality``, set by :func:`gaitscope.analysis.reliability.apply_reliability`)."""
    model = model if model is not None else shipped_error_model()
    q = report.quality
    params = []
    for p in report.parameters:
        lo, hi, note = parameter_interval(p, q, model)
        same = _same(p.ci_low, lo) and _same(p.ci_high, hi) and p.ci_note == note
        params.append(p if same else replace(p, ci_low=lo, ci_high=hi, ci_note=note))
    curves = []
    for c in report.curves:
        lo, hi = curve_band(c, q, model)
        same = _same(c.ci_low, lo) and _same(c.ci_high, hi)
        curves.append(c if same else replace(c, ci_low=lo, ci_high=hi))
    return replace(report, parameters=tuple(params), curves=tuple(curves))


def _same(a, b) -> bool:
    """Equal values (NaN equal to NaN; None only to None): an unchanged record is kept as it is, so applying the
    intervals again gives an equal report (stored reports are graded again on every load)."""
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True))


# ---------------------------------------------------------------------------------------------------------
# Calibration: fit on some trials, check on the others
# ---------------------------------------------------------------------------------------------------------


def _intervals(rows: pd.DataFrame, model: ErrorModel, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of every row of :func:`gaitscope.training.video_eval.parameter_rows`/``curve_rows`` under
    ``model`` (the same arithmetic as :func:`parameter_interval`, vectorised)."""
    entries = [model_entry(model, kind, v, nm, lg) for v, nm, lg in zip(rows["view"], rows["name"], rows["leg"])]
    bias = np.array([e.bias if e else 0.0 for e in entries], float)
    hm = np.array([model_half_width(e) if e else 0.0 for e in entries], float)
    has_model = np.array([e is not None for e in entries], bool)
    hs = np.asarray(stride_half_width(rows["sd"].to_numpy(float), rows["n"].to_numpy(float)), float)
    h = np.sqrt(np.nan_to_num(hs, nan=0.0) ** 2 + hm ** 2)
    v = rows["value"].to_numpy(float)
    ok = has_model | np.isfinite(hs)
    limits = np.array([physical_limits(nm) if kind == "parameter" else (-math.inf, math.inf)
                       for nm in rows["name"]], float).reshape(-1, 2)
    lo = np.where(ok, np.maximum(np.minimum(v, v - bias) - h, limits[:, 0]), np.nan)
    hi = np.where(ok, np.minimum(np.maximum(v, v - bias) + h, limits[:, 1]), np.nan)
    return lo, hi


def leave_one_trial_out(rows: pd.DataFrame, kind: str = "parameter") -> pd.DataFrame:
    """``rows`` with ``ci_low``, ``ci_high`` and ``covered`` (the reference inside the interval), each trial's
    intervals from an error model fitted on the other trials only (never on what is checked). ``has_ci`` is
    False where a row gets no interval."""
    out = []
    for trial, test in rows.groupby("trial", sort=True):
        model = fit_error_model(rows[rows["trial"] != trial], kind)
        lo, hi = _intervals(test, model, kind)
        ref = test["reference"].to_numpy(float)
        out.append(test.assign(ci_low=lo, ci_high=hi, has_ci=np.isfinite(lo) & np.isfinite(hi),
                               covered=(lo <= ref) & (ref <= hi)))
    return pd.concat(out, ignore_index=True) if out else rows.assign(ci_low=[], ci_high=[], has_ci=[], covered=[])


def coverage_table(checked: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Coverage (%) and number of intervals per group of :func:`leave_one_trial_out` rows that have one."""
    c = checked[checked["has_ci"]]
    g = c.groupby(by, sort=True)["covered"]
    return pd.DataFrame({"n": g.size(), "coverage_pct": 100.0 * g.mean()}).reset_index()


__all__ = ["ERROR_MODEL_PATH", "LEVEL", "apply_intervals", "coverage_table", "curve_band", "fit_error_model",
           "leave_one_trial_out", "leg_key", "model_entry", "model_half_width", "parameter_interval", "read_error_model",
           "shipped_error_model", "stride_half_width", "write_error_model"]
