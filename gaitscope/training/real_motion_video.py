"""Video of real walking: held-out marker recordings rendered as a person filmed by a camera (issue 19).

Why: accuracy measured on marker trajectories projected through a camera with a noise model never shows the
detector's real failures (legs swapped or merged when they cross, the far leg guessed behind the near one).
Here every real marker recording that the lifter was not trained on (:data:`EVAL_MOCAP`) is drawn by the
capsule renderer of :mod:`gaitscope.synthetic.render` and filmed:

* **the person's own motion and proportions**: the joint centres and heels/toes come from the markers, so
  segment lengths are the subject's; the stature is (thigh + shank) / 0.491 (Winter 2009) and scales the
  girths, widened or narrowed by the hip-joint-centre width against the usual 0.10 x stature;
* **occlusion as on film**: limbs are painted far to near, so the far leg is hidden behind the near one exactly
  when a body of that girth would hide it;
* **lower-body marker sets** (BMClab walk*.trc, Camargo 2021) get a plausible upper body: a trunk 5 deg
  forward, shoulders on the pelvis' lateral axis, arms swinging against the same-side thigh (0.6 x its
  sagittal angle, Winter 2009's arm-leg coordination) with a 20 deg elbow bend;
* **look and camera per case, from a seed**: clothing, skin, wall (plain / gradient / noise) and a tiled floor
  (:func:`gaitscope.synthetic.render.random_appearance`), a global light gain and offset, camera height, field
  of view, fixed or panning (dolly along the walkway), 30 or 60 fps, side (60-120 deg between the walking
  direction and the optical axis), oblique (30-45 deg between the walking line and the optical axis),
  frontal and back views; written with the codec this OpenCV has (``mp4v`` MPEG-4 Part 2, lossy).

Videos are rendered once and cached under ``runs/video_eval/`` (git-ignored) keyed by a hash of the case and
:data:`RENDERER_VERSION`. The evaluation refuses training trials
(:func:`gaitscope.training.mocap_trials.refuse_training_trial`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gaitscope.records import GaitEvent, Motion3D
from gaitscope.skeleton import J
from gaitscope.training.mocap_trials import EVAL_MOCAP, refuse_training_trial

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MOCAP_DIR = REPO_ROOT / ".." / "shared" / "data" / "mocap"
CACHE_DIR = REPO_ROOT / "runs" / "video_eval"
#: Part of every cache key: bump when the figure, the cameras or the encoding change.
RENDERER_VERSION = "rmv1"
LEG_TO_HEIGHT = 0.491  # (thigh + shank) / stature, Winter 2009
HIP_WIDTH_TO_HEIGHT = 0.10  # hip joint centre distance / stature (about 0.17-0.18 m at 1.75 m)
ANKLE_HEIGHT_M = 0.07

#: Straight stretches (seconds in the recording) of trials that are not one straight walk: the Camargo circuit
#: turns at both ends; a fixed camera films one straight of it at a time.
CROPS: dict[str, tuple[tuple[float, float], ...]] = {
    "camargo2021_circuit/levelground_ccw_fast_01_01.trc": ((4.4, 7.4), (9.3, 12.4)),
}

VIEW_YAW: dict[str, tuple[float, float]] = {  # yaw range around the walkway (see camera.view_from_angle)
    "side": (-30.0, 30.0),  # 60-120 deg between walking direction and optical axis
    "oblique": (45.0, 60.0),  # 30-45 deg between the walking line and the optical axis, approaching
    "frontal": (89.0, 89.0),
    "back": (-89.0, -89.0),
}


# ---------------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoCase:
    """One rendered video: a held-out trial (or a straight stretch of it), a view class, a camera, a look."""

    trial: str  # relative to the mocap folder
    view: str  # "side", "oblique", "frontal", "back"
    camera: str = "fixed"  # or "panning"
    fps: float = 30.0
    seed: int = 0
    crop_s: tuple[float, float] | None = None
    from_right: bool = False  # side/oblique: camera on the walker's right

    @property
    def key(self) -> str:
        blob = json.dumps({**asdict(self), "renderer": RENDERER_VERSION}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        crop = f"@{self.crop_s[0]:g}-{self.crop_s[1]:g}s" if self.crop_s else ""
        side = "R" if self.from_right else "L"
        return f"{Path(self.trial).stem}{crop} {self.view}-{side} {self.camera} {self.fps:g}fps s{self.seed}"

    @property
    def near_side(self) -> str | None:
        """The leg nearer the camera ("L"/"R"), None for frontal and back views."""
        if self.view in ("frontal", "back"):
            return None
        return "R" if self.from_right else "L"


def _trial_crops(trial: str) -> tuple[tuple[float, float] | None, ...]:
    return CROPS.get(trial, (None,))


ALL_VIEWS = ("side", "oblique", "frontal", "back")


def default_cases(views=("side",), fps=(30.0, 60.0), trials=EVAL_MOCAP) -> list[VideoCase]:
    """Cases for ``views``: per view class and trial (and straight stretch), fixed and panning camera at each
    rate, the camera alternating between the walker's left and right, each case with its own seed.

    The seeds are numbered over every view class and trial in a fixed order and the request is a filter on
    that list, so a case is the same (same look, same cache key) whichever views or trials are asked for."""
    out = []
    seed, block = 100, 0
    for view in ALL_VIEWS:
        for trial in EVAL_MOCAP:
            for crop in _trial_crops(trial):
                for k, (camera, rate) in enumerate([(c, f) for c in ("fixed", "panning") for f in (30.0, 60.0)]):
                    out.append(VideoCase(trial, view, camera, float(rate), seed, crop,
                                         from_right=bool((k + block) % 2)))
                    seed += 1
                block += 1
    wanted_fps = {float(f) for f in fps}
    return [c for c in out if c.view in views and c.trial in trials and c.fps in wanted_fps]


# ---------------------------------------------------------------------------------------------------------
# The person
# ---------------------------------------------------------------------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def stature_m(xyz: np.ndarray) -> float:
    """(thigh + shank) / 0.491, both sides averaged over the trial (Winter 2009)."""
    leg = []
    for h, k, a in (("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")):
        thigh = np.linalg.norm(xyz[:, J[h]] - xyz[:, J[k]], axis=-1)
        shank = np.linalg.norm(xyz[:, J[k]] - xyz[:, J[a]], axis=-1)
        leg.append(np.nanmedian(thigh) + np.nanmedian(shank))
    return float(np.mean(leg) / LEG_TO_HEIGHT)


def girth_scale(xyz: np.ndarray, height_m: float) -> float:
    """Body width relative to the renderer's nominal figure, from the hip-joint-centre distance (0.85-1.25)."""
    w = np.nanmedian(np.linalg.norm(xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]], axis=-1))
    return float(np.clip(w / (HIP_WIDTH_TO_HEIGHT * height_m), 0.85, 1.25))


def add_upper_body(xyz: np.ndarray, height_m: float) -> np.ndarray:
    """Fill a missing trunk, head and arms (lower-body marker sets) with a plausible walking upper body.

    Trunk 5 deg forward of vertical; thorax 0.29 x stature above the pelvis, spine at 0.12 (Winter 2009
    segment lengths); shoulders 0.115 x stature either side on the pelvis' lateral axis; upper arm 0.186 and
    forearm 0.146 x stature; each arm swings against its own thigh (0.6 x the thigh's sagittal angle, so the
    left arm comes forward with the right leg), elbow bent 20 deg plus a third of the forward swing. Joints
    present in the markers are kept."""
    out = np.asarray(xyz, float).copy()
    up = np.array([0.0, 0.0, 1.0])
    pel = out[:, J["pelvis"]]
    lat = out[:, J["left_hip"]] - out[:, J["right_hip"]]
    lat[:, 2] = 0.0
    lat = _unit(lat)
    fwd = np.stack([lat[:, 1], -lat[:, 0], np.zeros(len(lat))], axis=-1)
    lean = np.radians(5.0)
    trunk = np.cos(lean) * up + np.sin(lean) * fwd
    h = height_m

    def put(name: str, value: np.ndarray) -> None:
        j = J[name]
        miss = ~np.isfinite(out[:, j]).all(axis=-1)
        out[miss, j] = value[miss]

    put("spine", pel + 0.12 * h * trunk)
    put("thorax", pel + 0.29 * h * trunk)
    put("nose", pel + (0.29 + 0.10) * h * trunk + 0.05 * h * fwd)
    put("head", pel + (0.29 + 0.17) * h * trunk)
    for side, s in (("left", 1.0), ("right", -1.0)):
        thigh = out[:, J[f"{side}_knee"]] - out[:, J[f"{side}_hip"]]
        theta = np.arctan2(np.sum(thigh * fwd, axis=-1), -thigh[:, 2])  # + = knee ahead of the hip
        alpha = -0.6 * theta
        sho = out[:, J["thorax"]] - 0.02 * h * trunk + s * 0.115 * h * lat if np.isfinite(
            out[:, J["thorax"]]).all() else pel + 0.27 * h * trunk + s * 0.115 * h * lat
        put(f"{side}_shoulder", sho)
        upper = _unit(-np.cos(alpha)[:, None] * up + np.sin(alpha)[:, None] * fwd + s * 0.08 * lat)
        beta = alpha + np.radians(20.0) + np.maximum(alpha, 0.0) / 3.0
        fore = _unit(-np.cos(beta)[:, None] * up + np.sin(beta)[:, None] * fwd + s * 0.05 * lat)
        elbow = out[:, J[f"{side}_shoulder"]] + 0.186 * h * upper
        put(f"{side}_elbow", elbow)
        put(f"{side}_wrist", out[:, J[f"{side}_elbow"]] + 0.146 * h * fore)
    return out


@dataclass(frozen=True)
class RealWalk:
    """A held-out recording made ready to film: a :class:`~gaitscope.synthetic.truth.SyntheticWalk` (what
    the renderer and cameras take) and ``t0_s``, the recording's time of video frame 0."""

    walk: object  # SyntheticWalk
    t0_s: float
    height_m: float
    girth: float
    upper_body_added: bool


def _interp_nan(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(len(a), -1).copy()
    t = np.arange(len(a))
    for k in range(flat.shape[1]):
        ok = np.isfinite(flat[:, k])
        if ok.any() and not ok.all():
            flat[:, k] = np.interp(t, t[ok], flat[:, k][ok])
    return flat.reshape(a.shape)


def real_walk(trial_motion: Motion3D, fps: float, crop_s: tuple[float, float] | None = None) -> RealWalk:
    """The recording's joints and feet, cut to ``crop_s`` and to the frames where the legs and feet exist,
    gaps interpolated, floor at z = 0, resampled to the video ``fps``."""
    from gaitscope.synthetic.truth import GaitTruth, SyntheticWalk, WalkParams

    m = trial_motion
    if not np.allclose(m.up, (0.0, 0.0, 1.0)):
        raise ValueError(f"{m.source}: expected a Z-up recording, got up = {m.up}")
    xyz = np.asarray(m.xyz_m, float)
    feet = {k: np.asarray(v, float) for k, v in m.feet.items()}
    if not {"left_heel", "right_heel", "left_toe", "right_toe"} <= set(feet):
        raise ValueError(f"{m.source}: heel and toe markers are needed to draw the feet")
    lo, hi = 0, m.n_frames
    if crop_s is not None:
        lo, hi = int(round(crop_s[0] * m.fps)), min(int(round(crop_s[1] * m.fps)), m.n_frames)
    legs = [J[n] for n in ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                           "right_ankle")]
    ok = np.isfinite(xyz[:, legs]).all(axis=(1, 2)) & np.all([np.isfinite(v).all(axis=1) for v in feet.values()],
                                                             axis=0)
    idx = np.flatnonzero(ok[lo:hi]) + lo
    if len(idx) < 10:
        raise ValueError(f"{m.source}: fewer than 10 frames hold the legs and feet")
    a, b = int(idx[0]), int(idx[-1]) + 1
    xyz, feet = _interp_nan(xyz[a:b]), {k: _interp_nan(v[a:b]) for k, v in feet.items()}
    height = stature_m(xyz)
    upper_missing = not np.isfinite(xyz[:, [J["thorax"], J["left_wrist"], J["right_wrist"]]]).all(axis=(1, 2)).any()
    xyz = add_upper_body(xyz, height)
    from gaitscope.io.mocap.world import fill_head

    xyz = _interp_nan(fill_head(xyz))
    floor = min(np.nanmin(v[:, 2]) for v in feet.values())
    xyz[..., 2] -= floor
    feet = {k: v - np.array([0.0, 0.0, floor]) for k, v in feet.items()}
    # resample to the video rate
    t_src = np.arange(len(xyz)) / m.fps
    n = max(2, int(np.floor(t_src[-1] * fps)) + 1)
    t_dst = np.arange(n) / fps

    def rs(arr: np.ndarray) -> np.ndarray:
        flat = arr.reshape(len(arr), -1)
        return np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], 1).reshape(
            (n,) + arr.shape[1:])

    xyz = rs(xyz)
    feet = {k: rs(v) for k, v in feet.items()}
    travel = xyz[-1, J["pelvis"], :2] - xyz[0, J["pelvis"], :2]
    heading = float(np.degrees(np.arctan2(travel[1], travel[0])))
    motion = Motion3D(xyz, float(fps), (0.0, 0.0, 1.0), False, "motion capture", m.source, feet=feet)
    params = WalkParams(fps=float(fps), duration_s=n / fps, height_m=height, heading_deg=heading)
    nan = float("nan")
    truth = GaitTruth((), nan, nan, {}, {}, {}, {}, {}, nan, nan, {}, {})
    return RealWalk(SyntheticWalk(params, motion, truth), a / m.fps, height, girth_scale(xyz, height),
                    upper_missing)


# ---------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------


def case_camera(case: VideoCase, walk, rng: np.random.Generator):
    """The camera (a :class:`~gaitscope.synthetic.camera.CameraTrack`) of ``case``: yaw within the view's
    range, height 0.8-1.3 m, horizontal field of view 45-65 deg, 1280x720 or 960x540."""
    from gaitscope.synthetic.camera import CameraTrack, tracking_view, view_from_angle

    lo, hi = VIEW_YAW[case.view]
    yaw = float(rng.uniform(lo, hi))
    if case.from_right and case.view in ("side", "oblique"):
        yaw = 180.0 - yaw
    size = [(1280, 720), (960, 540)][int(rng.integers(2))]
    kw = dict(width=size[0], height=size[1], hfov_deg=float(rng.uniform(45.0, 65.0)),
              camera_height_m=float(rng.uniform(0.8, 1.3)))
    n = walk.motion.n_frames
    if case.camera == "panning":
        return tracking_view(walk, yaw, follow=float(rng.uniform(0.6, 1.0)), **kw), yaw
    return CameraTrack.static(view_from_angle(walk, yaw, **kw), n), yaw


def render_case(case: VideoCase, mocap_dir: str | Path = DEFAULT_MOCAP_DIR, cache_dir: str | Path = CACHE_DIR,
                *, max_s: float | None = None) -> tuple[Path, dict]:
    """Render ``case`` (or reuse the cached video) and return ``(video path, metadata)``.

    The metadata (JSON beside the video) holds ``t0_s`` (recording time of frame 0: the clocks' offset),
    the stature, girth, view angle and camera. Raises :class:`TrainingTrialError` for a training trial."""
    from gaitscope.io.mocap import load_motion

    refuse_training_trial(case.trial)
    cache = Path(cache_dir)
    key = case.key if max_s is None else f"{case.key}-{max_s:g}s"
    video, meta_path = cache / f"{key}.mp4", cache / f"{key}.json"
    if video.exists() and meta_path.exists():
        return video, json.loads(meta_path.read_text())
    trial = load_motion(Path(mocap_dir) / case.trial, events_from="none", grf=False, ik=False)
    crop = case.crop_s
    if max_s is not None:
        start = crop[0] if crop else 0.0
        crop = (start, min(crop[1], start + max_s) if crop else start + max_s)
    rw = real_walk(trial.motion, case.fps, crop)
    track, yaw, codec, (gain, bias) = render_video(case, rw, video)  # creates the cache folder
    meta = {"case": asdict(case), "name": case.name, "key": key, "renderer": RENDERER_VERSION,
            "t0_s": rw.t0_s, "n_frames": rw.walk.motion.n_frames, "height_m": rw.height_m, "girth": rw.girth,
            "upper_body_added": rw.upper_body_added, "yaw_deg": yaw, "view_deg": _view_deg(yaw),
            "camera_static": bool(track.is_static), "size": [track.width, track.height], "codec": codec,
            "light": [gain, bias], "appearance_seed": case.seed}
    meta_path.write_text(json.dumps(meta, indent=1))
    return video, meta


def render_video(case: VideoCase, rw: RealWalk, video: Path):
    """Film ``rw`` with ``case``'s camera and look (all drawn from ``case.seed``) into ``video`` (written to a
    temporary name and moved in whole). Returns ``(camera track, yaw, codec, (gain, bias))``. No trial check:
    callers decide which trials may be rendered (:func:`render_case` only evaluation trials,
    :mod:`gaitscope.training.real_failures` only training trials)."""
    import cv2

    from gaitscope.synthetic.render import available_codec, random_appearance, render_frames

    rng = np.random.default_rng(case.seed)
    track, yaw = case_camera(case, rw.walk, rng)
    app = random_appearance(case.seed)
    gain, bias = float(rng.uniform(0.75, 1.15)), float(rng.uniform(-20.0, 20.0))
    video = Path(video)
    video.parent.mkdir(parents=True, exist_ok=True)
    tmp = video.with_suffix(".part.mp4")
    codec = available_codec()
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), float(case.fps), (track.width, track.height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a {codec!r} writer for {tmp}")
    try:
        for frame in render_frames(rw.walk, track, app, girth=rw.girth):
            writer.write(cv2.convertScaleAbs(frame, alpha=gain, beta=bias))
    finally:
        writer.release()
    tmp.replace(video)
    return track, yaw, codec, (gain, bias)


def _view_deg(yaw: float) -> float:
    """Angle between the walking direction and the optical axis (90 = side, 180 = walking toward the camera,
    0 = walking away) of a camera at ``yaw`` around the walkway (camera.view_from_angle's convention)."""
    return float(np.degrees(np.arccos(-np.sin(np.radians(yaw)))))


def shift_events(events, t0_s: float, fps: float) -> tuple[GaitEvent, ...]:
    """Events of the recording on the video clock (time - ``t0_s``)."""
    return tuple(GaitEvent(e.side, e.kind, int(round((e.time_s - t0_s) * fps)), e.time_s - t0_s, e.quality)
                 for e in events)


__all__ = [
    "CACHE_DIR",
    "EVAL_MOCAP",
    "RENDERER_VERSION",
    "RealWalk",
    "VideoCase",
    "add_upper_body",
    "default_cases",
    "real_walk",
    "render_case",
    "render_video",
    "stature_m",
]
