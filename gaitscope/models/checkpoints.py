"""Reading and writing DSTformer weights: the official MotionBERT files and our own format.

Official files (``../shared/notes/motionbert.md`` section 1.8) are ``torch.save`` dicts holding the weights under
``'model_pos'`` (pretrained and 3D-pose checkpoints, keys prefixed ``module.`` by DataParallel) or ``'model'``
(action / mesh task checkpoints, keys ``module.backbone.*`` and ``module.head.*``). We strip the prefixes, load the
backbone strictly (a missing key or a wrong shape is an error naming the key and both shapes) and treat heads
leniently: a 3D head of another shape, or a task head we do not model, is skipped and reported, as the official
fine-tuning helper does silently.

Our own format is a dict of plain tensors plus a JSON string of metadata (config, training data, metrics, format
and model version). Everything is read with ``torch.load(..., weights_only=True)``, which refuses to unpickle
arbitrary objects, so a checkpoint cannot run code on the clinic's machine.

Official files can hold non-tensor objects (numpy scalars such as ``min_loss``, optimizer state). We first try
``weights_only=True``, then again allowing only numpy's scalar/dtype constructors (data, not code). If the file
still needs more, loading stops with a :class:`CheckpointError`; ``trust_checkpoint=True`` is the explicit,
documented escape hatch that unpickles it in full (only for files from a source you trust).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from gaitscope.errors import CheckpointError
from gaitscope.models.configs import CONFIGS, DSTformerConfig
from gaitscope.models.dstformer import DSTformer

#: Identifies files written by :func:`save_checkpoint`.
FORMAT_NAME = "gaitscope-dstformer"
FORMAT_VERSION = 1

#: Keys of the 3D regression head inside the backbone state dict; heads may be skipped, the backbone may not.
HEAD_KEYS = ("head.weight", "head.bias")

_WEIGHTS_ENV = "GAITSCOPE_WEIGHTS_DIR"

log = logging.getLogger(__name__)


def default_weights_dir() -> Path:
    """Where model files are looked for: ``$GAITSCOPE_WEIGHTS_DIR`` or ``gaitscope/models/weights/``."""
    from gaitscope.settings import settings

    return settings().weights_dir or Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class LoadReport:
    """What happened while loading: which container, which keys were loaded or skipped and why."""

    path: str
    container: str  # "model_pos", "model", "state_dict" (bare), or "gaitscope"
    n_loaded: int
    skipped: tuple[tuple[str, str], ...] = ()  # (key, reason)
    info: Mapping[str, Any] = field(default_factory=dict)  # epoch, min_loss, ... (JSON-able scalars only)

    def summary(self) -> str:
        s = f"loaded {self.n_loaded} tensors from {self.path} [{self.container}]"
        if self.skipped:
            s += "; skipped: " + ", ".join(f"{k} ({why})" for k, why in self.skipped)
        return s


# ---------------------------------------------------------------------------------------------------------
# Safe reading
# ---------------------------------------------------------------------------------------------------------


def _numpy_safe_globals() -> list:
    """numpy constructors needed to rebuild pickled numpy scalars/arrays: pure data, no code paths."""
    out: list = [np.dtype, np.ndarray]
    for mod_name in ("numpy.core.multiarray", "numpy._core.multiarray"):
        try:
            mod = __import__(mod_name, fromlist=["scalar", "_reconstruct"])
        except ImportError:
            continue
        out += [getattr(mod, n) for n in ("scalar", "_reconstruct") if hasattr(mod, n)]
    # dtype classes (np.dtypes.Float64DType ...) appear in pickles written by numpy >= 1.25
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


def read_checkpoint_file(path: str | Path, trust_checkpoint: bool = False) -> Any:
    """``torch.load`` a file safely (see the module docstring); errors become :class:`CheckpointError`."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(
            f"No model checkpoint at {p}.",
            "Put the official MotionBERT file there (e.g. the pretrained 'MB_release' or 'MB_lite' "
            "latest_epoch.bin, or a 3D-pose fine-tune best_epoch.bin, from the MotionBERT README), or a checkpoint "
            f"saved by gaitscope; the default folder is {default_weights_dir()} (override with ${_WEIGHTS_ENV}).",
        )
    with p.open("rb") as fh:
        head = fh.read(4)
    if not (zipfile.is_zipfile(p) or head[:1] == b"\x80"):  # torch.save zip, or the legacy pickle format
        raise CheckpointError(
            f"The checkpoint {p} cannot be read: it is not a PyTorch file.",
            "The file is damaged or of another kind; download or copy it again.",
        )
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as first:
        try:
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            pass
        except Exception as exc:  # corrupt file found on the second pass
            raise CheckpointError(f"The checkpoint {p} cannot be read: {exc}", "Download it again.") from exc
        if not trust_checkpoint:
            raise CheckpointError(
                f"The checkpoint {p} contains Python objects other than tensors and numbers, which gaitscope does "
                f"not unpickle by default because unpickling can run code ({_unsupported_global(first)}).",
                "If the file comes from a source you trust (e.g. the official MotionBERT release), load it with "
                "trust_checkpoint=True, then re-save it with gaitscope.models.checkpoints.save_checkpoint.",
            ) from first
        return torch.load(p, map_location="cpu", weights_only=False)  # explicit opt-in, documented above
    except Exception as exc:  # zip errors, truncated files, EOF ...
        raise CheckpointError(
            f"The checkpoint {p} cannot be read ({type(exc).__name__}: {exc}).",
            "The file is damaged or not a PyTorch checkpoint; download or copy it again.",
        ) from exc


def _unsupported_global(exc: Exception) -> str:
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return f"it contains {m.group(1)}" if m else "it contains objects outside the safe list"


def _jsonable_scalars(d: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = v.item()
    return out


# ---------------------------------------------------------------------------------------------------------
# Official layout
# ---------------------------------------------------------------------------------------------------------


def extract_state_dict(obj: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], str, dict[str, Any]]:
    """Split an official (or bare) checkpoint object into ``(backbone, task_head, container, info)``.

    ``backbone`` has bare DSTformer names (``temp_embed``, ``blocks_st.0...``, ``head.weight``); ``task_head``
    holds the keys of an action/mesh head (``module.head.*`` in task checkpoints) that DSTformer does not have.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"The checkpoint holds a {type(obj).__name__}, not a dictionary of weights.",
            "Use an official MotionBERT .bin file or a checkpoint saved by gaitscope.",
        )
    if "model_pos" in obj:
        container, sd = "model_pos", obj["model_pos"]
    elif "model" in obj:
        container, sd = "model", obj["model"]
    elif "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        container, sd = "state_dict", obj["state_dict"]
    else:
        container, sd = "bare", obj
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(
            f"The checkpoint's '{container}' entry is not a dictionary of tensors.",
            "Use an official MotionBERT .bin file or a checkpoint saved by gaitscope.",
        )
    info = _jsonable_scalars({k: v for k, v in obj.items() if k not in ("model_pos", "model", "state_dict")}) \
        if container != "bare" else {}
    backbone: dict[str, torch.Tensor] = {}
    task_head: dict[str, torch.Tensor] = {}
    has_backbone_prefix = any(k.removeprefix("module.").startswith("backbone.") for k in sd)
    for key, value in sd.items():
        k = key.removeprefix("module.")
        if has_backbone_prefix:
            if k.startswith("backbone."):
                backbone[k.removeprefix("backbone.")] = value
            else:
                task_head[k] = value
        else:
            backbone[k] = value
    return backbone, task_head, container, info


def infer_config(state: Mapping[str, torch.Tensor], num_heads: int = 8) -> DSTformerConfig:
    """Rebuild the configuration from tensor shapes (head count is not visible in shapes: 8 in every release)."""
    try:
        dim_feat = int(state["pos_embed"].shape[-1])
        num_joints = int(state["pos_embed"].shape[1])
        maxlen = int(state["temp_embed"].shape[1])
        dim_in = int(state["joints_embed.weight"].shape[1])
        dim_rep = int(state["pre_logits.fc.weight"].shape[0])
        hidden = int(state["blocks_st.0.mlp_s.fc1.weight"].shape[0])
    except KeyError as exc:
        raise CheckpointError(
            f"The checkpoint lacks the DSTformer tensor {exc.args[0]!r}, so it is not a MotionBERT/DSTformer model.",
            "Use an official MotionBERT pretrained or 3D-pose checkpoint.",
        ) from None
    depth = sum(1 for k in state if k.startswith("blocks_st.") and k.endswith(".norm1_s.weight"))
    dim_out = int(state["head.weight"].shape[0]) if "head.weight" in state else 3
    kw = dict(
        dim_in=dim_in, dim_out=dim_out, dim_feat=dim_feat, dim_rep=dim_rep, depth=depth, num_heads=num_heads,
        mlp_ratio=hidden / dim_feat, num_joints=num_joints, maxlen=maxlen,
        qkv_bias="blocks_st.0.attn_s.qkv.bias" in state, att_fuse="ts_attn.0.weight" in state,
    )
    for cfg in CONFIGS.values():
        if cfg.model_kwargs() == kw:
            return cfg
    return DSTformerConfig(name="custom", **kw)


def load_into(
    model: DSTformer, backbone: Mapping[str, torch.Tensor], task_head: Mapping[str, torch.Tensor] | None = None
) -> tuple[int, list[tuple[str, str]]]:
    """Copy ``backbone`` into ``model``: strict for the backbone, lenient (skip + report) for heads.

    Raises :class:`CheckpointError` naming the first offending keys with expected vs found shapes.
    Returns ``(n_loaded, skipped)``.
    """
    expected = model.state_dict()
    skipped: list[tuple[str, str]] = []
    missing = [k for k in expected if k not in backbone and k not in HEAD_KEYS]
    unexpected = [k for k in backbone if k not in expected]
    wrong = [
        (k, tuple(expected[k].shape), tuple(backbone[k].shape))
        for k in expected
        if k in backbone and k not in HEAD_KEYS and backbone[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing key(s): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected key(s): {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
    if wrong:
        problems.append(
            "shape mismatch: "
            + "; ".join(f"{k} expected {list(e)} but the checkpoint has {list(f)}" for k, e, f in wrong[:5])
        )
    if problems:
        raise CheckpointError(
            "The checkpoint does not match the DSTformer backbone (" + " | ".join(problems) + ").",
            "Check that the model configuration (motionbert / motionbert-lite / small) matches the file.",
        )
    to_load = {k: v for k, v in backbone.items() if k not in HEAD_KEYS}
    for k in HEAD_KEYS:
        if k not in backbone:
            skipped.append((k, "not in checkpoint; kept the model's initial values"))
        elif backbone[k].shape != expected[k].shape:
            skipped.append((k, f"shape {list(backbone[k].shape)} != model {list(expected[k].shape)}"))
        else:
            to_load[k] = backbone[k]
    for k in (task_head or {}):
        skipped.append((k, "task head (action/mesh) not part of DSTformer"))
    result = model.load_state_dict(to_load, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys  # checked above
    return len(to_load), skipped


# ---------------------------------------------------------------------------------------------------------
# Our format
# ---------------------------------------------------------------------------------------------------------


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    config: DSTformerConfig,
    metadata: Mapping[str, Any] | None = None,
    extra_state: Mapping[str, Any] | None = None,
    *,
    format_name: str = FORMAT_NAME,
    format_version: int = FORMAT_VERSION,
) -> Path:
    """Write ``model`` with its config and JSON-able ``metadata`` (training data, metrics, model_version...).

    ``format_name`` / ``format_version`` tag what the file holds (the lifter by default; the task models of
    :mod:`gaitscope.models.action` and :mod:`gaitscope.models.mesh` write their own tags with this function).

    ``extra_state`` may hold further tensors or nested dicts/lists of tensors and numbers (optimizer state for
    resuming); it must stay loadable with ``weights_only=True``. The write is atomic (temp file + rename) so a
    crash mid-save never leaves a half-written checkpoint behind.
    """
    meta = dict(metadata or {})
    meta.setdefault("model_version", "unversioned")
    meta["config"] = config.to_dict()
    try:
        meta_json = json.dumps(meta, sort_keys=True)
    except TypeError as exc:
        raise CheckpointError(f"Checkpoint metadata must be JSON-serialisable: {exc}") from exc
    payload = {
        "format": format_name,
        "format_version": format_version,
        "metadata_json": meta_json,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    if extra_state:
        payload["extra_state"] = dict(extra_state)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, p)
    return p


def is_gaitscope_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT_NAME


@dataclass
class LoadedModel:
    """A model built from a checkpoint with everything known about it."""

    model: DSTformer
    config: DSTformerConfig
    metadata: dict[str, Any]
    report: LoadReport
    extra_state: dict[str, Any] | None = None


def load_checkpoint(
    path: str | Path,
    config: str | DSTformerConfig | None = None,
    num_heads: int = 8,
    trust_checkpoint: bool = False,
) -> LoadedModel:
    """Build a DSTformer from an official MotionBERT file or one of ours.

    ``config``: for official files the configuration is inferred from tensor shapes (head count ``num_heads``);
    pass one to insist on it (a mismatch then raises :class:`CheckpointError` naming key and shapes).
    """
    from gaitscope.models.configs import get_config

    obj = read_checkpoint_file(path, trust_checkpoint=trust_checkpoint)
    if is_gaitscope_checkpoint(obj):
        if int(obj.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(
                f"The checkpoint {path} was written by a newer gaitscope (format {obj['format_version']}).",
                "Update gaitscope to read it.",
            )
        meta = json.loads(obj["metadata_json"])
        cfg = DSTformerConfig.from_dict(meta["config"]) if config is None else get_config(config)
        model = DSTformer(**cfg.model_kwargs())
        n, skipped = load_into(model, obj["state_dict"])
        report = LoadReport(str(path), "gaitscope", n, tuple(skipped), {"format_version": obj["format_version"]})
        return LoadedModel(model, cfg, meta, report, obj.get("extra_state"))
    backbone, task_head, container, info = extract_state_dict(obj)
    cfg = infer_config(backbone, num_heads=num_heads) if config is None else get_config(config)
    model = DSTformer(**cfg.model_kwargs())
    n, skipped = load_into(model, backbone, task_head)
    report = LoadReport(str(path), container, n, tuple(skipped), info)
    if skipped:
        log.warning("%s", report.summary())
    meta = {
        "model_version": f"official:{Path(path).parent.name or Path(path).stem}",
        "training_data": "MotionBERT official release (Human3.6M, AMASS, PoseTrack, InstaVariety; research-only terms)",
        "source_file": str(path),
        "official_info": info,
    }
    return LoadedModel(model, cfg, meta, report)


def convert_official_checkpoint(
    src: str | Path,
    dst: str | Path,
    model_version: str,
    trust_checkpoint: bool = False,
    training_data: str | None = None,
) -> Path:
    """Re-save an official MotionBERT file in our safe format (weights + JSON metadata only).

    Run once with ``trust_checkpoint=True`` on a file you downloaded from the official release if it holds
    pickled objects; afterwards the platform loads the converted file with ``weights_only=True`` only.
    """
    loaded = load_checkpoint(src, trust_checkpoint=trust_checkpoint)
    meta = dict(loaded.metadata)
    meta["model_version"] = model_version
    if training_data:
        meta["training_data"] = training_data
    meta["converted_from"] = str(src)
    meta["load_report"] = loaded.report.summary()
    return save_checkpoint(dst, loaded.model, loaded.config, meta)
