"""Training pairs from BlazePose's real failures: the lifter's training trials rendered as video of a person,
detected by the product's 2D stage, and paired with the markers' 3D seen by the same camera (issue 20 point 2).

Why: the lifter was trained on projected markers with a measured noise model (bias, jitter, dropouts, swaps,
the far side's low visibility), and on video of real motion its far knee comes out about 15 deg short of the
markers' range. Looking at the detections of rendered real motion showed why: BlazePose seldom swaps the legs
outright (5.7 % of side-view frames) but pulls the far leg toward the near one and gives it confident-looking
scores. Noise drawn independently per joint never shows that failure, so the lifter learnt to trust the 2D of
the far leg. Here the input is what BlazePose really returned on the video, and the target is where the
markers were: the failure and its correction in one pair, as MotionBERT's fine-tuning on detected 2D (Zhu et
al., ICCV 2023, Sec. 4.2: "2D skeletons detected by ... as input") and VideoPose3D's training on detections
(Pavllo et al., CVPR 2019) do.

Only trials in :data:`~gaitscope.training.mocap_trials.TRAIN_MOCAP` are rendered here (an evaluation trial is
refused, the mirror of :func:`~gaitscope.training.mocap_trials.refuse_training_trial`), with the renderer and
camera classes of the video evaluation (:mod:`gaitscope.training.real_motion_video`) but their own seeds, so
the evaluation's held-out trials are never seen, not even as video. Videos and detections are cached in
``runs/lifter_real_failures/`` (git-ignored); the targets are recomputed from the markers and the case's camera,
which the case's seed reproduces exactly.

Targets follow :meth:`gaitscope.training.lifter_training.WalkLiftingDataset.make_pair`: the true 2D in the
detections' own box normalisation (the whole video's box, as the :class:`~gaitscope.models.inference.Lifter`
does at run time) and root-relative depth scaled like the image plane.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from gaitscope.errors import InvalidInputError
from gaitscope.training.mocap_trials import EVAL_MOCAP, TRAIN_MOCAP, _trial_key
from gaitscope.training.real_motion_video import (
    DEFAULT_MOCAP_DIR,
    REPO_ROOT,
    VideoCase,
    case_camera,
    real_walk,
    render_video,
)

CACHE_DIR = REPO_ROOT / "runs" / "lifter_real_failures"
#: Seeds of training cases start here, far from the evaluation's (100 upwards, one per case).
FIRST_SEED = 50_000
_EVAL_KEYS = frozenset(_trial_key(t) for t in EVAL_MOCAP)


class EvaluationTrialError(InvalidInputError):
    """A training-data builder was asked to render a trial the video evaluation measures accuracy on."""


def refuse_evaluation_trial(path: str | Path) -> None:
    """Raise :class:`EvaluationTrialError` when ``path`` is one of :data:`EVAL_MOCAP`."""
    if _trial_key(path) in _EVAL_KEYS:
        raise EvaluationTrialError(f"{path} is an evaluation trial (EVAL_MOCAP); the lifter may not be trained "
                                   "on it, not even as rendered video.", "Train on the trials in TRAIN_MOCAP.")


def training_cases(views: Sequence[str] = ("side", "oblique"), fps: Sequence[float] = (30.0, 60.0),
                   cameras: Sequence[str] = ("fixed", "panning"),
                   trials: Sequence[str] = TRAIN_MOCAP) -> list[VideoCase]:
    """One case per training trial, view class, camera and rate, the camera alternating between the walker's
    left and right; seeds numbered from :data:`FIRST_SEED` over a fixed order, so a case keeps its look (and
    cache key) whatever subset is asked for. A trial outside :data:`TRAIN_MOCAP` is refused (an evaluation trial
    with :class:`EvaluationTrialError`), never silently left out."""
    for t in trials:
        refuse_evaluation_trial(t)
    unknown = sorted(set(trials) - set(TRAIN_MOCAP))
    if unknown:
        raise InvalidInputError(f"not training trials of the lifter: {', '.join(unknown)}",
                                "Name trials as they are written in TRAIN_MOCAP (gaitscope/training/mocap_trials.py).")
    out, seed = [], FIRST_SEED
    for v_i, view in enumerate(("side", "oblique", "frontal", "back")):
        for t_i, trial in enumerate(TRAIN_MOCAP):
            for k, (camera, rate) in enumerate([(c, f) for c in ("fixed", "panning") for f in (30.0, 60.0)]):
                out.append(VideoCase(trial, view, camera, rate, seed, None, from_right=bool((k + t_i + v_i) % 2)))
                seed += 1
    want = {float(f) for f in fps}
    return [c for c in out if c.view in views and c.camera in cameras and c.fps in want and c.trial in trials]


@dataclass(frozen=True)
class DetectedPair:
    """One rendered training case: the model input BlazePose's detections make, and the true target."""

    name: str
    x: np.ndarray  # (T, 17, 3) float32: normalised detected 2D + confidence, as the Lifter feeds the model
    y: np.ndarray  # (T, 17, 3) float32: true 2D in the same normalisation + scaled root-relative depth
    fps: float


def _load(case: VideoCase, mocap_dir: Path):
    from gaitscope.io.mocap import load_motion

    refuse_evaluation_trial(case.trial)
    trial = load_motion(mocap_dir / case.trial, events_from="none", grf=False, ik=False)
    return real_walk(trial.motion, case.fps, case.crop_s)


def detected_pair(case: VideoCase, mocap_dir: str | Path = DEFAULT_MOCAP_DIR,
                  cache_dir: str | Path = CACHE_DIR) -> DetectedPair:
    """Render (cached), detect (cached) and pair ``case`` with its markers' 3D in the case's camera."""
    from gaitscope.pose2d.detect import cached_detection

    mocap_dir, cache = Path(mocap_dir), Path(cache_dir)
    rw = _load(case, mocap_dir)
    video_path = cache / f"{case.key}.mp4"

    def render() -> Path:
        if not video_path.exists():
            render_video(case, rw, video_path)
        return video_path

    kp = cached_detection(render, case.key, cache)
    track, _ = case_camera(case, rw.walk, np.random.default_rng(case.seed))
    x, y = pair_arrays(kp, track, np.asarray(rw.walk.motion.xyz_m, float))
    return DetectedPair(case.name, x, y, case.fps)


def pair_arrays(kp, track, xyz_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Model input from the detections ``kp`` and target from the true joints ``xyz_world`` (T, 17, 3) filmed
    by ``track`` (a :class:`~gaitscope.synthetic.camera.CameraTrack`), rows matched through
    ``kp.frame_index``. The target's 2D is in the detections' normalisation (the box of the whole video), its
    depth root-relative and scaled like the image plane (``z * f / depth_root / half_box``)."""
    from gaitscope.models.preprocess import normalise_keypoints

    rows = np.asarray(kp.frame_index, int)
    xy_true, depth = track.project(xyz_world)[rows], track.depth(xyz_world)[rows]
    x, norm = normalise_keypoints(kp, "box")
    y = np.zeros(xy_true.shape[:2] + (3,))
    y[..., :2] = (xy_true - np.asarray(norm.center_px)) / norm.half_size_px
    y[..., 2] = (depth - depth[:, :1]) * track.base.fx / depth[:, :1] / norm.half_size_px
    y -= y[:, :1]
    return np.asarray(x, np.float32), y.astype(np.float32)


def build_pairs(cases: Sequence[VideoCase], mocap_dir: str | Path = DEFAULT_MOCAP_DIR,
                cache_dir: str | Path = CACHE_DIR, log=print) -> list[DetectedPair]:
    """:func:`detected_pair` of every case that can be rendered (a trial without feet markers or absent from
    the data folder is skipped with a line in the log)."""
    out = []
    for i, case in enumerate(cases):
        try:
            out.append(detected_pair(case, mocap_dir, cache_dir))
        except (FileNotFoundError, ValueError, InvalidInputError) as exc:
            if isinstance(exc, EvaluationTrialError):
                raise
            log(f"real failures: skip {case.name}: {exc}")
            continue
        log(f"real failures: {i + 1}/{len(cases)} {case.name} ({len(out[-1].x)} frames)")
    return out


class DetectedClips:
    """Map-style dataset of ``clip_len``-frame clips of :class:`DetectedPair` items, flipped left/right at random
    (both input and target, as :class:`~gaitscope.training.lifter_training.WalkLiftingDataset` does), with
    MotionBERT-style masking of random joints and frames. Deterministic per ``(seed, epoch, index)``."""

    def __init__(self, pairs: Sequence[DetectedPair], clip_len: int = 9, seed: int = 0, flip_p: float = 0.5,
                 joint_mask_p: float = 0.05, frame_mask_p: float = 0.05, stride: int | None = None):
        self.pairs = [p for p in pairs if len(p.x) >= clip_len]
        if not self.pairs:
            raise ValueError("no detected pairs long enough to cut clips from")
        self.clip_len, self.seed, self.epoch = int(clip_len), int(seed), 0
        self.flip_p, self.joint_mask_p, self.frame_mask_p = flip_p, joint_mask_p, frame_mask_p
        stride = stride or max(1, self.clip_len // 3)
        self.index = [(i, s) for i, p in enumerate(self.pairs) for s in range(0, len(p.x) - self.clip_len + 1, stride)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def item(self, i: int, rng: np.random.Generator):
        import torch

        from gaitscope.models.preprocess import flip_skeleton

        p_i, s = self.index[i % len(self.index)]
        p = self.pairs[p_i]
        x = p.x[s : s + self.clip_len].copy()
        y = p.y[s : s + self.clip_len].copy()
        x[rng.random(x.shape[:2]) < self.joint_mask_p] = 0.0
        x[rng.random(x.shape[0]) < self.frame_mask_p] = 0.0
        if rng.random() < self.flip_p:
            x, y = flip_skeleton(x), flip_skeleton(y)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))

    def __getitem__(self, i: int):
        return self.item(i, np.random.default_rng([self.seed, self.epoch, i, 7]))


class MixedDataset:
    """Items from ``base`` (projected markers + measured noise) and, with probability ``share``, from
    ``detected`` (real detections): the fine-tune keeps what the noise model taught while learning the failures
    only real detections show. Same length and determinism contract as ``base``."""

    def __init__(self, base, detected: DetectedClips, share: float, seed: int = 0):
        self.base, self.detected, self.share, self.seed = base, detected, float(share), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for d in (self.base, self.detected):
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i, 11])
        if rng.random() < self.share:
            return self.detected.item(int(rng.integers(len(self.detected))), rng)
        return self.base[i]


def describe(pairs: Sequence[DetectedPair]) -> dict:
    """JSON-able summary for the checkpoint's metadata."""
    return {"cases": len(pairs), "frames": int(sum(len(p.x) for p in pairs)),
            "names": [p.name for p in pairs]}


__all__ = [
    "CACHE_DIR", "DetectedClips", "DetectedPair", "EvaluationTrialError", "MixedDataset", "build_pairs",
    "describe", "detected_pair", "pair_arrays", "refuse_evaluation_trial", "training_cases",
]


if __name__ == "__main__":  # pragma: no cover - build the cache: python -m gaitscope.training.real_failures
    import sys

    views = sys.argv[1:] or ["side", "oblique"]
    pairs = build_pairs(training_cases(views=views))
    print(json.dumps(describe(pairs))[:400])
