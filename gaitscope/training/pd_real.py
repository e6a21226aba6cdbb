"""Real Parkinson's patients (Deng et al. 2024) as a labelled set of walks, with features cached per walk.

Data: ``../shared/data/patients/video_tracking_pd/dataset`` (read its README; **CC BY-NC-ND 4.0**: evaluation
only. Nothing derived from it (converted files, features, trained heads) may enter the repository or the package;
the feature cache lives under the git-ignored ``runs/``). Walks are MediaPipe Pose landmark CSVs
(:mod:`gaitscope.io.landmarks`), scores are in ``motor_scales_all_2021.03.08.xlsx``.

**Which files are walks** (:func:`discover_walks`): the medication state comes from the file name (``_off_`` /
``_on_``); files without a state cannot be matched to a score and are left out, as are empty files and exact
copies (``26135/`` holds copies of ``26463``'s files; the patient is the number in the file name). One walk per
person and state: the plain ``_gait.csv`` is preferred over ``_gait_fb``, ``.mp4.csv`` and ``.output.csv``
variants (31782 has both ``on_gait.csv`` and ``on_gait.output.csv``).

**Scores** (:func:`load_scores`): MDS-UPDRS part III total and item 3.10 (gait) of the walk's medication state
(``updrs.part.3.off`` / ``updrs.off.3.10`` for OFF). The workbook's codes -2 (not displayed), -9 (not tested)
and -99 (seen but not answered) are missing, never scores; a total with more than 7 of its 33 items missing is
no total (31917 OFF: 26 missing, the workbook's "total" is 1). People taking no PD medication (``pd.meds`` 0)
have their score in the ON columns (the workbook's sheet 2) and their walk filed as OFF.

**Another encoder's embeddings** (:func:`build_encoder_cache`, session 7): the same walks' cached arrays with only
the per-frame embedding replaced by that of another checkpoint (e.g. one pretrained MotionBERT-style), so the
strides, landmarks and gait features, and hence every non-embedding set, are those of the shipped lifter and the
only difference between two caches is the encoder.

**Features of one walk** (:func:`walk_features`, cached as ``<cache>/<pidn>_<state>.npz``, recomputed when the
gait-analysis version changes; delete the folder after changing the lifter): the walk is read,
lifted once by the shipped lifter with the joints unseen in 2D masked (:mod:`gaitscope.pipeline.landmarks`),
and analyzed. Cached: the 21 gait parameters + GPS of :func:`gaitscope.models.features.kinematic_vector` (NaN when
the analysis could not measure them or failed), joint-angle time series, stride frames, the per-frame encoder
embedding (float16) and which frames had every leg joint in view. Feature sets are built from the cache by
:mod:`gaitscope.training.pd_eval`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from gaitscope.errors import GaitscopeError, InvalidInputError

log = logging.getLogger(__name__)

#: Default location, relative to the repository root (the data is never copied into the repository).
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "patients" / "video_tracking_pd" / "dataset"
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "runs" / "pd_real" / "features"
SCORES_FILE = "motor_scales_all_2021.03.08.xlsx"
DEMOGRAPHICS_FILE = "demographics.xlsx"
#: Workbook codes that mean "no score" (sheet 2 of the workbook): not displayed, not tested, not answered.
MISSING_CODES: tuple[int, ...] = (-2, -9, -99)
CACHE_VERSION = 1
#: A part III total with more missing items than this is no total (Goetz et al., Mov Disord 2015: up to 7 of the
#: 33 part III items may be missing before the total is invalid).
MAX_MISSING_PART3_ITEMS = 7

_NAME = re.compile(r"google_(\d+)_(?:(off|on)_)?gait(.*)\.csv$", re.IGNORECASE)
_VARIANT_RANK = {"": 0, "_fb": 1, ".mp4": 2, ".output": 3}


@dataclass(frozen=True)
class PDWalk:
    """One walk: patient id (``pidn``), medication state ("off"/"on") and the landmark file."""

    pidn: str
    state: str
    path: Path

    @property
    def walk_id(self) -> str:
        return f"{self.pidn}_{self.state}"


def data_root(root: str | Path | None = None) -> Path:
    """The dataset folder; :class:`InvalidInputError` (clear message) when it is absent."""
    p = Path(root) if root is not None else DEFAULT_ROOT
    if not (p / SCORES_FILE).exists():
        raise InvalidInputError(
            f"The real-patient data was not found at {p.resolve()} (needs {SCORES_FILE}).",
            "Pass --pd-root to the video_tracking_pd/dataset folder (../shared/data/patients/ beside the repository).",
        )
    return p


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def discover_walks(root: str | Path | None = None) -> tuple[list[PDWalk], list[str]]:
    """The walks (one per person and state) and why every other CSV was left out."""
    root = data_root(root)
    skipped: list[str] = []
    best: dict[tuple[str, str], tuple[int, PDWalk]] = {}
    seen_hash: dict[str, Path] = {}
    for f in sorted(root.rglob("*.csv")):
        m = _NAME.search(f.name)
        rel = f.relative_to(root)
        if m is None:
            skipped.append(f"{rel}: not a google_<pidn>_<state>_gait file name")
            continue
        pidn, state, variant = m.group(1), (m.group(2) or "").lower(), m.group(3).lower()
        if f.stat().st_size == 0:
            skipped.append(f"{rel}: empty file")
            continue
        if not state:
            skipped.append(f"{rel}: no medication state in the file name, cannot be matched to a score")
            continue
        h = _sha(f)
        if h in seen_hash:
            skipped.append(f"{rel}: exact copy of {seen_hash[h].relative_to(root)}")
            continue
        seen_hash[h] = f
        rank = _VARIANT_RANK.get(variant, 9)
        key = (pidn, state)
        walk = PDWalk(pidn, state, f)
        if key in best:
            old_rank, old = best[key]
            keep, drop = (walk, old) if rank < old_rank else (old, walk)
            best[key] = (min(rank, old_rank), keep)
            skipped.append(f"{drop.path.relative_to(root)}: second file for {pidn} {state.upper()}; kept "
                           f"{keep.path.name}")
        else:
            best[key] = (rank, walk)
    walks = sorted((w for _, w in best.values()), key=lambda w: (w.pidn, w.state))
    return walks, skipped


def _clean(v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return float("nan") if (not np.isfinite(x) or int(x) in MISSING_CODES and x == int(x)) else x


def load_scores(root: str | Path | None = None) -> pd.DataFrame:
    """One row per (pidn, state): ``updrs3_total``, ``gait_3_10`` (NaN where missing), ``dx``, ``hny``, ``age``."""
    root = data_root(root)
    try:
        scales = pd.read_excel(root / SCORES_FILE, sheet_name=0)  # cached formula values (openpyxl)
        demo = pd.read_excel(root / DEMOGRAPHICS_FILE, sheet_name="demographic data")
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise GaitscopeError("Reading the score workbooks needs openpyxl.", "pip install openpyxl") from exc
    rows = []
    for _, r in scales.iterrows():
        pid = _clean(r.get("pidn"))
        if not np.isfinite(pid):
            continue
        no_meds = _clean(r.get("pd.meds")) == 0
        for state in ("off", "on"):
            # sheet 2: "participants not taking ANY PD meds have no OFF score - ON score is their score", and their
            # walk is filed as OFF (unmedicated): their OFF walk takes the ON columns
            col = "on" if (no_meds and state == "off") else state
            if no_meds and state == "on":
                continue
            items = [c for c in scales.columns if c.startswith(f"updrs.{col}.3.")]
            vals = np.array([_clean(r.get(c)) for c in items])
            n_missing = int(np.isnan(vals).sum())
            total = _clean(r.get(f"updrs.part.3.{col}"))
            if n_missing > MAX_MISSING_PART3_ITEMS:
                total = float("nan")
            rows.append({"pidn": str(int(pid)), "state": state, "updrs3_total": total,
                         "gait_3_10": _clean(r.get(f"updrs.{col}.3.10")), "part3_items_missing": n_missing,
                         "on_meds_for_pd": not no_meds})
    out = pd.DataFrame(rows)
    demo = demo.assign(pidn=demo["pidn"].astype(int).astype(str))[["pidn", "dx", "age", "sex", "hny"]]
    demo["hny"] = demo["hny"].map(_clean)
    return out.merge(demo, on="pidn", how="left")


# ---------------------------------------------------------------------------------------------------------
# Features of one walk (lifted once, cached)
# ---------------------------------------------------------------------------------------------------------


def _cache_path(cache_dir: Path, walk: PDWalk) -> Path:
    return Path(cache_dir) / f"{walk.walk_id}.npz"


def walk_features(walk: PDWalk, lifter, cache_dir: str | Path = DEFAULT_CACHE, *, refresh: bool = False) -> dict:
    """The cached arrays of one walk (lifting and analyzing it first when not cached, or when ``refresh``)."""
    from gaitscope.analysis import analyze_gait
    from gaitscope.analysis.report import ANALYSIS_VERSION
    from gaitscope.io.landmarks import load_mediapipe_csv
    from gaitscope.models.features import kinematic_names, kinematic_vector
    from gaitscope.pipeline.landmarks import LEG_JOINTS, lift_landmarks

    cache = _cache_path(Path(cache_dir), walk)
    if cache.exists() and not refresh:
        data = _load_npz(cache)
        # a cached walk is reused only for the same cache layout and gait-analysis version (the lifter is checked
        # by build_cache, which alone may load it)
        if (int(data.get("cache_version", -1)) == CACHE_VERSION
                and str(data.get("analysis_version", "")) == ANALYSIS_VERSION):
            return data
    kp = load_mediapipe_csv(walk.path)
    motion, emb = lift_landmarks(kp, lifter)
    kin = np.full(len(kinematic_names()), np.nan)
    strides = np.zeros((0, 2), dtype=np.int64)
    angles = np.zeros((kp.n_frames, 0), dtype=np.float32)
    angle_names: list[str] = []
    error = ""
    try:
        report = analyze_gait(motion)
        kin = kinematic_vector(report)
        strides = np.array([[s.start_frame, s.end_frame] for s in report.strides], dtype=np.int64).reshape(-1, 2)
        ang = report.angles.drop(columns=["time_s"], errors="ignore")
        angle_names = [str(c) for c in ang.columns]
        angles = ang.to_numpy(dtype=np.float32)
    except GaitscopeError as exc:
        error = str(exc)
        log.warning("walk %s: analysis failed: %s", walk.walk_id, exc)
    legs_seen = (kp.conf[:, list(LEG_JOINTS)] > 0).all(axis=1)
    data = {
        "cache_version": np.array(CACHE_VERSION),
        "kinematic": kin,
        "embedding_frames": np.asarray(emb.per_frame, dtype=np.float16),
        "legs_seen": legs_seen,
        "strides": strides,
        "angles": angles,
        "angle_names": np.array(angle_names, dtype="U"),
        "fps": np.array(kp.fps),
        "n_frames": np.array(kp.n_frames),
        "analysis_error": np.array(error),
        "model": np.array(f"{lifter.name}@{lifter.version}"),
        "analysis_version": np.array(ANALYSIS_VERSION),
        "landmarks": _landmark_summary_input(walk.path),
    }
    _save_npz(cache, data)
    return data


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a cached ``.npz`` (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _save_npz(path: Path, arrays: dict) -> None:
    """``arrays`` compressed to ``path`` through a temporary file, so an interrupted run leaves no half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def _landmark_summary_input(path: Path) -> np.ndarray:
    """``(T, 33, 3)`` float16 normalised landmarks (NaN outside the image), for the 2D (no lifter) feature set."""
    from gaitscope.io.landmarks import read_landmark_table

    t = read_landmark_table(path)
    lm = t.landmarks[t.detected][..., :2].astype(np.float64)
    inside = (lm >= 0).all(axis=-1) & (lm <= 1).all(axis=-1)
    lm[~inside] = np.nan
    ts = t.timestamps_s[t.detected] if t.timestamps_s is not None else np.arange(len(lm)) / 30.0
    out = np.concatenate([lm, np.broadcast_to(ts[:, None, None], lm.shape[:2] + (1,))], axis=-1)
    return out.astype(np.float32)


def build_cache(root: str | Path | None = None, cache_dir: str | Path = DEFAULT_CACHE, lifter=None, *,
                progress: Callable[[int, int, str], None] | None = None, refresh: bool = False) -> dict[str, dict]:
    """Features of every walk, lifting only those not cached yet: ``{walk_id: arrays}``."""
    from gaitscope.analysis.report import ANALYSIS_VERSION

    walks, _ = discover_walks(root)

    def stale(w: PDWalk) -> bool:
        p = _cache_path(Path(cache_dir), w)
        if not p.exists():
            return True
        with np.load(p, allow_pickle=False) as z:
            return "analysis_version" not in z.files or str(z["analysis_version"]) != ANALYSIS_VERSION

    if lifter is None and (refresh or any(stale(w) for w in walks)):
        from gaitscope.pipeline.lifter_choice import load_lifter

        lifter = load_lifter(None)
    out = {}
    for k, w in enumerate(walks):
        if progress:
            progress(k, len(walks), w.walk_id)
        out[w.walk_id] = walk_features(w, lifter, cache_dir, refresh=refresh)
    return out


def read_cache(root: str | Path | None = None, cache_dir: str | Path = DEFAULT_CACHE) -> dict[str, dict]:
    """Every walk's cached arrays as they are: no lifting, no version check (``benchmarks/pd_real.py
    --frozen-cache``). Why: re-measuring a documented table needs the features it was measured on, also after the
    gait analysis' version has moved on (which would make :func:`build_cache` lift everything again); the analysis
    versions found are in each walk's ``analysis_version``."""
    walks, _ = discover_walks(root)
    missing = [w.walk_id for w in walks if not _cache_path(Path(cache_dir), w).exists()]
    if missing:
        raise InvalidInputError(f"{len(missing)} walks are not in the cache {cache_dir} (e.g. {missing[0]}).",
                                "Build it once without --frozen-cache.")
    out = {}
    for w in walks:
        out[w.walk_id] = _load_npz(_cache_path(Path(cache_dir), w))
    return out


def build_encoder_cache(encoder, base_cache: str | Path, out_cache: str | Path, root: str | Path | None = None, *,
                        progress: Callable[[int, int, str], None] | None = None) -> dict[str, dict]:
    """The walks of ``base_cache`` (built by :func:`build_cache`) with ``embedding_frames`` from ``encoder`` (a
    :class:`~gaitscope.models.inference.Lifter`): ``{walk_id: arrays}``. Only the embedding is cached in
    ``out_cache`` (``<walk_id>.npz`` with ``embedding_frames`` and ``model``); the rest is read from the base.

    Why the base's arrays: the gait analysis (strides, stride frequency) stays that of the shipped lifter, so a
    comparison of encoders changes nothing but the embedding. The walk is read and embedded as :func:`walk_features`
    does it (:func:`gaitscope.pipeline.landmarks.lift_landmarks`) but without the mirrored pass: the embedding is
    pooled from the un-mirrored half of that pass only, so it is the same numbers at half the compute. The
    embeddings are computed first (no base needed), then merged, so this may run while the base is being built."""
    from gaitscope.io.landmarks import load_mediapipe_csv
    from gaitscope.pipeline import landmarks as pl

    walks, _ = discover_walks(root)
    tag = f"{encoder.name}@{encoder.version}"
    for k, w in enumerate(walks):
        if progress:
            progress(k, len(walks), w.walk_id)
        dest = _cache_path(Path(out_cache), w)
        if dest.exists():
            with np.load(dest, allow_pickle=False) as z:
                if str(z["model"]) == tag:
                    continue
        _, emb = pl.lift_landmarks(load_mediapipe_csv(w.path), encoder, flip_tta=False)
        _save_npz(dest, {"embedding_frames": np.asarray(emb.per_frame, dtype=np.float16), "model": np.array(tag)})
    out: dict[str, dict] = {}
    for w in walks:
        base = _cache_path(Path(base_cache), w)
        if not base.exists():
            raise InvalidInputError(f"{base} is missing: the base cache of the shipped lifter is built first.",
                                    "Run benchmarks/pd_real.py once without --encoder.")
        data = _load_npz(base)
        with np.load(_cache_path(Path(out_cache), w), allow_pickle=False) as z:
            frames = z["embedding_frames"]
        if frames.shape[0] != data["embedding_frames"].shape[0]:
            raise ValueError(f"{w.walk_id}: {frames.shape[0]} embedded frames, base cache has "
                             f"{data['embedding_frames'].shape[0]}")
        data.update(embedding_frames=frames, base_model=data["model"], model=np.array(tag))
        out[w.walk_id] = data
    return out
