"""Database benchmark: storage per minute of analyzed video, and cohort query time at clinic scale.

    .venv/bin/python benchmarks/db.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/db.py --pg "$GAITSCOPE_TEST_PG_URL"   # also PostgreSQL (a fresh database)
    .venv/bin/python benchmarks/db.py --patients 200 --visits 3       # smaller cohort

Part 1 stores one minute of walking at 30 fps the way the pipeline does (``save_analysis``): 2D H36M keypoints
+ raw BlazePose-33 landmarks, 3D joints + feet, the gait report of the real analysis
(``gaitscope.analysis.analyze_gait`` on ``gaitscope.synthetic.walker.simulate_walk``) and a 512-d DSTformer-sized
embedding (per-frame, float16, and pooled). Pose arrays carry detector-like noise (0.7 px in 2D, 3 mm in 3D)
because noise-free synthetic trajectories would compress unrealistically well; per-frame embeddings are
low-pass random signals (the real ones are smooth in time). It reports blob bytes per component and the growth
of the SQLite file per analyzed minute.

Part 2 bulk-inserts a synthetic cohort (N patients x V visits, one analysis per visit with the real report's
parameters, curves, strides and events, a 512-d embedding and one prediction) and times the cohort API.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

import gaitscope.db.cohort as cohort
from gaitscope.analysis.report import analyze_gait
from gaitscope.db import create_patient, create_visit, open_database, register_recording, save_analysis
from gaitscope.db.arrays import encode_array, encode_bundle
from gaitscope.db.models import (
    Analysis,
    Embedding,
    GaitCurveRow,
    GaitEventRow,
    GaitParameter,
    Patient,
    PoseSequence,
    PredictionRow,
    Recording,
    StrideRow,
    Visit,
)
from gaitscope.records import Keypoints2D, Motion3D, MotionEmbedding, Prediction
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk

FPS = 30.0
EMB_DIM = 512


def _minute_records(seed: int):
    rng = np.random.default_rng(seed)
    walk = simulate_walk(WalkParams(duration_s=60.0, fps=FPS, seed=seed))
    report = analyze_gait(walk.motion)
    xyz = walk.motion.xyz_m
    t = xyz.shape[0]
    # 2D: a side camera ~ 600 px per metre, 1920x1080, detector jitter
    xy = np.stack([960 + 600 * (xyz[..., 0] - xyz[:, :1, 0].mean()), 1000 - 600 * xyz[..., 2]], axis=-1)
    xy = xy + rng.normal(0, 0.7, xy.shape)
    conf = np.clip(rng.normal(0.93, 0.04, (t, 17)), 0, 1)
    raw_idx = rng.integers(0, 17, 33)
    raw = np.concatenate([xy[:, raw_idx] + rng.normal(0, 0.7, (t, 33, 2)), rng.normal(0, 0.2, (t, 33, 1)),
                          conf[:, raw_idx, None]], axis=-1)
    kp = Keypoints2D(xy_px=xy.astype(np.float32), conf=conf.astype(np.float32), fps=FPS, width=1920, height=1080,
                     frame_index=np.arange(t), interpolated=np.zeros(t, bool), source="blazepose-full",
                     raw=raw.astype(np.float32), raw_format="blazepose33")
    lifted = xyz - xyz[:, :1] + rng.normal(0, 0.003, xyz.shape)  # root-relative lifter output, 3 mm noise
    motion = Motion3D(xyz_m=lifted, fps=FPS, up=(0.0, 0.0, 1.0), root_relative=True, scale_source="height",
                      source="lifter:dstformer@bench", valid=np.ones(t, bool),
                      feet={k: v + rng.normal(0, 0.003, v.shape) for k, v in walk.motion.feet.items()})
    per_frame = gaussian_filter1d(rng.normal(0, 1, (t, EMB_DIM)), sigma=3, axis=0)
    emb = MotionEmbedding(pooled=per_frame.mean(0), per_frame=per_frame, model_name="dstformer", model_version="b")
    pred = Prediction("pd_vs_healthy", "1", ("healthy", "pd"), (0.8, 0.2), "healthy", "embedding")
    return kp, motion, report, emb, pred


def _vacuum(engine) -> None:  # noqa: ANN001
    """Checkpoint the WAL and compact the file, outside any transaction (raw DBAPI connection)."""
    with engine.connect() as c:
        raw = c.connection.dbapi_connection
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("VACUUM")
    engine.dispose()


def storage_per_minute(tmp: Path, n: int = 3) -> list[tuple[str, float]]:
    url = f"sqlite:///{tmp / 'storage.db'}"
    db = open_database(url, auto_upgrade=True)
    db.dispose()
    _vacuum(db.engine)
    size0 = os.path.getsize(tmp / "storage.db")
    records = [_minute_records(seed) for seed in range(n)]
    t0 = time.perf_counter()
    for i, (kp, motion, report, emb, pred) in enumerate(records):
        with db.session() as s:
            p = create_patient(s, f"S{i}")
            rec = register_recording(s, create_visit(s, p), sha256=f"{i:064d}", original_name="m.mp4", kind="video",
                                     fps=FPS, duration_s=60, width=1920, height=1080, size_bytes=1)
            save_analysis(s, rec, keypoints2d=kp, motion3d=motion, report=report, embedding=emb,
                          predictions=[pred], model_name="dstformer", model_version="b", analysis_version="a",
                          pipeline_version="bench")
    save_s = (time.perf_counter() - t0) / n
    db.dispose()
    _vacuum(db.engine)
    with db.engine.connect() as c:
        blob = lambda col: c.execute(select(func.sum(func.length(col)))).scalar() / n  # noqa: E731
        pose = {f"{k} {f}": c.execute(select(func.sum(func.length(PoseSequence.data)) + func.coalesce(
            func.sum(func.length(PoseSequence.aux)), 0)).where(PoseSequence.kind == k, PoseSequence.joint_format == f)
        ).scalar() / n for k, f in (("2d", "h36m17"), ("2d", "blazepose33"), ("3d", "h36m17"))}
        rows = [
            ("2D H36M-17 (x, y, conf) + frame info", pose["2d h36m17"]),
            ("2D BlazePose-33 raw (x, y, z, vis)", pose["2d blazepose33"]),
            ("3D H36M-17 + feet", pose["3d h36m17"]),
            ("joint angles over time", blob(Analysis.angles)),
            ("gait curves (blobs)", blob(GaitCurveRow.arrays)),
            ("embedding per-frame (float16)", blob(Embedding.per_frame)),
            ("embedding pooled", blob(Embedding.pooled)),
        ]
        n_rows = {m.__tablename__: c.execute(select(func.count()).select_from(m)).scalar() / n
                  for m in (GaitParameter, StrideRow, GaitEventRow)}
        per_frame_blob = blob(Embedding.per_frame)
    file_growth = (os.path.getsize(tmp / "storage.db") - size0) / n
    raw_bytes = 1800 * (17 * 3 + 33 * 4 + 17 * 3 + 4 * 3) * 4 + 1800 * EMB_DIM * 4
    rows += [
        (f"rows per minute: {n_rows['gait_parameter']:.0f} parameters, {n_rows['stride']:.0f} strides, "
         f"{n_rows['gait_event']:.0f} events", float("nan")),
        ("TOTAL SQLite file growth per analyzed minute", file_growth),
        ("  same, without the per-frame embedding (estimate)", file_growth - per_frame_blob),
        ("  uncompressed float32 arrays, for comparison", raw_bytes),
        (f"save_analysis time per minute of video (s, {n} runs)", save_s),
    ]
    return rows


def _bulk_cohort(url: str, n_patients: int, n_visits: int) -> None:
    """Insert the synthetic cohort with Core executemany (save_analysis would take ~0.1 s x N x V)."""
    rng = np.random.default_rng(0)
    walk = simulate_walk(WalkParams(duration_s=8.0, fps=FPS))
    rep = analyze_gait(walk.motion)
    curve_blobs = [encode_bundle({"pct": c.pct, "mean": c.mean, "sd": c.sd, "normal_mean": c.normal_mean,
                                  "normal_sd": c.normal_sd}) for c in rep.curves]
    db = open_database(url, auto_upgrade=True)
    eng = db.engine
    n_an = n_patients * n_visits
    with eng.begin() as c:
        c.execute(insert(Patient), [
            dict(id=i + 1, code=f"P{i:05d}", sex="FM"[i % 2], birth_year=int(rng.integers(1935, 1990)), height_cm=170.0,
                 diagnosis=["healthy", "PD", "stroke"][i % 3], updrs_gait=int(rng.integers(0, 5)), site="A") for i in range(n_patients)])
        c.execute(insert(Visit), [dict(id=k + 1, patient_id=k // n_visits + 1,
                                       visit_date=date(2020 + k % n_visits, 1 + k % 12, 1))
                                  for k in range(n_an)])
        c.execute(insert(Recording), [dict(id=k + 1, visit_id=k + 1, sha256=f"{k:064d}", kind="video", fps=FPS,
                                           status="done")
                                      for k in range(n_an)])
        c.execute(insert(Analysis), [dict(id=k + 1, recording_id=k + 1, pipeline_version="p", model_name="m",
                                          model_version="1", analysis_version="a", fps=FPS, n_frames=240,
                                          duration_s=8.0, scale_note="", source="", scores={}, warnings=[]) for k in range(n_an)])
        batch = []
        for k in range(n_an):
            for p in rep.parameters:
                v = p.value * (1 + rng.normal(0, 0.1)) if np.isfinite(p.value) else None
                batch.append(dict(analysis_id=k + 1, name=p.name, label=p.label, side=p.side, value=v, unit=p.unit,
                                  sd=None, cv_pct=None, n=p.n, normal_low=None, normal_high=None,
                                  normal_source="", flag=p.flag))
            if len(batch) > 50_000:
                c.execute(insert(GaitParameter), batch)
                batch = []
        c.execute(insert(GaitParameter), batch)
        c.execute(insert(GaitCurveRow), [dict(analysis_id=k + 1, name=cv.name, side=cv.side, unit=cv.unit,
                                              n_strides=cv.n_strides, normal_source="", arrays=b)
                                         for k in range(n_an) for cv, b in zip(rep.curves, curve_blobs)])
        c.execute(insert(StrideRow), [dict(analysis_id=k + 1, idx=i, side=st.side, start_frame=st.start_frame,
                                           end_frame=st.end_frame, stride_time_s=st.stride_time_s,
                                           stride_length_m=st.stride_length_m, step_time_s=st.step_time_s,
                                           step_length_m=st.step_length_m, stance_pct=st.stance_pct,
                                           swing_pct=st.swing_pct, double_support_pct=st.double_support_pct,
                                           step_width_m=st.step_width_m, speed_m_s=st.speed_m_s)
                                      for k in range(n_an) for i, st in enumerate(rep.strides)])
        c.execute(insert(GaitEventRow), [dict(analysis_id=k + 1, idx=i, side=e.side, kind=e.kind, frame=e.frame,
                                              time_s=e.time_s, quality=e.quality)
                                         for k in range(n_an) for i, e in enumerate(rep.events)])
        c.execute(insert(Embedding), [dict(analysis_id=k + 1, model_name="dstformer", model_version="1", dim=EMB_DIM,
                                           pooled=encode_array(rng.normal(0, 1, EMB_DIM), np.float32)) for k in range(n_an)])
        c.execute(insert(PredictionRow), [dict(analysis_id=k + 1, head_name="pd", head_version="1", feature_set="e",
                                               classes=["healthy", "pd"], probabilities=[0.3, 0.7], predicted="pd",
                                               confidence=0.7) for k in range(n_an)])
    if eng.dialect.name == "postgresql":
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE")
            for t in ("patient", "visit", "recording", "analysis"):  # explicit ids: move the sequences on
                c.exec_driver_sql(f"SELECT setval('{t}_id_seq', (SELECT max(id) FROM {t}))")
    db.dispose()


def _time(fn, repeat: int = 3) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        n = len(out[0]) if isinstance(out, tuple) else len(out)
    return best, n


def cohort_queries(url: str, n_patients: int, n_visits: int) -> list[tuple[str, float, int]]:
    t0 = time.perf_counter()
    _bulk_cohort(url, n_patients, n_visits)
    load_s = time.perf_counter() - t0
    c = cohort.load(url)
    sub = c.patients(diagnosis="PD", age=(60, 80))
    out = [("bulk insert of the synthetic cohort (one-off)", load_s, n_patients * n_visits)]
    for label, fn, rep in [
        ("gait_parameters() - whole cohort", c.gait_parameters, 2),
        ("patients(PD, age 60-80).gait_parameters()", sub.gait_parameters, 3),
        ("gait_parameters('speed')", lambda: c.gait_parameters("speed"), 3),
        ("parameter_matrix() (wide, side 'both')", c.parameter_matrix, 2),
        ("longitudinal('speed')", lambda: c.longitudinal("speed"), 3),
        ("embeddings() (N x 512)", c.embeddings, 2),
        ("predictions()", c.predictions, 3),
        ("strides()", c.strides, 1),
        ("curves('knee_flexion') (tidy, 101 pts)", lambda: c.curves("knee_flexion"), 1),
        ("patient_table()", c.patient_table, 3),
    ]:
        s, n = _time(fn, rep)
        out.append((label, s, n))
    c.db.dispose()
    return out


def _pg_fresh(url: str) -> tuple[str, callable]:
    name = f"gs_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(url).set(database=name).render_as_string(hide_password=False), drop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--visits", type=int, default=5)
    ap.add_argument("--pg", default=None, help="PostgreSQL URL of a role allowed to CREATE DATABASE")
    ap.add_argument("--skip-storage", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not args.skip_storage:
            print("\nStorage per minute of analyzed video (30 fps, SQLite)")
            print(f"{'component':<62}{'bytes':>14}")
            for label, v in storage_per_minute(tmp):
                shown = "" if np.isnan(v) else (f"{v:>14.2f}" if v < 100 else f"{v:>14,.0f}")
                print(f"{label:<62}{shown}")
        backends = [("sqlite", f"sqlite:///{tmp / 'cohort.db'}", None)]
        if args.pg:
            url, drop = _pg_fresh(args.pg)
            backends.append(("postgresql", url, drop))
        for name, url, drop in backends:
            try:
                print(f"\nCohort API, {args.patients} patients x {args.visits} visits ({name})")
                print(f"{'query':<50}{'seconds':>10}{'rows':>10}")
                for label, s, n in cohort_queries(url, args.patients, args.visits):
                    print(f"{label:<50}{s:>10.3f}{n:>10,}")
            finally:
                if drop:
                    drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
