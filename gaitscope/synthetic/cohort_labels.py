"""A labelled synthetic cohort for disease-severity classifiers: subjects, several walks each, noisy ratings.

Why not :func:`gaitscope.synthetic.walker.make_cohort`? A classifier benchmark needs three things that cohort
does not model, and without them any head looks perfect:

* **subjects with several walks.** Clinical datasets have a few walks per person (the Parkinson's benchmark of
  Adeli et al., FG 2024, cuts each trial into clips and uses leave-one-subject-out CV, MotionBERT notes
  section 8). Walks of one person share body size and personal style, so a split that puts one walk of a
  person in training and another in test leaks identity. Each subject here has its own body and style
  offsets, and each walk adds a smaller day-to-day jitter.
* **overlapping severity.** The severity class (0 normal .. 3 severe, like the MDS-UPDRS-III gait item 3.10) is
  the rounded value of a continuous latent severity with within-class spread, so neighbouring classes overlap
  in every gait parameter, as they do in patients (Hausdorff 2009; Morris et al. 1994 for the Parkinsonian
  pattern: short shuffling steps, reduced arm swing and knee range, stooped trunk, festination, variability).
* **rater noise.** The observed label is the true class moved by one step with probability ``label_noise``
  (inter-rater agreement on the UPDRS gait item is moderate, so no real dataset has clean labels). The noise is
  per subject: one rating per session, shared by that session's walks.

Classes are drawn with unequal probabilities (``class_probs``) so class-imbalance handling is exercised.

:func:`walk_keypoints` films a walk with a randomly placed camera near the side view and adds 2D detector-like
noise, to feed the 2D-input encoder exactly as a video would.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gaitscope.records import Keypoints2D
from gaitscope.synthetic.camera import view_from_angle
from gaitscope.synthetic.truth import SyntheticWalk, WalkParams
from gaitscope.synthetic.walker import simulate_walk

__all__ = [
    "CLASS_NAMES",
    "LabelledWalk",
    "cohort_frame",
    "make_labelled_cohort",
    "simulate_labelled_walk",
    "walk_keypoints",
]

#: Class names of the severity scale, index = class (MDS-UPDRS-III item 3.10 style: 0 normal .. 3 severe).
CLASS_NAMES: tuple[str, ...] = ("0", "1", "2", "3")


@dataclass(frozen=True)
class LabelledWalk:
    """One walk of the labelled cohort: who walked, the rater's label, the truth behind it, the walker knobs."""

    sequence_id: str
    subject_id: str
    label: int  # the observed (noisy) rating, 0..3
    true_class: int  # the class the latent severity rounds to, 0..3
    latent_severity: float  # continuous severity of the subject (about 0..3.5)
    params: WalkParams
    camera_seed: int  # seed of the camera and 2D noise for this walk


@dataclass(frozen=True)
class _Subject:
    subject_id: str
    true_class: int
    latent: float
    label: int
    height: float
    leg_ratio: float
    style: dict[str, float]


def _draw_subject(rng: np.random.Generator, i: int, class_probs: np.ndarray, class_spread: float,
                  label_noise: float) -> _Subject:
    c = int(rng.choice(len(class_probs), p=class_probs))
    latent = float(np.clip(c + rng.normal(0.0, class_spread), -0.4, 3.6))
    true_class = int(np.clip(np.rint(latent), 0, 3))
    label = true_class
    if rng.random() < label_noise:
        label = int(np.clip(label + (1 if rng.random() < 0.5 else -1), 0, 3))
        if label == true_class:  # at the ends of the scale a mistake can only go inward
            label = 1 if true_class == 0 else 2
    style = {  # personal offsets, constant over the subject's walks
        "cadence": rng.normal(0.0, 6.0),
        "step": rng.normal(0.0, 0.035),
        "arm": rng.normal(0.0, 0.15),
        "trunk": rng.normal(0.0, 3.0),
        "knee": rng.normal(0.0, 0.07),
        "width": rng.normal(0.0, 0.02),
        "stance": rng.normal(0.0, 1.2),
        "asym": rng.normal(0.0, 0.03),
    }
    return _Subject(
        subject_id=f"S{i:03d}",
        true_class=true_class,
        latent=latent,
        label=label,
        height=float(np.clip(rng.normal(1.70, 0.09), 1.50, 1.95)),
        leg_ratio=float(np.clip(rng.normal(0.53, 0.01), 0.50, 0.56)),
        style=style,
    )


def _walk_params(subj: _Subject, rng: np.random.Generator, duration_s: float, fps: float) -> WalkParams:
    s = float(np.clip(subj.latent, 0.0, 3.5)) / 3.0  # 0 healthy .. ~1.17
    st = subj.style
    day = lambda sd: float(rng.normal(0.0, sd))
    return WalkParams(
        fps=fps,
        duration_s=duration_s,
        height_m=subj.height,
        cadence_steps_min=float(np.clip(108.0 + 8.0 * s + st["cadence"] + day(2.5), 85.0, 140.0)),
        step_length_m=float(np.clip(subj.height * (0.41 - 0.11 * s) + st["step"] + day(0.015), 0.25, 0.90)),
        step_asymmetry=float(st["asym"] + day(0.01) + rng.normal(0.0, 0.03 * s)),
        stance_pct=float(np.clip(61.0 + 4.0 * s + st["stance"] + day(0.5), 56.0, 72.0)),
        step_width_m=float(np.clip(0.10 + 0.03 * s + st["width"] + day(0.01), 0.04, 0.25)),
        knee_rom_scale=float(np.clip(1.0 - 0.30 * s + st["knee"] + day(0.03), 0.4, 1.15)),
        hip_rom_scale=float(np.clip(1.0 - 0.30 * s + st["knee"] + day(0.03), 0.4, 1.15)),
        arm_swing_scale=float(np.clip(1.0 - 0.70 * s + st["arm"] + day(0.05), 0.0, 1.4)),
        trunk_flexion_deg=float(np.clip(3.0 + 15.0 * s + st["trunk"] + day(1.0), 0.0, 35.0)),
        shuffle=float(np.clip(0.7 * s - 0.1 + day(0.05), 0.0, 1.0)),
        festination=float(np.clip((s - 0.6) * 0.8 + day(0.05), 0.0, 1.0)),
        step_length_cv=float(np.clip(0.02 + 0.035 * s + day(0.005), 0.0, 0.15)),
        step_time_cv=float(np.clip(0.015 + 0.025 * s + day(0.004), 0.0, 0.15)),
        heading_deg=float(rng.uniform(-20.0, 20.0)),
        leg_length_ratio=subj.leg_ratio,
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def make_labelled_cohort(
    n_subjects: int = 24,
    walks_per_subject: int = 3,
    *,
    seed: int = 0,
    duration_s: float = 4.0,
    fps: float = 25.0,
    label_noise: float = 0.1,
    class_spread: float = 0.35,
    class_probs: tuple[float, float, float, float] = (0.35, 0.30, 0.22, 0.13),
    min_per_class: int = 2,
) -> list[LabelledWalk]:
    """Draw a cohort (no simulation yet: cheap). Deterministic in ``seed``.

    ``class_spread`` is the SD of the latent severity around its class (0.35: about 15 % of subjects round to a
    neighbouring class); ``label_noise`` the probability that the rater is off by one. The first
    ``4 * min_per_class`` subjects are assigned classes round-robin so every class is present in a small cohort
    (the rest follow ``class_probs``). Walks are ``duration_s`` long (4 s at 25 fps = 100 frames: several strides,
    one encoder window).
    """
    if n_subjects < 2:
        raise ValueError(f"n_subjects must be at least 2, got {n_subjects}")
    if walks_per_subject < 1:
        raise ValueError(f"walks_per_subject must be at least 1, got {walks_per_subject}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be a probability, got {label_noise}")
    probs = np.asarray(class_probs, dtype=float)
    if probs.shape != (4,) or np.any(probs < 0) or probs.sum() <= 0:
        raise ValueError(f"class_probs must be 4 non-negative numbers, got {class_probs}")
    probs = probs / probs.sum()
    rng = np.random.default_rng(seed)
    walks: list[LabelledWalk] = []
    for i in range(n_subjects):
        if i < 4 * min_per_class:
            forced = np.zeros(4)
            forced[i % 4] = 1.0
            subj = _draw_subject(rng, i, forced, class_spread, label_noise)
        else:
            subj = _draw_subject(rng, i, probs, class_spread, label_noise)
        for k in range(walks_per_subject):
            params = _walk_params(subj, rng, duration_s, fps)
            walks.append(
                LabelledWalk(
                    sequence_id=f"{subj.subject_id}_W{k + 1}",
                    subject_id=subj.subject_id,
                    label=subj.label,
                    true_class=subj.true_class,
                    latent_severity=subj.latent,
                    params=params,
                    camera_seed=int(rng.integers(0, 2**31 - 1)),
                )
            )
    return walks


def simulate_labelled_walk(walk: LabelledWalk) -> SyntheticWalk:
    """The 3D motion (world frame, metres) and gait truth of one cohort walk."""
    return simulate_walk(walk.params)


def walk_keypoints(
    walk: SyntheticWalk,
    seed: int = 0,
    *,
    yaw_range_deg: tuple[float, float] = (-25.0, 25.0),
    noise_px: float = 2.0,
    conf: float = 0.9,
) -> Keypoints2D:
    """Film ``walk`` with a static camera near the side view (random yaw, either side) and add pixel noise.

    Returns H36M-17 keypoints in pixels, as the detector stage would; ``source="synthetic"``.
    """
    rng = np.random.default_rng(seed)
    yaw = float(rng.uniform(*yaw_range_deg))
    if rng.random() < 0.5:
        yaw = 180.0 - yaw
    cam = view_from_angle(walk, yaw, width=1280, height=720)
    uv = cam.project(walk.motion.xyz_m)
    uv = uv + rng.normal(0.0, noise_px, uv.shape)
    t = uv.shape[0]
    return Keypoints2D(
        xy_px=uv.astype(np.float32),
        conf=np.full((t, uv.shape[1]), conf, dtype=np.float32),
        fps=float(walk.motion.fps),
        width=cam.width,
        height=cam.height,
        frame_index=np.arange(t),
        interpolated=np.zeros(t, dtype=bool),
        source="synthetic",
        notes=(f"synthetic camera yaw {yaw:.0f} deg, noise {noise_px:.1f} px",),
    )


def cohort_frame(walks: list[LabelledWalk]):
    """The cohort as a table (sequence_id, subject_id, label, true_class, latent_severity + walker knobs)."""
    import pandas as pd

    rows = []
    for w in walks:
        row = {"sequence_id": w.sequence_id, "subject_id": w.subject_id, "label": w.label,
               "true_class": w.true_class, "latent_severity": w.latent_severity}
        row.update({f"param_{k}": v for k, v in w.params.to_dict().items()})
        rows.append(row)
    return pd.DataFrame(rows)


def with_duration(walks: list[LabelledWalk], duration_s: float) -> list[LabelledWalk]:
    """The same cohort with another walk duration (e.g. longer walks for a benchmark)."""
    return [replace(w, params=replace(w.params, duration_s=duration_s)) for w in walks]
