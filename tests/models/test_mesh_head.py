"""Mesh recovery: SMPL file reading (chumpy pickles without chumpy), linear blend skinning, the mesh head in the
official layout, its losses and the missing-file message. A randomly initialised stand-in body model replaces the
licence-gated SMPL files."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from gaitscope.errors import CheckpointError
from gaitscope.models.body_model import (
    SMPL_DIR_ENV,
    SMPL_PARENTS,
    BodyModel,
    MissingModelFileError,
    StandInBodyModel,
    find_model_file,
    read_smpl_pickle,
    smpl_configured,
)
from gaitscope.models.configs import DSTformerConfig
from gaitscope.models.dstformer import DSTformer
from gaitscope.models.mesh import (
    MeshLossWeights,
    MeshObjective,
    MeshRegressor,
    load_mesh_checkpoint,
    mesh_loss,
    mesh_metrics,
    procrustes_align,
    recover_mesh,
    save_mesh_checkpoint,
)
from gaitscope.models.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    rot6d_to_matrix,
)

CFG = DSTformerConfig(name="mesh-tiny", dim_feat=32, dim_rep=16, depth=1, num_heads=4, mlp_ratio=2.0, maxlen=32)
HIDDEN = 32


@pytest.fixture(autouse=True)
def _one_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.fixture(scope="module")
def body() -> StandInBodyModel:
    return StandInBodyModel.random(n_vertices=200, seed=3)


def reference_lbs(bm: BodyModel, aa: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Textbook SMPL with 4x4 homogeneous transforms, one sample (an independent formulation)."""
    v = bm.v_template + torch.einsum("vkb,b->vk", bm.shapedirs, betas)
    joints = bm.J_regressor @ v
    rots = axis_angle_to_matrix(aa.reshape(-1, 3))
    v = v + torch.einsum("vkp,p->vk", bm.posedirs, (rots[1:] - torch.eye(3)).reshape(-1))
    world = []
    for i, p in enumerate(bm.parents):
        local = torch.eye(4)
        local[:3, :3] = rots[i]
        local[:3, 3] = joints[i] - (joints[p] if p >= 0 else 0)
        world.append(local if p < 0 else world[p] @ local)
    skin = []
    for i in range(len(bm.parents)):
        rest = torch.eye(4)
        rest[:3, 3] = -joints[i]
        skin.append(world[i] @ rest)
    blend = torch.einsum("vk,kab->vab", bm.weights, torch.stack(skin))
    vh = torch.cat([v, torch.ones(len(v), 1)], dim=1)
    return torch.einsum("vab,vb->va", blend, vh)[:, :3]


def test_rotation_conversions_invert_each_other():
    torch.manual_seed(0)
    aa = torch.randn(64, 3)
    aa[0] = 0.0
    aa[1] = torch.tensor([3.1, 0.0, 0.0])  # near pi
    r = axis_angle_to_matrix(aa)
    np.testing.assert_allclose((r @ r.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(r)).numpy(), r.numpy(), atol=1e-4)
    np.testing.assert_allclose(rot6d_to_matrix(matrix_to_rot6d(r)).numpy(), r.numpy(), atol=1e-5)
    np.testing.assert_allclose(rot6d_to_matrix(torch.tensor([1.0, 0, 0, 1, 0, 0])).numpy(), np.eye(3))
    # any 6 numbers give a proper rotation
    m = rot6d_to_matrix(torch.randn(10, 6))
    np.testing.assert_allclose(torch.linalg.det(m).numpy(), 1.0, atol=1e-5)


def test_linear_blend_skinning_matches_a_textbook_reference(body):
    torch.manual_seed(1)
    aa, betas = torch.randn(2, 72) * 0.4, torch.randn(2, 10)
    out = body(aa, betas)
    assert out.vertices.shape == (2, 200, 3) and out.joints.shape == (2, 24, 3) and out.joints_h36m.shape == (2, 17, 3)
    for i in range(2):
        np.testing.assert_allclose(out.vertices[i].numpy(), reference_lbs(body, aa[i], betas[i]).numpy(), atol=1e-5)
    rest = body(torch.zeros(1, 72), torch.zeros(1, 10))
    np.testing.assert_allclose(rest.vertices[0].numpy(), body.v_template.numpy(), atol=1e-6)
    # rotation matrices in, same result as axis-angle
    same = body(axis_angle_to_matrix(aa.reshape(2, 24, 3)), betas)
    np.testing.assert_allclose(same.vertices.numpy(), out.vertices.numpy(), atol=1e-5)
    assert body.parents == SMPL_PARENTS and not body.state_dict()  # nothing persistent


def _arrays(bm: BodyModel) -> dict:
    kintree = np.array([[4294967295] + list(SMPL_PARENTS[1:]), list(range(24))], dtype=np.int64)
    return {"v_template": bm.v_template.numpy().astype(np.float64), "shapedirs": bm.shapedirs.numpy(),
            "posedirs": bm.posedirs.numpy(), "J_regressor": bm.J_regressor.numpy(), "weights": bm.weights.numpy(),
            "kintree_table": kintree, "f": bm.faces.numpy().astype(np.uint32)}


def _write_chumpy_pickle(path, arrays: dict, monkeypatch) -> None:
    """A pickle shaped like the distributed SMPL .pkl: chumpy Ch objects and a scipy sparse regressor."""
    chumpy, chumpy_ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy's pickled state: the value under 'x'
        def __init__(self, x):
            self.__dict__.update(x=np.asarray(x), _dirty_vars=set(), _itr=None)

        def __getstate__(self):
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    chumpy_ch.Ch, chumpy.ch = Ch, chumpy_ch
    data = {"v_template": Ch(arrays["v_template"]), "shapedirs": Ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"], "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "weights": Ch(arrays["weights"]), "kintree_table": arrays["kintree_table"], "f": arrays["f"],
            "bs_type": "lrotmin", "bs_style": "lbs"}
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "chumpy", chumpy)
        m.setitem(sys.modules, "chumpy.ch", chumpy_ch)
        path.write_bytes(pickle.dumps(data, protocol=2))
    assert "chumpy" not in sys.modules


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_smpl_pickle_with_chumpy_reads_without_chumpy_and_refuses_code(tmp_path, body, monkeypatch):
    pkl = tmp_path / "SMPL_NEUTRAL.pkl"
    _write_chumpy_pickle(pkl, _arrays(body), monkeypatch)
    arrays = read_smpl_pickle(pkl)
    assert isinstance(arrays["v_template"], np.ndarray) and isinstance(arrays["J_regressor"], np.ndarray)
    np.testing.assert_allclose(arrays["J_regressor"], body.J_regressor.numpy())
    np.save(tmp_path / "J_regressor_h36m_correct.npy", body.J_regressor_h36m.numpy())
    monkeypatch.setenv(SMPL_DIR_ENV, str(tmp_path))
    assert smpl_configured()
    loaded = BodyModel.from_dir()
    assert loaded.parents == SMPL_PARENTS and loaded.J_regressor_h36m is not None
    aa, betas = torch.randn(1, 72) * 0.3, torch.randn(1, 10)
    np.testing.assert_allclose(loaded(aa, betas).vertices.numpy(), body(aa, betas).vertices.numpy(), atol=1e-5)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v_template": _Evil()}, protocol=2))
    with pytest.raises(CheckpointError, match="refusing to load"):
        read_smpl_pickle(evil)


def test_npz_model_files_and_the_missing_file_message(tmp_path, body, monkeypatch):
    monkeypatch.delenv(SMPL_DIR_ENV, raising=False)
    with pytest.raises(MissingModelFileError, match=SMPL_DIR_ENV) as no_dir:
        find_model_file()
    assert "smpl.is.tue.mpg.de" in str(no_dir.value) and isinstance(no_dir.value, CheckpointError)
    with pytest.raises(MissingModelFileError) as missing:
        BodyModel.from_dir(tmp_path)
    assert str(tmp_path / "SMPL_NEUTRAL.pkl") in str(missing.value) and "smpl.is.tue.mpg.de" in str(missing.value)
    assert not smpl_configured(tmp_path)
    (tmp_path / "smpl").mkdir()
    np.savez(tmp_path / "smpl" / "SMPL_NEUTRAL.npz", **_arrays(body))
    model = BodyModel.from_dir(tmp_path)  # found under smpl/, no H36M regressor there
    assert model.n_vertices == 200 and model.J_regressor_h36m is None
    with pytest.raises(CheckpointError, match="J_regressor_h36m_correct.npy"):
        MeshRegressor.build(CFG, model, hidden_dim=HIDDEN)
    bad = _arrays(body)
    bad["weights"] = bad["weights"][:, :23]
    with pytest.raises(CheckpointError, match="weights"):
        BodyModel.from_arrays(bad)


def _batch(body, n=2, t=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    pose, betas = torch.randn(n * t, 72, generator=g) * 0.2, torch.randn(n, 10, generator=g)
    betas_t = betas.repeat_interleave(t, dim=0)
    out = body(pose, betas_t)
    target = {"theta": torch.cat([pose, betas_t], dim=1).reshape(n, t, 82),
              "kp_3d": (out.joints_h36m * 1000).reshape(n, t, 17, 3),
              "verts": (out.vertices * 1000).reshape(n, t, -1, 3)}
    return torch.randn(n, t, 17, 3, generator=g), target


def test_mesh_head_runs_end_to_end_with_the_stand_in_body_model(body):
    torch.manual_seed(0)
    model = MeshRegressor.build(CFG, body, hidden_dim=HIDDEN).eval()
    x, target = _batch(body)
    out = model(x)
    assert out.theta.shape == (2, 6, 82) and out.rotmat.shape == (2, 6, 24, 3, 3)
    assert out.verts.shape == (2, 6, 200, 3) and out.kp_3d.shape == (2, 6, 17, 3)
    assert torch.allclose(out.betas[:, 0], out.betas[:, -1])  # one shape per clip
    # freshly initialised: close to the mean (identity) pose, as the head's small init intends
    assert (out.rotmat - torch.eye(3)).abs().max() < 0.2
    assert not any(k.startswith("body_model") for k in model.state_dict())
    total, terms = mesh_loss(out, target, MeshLossWeights(vertices=1.0))
    assert set(terms) == {"joints", "velocity", "pose", "shape", "norm", "vertices"} and torch.isfinite(total)
    metrics = mesh_metrics(out, target)
    assert metrics["pa_mpjpe_mm"] <= metrics["mpjpe_mm"] and "mpvpe_mm" in metrics


def test_mesh_loss_decreases_in_the_training_loop(body, tmp_path):
    from gaitscope.models.training import TrainConfig, train

    class Pairs(torch.utils.data.Dataset):
        def __init__(self):
            self.items = [_batch(body, n=1, t=6, seed=s) for s in range(4)]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            x, target = self.items[i]
            return x[0], {k: v[0] for k, v in target.items()}

    torch.manual_seed(0)
    model = MeshRegressor.build(CFG, body, hidden_dim=HIDDEN, dropout=0.0)
    cfg = TrainConfig(steps=15, batch_size=4, lr=3e-3, schedule="constant", progress=False, ckpt_every=100)
    result = train(model, Pairs(), MeshObjective(MeshLossWeights(vertices=0.5)), cfg, tmp_path)
    import pandas as pd

    log = pd.read_csv(result.metrics_csv)
    assert len(log) == 15
    assert log["loss"].iloc[-3:].mean() < 0.7 * log["loss"].iloc[:3].mean()
    assert log["joints"].iloc[-1] < log["joints"].iloc[0]


def official_mesh_state_dict(body, seed=0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sd = {f"module.backbone.{k}": v.clone() for k, v in DSTformer(**CFG.model_kwargs()).state_dict().items()}
    width = CFG.dim_rep * 17
    for name, (rows, cols) in {"fc1": (HIDDEN, width), "fc2": (HIDDEN, width), "head_pose": (144, HIDDEN),
                               "head_shape": (10, HIDDEN)}.items():
        sd[f"module.head.{name}.weight"] = torch.randn(rows, cols, generator=g) * 0.01
        sd[f"module.head.{name}.bias"] = torch.randn(rows, generator=g) * 0.01
    for bn in ("bn1", "bn2"):
        sd[f"module.head.{bn}.weight"] = torch.rand(HIDDEN, generator=g) + 0.5
        sd[f"module.head.{bn}.bias"] = torch.randn(HIDDEN, generator=g) * 0.1
        sd[f"module.head.{bn}.running_mean"] = torch.randn(HIDDEN, generator=g) * 0.1
        sd[f"module.head.{bn}.running_var"] = torch.rand(HIDDEN, generator=g) + 0.5
        sd[f"module.head.{bn}.num_batches_tracked"] = torch.tensor(77)
    sd["module.head.init_pose"] = torch.tensor([1.0, 0, 0, 1, 0, 0]).repeat(24)[None] + 0.01
    sd["module.head.init_shape"] = torch.randn(1, 10, generator=g) * 0.1
    # the official file also carries the smplx body model's arrays
    sd["module.head.smpl.v_template"] = body.v_template.clone()
    sd["module.head.smpl.J_regressor_h36m"] = body.J_regressor_h36m.clone()
    sd["module.head.smpl.betas"] = torch.zeros(64, 10)
    return sd


def test_official_mesh_checkpoint_loads_and_skips_the_embedded_smpl_arrays(tmp_path, body):
    sd = official_mesh_state_dict(body)
    path = tmp_path / "best_epoch.bin"
    torch.save({"epoch": 60, "model": sd, "best_jpe": 76.9}, path)
    loaded = load_mesh_checkpoint(path, body)
    skipped = dict(loaded.report.skipped)
    assert {"head.smpl.v_template", "head.smpl.betas", "head.smpl.J_regressor_h36m"} <= set(skipped)
    ours = loaded.model.state_dict()
    for k, v in sd.items():
        if ".smpl." not in k:
            assert torch.equal(ours[k.removeprefix("module.")], v), k
    assert set(ours) == {k.removeprefix("module.") for k in sd if ".smpl." not in k}
    out = loaded.model(torch.randn(1, 4, 17, 3))
    assert out.verts.shape == (1, 4, 200, 3)
    sd["module.head.head_pose.weight"] = torch.zeros(144, HIDDEN + 1)
    torch.save({"model": sd}, tmp_path / "bad.bin")
    with pytest.raises(CheckpointError, match=r"head\.head_pose\.weight expected \[144, 32\]"):
        load_mesh_checkpoint(tmp_path / "bad.bin", body)


def test_our_mesh_format_round_trip_and_recovery_over_a_recording(tmp_path, body):
    from gaitscope.records import Keypoints2D

    torch.manual_seed(2)
    model = MeshRegressor.build(CFG, body, hidden_dim=HIDDEN).eval()
    path = save_mesh_checkpoint(tmp_path / "mesh.pt", model, CFG, {"model_version": "test-1"})
    loaded = load_mesh_checkpoint(path, body)
    assert loaded.metadata["model_version"] == "test-1" and not loaded.report.skipped
    rng = np.random.default_rng(0)
    t = 21
    kp = Keypoints2D(xy_px=rng.uniform(100, 400, (t, 17, 2)).astype(np.float32), conf=np.ones((t, 17), np.float32),
                     fps=25.0, width=640, height=480, frame_index=np.arange(t), interpolated=np.zeros(t, bool),
                     source="synthetic")
    seq = recover_mesh(loaded.model, kp, clip_len=8)
    assert seq.vertices.shape == (21, 200, 3) and seq.joints.shape == (21, 17, 3) and seq.fps == 25.0
    np.testing.assert_allclose(seq.joints[:, 0], 0.0, atol=1e-3)  # root-relative
    ref = recover_mesh(model, kp, clip_len=8)
    np.testing.assert_allclose(seq.vertices, ref.vertices, atol=1e-3)


def test_procrustes_alignment_removes_rotation_scale_and_translation():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(3, 17, 3))
    r = axis_angle_to_matrix(torch.tensor([0.3, -0.5, 1.0])).numpy()
    pred = 1.7 * target @ r.T + np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(procrustes_align(pred, target), target, atol=1e-6)
