"""The lifter training recipe: data, cameras, metrics and a tiny end-to-end training run (seconds, tiny model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from gaitscope.models.checkpoints import load_checkpoint
from gaitscope.models.inference import Lifter
from gaitscope.records import Keypoints2D
from gaitscope.training.lifter_data import resample_motion, sample_camera_path, synthetic_motions
from gaitscope.training.lifter_eval import joint_errors_mm, procrustes_align, scale_align
from gaitscope.training.lifter_training import Recipe, WalkLiftingDataset, export_run, train_lifter
from gaitscope.training.mocap_trials import HELDOUT_MOCAP, TRAIN_MOCAP
from gaitscope.training.noise_model import NOISE_JSON, NoiseModel


@pytest.fixture(scope="module")
def walks():
    return synthetic_motions(2, seed=3)


def test_heldout_mocap_never_trained_on():
    assert not set(TRAIN_MOCAP) & set(HELDOUT_MOCAP)
    assert any("opencap" in t for t in HELDOUT_MOCAP) and any("horst" in t for t in HELDOUT_MOCAP)


def test_train_and_heldout_walk_streams_differ(walks):
    other = synthetic_motions(2, seed=9)
    assert not np.allclose(walks[0].xyz_m[:10], other[0].xyz_m[:10])


def test_camera_keeps_the_walker_in_view_from_any_side(walks):
    xyz = np.asarray(walks[0].xyz_m, dtype=float)
    rng = np.random.default_rng(0)
    for _ in range(10):
        cam = sample_camera_path(xyz, rng)
        xy, depth = cam.project(xyz)
        assert (depth > 0.3).all()
        assert (xy[..., 0] >= 0).all() and (xy[..., 0] <= cam.width).all()
        assert (xy[..., 1] >= 0).all() and (xy[..., 1] <= cam.height).all()
        # no roll: the body's up direction is the image's up (pelvis below the head in the image)
        assert np.median(xy[:, 10, 1] - xy[:, 0, 1]) < 0


def test_dataset_pairs_are_normalised_root_relative_and_deterministic(walks):
    ds = WalkLiftingDataset(walks, NoiseModel.from_json(NOISE_JSON), clip_len=27, seed=1)
    x, y = ds[3]
    assert x.shape == (27, 17, 3) and y.shape == (27, 17, 3)
    assert torch.isfinite(x).all() and torch.isfinite(y).all()
    assert x[..., :2].abs().max() <= 1.0 and ((x[..., 2] >= 0) & (x[..., 2] <= 1)).all()
    assert torch.allclose(y[:, 0], torch.zeros(27, 3))
    x2, y2 = ds[3]
    assert torch.equal(x, x2) and torch.equal(y, y2)
    ds.set_epoch(1)
    x3, _ = ds[3]
    assert not torch.equal(x, x3)  # a new camera and new noise each epoch


def test_clean_pair_matches_the_input_geometry(walks):
    """Without noise, target x/y equal the input x/y up to the root offset: input and target share units."""
    ds = WalkLiftingDataset(walks, None, clip_len=27, seed=0)
    xyz = np.asarray(walks[0].xyz_m, dtype=float)
    x, y = ds.make_pair(xyz, walks[0].fps, 10, np.random.default_rng(0), clean=True)
    assert np.allclose(x[..., :2] - x[:, :1, :2], y[..., :2], atol=1e-5)
    # depth has the scale of the image plane: thigh length in 3D >= its 2D projection
    thigh3 = np.linalg.norm(y[:, 2] - y[:, 1], axis=-1)
    thigh2 = np.linalg.norm(y[:, 2, :2] - y[:, 1, :2], axis=-1)
    assert (thigh3 >= thigh2 - 1e-6).all() and thigh3.std() / thigh3.mean() < 0.1


def test_resample_motion_keeps_duration(walks):
    m = walks[0]
    r = resample_motion(m, 60.0)
    assert r.fps == 60.0
    assert abs(r.duration_s - m.duration_s) < 2.0 / m.fps
    assert np.allclose(r.xyz_m[0], m.xyz_m[0])


def test_metrics_remove_exactly_what_they_claim():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(5, 17, 3)) * 0.3
    gt -= gt[:, :1]
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_euler("xyz", [20, -40, 70], degrees=True).as_matrix()
    moved = 1.7 * gt @ rot.T + 0.5
    assert np.allclose(procrustes_align(moved, gt), gt, atol=1e-9)
    assert np.allclose(scale_align(0.5 * gt, gt), gt)
    e = joint_errors_mm(moved, gt)
    assert e["pa_mpjpe"].max() < 1e-6 and e["mpjpe"].mean() > 100
    shifted = gt.copy()
    shifted[:, 5] += [0.01, 0.0, 0.0]  # one joint 10 mm off
    assert joint_errors_mm(shifted, gt)["mpjpe"][:, 5] == pytest.approx(10.0)


def test_tiny_training_run_writes_a_loadable_checkpoint(tmp_path):
    recipe = Recipe(steps=3, batch_size=2, clip_len=9, n_walks=2, threads=1, dim_feat=16, depth=1,
                    warmup_steps=1, ckpt_every=2)
    dest = tmp_path / "lifter.pt"
    ckpt = train_lifter(tmp_path / "run", recipe, mocap_dir=None, export_to=dest, evaluate=False, log=lambda s: None)
    assert ckpt.exists() and dest.exists()
    loaded = load_checkpoint(dest)
    assert loaded.config.dim_feat == 16 and loaded.config.maxlen == 9
    assert loaded.metadata["recipe"]["steps"] == 3
    assert loaded.metadata["trained_on"] == "cpu"
    assert "synthetic" in loaded.metadata["training_data"]
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 4  # header + 3 steps
    lifter = Lifter.from_checkpoint(dest, device="cpu")
    t = 20
    xy = np.random.default_rng(0).uniform(100, 500, size=(t, 17, 2)).astype(np.float32)
    kp = Keypoints2D(xy, np.ones((t, 17), np.float32), 30.0, 640, 480, np.arange(t), np.zeros(t, bool), "test")
    motion = lifter.lift(kp, height_m=1.7)
    assert motion.xyz_m.shape == (t, 17, 3) and motion.root_relative
    # a mid-run export (from last.pt) works too and says so
    mid = export_run(tmp_path / "run", tmp_path / "mid.pt", evaluate=False, log=lambda s: None)
    assert load_checkpoint(mid).config.dim_feat == 16


def test_recipe_feet_weight_reaches_the_loss_and_the_model_version(tmp_path):
    """``--feet-weight`` is a training choice that changes the model: the term is computed and logged each step,
    added to the loss with its weight, and named in a fine-tune's version; weight 0 leaves the published
    objective (no such column)."""
    base = Recipe(steps=2, batch_size=2, clip_len=9, n_walks=2, threads=1, dim_feat=16, depth=1, warmup_steps=1,
                  ckpt_every=2)
    first = train_lifter(tmp_path / "a", base, mocap_dir=None, evaluate=False, log=lambda s: None)
    assert "feet" not in (tmp_path / "a" / "metrics.csv").read_text().splitlines()[0].split(",")
    tuned = train_lifter(tmp_path / "b", replace(base, feet_weight=2.0), mocap_dir=None, init_from=first,
                         evaluate=False, log=lambda s: None)
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    head = rows[0].split(",")
    vals = dict(zip(head, map(float, rows[1].split(","))))
    assert vals["feet"] > 0
    expected = vals["mpjpe"] + 0.5 * vals["n_mpjpe"] + base.velocity_weight * vals["velocity"] + 2.0 * vals["feet"]
    assert vals["loss"] == pytest.approx(expected, rel=1e-4)
    assert load_checkpoint(tuned).metadata["model_version"].endswith("-feet2")


def test_training_device_is_chosen_or_refused_with_what_to_do(tmp_path, monkeypatch, capsys):
    """Issue 20's lifter needs GPU training where a device is lent: ``--device cuda`` trains there, ``auto`` takes
    CUDA when present, and asking for CUDA without one is a clear input error (exit 2), before any data is built."""
    from gaitscope.cli.main import main
    from gaitscope.errors import InvalidInputError
    from gaitscope.training.lifter_training import training_device

    assert training_device("cpu") == "cpu"
    assert training_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError, match="unknown training device"):
        training_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == "cpu"
    with pytest.raises(InvalidInputError, match="no CUDA GPU"):
        training_device("cuda")
    rc = main(["train-lifter", "--out", str(tmp_path / "run"), "--device", "cuda", "--no-mocap", "--walks", "1",
               "--steps", "1", "--no-export", "--no-eval"])
    assert rc == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_worker_processes_give_the_same_run(tmp_path):
    """Clips prepared in worker processes (for a GPU) must be the clips of a single-process run: same losses
    step by step, same weights."""
    recipe = Recipe(steps=3, batch_size=4, clip_len=9, n_walks=2, threads=1, dim_feat=16, depth=1, warmup_steps=1)
    runs = {}
    for w in (0, 2):
        ckpt = train_lifter(tmp_path / f"w{w}", recipe, mocap_dir=None, evaluate=False, log=lambda s: None,
                            workers=w)
        losses = [line.split(",")[3] for line in (tmp_path / f"w{w}" / "metrics.csv").read_text().splitlines()[1:]]
        runs[w] = (losses, load_checkpoint(ckpt).model.state_dict())
    assert runs[0][0] == runs[2][0] and len(runs[0][0]) == 3
    for k, v in runs[0][1].items():
        assert torch.equal(v, runs[2][1][k]), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_trained_on_cuda_loads_and_lifts_on_the_cpu(tmp_path):
    recipe = Recipe(steps=3, batch_size=2, clip_len=9, n_walks=2, threads=1, dim_feat=16, depth=1, warmup_steps=1)
    ckpt = train_lifter(tmp_path / "run", recipe, mocap_dir=None, evaluate=False, log=lambda s: None, device="cuda")
    loaded = load_checkpoint(ckpt)
    assert loaded.metadata["trained_on"] == "cuda"
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    lifter = Lifter.from_checkpoint(ckpt, device="cpu")
    t = 12
    xy = np.random.default_rng(0).uniform(100, 500, size=(t, 17, 2)).astype(np.float32)
    kp = Keypoints2D(xy, np.ones((t, 17), np.float32), 30.0, 640, 480, np.arange(t), np.zeros(t, bool), "test")
    assert np.isfinite(lifter.lift(kp, height_m=1.7).xyz_m).all()


def test_side_views_drop_the_far_limbs_in_training_pairs(walks, monkeypatch):
    """With the measured occlusion, the limb facing away from a side camera is often unknown (zeros), the near one
    rarely; per-frame dropouts alone would treat both sides alike."""
    import gaitscope.training.lifter_training as lt
    from gaitscope.skeleton import J
    from gaitscope.training.noise_model import facing_left_deg

    seen = []

    def spy(xyz, rng, *a, **k):  # record which side each training camera saw
        cam = sample_camera_path(xyz, rng, *a, **k)
        seen.append(float(np.median(facing_left_deg(xyz, cam.positions))))
        return cam

    monkeypatch.setattr(lt, "sample_camera_path", spy)
    noise = NoiseModel.from_json(NOISE_JSON)
    assert noise.occlusion is not None
    ds = WalkLiftingDataset(walks, noise, clip_len=27, seed=2)
    xyz = np.asarray(walks[0].xyz_m, dtype=float)
    far, near = [], []
    for k in range(40):
        x, _ = ds.make_pair(xyz, walks[0].fps, 0, np.random.default_rng(k))
        theta = seen[-1]
        left, right = (x[:, J["left_elbow"], 2] == 0).mean(), (x[:, J["right_elbow"], 2] == 0).mean()
        if theta > 155:  # the left side faces away
            far.append(left)
            near.append(right)
        elif theta < 25:
            far.append(right)
            near.append(left)
    assert len(far) >= 5
    assert np.mean(far) > 0.4 and np.mean(near) < 0.2


def test_resized_temporal_embedding_keeps_its_shape_in_time():
    from gaitscope.training.lifter_training import resize_temporal_embedding

    te = torch.linspace(0, 1, 9)[None, :, None, None].repeat(1, 1, 1, 4)  # (1, 9, 1, 4): a ramp in time
    out = resize_temporal_embedding({"temp_embed": te, "other": torch.ones(2)}, 27)
    assert out["temp_embed"].shape == (1, 27, 1, 4)
    assert torch.allclose(out["temp_embed"][0, :, 0, 0], torch.linspace(0, 1, 27), atol=1e-6)
    assert torch.equal(out["other"], torch.ones(2))
    same = {"temp_embed": te}
    assert resize_temporal_embedding(same, 9) is same


def _yaw_from_left(xyz: np.ndarray, cam) -> float:
    """The camera's yaw around the walk as ``view_from_angle`` counts it (0 = left side, 90 = frontal)."""
    d = xyz[-1, 0, :2] - xyz[0, 0, :2]
    fwd = d / np.linalg.norm(d)
    left = np.array([-fwd[1], fwd[0]])
    to_cam = cam.positions.mean(axis=0)[:2] - xyz[:, 0, :2].mean(axis=0)
    return float(np.degrees(np.arctan2(to_cam @ fwd, to_cam @ left)))


def test_frontal_share_puts_cameras_in_front_and_behind(walks):
    """Stage 3 (``frontal_p``) sees about a third of its clips from near frontal or rear views; the sampler of
    the first recipes (``frontal_p=0``) is unchanged draw for draw and sees about one in ten there."""
    xyz = np.asarray(walks[0].xyz_m, dtype=float)

    def frontal_share(p: float) -> float:
        rng = np.random.default_rng(4)
        yaws = np.array([_yaw_from_left(xyz, sample_camera_path(xyz, rng, frontal_p=p)) for _ in range(150)])
        return float((np.abs(np.abs(yaws) - 90.0) < 20.0).mean())

    assert frontal_share(0.0) < 0.18
    assert frontal_share(0.3) > 0.25
    a = sample_camera_path(xyz, np.random.default_rng(7))
    b = sample_camera_path(xyz, np.random.default_rng(7), frontal_p=0.0)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.R, b.R)


def test_recipe_frontal_share_reaches_the_dataset(tmp_path, monkeypatch):
    import gaitscope.training.lifter_training as lt

    got = []

    def spy(xyz, rng, *a, **k):
        got.append(k.get("frontal_p"))
        return sample_camera_path(xyz, rng, *a, **k)

    monkeypatch.setattr(lt, "sample_camera_path", spy)
    ds, desc = lt.build_dataset(Recipe(n_walks=1, frontal_p=0.3), mocap_dir=None, log=lambda s: None)
    ds[0]
    assert got == [0.3]
    assert "30% near frontal/rear" in desc["cameras"]


def test_motionbert_masking_masks_the_stated_shares_of_frames_and_joints(walks):
    """Session 7 encoder pretraining (Zhu et al. 2023, Sec. 3.2): with ``frame_mask_p`` = ``joint_mask_p`` = 0.15
    about 15 % of whole frames are zeroed and, in the frames kept, about 15 % of the joints; the defaults of the
    shipped recipe (0.05 / 0.05) mask about a third as much. No noise model, so masking is the only zeroing."""
    from gaitscope.training.lifter_training import Augment

    def shares(p: float) -> tuple[float, float]:
        ds = WalkLiftingDataset(walks, None, clip_len=27, seed=2,
                                augment=Augment(joint_mask_p=p, frame_mask_p=p, flip_p=0.0))
        conf = np.concatenate([ds[i][0][..., 2].numpy() for i in range(0, len(ds), max(1, len(ds) // 250))])
        frame_off = (conf == 0).all(axis=1)
        return float(frame_off.mean()), float((conf[~frame_off] == 0).mean())

    f15, j15 = shares(0.15)
    assert abs(f15 - 0.15) < 0.03 and abs(j15 - 0.15) < 0.02, (f15, j15)
    f05, j05 = shares(0.05)
    assert abs(f05 - 0.05) < 0.02 and abs(j05 - 0.05) < 0.01, (f05, j05)


def test_recipe_masking_reaches_the_dataset_and_the_model_version(tmp_path):
    import gaitscope.training.lifter_training as lt

    ds, _ = lt.build_dataset(Recipe(n_walks=1, joint_mask_p=0.15, frame_mask_p=0.2), mocap_dir=None,
                             log=lambda s: None)
    assert (ds.augment.joint_mask_p, ds.augment.frame_mask_p) == (0.15, 0.2)
    default, _ = lt.build_dataset(Recipe(n_walks=1), mocap_dir=None, log=lambda s: None)
    assert (default.augment.joint_mask_p, default.augment.frame_mask_p) == (0.05, 0.05)


def test_pretraining_data_never_asks_for_an_evaluation_trial(monkeypatch):
    """The encoder pretraining uses the lifter recipe's data: the mocap trials it loads are TRAIN_MOCAP and none
    of the video evaluation's held-out trials (EVAL_MOCAP), whatever the clip length or masking."""
    import gaitscope.training.lifter_training as lt
    from gaitscope.training.mocap_trials import EVAL_MOCAP

    asked: list[str] = []

    def spy(mocap_dir, trials, log=print):
        asked.extend(trials)
        return {}

    monkeypatch.setattr(lt, "load_mocap_motions", spy)
    lt.build_dataset(Recipe(n_walks=1, clip_len=27, joint_mask_p=0.15, frame_mask_p=0.15), mocap_dir="unused",
                     log=lambda s: None)
    key = lambda t: "/".join(t.lower().split("/")[-2:])  # noqa: E731
    assert asked and set(asked) == set(TRAIN_MOCAP)
    assert not {key(t) for t in asked} & {key(t) for t in EVAL_MOCAP}
