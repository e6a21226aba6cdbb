"""Analyses as rows and back: one analysis (report, poses, curves, embedding, predictions) written inside one
savepoint, so an exception half-way leaves nothing behind even if the caller catches it and commits other work;
read back as the records of :mod:`gaitscope.records`; found by the key of its inputs (versions, reference set,
height) so the same inputs are not analyzed twice.

NaN in the records (a parameter that could not be measured) is stored as SQL NULL and read back as NaN.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from gaitscope.db.arrays import decode_array, decode_bundle, encode_array, encode_bundle
from gaitscope.db.models import (
    JOINT_FORMATS,
    Analysis,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    ModelRegistry,
    PoseSequence,
    PredictionRow,
    Recording,
    StrideRow,
)
from gaitscope.db.rows import _f, _jsonable, _nan
from gaitscope.db.translate import translate
from gaitscope.errors import DatabaseError
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
    if motion.view_yaw_rad is not None:
        aux3["view_yaw_rad"] = np.asarray(motion.view_yaw_rad, dtype=np.float64)
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
                "scale_height_m": motion.scale_height_m,
                "scale_assumed": bool(motion.scale_assumed),
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
                height_m=report.height_m,
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
        height_m=a.height_m,
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
        scale_height_m=m.get("scale_height_m"),
        scale_assumed=bool(m.get("scale_assumed", False)),
        source=m["source"],
        valid=aux3.get("valid"),
        feet={k.split(":", 1)[1]: v for k, v in aux3.items() if k.startswith("feet:")},
        notes=tuple(m.get("notes", ())),
        view_yaw_rad=aux3.get("view_yaw_rad"),
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
