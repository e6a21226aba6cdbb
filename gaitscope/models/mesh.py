"""Human mesh recovery on the DSTformer representation (MotionBERT section 4.3, Zhu et al., ICCV 2023).

The head regresses SMPL parameters from the motion representation ``(N, T, 17, D)``:

* pose, per frame: the flattened ``17 D`` features -> ``fc1`` -> BatchNorm -> ReLU -> ``head_pose`` (24 joint
  rotations in the continuous 6D form of Zhou et al., CVPR 2019), added to a mean pose ``init_pose``;
* shape, per clip: the features averaged over time -> ``fc2`` -> BatchNorm -> ReLU -> ``head_shape`` (10 betas),
  added to a mean shape ``init_shape`` (one body shape per clip: people do not change shape within seconds);
* the body model (:class:`~gaitscope.models.body_model.BodyModel`) turns them into vertices (x 1000: millimetres,
  as the official head) and Human3.6M-17 joints by the vertex regressor.

Reported on 3DPW (fine-tuned MotionBERT): MPJPE 76.9 mm, MPVE 88.1 mm, PA-MPJPE 47.2 mm.

Names and shapes reproduce the official ``MeshRegressor`` / ``SMPLRegressor`` (``backbone.*``, ``head.fc1``,
``head.init_shape``), so the released ``FT_MB_release_MB_ft_pw3d`` checkpoint loads with
``head.fc2``, ``head.bn1``, ``head.bn2``, ``head.head_pose``, ``head.head_shape``, buffers ``head.init_pose`` /
:func:`load_mesh_checkpoint`. The official file also stores the SMPL model's own arrays under ``head.smpl.*``
(registered by the ``smplx`` package); those are licensed body-model data, are not used (the body model always
comes from the user's own SMPL files) and are reported as skipped.

Losses (:func:`mesh_loss`) follow the released training code (``train_mesh.py``, ``lib/model/loss_mesh.py``,
``configs/mesh/MB_ft_pw3d.yaml``): MPJPE of root-relative joints (weight 0.5), its velocity (10), L1 on the pose
rotation matrices (1000) and on betas (1), and the mean norm of the predicted SMPL parameters (20). An optional
vertex term (MPVPE of the root-relative vertices, weight ``vertices``, default 0 = the official recipe) serves data
with ground-truth meshes. The official pose term converts the predicted axis-angle back to matrices before the L1;
we compare the predicted matrices directly (the same rotations, without the round trip).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gaitscope.errors import CheckpointError
from gaitscope.models.action import load_head_strict, read_task_checkpoint, save_task_checkpoint
from gaitscope.models.alignment import procrustes_align
from gaitscope.models.body_model import NUM_SMPL_JOINTS, BodyModel
from gaitscope.models.checkpoints import (
    LoadReport,
    load_into,
)
from gaitscope.models.configs import DSTformerConfig, get_config
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.losses import mpjpe, velocity_loss
from gaitscope.models.rotations import axis_angle_to_matrix, matrix_to_axis_angle, rot6d_to_matrix

MESH_FORMAT = "gaitscope-mesh"
#: Official pw3d config: hidden width 1024, dropout 0.1.
DEFAULT_HIDDEN = 1024
POSE_6D = NUM_SMPL_JOINTS * 6
NUM_BETAS = 10
MM = 1000.0


def identity_pose_6d() -> torch.Tensor:
    """``(1, 144)``: every joint at the identity rotation (used when no ``smpl_mean_params.npz`` is supplied)."""
    return torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(NUM_SMPL_JOINTS)[None]


class SMPLRegressor(nn.Module):
    """Representation ``(N, T, J, D)`` -> per-frame 6D pose ``(N*T, 144)`` and per-clip betas ``(N, 10)``."""

    def __init__(self, dim_rep: int = 512, num_joints: int = 17, hidden_dim: int = DEFAULT_HIDDEN,
                 dropout: float = 0.1, init_pose: torch.Tensor | np.ndarray | None = None,
                 init_shape: torch.Tensor | np.ndarray | None = None):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(num_joints * dim_rep, hidden_dim)
        self.fc2 = nn.Linear(num_joints * dim_rep, hidden_dim)
        self.bn1 = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.bn2 = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.head_pose = nn.Linear(hidden_dim, POSE_6D)
        self.head_shape = nn.Linear(hidden_dim, NUM_BETAS)
        # small initial corrections: the first predictions stay near the mean body (as HMR/SPIN/MotionBERT)
        nn.init.xavier_uniform_(self.head_pose.weight, gain=0.01)
        nn.init.xavier_uniform_(self.head_shape.weight, gain=0.01)
        pose0 = identity_pose_6d() if init_pose is None else torch.as_tensor(init_pose, dtype=torch.float32)
        shape0 = torch.zeros(1, NUM_BETAS) if init_shape is None else torch.as_tensor(init_shape, dtype=torch.float32)
        pose0, shape0 = pose0.reshape(1, -1), shape0.reshape(1, -1)
        self.register_buffer("init_pose", pose0)
        self.register_buffer("init_shape", shape0)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t = feat.shape[:2]
        flat = feat.reshape(n, t, -1)
        pose_feat = self.relu1(self.bn1(self.fc1(self.dropout(flat.reshape(n * t, -1)))))
        shape_feat = self.relu2(self.bn2(self.fc2(self.dropout(flat.mean(dim=1)))))
        pose6d = self.head_pose(pose_feat) + self.init_pose
        betas = self.head_shape(shape_feat) + self.init_shape
        return pose6d, betas


@dataclass(frozen=True)
class MeshOutput:
    """Mesh recovery result; lengths in millimetres (body-model metres x 1000)."""

    theta: torch.Tensor  # (N, T, 82): axis-angle pose (72) + betas (10)
    rotmat: torch.Tensor  # (N, T, 24, 3, 3)
    betas: torch.Tensor  # (N, T, 10)
    verts: torch.Tensor  # (N, T, V, 3) mm
    kp_3d: torch.Tensor  # (N, T, 17, 3) mm, H36M-17 from the vertex regressor


class MeshRegressor(nn.Module):
    """DSTformer backbone + :class:`SMPLRegressor` + a body model; ``forward(x (N, T, 17, 3))`` -> :class:`MeshOutput`.

    The body model is a submodule without persistent buffers, so ``state_dict()`` holds only ``backbone.*`` and
    ``head.*`` (never licensed SMPL data).
    """

    def __init__(self, backbone: DSTformer, head: SMPLRegressor, body_model: BodyModel):
        super().__init__()
        if body_model.J_regressor_h36m is None:
            raise CheckpointError(
                "The body model has no Human3.6M joint regressor, which the mesh head needs for its joints.",
                "Put J_regressor_h36m_correct.npy (from the SPIN data bundle) next to the SMPL model file.",
            )
        self.backbone = backbone
        self.head = head
        self.body_model = body_model

    @classmethod
    def build(cls, config: str | DSTformerConfig, body_model: BodyModel, hidden_dim: int = DEFAULT_HIDDEN,
              dropout: float = 0.1, mean_params: tuple[np.ndarray, np.ndarray] | None = None) -> MeshRegressor:
        cfg = get_config(config)
        init_pose, init_shape = mean_params if mean_params is not None else (None, None)
        head = SMPLRegressor(cfg.dim_rep, cfg.num_joints, hidden_dim, dropout, init_pose, init_shape)
        return cls(DSTformer(**cfg.model_kwargs()), head, body_model)

    def forward(self, x: torch.Tensor) -> MeshOutput:
        n, t = x.shape[:2]
        feat = self.backbone.get_representation(x)
        pose6d, betas = self.head(feat)
        rotmat = rot6d_to_matrix(pose6d.reshape(n * t, NUM_SMPL_JOINTS, 6))
        betas_t = betas[:, None].expand(n, t, betas.shape[-1]).reshape(n * t, -1)
        body = self.body_model(rotmat, betas_t)
        verts = body.vertices * MM
        assert body.joints_h36m is not None
        joints = body.joints_h36m * MM
        aa = matrix_to_axis_angle(rotmat).reshape(n * t, -1)
        theta = torch.cat([aa, betas_t], dim=-1)
        return MeshOutput(
            theta=theta.reshape(n, t, -1), rotmat=rotmat.reshape(n, t, NUM_SMPL_JOINTS, 3, 3),
            betas=betas_t.reshape(n, t, -1), verts=verts.reshape(n, t, -1, 3), kp_3d=joints.reshape(n, t, -1, 3),
        )


# ---------------------------------------------------------------------------------------------------------
# Losses and metrics
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeshLossWeights:
    """Defaults: the released 3DPW fine-tuning recipe (configs/mesh/MB_ft_pw3d.yaml), plus an optional vertex term."""

    joints: float = 0.5
    velocity: float = 10.0
    pose: float = 1000.0
    shape: float = 1.0
    norm: float = 20.0
    vertices: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def mesh_loss(pred: MeshOutput, target: Mapping[str, torch.Tensor],
              weights: MeshLossWeights = MeshLossWeights()) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the mesh terms; ``target``: ``theta (N, T, 82)``, ``kp_3d (N, T, 17, 3)`` mm, optional
    ``verts (N, T, V, 3)`` mm. Joints and vertices are compared root-relative (pelvis = H36M joint 0)."""
    root_p = pred.kp_3d[:, :, :1]
    root_t = target["kp_3d"][:, :, :1]
    pj, tj = pred.kp_3d - root_p, target["kp_3d"] - root_t
    terms: dict[str, torch.Tensor] = {"joints": mpjpe(pj, tj), "velocity": velocity_loss(pj, tj)}
    gt_theta = target["theta"].reshape(-1, target["theta"].shape[-1])
    gt_rot = axis_angle_to_matrix(gt_theta[:, :72].reshape(-1, NUM_SMPL_JOINTS, 3))
    terms["pose"] = F.l1_loss(pred.rotmat.reshape(gt_rot.shape), gt_rot)
    terms["shape"] = F.l1_loss(pred.betas.reshape(-1, pred.betas.shape[-1]), gt_theta[:, 72:])
    terms["norm"] = torch.linalg.vector_norm(pred.theta, dim=-1).mean()
    if weights.vertices and "verts" in target:
        terms["vertices"] = mpjpe(pred.verts - root_p, target["verts"] - root_t)
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    return total, {k: float(v.detach()) for k, v in terms.items()}  # type: ignore[return-value]


@dataclass
class MeshObjective:
    """Training-loop objective on ``(x2d, target dict)`` batches (see :func:`gaitscope.models.training.train`)."""

    weights: MeshLossWeights = MeshLossWeights()

    def __call__(self, model: nn.Module, batch: Any, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch[0].to(device)
        target = {k: v.to(device) for k, v in batch[1].items()}
        return mesh_loss(model(x), target, self.weights)


def mesh_metrics(pred: MeshOutput, target: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, float]:
    """MPJPE, PA-MPJPE (joints) and MPVPE (vertices, when the target has them), all root-relative, in mm."""
    pj = pred.kp_3d.detach().cpu().numpy().reshape(-1, pred.kp_3d.shape[-2], 3)
    tj = np.asarray(target["kp_3d"], dtype=np.float64).reshape(pj.shape)
    rp, rt = pj[:, :1], tj[:, :1]
    out = {"mpjpe_mm": float(np.linalg.norm((pj - rp) - (tj - rt), axis=-1).mean()),
           "pa_mpjpe_mm": float(np.linalg.norm(procrustes_align(pj, tj) - tj, axis=-1).mean())}
    if "verts" in target:
        pv = pred.verts.detach().cpu().numpy().reshape(pj.shape[0], -1, 3)
        tv = np.asarray(target["verts"], dtype=np.float64).reshape(pv.shape)
        out["mpvpe_mm"] = float(np.linalg.norm((pv - rp) - (tv - rt), axis=-1).mean())
    return out


# ---------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------


@dataclass
class LoadedMesh:
    model: MeshRegressor
    config: DSTformerConfig
    metadata: dict[str, Any]
    report: LoadReport


def load_mesh_checkpoint(path: str | Path, body_model: BodyModel, config: str | DSTformerConfig | None = None,
                         trust_checkpoint: bool = False) -> LoadedMesh:
    """A :class:`MeshRegressor` from the official 3DPW/H36M mesh checkpoint or one saved by
    :func:`save_mesh_checkpoint`; backbone and head strict (a wrong shape is a :class:`CheckpointError` naming
    the key), ``head.smpl.*`` body-model arrays skipped and reported."""
    ck = read_task_checkpoint(path, MESH_FORMAT, config, trust_checkpoint, "a mesh head",
                              "Use it as the encoder of a new mesh model instead.")
    backbone_sd, head_sd, cfg, meta = ck.backbone_state, ck.head_state, ck.config, ck.metadata
    container, info = ck.container, ck.info
    if "head.fc1.weight" not in head_sd or "head.head_pose.weight" not in head_sd:
        raise CheckpointError(
            "The checkpoint has no mesh head (no 'head.fc1.weight' / 'head.head_pose.weight').",
            "Use a mesh checkpoint such as FT_MB_release_MB_ft_pw3d/best_epoch.bin.",
        )
    skipped_smpl = [(k, "SMPL body-model data in the checkpoint; the user's SMPL files are used instead")
                    for k in head_sd if k.startswith("head.smpl.")]
    head_sd = {k: v for k, v in head_sd.items() if not k.startswith("head.smpl.")}
    hidden = int(head_sd["head.fc1.weight"].shape[0])
    model = MeshRegressor.build(cfg, body_model, hidden_dim=hidden)
    n_bb, skipped = load_into(model.backbone, backbone_sd)
    n_head = load_head_strict(model, "head.", head_sd)
    report = LoadReport(str(path), container, n_bb + n_head, tuple(skipped) + tuple(skipped_smpl), info)
    meta.setdefault("model_version", f"official:{Path(path).parent.name or Path(path).stem}")
    return LoadedMesh(model.eval(), cfg, meta, report)


def save_mesh_checkpoint(path: str | Path, model: MeshRegressor, config: DSTformerConfig,
                         metadata: Mapping[str, Any] | None = None) -> Path:
    """Backbone + head weights and metadata (never the body model's arrays)."""
    return save_task_checkpoint(path, model, config, MESH_FORMAT, metadata)


# ---------------------------------------------------------------------------------------------------------
# Inference on a recording
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeshSequence:
    """A recovered mesh per frame of a recording (millimetres, the model's camera-like frame: x right, y down)."""

    vertices: np.ndarray  # (T, V, 3) float32, root-relative
    joints: np.ndarray  # (T, 17, 3) float32, root-relative
    faces: np.ndarray  # (F, 3) int
    betas: np.ndarray  # (10,) mean shape over the recording
    fps: float
    source: str  # model and body model used

    @property
    def n_frames(self) -> int:
        return int(self.vertices.shape[0])


@torch.inference_mode()
def recover_mesh(model: MeshRegressor, kp: Any, clip_len: int = 16, batch_size: int = 8,
                 source: str = "mesh") -> MeshSequence:
    """Mesh of every frame of a :class:`~gaitscope.records.Keypoints2D`: whole-video box normalisation (as the
    lifter), consecutive clips of ``clip_len`` frames (the official mesh clip length is 16; the last clip is
    shorter), one body shape per clip. Vertices and joints are made root-relative (pelvis at the origin)."""
    from gaitscope.models.preprocess import normalise_keypoints

    x, _ = normalise_keypoints(kp)
    model.eval()
    dev = next(model.parameters()).device
    verts, joints, betas = [], [], []
    starts = list(range(0, x.shape[0], clip_len))
    full = [s for s in starts if s + clip_len <= x.shape[0]]
    for i in range(0, len(full), batch_size):
        chunk = torch.as_tensor(np.stack([x[s : s + clip_len] for s in full[i : i + batch_size]]), device=dev)
        out = model(chunk)
        verts.append(out.verts.reshape(-1, out.verts.shape[-2], 3).cpu())
        joints.append(out.kp_3d.reshape(-1, 17, 3).cpu())
        betas.append(out.betas.reshape(-1, out.betas.shape[-1]).cpu())
    tail = [s for s in starts if s + clip_len > x.shape[0]]
    if tail:
        out = model(torch.as_tensor(x[tail[0] :][None], device=dev))
        verts.append(out.verts[0].cpu())
        joints.append(out.kp_3d[0].cpu())
        betas.append(out.betas[0].cpu())
    v = torch.cat(verts).numpy()
    j = torch.cat(joints).numpy()
    root = j[:, :1]
    return MeshSequence(vertices=(v - root).astype(np.float32), joints=(j - root).astype(np.float32),
                        faces=model.body_model.faces.cpu().numpy(), betas=torch.cat(betas).mean(0).numpy(),
                        fps=float(kp.fps), source=source)
