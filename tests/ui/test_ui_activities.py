"""The Activities page (AppTest, no browser): segmented activities of a stored recording with the built-in
examples, and the mesh view, unconfigured (hidden from clinicians) and configured with a stand-in body model
and a small mesh checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("argon2")
from ui_app_helpers import app as _app  # noqa: E402
from ui_app_helpers import ok as _ok  # noqa: E402
from ui_app_helpers import texts as _texts  # noqa: E402

from gaitscope.ui.components import PAGE_ACTIVITIES, ROLE_PAGES  # noqa: E402


@pytest.fixture(autouse=True)
def _fast_encoder(monkeypatch):
    """Keep the page's encoder small and its clips short (the bundled lifter would work too, more slowly)."""
    from gaitscope.pipeline import activities

    monkeypatch.setattr(activities, "MATCHER_FRAMES", 27)
    monkeypatch.delenv("GAITSCOPE_SMPL_DIR", raising=False)
    monkeypatch.delenv("GAITSCOPE_MESH_CHECKPOINT", raising=False)


def _table(at):
    return next(d.value for d in at.dataframe if "activity" in d.value.columns)


def _open(at):
    at.switch_page(PAGE_ACTIVITIES).run()
    _ok(at)
    return at


def test_activities_page_segments_a_stored_recording_and_explains_the_missing_mesh(env):
    assert PAGE_ACTIVITIES in ROLE_PAGES["clinician"] and PAGE_ACTIVITIES in ROLE_PAGES["viewer"]
    at = _open(_app().run())
    assert [t.value for t in at.title] == ["Activities"]
    table = _table(at)
    assert list(table.columns) == ["start_s", "end_s", "duration_s", "activity", "similarity"]
    assert len(table) >= 1 and table["start_s"].iloc[0] == 0.0
    assert set(table["activity"]) <= {"walk", "sit-to-stand", "arm raise", "squat"}
    assert (table["end_s"].iloc[:-1].to_numpy() == table["start_s"].iloc[1:].to_numpy()).all()
    assert any("Activities" == s.value for s in at.subheader)
    text = _texts(at)
    # the mesh view's set-up (SMPL files, licence) is the administrator's business, not the clinician's
    assert "SMPL" not in text and "GAITSCOPE_SMPL_DIR" not in text and "Mesh" not in [s.value for s in at.subheader]
    # a longer window gives no more segments than a shorter one
    n_short = len(table)
    at.slider(key="activities_window").set_value(6.0).run()
    _ok(at)
    assert len(_table(at)) <= n_short


def test_uploaded_examples_need_files_first(env):
    at = _open(_app().run())
    at.radio(key="activities_source").set_value(at.radio(key="activities_source").options[1]).run()
    _ok(at)
    assert "Upload at least one example clip" in _texts(at)


def test_mesh_view_appears_when_smpl_files_and_a_mesh_model_are_configured(env, tmp_path, monkeypatch):
    import torch

    from gaitscope.models.body_model import SMPL_PARENTS, StandInBodyModel
    from gaitscope.models.configs import DSTformerConfig
    from gaitscope.models.mesh import MeshRegressor, save_mesh_checkpoint

    body = StandInBodyModel.random(n_vertices=150, seed=0)
    kintree = np.array([[4294967295] + list(SMPL_PARENTS[1:]), list(range(24))])
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", v_template=body.v_template.numpy(), shapedirs=body.shapedirs.numpy(),
             posedirs=body.posedirs.numpy(), J_regressor=body.J_regressor.numpy(), weights=body.weights.numpy(),
             kintree_table=kintree, f=body.faces.numpy())
    np.save(tmp_path / "J_regressor_h36m_correct.npy", body.J_regressor_h36m.numpy())
    monkeypatch.setenv("GAITSCOPE_SMPL_DIR", str(tmp_path))
    at = _open(_app().run())
    text = _texts(at)  # SMPL found, no mesh model yet: still the administrator's set-up, nothing shown
    assert "GAITSCOPE_MESH_CHECKPOINT" not in text and "Mesh" not in [s.value for s in at.subheader]
    cfg = DSTformerConfig(name="ui-mesh", dim_feat=16, dim_rep=16, depth=1, num_heads=4, maxlen=32)
    torch.manual_seed(0)
    ckpt = save_mesh_checkpoint(tmp_path / "mesh.pt", MeshRegressor.build(cfg, body, hidden_dim=16), cfg)
    monkeypatch.setenv("GAITSCOPE_MESH_CHECKPOINT", str(ckpt))
    at.run()
    _ok(at)
    frame = at.slider(key="mesh_frame")
    assert frame.value == 0 and frame.max > 10
    frame.set_value(5).run()
    _ok(at)
    assert any("Frame 6 of" in c.value for c in at.caption)
