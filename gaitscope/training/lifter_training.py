"""The recipe that trains the lifter bundled with gaitscope (``gaitscope train-lifter``).

Why our own weights: the official MotionBERT checkpoints were trained on Human3.6M and AMASS, whose terms are
research-only (``../shared/notes/motionbert.md``), and a fresh install must lift to 3D without a download. So we
train the DSTformer (Zhu et al., ICCV 2023) "small" configuration on motion we may ship a model of:

* **synthetic walks** from :func:`gaitscope.synthetic.walker.simulate_walk` over the full range of its knobs
  (height 1.45-2.00 m, leg proportions, cadence, step length, stance, step width, asymmetry, Parkinsonian
  shuffle / festination / stoop / reduced knee and arm range, variability), at 25-60 fps;
* **real walking from motion capture** (``../shared/data/mocap`` when present, CC BY 4.0 / CMU terms, converted
  with :func:`gaitscope.io.mocap.load_motion`): Horst et al. 2019 overground trials, OpenCap lab walks, CMU
  subject 131. Lower-body-only marker sets (BMC lab ``walk*.trc``, Camargo circuit) are **skipped**: inventing a
  whole upper body would teach the model our guess. Trials that lack only the head markers (OpenCap) get nose
  and head-top placed from the thorax along the trunk axis with Winter's (2009) proportions, as the
  Parkinson's benchmark of Adeli et al. (2024) does with fixed offsets. Trials listed in :data:`HELDOUT_MOCAP`
  are never trained on (evaluation, :mod:`gaitscope.training.lifter_eval`).

Each training item is a clip seen by a random **perspective** camera (yaw all round the walker with extra weight
on side views, height 0.5-1.7 m, horizontal field of view 40-75 deg, distance from "just fits" to 2.5 m further,
static or sliding along the walkway like a tracking shot, landscape or portrait frames), with **measured**
BlazePose noise (:mod:`gaitscope.training.noise_model`: bias, correlated spread, dropouts, limb swaps,
confidences; the spread scaled by a random factor because real videos are harder than rendered ones; limb joints
on the side facing away from the camera dropped in long runs and given the low visibilities BlazePose gives them
in that view, frame by frame from the camera's angle to the body) and MotionBERT-style masking (random joints
and frames zeroed). The view-dependent occlusion was the largest single gain on rendered video: the first
model, trained with per-frame dropouts only, had never seen a far elbow missing for a whole second, nor learnt
that a low visibility says which side faces away (see MODEL_CARD.md). The 2D is normalised exactly as
:class:`gaitscope.models.inference.Lifter` does at run time, with the bounding box taken over a random stretch
of surrounding frames (up to the whole trial), because at run time the box spans the whole video, not the clip.
Targets follow MotionBERT's convention (``gaitscope.models.datasets``): clean 2D in the same units plus
root-relative depth scaled like the image plane.

Size (measured on the shared 2-core CPU, see MODEL_CARD.md): the "small" configuration's layout with the token
width halved to 64 and 3 dual-stream block pairs (``small-d64x3``, 0.44 M parameters), and a temporal window
(``maxlen``) of 9 frames, the training clip length. A step of 16 x 9-frame clips then takes about one second, so the
1500-step recipe fits in well under an hour; "small" itself (128 x 4) or 27-frame clips cost 3-4x more per step and
did not get past predicting a clip-constant pose within the hour. A temporal embedding longer than the training
clips would be random at run time, so ``maxlen`` is the clip length; the Lifter reads it from the checkpoint and
slides (and cross-fades) its window accordingly.

Three stages (MODEL_CARD.md gives the commands and wall times): the first trains from scratch with per-frame
dropouts only (``--no-view-occlusion``, the first bundled model); the second fine-tunes it (``--init-from``)
with the view-dependent occlusion at half the learning rate; the third fine-tunes that with 30 % of the cameras
near frontal and rear views (``--frontal-share``) and BlazePose's measured shrinkage of the feet's left-right
separation (the noise file's ``pair_gain``), because walking toward or away from the camera the step is depth. ``init_from`` accepts a checkpoint with another
``maxlen``: its temporal embedding is resampled (:func:`resize_temporal_embedding`).

Loss: MotionBERT's (MPJPE + 0.5 N-MPJPE + velocity term) with the velocity weight lowered from 20 to 1: in a short
run the large weight rewards a temporally constant output, which is what the first runs converged to.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from gaitscope.errors import InvalidInputError
from gaitscope.models.configs import DSTformerConfig, get_config
from gaitscope.records import Motion3D
from gaitscope.skeleton import J
from gaitscope.training.lifter_data import (
    DEFAULT_MOCAP_DIR,
    load_mocap_motions,
    resample_motion,
    sample_camera_path,
    synthetic_motions,
)
from gaitscope.training.mocap_trials import (
    HELDOUT_MOCAP,
    TRAIN_MOCAP,
)
from gaitscope.training.noise_model import NOISE_JSON, NoiseModel, approach_deg, facing_left_deg

WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "models" / "weights" / "lifter_small.pt"
MODEL_VERSION_PREFIX = "gaitscope-small"

#: Skipped: no upper body (see the module docstring).
SKIPPED_MOCAP = ("bmclab/data/walk*.trc (lower body only)", "camargo2021_circuit (lower body only)",
                 "bmclab/data/Gait.c3d (many gaps)")

_LEG = (J["right_hip"], J["right_knee"], J["right_ankle"], J["left_hip"], J["left_knee"], J["left_ankle"])


# ---------------------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Run-time 2D degradation on top of the measured noise (MotionBERT: joint 0.05, frame 0.10)."""

    noise_scale: tuple[float, float] = (0.7, 2.0)
    joint_mask_p: float = 0.05
    frame_mask_p: float = 0.05
    flip_p: float = 0.5
    max_context_s: float = 8.0
    view_occlusion: bool = True  # drop and down-weight far-side limb joints as BlazePose does in that view
    frontal_p: float = 0.0  # share of cameras near a frontal / rear view (see sample_camera_path)
    pair_gain: bool = True  # shrink limb pairs' left-right separation as measured (when the noise file has it)


class WalkLiftingDataset:
    """``(x2d (F,17,3), y3d (F,17,3))`` pairs from Z-up world motions, random camera + measured noise per item.

    A map-style dataset (``__len__`` + ``__getitem__``), usable by ``torch.utils.data.DataLoader`` and
    :func:`gaitscope.models.training.train`; torch is imported only when items are made, so ``gaitscope --help``
    stays fast.

    Deterministic per ``(seed, epoch, index)`` like :class:`gaitscope.models.datasets.Motion3DClipDataset`, so the
    training loop's resume replays the same data. ``weights`` repeat motions (real mocap is oversampled).
    """

    def __init__(
        self,
        motions: Sequence[Motion3D],
        noise: NoiseModel | None,
        clip_len: int = 27,
        seed: int = 0,
        augment: Augment = Augment(),
        repeats: Sequence[int] | None = None,
        stride: int | None = None,
    ):
        self.motions = [m for m in motions if m.n_frames >= 2]
        if not self.motions:
            raise ValueError("no motions to train on")
        self.noise = noise
        self.clip_len = int(clip_len)
        self.seed = int(seed)
        self.augment = augment
        self.epoch = 0
        stride = stride or max(1, self.clip_len // 2)
        reps = list(repeats) if repeats is not None else [1] * len(self.motions)
        self.index: list[tuple[int, int]] = []
        for i, m in enumerate(self.motions):
            starts = list(range(0, max(1, m.n_frames - self.clip_len + 1), stride))
            for _ in range(int(reps[i])):
                self.index += [(i, s) for s in starts]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def make_pair(self, xyz: np.ndarray, fps: float, clip_start: int, rng: np.random.Generator,
                  clean: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Camera + noise + normalisation for frames ``clip_start : clip_start + clip_len`` of ``xyz``."""
        from gaitscope.models.preprocess import normalise_array

        n = xyz.shape[0]
        f = min(self.clip_len, n)
        max_ctx = int(max(f, min(n, self.augment.max_context_s * fps)))
        ctx_len = int(rng.integers(f, max_ctx + 1))
        lo = max(0, min(clip_start + f - ctx_len, n - ctx_len))
        hi = min(clip_start, n - ctx_len)
        c0 = int(rng.integers(lo, max(lo, hi) + 1))
        ctx = xyz[c0 : c0 + ctx_len]
        cam = sample_camera_path(ctx, rng, frontal_p=self.augment.frontal_p)
        xy, depth = cam.project(ctx)
        if self.noise is not None and not clean:
            pel = ctx[:, J["pelvis"]]
            vel = np.gradient(pel, axis=0) if len(pel) > 1 else np.zeros_like(pel)
            vel[:, 2] = 0
            unit = vel / np.maximum(np.linalg.norm(vel, axis=-1, keepdims=True), 1e-9)
            ahead, _ = cam.project((pel + 0.3 * unit)[:, None, :])
            fwd_px = ahead[:, 0] - xy[:, J["pelvis"]]
            facing = facing_left_deg(ctx, cam.positions) if self.augment.view_occlusion else None
            approach = approach_deg(ctx, cam.positions) if self.augment.pair_gain else None
            noisy, conf = self.noise.sample(xy, rng, fwd_px, scale=float(rng.uniform(*self.augment.noise_scale)),
                                            fps=fps, facing_left_deg=facing, approach_deg=approach)
        else:
            noisy, conf = xy.copy(), np.ones(xy.shape[:2])
        if not clean:
            conf = conf.copy()
            conf[rng.random(conf.shape) < self.augment.joint_mask_p] = 0.0
            conf[rng.random(conf.shape[0]) < self.augment.frame_mask_p] = 0.0
        x_ctx, norm = normalise_array(noisy, conf, cam.width, cam.height, mode="box")
        s = clip_start - c0
        x = x_ctx[s : s + f]
        y = np.zeros((f, 17, 3))
        y[..., :2] = (xy[s : s + f] - np.asarray(norm.center_px)) / norm.half_size_px
        d = depth[s : s + f]
        y[..., 2] = (d - d[:, :1]) * cam.f / d[:, :1] / norm.half_size_px
        y -= y[:, :1]
        return x.astype(np.float32), y.astype(np.float32)

    def __getitem__(self, i: int):
        import torch

        from gaitscope.models.preprocess import flip_skeleton

        rng = np.random.default_rng([self.seed, self.epoch, i])
        m_i, s = self.index[i]
        m = self.motions[m_i]
        xyz = np.asarray(m.xyz_m, dtype=np.float64)
        if m.n_frames < self.clip_len:  # short trial: stretch by nearest-index resampling (as MotionBERT)
            xyz = xyz[np.round(np.linspace(0, m.n_frames - 1, self.clip_len)).astype(int)]
            s = 0
        x, y = self.make_pair(xyz, m.fps, s, rng)
        if rng.random() < self.augment.flip_p:
            x, y = flip_skeleton(x), flip_skeleton(y)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


# ---------------------------------------------------------------------------------------------------------
# Recipe
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """Everything that defines a training run (stored in the checkpoint's metadata)."""

    steps: int = 1500
    batch_size: int = 16
    clip_len: int = 9
    lr: float = 1e-3
    warmup_steps: int = 50
    n_walks: int = 160
    mocap_fps: tuple[float, ...] = (30.0, 60.0)
    mocap_share: float = 0.25  # target fraction of items from real mocap
    seed: int = 0
    threads: int = 2
    model: str = "small"
    dim_feat: int | None = 64  # "small" is 128 x 4: about 4x the compute of 64 x 3, too slow on 2 shared cores
    depth: int | None = 3
    ckpt_every: int = 25
    velocity_weight: float = 1.0  # MotionBERT uses 20; in a short run that pulls the output toward a constant pose
    view_occlusion: bool = True  # far-side limb joints dropped in runs as measured (False: per-frame dropouts only)
    frontal_p: float = 0.0  # share of clips seen from near frontal / rear (stage 3: 0.3; stages 1-2: 0)
    pair_gain: bool = True  # BlazePose's shrunk left-right limb separation (noise files with ``pair_gain`` only)
    real_failure_share: float = 0.0  # share of items from BlazePose's detections of rendered training trials
    real_failure_views: tuple[str, ...] = ("side", "oblique")
    real_failure_trials: tuple[str, ...] = ()  # training trials rendered for them (empty: all of TRAIN_MOCAP)
    # MotionBERT-style masking of the 2D input (Zhu et al., ICCV 2023, Sec. 3.2): share of joints and of whole
    # frames zeroed per clip. The shipped recipe uses 0.05 / 0.05; the session-7 encoder pretraining 0.15 / 0.15
    joint_mask_p: float = 0.05
    frame_mask_p: float = 0.05
    # weight of the feet's separation term (models.losses.feet_separation_loss); 0 = the published objective
    feet_weight: float = 0.0

    def model_config(self) -> DSTformerConfig:
        cfg = replace(get_config(self.model), maxlen=self.clip_len)
        if self.dim_feat is not None:
            cfg = replace(cfg, dim_feat=self.dim_feat)
        if self.depth is not None:
            cfg = replace(cfg, depth=self.depth)
        if (cfg.dim_feat, cfg.depth) != (get_config(self.model).dim_feat, get_config(self.model).depth):
            cfg = replace(cfg, name=f"{self.model}-d{cfg.dim_feat}x{cfg.depth}")
        return cfg


def resize_temporal_embedding(state: dict, maxlen: int) -> dict:
    """A state dict whose temporal embedding is linearly resampled to ``maxlen`` frames (fine-tuning a model
    trained on shorter or longer clips). The embedding is smooth in time after training, so stretching it gives
    a far better start than a random one; the fine-tuning then adapts it."""
    import torch

    te = state.get("temp_embed")
    if te is None or te.shape[1] == maxlen:
        return state
    out = dict(state)
    x = te[0, :, 0, :].T[None]  # (1, C, T)
    y = torch.nn.functional.interpolate(x, size=maxlen, mode="linear", align_corners=True)
    out["temp_embed"] = y[0].T[None, :, None, :].contiguous()
    return out


def build_dataset(recipe: Recipe, mocap_dir: str | Path | None = DEFAULT_MOCAP_DIR,
                  noise_json: str | Path = NOISE_JSON, log=print) -> tuple[WalkLiftingDataset, dict]:
    """The training dataset and a JSON-able description of what went into it."""
    t0 = time.perf_counter()
    walks = synthetic_motions(recipe.n_walks, seed=recipe.seed + 1, log=log)
    log(f"data: {len(walks)} synthetic walks ({time.perf_counter() - t0:.0f} s)")
    mocap = load_mocap_motions(mocap_dir, TRAIN_MOCAP, log=log) if mocap_dir else {}
    real = [resample_motion(m, fps) for m in mocap.values() for fps in recipe.mocap_fps]
    log(f"data: {len(mocap)} mocap trials -> {len(real)} resampled sequences ({time.perf_counter() - t0:.0f} s)")
    noise = NoiseModel.from_json(noise_json)
    syn_frames = sum(m.n_frames for m in walks)
    real_frames = sum(m.n_frames for m in real)
    rep = 1
    if real_frames and recipe.mocap_share > 0:
        rep = max(1, int(round(recipe.mocap_share / (1 - recipe.mocap_share) * syn_frames / real_frames)))
    ds = WalkLiftingDataset(walks + real, noise, recipe.clip_len, seed=recipe.seed,
                            augment=Augment(view_occlusion=recipe.view_occlusion, frontal_p=recipe.frontal_p,
                                            pair_gain=recipe.pair_gain, joint_mask_p=recipe.joint_mask_p,
                                            frame_mask_p=recipe.frame_mask_p),
                            repeats=[1] * len(walks) + [rep] * len(real))
    if recipe.real_failure_share > 0:
        from gaitscope.training.real_failures import DetectedClips, MixedDataset, build_pairs, describe, training_cases

        if not mocap_dir:
            raise ValueError("real_failure_share needs the motion-capture folder (training trials to render)")
        pairs = build_pairs(training_cases(views=recipe.real_failure_views,
                                           trials=recipe.real_failure_trials or TRAIN_MOCAP), mocap_dir,
                            log=lambda m: None)
        log(f"data: {len(pairs)} rendered training cases detected by BlazePose "
            f"({sum(len(p.x) for p in pairs)} frames, {time.perf_counter() - t0:.0f} s)")
        mixed = MixedDataset(ds, DetectedClips(pairs, recipe.clip_len, seed=recipe.seed),
                             recipe.real_failure_share, seed=recipe.seed)
    desc = {
        "synthetic": f"{len(walks)} gaitscope walker walks (seeds from stream {recipe.seed + 1}), "
                     f"{syn_frames} frames, parameters over the walker's full range",
        "mocap_trials": sorted(mocap),
        "mocap_frames": real_frames,
        "mocap_repeat": rep,
        "mocap_skipped": list(SKIPPED_MOCAP),
        "mocap_heldout": list(HELDOUT_MOCAP),
        "noise_model": str(Path(noise_json).name),
        "items_per_epoch": len(ds),
        "cameras": f"random perspective: {recipe.frontal_p:.0%} near frontal/rear views (yaw 90/-90 deg, sd 12), "
                   f"{0.5 * (1 - recipe.frontal_p):.0%} near side views, the rest uniform all round; height "
                   "0.5-1.7 m, hfov 40-75 deg, 35 % sliding (tracking) cameras, landscape/portrait frames",
    }
    if recipe.real_failure_share > 0:
        desc["real_failures"] = {**describe(pairs), "share": recipe.real_failure_share,
                                 "views": list(recipe.real_failure_views)}
        return mixed, desc
    return ds, desc


def train_lifter(
    out_dir: str | Path,
    recipe: Recipe = Recipe(),
    mocap_dir: str | Path | None = DEFAULT_MOCAP_DIR,
    noise_json: str | Path = NOISE_JSON,
    export_to: str | Path | None = None,
    init_from: str | Path | None = None,
    evaluate: bool = True,
    log=print,
    device: str = "cpu",
    workers: int = 0,
) -> Path:
    """Run the recipe; returns the exported checkpoint (``out_dir/model.pt``, copied to ``export_to`` if given).

    Resumes from ``out_dir/last.pt`` when present (same recipe). ``init_from`` starts from another checkpoint's
    weights (fine-tuning a previous run). With ``evaluate`` the held-out metrics are written into the metadata.
    ``device``: ``cpu`` (the default, every recipe so far), ``cuda`` (bf16 autocast, as
    :func:`gaitscope.models.training.train` does on a GPU) or ``auto`` (CUDA when present). The checkpoint is
    the same either way and loads on the CPU; the device is recorded in the metadata. ``workers``: processes
    that cut and augment the clips (about 10 ms a 27-frame item on one core, which would leave a GPU waiting);
    every item depends only on (seed, epoch, index), so the run is the same with any number of them.
    """
    import torch

    from gaitscope.models.checkpoints import load_checkpoint, save_checkpoint
    from gaitscope.models.dstformer import DSTformer
    from gaitscope.models.losses import LossWeights
    from gaitscope.models.training import Pose3DObjective, TrainConfig, train

    device = training_device(device)
    torch.set_num_threads(recipe.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds, desc = build_dataset(recipe, mocap_dir, noise_json, log=log)
    cfg = recipe.model_config()
    torch.manual_seed(recipe.seed)
    model = DSTformer(**cfg.model_kwargs())
    if init_from:
        loaded = load_checkpoint(init_from)
        model.load_state_dict(resize_temporal_embedding(loaded.model.state_dict(), cfg.maxlen))
        desc["initialised_from"] = str(loaded.metadata.get("model_version", init_from))
    tcfg = TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr,
                       warmup_steps=recipe.warmup_steps, min_lr_ratio=0.05, ckpt_every=recipe.ckpt_every,
                       seed=recipe.seed, progress=False, num_workers=int(workers))
    version = f"{MODEL_VERSION_PREFIX}-{time.strftime('%Y%m%d', time.gmtime())}-s{recipe.steps}"
    if init_from:  # a fine-tune: steps of the starting model + this run's
        import re

        chain = re.search(r"-s(\d+(?:\+\d+)*)", str(loaded.metadata.get("model_version", "")))
        prev = chain.group(1) if chain else str(int(loaded.metadata.get("recipe", {}).get("steps", 0)))
        version = f"{MODEL_VERSION_PREFIX}-{time.strftime('%Y%m%d', time.gmtime())}-s{prev}+{recipe.steps}"
        if recipe.view_occlusion:
            version += "-occ"
        if recipe.frontal_p > 0:
            version += f"-front{int(round(100 * recipe.frontal_p))}"
        if recipe.real_failure_share > 0:
            version += f"-det{int(round(100 * recipe.real_failure_share))}"
        if (recipe.joint_mask_p, recipe.frame_mask_p) != (Recipe.joint_mask_p, Recipe.frame_mask_p):
            version += f"-mask{int(round(100 * recipe.joint_mask_p))}x{int(round(100 * recipe.frame_mask_p))}"
        if recipe.clip_len != Recipe.clip_len:
            version += f"-T{recipe.clip_len}"
        if recipe.feet_weight:
            version += f"-feet{recipe.feet_weight:g}"
    meta = {
        "model_version": version,
        "training_data": desc,
        "recipe": asdict(recipe),
        "licence": "gaitscope project licence (our own weights; trained only on our synthetic walker and on "
                   "CC BY 4.0 / CMU motion capture; no Human3.6M/AMASS data or MotionBERT weights)",
        "input": "BlazePose-derived H36M-17 2D, 'box' normalisation over the whole video (Lifter default)",
        "output": "root-relative 2.5D in normalised image units (x right, y down, z away); Lifter scales to metres",
    }
    t0 = time.perf_counter()
    log(f"train: {len(ds)} items per epoch, config {cfg.name} dim {cfg.dim_feat} depth {cfg.depth} "
        f"maxlen {cfg.maxlen}, {recipe.steps} steps of {recipe.batch_size}")
    objective = Pose3DObjective(LossWeights(velocity=recipe.velocity_weight, feet=recipe.feet_weight))
    meta["trained_on"] = device
    res = train(model, ds, objective, tcfg, out, device=device, metadata=meta, export_config=cfg)
    seconds = time.perf_counter() - t0
    log(f"train: done {res.step} steps, last loss {res.last_loss:.4f}, {seconds / 60:.1f} min")
    ckpt = out / "model.pt"
    loaded = load_checkpoint(ckpt)
    meta = dict(loaded.metadata)
    meta.setdefault("training", {})["wall_time_min_this_call"] = round(seconds / 60, 1)
    if evaluate:
        from gaitscope.training.lifter_eval import quick_metrics

        meta["metrics"] = quick_metrics(ckpt, mocap_dir=mocap_dir, noise_json=noise_json, log=log)
    save_checkpoint(ckpt, loaded.model, loaded.config, meta)
    if export_to:
        Path(export_to).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(str(export_to) + ".tmp")
        shutil.copyfile(ckpt, tmp)
        os.replace(tmp, export_to)
        log(f"exported {export_to} ({Path(export_to).stat().st_size / 1e6:.1f} MB)")
    return ckpt


def training_device(device: str) -> str:
    """``cpu`` or ``cuda`` for ``device`` (``cpu``, ``cuda``, ``auto``); asking for CUDA where there is none is an
    input error with what to do, not a traceback from deep inside torch."""
    import torch

    from gaitscope.models.inference import pick_device

    if device not in ("cpu", "cuda", "auto"):
        raise InvalidInputError(f"unknown training device {device!r}", "Use cpu, cuda or auto.")
    if device == "auto":
        return pick_device(None).type
    if device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda was asked for, but torch sees no CUDA GPU on this machine.",
                                "Train with --device cpu (or auto), or run on a machine with a GPU.")
    return device


def export_run(run_dir: str | Path, dest: str | Path = WEIGHTS_PATH, evaluate: bool = True,
               mocap_dir: str | Path | None = DEFAULT_MOCAP_DIR, noise_json: str | Path = NOISE_JSON,
               log=print) -> Path:
    """Write the newest weights of a run (``model.pt``, else the in-progress ``last.pt``) to ``dest``.

    Lets a long run deliver a usable checkpoint before it ends; the metadata records the step reached.
    """
    from gaitscope.models.checkpoints import load_checkpoint, save_checkpoint
    from gaitscope.models.dstformer import DSTformer
    from gaitscope.models.training import load_train_state

    run = Path(run_dir)
    state = load_train_state(run / "last.pt") if (run / "last.pt").exists() else None
    if (run / "model.pt").exists() and (state is None or (run / "model.pt").stat().st_mtime >= (run / "last.pt").stat().st_mtime):
        loaded = load_checkpoint(run / "model.pt")
        model, cfg, meta = loaded.model, loaded.config, dict(loaded.metadata)
    elif state is not None:
        meta = json.loads(state["metadata_json"])
        recipe = Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["recipe"].items()})
        cfg = recipe.model_config()
        model = DSTformer(**cfg.model_kwargs())
        model.load_state_dict(state["model"])
        meta["training"] = {"steps": int(state["step"]), "of_planned": recipe.steps, "note": "exported mid-run"}
        meta["model_version"] = f"{meta['model_version']}-at{int(state['step'])}"
    else:
        raise FileNotFoundError(f"no model.pt or last.pt in {run}")
    if evaluate:
        from gaitscope.training.lifter_eval import quick_metrics

        meta["metrics"] = quick_metrics(model_lifter(model, cfg, meta), mocap_dir=mocap_dir, noise_json=noise_json,
                                        log=log)
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".export.tmp")
    save_checkpoint(tmp, model, cfg, meta)
    os.replace(tmp, dest)
    log(f"exported {dest} ({dest.stat().st_size / 1e6:.2f} MB, {meta['model_version']})")
    return dest


def model_lifter(model, cfg: DSTformerConfig, meta: dict):
    """Wrap a bare model as a CPU :class:`~gaitscope.models.inference.Lifter` (evaluation during export)."""
    import torch

    from gaitscope.models.inference import Lifter

    return Lifter(model, cfg, cfg.name, str(meta.get("model_version", "unversioned")), meta, torch.device("cpu"))
