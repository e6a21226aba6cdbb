"""Lifting real 2D keypoint sequences to 3D with a DSTformer, and taking motion embeddings.

:class:`Lifter` wraps a model and its metadata. ``lift`` normalises the keypoints (``preprocess``), runs the model
over overlapping windows with a cross-fade (any length; shorter than a window is one exact pass), optionally
averages with the mirrored input (flip test-time augmentation, as in every MotionBERT pose config), removes the
root and scales to metres.

Output frame of :meth:`Lifter.lift`: camera-like axes inherited from the image, x to the right, y DOWN, z away from
the camera, right-handed; hence ``Motion3D.up = (0, -1, 0)``. Root-relative: the pelvis is at the origin in every
frame (the depth of a monocular lift has no absolute reference; MotionBERT notes section 2.5/2.6).

Metres: the network's units are normalised image units, not a length (MotionBERT issues #9, #21, #28). We scale so
that the subject's stature estimated from the lifted skeleton matches ``height_m`` (else an assumed 1.70 m, said so
in ``scale_source``). Stature comes from the legs, which matter most for gait: the median over frames of
thigh + shank length (mean of both sides; bone lengths do not depend on posture) divided by 0.491, the hip-joint to
ankle-joint share of body height in Winter's anthropometric segment table (thigh 0.245 H + shank 0.246 H; D. A.
Winter, Biomechanics and Motor Control of Human Movement, 4th ed., 2009, Fig. 4.1). Detector hips sit higher than
anatomical hip centres (BlazePose), so metric lengths can be biased by a few percent; relative quantities
(symmetry, angles, timing) are unaffected.

CPU speed on a shared machine: set ``OMP_WAIT_POLICY=PASSIVE`` in the environment of the process BEFORE torch is
imported (e.g. in the job worker's environment). Idle OpenMP threads then sleep instead of spinning; with other busy
processes on the same cores this made the forward pass 2-4x faster in ``benchmarks/dstformer.py``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gaitscope.errors import CheckpointError
from gaitscope.models.anchoring import anchor_to_detections
from gaitscope.models.checkpoints import load_checkpoint
from gaitscope.models.configs import DSTformerConfig, get_config
from gaitscope.models.depth_scale import correct_knee_depth
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.embed import to_motion_embedding
from gaitscope.models.leg_identity import relabel_legs
from gaitscope.models.preprocess import NormMode, flip_skeleton, normalise_keypoints, sliding_window_apply
from gaitscope.models.ray_yaw import ASSUMED_HFOV_DEG, ray_azimuth, turn_to_camera_axes
from gaitscope.records import Keypoints2D, Motion3D, MotionEmbedding
from gaitscope.skeleton import J

#: Hip-joint-to-ankle-joint length as a fraction of stature (Winter 2009: thigh 0.245 + shank 0.246).
LEG_TO_HEIGHT = 0.491
#: Used when the subject's height is unknown; stated in ``Motion3D.scale_source``.
ASSUMED_HEIGHT_M = 1.70
#: Model y axis points down in image convention.
UP_VECTOR = (0.0, -1.0, 0.0)

_LEG_BONES = (
    (J["right_hip"], J["right_knee"]), (J["right_knee"], J["right_ankle"]),
    (J["left_hip"], J["left_knee"]), (J["left_knee"], J["left_ankle"]),
)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(device: torch.device, cpu_bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPUs that support it (fp16 otherwise); full fp32 on CPU unless ``cpu_bf16``.

    ``cpu_bf16`` is opt-in and never the default for clinical numbers: on CPUs with AMX-BF16 (Intel Sapphire Rapids
    and later) it runs the linear layers about 3x faster, at the cost of bf16 rounding (8-bit mantissa) in every
    matrix product; ``benchmarks/dstformer.py --compare-only --bf16`` and the README give its measured error.
    """
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


_MALLOC_TUNED = False


def keep_freed_cpu_memory() -> None:
    """Let glibc keep freed blocks of up to 32 MiB for reuse instead of handing them back to the kernel.

    Why: every DSTformer layer allocates fresh activation tensors of 8-25 MiB (243 frames x 17 joints x 512-1536
    channels). With glibc's defaults many of them are ``mmap``-ed and ``munmap``-ed per call, so each forward
    pays page faults on first touch; a profile shows them as ``aten::copy_`` inside ``addmm`` (the bias broadcast
    is the first write into the new output), about 8 % of a MotionBERT forward, halved with this setting. The
    numbers computed do not change; the process keeps up to its peak heap mapped (peak RSS is unchanged). A no-op
    where glibc is absent (macOS, Windows, musl).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: blocks below 32 MiB come from the reusable heap
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD: keep up to 256 MiB of free heap top
    except (OSError, AttributeError):
        pass


def estimate_height_units(xyz: np.ndarray) -> float:
    """Stature of a lifted skeleton in its own units: median (thigh + shank), both sides averaged, / 0.491."""
    lengths = [np.linalg.norm(xyz[:, a] - xyz[:, b], axis=-1) for a, b in _LEG_BONES]
    leg = 0.5 * (np.median(lengths[0]) + np.median(lengths[1]) + np.median(lengths[2]) + np.median(lengths[3]))
    return float(leg / LEG_TO_HEIGHT)


@dataclass
class Lifter:
    """A DSTformer ready for inference, with its name and version (recorded in every output)."""

    model: DSTformer
    config: DSTformerConfig
    name: str
    version: str
    metadata: dict[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=pick_device)
    norm_mode: NormMode = "box"
    batch_size: int = 8
    #: Opt-in bf16 autocast on CPU (AMX): about 3x faster on MotionBERT, never the default for clinical numbers;
    #: recorded in :attr:`source` so a stored result says it was computed this way.
    cpu_bf16: bool = False
    #: Image-plane x, y from the confident detections, depth from the model (:mod:`gaitscope.models.anchoring`):
    #: measured on video of real motion, the far leg's knee range goes from 13-15 deg short to within 2 deg.
    anchor_2d: bool = True
    #: Knee and ankle labels decided over the whole sequence before lifting (:mod:`gaitscope.models.leg_identity`):
    #: the detector exchanges them for a few frames where the legs cross, and the lifter follows its input.
    leg_identity: bool = True
    #: After anchoring, the knees' depth bend scaled by the depth scale that keeps the limbs at a fixed length
    #: (:mod:`gaitscope.models.depth_scale`): measured on video of real motion, the oblique near knee's range
    #: overshoot goes from +11.0 to +4.7 deg; events, steps and speed unchanged.
    knee_depth: bool = True
    #: Each frame turned from its viewing ray back to the camera's axes (:mod:`gaitscope.models.ray_yaw`): a walker
    #: crossing a fixed camera's view otherwise seems to turn by the change of viewing angle. Opt-in (settings).
    ray_yaw: bool = False

    def __post_init__(self) -> None:
        self.model = self.model.to(self.device).eval()
        if self.device.type == "cpu":
            keep_freed_cpu_memory()

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, trust_checkpoint: bool = False
    ) -> "Lifter":
        """Official MotionBERT file (``model_pos`` / ``model``) or a gaitscope checkpoint."""
        loaded = load_checkpoint(path, trust_checkpoint=trust_checkpoint)
        if loaded.config.dim_out != 3:
            raise CheckpointError(
                f"The checkpoint {path} has a {loaded.config.dim_out}-channel output head, not a 3D pose head.",
                "Use a pretrained or 3D-pose MotionBERT checkpoint for lifting.",
            )
        version = str(loaded.metadata.get("model_version", "unversioned"))
        return cls(loaded.model, loaded.config, loaded.config.name, version, loaded.metadata, pick_device(device))

    @classmethod
    def untrained(cls, config: str | DSTformerConfig = "small", seed: int = 0, device: str | None = None) -> "Lifter":
        """Random initialisation (tests, plumbing). Its 3D output is meaningless: never show it to a clinician."""
        cfg = get_config(config)
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
            torch.manual_seed(seed)
            model = DSTformer(**cfg.model_kwargs())
        meta = {"model_version": f"untrained-seed{seed}", "training_data": "none (random initialisation)"}
        return cls(model, cfg, cfg.name, f"untrained-seed{seed}", meta, pick_device(device))

    @property
    def corrects_knee_depth(self) -> bool:
        """The knee-depth correction needs anchored x, y (its scale is the detections' against the model's depth)."""
        return self.anchor_2d and self.knee_depth

    @property
    def source(self) -> str:
        suffix = "+legid3" if self.leg_identity else ""
        suffix += "+anchor2d" if self.anchor_2d else ""
        suffix += "+kneez" if self.corrects_knee_depth else ""
        suffix += "+rayyaw" if self.ray_yaw else "+viewyaw"
        suffix += "+cpu-bf16" if self.cpu_bf16 and self.device.type == "cpu" else ""
        return f"lifter:{self.name}@{self.version}{suffix}"

    # -- raw model passes ---------------------------------------------------------------------------------------

    def _run(self, x: torch.Tensor, rep: bool) -> torch.Tensor:
        with torch.inference_mode(), autocast_for(self.device, self.cpu_bf16):
            return self.model(x.to(self.device), return_rep=rep).float()

    def predict_normalised(
        self, x: np.ndarray, flip_tta: bool = True, window: int | None = None, stride: int | None = None
    ) -> np.ndarray:
        """``(T, 17, 3)`` normalised input -> ``(T, 17, 3)`` model output (normalised units, not root-relative)."""
        window = min(window or self.config.maxlen, self.config.maxlen)
        stride = stride or max(1, window // 2)

        def fn(batch: torch.Tensor) -> torch.Tensor:
            if not flip_tta:
                return self._run(batch, rep=False)
            both = self._run(torch.cat([batch, flip_skeleton(batch)]), rep=False)
            plain, mirrored = both[: len(batch)], both[len(batch) :]
            return 0.5 * (plain + flip_skeleton(mirrored))

        xt = torch.as_tensor(x, dtype=torch.float32)
        return sliding_window_apply(fn, xt, window, stride, self.batch_size).cpu().numpy()

    def representation(self, x: np.ndarray, window: int | None = None, stride: int | None = None) -> np.ndarray:
        """``(T, 17, 3)`` normalised input -> ``(T, 17, dim_rep)`` motion representation."""
        window = min(window or self.config.maxlen, self.config.maxlen)
        stride = stride or max(1, window // 2)
        xt = torch.as_tensor(x, dtype=torch.float32)
        return sliding_window_apply(lambda b: self._run(b, rep=True), xt, window, stride, self.batch_size).cpu().numpy()

    # -- records in, records out ------------------------------------------------------------------------------

    def lift(
        self,
        kp: Keypoints2D,
        height_m: float | None = None,
        flip_tta: bool = True,
        window: int | None = None,
        stride: int | None = None,
    ) -> Motion3D:
        """3D joints in metres, root-relative, x right / y down / z away from the camera (``up = (0, -1, 0)``)."""
        if height_m is not None and not 0.5 <= height_m <= 2.5:
            raise ValueError(f"height_m must be a body height in metres (0.5-2.5), got {height_m}")
        kp = self._relabelled(kp)
        x, norm = normalise_keypoints(kp, self.norm_mode)
        pred = self.predict_normalised(x, flip_tta=flip_tta, window=window, stride=stride)
        return self._motion(pred, x, kp, norm, height_m, flip_tta)

    def lift_and_embed(
        self, kp: Keypoints2D, height_m: float | None = None, flip_tta: bool = True, keep_per_joint: bool = False
    ) -> tuple[Motion3D, MotionEmbedding]:
        """:meth:`lift` and :meth:`embed` from ONE pass of the backbone per window.

        The pose head reads the very representation the embedding pools, so computing both separately ran the
        encoder twice (a third of the pipeline's time after 2D). Same windows, strides and blending as the two
        methods, hence the same records (to float rounding).
        """
        if height_m is not None and not 0.5 <= height_m <= 2.5:
            raise ValueError(f"height_m must be a body height in metres (0.5-2.5), got {height_m}")
        kp = self._relabelled(kp)
        x, norm = normalise_keypoints(kp, self.norm_mode)
        window = self.config.maxlen
        stride = max(1, window // 2)
        n_out = self.config.dim_out

        n_joints = self.config.num_joints

        def fn(batch: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode(), autocast_for(self.device, self.cpu_bf16):
                both = torch.cat([batch, flip_skeleton(batch)]) if flip_tta else batch
                rep = self.model.get_representation(both.to(self.device))
                pose = self.model.head(rep).float()
                rep = rep[: len(batch)].float()
                if flip_tta:
                    pose = 0.5 * (pose[: len(batch)] + flip_skeleton(pose[len(batch) :]))
                if keep_per_joint:
                    return torch.cat([pose, rep], dim=-1)
                # Flat memory on long videos: the joint mean is taken per window, before blending (both are
                # linear, so the order does not change the result), and the (T, 17, 512) representation of the
                # whole video -- 630 MB for 10 minutes at 30 fps, twice with the blend -- is never built. One row
                # per frame: 17 x 3 pose numbers, then the per-frame embedding.
                b, f = pose.shape[:2]
                return torch.cat([pose.reshape(b, f, 1, -1), rep.mean(dim=2, keepdim=True)], dim=-1)

        xt = torch.as_tensor(x, dtype=torch.float32)
        out = sliding_window_apply(fn, xt, window, stride, self.batch_size).cpu().numpy()
        if keep_per_joint:
            pose, rep = out[..., :n_out], out[..., n_out:]
        else:
            pose, rep = out[:, 0, : n_joints * n_out].reshape(-1, n_joints, n_out), out[:, 0, n_joints * n_out :]
        motion = self._motion(pose, x, kp, norm, height_m, flip_tta)
        embedding = to_motion_embedding(rep, self.name, self.version, keep_per_joint=keep_per_joint)
        return motion, embedding

    def _relabelled(self, kp: Keypoints2D) -> Keypoints2D:
        """``kp`` with the legs' labels decided over the whole sequence when :attr:`leg_identity` is on."""
        return relabel_legs(kp)[0] if self.leg_identity else kp

    def _motion(self, pred: np.ndarray, x: np.ndarray, kp: Keypoints2D, norm, height_m: float | None,
                flip_tta: bool) -> Motion3D:
        """Model output (normalised units) -> root-relative :class:`Motion3D` in metres, scaled by height; ``x`` is
        the model's input (the normalised detections), which anchoring takes the image-plane positions from."""
        pred = pred.astype(np.float64)
        pred = pred - pred[:, :1]
        depth_note: tuple[str, ...] = ()
        if self.anchor_2d:
            pred = anchor_to_detections(pred, x, kp.conf)
        # The metre scale from the legs before the knees' correction: it moves only the knees, and with the scale
        # taken after it every other joint grew by about 1 % (oblique speed +1.1 points, beyond noise).
        h_units = estimate_height_units(pred)
        if self.corrects_knee_depth:  # the lifter's depth of the knee's bend, on the detections' scale
            pred, k = correct_knee_depth(pred, kp.conf)
            depth_note = (f"knees' depth bend scaled by {k:.2f}, the depth scale that keeps thighs, shanks and "
                          "arms at a fixed length",)
        # The azimuth of each frame's viewing ray: the frames are turned by it (opt-in ray_yaw), or the analysis is
        # told it so that a walker crossing the view is not read as turning (view_yaw_rad). Camera y points
        # down, so a turn by +phi about y is one by -phi about UP_VECTOR.
        phi = ray_azimuth(np.where(kp.conf[:, 0] > 0, kp.xy_px[:, 0, 0], np.nan), kp.width)
        if self.ray_yaw:
            pred = turn_to_camera_axes(pred, phi)
        if not h_units > 0:
            raise ValueError("the lifted skeleton has zero leg length; cannot scale to metres")
        target = height_m if height_m is not None else ASSUMED_HEIGHT_M
        xyz_m = pred * (target / h_units)
        how = "subject height" if height_m is not None else "assumed height"
        scale_source = (
            f"{how} {target * 100:.0f} cm (stature = (thigh + shank) / {LEG_TO_HEIGHT}, Winter 2009"
            + (", legs measured before the knees' depth correction)" if self.corrects_knee_depth else ")")
        )
        known = kp.conf > 0
        valid = ~np.asarray(kp.interpolated, dtype=bool) & (known.mean(axis=1) >= 0.5)
        notes = tuple(n for n in kp.notes if n.startswith("leg labels:")) + (
            f"2D normalisation: {norm.mode} (centre {norm.center_px[0]:.1f},{norm.center_px[1]:.1f} px, "
            f"half-size {norm.half_size_px:.1f} px)",
            f"flip TTA: {'on' if flip_tta else 'off'}",
            "image-plane x, y anchored to the confident 2D detections (depth from the model)" if self.anchor_2d
            else "image-plane x, y from the model",
        ) + depth_note + (
            (f"each frame turned from its viewing ray to the camera's axes (horizontal field of view assumed "
             f"{ASSUMED_HFOV_DEG:g} deg)",) if self.ray_yaw else ())
        return Motion3D(
            xyz_m=xyz_m.astype(np.float32),
            fps=kp.fps,
            up=UP_VECTOR,
            root_relative=True,
            scale_source=scale_source,
            scale_height_m=float(target),
            scale_assumed=height_m is None,
            source=self.source,
            valid=valid,
            notes=notes,
            view_yaw_rad=None if self.ray_yaw or not np.isfinite(phi).any() else -phi,
        )

    def embed(
        self, kp: Keypoints2D, keep_per_joint: bool = False, window: int | None = None, stride: int | None = None
    ) -> MotionEmbedding:
        """Motion embedding of a whole sequence: pooled ``(D,)``, per frame ``(T, D)``, optionally ``(T, 17, D)``.

        No flip averaging: the representation is not mirror-equivariant channel by channel, so averaging a
        mirrored pass would mix unrelated features.
        """
        x, _ = normalise_keypoints(kp, self.norm_mode)
        rep = self.representation(x, window=window, stride=stride)
        return to_motion_embedding(rep, self.name, self.version, keep_per_joint=keep_per_joint)
