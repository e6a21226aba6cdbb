"""Feature sets for clinical classifiers: the pooled motion embedding, kinematic gait parameters, or both.

* ``embedding``: :attr:`MotionEmbedding.pooled`, the encoder representation averaged over time and joints
  (the frozen-encoder protocol of Adeli et al., FG 2024; MotionBERT notes sections 4.3 and 8).
* ``kinematic``: named spatiotemporal parameters, variability and symmetry from a :class:`GaitReport`, plus the
  Gait Profile Score. Adeli et al. report that hand-crafted gait features with a random forest beat every frozen
  encoder on their Parkinson's data, so this set is the baseline any embedding head must be compared with.
  Values that the analysis could not measure are NaN; the heads impute them (training medians).
* ``both``: the two concatenated (kinematic first).

:class:`LabelledFeatures` holds a labelled dataset (one row per walk / sequence, with its subject) in all sets at
once, so one evaluation compares feature sets on identical samples; it saves to and loads from ``.npz`` without
pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from gaitscope.records import GaitReport, MotionEmbedding

FeatureSet = Literal["embedding", "kinematic", "both"]
FEATURE_SETS: tuple[str, ...] = ("embedding", "kinematic", "both")

#: (parameter name, side) read from ``GaitReport.parameters``. Bilateral means, variability and symmetry: the
#: Parkinsonian signs (step length, arm swing, knee range, cadence, variability) are all here.
KINEMATIC_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("speed", "both"),
    ("cadence", "both"),
    ("stride_time", "both"),
    ("step_time", "both"),
    ("stride_length", "both"),
    ("step_length", "both"),
    ("stance_pct", "both"),
    ("double_support_pct", "both"),
    ("step_width", "both"),
    ("arm_swing", "both"),
    ("knee_rom", "both"),
    ("hip_rom", "both"),
    ("stride_time_cv", "both"),
    ("step_time_cv", "both"),
    ("stride_length_cv", "both"),
    ("step_length_cv", "both"),
    ("step_width_cv", "both"),
    ("step_length_symmetry_ratio", "both"),
    ("step_time_symmetry_ratio", "both"),
    ("arm_swing_symmetry_ratio", "both"),
    ("knee_rom_symmetry_ratio", "both"),
)
#: Summary scores read from ``GaitReport.scores``.
KINEMATIC_SCORES: tuple[str, ...] = ("GPS",)


def kinematic_names() -> list[str]:
    """Column names of the kinematic feature vector, in order."""
    return [n if s == "both" else f"{n}_{s}" for n, s in KINEMATIC_PARAMETERS] + list(KINEMATIC_SCORES)


def kinematic_vector(report: GaitReport) -> np.ndarray:
    """``(K,)`` float64 kinematic features of one analysis; NaN where the analysis has no value."""
    out = np.full(len(KINEMATIC_PARAMETERS) + len(KINEMATIC_SCORES), np.nan)
    for i, (name, side) in enumerate(KINEMATIC_PARAMETERS):
        try:
            out[i] = float(report.parameter(name, side).value)
        except KeyError:
            pass
    for j, name in enumerate(KINEMATIC_SCORES):
        v = report.scores.get(name)
        if v is not None:
            out[len(KINEMATIC_PARAMETERS) + j] = float(v)
    out[~np.isfinite(out)] = np.nan
    return out


def embedding_vector(embedding: MotionEmbedding) -> np.ndarray:
    """``(D,)`` float64 pooled embedding (mean over time and joints)."""
    return np.asarray(embedding.pooled, dtype=np.float64).reshape(-1)


def feature_vector(
    feature_set: str, report: GaitReport | None = None, embedding: MotionEmbedding | None = None
) -> np.ndarray:
    """One sample's feature vector for ``feature_set``; raises ``ValueError`` naming the missing input."""
    check_feature_set(feature_set)
    parts = []
    if feature_set in ("kinematic", "both"):
        if report is None:
            raise ValueError(f"feature set {feature_set!r} needs the gait report of the analysis")
        parts.append(kinematic_vector(report))
    if feature_set in ("embedding", "both"):
        if embedding is None:
            raise ValueError(f"feature set {feature_set!r} needs the motion embedding of the analysis")
        parts.append(embedding_vector(embedding))
    return np.concatenate(parts)


def check_feature_set(feature_set: str) -> str:
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; use one of {', '.join(FEATURE_SETS)}")
    return feature_set


@dataclass
class LabelledFeatures:
    """A labelled dataset in every feature set: one row per sequence (walk), grouped by subject.

    ``embedding`` may have zero columns when no encoder was run (kinematic-only studies). ``extra`` holds
    per-row side information (e.g. the synthetic truth ``true_class``) as equal-length arrays.
    """

    sequence_ids: np.ndarray  # (N,) str
    subject_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int class index
    class_names: tuple[str, ...]
    kinematic: np.ndarray  # (N, K) float, NaN = not measured
    embedding: np.ndarray  # (N, D) float
    kinematic_feature_names: tuple[str, ...] = field(default_factory=lambda: tuple(kinematic_names()))
    embedding_model: str = ""  # "<name>@<version>" of the encoder, or "" when none
    description: str = ""  # where the data came from (stored with a trained head)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    #: optional normalised 2D clips ``(N, F, 17, 3)`` for end-to-end fine-tuning (the "clips" input)
    clips: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.sequence_ids = np.asarray(self.sequence_ids).astype(str)
        self.subject_ids = np.asarray(self.subject_ids).astype(str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.kinematic = np.asarray(self.kinematic, dtype=np.float64).reshape(len(self.labels), -1)
        self.embedding = np.asarray(self.embedding, dtype=np.float64).reshape(len(self.labels), -1)
        n = len(self.labels)
        for name in ("sequence_ids", "subject_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows but there are {n} labels")
        if self.kinematic.shape[1] != len(self.kinematic_feature_names):
            raise ValueError(
                f"{self.kinematic.shape[1]} kinematic columns but {len(self.kinematic_feature_names)} names"
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"labels must be class indices 0..{len(self.class_names) - 1}")
        if len(set(self.sequence_ids)) != n:
            raise ValueError("sequence ids must be unique")
        if self.clips is not None:
            self.clips = np.asarray(self.clips, dtype=np.float32)
            if self.clips.ndim != 4 or len(self.clips) != n or self.clips.shape[2:] != (17, 3):
                raise ValueError(f"clips must have shape (N={n}, F, 17, 3), got {self.clips.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_subjects(self) -> int:
        return len(np.unique(self.subject_ids))

    def matrix(self, feature_set: str) -> np.ndarray:
        """``(N, F)`` design matrix of ``feature_set`` (kinematic columns first in ``both``)."""
        check_feature_set(feature_set)
        if feature_set in ("embedding", "both") and self.embedding.shape[1] == 0:
            raise ValueError(f"feature set {feature_set!r} needs embeddings, but this dataset has none")
        if feature_set == "kinematic":
            return self.kinematic
        if feature_set == "embedding":
            return self.embedding
        return np.concatenate([self.kinematic, self.embedding], axis=1)

    def feature_names(self, feature_set: str) -> list[str]:
        kin = list(self.kinematic_feature_names)
        emb = [f"emb_{i}" for i in range(self.embedding.shape[1])]
        return {"kinematic": kin, "embedding": emb, "both": kin + emb}[check_feature_set(feature_set)]

    def available_sets(self) -> list[str]:
        return ["kinematic"] if self.embedding.shape[1] == 0 else list(FEATURE_SETS)

    def subset(self, rows: Sequence[int] | np.ndarray) -> LabelledFeatures:
        rows = np.asarray(rows)
        return LabelledFeatures(
            self.sequence_ids[rows], self.subject_ids[rows], self.labels[rows], self.class_names,
            self.kinematic[rows], self.embedding[rows], self.kinematic_feature_names, self.embedding_model,
            self.description, {k: np.asarray(v)[rows] for k, v in self.extra.items()},
            None if self.clips is None else self.clips[rows],
        )

    def table(self) -> pd.DataFrame:
        """Index table: sequence_id, subject_id, label (index), class name, and the extra columns."""
        df = pd.DataFrame({"sequence_id": self.sequence_ids, "subject_id": self.subject_ids,
                           "label": self.labels, "class_name": [self.class_names[i] for i in self.labels]})
        for k, v in self.extra.items():
            df[k] = np.asarray(v)
        return df

    # -- files (npz, no pickle) ----------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"class_names": list(self.class_names), "kinematic_feature_names": list(self.kinematic_feature_names),
                "embedding_model": self.embedding_model, "description": self.description,
                "extra": sorted(self.extra)}
        arrays = {f"extra__{k}": np.asarray(v) for k, v in self.extra.items()}
        if self.clips is not None:
            arrays["clips"] = self.clips
        with path.open("wb") as fh:
            np.savez_compressed(
                fh, meta=np.array(json.dumps(meta)), sequence_ids=self.sequence_ids.astype("U"),
                subject_ids=self.subject_ids.astype("U"), labels=self.labels, kinematic=self.kinematic,
                embedding=self.embedding, **arrays,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> LabelledFeatures:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return cls(
                z["sequence_ids"], z["subject_ids"], z["labels"], tuple(meta["class_names"]), z["kinematic"],
                z["embedding"], tuple(meta["kinematic_feature_names"]), meta["embedding_model"],
                meta["description"], {k: z[f"extra__{k}"] for k in meta["extra"]},
                z["clips"] if "clips" in z.files else None,
            )
