"""Disease-classification heads in the platform: build features, train / evaluate, registry, per-analysis prediction.

What lives where:

* feature vectors and the labelled-dataset container: :mod:`gaitscope.models.features`;
* the heads (sklearn API) and their pickle-free serialisation: :mod:`gaitscope.models.classifiers`;
* the evaluation protocol (subject-wise CV, metrics, bootstrap): :mod:`gaitscope.models.evaluation`;
* here: turning walks into features (simulate or load -> analyse -> embed), the model registry, the prediction
  the pipeline stores with each analysis, plots, and the two CLI subcommands.

Pipeline hook (the lead calls this after the analysis stage)::

    head = load_active_head(session)             # None when no head is registered / active
    if head is not None:
        prediction = predict_for_analysis(head, report, embedding)

Labelled real data (bring your own): ``gaitscope/data/labels_format.md`` describes the folder layout read by
:func:`load_labelled_dataset`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gaitscope.errors import CheckpointError, InvalidInputError
from gaitscope.models.features import (
    FEATURE_SETS,
    LabelledFeatures,
    feature_vector,
    kinematic_names,
    kinematic_vector,
)
from gaitscope.records import (
    GaitReport,
    Keypoints2D,
    Motion3D,
    MotionEmbedding,
    Prediction,
)
from gaitscope.skeleton import NUM_JOINTS

log = logging.getLogger(__name__)

#: Registry name of the Parkinson's gait-severity head (MDS-UPDRS-III item 3.10 style, classes 0-3).
DEFAULT_HEAD_NAME = "updrs_gait"
DEFAULT_CLIP_LEN = 81  # fine-tuning clips: MotionBERT's action clips are 243; 81 keeps CPU fine-tuning feasible


# ---------------------------------------------------------------------------------------------------------
# Encoder choice
# ---------------------------------------------------------------------------------------------------------


def embedding_lifter(checkpoint: str | Path | None = None, allow_untrained: bool = True):
    """The encoder for embeddings: ``checkpoint``, else the bundled lifter, else (if allowed) an untrained small
    DSTformer, with a logged warning (random features: fine for plumbing, meaningless clinically)."""
    from gaitscope.pipeline.lifter_choice import load_lifter

    try:
        return load_lifter(checkpoint)
    except CheckpointError:
        if checkpoint is not None or not allow_untrained:
            raise
    from gaitscope.models.inference import Lifter

    log.warning("No bundled lifter found: embeddings come from an UNTRAINED small DSTformer (random features).")
    return Lifter.untrained("small")


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
    ``lifter`` for the kinematics and embedded; 3D joints (``.npz`` key ``xyz``, metres, H36M-17) are analysed
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
# Registered heads
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredHead:
    """A fitted head with everything needed to use it on a new analysis and to say where it came from."""

    estimator: Any
    name: str
    version: str
    feature_set: str
    class_names: tuple[str, ...]
    embedding_model: str = ""  # encoder that made the training embeddings ("" for kinematic-only heads)
    kinematic_feature_names: tuple[str, ...] = ()
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    def blob(self) -> bytes:
        from gaitscope.models.classifiers import head_to_bytes

        return head_to_bytes(self.estimator, extra={
            "name": self.name, "version": self.version, "feature_set": self.feature_set,
            "class_names": list(self.class_names), "embedding_model": self.embedding_model,
            "kinematic_feature_names": list(self.kinematic_feature_names),
        })

    @classmethod
    def from_blob(cls, blob: bytes, *, training_data: str = "", metrics: dict | None = None) -> RegisteredHead:
        from gaitscope.models.classifiers import head_from_bytes, read_head_meta

        extra = read_head_meta(blob)["extra"]
        return cls(head_from_bytes(blob), extra["name"], extra["version"], extra["feature_set"],
                   tuple(extra["class_names"]), extra.get("embedding_model", ""),
                   tuple(extra.get("kinematic_feature_names", ())), training_data, dict(metrics or {}))


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


def save_head(session, head: RegisteredHead, *, active: bool = True):
    """Store ``head`` in the model registry (weights as a pickle-free npz blob); returns the registry row."""
    from gaitscope.db.repository import register_model

    fs = head.feature_set + (f" [{head.embedding_model}]" if head.embedding_model else "")
    return register_model(session, head.name, head.version, feature_set=fs, classes=list(head.class_names),
                          training_data=head.training_data, metrics=head.metrics, blob=head.blob(), active=active)


def _from_row(row) -> RegisteredHead:
    if row.blob is None:
        if not row.path:
            raise CheckpointError(f"Classifier {row.name} {row.version} has no stored weights.")
        blob = Path(row.path).read_bytes()
    else:
        blob = bytes(row.blob)
    try:
        return RegisteredHead.from_blob(blob, training_data=row.training_data or "", metrics=dict(row.metrics or {}))
    except ValueError as exc:
        raise CheckpointError(f"Classifier {row.name} {row.version} cannot be read: {exc}",
                              "Re-train and register it with `gaitscope train-classifier`.") from exc


def load_active_head(session, name: str = DEFAULT_HEAD_NAME) -> RegisteredHead | None:
    """The active head called ``name``, or None when none is registered / active."""
    from gaitscope.db.repository import active_model

    row = active_model(session, name)
    return None if row is None else _from_row(row)


def load_head(session, name: str, version: str) -> RegisteredHead:
    from sqlalchemy import select

    from gaitscope.db.models import ModelRegistry

    row = session.scalars(select(ModelRegistry).where(ModelRegistry.name == name,
                                                      ModelRegistry.version == version)).first()
    if row is None:
        raise CheckpointError(f"No classifier {name} {version} in the registry.")
    return _from_row(row)


def predict_for_analysis(head: RegisteredHead, report: GaitReport, embedding: MotionEmbedding | None) -> Prediction:
    """Run ``head`` on one analysis. Raises :class:`InvalidInputError` when the analysis lacks the head's inputs
    or its embedding comes from another encoder than the head was trained on (the features would be
    meaningless); the pipeline should then store no prediction rather than a wrong one."""
    if head.feature_set in ("embedding", "both"):
        if embedding is None:
            raise InvalidInputError(f"Classifier {head.name} {head.version} needs the motion embedding, which this "
                                    "analysis does not have.")
        tag = f"{embedding.model_name}@{embedding.model_version}"
        if head.embedding_model and tag != head.embedding_model:
            raise InvalidInputError(
                f"Classifier {head.name} {head.version} was trained on embeddings of {head.embedding_model}, but "
                f"this analysis used {tag}.", "Re-train the classifier on embeddings of the current lifter.")
    try:
        x = feature_vector(head.feature_set, report, embedding)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    if (head.kinematic_feature_names and head.feature_set != "embedding"
            and tuple(head.kinematic_feature_names) != tuple(kinematic_names())):
        raise InvalidInputError(f"Classifier {head.name} {head.version} uses another kinematic feature list "
                                "than this gaitscope version.", "Re-train it with `gaitscope train-classifier`.")
    proba = np.asarray(head.estimator.predict_proba(x[None, :])[0], dtype=float)
    full = np.zeros(len(head.class_names))
    full[np.asarray(head.estimator.classes_, dtype=int)] = proba
    full = full / full.sum()
    return Prediction(head_name=head.name, head_version=head.version, classes=tuple(head.class_names),
                      probabilities=tuple(float(p) for p in full), predicted=head.class_names[int(np.argmax(full))],
                      feature_set=head.feature_set)


def predict_active(session, report: GaitReport, embedding: MotionEmbedding | None,
                   name: str = DEFAULT_HEAD_NAME) -> Prediction | None:
    """Convenience for the pipeline: the active head's prediction, or None (no head, or inputs it cannot use:
    logged as a warning)."""
    head = load_active_head(session, name)
    if head is None:
        return None
    try:
        return predict_for_analysis(head, report, embedding)
    except InvalidInputError as exc:
        log.warning("no %s prediction: %s", name, exc)
        return None


# ---------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------


def plot_results(result, out_dir: str | Path) -> dict[str, Path]:
    """``comparison.png`` (weighted F1 with subject-bootstrap CIs, majority line), ``confusion.png`` (every
    model) and ``calibration.png`` (reliability diagram of the best model) from an ``EvaluationResult``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = result.table
    paths = {}
    labels = [f"{r.feature_set}\n{r.head}" if r.feature_set != "-" else "majority" for r in t.itertuples()]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(t)), 4))
    y = t["weighted_f1"].to_numpy()
    if "weighted_f1_lo" in t:
        err = np.vstack([y - t["weighted_f1_lo"].to_numpy(), t["weighted_f1_hi"].to_numpy() - y])
    else:
        err = None
    colors = ["0.6" if r.head == "majority" else "C0" if r.feature_set == "kinematic" else
              "C1" if r.feature_set == "embedding" else "C2" for r in t.itertuples()]
    ax.bar(range(len(t)), y, yerr=err, capsize=3, color=colors)
    base = float(t.loc[t["head"] == "majority", "weighted_f1"].iloc[0])
    ax.axhline(base, color="0.3", ls="--", lw=1, label="majority baseline")
    ax.set_xticks(range(len(t)), labels, fontsize=8)
    ax.set_ylabel("weighted F1 (pooled out-of-fold)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{result.settings.get('scheme', '')} CV, 95% CI: bootstrap over subjects", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths["comparison_png"] = out / "comparison.png"
    fig.savefig(paths["comparison_png"], dpi=120)
    plt.close(fig)

    keys = list(result.confusions)
    ncol = min(4, len(keys))
    nrow = int(np.ceil(len(keys) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3 * ncol, 2.9 * nrow), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        cm = result.confusions[key]
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title(key if not key.startswith("-/") else "majority", fontsize=8)
        ax.set_xticks(range(len(result.class_names)), result.class_names, fontsize=7)
        ax.set_yticks(range(len(result.class_names)), result.class_names, fontsize=7)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("true", fontsize=7)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    paths["confusion_png"] = out / "confusion.png"
    fig.savefig(paths["confusion_png"], dpi=110)
    plt.close(fig)

    models = t[t["head"] != "majority"]
    if len(models):
        best = models.sort_values("weighted_f1", ascending=False).iloc[0]
        p = result.predictions
        sel = p[(p["feature_set"] == best["feature_set"]) & (p["head"] == best["head"])]
        proba = sel[[f"p_{c}" for c in result.class_names]].to_numpy()
        conf = proba.max(axis=1)
        correct = (proba.argmax(axis=1) == sel["label"].to_numpy()).astype(float)
        edges = np.linspace(0, 1, 11)
        b = np.minimum(np.digitize(conf, edges) - 1, 9)
        xs = [conf[b == k].mean() for k in range(10) if (b == k).any()]
        ys = [correct[b == k].mean() for k in range(10) if (b == k).any()]
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1)
        ax.plot(xs, ys, "o-")
        ax.set_xlabel("confidence (top class)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"calibration: {best['feature_set']} / {best['head']} (ECE {best['ece']:.2f})", fontsize=9)
        fig.tight_layout()
        paths["calibration_png"] = out / "calibration.png"
        fig.savefig(paths["calibration_png"], dpi=110)
        plt.close(fig)
    return paths


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


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (the labelled synthetic cohort), 'pd-real' (the real Parkinson's walks of "
                        "Deng et al. 2024 in ../shared, evaluation only) or a folder of labelled sequences "
                        "(see gaitscope/data/labels_format.md)")
    p.add_argument("--labels", default=None, help="labels CSV (default: DATA/labels.csv)")
    p.add_argument("--features", type=Path, default=None,
                   help="features .npz: read it if it exists, else build the features and write it there")
    p.add_argument("--checkpoint", default=None, help="encoder for embeddings (default: the bundled lifter)")
    p.add_argument("--no-embedding", action="store_true", help="kinematic features only (no encoder)")
    p.add_argument("--subjects", type=int, default=24, help="synthetic: number of subjects")
    p.add_argument("--walks", type=int, default=3, help="synthetic: walks per subject")
    p.add_argument("--label-noise", type=float, default=0.1, help="synthetic: probability a rating is off by one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


def _load_data(args: argparse.Namespace, clip_len: int | None = None) -> LabelledFeatures:
    if args.features is not None and Path(args.features).exists():
        data = LabelledFeatures.load(args.features)
        if clip_len and data.clips is None:
            raise InvalidInputError(f"{args.features} has no 2D clips for fine-tuning.",
                                    "Delete it (or pass another --features path) to rebuild with clips.")
        return data
    embed = not args.no_embedding
    lifter = embedding_lifter(args.checkpoint) if (embed or clip_len) else None
    if args.data == "synthetic":
        bar = None
        if not args.quiet:
            from tqdm import tqdm

            bar = tqdm(total=args.subjects * args.walks, desc="walks", file=sys.stderr)
        data = synthetic_features(args.subjects, args.walks, seed=args.seed, lifter=lifter, embed=embed,
                                  clip_len=clip_len, label_noise=args.label_noise,
                                  progress=(lambda d, t: bar.update(1)) if bar else None)
        if bar:
            bar.close()
    else:
        data = load_labelled_dataset(args.data, args.labels, lifter=lifter, embed=embed, clip_len=clip_len)
    if args.features is not None:
        data.save(args.features)
    return data


def cmd_evaluate_pd_real(args: argparse.Namespace) -> int:
    """``--data pd-real``: the real-patient protocol of :mod:`gaitscope.training.pd_eval` on one ``--task``."""
    from gaitscope.training import pd_eval, pd_real

    if args.task not in pd_eval.TASKS:
        raise InvalidInputError(f"Unknown task {args.task!r}.", f"Use one of {', '.join(pd_eval.TASKS)}.")
    sets = tuple(s for s in (args.feature_sets or ",".join(pd_eval.FEATURE_SETS)).split(",") if s)
    heads = tuple(h for h in args.heads.split(",") if h)
    if heads == ("linear", "mlp"):  # the synthetic default: use the real-data heads
        heads = pd_eval.HEADS
    bad = ([s for s in sets if s not in pd_eval.FEATURE_SETS + pd_eval.CONFOUND_SETS]
           + [h for h in heads if h not in pd_eval.ALL_HEADS + ("nested_sets",)])
    if bad:
        raise InvalidInputError(f"Unknown feature set(s) or head(s) for pd-real: {bad}.",
                                f"Feature sets: {', '.join(pd_eval.FEATURE_SETS)}; heads: "
                                f"{', '.join(pd_eval.ALL_HEADS)}, nested_sets.")
    nested_sets = pd_eval.NESTED_CANDIDATES if "nested_sets" in heads else None
    heads = tuple(h for h in heads if h != "nested_sets")
    walks, _ = pd_real.discover_walks(args.pd_root)
    scores = pd_real.load_scores(args.pd_root)
    cache = pd_real.build_cache(args.pd_root, args.pd_cache or pd_real.DEFAULT_CACHE)
    labels = pd_eval.task_table(args.task, walks, scores)
    mats = pd_eval.feature_matrices(cache, labels["walk_id"].tolist())
    res = pd_eval.evaluate_task(args.task, labels, mats, feature_sets=sets, heads=heads, auto=not args.no_auto,
                                nested_sets=nested_sets, n_boot=args.n_boot, seed=args.seed)
    paths = pd_eval.save(res, args.out)
    st = res.settings
    print(f"{st['title']}: {st['n_walks']} walks of {st['n_subjects']} people, leave one subject out, "
          f"95 % CI bootstrap over people ({st['n_boot']})")
    if st["published"]:
        print(f"published: {st['published']}")
    print(pd_eval.markdown(res))
    print(f"per-subject predictions, confusion matrix and calibration plot in {paths['table'].parent.resolve()}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gaitscope.models.classifiers import FinetuneClassifier, make_head
    from gaitscope.models.evaluation import evaluate

    if args.data == "pd-real":
        return cmd_evaluate_pd_real(args)

    clip_len = DEFAULT_CLIP_LEN if args.finetune_steps else None
    data = _load_data(args, clip_len)
    heads = {h: (lambda h=h: make_head(h)) for h in args.heads.split(",") if h}
    sets = [s for s in args.feature_sets.split(",") if s] if args.feature_sets else data.available_sets()
    unknown = [s for s in sets if s not in data.available_sets()]
    if unknown:
        raise InvalidInputError(f"Feature set(s) {unknown} are not available for this data "
                                f"(available: {', '.join(data.available_sets())}).",
                                "Embedding sets need an encoder: drop --no-embedding or rebuild the features file.")
    bad_heads = [h for h in heads if h not in ("linear", "mlp")]
    if bad_heads:
        raise InvalidInputError(f"Unknown head(s) {bad_heads}.", "Use --heads linear,mlp (and --finetune-steps N).")
    finetune = None
    if args.finetune_steps:
        finetune = lambda: FinetuneClassifier(config="small", checkpoint=args.checkpoint,
                                              steps=args.finetune_steps, random_state=args.seed)
    res = evaluate(data, heads, sets, scheme=args.cv.replace("-", "_"), n_splits=args.folds, n_boot=args.n_boot,
                   seed=args.seed, finetune=finetune)
    paths = res.save(args.out)
    paths.update(plot_results(res, args.out))
    cols = ["feature_set", "head", "weighted_f1", "weighted_f1_lo", "weighted_f1_hi", "macro_f1",
            "balanced_accuracy", "brier", "ece", "weighted_f1_gain"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.table[[c for c in cols if c in res.table]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n{res.settings['n_sequences']} walks of {res.settings['n_subjects']} subjects; "
          f"{res.settings['scheme']} ({res.settings['n_folds']} folds); embeddings: {data.embedding_model or 'none'}")
    print(f"results in {Path(args.out).resolve()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gaitscope.db import default_url, open_database

    if args.data == "pd-real":
        raise InvalidInputError(
            "The real Parkinson's walks (Deng et al. 2024) are licensed CC BY-NC-ND 4.0: evaluation only, no "
            "model trained on them may be registered or shipped.",
            "Use `gaitscope evaluate-classifier --data pd-real` to evaluate on them.")
    data = _load_data(args)
    head = fit_head(data, args.head, args.feature_set, name=args.name, version=args.version,
                    cv=None if args.cv == "none" else args.cv.replace("-", "_"), n_boot=args.n_boot, seed=args.seed)
    if args.out is not None:
        Path(args.out).write_bytes(head.blob())
        print(f"head written to {args.out}")
    if not args.no_db:
        url = args.db or default_url()
        db = open_database(url, auto_upgrade=True)
        with db.session() as s:
            save_head(s, head, active=not args.inactive)
        print(f"registered {head.name} {head.version} ({head.feature_set}, {args.head})"
              f"{'' if args.inactive else ' as the active head'} in {url}")
    print(json.dumps(head.metrics, indent=2, default=str))
    return 0


def register_cli(subparsers) -> None:
    """Add ``train-classifier`` and ``evaluate-classifier`` to the ``gaitscope`` command line
    (``register_cli(sub)`` with ``sub = parser.add_subparsers(...)`` in :func:`gaitscope.cli.main.build_parser`)."""
    e = subparsers.add_parser("evaluate-classifier",
                              help="subject-wise CV of severity heads x feature sets vs the majority baseline")
    _data_args(e)
    e.add_argument("--heads", default="linear,mlp", help="comma-separated: linear, mlp")
    e.add_argument("--feature-sets", default=None, help="comma-separated: kinematic, embedding, both (default all)")
    e.add_argument("--cv", default="loso", choices=["loso", "group-kfold"])
    e.add_argument("--folds", type=int, default=5, help="group-kfold: number of folds")
    e.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of subjects for the CIs")
    e.add_argument("--finetune-steps", type=int, default=0,
                   help="also fine-tune the encoder end to end for this many steps per fold (slow; 0 = off)")
    e.add_argument("--out", type=Path, default=Path("out/classifier_eval"))
    e.add_argument("--task", default="updrs3_high",
                   help="pd-real: updrs3_high (UPDRS III > 32), gait_0_3, gait_any (3.10 >= 1) or off_on")
    e.add_argument("--pd-root", default=None, help="pd-real: the video_tracking_pd/dataset folder")
    e.add_argument("--pd-cache", type=Path, default=None,
                   help="pd-real: per-walk feature cache (default runs/pd_real/features; never commit it)")
    e.add_argument("--no-auto", action="store_true",
                   help="pd-real: skip the row whose feature set is chosen by inner CV (the slowest)")
    e.set_defaults(func=cmd_evaluate)

    t = subparsers.add_parser("train-classifier", help="fit a severity head on labelled data and register it")
    _data_args(t)
    t.add_argument("--head", default="linear", choices=["linear", "mlp"])
    t.add_argument("--feature-set", default="kinematic", choices=list(FEATURE_SETS))
    t.add_argument("--name", default=DEFAULT_HEAD_NAME)
    t.add_argument("--version", default=None, help="default: UTC timestamp")
    t.add_argument("--cv", default="loso", choices=["loso", "group-kfold", "none"],
                   help="cross-validation whose metrics are stored with the head")
    t.add_argument("--n-boot", type=int, default=500)
    t.add_argument("--db", default=None, help="database URL (default: embedded SQLite, or $GAITSCOPE_DB_URL)")
    t.add_argument("--no-db", action="store_true", help="do not register (use with --out)")
    t.add_argument("--inactive", action="store_true", help="register without making it the active head")
    t.add_argument("--out", type=Path, default=None, help="also write the head blob (.npz) to this file")
    t.set_defaults(func=cmd_train)
