"""Parameters and ground truth of the synthetic walker.

The walker (``gaitscope.synthetic.walker.simulate_walk``) turns :class:`WalkParams` into a 3D motion whose
gait parameters are known exactly: :class:`GaitTruth`. Every later stage (detection, lifting, analysis,
classification) is tested against that truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from gaitscope.records import GaitEvent, Motion3D


@dataclass(frozen=True)
class WalkParams:
    """Knobs of one synthetic walk. Lengths in metres, times in seconds, angles in degrees.

    Healthy adult defaults follow the normative values in ``../shared/notes/gait-references.md``
    (comfortable speed about 1.3 m/s, cadence about 110 steps/min, step length about 0.7 m, stance 60 %).
    Pathology knobs model Parkinsonian gait: ``shuffle`` shortens steps and flattens foot clearance,
    ``knee_rom_scale`` and ``arm_swing_scale`` shrink ranges, ``trunk_flexion_deg`` stoops the trunk,
    ``festination`` speeds cadence and shortens steps over the walk, the ``*_cv`` values add stride-to-stride
    variability.
    """

    fps: float = 30.0
    duration_s: float = 8.0
    height_m: float = 1.70
    cadence_steps_min: float = 110.0
    step_length_m: float = 0.70  # mean of left and right
    step_asymmetry: float = 0.0  # (right - left) / mean step length
    stance_pct: float = 60.0
    step_width_m: float = 0.10
    knee_rom_scale: float = 1.0
    hip_rom_scale: float = 1.0
    arm_swing_scale: float = 1.0
    trunk_flexion_deg: float = 0.0
    shuffle: float = 0.0  # 0 healthy .. 1 severe shuffling
    festination: float = 0.0  # 0 none .. 1 strong
    step_length_cv: float = 0.0  # coefficient of variation, fraction (0.03 = 3 %)
    step_time_cv: float = 0.0
    heading_deg: float = 0.0  # walking direction in the ground plane, 0 = +x
    leg_length_ratio: float = 0.53  # leg length / height (body proportions)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GaitTruth:
    """What the walker actually produced (after variability and festination), to compare analyses with.

    Per-side values are dicts keyed "L" and "R". Events are exact (float times; ``frame`` is the nearest
    frame).
    """

    events: tuple[GaitEvent, ...]
    cadence_steps_min: float
    speed_m_s: float
    stride_time_s: dict[str, float]
    stride_length_m: dict[str, float]
    step_time_s: dict[str, float]
    step_length_m: dict[str, float]
    stance_pct: dict[str, float]
    double_support_pct: float
    step_width_m: float
    knee_rom_deg: dict[str, float]  # max - min knee flexion over the cycle
    hip_rom_deg: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SyntheticWalk:
    """A generated walk: world-frame motion (Z up, metres, pelvis travelling) and its truth."""

    params: WalkParams
    motion: Motion3D
    truth: GaitTruth
