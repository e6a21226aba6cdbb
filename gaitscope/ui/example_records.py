"""Small hand-built records (a stick figure walking, a plausible GaitReport) for tests, previews and the demo.

Why here and not in the synthetic walker? The walker is the platform's ground truth and may be absent or
change; the dashboard, the PDF report and their tests only need records of the right *shape* with values a
clinician would recognise, built in microseconds with numpy alone. Nothing here claims to be real gait.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gaitscope.records import (
    GaitCurve,
    GaitEvent,
    GaitReport,
    Keypoints2D,
    Motion3D,
    ParameterSummary,
    Prediction,
    Stride,
)
from gaitscope.skeleton import NUM_JOINTS, J

PCT = np.linspace(0.0, 100.0, 101)

# Rough sagittal shapes (degrees) of a healthy adult cycle, for the example only: a few harmonics that give the
# familiar double hump of the knee and the single sweep of the hip.
_SHAPES = {
    "hip_flexion": lambda p: 10 + 22 * np.cos(2 * np.pi * p / 100) + 4 * np.sin(2 * np.pi * p / 100),
    "knee_flexion": lambda p: 22 + 12 * np.sin(2 * np.pi * (p - 5) / 100) - 20 * np.cos(2 * np.pi * (p - 10) / 100)
    + 8 * np.sin(4 * np.pi * p / 100),
    "ankle_dorsiflexion": lambda p: 2 + 8 * np.sin(2 * np.pi * (p - 20) / 100) - 5 * np.cos(4 * np.pi * p / 100),
    "pelvis_tilt": lambda p: 10 + 1.5 * np.sin(4 * np.pi * p / 100),
    "trunk_flexion": lambda p: 4 + 1.0 * np.sin(4 * np.pi * p / 100),
}
_UNITS = "deg"


def example_curves(offset_deg: float = 0.0, asymmetry_deg: float = 0.0) -> tuple[GaitCurve, ...]:
    """Curves for hip, knee, ankle (L and R) and pelvis/trunk, with a normative band on the lower limb."""
    curves = []
    for name, shape in _SHAPES.items():
        sides = ("",) if name.startswith(("pelvis", "trunk")) else ("L", "R")
        normal = shape(PCT)
        for side in sides:
            shift = asymmetry_deg if side == "R" else 0.0
            mean = normal + offset_deg + shift
            curves.append(
                GaitCurve(
                    name=name, side=side, unit=_UNITS, pct=PCT.copy(), mean=mean, sd=np.full(101, 3.0), n_strides=4,
                    normal_mean=normal, normal_sd=np.full(101, 5.0),
                    normal_source="Schwartz 2008, typically developing children (free speed)",
                )
            )
    return tuple(curves)


def _param(name: str, label: str, unit: str, value: float, low: float, high: float, side: str = "both",
           source: str = "adult reference (example)") -> ParameterSummary:
    flag = "unknown" if value != value else "low" if value < low else "high" if value > high else "normal"
    return ParameterSummary(name=name, label=label, unit=unit, side=side, value=value, sd=0.02 * abs(value),
                            cv_pct=2.0, n=4, normal_low=low, normal_high=high, normal_source=source, flag=flag)


def example_parameters(speed: float = 1.25, cadence: float = 108.0, step_length: float = 0.69) -> tuple[
        ParameterSummary, ...]:
    return (
        _param("speed", "Walking speed", "m/s", speed, 1.0, 1.6),
        _param("cadence", "Cadence", "steps/min", cadence, 100.0, 125.0),
        _param("step_length", "Step length", "m", step_length, 0.6, 0.8),
        _param("step_length", "Step length", "m", step_length - 0.01, 0.6, 0.8, side="L"),
        _param("step_length", "Step length", "m", step_length + 0.01, 0.6, 0.8, side="R"),
        _param("stride_time", "Stride time", "s", 120.0 / cadence, 0.95, 1.2),
        _param("stance_pct", "Stance", "%", 61.0, 58.0, 64.0),
        _param("double_support_pct", "Double support", "%", 27.0, 16.0, 24.0),
        _param("step_width", "Step width", "m", float("nan"), 0.07, 0.12),
    )


def example_report(*, speed: float = 1.25, cadence: float = 108.0, step_length: float = 0.69,
                   n_frames: int = 60, fps: float = 30.0) -> GaitReport:
    """A complete GaitReport with every table filled (events, strides, parameters, curves, scores, angles)."""
    stride_frames = int(round(fps * 120.0 / cadence))
    events, strides = [], []
    for k, side in enumerate(("L", "R")):
        start = k * stride_frames // 2
        for i in range(3):
            f = start + i * stride_frames
            events.append(GaitEvent(side, "heel_strike", f, f / fps, 0.9))
            events.append(GaitEvent(side, "toe_off", f + int(0.6 * stride_frames), (f + 0.6 * stride_frames) / fps))
            if i < 2:
                strides.append(Stride(side, f, f + stride_frames, stride_frames / fps, 2 * step_length,
                                      stride_frames / fps / 2, step_length, 61.0, 39.0, 22.0, 0.1, speed,
                                      f + int(0.6 * stride_frames)))
    events.sort(key=lambda e: e.frame)
    curves = example_curves(offset_deg=3.0, asymmetry_deg=4.0)
    t = np.arange(n_frames) / fps
    angles = pd.DataFrame({f"{c.name}_{c.side}" if c.side else c.name: np.interp((t * cadence / 120.0 % 1) * 100,
                                                                              c.pct, c.mean) for c in curves})
    scores = {"GPS": 6.4, "GVS_hip_flexion_L": 4.1, "GVS_hip_flexion_R": 6.9, "GVS_knee_flexion_L": 5.2,
              "GVS_knee_flexion_R": 8.8, "GVS_pelvis_tilt": 3.0}
    return GaitReport(
        fps=fps, n_frames=n_frames, duration_s=n_frames / fps, events=tuple(events), strides=tuple(strides),
        parameters=example_parameters(speed, cadence, step_length), curves=curves, scores=scores,
        scale_note="metres from the subject's height (172 cm)", source="example", analysis_version="example-0",
        warnings=("Example data: not a real patient.",), angles=angles,
    )


def example_motion(n_frames: int = 60, fps: float = 30.0, height_m: float = 1.72) -> Motion3D:
    """A stick figure walking along +x with Z up: legs and arms swing, pelvis travels."""
    t = np.arange(n_frames) / fps
    phase = 2 * np.pi * t / 1.1
    h = height_m
    xyz = np.zeros((n_frames, NUM_JOINTS, 3))
    pelvis = np.stack([1.2 * t, np.zeros_like(t), 0.53 * h + 0.01 * np.sin(2 * phase)], axis=1)
    xyz[:, J["pelvis"]] = pelvis
    for side, sign, ph in (("right", -1.0, phase), ("left", 1.0, phase + np.pi)):
        hip = pelvis + np.array([0.0, sign * 0.1, 0.0])
        knee = hip + np.stack([0.12 * np.sin(ph), np.zeros_like(t), -0.25 * h * np.ones_like(t)], axis=1)
        ankle = knee + np.stack([0.18 * np.sin(ph - 0.6), np.zeros_like(t), -0.25 * h + 0.05 * np.clip(np.sin(ph), 0, 1)],
                                axis=1)
        xyz[:, J[f"{side}_hip"]], xyz[:, J[f"{side}_knee"]], xyz[:, J[f"{side}_ankle"]] = hip, knee, ankle
    xyz[:, J["spine"]] = pelvis + [0, 0, 0.12 * h]
    xyz[:, J["thorax"]] = pelvis + [0, 0, 0.28 * h]
    xyz[:, J["nose"]] = pelvis + [0.03, 0, 0.36 * h]
    xyz[:, J["head"]] = pelvis + [0, 0, 0.45 * h]
    for side, sign, ph in (("right", -1.0, phase + np.pi), ("left", 1.0, phase)):
        sh = xyz[:, J["thorax"]] + [0, sign * 0.18, -0.02]
        el = sh + np.stack([0.08 * np.sin(ph), np.zeros_like(t), -0.17 * h * np.ones_like(t)], axis=1)
        wr = el + np.stack([0.1 * np.sin(ph), np.zeros_like(t), -0.14 * h * np.ones_like(t)], axis=1)
        xyz[:, J[f"{side}_shoulder"]], xyz[:, J[f"{side}_elbow"]], xyz[:, J[f"{side}_wrist"]] = sh, el, wr
    return Motion3D(xyz_m=xyz, fps=fps, up=(0.0, 0.0, 1.0), root_relative=False,
                    scale_source=f"example height {h * 100:.0f} cm", scale_height_m=float(h), source="example")


def example_keypoints(motion: Motion3D | None = None, width: int = 320, height: int = 240) -> Keypoints2D:
    """Side-view orthographic projection of ``motion`` (x right, z up) into a ``width`` x ``height`` image."""
    motion = motion or example_motion()
    xyz = motion.xyz_m
    scale = 0.8 * height / 1.9
    x = (xyz[..., 0] - xyz[..., 0].min()) * scale + 0.1 * width
    y = height - 0.05 * height - xyz[..., 2] * scale
    xy = np.stack([x, y], axis=-1).astype(np.float32)
    t = xy.shape[0]
    return Keypoints2D(xy_px=xy, conf=np.full((t, NUM_JOINTS), 0.9, np.float32), fps=motion.fps, width=width,
                       height=height, frame_index=np.arange(t), interpolated=np.zeros(t, bool), source="synthetic")


def example_predictions() -> tuple[Prediction, ...]:
    return (Prediction(head_name="parkinsonian_gait", head_version="example-0", classes=("healthy", "parkinsonian"),
                       probabilities=(0.82, 0.18), predicted="healthy", feature_set="embedding"),)
