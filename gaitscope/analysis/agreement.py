"""Agreement between two analyses of the same walk: a test system (video) against a reference (motion capture).

This is the validation a gait lab runs before it trusts a new measurement system, and what single-camera
systems publish: OpenCap (Uhlrich et al. 2023, PLoS Comput Biol 19:e1011462) reports per-joint angle RMSE and
bias over the gait cycle against marker-based motion capture; Stenum, Rossi & Roemmich 2021 (PLoS Comput Biol
17:e1008935) report sagittal hip/knee/ankle angle errors, gait-event timing errors and spatiotemporal
parameter errors of a 2D pose estimator against 3D motion capture. Across several trials or subjects, the
agreement of a parameter is summarized the way Bland & Altman 1986 (Lancet 327:307, "Statistical methods for
assessing agreement between two methods of clinical measurement") recommend: the mean difference (bias) and
the 95 % limits of agreement (bias +/- 1.96 SD of the differences), rather than a correlation.

Steps, each a pure function of records:

1. :func:`estimate_lag` - the two recordings are not started together; their clocks are aligned by the
   normalised cross-correlation of a signal both contain (joint angles), after resampling to one rate, with
   a parabola through the peak for sub-sample timing;
2. :func:`compare_reports` - angles over the time-normalised gait cycle (strides cut at the REFERENCE heel
   strikes, so event-detection errors of the test system do not leak into its angle errors), event timing
   (each reference event matched to the nearest unused test event of the same foot and kind), and every
   spatiotemporal parameter with its error and percent error;
3. :func:`bland_altman` / :func:`bland_altman_table` - bias and limits of agreement across trials.

Time convention everywhere: ``lag_s`` is what must be ADDED to a test time to get the reference time of the
same instant (``t_ref = t_test + lag_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from scipy.signal import correlate, correlation_lags, find_peaks

from gaitscope.errors import AnalysisError
from gaitscope.records import GaitEvent, GaitReport

PCT = np.linspace(0.0, 100.0, 101)
DEFAULT_MATCH_WINDOW_S = 0.15  # an event further than this from any reference event is not "the same" event
DEFAULT_MIN_SYNC_R = 0.5  # below this the two signals do not look like the same walk
#: Correlation peaks whose Fisher z (artanh r) is within this of the best are a tie, decided by overlap (see
#: :func:`estimate_lag`): about one standard error of z, 1 / sqrt(n - 3), for the ~50 independent samples of
#: 2-3 s of four gait angles.
DEFAULT_SYNC_TIE_Z = 0.15
SYNC_ANGLES: tuple[str, ...] = ("knee_flexion_L", "knee_flexion_R", "hip_flexion_L", "hip_flexion_R")
MAX_STRIDE_S = 2.5  # two heel strikes of one foot further apart than this are not one stride

#: Anatomical plane of each angle (names of :mod:`gaitscope.analysis.kinematics`).
PLANES: dict[str, str] = {
    "hip_flexion": "sagittal", "knee_flexion": "sagittal", "ankle_dorsiflexion": "sagittal",
    "pelvis_tilt": "sagittal", "trunk_tilt": "sagittal", "shoulder_flexion": "sagittal",
    "hip_abduction": "frontal", "pelvis_obliquity": "frontal", "trunk_obliquity": "frontal",
    "pelvis_rotation": "transverse", "foot_progression": "transverse", "elbow_flexion": "3D",
}
#: Parameters that describe variability or symmetry: not compared (they need many strides to mean anything).
_DERIVED = ("_cv", "_symmetry_index", "_symmetry_ratio")


class SyncError(AnalysisError):
    """The test and reference recordings could not be aligned in time (their signals do not match)."""


# ---------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LagEstimate:
    """Result of :func:`estimate_lag`: ``b(t + lag_s) ~ a(t)``; ``r`` is the Pearson correlation at that lag
    over the overlapping part, ``peak`` the normalised cross-correlation value, ``rate_hz`` the common rate."""

    lag_s: float
    r: float
    peak: float
    rate_hz: float
    overlap_s: float


@dataclass(frozen=True)
class AngleAgreement:
    """One angle of one side, test vs reference.

    ``basis`` says how the cycle was cut: "reference events" (force plates or the reference's own events),
    "reference strides" (the reference analysis' strides) or "time series" (no complete stride: frame by
    frame over the overlap). ``rmse_deg``/``bias_deg`` (test - reference) are over all points of all strides
    on that basis; ``rmse_series_deg`` is always the frame-by-frame RMSE over the whole overlap.
    """

    angle: str
    side: str
    plane: str
    basis: str
    n_strides: int
    rmse_deg: float
    bias_deg: float
    mae_deg: float
    max_abs_deg: float
    r: float
    rmse_series_deg: float
    test_mean: np.ndarray  # (101,) mean cycle curve (NaN when basis is "time series")
    ref_mean: np.ndarray


@dataclass(frozen=True)
class EventMatch:
    """One reference event and the test event matched to it (None = missed), or an extra test event
    (``reference_time_s`` NaN). ``error_s`` = test - reference, in the reference clock."""

    side: str
    kind: str
    reference_time_s: float
    test_time_s: float
    error_s: float
    status: str  # "matched", "missed", "extra"


@dataclass(frozen=True)
class EventSummary:
    """Timing agreement of one event kind ("heel_strike", "toe_off" or "all")."""

    kind: str
    n_reference: int
    n_matched: int
    n_missed: int
    n_extra: int
    mean_s: float
    sd_s: float
    mae_s: float
    frame_rate_hz: float  # frames below are of this rate (the test system's)

    @property
    def mean_frames(self) -> float:
        return self.mean_s * self.frame_rate_hz

    @property
    def sd_frames(self) -> float:
        return self.sd_s * self.frame_rate_hz

    @property
    def mae_frames(self) -> float:
        return self.mae_s * self.frame_rate_hz


@dataclass(frozen=True)
class ParameterAgreement:
    """A spatiotemporal parameter: test value vs reference value; ``reference_source`` says where the
    reference came from (the reference motion's analysis, force plates, ...)."""

    name: str
    label: str
    unit: str
    side: str
    test: float
    reference: float
    error: float
    pct_error: float
    reference_source: str


@dataclass(frozen=True)
class AgreementResult:
    """Everything :func:`compare_reports` found for one trial."""

    name: str
    lag_s: float
    sync_r: float
    angles: tuple[AngleAgreement, ...]
    events: tuple[EventMatch, ...]
    event_summary: tuple[EventSummary, ...]
    parameters: tuple[ParameterAgreement, ...]
    test_fps: float
    reference_fps: float
    event_reference: str
    notes: tuple[str, ...] = ()
    extra: Mapping[str, float] = field(default_factory=dict)  # e.g. lifter MPJPE of this trial

    def angles_frame(self) -> pd.DataFrame:
        cols = ["trial", "angle", "side", "plane", "basis", "n_strides", "rmse_deg", "bias_deg", "mae_deg",
                "max_abs_deg", "r", "rmse_series_deg"]
        return pd.DataFrame([[self.name] + [getattr(a, c) for c in cols[1:]] for a in self.angles], columns=cols)

    def events_frame(self) -> pd.DataFrame:
        cols = ["trial", "side", "kind", "reference_time_s", "test_time_s", "error_s", "error_frames", "status"]
        rows = [[self.name, e.side, e.kind, e.reference_time_s, e.test_time_s, e.error_s,
                 e.error_s * self.test_fps, e.status] for e in self.events]
        return pd.DataFrame(rows, columns=cols)

    def event_summary_frame(self) -> pd.DataFrame:
        cols = ["trial", "kind", "n_reference", "n_matched", "n_missed", "n_extra", "mean_s", "sd_s", "mae_s",
                "mean_frames", "sd_frames", "mae_frames", "frame_rate_hz"]
        return pd.DataFrame([[self.name] + [getattr(s, c) for c in cols[1:]] for s in self.event_summary],
                            columns=cols)

    def parameters_frame(self) -> pd.DataFrame:
        cols = ["trial", "name", "label", "unit", "side", "test", "reference", "error", "pct_error",
                "reference_source"]
        return pd.DataFrame([[self.name] + [getattr(p, c) for c in cols[1:]] for p in self.parameters],
                            columns=cols)

    def angle(self, angle: str, side: str) -> AngleAgreement:
        for a in self.angles:
            if a.angle == angle and a.side == side:
                return a
        raise KeyError(f"no angle agreement for {angle!r} side {side!r}")

    def parameter(self, name: str, side: str = "both") -> ParameterAgreement:
        for p in self.parameters:
            if p.name == name and p.side == side:
                return p
        raise KeyError(f"no parameter agreement for {name!r} side {side!r}")

    def summary(self, kind: str = "all") -> EventSummary:
        for s in self.event_summary:
            if s.kind == kind:
                return s
        raise KeyError(kind)


@dataclass(frozen=True)
class BlandAltman:
    """Bland & Altman 1986: ``bias`` = mean(test - reference), limits of agreement ``bias +/- 1.96 SD``.
    ``means``/``diffs`` are the points of the plot (x = mean of the two methods, y = difference)."""

    n: int
    bias: float
    sd: float
    loa_low: float
    loa_high: float
    means: np.ndarray
    diffs: np.ndarray


# ---------------------------------------------------------------------------------------------------------
# Synchronisation
# ---------------------------------------------------------------------------------------------------------


def _as_2d(x: np.ndarray | Sequence) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


def _resample(x: np.ndarray, fps: float, rate: float) -> np.ndarray:
    """Linear resampling of each column onto ``rate`` (NaN kept as NaN where either neighbour is NaN)."""
    t_src = np.arange(len(x)) / fps
    n = int(np.floor(t_src[-1] * rate + 1e-9)) + 1
    t_dst = np.arange(n) / rate
    out = np.empty((n, x.shape[1]))
    for k in range(x.shape[1]):
        col = x[:, k]
        ok = np.isfinite(col)
        if ok.sum() < 2:
            out[:, k] = np.nan
            continue
        out[:, k] = np.interp(t_dst, t_src[ok], col[ok], left=np.nan, right=np.nan)
        # do not bridge long gaps: mark destination samples whose nearest source sample is missing
        nearest = np.clip(np.round(t_dst * fps).astype(int), 0, len(col) - 1)
        out[~ok[nearest], k] = np.nan
    return out


def estimate_lag(
    a: np.ndarray | Sequence,
    b: np.ndarray | Sequence,
    fps_a: float,
    fps_b: float,
    max_lag_s: float = 5.0,
    rate_hz: float | None = None,
    min_overlap: float = 0.6,
    tie_z: float = DEFAULT_SYNC_TIE_Z,
) -> LagEstimate:
    """Time offset between two recordings of one movement: ``lag_s`` such that ``b(t + lag_s) ~ a(t)``.

    ``a`` and ``b`` are ``(T,)`` or ``(T, C)`` signals (the same C channels in both, e.g. knee and hip flexion
    of both legs; NaN allowed). Both are resampled to ``rate_hz`` (default the higher of the two rates). For
    every lag the Pearson correlation of the overlapping samples is computed (channels pooled: covariances
    and variances summed over channels, each channel with its own means over the overlap), from running sums
    obtained with ``scipy.signal.correlate``; lags whose overlap is shorter than ``min_overlap`` of the shorter
    recording are not considered, because a periodic gait signal matches itself one stride later and a short
    overlap can match by chance. Normalising by the overlap (not by the whole signals) matters: when one
    recording starts earlier than the other, the true lag has a partial overlap, and a whole-signal
    normalisation then prefers a wrong lag one or more strides away with a fuller overlap. A parabola through
    the peak and its two neighbours gives sub-sample timing (one frame at 30 fps is 33 ms, about the event
    accuracy that Stenum et al. 2021 report, so whole-frame sync would dominate the error). ``max_lag_s`` bounds
    the search.

    Offsets a stride apart are near-ties for a steady walk: the correlation at each is set by the test system's
    angle error far more than by the walk's stride-to-stride variability (a rendered walk with 3 % step-time CV
    gave 0.966 at the true offset and 0.971 one stride later, with a fifth less overlap). Correlations are
    compared as Fisher's z = artanh(r), whose sampling error does not depend on r (0.998 against 0.983 is a clear
    difference, 0.971 against 0.966 is not). Among the local maxima whose z is within ``tie_z`` of the best, the
    one that overlaps the shorter recording most is taken (the offset under which more of both recordings is
    explained), and the highest r among equal overlaps; a larger difference still decides by itself.
    """
    if not (fps_a > 0 and fps_b > 0):
        raise ValueError("fps_a and fps_b must be positive")
    xa, xb = _as_2d(a), _as_2d(b)
    if xa.shape[1] != xb.shape[1]:
        raise ValueError(f"a has {xa.shape[1]} channels, b has {xb.shape[1]}")
    if len(xa) < 2 or len(xb) < 2:
        raise SyncError("A signal to synchronise has fewer than 2 samples.", "Check both recordings.")
    rate = float(rate_hz or max(fps_a, fps_b))
    ra, rb = _resample(xa, fps_a, rate), _resample(xb, fps_b, rate)
    n_out = len(ra) + len(rb) - 1
    cov = np.zeros(n_out)
    var_a = np.zeros(n_out)
    var_b = np.zeros(n_out)
    count = None
    used = 0

    def xc(u: np.ndarray, v: np.ndarray) -> np.ndarray:  # xc[lag] = sum_n u[n + lag] v[n]
        return correlate(u, v, mode="full", method="auto")

    for k in range(ra.shape[1]):
        ca, cb = ra[:, k], rb[:, k]
        ma, mb = np.isfinite(ca).astype(float), np.isfinite(cb).astype(float)
        if ma.sum() < 3 or mb.sum() < 3 or np.nanstd(ca) == 0 or np.nanstd(cb) == 0:
            continue
        # centre on the global means first: the running sums below then stay small (no cancellation)
        a0 = np.where(ma > 0, ca - np.nanmean(ca), 0.0)
        b0 = np.where(mb > 0, cb - np.nanmean(cb), 0.0)
        n = np.maximum(np.round(xc(mb, ma)), 0.0)
        sa, sb = xc(mb, a0), xc(b0, ma)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov += np.where(n > 0, xc(b0, a0) - sa * sb / n, 0.0)
            var_a += np.where(n > 0, xc(mb, a0 * a0) - sa * sa / n, 0.0)
            var_b += np.where(n > 0, xc(b0 * b0, ma) - sb * sb / n, 0.0)
        count = n if count is None else np.minimum(count, n)
        used += 1
    if used == 0 or count is None:
        raise SyncError("The signals used to synchronise the recordings are missing or constant.",
                        "Both recordings must show the legs moving (knee and hip angles).")
    lags = correlation_lags(len(rb), len(ra), mode="full")
    shorter = min(np.isfinite(ra).all(axis=1).sum(), np.isfinite(rb).all(axis=1).sum(),
                  np.isfinite(ra).any(axis=1).sum(), np.isfinite(rb).any(axis=1).sum())
    need = max(3.0, min_overlap * shorter)
    allowed = (np.abs(lags) <= max_lag_s * rate) & (count >= need)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_all = cov / np.sqrt(np.maximum(var_a, 0.0) * np.maximum(var_b, 0.0))
    allowed &= np.isfinite(r_all)
    if not allowed.any():
        raise SyncError(
            f"The recordings overlap by less than {min_overlap:.0%} of the shorter one at every offset up to "
            f"{max_lag_s:g} s.", "Check that both files record the same walk, or increase max_lag_s.")
    i = _best_peak(r_all, count, allowed, tie_z)
    shift = 0.0
    if 0 < i < n_out - 1 and allowed[i - 1] and allowed[i + 1]:
        y0, y1, y2 = r_all[i - 1], r_all[i], r_all[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            shift = float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    lag_s = float((lags[i] + shift) / rate)
    r, overlap = _overlap_r(ra, rb, int(lags[i]))
    return LagEstimate(lag_s=lag_s, r=r, peak=float(r_all[i]), rate_hz=rate, overlap_s=overlap / rate)


def _best_peak(r_all: np.ndarray, count: np.ndarray, allowed: np.ndarray, tie_z: float) -> int:
    """Index of the chosen correlation peak: the most-overlapping local maximum whose Fisher z is within
    ``tie_z`` of the best."""
    r = np.where(allowed, r_all, -np.inf)
    best = int(np.argmax(r))
    peaks, _ = find_peaks(np.where(np.isfinite(r), r, -2.0))
    z = np.arctanh(np.clip(r, -1 + 1e-12, 1 - 1e-12))
    near = [int(p) for p in peaks if z[p] >= z[best] - tie_z]
    if not near:
        return best
    most = max(count[p] for p in near)
    # equal overlap within one sample: the higher r
    return max((p for p in near if count[p] >= most - 1), key=lambda p: r[p])


def _overlap_r(ra: np.ndarray, rb: np.ndarray, lag: int) -> tuple[float, int]:
    """Pearson r of the stacked channels where ``a[n]`` meets ``b[n + lag]``."""
    n = np.arange(len(ra))
    m = n + lag
    ok = (m >= 0) & (m < len(rb))
    if ok.sum() < 3:
        return float("nan"), 0
    xa, xb = ra[n[ok]], rb[m[ok]]
    fa, fb = [], []
    for k in range(xa.shape[1]):
        good = np.isfinite(xa[:, k]) & np.isfinite(xb[:, k])
        if good.sum() >= 3:
            fa.append(xa[good, k] - xa[good, k].mean())
            fb.append(xb[good, k] - xb[good, k].mean())
    if not fa:
        return float("nan"), int(ok.sum())
    va, vb = np.concatenate(fa), np.concatenate(fb)
    den = math.sqrt(float(va @ va) * float(vb @ vb))
    return (float(va @ vb) / den if den > 0 else float("nan")), int(ok.sum())


def sync_reports(
    test: GaitReport,
    reference: GaitReport,
    *,
    angles: Sequence[str] = SYNC_ANGLES,
    max_lag_s: float = 5.0,
    min_r: float = DEFAULT_MIN_SYNC_R,
) -> LagEstimate:
    """:func:`estimate_lag` on the joint angles both reports hold; raises :class:`SyncError` when the best
    alignment still correlates below ``min_r`` (the recordings are not of the same walk, or one is broken)."""
    if test.angles is None or reference.angles is None:
        raise SyncError("A report has no joint angles over time to synchronise with.",
                        "Analyze both recordings with gaitscope.analysis.report.analyze_gait.")
    cols = [c for c in angles if c in test.angles and c in reference.angles]
    if not cols:
        raise SyncError(f"None of the synchronisation angles ({', '.join(angles)}) is in both analyses.",
                        "Both recordings need hips and knees.")
    est = estimate_lag(test.angles[cols].to_numpy(float), reference.angles[cols].to_numpy(float),
                       test.fps, reference.fps, max_lag_s=max_lag_s)
    if not (est.r >= min_r):
        raise SyncError(
            f"The video and the motion capture could not be synchronised: their knee/hip angles correlate at "
            f"r = {est.r:.2f} at the best offset ({est.lag_s:+.2f} s), below {min_r:.2f}.",
            "Check that both files record the same walk of the same person, and that the video shows the legs.",
        )
    return est


# ---------------------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------------------


def _series(report: GaitReport, col: str) -> tuple[np.ndarray, np.ndarray]:
    df = report.angles
    t = df["time_s"].to_numpy(float) if "time_s" in df else np.arange(len(df)) / report.fps
    return t, df[col].to_numpy(float)


def _sample(t: np.ndarray, v: np.ndarray, fps: float, tq: np.ndarray) -> np.ndarray:
    """Cubic interpolation of ``v(t)`` at ``tq``; NaN outside the data and inside gaps (cubic, because at
    25-30 fps the knee's swing peak falls between frames and straight lines cut it)."""
    ok = np.isfinite(v)
    out = np.full(tq.shape, np.nan)
    if ok.sum() < 4:
        return out
    spline = CubicSpline(t[ok], v[ok])
    idx = np.clip(np.round(tq * fps).astype(int) - int(round(t[0] * fps)), -1, len(v))
    inside = (idx >= 0) & (idx < len(v))
    inside[inside] &= ok[idx[inside]]
    inside &= (tq >= t[ok][0]) & (tq <= t[ok][-1])
    out[inside] = spline(tq[inside])
    return out


def _strides_from_events(events: Iterable[GaitEvent], side: str) -> list[tuple[float, float]]:
    hs = sorted(e.time_s for e in events if e.side == side and e.kind == "heel_strike")
    return [(a, b) for a, b in zip(hs, hs[1:]) if 0.3 < b - a <= MAX_STRIDE_S]


def _angle_columns(test: GaitReport, reference: GaitReport) -> list[tuple[str, str, str]]:
    out = []
    for col in reference.angles.columns:
        if col in ("time_s", "frame") or col not in test.angles.columns:
            continue
        name, side = (col[:-2], col[-1]) if col.endswith(("_L", "_R")) else (col, "")
        out.append((col, name, side))
    return out


def _compare_angles(test: GaitReport, reference: GaitReport, lag_s: float,
                    ref_events: Sequence[GaitEvent]) -> list[AngleAgreement]:
    out = []
    for col, name, side in _angle_columns(test, reference):
        t_ref, v_ref = _series(reference, col)
        t_test, v_test = _series(test, col)
        # frame-by-frame over the overlap, on the reference clock
        on_ref = _sample(t_test, v_test, test.fps, t_ref - lag_s)
        d_series = on_ref - v_ref
        d_series = d_series[np.isfinite(d_series)]
        rmse_series = float(np.sqrt(np.mean(d_series**2))) if d_series.size else float("nan")
        if not d_series.size:
            continue
        sides = (side,) if side else ("L", "R")
        strides = [s for sd in sides for s in _strides_from_events(ref_events, sd)]
        basis = "reference events"
        if not strides:
            strides = [(s.start_frame / reference.fps, s.end_frame / reference.fps) for s in reference.strides
                       if (s.side == side or not side)]
            basis = "reference strides"
        tc, rc = [], []
        for a, b in strides:
            tq = a + PCT / 100.0 * (b - a)
            cr = _sample(t_ref, v_ref, reference.fps, tq)
            ct = _sample(t_test, v_test, test.fps, tq - lag_s)
            if np.all(np.isfinite(cr)) and np.all(np.isfinite(ct)):
                tc.append(ct)
                rc.append(cr)
        if tc:
            d = (np.vstack(tc) - np.vstack(rc)).ravel()
            tm, rm = np.vstack(tc).mean(0), np.vstack(rc).mean(0)
            x, y = np.concatenate(tc), np.concatenate(rc)
        else:
            basis = "time series"
            d = d_series
            tm = rm = np.full(PCT.shape, np.nan)
            both = np.isfinite(on_ref) & np.isfinite(v_ref)
            x, y = on_ref[both], v_ref[both]
        r = float(np.corrcoef(x, y)[0, 1]) if len(x) > 2 and np.std(x) > 0 and np.std(y) > 0 else float("nan")
        out.append(AngleAgreement(
            angle=name, side=side, plane=PLANES.get(name, ""), basis=basis, n_strides=len(tc),
            rmse_deg=float(np.sqrt(np.mean(d**2))), bias_deg=float(np.mean(d)), mae_deg=float(np.mean(np.abs(d))),
            max_abs_deg=float(np.max(np.abs(d))), r=r, rmse_series_deg=rmse_series, test_mean=tm, ref_mean=rm,
        ))
    return out


def match_events(
    test_events: Sequence[GaitEvent],
    reference_events: Sequence[GaitEvent],
    lag_s: float = 0.0,
    window_s: float = DEFAULT_MATCH_WINDOW_S,
) -> list[EventMatch]:
    """Pair each reference event with the nearest test event of the same foot and kind within ``window_s``.

    Pairs are made greedily from the closest one up, so a test event is used at most once. Reference events
    left alone are "missed"; test events left alone are "extra" only when they fall inside the time the
    reference covers (first reference event - window to last + window): force plates see only a few steps,
    and a test event where the plates cannot see is not an error.
    """
    shifted = [(e, e.time_s + lag_s) for e in test_events]
    pairs = []
    for i, r in enumerate(reference_events):
        for j, (e, t) in enumerate(shifted):
            if e.side == r.side and e.kind == r.kind and abs(t - r.time_s) <= window_s:
                pairs.append((abs(t - r.time_s), i, j))
    pairs.sort()
    used_r: dict[int, int] = {}
    used_t: set[int] = set()
    for _, i, j in pairs:
        if i in used_r or j in used_t:
            continue
        used_r[i] = j
        used_t.add(j)
    out = []
    for i, r in enumerate(reference_events):
        if i in used_r:
            t = shifted[used_r[i]][1]
            out.append(EventMatch(r.side, r.kind, r.time_s, t, t - r.time_s, "matched"))
        else:
            out.append(EventMatch(r.side, r.kind, r.time_s, float("nan"), float("nan"), "missed"))
    if reference_events:
        lo = min(r.time_s for r in reference_events) - window_s
        hi = max(r.time_s for r in reference_events) + window_s
        for j, (e, t) in enumerate(shifted):
            if j not in used_t and lo <= t <= hi:
                out.append(EventMatch(e.side, e.kind, float("nan"), t, float("nan"), "extra"))
    out.sort(key=lambda m: (m.reference_time_s if math.isfinite(m.reference_time_s) else m.test_time_s))
    return out


def summarize_events(matches: Sequence[EventMatch], frame_rate_hz: float) -> list[EventSummary]:
    """Mean, SD (n-1) and mean absolute timing error per kind and over all kinds."""
    out = []
    for kind in ("heel_strike", "toe_off", "all"):
        sel = [m for m in matches if kind == "all" or m.kind == kind]
        errs = np.array([m.error_s for m in sel if m.status == "matched"])
        n_ref = sum(m.status != "extra" for m in sel)
        if not sel:
            continue
        out.append(EventSummary(
            kind=kind, n_reference=n_ref, n_matched=len(errs), n_missed=sum(m.status == "missed" for m in sel),
            n_extra=sum(m.status == "extra" for m in sel),
            mean_s=float(errs.mean()) if errs.size else float("nan"),
            sd_s=float(errs.std(ddof=1)) if errs.size > 1 else float("nan"),
            mae_s=float(np.abs(errs).mean()) if errs.size else float("nan"), frame_rate_hz=float(frame_rate_hz),
        ))
    return out


def _compare_parameters(test: GaitReport, reference: GaitReport,
                        overrides: Mapping[tuple[str, str], tuple[float, str]]) -> list[ParameterAgreement]:
    ref = {(p.name, p.side): p for p in reference.parameters if not p.name.endswith(_DERIVED)}
    tst = {(p.name, p.side): p for p in test.parameters if not p.name.endswith(_DERIVED)}
    keys = list(dict.fromkeys(list(ref) + [k for k in overrides if k in tst]))
    out = []
    for key in keys:
        if key not in tst:
            continue
        p = tst[key]
        if key in overrides:
            ref_value, source = overrides[key]
        else:
            ref_value, source = ref[key].value, "reference analysis"
        if not (math.isfinite(p.value) or math.isfinite(ref_value)):
            continue  # neither side could measure it (e.g. a one-stride trial has no left stance)
        err = p.value - ref_value
        pct = 100.0 * err / abs(ref_value) if ref_value and math.isfinite(ref_value) else float("nan")
        out.append(ParameterAgreement(p.name, p.label, p.unit, p.side, float(p.value), float(ref_value),
                                      float(err), float(pct), source))
    return out


def compare_reports(
    test: GaitReport,
    reference: GaitReport,
    lag_s: float = 0.0,
    *,
    reference_events: Sequence[GaitEvent] | None = None,
    event_reference: str = "",
    reference_values: Mapping[tuple[str, str], tuple[float, str]] | None = None,
    window_s: float = DEFAULT_MATCH_WINDOW_S,
    name: str = "",
    sync_r: float = float("nan"),
    notes: Sequence[str] = (),
) -> AgreementResult:
    """Agreement of ``test`` with ``reference`` (``t_ref = t_test + lag_s``).

    ``reference_events``: the gold-standard events (force plates) when they exist; otherwise the reference
    analysis' own (marker-based, Zeni) events are used and a note says so. They cut the strides over which
    angles are time-normalised (OpenCap's protocol) and are the events test events are matched to.
    ``reference_values``: ``{(parameter, side): (value, source)}`` replacing the reference analysis' values
    (e.g. cadence and step length of the force-plate-bounded steps).
    """
    if test.angles is None or reference.angles is None:
        raise AnalysisError("Both reports need joint angles over time (GaitReport.angles) to be compared.",
                            "Produce them with gaitscope.analysis.report.analyze_gait.")
    notes = list(notes)
    if reference_events:
        ref_events = list(reference_events)
        ev_src = event_reference or "reference events"
    else:
        ref_events = list(reference.events)
        ev_src = "marker-based events of the reference motion (Zeni et al. 2008)"
        notes.append("no force-plate events: the reference events are the reference motion's marker-based "
                     "(Zeni) events, which are themselves ~10-40 ms from force-plate timing")
    angles = _compare_angles(test, reference, lag_s, ref_events)
    matches = match_events(test.events, ref_events, lag_s, window_s)
    summary = summarize_events(matches, test.fps)
    params = _compare_parameters(test, reference, reference_values or {})
    return AgreementResult(name=name, lag_s=float(lag_s), sync_r=float(sync_r), angles=tuple(angles),
                           events=tuple(matches), event_summary=tuple(summary), parameters=tuple(params),
                           test_fps=float(test.fps), reference_fps=float(reference.fps), event_reference=ev_src,
                           notes=tuple(notes))


# ---------------------------------------------------------------------------------------------------------
# Across trials
# ---------------------------------------------------------------------------------------------------------


def bland_altman(test: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray) -> BlandAltman:
    """Bias and 95 % limits of agreement of paired measurements (Bland & Altman 1986, Lancet 327:307).

    Differences are test - reference; SD with n-1; pairs with a NaN are dropped. With one pair the SD and the
    limits are NaN (agreement cannot be judged from one trial).
    """
    a, b = np.asarray(test, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"test has shape {a.shape}, reference {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    n = len(d)
    bias = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    return BlandAltman(n=n, bias=bias, sd=sd, loa_low=bias - 1.96 * sd, loa_high=bias + 1.96 * sd,
                       means=(a + b) / 2, diffs=d)


def bland_altman_table(results: Sequence[AgreementResult]) -> pd.DataFrame:
    """One Bland-Altman row per quantity across trials: each parameter (per side), each angle's RMSE is not a
    paired measurement, so angles enter as their cycle-mean value (test vs reference), and heel-strike timing
    as the per-trial mean error (reference 0)."""
    pairs: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for res in results:
        for p in res.parameters:
            pairs.setdefault((p.name, p.side, p.unit), []).append((p.test, p.reference))
        for a in res.angles:
            if np.isfinite(a.test_mean).all() and np.isfinite(a.ref_mean).all():
                pairs.setdefault((f"{a.angle}_mean", a.side, "deg"), []).append(
                    (float(a.test_mean.mean()), float(a.ref_mean.mean())))
                pairs.setdefault((f"{a.angle}_rom", a.side, "deg"), []).append(
                    (float(np.ptp(a.test_mean)), float(np.ptp(a.ref_mean))))
    rows = []
    for (name, side, unit), vals in pairs.items():
        ba = bland_altman([v[0] for v in vals], [v[1] for v in vals])
        rows.append([name, side, unit, ba.n, ba.bias, ba.sd, ba.loa_low, ba.loa_high])
    return pd.DataFrame(rows, columns=["quantity", "side", "unit", "n", "bias", "sd", "loa_low", "loa_high"])


def summary_row(result: AgreementResult) -> dict[str, float]:
    """A flat summary of one trial: the numbers published single-camera validations report."""
    def ang(name: str) -> float:
        vals = [a.rmse_deg for a in result.angles if a.angle == name and math.isfinite(a.rmse_deg)]
        return float(np.sqrt(np.mean(np.square(vals)))) if vals else float("nan")

    def par(name: str) -> float:
        try:
            return result.parameter(name).error
        except KeyError:
            return float("nan")

    hs = next((s for s in result.event_summary if s.kind == "heel_strike"), None)
    to = next((s for s in result.event_summary if s.kind == "toe_off"), None)
    return {
        "hip_flexion_rmse_deg": ang("hip_flexion"),
        "knee_flexion_rmse_deg": ang("knee_flexion"),
        "hs_mean_ms": 1000 * hs.mean_s if hs else float("nan"),
        "hs_mae_ms": 1000 * hs.mae_s if hs else float("nan"),
        "hs_mae_frames": hs.mae_frames if hs else float("nan"),
        "hs_missed": float(hs.n_missed) if hs else float("nan"),
        "to_mae_ms": 1000 * to.mae_s if to else float("nan"),
        "cadence_err": par("cadence"),
        "step_length_err_m": par("step_length"),
        "stance_pct_err": par("stance_pct"),
        **{k: float(v) for k, v in result.extra.items()},
    }
