"""Small, plausible analysis records made by hand, for tests, benchmarks and demos of the database.

They are *not* the output of the real analysis (``gaitscope.analysis``) and carry no physiological truth
beyond rough normative magnitudes (Perry & Burnfield; see ``../shared/notes/gait-references.md``): speed
~1.3 m/s, cadence ~110 steps/min, stance ~60 %. ``severity`` (0 healthy .. 3 severe) shortens steps, slows
walking, lengthens double support and shifts the embedding along one direction, so a classifier has something
to learn in a demo cohort. Everything is deterministic in ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

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

# name, label, unit, healthy value, change per severity step, normal low, normal high, per-side?
_PARAMS = (
    ("walking_speed", "Walking speed", "m/s", 1.30, -0.22, 1.00, 1.60, False),
    ("cadence", "Cadence", "steps/min", 110.0, -4.0, 95.0, 125.0, False),
    ("step_length", "Step length", "m", 0.70, -0.10, 0.55, 0.85, True),
    ("stride_time", "Stride time", "s", 1.09, 0.05, 0.95, 1.25, True),
    ("stance_pct", "Stance", "%", 60.0, 2.0, 57.0, 64.0, True),
    ("double_support_pct", "Double support", "%", 20.0, 4.0, 15.0, 26.0, False),
    ("step_width", "Step width", "m", 0.10, 0.015, 0.05, 0.16, False),
)
_CURVES = (("knee_flexion", "L"), ("knee_flexion", "R"), ("hip_flexion", "L"), ("hip_flexion", "R"), ("pelvis_tilt", ""))
_ANGLE_COLUMNS = ("knee_flexion_L", "knee_flexion_R", "hip_flexion_L", "hip_flexion_R", "pelvis_tilt")


@dataclass(frozen=True)
class SampleAnalysis:
    """The arguments :func:`gaitscope.db.analysis_records.save_analysis` needs, built by :func:`make_sample_analysis`."""

    keypoints2d: Keypoints2D
    motion3d: Motion3D
    report: GaitReport
    embedding: MotionEmbedding
    predictions: tuple[Prediction, ...]


def _flag(v: float, lo: float, hi: float) -> str:
    if not np.isfinite(v):
        return "unknown"
    return "low" if v < lo else "high" if v > hi else "normal"


def make_sample_analysis(
    seed: int = 0,
    *,
    n_frames: int = 60,
    fps: float = 30.0,
    severity: float = 0.0,
    embedding_dim: int = 16,
    analysis_version: str = "analysis-test",
    with_raw: bool = True,
) -> SampleAnalysis:
    """A complete, self-consistent set of records for one recording of ``n_frames`` frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps
    # 2D: a person walking across a 1920x1080 frame, joints jittering around a moving centre.
    centre = np.stack([200 + 300 * t, 540 + 5 * np.sin(2 * np.pi * t)], axis=1)
    offsets = rng.normal(0, 60, size=(17, 2))
    xy = centre[:, None, :] + offsets[None] + rng.normal(0, 1.5, size=(n_frames, 17, 2))
    conf = rng.uniform(0.5, 1.0, size=(n_frames, 17))
    raw = None
    if with_raw:
        raw = np.concatenate(
            [centre[:, None, :] + rng.normal(0, 60, size=(n_frames, 33, 2)), rng.uniform(-1, 1, (n_frames, 33, 1)),
             rng.uniform(0, 1, (n_frames, 33, 1))],
            axis=-1,
        )
    interpolated = np.zeros(n_frames, dtype=bool)
    interpolated[n_frames // 3 : n_frames // 3 + 2] = True
    kp = Keypoints2D(
        xy_px=xy.astype(np.float32), conf=conf.astype(np.float32), fps=fps, width=1920, height=1080,
        frame_index=np.arange(n_frames), interpolated=interpolated, source="synthetic",
        raw=None if raw is None else raw.astype(np.float32), raw_format="blazepose33" if with_raw else "",
        notes=("sample record",),
    )
    # 3D: root-relative joints in metres, gently swinging.
    base = rng.normal(0, 0.25, size=(17, 3))
    base[0] = 0.0
    xyz = base[None] + 0.05 * np.sin(2 * np.pi * t)[:, None, None] * rng.normal(0, 1, size=(1, 17, 3))
    valid = ~interpolated
    feet = {name: xyz[:, 3 if "right" in name else 6, :] + [0.0, 0.05 * ("toe" in name), -0.05] for name in
            ("left_heel", "right_heel", "left_toe", "right_toe")}
    motion = Motion3D(
        xyz_m=xyz, fps=fps, up=(0.0, 0.0, 1.0), root_relative=True, scale_source="assumed height 170 cm",
        scale_height_m=1.70, scale_assumed=True, source="lifter:sample@0", valid=valid, feet=feet, notes=("sample",),
    )
    # Events and strides: alternate heel strikes every half stride.
    stride_s = 1.09 + 0.05 * severity
    events: list[GaitEvent] = []
    strides: list[Stride] = []
    k, time = 0, 0.1
    while time < n_frames / fps:
        side = "L" if k % 2 == 0 else "R"
        frame = min(int(round(time * fps)), n_frames - 1)
        events.append(GaitEvent(side=side, kind="heel_strike", frame=frame, time_s=float(time), quality=0.9))
        to = time + 0.6 * stride_s
        if to < n_frames / fps:
            events.append(GaitEvent(side=side, kind="toe_off", frame=min(int(round(to * fps)), n_frames - 1),
                                    time_s=float(to), quality=0.8))
        k += 1
        time += stride_s / 2
    hs = [e for e in events if e.kind == "heel_strike"]
    for i in range(len(hs) - 2):
        a, b = hs[i], hs[i + 2]
        step_len = 0.70 - 0.10 * severity + rng.normal(0, 0.02)
        strides.append(
            Stride(
                side=a.side, start_frame=a.frame, end_frame=b.frame, stride_time_s=b.time_s - a.time_s,
                stride_length_m=2 * step_len, step_time_s=(b.time_s - a.time_s) / 2, step_length_m=step_len,
                stance_pct=60 + 2 * severity, swing_pct=40 - 2 * severity, double_support_pct=20 + 4 * severity,
                step_width_m=float("nan") if i == 0 else 0.1, speed_m_s=2 * step_len / (b.time_s - a.time_s),
                toe_off_frame=None if i == 0 else a.frame + int(0.6 * (b.frame - a.frame)),
            )
        )
    params: list[ParameterSummary] = []
    for name, label, unit, v0, dv, lo, hi, per_side in _PARAMS:
        for side in ("L", "R", "both") if per_side else ("both",):
            v = v0 + dv * severity + rng.normal(0, abs(dv) * 0.3 + 1e-3)
            sd = abs(v) * 0.03 * (1 + severity)
            params.append(
                ParameterSummary(
                    name=name, label=label, unit=unit, side=side, value=float(v), sd=float(sd),
                    cv_pct=float(100 * sd / abs(v)), n=len(strides), normal_low=lo, normal_high=hi,
                    normal_source="sample norms", flag=_flag(v, lo, hi),  # type: ignore[arg-type]
                )
            )
    params.append(ParameterSummary(name="step_asymmetry", label="Step asymmetry", unit="%", side="both",
                                   value=float("nan"), flag="unknown"))
    pct = np.linspace(0, 100, 101)
    curves = []
    for name, side in _CURVES:
        amp = {"knee_flexion": 60.0, "hip_flexion": 40.0, "pelvis_tilt": 4.0}[name] * (1 - 0.15 * severity)
        mean = amp * 0.5 * (1 - np.cos(2 * np.pi * pct / 100)) + rng.normal(0, 0.5, 101)
        curves.append(
            GaitCurve(
                name=name, side=side, unit="deg", pct=pct, mean=mean, sd=np.full(101, 3.0 + severity),
                n_strides=len(strides), normal_mean=amp * 0.5 * (1 - np.cos(2 * np.pi * pct / 100)) if name != "pelvis_tilt" else None,
                normal_sd=np.full(101, 4.0) if name != "pelvis_tilt" else None, normal_source="sample norms",
            )
        )
    angles = pd.DataFrame(
        {c: 30 * np.sin(2 * np.pi * t / stride_s + i) for i, c in enumerate(_ANGLE_COLUMNS)}
    )
    report = GaitReport(
        fps=fps, n_frames=n_frames, duration_s=n_frames / fps, events=tuple(events), strides=tuple(strides),
        parameters=tuple(params), curves=tuple(curves),
        scores={"GPS": 5.0 + 3.0 * severity + rng.normal(0, 0.3), "GVS_knee_flexion_L": 4.0 + severity,
                "GVS_knee_flexion_R": float("nan")},
        scale_note="assumed height 170 cm", source=motion.source, analysis_version=analysis_version,
        warnings=("sample warning",) if severity > 2 else (), angles=angles,
    )
    direction = np.ones(embedding_dim) / np.sqrt(embedding_dim)
    per_frame = rng.normal(0, 1, size=(n_frames, embedding_dim)) + severity * direction
    emb = MotionEmbedding(
        pooled=per_frame.mean(axis=0).astype(np.float32), per_frame=per_frame.astype(np.float32),
        model_name="dstformer-sample", model_version="sample-1",
    )
    p_pd = float(np.clip(0.15 + 0.25 * severity + rng.normal(0, 0.05), 0.01, 0.99))
    pred = Prediction(
        head_name="pd_vs_healthy", head_version="0.1", classes=("healthy", "pd"), probabilities=(1 - p_pd, p_pd),
        predicted="pd" if p_pd >= 0.5 else "healthy", feature_set="embedding",
    )
    return SampleAnalysis(keypoints2d=kp, motion3d=motion, report=report, embedding=emb, predictions=(pred,))
