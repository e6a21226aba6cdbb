"""Disease-classification heads, the training side: turn walks into features, fit a head for the registry.

What lives where:

* feature vectors and the labelled-dataset container: :mod:`gaitscope.models.features`;
* the heads (sklearn API) and their pickle-free serialisation: :mod:`gaitscope.models.classifiers`;
* the evaluation protocol (subject-wise CV, metrics, bootstrap): :mod:`gaitscope.models.evaluation`;
* the registry and the prediction the pipeline stores with each analysis: :mod:`gaitscope.pipeline.prediction`;
* the encoder for embeddings: :func:`gaitscope.pipeline.lifter_choice.embedding_lifter`;
* the evaluation figures: :mod:`gaitscope.reports.classifier_plots`; the two CLI subcommands:
  :mod:`gaitscope.cli.classify`;
* here: turning walks into features (simulate or load -> analyze -> embed), fitting a head with its
  cross-validated metrics, and the Hoehn & Yahr speed sanity check on PhysioNet's gaitpdb demographics.

Labelled real data (bring your own): ``gaitscope/data/labels_format.md`` describes the folder layout read by
:func:`load_labelled_dataset`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitscope.errors import InvalidInputError
from gaitscope.models.features import (
    FEATURE_SETS,
    LabelledFeatures,
    kinematic_names,
    kinematic_vector,
)
from gaitscope.pipeline.lifter_choice import embedding_lifter
from gaitscope.pipeline.prediction import DEFAULT_HEAD_NAME, RegisteredHead
from gaitscope.records import Keypoints2D, Motion3D
from gaitscope.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

DEFAULT_CLIP_LEN = 81  # fine-tuning clips: MotionBERT's action clips are 243; 81 keeps CPU fine-tuning feasible


# ---------------------------------------------------------------------------------------------------------
# Features of one walk
# ---------------------------------------------------------------------------------------------------------


def clip_from_keypoints(kp: Keypoints2D, clip_len: int = DEFAULT_CLIP_LEN) -> np.ndarray:
    """The middle ``clip_len`` frames of the normalised 2D input ``(clip_len, 17, 3)`` (resampled if shorter)."""
    from gaitscope.models.preprocess import normalise_keypoints

    x, _ = normalise_keypoints(kp)
    t = x.shape[0]
    if t >= clip_len:
        s = (t - clip_len) // 2
        return x[s : s + clip_len]
    idx = np.linspace(0, t - 1, clip_len)
    lo = np.floor(idx).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (idx - lo)[:, None, None]
    return ((1 - w) * x[lo] + w * x[hi]).astype(np.float32)


@dataclass
class _Rows:
    seq: list[str] = field(default_factory=list)
    subj: list[str] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    kin: list[np.ndarray] = field(default_factory=list)
    emb: list[np.ndarray] = field(default_factory=list)
    clips: list[np.ndarray] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)

    def add(self, seq, subj, label, kin, emb, clip, **extra) -> None:
        self.seq.append(seq)
        self.subj.append(subj)
        self.label.append(label)
        self.kin.append(kin)
        self.emb.append(emb)
        if clip is not None:
            self.clips.append(clip)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(v)


def _assemble(rows: _Rows, class_names, model_tag: str, description: str) -> LabelledFeatures:
    emb = np.stack(rows.emb) if rows.emb and rows.emb[0] is not None else np.zeros((len(rows.seq), 0))
    return LabelledFeatures(
        np.array(rows.seq), np.array(rows.subj), np.array(rows.label), tuple(class_names), np.stack(rows.kin), emb,
        tuple(kinematic_names()), model_tag, description, {k: np.asarray(v) for k, v in rows.extra.items()},
        np.stack(rows.clips) if rows.clips else None,
    )


def synthetic_features(
    n_subjects: int = 24,
    walks_per_subject: int = 3,
    *,
    seed: int = 0,
    lifter: Any = None,
    embed: bool = True,
    clip_len: int | None = None,
    duration_s: float = 4.0,
    fps: float = 25.0,
    label_noise: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> LabelledFeatures:
    """The labelled synthetic cohort as features (see :mod:`gaitscope.synthetic.cohort_labels`).

    Kinematic features: :func:`analyze_gait` on the walker's 3D motion (ground truth, so they measure the
    classifier, not the lifter). Embeddings: ``lifter.embed`` of a simulated camera view of the same walk
    (``lifter`` default: :func:`embedding_lifter`). ``clip_len`` also keeps normalised 2D clips for fine-tuning.
    """
    from gaitscope.analysis import analyze_gait
    from gaitscope.synthetic.cohort_labels import (
        CLASS_NAMES,
        make_labelled_cohort,
        simulate_labelled_walk,
        walk_keypoints,
    )

    walks = make_labelled_cohort(n_subjects, walks_per_subject, seed=seed, duration_s=duration_s, fps=fps,
                                 label_noise=label_noise)
    if embed and lifter is None:
        lifter = embedding_lifter()
    rows = _Rows()
    for i, w in enumerate(walks):
        sim = simulate_labelled_walk(w)
        report = analyze_gait(sim.motion, height_m=w.params.height_m)
        kp = walk_keypoints(sim, seed=w.camera_seed) if (embed or clip_len) else None
        emb = lifter.embed(kp).pooled.astype(np.float64) if embed else None
        clip = clip_from_keypoints(kp, clip_len) if clip_len else None
        rows.add(w.sequence_id, w.subject_id, w.label, kinematic_vector(report), emb, clip,
                 true_class=w.true_class, latent_severity=w.latent_severity)
        if progress:
            progress(i + 1, len(walks))
    tag = f"{lifter.name}@{lifter.version}" if embed else ""
    desc = (f"synthetic labelled cohort: {n_subjects} subjects x {walks_per_subject} walks, seed {seed}, "
            f"{duration_s:g} s at {fps:g} fps, label noise {label_noise:g}; kinematics from analyze_gait on the "
            f"walker's 3D motion; embeddings {tag or 'none'} on a simulated side-ish camera view")
    return _assemble(rows, CLASS_NAMES, tag, desc)


# ---------------------------------------------------------------------------------------------------------
# Real labelled datasets (bring your own)
# ---------------------------------------------------------------------------------------------------------

_COCO_JOINT_FORMATS = ("coco", "coco17", "coco-17")


def _to_h36m_2d(arr: np.ndarray, joint_format: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    if arr.ndim != 3 or arr.shape[1] != 17 or arr.shape[2] not in (2, 3):
        raise InvalidInputError(f"{where}: expected 2D keypoints of shape (T, 17, 2 or 3), got {arr.shape}.",
                                "See gaitscope/data/labels_format.md.")
    pts = np.concatenate([arr, np.ones(arr.shape[:2] + (1,))], axis=-1) if arr.shape[2] == 2 else arr
    if joint_format.lower() in _COCO_JOINT_FORMATS:
        from gaitscope.io.keypoints import coco17_to_h36m

        return coco17_to_h36m(pts.astype(np.float64))
    if joint_format.lower() not in ("h36m", "h36m17", "h36m-17"):
        raise InvalidInputError(f"{where}: unknown joint format {joint_format!r}.", "Use 'h36m' or 'coco'.")
    return pts[..., :2].astype(np.float32), np.clip(pts[..., 2], 0, 1).astype(np.float32)


def keypoints_from_array(xy: np.ndarray, conf: np.ndarray, fps: float, width: int | None = None,
                         height: int | None = None) -> Keypoints2D:
    """H36M-17 pixel keypoints as a record; the image size defaults to the keypoints' extent."""
    t = xy.shape[0]
    finite = xy[np.isfinite(xy).all(-1) & (conf > 0)]
    w = int(width or max(1, np.ceil(finite[:, 0].max()) + 1 if len(finite) else 1))
    h = int(height or max(1, np.ceil(finite[:, 1].max()) + 1 if len(finite) else 1))
    return Keypoints2D(xy_px=np.nan_to_num(xy).astype(np.float32), conf=np.where(np.isfinite(xy).all(-1), conf, 0).astype(np.float32),
                       fps=float(fps), width=w, height=h, frame_index=np.arange(t), interpolated=np.zeros(t, bool),
                       source="labelled-dataset")


def orthographic_side_view(xyz: np.ndarray, up: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 17, 3)`` 3D joints -> 2D "pixels" seen from the side: x along the walking direction (principal
    horizontal direction of pelvis travel, else of the body), y = -height (image y points down), conf 1.
    The Parkinson's benchmark feeds 2D encoders an orthographic projection of mocap in the same spirit."""
    up = np.asarray(up, dtype=float)
    up = up / np.linalg.norm(up)
    pel = xyz[:, 0] - np.nanmean(xyz[:, 0], axis=0)
    flat = pel - np.outer(pel @ up, up)
    if not np.isfinite(flat).all() or np.linalg.norm(flat) < 1e-6:
        flat = (xyz - xyz[:, :1]).reshape(-1, 3)
        flat = flat - np.outer(flat @ up, up)
    _, _, vt = np.linalg.svd(np.nan_to_num(flat), full_matrices=False)
    fwd = vt[0] - (vt[0] @ up) * up
    fwd /= np.linalg.norm(fwd)
    xy = np.stack([xyz @ fwd, -(xyz @ up)], axis=-1)
    xy = (xy - np.nanmin(xy.reshape(-1, 2), axis=0)) * 500.0 + 10.0  # metres -> a 500 px/m "image"
    return xy.astype(np.float32), np.ones(xyz.shape[:2], np.float32)


def load_labelled_dataset(
    data_dir: str | Path,
    labels_csv: str | Path | None = None,
    *,
    lifter: Any = None,
    embed: bool = True,
    clip_len: int | None = None,
    default_fps: float = 30.0,
    default_joint_format: str = "h36m",
) -> LabelledFeatures:
    """Read a labelled skeleton dataset (format: ``gaitscope/data/labels_format.md``) into features.

    Per sequence: 2D keypoints (``.npy`` ``(T, 17, 2|3)`` or ``.npz`` key ``keypoints``) are lifted with
    ``lifter`` for the kinematics and embedded; 3D joints (``.npz`` key ``xyz``, metres, H36M-17) are analyzed
    directly and embedded from an orthographic side view. A sequence whose analysis fails is skipped with a
    warning (listed in ``description``).
    """
    from gaitscope.analysis import analyze_gait
    from gaitscope.errors import AnalysisError

    data_dir = Path(data_dir)
    labels_path = Path(labels_csv) if labels_csv else data_dir / "labels.csv"
    if not labels_path.exists():
        raise InvalidInputError(f"Labels file not found: {labels_path}.",
                                "Put labels.csv (sequence_id, subject_id, label) beside the sequences.")
    table = pd.read_csv(labels_path, dtype={"sequence_id": str, "subject_id": str})
    missing = {"sequence_id", "subject_id", "label"} - set(table.columns)
    if missing:
        raise InvalidInputError(f"{labels_path} lacks column(s) {sorted(missing)}.",
                                "The labels CSV needs sequence_id, subject_id and label.")
    raw_labels = table["label"].tolist()
    try:
        uniq = sorted({int(v) for v in raw_labels})
        class_names = tuple(str(v) for v in uniq)
        label_idx = [uniq.index(int(v)) for v in raw_labels]
    except (TypeError, ValueError):
        uniq_s = sorted({str(v) for v in raw_labels})
        class_names = tuple(uniq_s)
        label_idx = [uniq_s.index(str(v)) for v in raw_labels]
    if embed and lifter is None:
        lifter = embedding_lifter()
    rows, skipped = _Rows(), []
    for r, lab in zip(table.itertuples(index=False), label_idx):
        seq = str(r.sequence_id)
        fps = float(getattr(r, "fps", default_fps) if pd.notna(getattr(r, "fps", np.nan)) else default_fps)
        jf = str(getattr(r, "joint_format", default_joint_format) if pd.notna(getattr(r, "joint_format", np.nan))
                 else default_joint_format)
        height = getattr(r, "height_m", None)
        height = float(height) if height is not None and pd.notna(height) else None
        npz, npy = data_dir / f"{seq}.npz", data_dir / f"{seq}.npy"
        xyz, kp = None, None
        if npz.exists():
            with np.load(npz, allow_pickle=False) as z:
                fps = float(z["fps"]) if "fps" in z.files else fps
                jf = str(z["joint_format"]) if "joint_format" in z.files else jf
                if "xyz" in z.files:
                    xyz = np.asarray(z["xyz"], dtype=np.float64)
                    up = tuple(float(v) for v in z["up"]) if "up" in z.files else (0.0, 0.0, 1.0)
                elif "keypoints" in z.files:
                    xy, conf = _to_h36m_2d(np.asarray(z["keypoints"], dtype=np.float64), jf, str(npz))
                    kp = keypoints_from_array(xy, conf, fps, int(z["width"]) if "width" in z.files else None,
                                              int(z["height"]) if "height" in z.files else None)
                else:
                    raise InvalidInputError(f"{npz} holds neither 'keypoints' (2D) nor 'xyz' (3D).",
                                            "See gaitscope/data/labels_format.md.")
        elif npy.exists():
            xy, conf = _to_h36m_2d(np.load(npy, allow_pickle=False).astype(np.float64), jf, str(npy))
            kp = keypoints_from_array(xy, conf, fps)
        else:
            raise InvalidInputError(f"No file for sequence {seq!r} ({npz.name} or {npy.name}) in {data_dir}.")
        if xyz is not None:
            if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
                raise InvalidInputError(f"{npz}: 'xyz' must be (T, 17, 3) H36M joints in metres, got {xyz.shape}.")
            motion = Motion3D(xyz_m=xyz, fps=fps, up=up, root_relative=False, scale_source="dataset (metres)",
                              source=f"dataset:{seq}")
            xy, conf = orthographic_side_view(xyz, up)
            kp = keypoints_from_array(xy, conf, fps)
        else:
            motion = lifter.lift(kp, height_m=height) if lifter is not None else None
        try:
            if motion is None:
                raise AnalysisError("no 3D motion (2D-only sequence and no lifter)")
            kin = kinematic_vector(analyze_gait(motion, height_m=height))
        except AnalysisError as exc:
            skipped.append(f"{seq}: {exc}")
            log.warning("sequence %s skipped: %s", seq, exc)
            continue
        emb = lifter.embed(kp).pooled.astype(np.float64) if embed else None
        clip = clip_from_keypoints(kp, clip_len) if clip_len else None
        rows.add(seq, str(r.subject_id), lab, kin, emb, clip)
    if not rows.seq:
        raise InvalidInputError(f"No usable sequence in {data_dir}.", "; ".join(skipped[:3]))
    tag = f"{lifter.name}@{lifter.version}" if embed else ""
    desc = f"labelled dataset {data_dir} ({labels_path.name}): {len(rows.seq)} sequences"
    if skipped:
        desc += f"; {len(skipped)} skipped ({'; '.join(skipped[:3])})"
    return _assemble(rows, class_names, tag, desc)


# ---------------------------------------------------------------------------------------------------------
# Fitting a head for the registry (stored and run by gaitscope.pipeline.prediction)
# ---------------------------------------------------------------------------------------------------------


def fit_head(
    data: LabelledFeatures,
    head: str = "linear",
    feature_set: str = "kinematic",
    *,
    name: str = DEFAULT_HEAD_NAME,
    version: str | None = None,
    cv: str | None = "loso",
    n_boot: int = 500,
    seed: int = 0,
    **head_params: Any,
) -> RegisteredHead:
    """Fit ``head`` on all of ``data`` (after the subject-wise CV that gives its reported metrics)."""
    from gaitscope.models.classifiers import make_head
    from gaitscope.models.evaluation import evaluate

    if head == "finetune":
        raise InvalidInputError("Fine-tuned encoders are evaluated (evaluate-classifier --finetune-steps) but not "
                                "registered: the pipeline feeds registered heads with report + embedding features.")
    if feature_set not in FEATURE_SETS:
        raise InvalidInputError(f"Unknown feature set {feature_set!r}.", f"Use one of {', '.join(FEATURE_SETS)}.")
    metrics: dict[str, Any] = {}
    if cv:
        res = evaluate(data, {head: lambda: make_head(head, **head_params)}, [feature_set], scheme=cv,
                       n_boot=n_boot, seed=seed)
        row = res.row(feature_set, head)
        base = res.row("-", "majority")
        keep = ["weighted_f1", "weighted_f1_lo", "weighted_f1_hi", "macro_f1", "balanced_accuracy", "accuracy",
                "mae", "brier", "ece"]
        metrics = {k: float(row[k]) for k in keep if k in row}
        metrics["majority_weighted_f1"] = float(base["weighted_f1"])
        metrics["cv"] = f"{cv}, {res.settings['n_folds']} folds, pooled out-of-fold, bootstrap over subjects"
    est = make_head(head, **head_params).fit(data.matrix(feature_set), data.labels)
    version = version or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    metrics.update({"n_sequences": len(data), "n_subjects": data.n_subjects,
                    "class_counts": np.bincount(data.labels, minlength=len(data.class_names)).tolist()})
    return RegisteredHead(est, name, version, feature_set, tuple(data.class_names),
                          data.embedding_model if feature_set != "kinematic" else "",
                          tuple(data.kinematic_feature_names), data.description, metrics)


# ---------------------------------------------------------------------------------------------------------
# Real-label sanity check: PhysioNet Gait in Parkinson's Disease demographics
# ---------------------------------------------------------------------------------------------------------


def load_gaitpdb_demographics(path: str | Path) -> pd.DataFrame:
    """PhysioNet gaitpdb ``demographics.txt`` (tab-separated; ``NaN`` text = missing) as a table.

    Rows carry a varying number of empty trailing fields, so the file is split by hand and cut to the header's
    named columns."""
    lines = [ln.rstrip("\r\n") for ln in Path(path).read_text().splitlines() if ln.strip()]
    header = [h for h in lines[0].split("\t") if h.strip()]
    rows = [(ln.split("\t") + [""] * len(header))[: len(header)] for ln in lines[1:]]
    df = pd.DataFrame(rows, columns=header).replace({"": np.nan, "NaN": np.nan, "nan": np.nan})
    df = df.dropna(subset=["ID"])
    for c in df.columns:
        if c not in ("ID", "Study"):
            df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def hoehn_yahr_speed_check(path: str | Path, *, speed_column: str = "Speed_01", include_controls: bool = False,
                           n_boot: int = 2000, seed: int = 0):
    """Does walking speed order people as their Hoehn & Yahr stage does? Spearman rho (expected negative:
    slower walking at higher stages) with a bootstrap CI over people.

    PD patients only by default (stages 2-3); ``include_controls`` adds controls as stage 0. This checks the
    *speed branch* of a severity model against real clinical labels: a kinematic head that weights speed should
    order patients the same way.
    """
    from gaitscope.models.evaluation import spearman_agreement

    df = load_gaitpdb_demographics(path)
    stage = df["HoehnYahr"].copy()
    if include_controls:
        stage = stage.where(df["Group"] == 1, 0.0)
    else:
        keep = df["Group"] == 1
        df, stage = df[keep], stage[keep]
    return spearman_agreement(df[speed_column].to_numpy(), stage.to_numpy(), n_boot=n_boot, seed=seed)
