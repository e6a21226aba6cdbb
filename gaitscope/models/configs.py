"""DSTformer configurations.

The two published sizes come from MotionBERT's pretraining configs (Zhu et al., ICCV 2023; see
``../shared/notes/motionbert.md`` section 1.2). ``small`` is ours: a model that trains in minutes and runs far
faster than real time on two CPU cores, for tests, CI and the synthetic-data experiments.

Why ``small`` looks the way it does:

* ``dim_feat`` 128 with 8 heads (head width 16) and ``depth`` 4: about 1/20 of MB-Lite's multiply-adds, so a
  243-frame clip runs in well under a second on two cores (measured in ``benchmarks/dstformer.py``) while
  keeping both streams and the adaptive fusion, so it exercises every code path of the big models.
* ``maxlen`` 243 like the published models: the same windowing code and clip length serve every config, and the
  temporal embedding is only 243 x 128 numbers.
* ``dim_rep`` 512 like the published models: embeddings keep the width the downstream heads expect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from gaitscope.errors import CheckpointError


@dataclass(frozen=True)
class DSTformerConfig:
    """Hyper-parameters of one DSTformer; ``DSTformer(**cfg.model_kwargs())`` builds it."""

    name: str
    dim_in: int = 3
    dim_out: int = 3
    dim_feat: int = 512
    dim_rep: int = 512
    depth: int = 5
    num_heads: int = 8
    mlp_ratio: float = 2.0
    num_joints: int = 17
    maxlen: int = 243
    qkv_bias: bool = True
    att_fuse: bool = True

    def __post_init__(self) -> None:
        if self.dim_feat % self.num_heads:
            raise ValueError(f"dim_feat {self.dim_feat} is not divisible by num_heads {self.num_heads}")

    def model_kwargs(self) -> dict:
        """Constructor arguments of :class:`gaitscope.models.dstformer.DSTformer` (everything but ``name``)."""
        d = asdict(self)
        d.pop("name")
        return d

    def to_dict(self) -> dict:
        """JSON-able form, stored in our checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DSTformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CheckpointError(
                f"The checkpoint's model configuration has fields this version does not know: {sorted(unknown)}.",
                "Update gaitscope, or re-save the checkpoint with this version.",
            )
        return cls(**d)


CONFIGS: dict[str, DSTformerConfig] = {
    # configs/pretrain/MB_pretrain.yaml: 42,466,317 parameters.
    "motionbert": DSTformerConfig(name="motionbert", dim_feat=512, mlp_ratio=2.0),
    # configs/pretrain/MB_lite.yaml: 16,001,549 parameters.
    "motionbert-lite": DSTformerConfig(name="motionbert-lite", dim_feat=256, mlp_ratio=4.0),
    # Ours, see the module docstring.
    "small": DSTformerConfig(name="small", dim_feat=128, depth=4, num_heads=8, mlp_ratio=2.0),
}


def get_config(config: str | DSTformerConfig) -> DSTformerConfig:
    """Look a configuration up by name (``motionbert``, ``motionbert-lite``, ``small``) or pass one through."""
    if isinstance(config, DSTformerConfig):
        return config
    try:
        return CONFIGS[config]
    except KeyError:
        raise ValueError(f"unknown DSTformer config {config!r}; known: {sorted(CONFIGS)}") from None
