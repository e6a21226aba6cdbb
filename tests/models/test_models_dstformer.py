"""DSTformer architecture: shapes, exact official layout and parameter counts, parity with a reference forward."""

from __future__ import annotations

import math

import pytest
import torch

from gaitscope.models.configs import CONFIGS, DSTformerConfig, get_config
from gaitscope.models.dstformer import DSTformer, count_parameters


def build(cfg: DSTformerConfig, seed: int = 0) -> DSTformer:
    torch.manual_seed(seed)
    return DSTformer(**cfg.model_kwargs()).eval()


@pytest.mark.parametrize(
    "name, n_params", [("motionbert", 42_466_317), ("motionbert-lite", 16_001_549)]
)
def test_published_configs_have_official_parameter_count_and_layout(name, n_params):
    model = build(get_config(name))
    assert count_parameters(model) == n_params
    sd = model.state_dict()
    assert len(sd) == 260  # notes section 1.8; no buffers
    c = get_config(name).dim_feat
    keys = list(sd)
    assert keys[:4] == ["temp_embed", "pos_embed", "joints_embed.weight", "joints_embed.bias"]
    assert sd["temp_embed"].shape == (1, 243, 1, c)
    assert sd["pos_embed"].shape == (1, 17, c)
    # proj is registered before qkv, in both attention modules of every block
    assert keys.index("blocks_st.0.attn_s.proj.weight") < keys.index("blocks_st.0.attn_s.qkv.weight")
    assert sd["blocks_ts.4.attn_t.qkv.weight"].shape == (3 * c, c)
    assert sd["blocks_st.2.mlp_t.fc1.weight"].shape == (1024, c)
    assert sd["pre_logits.fc.weight"].shape == (512, c)
    assert sd["head.weight"].shape == (3, 512)
    fusion = [f"ts_attn.{i}.{p}" for i in range(5) for p in ("weight", "bias")]
    assert [k for k in keys if k.startswith("ts_attn")] == fusion
    assert sd["ts_attn.0.weight"].shape == (2, 2 * c)
    block_names = {k.split(".", 2)[2] for k in keys if k.startswith("blocks_st.0.")}
    assert block_names == {k.split(".", 2)[2] for k in keys if k.startswith("blocks_ts.0.")}
    assert len(block_names) == 24


@pytest.mark.parametrize("name", ["motionbert", "motionbert-lite"])
def test_published_configs_forward_shapes(name):
    model = build(get_config(name))
    x = torch.randn(1, 3, 17, 3)
    with torch.inference_mode():
        assert model(x).shape == (1, 3, 17, 3)
        assert model.get_representation(x).shape == (1, 3, 17, 512)


def test_small_config_shapes_and_any_length(tiny_config):
    small = build(get_config("small"))
    with torch.inference_mode():
        assert small(torch.randn(2, 5, 17, 3)).shape == (2, 5, 17, 3)
        rep = small(torch.randn(1, 4, 17, 3), return_rep=True)
    assert rep.shape == (1, 4, 17, 512)
    assert rep.abs().max() < 1.0  # Tanh pre-logits
    tiny = build(tiny_config)
    with torch.inference_mode():
        for f in (1, 2, 17, tiny_config.maxlen):
            assert tiny(torch.randn(1, f, 17, 3)).shape == (1, f, 17, 3)
    with pytest.raises(ValueError, match="outside 1..64"):
        tiny(torch.randn(1, tiny_config.maxlen + 1, 17, 3))
    with pytest.raises(ValueError, match=r"\(B, F, 17, 3\)"):
        tiny(torch.randn(1, 4, 16, 3))


def test_initialisation_and_layer_details(tiny_config):
    model = build(tiny_config)
    for lin in model.ts_attn:
        assert torch.all(lin.weight == 0) and torch.all(lin.bias == 0.5)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.eps == 1e-6 for m in norms)
    gelus = [m for m in model.modules() if isinstance(m, torch.nn.GELU)]
    assert gelus and all(m.approximate == "none" for m in gelus)
    assert isinstance(model.pre_logits.act, torch.nn.Tanh)
    assert set(CONFIGS) == {"motionbert", "motionbert-lite", "small"}


# --------------------------------------------------------------------------------------------------------------
# Reference forward written straight from the notes (section 1.3-1.5) with explicit einsums on the state dict.
# --------------------------------------------------------------------------------------------------------------


def _ln(x, sd, name):
    return torch.nn.functional.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-6)


def _lin(x, sd, name):
    return x @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]


def _mhsa(x, sd, name, heads, temporal):
    # x: (B, F, J, C)
    b, f, j, c = x.shape
    d = c // heads
    qkv = _lin(x, sd, f"{name}.qkv")
    q, k, v = (qkv[..., i * c : (i + 1) * c].reshape(b, f, j, heads, d) for i in range(3))
    if temporal:  # every joint attends over frames
        att = torch.einsum("bfjhd,bgjhd->bjhfg", q, k) / math.sqrt(d)
        out = torch.einsum("bjhfg,bgjhd->bfjhd", att.softmax(-1), v)
    else:  # every frame attends over joints
        att = torch.einsum("bfjhd,bfkhd->bfhjk", q, k) / math.sqrt(d)
        out = torch.einsum("bfhjk,bfkhd->bfjhd", att.softmax(-1), v)
    return _lin(out.reshape(b, f, j, c), sd, f"{name}.proj")


def _mlp(x, sd, name):
    return _lin(torch.nn.functional.gelu(_lin(x, sd, f"{name}.fc1")), sd, f"{name}.fc2")


def _half(x, sd, p, kind, heads):
    x = x + _mhsa(_ln(x, sd, f"{p}.norm1_{kind}"), sd, f"{p}.attn_{kind}", heads, temporal=kind == "t")
    return x + _mlp(_ln(x, sd, f"{p}.norm2_{kind}"), sd, f"{p}.mlp_{kind}")


def reference_forward(sd, x, depth, heads):
    f = x.shape[1]
    h = _lin(x, sd, "joints_embed") + sd["pos_embed"][:, None] + sd["temp_embed"][:, :f]
    for i in range(depth):
        st = _half(_half(h, sd, f"blocks_st.{i}", "s", heads), sd, f"blocks_st.{i}", "t", heads)
        ts = _half(_half(h, sd, f"blocks_ts.{i}", "t", heads), sd, f"blocks_ts.{i}", "s", heads)
        a = _lin(torch.cat([st, ts], -1), sd, f"ts_attn.{i}").softmax(-1)
        h = a[..., :1] * st + a[..., 1:] * ts
    rep = torch.tanh(_lin(_ln(h, sd, "norm"), sd, "pre_logits.fc"))
    return _lin(rep, sd, "head"), rep


def test_matches_reference_forward(tiny_config):
    model = build(tiny_config, seed=3)
    sd = {k: v.double() for k, v in model.state_dict().items()}
    # Random, non-trivial fusion weights so both streams and the softmax matter.
    for i in range(tiny_config.depth):
        sd[f"ts_attn.{i}.weight"] = torch.randn_like(sd[f"ts_attn.{i}.weight"])
    model.load_state_dict({k: v.float() for k, v in sd.items()})
    x = torch.randn(2, 11, 17, 3, dtype=torch.float64)
    with torch.inference_mode():
        ours = model.double()(x)
        ours_rep = model.get_representation(x)
    ref, ref_rep = reference_forward(sd, x, tiny_config.depth, tiny_config.num_heads)
    assert torch.allclose(ours, ref, atol=1e-10), (ours - ref).abs().max()
    assert torch.allclose(ours_rep, ref_rep, atol=1e-10)


def test_batch_items_are_independent(tiny_config):
    """The temporal regrouping must keep (batch, frame) order: item 0 may not see item 1's frames."""
    model = build(tiny_config)
    x = torch.randn(2, 9, 17, 3)
    x2 = x.clone()
    x2[1] = torch.randn(9, 17, 3)
    with torch.inference_mode():
        assert torch.allclose(model(x)[0], model(x2)[0], atol=1e-6)
        assert not torch.allclose(model(x)[1], model(x2)[1], atol=1e-3)


def _random_fusion(model: DSTformer, depth: int) -> dict:
    sd = {k: v.double() for k, v in model.state_dict().items()}
    for i in range(depth):
        sd[f"ts_attn.{i}.weight"] = torch.randn_like(sd[f"ts_attn.{i}.weight"])
        sd[f"ts_attn.{i}.bias"] = torch.randn_like(sd[f"ts_attn.{i}.bias"])
    return sd


def test_published_layout_matches_reference_in_float64():
    """The copy-free attention layout (separate q/k/v views, fusion without concatenation) computes exactly the
    textbook function at the published width and head count: <= 1e-9 in float64 (the issue's parity bound)."""
    cfg = get_config("motionbert-lite")
    torch.manual_seed(5)
    model = DSTformer(**{**cfg.model_kwargs(), "depth": 2}).eval().double()
    sd = _random_fusion(model, 2)
    model.load_state_dict(sd, strict=True)  # into float64 parameters: no rounding to float32 on the way
    x = torch.randn(2, 19, 17, 3, dtype=torch.float64)
    with torch.inference_mode():
        ours = model(x)
    ref, _ = reference_forward(sd, x, 2, cfg.num_heads)
    assert (ours - ref).abs().max() <= 1e-9


def test_matches_official_code_in_float64_when_available(tiny_config):
    """Against the official MotionBERT ``lib/model/DSTformer.py`` when a checkout is named (not bundled)."""
    import os
    import sys
    from functools import partial

    repo = os.environ.get("GAITSCOPE_OFFICIAL_MOTIONBERT")
    if not repo:
        pytest.skip("set GAITSCOPE_OFFICIAL_MOTIONBERT to a MotionBERT checkout to compare with the official code")
    sys.path.insert(0, repo)
    try:
        from lib.model.DSTformer import DSTformer as Official  # type: ignore[import-not-found]
    finally:
        sys.path.remove(repo)
    c = tiny_config
    official = Official(dim_in=3, dim_out=3, dim_feat=c.dim_feat, dim_rep=c.dim_rep, depth=c.depth,
                        num_heads=c.num_heads, mlp_ratio=c.mlp_ratio, maxlen=c.maxlen, num_joints=17,
                        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)).double().eval()
    ours = build(c).double()
    sd = _random_fusion(official, c.depth)
    official.load_state_dict(sd, strict=True)
    ours.load_state_dict(sd, strict=True)
    x = torch.randn(2, 23, 17, 3, dtype=torch.float64)
    with torch.inference_mode():
        assert (ours(x) - official(x)).abs().max() <= 1e-9
