"""``gaitscope train-action`` / ``evaluate-action`` / ``make-ntu-synthetic`` and ``mesh-check`` / ``mesh-recover``
end to end on small synthetic data (NTU-format files written to disk, a stand-in SMPL model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gaitscope.cli.main import main
from gaitscope.models.configs import CONFIGS, DSTformerConfig

TINY = DSTformerConfig(name="cli-tiny", dim_feat=32, dim_rep=24, depth=1, num_heads=4, mlp_ratio=2.0, maxlen=32)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setitem(CONFIGS, TINY.name, TINY)
    yield
    torch.set_num_threads(prev)


def test_train_and_evaluate_action_on_the_synthetic_ntu_set_beats_chance(tmp_path, capsys):
    data, out = tmp_path / "ntu", tmp_path / "run"
    assert main(["make-ntu-synthetic", str(data), "--frames", "32", "--cameras", "1", "2"]) == 0
    assert len(list(data.glob("*.skeleton"))) == 5 * 2 * 4
    rc = main(["train-action", str(data), "--out", str(out), "--config", TINY.name, "--steps", "20",
               "--frames", "16", "--hidden", "32", "--batch-size", "12", "--dropout", "0.1", "--lr", "3e-3",
               "--backbone-lr-mult", "1", "--quiet"])
    assert rc == 0
    ev = json.loads((out / "evaluation.json").read_text())
    # 4 balanced classes: chance is 25 %; the tolerance for a 20-step run is "at least twice chance"
    # (measured: 75 % on the 16 cross-subject test clips, 12/16)
    assert ev["n_clips"] == 16 and ev["chance"] == 0.25
    assert ev["top1"] >= 0.5
    cm = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert list(cm.columns) == ["walk", "sit-to-stand", "arm raise", "squat"] and cm.values.sum() == 16
    assert np.trace(cm.values) == ev["correct"]
    log = pd.read_csv(out / "metrics.csv")
    assert len(log) == 20 and log["loss"].iloc[-5:].mean() < log["loss"].iloc[:5].mean()
    capsys.readouterr()
    rc = main(["evaluate-action", str(data), "--checkpoint", str(out / "action_model.pt"), "--split", "xview",
               "--out", str(tmp_path / "eval")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "xview test: top-1" in printed and "20 clips" in printed  # camera 1 of 5 subjects x 4 actions
    pred = pd.read_csv(tmp_path / "eval" / "predictions.csv")
    assert len(pred) == 20 and set(pred["true"]) == {"walk", "sit-to-stand", "arm raise", "squat"}


def test_action_commands_report_user_errors_cleanly(tmp_path, capsys):
    assert main(["evaluate-action", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "No model checkpoint" in capsys.readouterr().err
    assert main(["train-action", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "No .skeleton files" in capsys.readouterr().err


def test_mesh_check_and_recover_with_a_stand_in_smpl_folder(tmp_path, capsys, monkeypatch):
    from gaitscope.io.keypoints import save_coco_json
    from gaitscope.models.body_model import SMPL_DIR_ENV, SMPL_PARENTS, StandInBodyModel
    from gaitscope.models.mesh import MeshRegressor, save_mesh_checkpoint
    from gaitscope.ui.example_records import example_keypoints

    monkeypatch.delenv(SMPL_DIR_ENV, raising=False)
    assert main(["mesh-check"]) == 2
    err = capsys.readouterr().err
    assert SMPL_DIR_ENV in err and "smpl.is.tue.mpg.de" in err
    body = StandInBodyModel.random(n_vertices=120, seed=0)
    smpl = tmp_path / "smpl_files"
    smpl.mkdir()
    kintree = np.array([[4294967295] + list(SMPL_PARENTS[1:]), list(range(24))])
    np.savez(smpl / "SMPL_NEUTRAL.npz", v_template=body.v_template.numpy(), shapedirs=body.shapedirs.numpy(),
             posedirs=body.posedirs.numpy(), J_regressor=body.J_regressor.numpy(), weights=body.weights.numpy(),
             kintree_table=kintree, f=body.faces.numpy())
    np.save(smpl / "J_regressor_h36m_correct.npy", body.J_regressor_h36m.numpy())
    assert main(["mesh-check", "--smpl-dir", str(smpl)]) == 0
    assert "120 vertices" in capsys.readouterr().out
    torch.manual_seed(0)
    ckpt = save_mesh_checkpoint(tmp_path / "mesh.pt", MeshRegressor.build(TINY, body, hidden_dim=16), TINY)
    kp = example_keypoints()
    save_coco_json(kp, tmp_path / "kp.json")
    out = tmp_path / "mesh.npz"
    monkeypatch.setenv(SMPL_DIR_ENV, str(smpl))
    assert main(["mesh-recover", str(tmp_path / "kp.json"), "--fps", str(kp.fps), "--checkpoint", str(ckpt),
                 "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["vertices_mm"].shape[1:] == (120, 3) and z["faces"].shape[1] == 3
        assert z["vertices_mm"].shape[0] == z["joints_mm"].shape[0] > 0
