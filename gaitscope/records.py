"""Records passed between the stages of the platform.

Each stage takes one record and returns the next (see ``../shared/notes/architecture.md``)::

    VideoInfo -> Keypoints2D -> Motion3D -> MotionEmbedding / GaitReport -> database, UI, reports

Records are frozen dataclasses holding numpy arrays. Units are in the field names (``_px``, ``_m``, ``_s``).
Shapes are checked at construction so a bad array fails where it was made, not three stages later. These
records import nothing but numpy and pandas, so models and analysis stay free of the platform, the UI and the
database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Mapping

import numpy as np

from gaitscope.skeleton import H36M_JOINTS, NUM_JOINTS

if TYPE_CHECKING:  # pandas is imported where a table is made: the 2D detector processes never need it (0.4 s)
    import pandas as pd

Side = Literal["L", "R"]


def _check_shape(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> None:
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple('*' if s is None else s for s in shape)}")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, after validation."""

    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    duration_s: float
    rotation_deg: int = 0  # clockwise rotation to apply for display (phone videos)
    codec: str = ""
    size_bytes: int = 0
    sha256: str = ""  # content hash: identifies a recording whatever its file name
    #: frames are not evenly spaced in time (phone VFR); ``fps`` is then the mean rate and the 2D stage resamples
    #: its keypoints onto an even clock from the container's frame times (gaitscope.io.frame_times)
    variable_rate: bool = False


@dataclass(frozen=True)
class PeopleSeen:
    """Other people the 2D stage saw beside the person measured (:mod:`gaitscope.pose2d.people`).

    ``frame`` is the video frame (in the kept stretch) where the most people were seen, with the measured
    person's box and the others' boxes on it, in pixels ``(x0, y0, x1, y1)``; ``chosen`` is the person the user
    picked (``"#2"``, ``"410,180"``), ``""`` when the detector chose."""

    max_in_view: int
    frame: int
    measured_box: tuple[float, float, float, float] | None
    other_boxes: tuple[tuple[float, float, float, float], ...] = ()
    chosen: str = ""


@dataclass(frozen=True)
class Keypoints2D:
    """2D joints of one person over time, in H36M-17 order, in pixels of the (rotated) image.

    ``conf`` is 0 where a joint is missing. ``interpolated`` marks frames whose joints were filled across a
    short gap (no detection). ``raw`` keeps the detector's own landmarks (BlazePose: ``(T, 33, 4)`` x_px,
    y_px, z (relative), visibility) so that foot points (heels, toes) stay available to gait-event detection.
    """

    xy_px: np.ndarray  # (T, 17, 2) float32
    conf: np.ndarray  # (T, 17) float32 in [0, 1]
    fps: float
    width: int
    height: int
    frame_index: np.ndarray  # (T,) int: index of each row in the source video
    interpolated: np.ndarray  # (T,) bool
    source: str  # "blazepose-full/mediapipe-0.10.14", "coco-json", "openpose-json", "synthetic"
    raw: np.ndarray | None = None  # (T, K, 4) detector landmarks in pixels + confidence
    raw_format: str = ""  # "blazepose33" when raw is set
    notes: tuple[str, ...] = ()  # human-readable remarks: gaps filled, person chosen, ...
    #: (T,) seconds of each row on the video's own clock (container time stamps, first frame at 0) where rows are
    #: not ``frame_index / fps`` apart: a variable-frame-rate video resampled onto an even clock. None otherwise.
    time_s: np.ndarray | None = None
    people: PeopleSeen | None = None  # other people seen (None: only the person measured, or not looked for)

    def __post_init__(self) -> None:
        t = self.xy_px.shape[0]
        if self.time_s is not None:
            _check_shape("time_s", self.time_s, (t,))
        _check_shape("xy_px", self.xy_px, (t, NUM_JOINTS, 2))
        _check_shape("conf", self.conf, (t, NUM_JOINTS))
        _check_shape("frame_index", self.frame_index, (t,))
        _check_shape("interpolated", self.interpolated, (t,))
        if self.raw is not None:
            _check_shape("raw", self.raw, (t, None, 4))
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def n_frames(self) -> int:
        return int(self.xy_px.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per frame and joint (frame, joint, x_px, y_px, conf, interpolated)."""
        import pandas as pd

        t = self.n_frames
        return pd.DataFrame(
            {
                "frame": np.repeat(self.frame_index, NUM_JOINTS),
                "joint": np.tile(np.array(H36M_JOINTS), t),
                "x_px": self.xy_px[..., 0].reshape(-1),
                "y_px": self.xy_px[..., 1].reshape(-1),
                "conf": self.conf.reshape(-1),
                "interpolated": np.repeat(self.interpolated, NUM_JOINTS),
            }
        )


@dataclass(frozen=True)
class Motion3D:
    """3D joints of one person over time, H36M-17 order, in metres.

    The coordinate frame is whatever the source uses (camera, lab); ``up`` is the unit vector that points
    vertically up in that frame, so the analysis can build its own body-fixed frame without guessing.
    ``root_relative`` is True when the pelvis was removed (lifter output): then walking speed cannot come
    from pelvis travel and is derived from step lengths instead. ``scale_source`` records where metres came
    from ("subject height 172 cm", "motion capture (mm)", "synthetic ground truth", "assumed height 170 cm"), as text
    for people; ``scale_height_m`` and ``scale_assumed`` say the same as values for the analysis (the body height
    the lengths were scaled to, None for a source in its own unit; True when that scale is an assumption).
    ``feet`` optionally holds heel/toe trajectories (T, 3) keyed by :data:`gaitscope.skeleton.FOOT_POINTS`.
    ``view_yaw_rad`` (T,), for a lifter's output from a fixed camera: the angle (right-handed about ``up``) that
    turns each frame's horizontal directions from its own viewing ray to the camera's fixed axes. A lifter
    answers with the body as seen along the ray to the person, so a walker crossing the view seems to turn by
    the change of viewing angle; the analysis adds this angle to the heading when it looks for turns
    (:func:`gaitscope.analysis.frames.frame_states`). None: one fixed frame already (motion capture, synthetic).
    """

    xyz_m: np.ndarray  # (T, 17, 3) float
    fps: float
    up: tuple[float, float, float]
    root_relative: bool
    scale_source: str
    source: str  # "lifter:<model>@<version>", "c3d:<file>", "synthetic"
    valid: np.ndarray | None = None  # (T,) bool, False where the frame was missing / interpolated
    feet: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    scale_height_m: float | None = None  # body height the lengths were scaled to (None: the source's own unit)
    scale_assumed: bool = False  # the scale rests on an assumption (no subject height; BVH of unknown units)
    view_yaw_rad: np.ndarray | None = None  # (T,) viewing ray -> camera axes, about ``up`` (see above)

    def __post_init__(self) -> None:
        t = self.xyz_m.shape[0]
        _check_shape("xyz_m", self.xyz_m, (t, NUM_JOINTS, 3))
        if self.valid is not None:
            _check_shape("valid", self.valid, (t,))
        if self.view_yaw_rad is not None:
            _check_shape("view_yaw_rad", self.view_yaw_rad, (t,))
        for name, arr in self.feet.items():
            _check_shape(f"feet[{name}]", arr, (t, 3))
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if not np.isclose(np.linalg.norm(self.up), 1.0, atol=1e-3):
            raise ValueError(f"up must be a unit vector, got {self.up}")

    @property
    def n_frames(self) -> int:
        return int(self.xyz_m.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per frame and joint (frame, time_s, joint, x_m, y_m, z_m)."""
        import pandas as pd

        t = self.n_frames
        return pd.DataFrame(
            {
                "frame": np.repeat(np.arange(t), NUM_JOINTS),
                "time_s": np.repeat(np.arange(t) / self.fps, NUM_JOINTS),
                "joint": np.tile(np.array(H36M_JOINTS), t),
                "x_m": self.xyz_m[..., 0].reshape(-1),
                "y_m": self.xyz_m[..., 1].reshape(-1),
                "z_m": self.xyz_m[..., 2].reshape(-1),
            }
        )


@dataclass(frozen=True)
class MotionEmbedding:
    """Motion representation from the DSTformer encoder.

    ``per_frame`` is the representation pooled over joints, ``(T, D)``; ``per_joint`` is the full
    ``(T, 17, D)`` tensor when asked for (large: keep it out of the database by default). ``pooled`` is the
    mean over frames and joints, ``(D,)``: the input of disease classifiers.
    """

    pooled: np.ndarray  # (D,)
    per_frame: np.ndarray  # (T, D)
    model_name: str
    model_version: str
    per_joint: np.ndarray | None = None  # (T, 17, D)

    def __post_init__(self) -> None:
        d = self.pooled.shape[0]
        _check_shape("pooled", self.pooled, (d,))
        _check_shape("per_frame", self.per_frame, (None, d))
        if self.per_joint is not None:
            _check_shape("per_joint", self.per_joint, (self.per_frame.shape[0], NUM_JOINTS, d))

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[0])


# ---------------------------------------------------------------------------------------------------------
# Gait analysis output
# ---------------------------------------------------------------------------------------------------------

EventKind = Literal["heel_strike", "toe_off"]
Flag = Literal["low", "normal", "high", "unknown"]


@dataclass(frozen=True)
class GaitEvent:
    """One foot contact or foot off. ``quality`` in [0, 1]: 1 = clear, low = ambiguous (noisy, near a gap)."""

    side: Side
    kind: EventKind
    frame: int
    time_s: float
    quality: float = 1.0


@dataclass(frozen=True)
class Stride:
    """One gait cycle of one foot, heel strike to the next heel strike of the same foot.

    Lengths are in metres along the progression direction; NaN where not measurable (e.g. width in a
    frontal view). ``step_*`` refers to the step that ends this stride (contralateral strike -> this strike).
    """

    side: Side
    start_frame: int
    end_frame: int
    stride_time_s: float
    stride_length_m: float
    step_time_s: float
    step_length_m: float
    stance_pct: float
    swing_pct: float
    double_support_pct: float
    step_width_m: float
    speed_m_s: float
    toe_off_frame: int | None = None


@dataclass(frozen=True)
class ParameterSummary:
    """A spatiotemporal parameter over all strides, with its normal range and flag.

    ``side`` is "L", "R" or "both". ``normal_low`` / ``normal_high`` are mean -/+ 2 SD (or the published
    range) of the reference population named in ``normal_source``; ``flag`` compares ``value`` with them.
    """

    name: str  # stable snake_case key, e.g. "cadence", "step_length", "stance_pct"
    label: str  # "Cadence"
    unit: str  # "steps/min", "m", "s", "%", "m/s", "deg"
    side: str
    value: float
    sd: float = float("nan")
    cv_pct: float = float("nan")
    n: int = 0
    normal_low: float = float("nan")
    normal_high: float = float("nan")
    normal_source: str = ""
    flag: Flag = "unknown"
    #: how far this recording supports the number: "reliable", "limited" or "not measurable" ("" = not graded);
    #: only a reliable number is flagged (gaitscope.analysis.reliability)
    reliability: str = ""
    #: 95 % interval of the value: stride-to-stride spread and the video path's own measured error
    #: (gaitscope.analysis.intervals); NaN where neither is known. ``ci_note`` says what it is made of.
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    ci_note: str = ""


@dataclass(frozen=True)
class RecordingQuality:
    """What the recording itself allows: the camera's view of the walk, each leg's visibility, usable strides.

    ``view_angle_deg``: angle between the walking direction and the camera's optical axis, 0 = walking away from
    the camera, 90 = side view, 180 = walking toward it; None without a camera (motion capture). ``view`` is its
    class ("side", "oblique", "frontal", "back", "no camera"); ``near_leg`` the leg nearer the camera ("L"/"R").
    ``leg_visibility`` is the fraction of frames in which a leg's hip, knee and ankle were all seen by the 2D
    detector (absent when unknown). ``advice`` says how to film better when some number could not be graded
    reliable.
    """

    view: str
    view_angle_deg: float | None = None
    near_leg: str | None = None
    leg_visibility: Mapping[str, float] = field(default_factory=dict)
    usable_strides: int = 0
    advice: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelError:
    """The video path's measured error for one quantity in one view class: test - reference over the cases of
    the video evaluation of real motion (``benchmarks/error_model.py``). ``leg``: "near"/"far" (side and oblique
    views), "L"/"R" (frontal/back), "both" for both-feet values. ``kind``: "parameter" or "curve" (for a curve the
    error of every % of the cycle, pooled)."""

    kind: str
    view: str
    name: str
    leg: str
    unit: str
    bias: float
    sd: float
    n_cases: int


@dataclass(frozen=True)
class ErrorModel:
    """All :class:`ModelError` entries of the shipped error model, with the provenance lines of its file."""

    entries: tuple[ModelError, ...]
    provenance: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(e.kind, e.view, e.name, e.leg): e for e in self.entries})

    def get(self, kind: str, view: str, name: str, leg: str) -> ModelError | None:
        return self._index.get((kind, view, name, leg))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GaitCurve:
    """A joint angle over the gait cycle (0-100 %, 101 points), mean and SD over strides of one side.

    ``normal_mean`` / ``normal_sd`` hold the reference band when one exists (else None).
    """

    name: str  # "knee_flexion", "hip_flexion", "hip_abduction", "pelvis_tilt", ...
    side: str  # "L", "R" or "" for trunk/pelvis variables
    unit: str
    pct: np.ndarray  # (101,)
    mean: np.ndarray  # (101,)
    sd: np.ndarray  # (101,)
    n_strides: int
    normal_mean: np.ndarray | None = None
    normal_sd: np.ndarray | None = None
    normal_source: str = ""
    #: 95 % band per % of cycle (gaitscope.analysis.intervals), None when not computed
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.pct.shape[0]
        for nm in ("mean", "sd"):
            _check_shape(nm, getattr(self, nm), (n,))
        for nm in ("normal_mean", "normal_sd", "ci_low", "ci_high"):
            if getattr(self, nm) is not None:
                _check_shape(nm, getattr(self, nm), (n,))


@dataclass(frozen=True)
class VariableScore:
    """One Gait Variable Score (Baker et al. 2009): ``curve`` on ``side`` ("L", "R", or "" for a curve of the
    whole body), the RMS deviation from the reference mean over the gait cycle, in degrees."""

    curve: str
    side: str
    gvs_deg: float

    @property
    def key(self) -> str:
        """The flat name the database and CSV files store it under: ``GVS_<curve>_<side>``."""
        return f"GVS_{self.curve}_{self.side}" if self.side else f"GVS_{self.curve}"


@dataclass(frozen=True, eq=False)  # equality of a Mapping: the same names and values, also against a dict
class GaitScores(Mapping[str, float]):
    """The Gait Profile Score and its Gait Variable Scores as typed values (Baker et al. 2009).

    It also reads as the flat mapping the database, the CSV export and older code store (``"GPS"``, ``"GPS_L"``,
    ``"GPS_R"``, ``"GVS_<curve>_<side>"``), so storing stays as it was; code that needs a variable's curve and
    side reads :attr:`variables` instead of taking key strings apart. :meth:`from_mapping` is the one place that
    reads the flat names back (stored analyses)."""

    gps: float | None = None
    gps_left: float | None = None
    gps_right: float | None = None
    variables: tuple[VariableScore, ...] = ()

    @classmethod
    def from_mapping(cls, flat: Mapping[str, float | None] | None) -> "GaitScores":
        if isinstance(flat, GaitScores):
            return flat
        flat = dict(flat or {})
        variables = []
        for key, value in flat.items():
            if not key.startswith("GVS_") or value is None:
                continue
            body = key[4:]
            curve, side = (body[:-2], body[-1]) if body[-2:] in ("_L", "_R") else (body, "")
            variables.append(VariableScore(curve, side, float(value)))
        return cls(flat.get("GPS"), flat.get("GPS_L"), flat.get("GPS_R"), tuple(variables))

    def _flat(self) -> dict[str, float]:
        out = {v.key: v.gvs_deg for v in self.variables}
        for key, value in (("GPS", self.gps), ("GPS_L", self.gps_left), ("GPS_R", self.gps_right)):
            if value is not None:
                out[key] = value
        return out

    def __getitem__(self, key: str) -> float:
        return self._flat()[key]

    def __iter__(self):
        return iter(self._flat())

    def __len__(self) -> int:
        return len(self._flat())

    def variable_names(self) -> list[str]:
        """The curves with a GVS, each once, sorted."""
        return sorted({v.curve for v in self.variables})


@dataclass(frozen=True)
class GaitReport:
    """Everything the analysis says about one walk; the database, the dashboard and the reports read it."""

    fps: float
    n_frames: int
    duration_s: float
    events: tuple[GaitEvent, ...]
    strides: tuple[Stride, ...]
    parameters: tuple[ParameterSummary, ...]
    curves: tuple[GaitCurve, ...]
    scores: GaitScores  # GPS and GVS (a flat mapping given here is read into GaitScores)
    scale_note: str  # how metres were obtained (and the caveat when assumed)
    source: str  # the Motion3D source
    analysis_version: str
    warnings: tuple[str, ...] = ()
    #: the subject's height the lengths rest on, metres; None when they rest on an assumed height or on the
    #: source's own unit (motion capture)
    height_m: float | None = None
    # Joint angles over time, degrees: column per angle ("knee_flexion_L", ...), one row per frame.
    angles: pd.DataFrame | None = None
    quality: RecordingQuality | None = None  # set by gaitscope.analysis.reliability.apply_reliability

    def __post_init__(self) -> None:
        if not isinstance(self.scores, GaitScores):
            object.__setattr__(self, "scores", GaitScores.from_mapping(self.scores))

    def parameter(self, name: str, side: str = "both") -> ParameterSummary:
        for p in self.parameters:
            if p.name == name and p.side == side:
                return p
        raise KeyError(f"no parameter {name!r} for side {side!r}")

    def events_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = ["side", "kind", "frame", "time_s", "quality"]
        return pd.DataFrame([[getattr(e, c) for c in cols] for e in self.events], columns=cols)

    def strides_frame(self) -> pd.DataFrame:
        from dataclasses import asdict, fields

        import pandas as pd

        cols = [f.name for f in fields(Stride)]
        return pd.DataFrame([asdict(s) for s in self.strides], columns=cols)

    def parameters_frame(self) -> pd.DataFrame:
        from dataclasses import asdict, fields

        import pandas as pd

        cols = [f.name for f in fields(ParameterSummary)]
        return pd.DataFrame([asdict(p) for p in self.parameters], columns=cols)

    def curves_frame(self) -> pd.DataFrame:
        """Tidy curves: one row per curve, side and percent of cycle."""
        import pandas as pd

        rows = []
        for c in self.curves:
            nm = c.normal_mean if c.normal_mean is not None else np.full_like(c.mean, np.nan)
            ns = c.normal_sd if c.normal_sd is not None else np.full_like(c.mean, np.nan)
            lo = c.ci_low if c.ci_low is not None else np.full_like(c.mean, np.nan)
            hi = c.ci_high if c.ci_high is not None else np.full_like(c.mean, np.nan)
            rows.append(
                pd.DataFrame(
                    {
                        "curve": c.name,
                        "side": c.side,
                        "unit": c.unit,
                        "pct": c.pct,
                        "mean": c.mean,
                        "sd": c.sd,
                        "normal_mean": nm,
                        "normal_sd": ns,
                        "n_strides": c.n_strides,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
            )
        cols = ["curve", "side", "unit", "pct", "mean", "sd", "normal_mean", "normal_sd", "n_strides", "ci_low",
                "ci_high"]
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


@dataclass(frozen=True)
class Prediction:
    """A classifier head's output for one analysis."""

    head_name: str
    head_version: str
    classes: tuple[str, ...]
    probabilities: tuple[float, ...]
    predicted: str
    feature_set: str = ""
