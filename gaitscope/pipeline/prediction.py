"""The registered classification heads and the prediction the pipeline stores with each analysis.

A head is fitted and registered by the training side (:func:`gaitscope.training.classify.fit_head`, ``gaitscope
train-classifier``); here it is stored in and read back from the model registry (weights as a pickle-free npz
blob) and run on one analysis. Pipeline hook (:mod:`gaitscope.pipeline.storage` calls it after the analysis)::

    head = load_active_head(session)             # None when no head is registered / active
    if head is not None:
        prediction = predict_for_analysis(head, report, embedding)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitscope.errors import CheckpointError, InvalidInputError
from gaitscope.models.features import feature_vector, kinematic_names
from gaitscope.records import GaitReport, MotionEmbedding, Prediction

log = logging.getLogger(__name__)

#: Registry name of the Parkinson's gait-severity head (MDS-UPDRS-III item 3.10 style, classes 0-3).
DEFAULT_HEAD_NAME = "updrs_gait"


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


def save_head(session, head: RegisteredHead, *, active: bool = True):
    """Store ``head`` in the model registry (weights as a pickle-free npz blob); returns the registry row."""
    from gaitscope.db.model_registry import register_model

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
    from gaitscope.db.model_registry import active_model

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
