"""Action and mesh heads: CPU time per clip, and (optionally) parity with the official MotionBERT code.

    .venv/bin/python benchmarks/task_heads.py                                  # timing table (MB-Lite, small)
    .venv/bin/python benchmarks/task_heads.py --official-repo /path/to/MotionBERT --parity-only

Timing rows: ``ActionNet`` on one NTU-style input (2 persons x 243 frames, 60 classes) and ``MeshRegressor`` on one
16-frame clip with a random stand-in body model of SMPL's size (6890 vertices; the real SMPL files are not needed
for timing). Median of ``--repeats`` forward passes after a warm-up, ``torch.inference_mode``, fp32,
``torch.set_num_threads(--threads)``. Timings on a shared machine are noisy: compare rows of one run only.

``--official-repo`` points at a checkout of github.com/Walter0807/MotionBERT. Its ``DSTformer``, ``ActionNet`` and
``MeshRegressor`` are imported from there (nothing of them is copied into gaitscope); random official-layout
models are saved as DataParallel checkpoints, loaded with :func:`gaitscope.models.action.load_action_checkpoint`
/ :func:`gaitscope.models.mesh.load_mesh_checkpoint`, and both forwards are compared (largest absolute
difference). The official mesh head's ``smplx`` SMPL layer is replaced by the same stand-in body model on both
sides (``smplx`` and the SMPL files are not needed), so the comparison covers the head, the 6D rotations, the
axis-angle output and the joint regression.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gaitscope.models.action import ActionNet, load_action_checkpoint  # noqa: E402
from gaitscope.models.body_model import StandInBodyModel  # noqa: E402
from gaitscope.models.configs import get_config  # noqa: E402
from gaitscope.models.mesh import MeshRegressor, load_mesh_checkpoint  # noqa: E402


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timing(configs: list[str], repeats: int) -> None:
    body = StandInBodyModel.random(n_vertices=6890, seed=0, n_faces=13776)
    print(f"{'model':<14}{'config':<17}{'input':<22}{'s / clip':>10}{'frames/s':>10}")
    for name in configs:
        cfg = get_config(name)
        torch.manual_seed(0)
        action = ActionNet.build(cfg, 60).eval()
        x = torch.randn(1, 2, 243, 17, 3)
        with torch.inference_mode():
            t = _median_time(lambda: action(x), repeats)
        print(f"{'ActionNet':<14}{name:<17}{'2 persons x 243':<22}{t:>10.3f}{243 / t:>10.0f}")
        mesh = MeshRegressor.build(cfg, body).eval()
        xm = torch.randn(1, 16, 17, 3)
        with torch.inference_mode():
            t = _median_time(lambda: mesh(xm), repeats)
        print(f"{'MeshRegressor':<14}{name:<17}{'16 frames, 6890 v':<22}{t:>10.3f}{16 / t:>10.0f}")


def parity(official_repo: str) -> None:
    sys.path.insert(0, official_repo)
    body = StandInBodyModel.random(n_vertices=300, seed=5)
    tmp = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    np.savez(f"{tmp}/smpl_mean_params.npz", pose=np.tile([1.0, 0, 0, 1, 0, 0], 24) + rng.normal(0, 0.05, 144),
             shape=rng.normal(0, 0.3, 10))

    class StandInSMPL(torch.nn.Module):  # the official head's SMPL layer, backed by our stand-in body model
        def __init__(self, root, **_):
            super().__init__()
            self.smpl_mean_params = os.path.join(root, "smpl_mean_params.npz")
            self.J_regressor_h36m = body.J_regressor_h36m

        def forward(self, betas, body_pose, global_orient, pose2rot=False):
            return types.SimpleNamespace(vertices=body(torch.cat([global_orient, body_pose], 1), betas).vertices)

    stub = types.ModuleType("lib.utils.utils_smpl")
    stub.SMPL = StandInSMPL
    sys.modules["lib.utils.utils_smpl"] = stub
    from lib.model.DSTformer import DSTformer as OfficialDSTformer
    from lib.model.model_action import ActionNet as OfficialActionNet
    from lib.model.model_mesh import MeshRegressor as OfficialMeshRegressor

    def backbone():
        return OfficialDSTformer(dim_in=3, dim_out=3, dim_feat=64, dim_rep=128, depth=2, num_heads=8, mlp_ratio=2,
                                 norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), maxlen=243, num_joints=17)

    torch.manual_seed(0)
    off = OfficialActionNet(backbone=backbone(), dim_rep=128, num_classes=60, dropout_ratio=0.5)
    off.head.bn.running_mean.normal_(0, 0.1)
    off.head.bn.running_var.uniform_(0.5, 1.5)
    torch.save({"model": torch.nn.DataParallel(off).state_dict()}, f"{tmp}/action.bin")
    ours = load_action_checkpoint(f"{tmp}/action.bin").model.eval()
    x = torch.randn(2, 2, 243, 17, 3)
    with torch.no_grad():
        d = float((off.eval()(x) - ours(x)).abs().max())
    print(f"ActionNet (2 x 2 persons x 243 frames, 60 classes): max |logit difference| {d:.2e}")

    off_mesh = OfficialMeshRegressor(types.SimpleNamespace(data_root=tmp), backbone=backbone(), dim_rep=128,
                                     hidden_dim=1024, dropout_ratio=0.1)
    for bn in (off_mesh.head.bn1, off_mesh.head.bn2):
        bn.running_mean.normal_(0, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    off_mesh.head.head_pose.weight.data.normal_(0, 0.02)
    torch.save({"model": torch.nn.DataParallel(off_mesh).state_dict()}, f"{tmp}/mesh.bin")
    ours_mesh = load_mesh_checkpoint(f"{tmp}/mesh.bin", body).model.eval()
    xm = torch.randn(2, 16, 17, 3)
    with torch.no_grad():
        o, p = off_mesh.eval()(xm)[0], ours_mesh(xm)
    for key, mine in (("theta", p.theta), ("verts", p.verts), ("kp_3d", p.kp_3d)):
        print(f"MeshRegressor {key:<6} {tuple(o[key].shape)}: max |difference| {float((o[key] - mine).abs().max()):.2e}"
              f" (largest value {float(o[key].abs().max()):.3g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=["motionbert-lite", "small"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--official-repo", default=None)
    ap.add_argument("--parity-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    if args.official_repo:
        parity(args.official_repo)
    if not args.parity_only:
        timing(args.configs, args.repeats)


if __name__ == "__main__":
    main()
