"""``gaitscope mesh-check`` / ``gaitscope mesh-recover``: the SMPL mesh head on the command line.

    gaitscope mesh-check [--smpl-dir DIR]
    gaitscope mesh-recover KEYPOINTS.json --fps F --checkpoint MESH.bin [--smpl-dir DIR] --out mesh.npz

The SMPL model files are licence-gated: the user downloads them (https://smpl.is.tue.mpg.de; the gender-neutral
model from https://smplify.is.tue.mpg.de) into a folder named by ``--smpl-dir`` or ``$GAITSCOPE_SMPL_DIR``:
``SMPL_NEUTRAL.pkl`` (or ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl`` / ``.npz``), plus
``J_regressor_h36m_correct.npy`` and optionally ``smpl_mean_params.npz`` (SPIN data bundle). ``mesh-check`` says
what is found and what is missing; ``mesh-recover`` runs a mesh checkpoint (the official
``FT_MB_release_MB_ft_pw3d/best_epoch.bin`` or one of ours) on COCO/AlphaPose keypoints and writes the per-frame
vertices (mm), joints and faces to an ``.npz``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_mesh_check(args: argparse.Namespace) -> int:
    import torch

    from gaitscope.models.body_model import BodyModel, find_model_file, load_mean_params, smpl_dir

    path = find_model_file(args.smpl_dir, args.gender)  # MissingModelFileError: clear message, exit status 2
    model = BodyModel.from_dir(args.smpl_dir, args.gender)
    out = model(torch.zeros(1, 72), torch.zeros(1, 10))
    height = float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())
    print(f"SMPL folder: {smpl_dir(args.smpl_dir)}")
    print(f"Model file: {path} ({model.n_vertices} vertices, {model.n_joints} joints, {model.num_betas} betas; "
          f"mean-shape height {height:.2f} m)")
    print("H36M joint regressor: " + ("found" if model.J_regressor_h36m is not None else
                                      "MISSING (J_regressor_h36m_correct.npy): the mesh head needs it"))
    print("Mean pose/shape (smpl_mean_params.npz): " + ("found" if load_mean_params(args.smpl_dir) else
                                                         "absent (identity pose and zero shape are used)"))
    return 0 if model.J_regressor_h36m is not None else 2


def cmd_mesh_recover(args: argparse.Namespace) -> int:
    import numpy as np

    from gaitscope.io.keypoints import load_coco_json
    from gaitscope.models.body_model import BodyModel
    from gaitscope.models.mesh import load_mesh_checkpoint, recover_mesh

    body = BodyModel.from_dir(args.smpl_dir, args.gender)
    loaded = load_mesh_checkpoint(args.checkpoint, body, trust_checkpoint=args.trust_checkpoint)
    kp = load_coco_json(args.keypoints, fps=args.fps)
    seq = recover_mesh(loaded.model, kp, clip_len=args.clip_len,
                       source=f"mesh:{loaded.metadata.get('model_version', 'unversioned')}+{body.name}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, vertices_mm=seq.vertices, joints_mm=seq.joints, faces=seq.faces, betas=seq.betas,
                        fps=seq.fps)
    print(f"{loaded.report.summary()}")
    print(f"Wrote {seq.n_frames} frames of {seq.vertices.shape[1]} vertices to {out}")
    return 0


def _smpl_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smpl-dir", default=None, help="folder with the SMPL model files (default: $GAITSCOPE_SMPL_DIR)")
    p.add_argument("--gender", choices=["neutral", "male", "female"], default="neutral")


def register_cli(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("mesh-check", help="check the SMPL body-model files used by the mesh head")
    _smpl_args(c)
    c.set_defaults(func=cmd_mesh_check)

    r = sub.add_parser("mesh-recover", help="SMPL meshes from COCO/AlphaPose keypoints with a mesh checkpoint")
    r.add_argument("keypoints", help="COCO/AlphaPose keypoint JSON of one person")
    r.add_argument("--fps", type=float, required=True)
    r.add_argument("--checkpoint", required=True, help="official MotionBERT mesh checkpoint or a gaitscope one")
    r.add_argument("--out", required=True, help="output .npz (vertices_mm, joints_mm, faces, betas, fps)")
    r.add_argument("--clip-len", type=int, default=16, help="frames per clip (official: 16)")
    r.add_argument("--trust-checkpoint", action="store_true",
                   help="allow unpickling non-tensor objects of a checkpoint you trust (official files)")
    _smpl_args(r)
    r.set_defaults(func=cmd_mesh_recover)
