"""What the pipeline, the UI and the worker call to read and write the clinical database.

Every function takes an open :class:`sqlalchemy.orm.Session` (from ``Database.session()``) except
:func:`mark_recording_status`, which opens its own short transaction so that a failure can be recorded after
the analysis transaction was rolled back.

Writes that can violate a constraint run inside a SAVEPOINT (``session.begin_nested()``) and are flushed at
once: the error surfaces at the call that caused it, as a :class:`DatabaseError` / :class:`DuplicateError`
with a clinician-readable message, and the caller's session stays usable. :func:`save_analysis` writes an
entire analysis inside one savepoint, so an exception half-way leaves nothing behind even if the caller
catches it and commits other work.

NaN in the records (a parameter that could not be measured) is stored as SQL NULL and read back as NaN: SQLite
cannot store NaN at all (it silently turns it into NULL) and NULL is what SQL aggregates skip.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db.arrays import decode_array, decode_bundle, encode_array, encode_bundle
from gaitscope.db.models import (
    JOINT_FORMATS,
    MAX_ORIGINAL_NAME,
    RECORDING_STATUSES,
    SEXES,
    Analysis,
    AuditLog,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    ModelRegistry,
    Patient,
    PatientIdentity,
    PoseSequence,
    PredictionRow,
    Recording,
    ReportExport,
    StrideRow,
    Visit,
)
from gaitscope.db.translate import translate
from gaitscope.errors import DatabaseError, DuplicateError, InvalidInputError
from gaitscope.records import (
    GaitCurve,
    GaitEvent,
    GaitReport,
    Keypoints2D,
    Motion3D,
    MotionEmbedding,
    ParameterSummary,
    Prediction,
    Stride,
)

POSE_DTYPE = np.float32
PER_FRAME_EMBEDDING_DTYPE = np.float16
_SEX_ALIASES = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M", "x": "X", "other": "X", "o": "X"}
_MAX_ERROR_CHARS = 4000

#: Bounded columns a person types into (patient forms, the CLI, a classifier's labels): longer values are refused
#: with :class:`InvalidInputError` before the database sees them (PostgreSQL would refuse them with a bare "value
#: too long"; SQLite would silently store them). Product-written strings are TEXT (migration 0006).
TYPED_LIMITS: dict[str, int] = {
    "patient code": 64, "diagnosis": 200, "site": 100, "care team": 100, "given name": 200, "family name": 200,
    "hospital number": 100, "classifier name": 100, "classifier version": 100, "class label": 100,
}


def check_length(what: str, value: str | None) -> None:
    """Refuse a typed ``value`` longer than its column (:data:`TYPED_LIMITS`) with a sentence that says so."""
    limit = TYPED_LIMITS[what]
    if value is not None and len(value) > limit:
        raise InvalidInputError(f"The {what} is {len(value)} characters long; {limit} at most.",
                                f"Shorten the {what}.")


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------


def _f(x: Any) -> float | None:
    """Python float for SQL, NaN/None -> NULL."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _flush(s: Session, objects: Iterable[object], context: str) -> None:
    """Add and flush ``objects`` in a savepoint; translate constraint violations."""
    try:
        with s.begin_nested():
            s.add_all(list(objects))
            s.flush()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, context) from exc


# ---------------------------------------------------------------------------------------------------------
# patients, visits, recordings
# ---------------------------------------------------------------------------------------------------------


def create_patient(
    s: Session,
    code: str,
    *,
    sex: str | None = None,
    birth_year: int | None = None,
    height_cm: float | None = None,
    diagnosis: str | None = None,
    updrs_iii: float | None = None,
    updrs_gait: int | None = None,
    notes: str | None = None,
    site: str | None = None,
    care_team: str | None = None,
) -> Patient:
    """Create a pseudonymous patient. Raises :class:`DuplicateError` if ``code`` exists.

    ``sex`` accepts F/M/X and common spellings (female, male, other). Ranges are enforced by the schema
    (height 30-250 cm, UPDRS gait 0-4, ...); the birth year is also checked against the current year here.
    """
    code = (code or "").strip()
    if not code:
        raise DatabaseError("A patient needs a code (a pseudonym such as PD-0042); names go in the identity record.")
    if get_patient(s, code) is not None:
        raise DuplicateError(f"A patient with code {code!r} already exists.", hint="Choose another code or open the existing patient.")
    if birth_year is not None and int(birth_year) > date.today().year:
        raise DatabaseError(f"Birth year {birth_year} is in the future.")
    for what, value in (("patient code", code), ("diagnosis", diagnosis), ("site", site), ("care team", care_team)):
        check_length(what, value)
    if sex is not None:
        sex = _SEX_ALIASES.get(str(sex).strip().lower(), str(sex).strip())
        if sex not in SEXES:
            raise DatabaseError(f"Sex must be F, M or X (other / not stated), not {sex!r}.")
    p = Patient(
        code=code,
        sex=sex,
        birth_year=None if birth_year is None else int(birth_year),
        height_cm=_f(height_cm),
        diagnosis=diagnosis,
        updrs_iii=_f(updrs_iii),
        updrs_gait=None if updrs_gait is None else int(updrs_gait),
        notes=notes,
        site=site,
        care_team=care_team,
    )
    _flush(s, [p], f"Patient {code}")
    return p


def get_patient(s: Session, code: str) -> Patient | None:
    return s.scalars(select(Patient).where(Patient.code == code.strip())).one_or_none()


def list_patients(s: Session, *, site: str | None = None) -> list[Patient]:
    q = select(Patient).order_by(Patient.code)
    if site is not None:
        q = q.where(Patient.site == site)
    return list(s.scalars(q))


def set_patient_identity(
    s: Session,
    patient: Patient,
    *,
    given_name: str | None = None,
    family_name: str | None = None,
    date_of_birth: date | None = None,
    hospital_number: str | None = None,
    contact: str | None = None,
) -> PatientIdentity:
    """Create or replace the identifying data of a patient (kept out of every research query)."""
    for what, value in (("given name", given_name), ("family name", family_name), ("hospital number", hospital_number)):
        check_length(what, value)
    ident = s.get(PatientIdentity, patient.id) or PatientIdentity(patient_id=patient.id)
    ident.given_name, ident.family_name = given_name, family_name
    ident.date_of_birth, ident.hospital_number, ident.contact = date_of_birth, hospital_number, contact
    _flush(s, [ident], f"Identity of patient {patient.code}")
    return ident


def create_visit(s: Session, patient: Patient, visit_date: date | None = None, notes: str | None = None) -> Visit:
    """A visit of ``patient`` on ``visit_date`` (default: today)."""
    if isinstance(visit_date, datetime):
        visit_date = visit_date.date()
    v = Visit(patient_id=patient.id, visit_date=visit_date or date.today(), notes=notes)
    _flush(s, [v], f"Visit of patient {patient.code}")
    return v


def register_recording(
    s: Session,
    visit: Visit,
    *,
    sha256: str,
    original_name: str | None,
    kind: str,
    fps: float | None,
    duration_s: float | None,
    width: int | None,
    height: int | None,
    size_bytes: int | None,
) -> Recording:
    """Register an uploaded file (status ``pending``) for the patient of ``visit``.

    The same content (SHA-256) cannot be registered twice for one patient: :class:`DuplicateError` names the
    existing recording so the UI can open it instead. The same file for another patient is filed under that
    patient as its own recording (migration 0006): who a recording belongs to is what the clinician said.
    ``original_name`` longer than a file name can be is refused (:class:`InvalidInputError`).
    """
    sha256 = (sha256 or "").strip().lower()
    if original_name is not None and len(original_name) > MAX_ORIGINAL_NAME:
        raise InvalidInputError(f"The file name is {len(original_name)} characters long; {MAX_ORIGINAL_NAME} at most.",
                                "Rename the file to a shorter name.")
    existing = find_recording_by_hash(s, sha256, patient_id=visit.patient_id)
    if existing is not None:
        v = s.get(Visit, existing.visit_id)
        who = s.get(Patient, v.patient_id).code if v is not None else "?"
        raise DuplicateError(
            f"This file was already uploaded as recording {existing.id} (patient {who}, "
            f"visit {v.visit_date if v else '?'}, file {existing.original_name!r}).",
            hint="Open the existing recording instead of uploading it again.",
        )
    r = Recording(
        visit_id=visit.id,
        sha256=sha256,
        original_name=original_name,
        kind=kind,
        fps=_f(fps),
        duration_s=_f(duration_s),
        width=width,
        height=height,
        size_bytes=size_bytes,
        status="pending",
    )
    _flush(s, [r], f"Recording {original_name or sha256[:12]}")
    return r


def find_recording_by_hash(s: Session, sha256: str, *, patient_id: int | None = None) -> Recording | None:
    """The recording of this content for the patient ``patient_id`` (the first one registered), or with no
    patient given the first recording of this content whoever it belongs to."""
    q = select(Recording).where(Recording.sha256 == sha256.strip().lower())
    if patient_id is not None:
        q = q.join(Visit, Visit.id == Recording.visit_id).where(Visit.patient_id == patient_id)
    return s.scalars(q.order_by(Recording.id).limit(1)).first()


def get_recording(s: Session, recording_id: int) -> Recording | None:
    return s.get(Recording, recording_id)


def mark_recording_status(db: Any, recording_id: int, status: str, error: str | None = None) -> None:
    """Set a recording's status in its own short transaction (``db`` is a :class:`~gaitscope.db.Database`).

    Used by the pipeline around an analysis: a failure is recorded even when the analysis transaction was
    rolled back. ``error`` (the user-facing message) is kept for ``failed`` and cleared otherwise.
    """
    if status not in RECORDING_STATUSES:
        raise DatabaseError(f"Unknown recording status {status!r}; expected one of {', '.join(RECORDING_STATUSES)}.")
    with db.session() as s:
        rec = s.get(Recording, recording_id)
        if rec is None:
            raise DatabaseError(f"Recording {recording_id} does not exist (it may have been deleted).")
        rec.status = status
        rec.error = (error or "unknown error")[:_MAX_ERROR_CHARS] if status == "failed" else None


def audit(
    s: Session, user: str | None, action: str, entity: str, entity_id: Any, details: Mapping[str, Any] | None = None
) -> AuditLog:
    """Append an audit entry (who did what to which record). Entries are never updated or deleted."""
    entry = AuditLog(
        username=user or "system",
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        details=_jsonable(details) if details is not None else None,
    )
    _flush(s, [entry], "Audit log")
    return entry


def _jsonable(x: Any) -> Any:
    """Make ``x`` storable as JSON on both backends (NaN -> null, numpy scalars -> Python, dates -> ISO)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return _f(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (date, datetime)):
        return x.isoformat()
    return x


# ---------------------------------------------------------------------------------------------------------
# classifier registry and exports
# ---------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------
# analyses
# ---------------------------------------------------------------------------------------------------------


def versions_inputs(model_name: str, model_version: str, analysis_version: str) -> dict[str, Any]:
    """The inputs of an analysis when the caller knows only its versions (scripts, demo data): what identified an
    analysis before migration 0006."""
    return {"model": f"{model_name}@{model_version}", "analysis_version": analysis_version}


def inputs_key(inputs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``inputs`` as canonical JSON (sorted keys, NaN as null): the stored identity of an
    analysis, ``Analysis.inputs_key``."""
    text = json.dumps(_jsonable(dict(inputs)), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_analysis(s: Session, recording_id: int, key: str) -> Analysis | None:
    """The analysis of ``recording_id`` whose inputs have the key ``key`` (:func:`inputs_key`), else None."""
    return s.scalars(
        select(Analysis).where(Analysis.recording_id == recording_id, Analysis.inputs_key == key)
    ).one_or_none()


def list_analyses(s: Session, recording: Recording | int) -> list[Analysis]:
    rid = recording if isinstance(recording, int) else recording.id
    return list(s.scalars(select(Analysis).where(Analysis.recording_id == rid).order_by(Analysis.id)))


def latest_analysis(s: Session, recording: Recording | int) -> Analysis | None:
    rid = recording if isinstance(recording, int) else recording.id
    return s.scalars(select(Analysis).where(Analysis.recording_id == rid).order_by(Analysis.id.desc())).first()


def _check_prediction(p: Prediction) -> None:
    probs = [float(x) for x in p.probabilities]
    if len(probs) != len(p.classes):
        raise DatabaseError(f"Classifier {p.head_name}: {len(p.classes)} classes but {len(probs)} probabilities.")
    if any(not (0.0 <= x <= 1.0) for x in probs):
        raise DatabaseError(f"Classifier {p.head_name}: probabilities must lie between 0 and 1, got {probs}.")
    if probs and abs(sum(probs) - 1.0) > 1e-3:
        raise DatabaseError(f"Classifier {p.head_name}: probabilities must sum to 1, got {sum(probs):.4f}.")
    if p.predicted not in p.classes:
        raise DatabaseError(f"Classifier {p.head_name}: predicted class {p.predicted!r} is not one of {list(p.classes)}.")


def _pose_rows(
    rec: Recording,
    a: Analysis,
    kp: Keypoints2D | None,
    motion: Motion3D,
    model_name: str,
    model_version: str,
) -> list[PoseSequence]:
    rows: list[PoseSequence] = []
    if kp is not None:
        data = np.concatenate([kp.xy_px, kp.conf[..., None]], axis=-1)
        aux: dict[str, np.ndarray | None] = {
            "frame_index": np.asarray(kp.frame_index, dtype=np.int64),
            "interpolated": np.asarray(kp.interpolated, dtype=bool),
        }
        if kp.time_s is not None:  # variable frame rate: each row's time on the video's clock
            aux["time_s"] = np.asarray(kp.time_s, dtype=np.float64)
        meta: dict[str, Any] = {
            "width": int(kp.width),
            "height": int(kp.height),
            "source": kp.source,
            "notes": list(kp.notes),
            "raw_format": kp.raw_format,
        }
        raw_row = kp.raw is not None and kp.raw_format in JOINT_FORMATS and kp.raw_format != "h36m17"
        if kp.raw is not None and not raw_row:
            aux["raw"] = np.asarray(kp.raw, dtype=POSE_DTYPE)  # unknown detector format: keep it beside
        rows.append(
            PoseSequence(
                recording_id=rec.id, analysis_id=a.id, kind="2d", joint_format="h36m17",
                n_frames=data.shape[0], n_joints=data.shape[1], n_channels=data.shape[2],
                dtype=np.dtype(POSE_DTYPE).name, fps=float(kp.fps), model_name=kp.source, model_version="",
                data=encode_array(data, POSE_DTYPE), aux=encode_bundle(aux), meta=meta,
            )
        )
        if raw_row:
            raw = np.asarray(kp.raw)
            rows.append(
                PoseSequence(
                    recording_id=rec.id, analysis_id=a.id, kind="2d", joint_format=kp.raw_format,
                    n_frames=raw.shape[0], n_joints=raw.shape[1], n_channels=raw.shape[2],
                    dtype=np.dtype(POSE_DTYPE).name, fps=float(kp.fps), model_name=kp.source, model_version="",
                    data=encode_array(raw, POSE_DTYPE), aux=None, meta={"channels": ["x_px", "y_px", "z", "visibility"]},
                )
            )
    aux3: dict[str, np.ndarray | None] = {"valid": None if motion.valid is None else np.asarray(motion.valid, dtype=bool)}
    for name, arr in motion.feet.items():
        aux3[f"feet:{name}"] = np.asarray(arr, dtype=POSE_DTYPE)
    rows.append(
        PoseSequence(
            recording_id=rec.id, analysis_id=a.id, kind="3d", joint_format="h36m17",
            n_frames=motion.n_frames, n_joints=motion.xyz_m.shape[1], n_channels=3,
            dtype=np.dtype(POSE_DTYPE).name, fps=float(motion.fps), model_name=model_name, model_version=model_version,
            data=encode_array(motion.xyz_m, POSE_DTYPE), aux=encode_bundle(aux3),
            meta={
                "up": [float(v) for v in motion.up],
                "root_relative": bool(motion.root_relative),
                "scale_source": motion.scale_source,
                "source": motion.source,
                "notes": list(motion.notes),
            },
        )
    )
    return rows


def _report_rows(a: Analysis, report: GaitReport) -> list[object]:
    rows: list[object] = []
    for p in report.parameters:
        rows.append(
            GaitParameter(
                analysis_id=a.id, name=p.name, label=p.label, side=p.side, value=_f(p.value), unit=p.unit,
                sd=_f(p.sd), cv_pct=_f(p.cv_pct), n=int(p.n), normal_low=_f(p.normal_low),
                normal_high=_f(p.normal_high), normal_source=p.normal_source, flag=p.flag,
            )
        )
    for c in report.curves:
        bundle = encode_bundle(
            {"pct": c.pct, "mean": c.mean, "sd": c.sd, "normal_mean": c.normal_mean, "normal_sd": c.normal_sd}
        )
        rows.append(
            GaitCurveRow(
                analysis_id=a.id, name=c.name, side=c.side, unit=c.unit, n_strides=int(c.n_strides),
                normal_source=c.normal_source, arrays=bundle,
            )
        )
    for i, st in enumerate(report.strides):
        rows.append(
            StrideRow(
                analysis_id=a.id, idx=i, side=st.side, start_frame=int(st.start_frame), end_frame=int(st.end_frame),
                stride_time_s=_f(st.stride_time_s), stride_length_m=_f(st.stride_length_m),
                step_time_s=_f(st.step_time_s), step_length_m=_f(st.step_length_m), stance_pct=_f(st.stance_pct),
                swing_pct=_f(st.swing_pct), double_support_pct=_f(st.double_support_pct),
                step_width_m=_f(st.step_width_m), speed_m_s=_f(st.speed_m_s),
                toe_off_frame=None if st.toe_off_frame is None else int(st.toe_off_frame),
            )
        )
    for i, ev in enumerate(report.events):
        rows.append(
            GaitEventRow(
                analysis_id=a.id, idx=i, side=ev.side, kind=ev.kind, frame=int(ev.frame), time_s=float(ev.time_s),
                quality=float(ev.quality),
            )
        )
    return rows


def _embedding_row(a: Analysis, emb: MotionEmbedding, store_per_frame: bool) -> Embedding:
    return Embedding(
        analysis_id=a.id,
        model_name=emb.model_name,
        model_version=emb.model_version,
        dim=emb.dim,
        pooled=encode_array(emb.pooled, np.float32),
        per_frame=encode_array(emb.per_frame, PER_FRAME_EMBEDDING_DTYPE) if store_per_frame else None,
    )


def _prediction_rows(s: Session, a: Analysis, predictions: Sequence[Prediction]) -> list[PredictionRow]:
    rows = []
    for p in predictions:
        probs = [float(x) for x in p.probabilities]
        model = s.scalars(
            select(ModelRegistry).where(ModelRegistry.name == p.head_name, ModelRegistry.version == p.head_version)
        ).first()
        rows.append(
            PredictionRow(
                analysis_id=a.id, model_id=model.id if model else None, head_name=p.head_name,
                head_version=p.head_version, feature_set=p.feature_set, classes=list(p.classes),
                probabilities=probs, predicted=p.predicted, confidence=probs[list(p.classes).index(p.predicted)],
            )
        )
    return rows


def save_analysis(
    s: Session,
    recording: Recording,
    *,
    keypoints2d: Keypoints2D | None,
    motion3d: Motion3D,
    report: GaitReport,
    embedding: MotionEmbedding | None,
    predictions: Sequence[Prediction],
    model_name: str,
    model_version: str,
    analysis_version: str,
    pipeline_version: str,
    store_per_frame_embedding: bool = True,
    inputs: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> Analysis:
    """Store a whole analysis of ``recording`` atomically and mark the recording ``done``.

    ``inputs``: everything that changed a number of this analysis (default: the model and analysis versions,
    :func:`versions_inputs`); their :func:`inputs_key` identifies the analysis. Idempotent: if an analysis of
    this recording with the same inputs exists, it is returned unchanged and nothing is written (also when a
    concurrent process saved it a moment earlier), unless ``replace``: then it is deleted and this one stored in
    its place, in the same transaction (``gaitscope analyze --force``: the database holds what the rerun
    exported). Other inputs are stored beside the old analyses. Poses are stored as float32, per-frame
    embeddings as float16 (``store_per_frame_embedding=False`` keeps only the pooled vector); see
    :mod:`gaitscope.db.arrays`.
    """
    inputs = dict(inputs) if inputs is not None else versions_inputs(model_name, model_version, analysis_version)
    key = inputs_key(inputs)
    existing = find_analysis(s, recording.id, key)
    if existing is not None and not replace:
        return existing
    for p in predictions:
        _check_prediction(p)
    rec = s.get(Recording, recording.id)
    if rec is None:
        raise DatabaseError(f"Recording {recording.id} does not exist (it may have been deleted); the analysis was not saved.")
    try:
        with s.begin_nested():
            if existing is not None:  # replace: the old rows go (ON DELETE CASCADE) before the new ones come
                s.delete(existing)
                s.flush()
            a = Analysis(
                recording_id=rec.id,
                pipeline_version=pipeline_version,
                model_name=model_name,
                model_version=model_version,
                analysis_version=analysis_version,
                inputs_key=key,
                inputs=_jsonable(inputs),
                fps=float(report.fps),
                n_frames=int(report.n_frames),
                duration_s=float(report.duration_s),
                scale_note=report.scale_note,
                source=report.source,
                scores=_jsonable(dict(report.scores)),
                warnings=list(report.warnings),
                angles_columns=None if report.angles is None else [str(c) for c in report.angles.columns],
                angles=None if report.angles is None else _encode_angles(report.angles),
            )
            s.add(a)
            s.flush()  # the analysis id, and the UNIQUE check before the big rows
            s.add_all(_pose_rows(rec, a, keypoints2d, motion3d, model_name, model_version))
            s.add_all(_report_rows(a, report))
            if embedding is not None:
                s.add(_embedding_row(a, embedding, store_per_frame_embedding))
            s.add_all(_prediction_rows(s, a, predictions))
            rec.status = "done"
            rec.error = None
            s.flush()
    except sa_exc.IntegrityError as exc:
        # A concurrent writer saved the same analysis between our check and our insert: return theirs.
        existing = find_analysis(s, recording.id, key)
        if existing is not None:
            return existing
        raise translate(exc, "Saving the analysis") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, "Saving the analysis") from exc
    return a


def _encode_angles(angles: pd.DataFrame) -> bytes:
    return encode_bundle(
        {"values": angles.to_numpy(dtype=np.float32), "index": np.asarray(angles.index.to_numpy(), dtype=np.float64)}
    )


def _decode_angles(a: Analysis) -> pd.DataFrame | None:
    if a.angles is None:
        return None
    b = decode_bundle(a.angles)
    index = b["index"]
    if np.all(np.mod(index, 1) == 0):
        index = index.astype(np.int64)
    return pd.DataFrame(b["values"], columns=list(a.angles_columns or []), index=index)


def get_analysis(s: Session, analysis_id: int) -> Analysis:
    a = s.get(Analysis, analysis_id)
    if a is None:
        raise DatabaseError(f"Analysis {analysis_id} does not exist (it may have been deleted).")
    return a


def load_report(s: Session, analysis_id: int) -> GaitReport:
    """Rebuild the :class:`GaitReport` of an analysis (without the heavy pose blobs)."""
    a = get_analysis(s, analysis_id)
    params = tuple(
        ParameterSummary(
            name=p.name, label=p.label, unit=p.unit, side=p.side, value=_nan(p.value), sd=_nan(p.sd),
            cv_pct=_nan(p.cv_pct), n=p.n, normal_low=_nan(p.normal_low), normal_high=_nan(p.normal_high),
            normal_source=p.normal_source, flag=p.flag,  # type: ignore[arg-type]
        )
        for p in a.parameters
    )
    curves = []
    for c in a.curves:
        b = decode_bundle(c.arrays)
        curves.append(
            GaitCurve(
                name=c.name, side=c.side, unit=c.unit, pct=b["pct"], mean=b["mean"], sd=b["sd"],
                n_strides=c.n_strides, normal_mean=b.get("normal_mean"), normal_sd=b.get("normal_sd"),
                normal_source=c.normal_source,
            )
        )
    strides = tuple(
        Stride(
            side=r.side, start_frame=r.start_frame, end_frame=r.end_frame,  # type: ignore[arg-type]
            **{f.name: _nan(getattr(r, f.name)) for f in fields(Stride) if f.type in ("float", float)},
            toe_off_frame=r.toe_off_frame,
        )
        for r in a.strides
    )
    events = tuple(
        GaitEvent(side=e.side, kind=e.kind, frame=e.frame, time_s=e.time_s, quality=e.quality)  # type: ignore[arg-type]
        for e in a.events
    )
    return GaitReport(
        fps=a.fps,
        n_frames=a.n_frames,
        duration_s=a.duration_s,
        events=events,
        strides=strides,
        parameters=params,
        curves=tuple(curves),
        scores={k: _nan(v) for k, v in (a.scores or {}).items()},
        scale_note=a.scale_note,
        source=a.source,
        analysis_version=a.analysis_version,
        warnings=tuple(a.warnings or ()),
        angles=_decode_angles(a),
    )


def load_poses(s: Session, analysis_id: int) -> tuple[Motion3D, Keypoints2D | None]:
    """Rebuild the 3D motion and (when stored) the 2D keypoints of an analysis."""
    a = get_analysis(s, analysis_id)
    by_key = {(p.kind, p.joint_format): p for p in a.pose_sequences}
    p3 = by_key.get(("3d", "h36m17"))
    if p3 is None:
        raise DatabaseError(f"Analysis {analysis_id} has no stored 3D motion (damaged database?).")
    aux3 = decode_bundle(p3.aux)
    m = p3.meta
    motion = Motion3D(
        xyz_m=decode_array(p3.data),  # type: ignore[arg-type]
        fps=p3.fps,
        up=tuple(m["up"]),  # type: ignore[arg-type]
        root_relative=bool(m["root_relative"]),
        scale_source=m["scale_source"],
        source=m["source"],
        valid=aux3.get("valid"),
        feet={k.split(":", 1)[1]: v for k, v in aux3.items() if k.startswith("feet:")},
        notes=tuple(m.get("notes", ())),
    )
    kp = None
    p2 = by_key.get(("2d", "h36m17"))
    if p2 is not None:
        data = decode_array(p2.data)
        aux = decode_bundle(p2.aux)
        m2 = p2.meta
        raw = aux.get("raw")
        raw_format = m2.get("raw_format", "")
        for (kind, fmt), row in by_key.items():
            if kind == "2d" and fmt != "h36m17":
                raw, raw_format = decode_array(row.data), fmt
        kp = Keypoints2D(
            xy_px=data[..., :2],  # type: ignore[index]
            conf=data[..., 2],  # type: ignore[index]
            fps=p2.fps,
            width=int(m2["width"]),
            height=int(m2["height"]),
            frame_index=aux["frame_index"],
            interpolated=aux["interpolated"],
            source=m2["source"],
            raw=raw,
            raw_format=raw_format if raw is not None else "",
            notes=tuple(m2.get("notes", ())),
            time_s=aux.get("time_s"),
        )
    return motion, kp


def load_embedding(s: Session, analysis_id: int) -> MotionEmbedding | None:
    a = get_analysis(s, analysis_id)
    if not a.embeddings:
        return None
    e = a.embeddings[-1]
    pooled = decode_array(e.pooled)
    per_frame = decode_array(e.per_frame)
    if per_frame is None:
        per_frame = np.zeros((0, e.dim), dtype=np.float32)
    return MotionEmbedding(
        pooled=pooled, per_frame=per_frame.astype(np.float32), model_name=e.model_name, model_version=e.model_version  # type: ignore[arg-type]
    )


def load_predictions(s: Session, analysis_id: int) -> list[Prediction]:
    a = get_analysis(s, analysis_id)
    return [
        Prediction(
            head_name=p.head_name,
            head_version=p.head_version,
            classes=tuple(p.classes),
            probabilities=tuple(float(x) for x in p.probabilities),
            predicted=p.predicted,
            feature_set=p.feature_set,
        )
        for p in a.predictions
    ]


def load_analysis(
    s: Session, analysis_id: int
) -> tuple[GaitReport, Motion3D, Keypoints2D | None, MotionEmbedding | None, list[Prediction]]:
    """Everything :func:`save_analysis` stored, as records: (report, motion3d, keypoints2d, embedding, predictions).

    Poses come back as float32 and per-frame embeddings as float32 converted from float16 storage.
    """
    report = load_report(s, analysis_id)
    motion, kp = load_poses(s, analysis_id)
    return report, motion, kp, load_embedding(s, analysis_id), load_predictions(s, analysis_id)


def delete_patient(s: Session, patient: Patient) -> None:
    """Delete a patient and, through ON DELETE CASCADE, everything recorded about them (not the audit log)."""
    s.delete(patient)
    try:
        s.flush()
    except sa_exc.SQLAlchemyError as exc:
        raise translate(exc, f"Deleting patient {patient.code}") from exc
