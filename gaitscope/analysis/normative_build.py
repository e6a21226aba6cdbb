"""A lab's own reference set ("normal data") built from analyses of its healthy subjects, saved and loaded.

Why: the bundled joint-angle bands (Schwartz et al. 2008) describe typically developing children, and the
bundled spatiotemporal table comes from instrumented walkways (GAITRite), not from this platform. A lab that
records its own healthy volunteers with its own set-up gets bands that share its systematic errors (marker
placement, lifter bias, camera angle), which is how gait labs build normative data (Baker 2013, Measuring
Walking, ch. 8: every lab should collect its own normal data, about 10-20 adults at least).

What is built, from one :class:`GaitReport` per walk:

* curves: per subject, the mean over walks and both sides of each time-normalised curve; across subjects the
  mean and between-subject SD per percent of the cycle (the quantities of Schwartz et al. 2008). Optionally
  split into the Schwartz speed classes by dimensionless speed v / sqrt(g * leg length) (Hof 1996), because
  speed alone changes the curves; a class needs at least two subjects.
* spatiotemporal: per subject, the mean of each bilateral parameter; across subjects the mean and SD, written
  as ``mean - SD`` / ``mean + SD`` in the layout of the bundled GAITRite table, so
  :meth:`SpatiotemporalReference.ranges` widens them to mean -/+ 2 SD like the bundled ranges.

The saved set is a small JSON manifest beside two CSV files in the formats the existing loaders read
(:meth:`CurveReference.from_csv` and :meth:`SpatiotemporalReference.from_csv`), so either file can also be
used on its own.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from gaitscope.analysis.normative import _STP_COLUMNS, PCT, CurveReference, G, SpatiotemporalReference
from gaitscope.records import GaitReport, Motion3D
from gaitscope.skeleton import J

FORMAT = "gaitscope-normative"
FORMAT_VERSION = 1
BUNDLED_NAME = "schwartz2008"
#: Age band written when the subjects' ages are unknown: the adult band that ``ranges(age=None)`` selects.
UNKNOWN_AGES = (18, 69)
MIN_SUBJECTS = 2
# Winter 2009 segment lengths as fractions of height (as in gaitscope.analysis.report): leg = 0.530 H,
# thigh + shank = 0.491 H, so leg = (thigh + shank) * 0.530 / 0.491.
_LEG_PER_THIGH_SHANK = 0.530 / 0.491


@dataclass(frozen=True)
class ReferenceSet:
    """The two references an analysis compares against, with their provenance."""

    name: str
    curves: CurveReference
    spatiotemporal: SpatiotemporalReference | None  # None: keep the bundled spatiotemporal table
    children: bool = False
    n_subjects: int = 0
    path: Path | None = None  # the manifest it was loaded from; None for in-memory and bundled sets
    meta: dict = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """Short stable id: the name plus a digest of the reference files' content (as saved), so two sets
        with one name differ here and a set keeps its id through save and load."""
        digest = self.meta.get("_digest")
        if digest is None:
            curves_text, stp_text = _texts(self)
            digest = _digest(curves_text, stp_text)
        return f"{self.name}#{digest}"


def _digest(curves_text: str, stp_text: str) -> str:
    h = hashlib.sha256(curves_text.encode())
    h.update(b"\0")
    h.update(stp_text.encode())
    return h.hexdigest()[:10]


def bundled_reference_set() -> ReferenceSet:
    """Schwartz 2008 children's curves with the bundled GAITRite spatiotemporal table."""
    return ReferenceSet(name=BUNDLED_NAME, curves=CurveReference.schwartz2008(),
                        spatiotemporal=SpatiotemporalReference.default(), children=True, n_subjects=0,
                        meta={"description": CurveReference.schwartz2008().name})


# ---------------------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------------------


def leg_length_from_motion(motion: Motion3D) -> float | None:
    """Leg length (greater trochanter to floor, m) from the median thigh + shank length of a 3D motion."""
    x = np.asarray(motion.xyz_m, dtype=float)
    segs = []
    for s in ("left", "right"):
        hip, knee, ank = x[:, J[f"{s}_hip"]], x[:, J[f"{s}_knee"]], x[:, J[f"{s}_ankle"]]
        segs.append(np.linalg.norm(knee - hip, axis=1) + np.linalg.norm(ank - knee, axis=1))
    v = np.concatenate(segs)
    v = v[np.isfinite(v)]
    return float(np.median(v) * _LEG_PER_THIGH_SHANK) if v.size else None


def _value(report: GaitReport, name: str) -> float:
    try:
        v = float(report.parameter(name, "both").value)
    except KeyError:
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def _subject_curves(reports: Sequence[GaitReport]) -> dict[str, np.ndarray]:
    """Per curve name: the mean over this subject's walks and both sides (each side's mean curve once)."""
    stacks: dict[str, list[np.ndarray]] = {}
    for r in reports:
        for c in r.curves:
            m = np.asarray(c.mean, dtype=float)
            if c.n_strides > 0 and m.shape == PCT.shape and np.all(np.isfinite(m)):
                stacks.setdefault(c.name, []).append(m)
    return {k: np.mean(v, axis=0) for k, v in stacks.items()}


def _nanmean(values: list[float]) -> float:
    a = np.asarray(values, dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _speed_class_of(v_hat: float, centres: dict[str, float]) -> str:
    return min(centres, key=lambda c: abs(centres[c] - v_hat))


def build_reference(
    reports: Sequence[GaitReport],
    *,
    name: str,
    subject_ids: Sequence[str] | None = None,
    leg_lengths_m: Sequence[float | None] | None = None,
    ages: Sequence[float | None] | None = None,
    sexes: Sequence[str | None] | None = None,
    by_speed: bool = False,
    sources: Sequence[str] = (),
) -> ReferenceSet:
    """Build a :class:`ReferenceSet` from analyses of healthy walks (one report per walk).

    ``subject_ids`` groups walks of one person (default: each walk is its own subject); ``leg_lengths_m``
    (per walk) gives each subject's dimensionless speed, needed for speed matching and for ``by_speed``
    (split into the Schwartz 2008 speed classes). ``ages`` / ``sexes`` (per walk) set the age band and are
    recorded; the spatiotemporal ranges pool both sexes (a lab set is rarely large enough to split).
    Raises ``ValueError`` with fewer than :data:`MIN_SUBJECTS` subjects.
    """
    n = len(reports)
    sids = [str(s) for s in subject_ids] if subject_ids is not None else [f"walk{i}" for i in range(n)]
    legs = list(leg_lengths_m) if leg_lengths_m is not None else [None] * n
    for label, seq in (("subject_ids", sids), ("leg_lengths_m", legs)):
        if len(seq) != n:
            raise ValueError(f"{label} has {len(seq)} entries for {n} reports")
    subjects = list(dict.fromkeys(sids))
    if len(subjects) < MIN_SUBJECTS:
        raise ValueError(
            f"A reference set needs at least {MIN_SUBJECTS} subjects (got {len(subjects)}): a between-subject SD "
            "cannot be estimated from fewer. Gait labs use 10-20 or more."
        )
    rows = {s: [i for i in range(n) if sids[i] == s] for s in subjects}

    # Per subject: parameters, curves, dimensionless speed.
    params = {p: np.array([_nanmean([_value(reports[i], p) for i in rows[s]]) for s in subjects])
              for p in _STP_COLUMNS}
    curves = {s: _subject_curves([reports[i] for i in rows[s]]) for s in subjects}
    v_hat = []
    for s in subjects:
        vals = [_value(reports[i], "speed") / math.sqrt(G * float(legs[i]))
                for i in rows[s] if legs[i] is not None and legs[i] > 0]
        v_hat.append(_nanmean(vals))
    v_hat = np.asarray(v_hat, dtype=float)

    # Speed classes.
    if by_speed and np.isfinite(v_hat).all():
        centres = CurveReference.schwartz2008().class_speeds
        cls_of = [_speed_class_of(float(v), centres) for v in v_hat]
    else:
        cls_of = ["all"] * len(subjects)
    class_rows: list[dict] = []
    class_info: dict[str, dict] = {}
    for cls_name in dict.fromkeys(cls_of):
        members = [k for k, c in enumerate(cls_of) if c == cls_name]
        if len(members) < MIN_SUBJECTS:
            continue
        vh = v_hat[members]
        dimless = float(np.mean(vh[np.isfinite(vh)])) if np.isfinite(vh).any() else float("nan")
        class_info[cls_name] = {"n_subjects": len(members), "dimensionless_speed": dimless}
        names = sorted(set.union(*(set(curves[subjects[k]]) for k in members)))
        for curve in names:
            stack = np.array([curves[subjects[k]][curve] for k in members if curve in curves[subjects[k]]])
            if len(stack) < MIN_SUBJECTS:
                continue
            mean, sd = stack.mean(axis=0), stack.std(axis=0, ddof=1)
            for p, m, s_ in zip(PCT, mean, sd):
                class_rows.append({"speed_class": cls_name, "curve": curve, "pct": float(p), "mean": float(m),
                                   "sd": float(s_), "dimensionless_speed": dimless, "n_subjects": len(stack)})
    if not class_rows:
        raise ValueError("No gait curve was measured in at least two subjects of one speed class.")
    curve_df = pd.DataFrame(class_rows)
    curve_ref = _curves_from_frame(curve_df, name)

    stp = SpatiotemporalReference(_stp_table(params, ages), name=f"{name} (lab reference, n={len(subjects)})")
    age_vals = [float(a) for a in (ages or []) if a is not None and math.isfinite(float(a))]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "children": False,
        "n_subjects": len(subjects),
        "n_walks": n,
        "speed_classes": class_info,
        "ages": [min(age_vals), max(age_vals)] if age_vals else None,
        "sexes": sorted({str(x) for x in (sexes or []) if x}),
        "analysis_versions": sorted({r.analysis_version for r in reports}),
        "sources": list(sources),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return ReferenceSet(name=name, curves=curve_ref, spatiotemporal=stp, children=False,
                        n_subjects=len(subjects), meta=meta | {"_curve_frame": curve_df})


def _curves_from_frame(df: pd.DataFrame, name: str) -> CurveReference:
    bands = {}
    speeds = {}
    for (cls_name, curve), sub in df.groupby(["speed_class", "curve"]):
        sub = sub.sort_values("pct")
        bands[(str(cls_name), str(curve))] = (sub["mean"].to_numpy(float), sub["sd"].to_numpy(float))
        if np.isfinite(sub["dimensionless_speed"]).any():
            speeds[str(cls_name)] = float(sub["dimensionless_speed"].iloc[0])
    return CurveReference(name=_curve_source(name, int(df["n_subjects"].max())), bands=bands, class_speeds=speeds,
                          children=False)


def _curve_source(name: str, n: int) -> str:
    return f"{name} (lab reference, n={n} subjects)"


def _stp_table(params: dict[str, np.ndarray], ages: Sequence[float | None] | None) -> pd.DataFrame:
    """One row per sex (pooled values) in the GAITRite table layout; columns hold mean -/+ 1 SD."""
    age_vals = [float(a) for a in (ages or []) if a is not None and math.isfinite(float(a))]
    lo_age, hi_age = (math.floor(min(age_vals)), math.floor(max(age_vals))) if age_vals else UNKNOWN_AGES
    row: dict[str, object] = {"Age (min)": lo_age, "Age (max)": hi_age, "Pace": "Normal"}
    for pname, (stem, factor) in _STP_COLUMNS.items():
        v = params[pname][np.isfinite(params[pname])]
        if len(v) < MIN_SUBJECTS:
            continue
        m, sd = float(v.mean()), float(v.std(ddof=1))
        row[f"{stem} min"] = (m - sd) / factor
        row[f"{stem} max"] = (m + sd) / factor
    return pd.DataFrame([{"Gender": g, **row} for g in ("Male", "Female")])


# ---------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------


def _companions(manifest: Path) -> tuple[Path, Path]:
    stem = manifest.name.removesuffix(".json")
    return manifest.with_name(f"{stem}.curves.csv"), manifest.with_name(f"{stem}.spatiotemporal.csv")


def _texts(ref: ReferenceSet) -> tuple[str, str]:
    """The CSV texts of a set's two files, exactly as :func:`save_reference_set` writes them."""
    df = ref.meta.get("_curve_frame")
    if df is None:
        df = pd.DataFrame([
            {"speed_class": c, "curve": v, "pct": float(p), "mean": float(m), "sd": float(s),
             "dimensionless_speed": ref.curves.class_speeds.get(c, float("nan")), "n_subjects": ref.n_subjects}
            for (c, v), (mean, sd) in sorted(ref.curves.bands.items()) for p, m, s in zip(PCT, mean, sd)
        ])
    curves_text = df.to_csv(index=False, float_format="%.5g")
    stp_text = "" if ref.spatiotemporal is None else ref.spatiotemporal.table.to_csv(index=False, float_format="%.6g")
    return curves_text, stp_text


def save_reference_set(ref: ReferenceSet, path: str | Path) -> Path:
    """Write ``path`` (a ``.json`` manifest) and ``<stem>.curves.csv`` / ``<stem>.spatiotemporal.csv`` beside it."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        path = path.with_name(path.name + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    curves_csv, stp_csv = _companions(path)
    curves_text, stp_text = _texts(ref)
    curves_csv.write_text(curves_text)
    if ref.spatiotemporal is not None:
        stp_csv.write_text(stp_text)
    meta = {k: v for k, v in ref.meta.items() if not k.startswith("_")}
    meta.update({"format": FORMAT, "format_version": FORMAT_VERSION, "name": ref.name, "children": ref.children,
                 "n_subjects": ref.n_subjects, "curves": curves_csv.name,
                 "spatiotemporal": stp_csv.name if ref.spatiotemporal is not None else None})
    path.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return path


def load_reference_set(path: str | Path) -> ReferenceSet:
    """Read a set written by :func:`save_reference_set`, or a lone curve CSV (``curve, pct, mean, sd``).

    Raises ``ValueError`` with what is wrong (missing file, unknown format, missing columns).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"Reference file {path} does not exist.")
    if path.suffix.lower() == ".csv":
        curves = CurveReference.from_csv(path, source=f"{path.stem} (lab curve reference)")
        return ReferenceSet(name=path.stem, curves=curves, spatiotemporal=None, path=path,
                            meta={"curves": path.name, "_digest": _digest(path.read_text(), "")})
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a gaitscope reference manifest (JSON): {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a gaitscope reference set (no \"format\": \"{FORMAT}\").")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer gaitscope (format {meta['format_version']}).")
    name = str(meta.get("name") or path.stem)
    n = int(meta.get("n_subjects") or 0)
    children = bool(meta.get("children", False))
    curves_path = path.parent / str(meta.get("curves") or _companions(path)[0].name)
    if not curves_path.exists():
        raise ValueError(f"{path} names the curve file {curves_path.name}, which is missing.")
    curves = CurveReference.from_csv(curves_path, source=_curve_source(name, n), children=children)
    stp, stp_text = None, ""
    if meta.get("spatiotemporal"):
        stp_path = path.parent / str(meta["spatiotemporal"])
        if not stp_path.exists():
            raise ValueError(f"{path} names the spatiotemporal file {stp_path.name}, which is missing.")
        stp = SpatiotemporalReference.from_csv(stp_path, name=f"{name} (lab reference, n={n})")
        stp_text = stp_path.read_text()
    meta = meta | {"_digest": _digest(curves_path.read_text(), stp_text)}
    return ReferenceSet(name=name, curves=curves, spatiotemporal=stp, children=children, n_subjects=n,
                        path=path, meta=meta)
