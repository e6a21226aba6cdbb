"""The classifier registry (a head's weights as a pickle-free blob, its classes, metrics and training data; one
active version per name) and the log of exports."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db.models import (
    Analysis,
    ModelRegistry,
    ReportExport,
)
from gaitscope.db.rows import _flush, _jsonable, check_length


def register_model(
    s: Session,
    name: str,
    version: str,
    *,
    feature_set: str = "",
    classes: Sequence[str] = (),
    training_data: str = "",
    metrics: Mapping[str, Any] | None = None,
    blob: bytes | None = None,
    path: str | None = None,
    active: bool = False,
) -> ModelRegistry:
    """Register a trained classifier head; ``active=True`` deactivates the other versions of ``name``."""
    check_length("classifier name", name)
    check_length("classifier version", version)
    for label in classes:  # a prediction stores one of them in PredictionRow.predicted
        check_length("class label", str(label))
    if active:
        for m in s.scalars(select(ModelRegistry).where(ModelRegistry.name == name, ModelRegistry.active)):
            m.active = False
    m = ModelRegistry(
        name=name,
        version=version,
        feature_set=feature_set,
        classes=list(classes),
        training_data=training_data,
        metrics=_jsonable(dict(metrics or {})),
        blob=blob,
        path=path,
        active=active,
    )
    _flush(s, [m], f"Classifier {name} {version}")
    return m


def active_model(s: Session, name: str) -> ModelRegistry | None:
    return s.scalars(select(ModelRegistry).where(ModelRegistry.name == name, ModelRegistry.active)).first()


def record_export(
    s: Session,
    analysis: Analysis,
    kind: str,
    path: str,
    *,
    sha256: str | None = None,
    size_bytes: int | None = None,
    created_by: str | None = None,
) -> ReportExport:
    """Remember that a PDF/CSV report of ``analysis`` was written to ``path``."""
    e = ReportExport(
        analysis_id=analysis.id, kind=kind, path=str(path), sha256=sha256, size_bytes=size_bytes, created_by=created_by
    )
    _flush(s, [e], f"Report export ({kind})")
    return e
