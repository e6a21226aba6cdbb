"""Classifier heads on motion features, with the scikit-learn estimator API.

Three heads, from cheapest to most expensive, as in the clinical benchmark of Adeli et al. (FG 2024; MotionBERT
notes section 8), where a frozen encoder with a small head is the protocol and end-to-end fine-tuning the
upper bound:

* :class:`LinearProbe`: standardised features -> class-balanced multinomial logistic regression. The
  standard "linear probe" of representation learning; with few subjects it is also the hardest to overfit.
* :class:`MLPHead`: standardised features -> 1-2 hidden layers (ReLU, dropout) -> logits, trained in torch with
  class-weighted cross-entropy on frozen features.
* :class:`FinetuneClassifier`: a DSTformer encoder plus :class:`~gaitscope.models.heads.ClassificationHead`,
  trained end to end on normalised 2D clips ``(N, F, 17, 3)`` with the shared training loop
  (:func:`gaitscope.models.training.train`), the backbone at a smaller learning rate.

Every head imputes missing features (NaN: a parameter the analysis could not measure) with the training
median, so one unmeasurable parameter does not make a whole analysis unclassifiable.

Persistence without pickle: :func:`head_to_bytes` / :func:`head_from_bytes` write an ``.npz`` holding only
numeric arrays and one JSON string (class name, parameters, classes), read back with ``allow_pickle=False``.
A registry blob therefore cannot execute code when loaded.

``sklearn.utils.estimator_checks.check_estimator`` passes for :class:`LinearProbe` and :class:`MLPHead`.
:class:`FinetuneClassifier` takes 4-D clips, not a 2-D feature matrix, so the generic checks (which feed 2-D
arrays) do not apply to it; it keeps the API contract (parameters only stored in ``__init__``, learned state in
trailing-underscore attributes, ``fit``/``predict``/``predict_proba``/``score``) and is tested directly.
"""

from __future__ import annotations

import io
import json
import tempfile
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

HEAD_FORMAT = "gaitscope-head"
HEAD_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------------------------------------


def _class_weights(y_idx: np.ndarray, n_classes: int, class_weight: str | dict | None, classes: np.ndarray) -> np.ndarray:
    """Per-class loss weights: 'balanced' = n / (k * count_c) (sklearn's definition), a dict, or ones."""
    if class_weight is None:
        return np.ones(n_classes)
    if class_weight == "balanced":
        counts = np.bincount(y_idx, minlength=n_classes).astype(float)
        return len(y_idx) / (n_classes * np.maximum(counts, 1.0))
    if isinstance(class_weight, dict):
        return np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])
    raise ValueError(f"class_weight must be 'balanced', a dict or None, got {class_weight!r}")


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _FeatureHead(ClassifierMixin, BaseEstimator):
    """Base of the heads on a 2-D feature matrix: validation, imputation, standardisation, predict."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # -- fitting helpers --------------------------------------------------------------------------------------

    def _prepare_fit(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to train, but y holds only one class "
                f"({self.classes_[0]!r}); add samples of the other classes."
            )
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: median NaN, replaced below
                fill = np.nanmedian(X, axis=0)
        self.fill_ = np.where(np.isfinite(fill), fill, 0.0)
        Xf = np.where(np.isnan(X), self.fill_, X)
        self.mean_ = Xf.mean(axis=0)
        sd = Xf.std(axis=0)
        self.scale_ = np.where(sd > 1e-12, sd, 1.0)
        return (Xf - self.mean_) / self.scale_, y_idx

    def _transform(self, X) -> np.ndarray:
        check_is_fitted(self, "classes_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        Xf = np.where(np.isnan(X), self.fill_, X)
        return (Xf - self.mean_) / self.scale_

    # -- prediction ---------------------------------------------------------------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """Logits ``(n, n_classes)``; for two classes the logit of the second class, ``(n,)`` (sklearn's rule)."""
        z = self._logits(self._transform(X))
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X) -> np.ndarray:
        return _softmax(self._logits(self._transform(X)))

    def predict(self, X) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    # -- persistence --------------------------------------------------------------------------------------------

    _STATE = ("fill_", "mean_", "scale_")

    def _get_state(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(getattr(self, k)) for k in self._STATE}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        for k in self._STATE:
            setattr(self, k, arrays[k])
        self.n_features_in_ = int(self.mean_.shape[0])


# ---------------------------------------------------------------------------------------------------------
# Linear probe
# ---------------------------------------------------------------------------------------------------------


class LinearProbe(_FeatureHead):
    """Standardise, then multinomial logistic regression with balanced class weights.

    ``C`` is the inverse L2 strength (sklearn's convention): the default 0.1 suits hundreds of embedding
    dimensions with tens of subjects.
    """

    _STATE = _FeatureHead._STATE + ("coef_", "intercept_")

    def __init__(self, C: float = 0.1, class_weight: str | dict | None = "balanced", max_iter: int = 2000):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(self, X, y) -> LinearProbe:
        Xs, y_idx = self._prepare_fit(X, y)
        w = _class_weights(y_idx, len(self.classes_), self.class_weight, self.classes_)
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        lr.fit(Xs, y_idx, sample_weight=w[y_idx])
        coef, intercept = lr.coef_, lr.intercept_
        if coef.shape[0] == 1:  # binary: sklearn keeps one row; make it a two-logit softmax
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        self.coef_, self.intercept_ = coef.astype(np.float64), intercept.astype(np.float64)
        self.n_iter_ = np.asarray(lr.n_iter_)
        return self

    def _logits(self, Xs: np.ndarray) -> np.ndarray:
        return Xs @ self.coef_.T + self.intercept_


# ---------------------------------------------------------------------------------------------------------
# MLP head (torch)
# ---------------------------------------------------------------------------------------------------------


def _build_mlp(n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [torch.nn.Linear(width, int(h)), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
        width = int(h)
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


class MLPHead(_FeatureHead):
    """Standardise, then a small MLP (``hidden_layer_sizes``: 1-2 layers) trained with class-weighted CE.

    Full-batch AdamW for ``max_epochs`` epochs (mini-batches of ``batch_size`` when given). Deterministic in
    ``random_state`` and independent of the caller's torch random stream. The defaults are strongly regularised
    (dropout 0.5, weight decay 0.05): with tens of subjects an MLP otherwise becomes over-confident (Brier and
    ECE worse than the linear probe's on the synthetic cohort) without ranking any better.
    """

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (64,),
        dropout: float = 0.5,
        lr: float = 3e-3,
        weight_decay: float = 0.05,
        max_epochs: int = 150,
        batch_size: int | None = None,
        class_weight: str | dict | None = "balanced",
        random_state: int = 0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.class_weight = class_weight
        self.random_state = random_state

    def _hidden(self) -> tuple[int, ...]:
        hidden = tuple(int(h) for h in (self.hidden_layer_sizes or ()))
        if len(hidden) > 2 or any(h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be 0-2 positive widths, got {self.hidden_layer_sizes!r}")
        return hidden

    def fit(self, X, y) -> MLPHead:
        Xs, y_idx = self._prepare_fit(X, y)
        hidden = self._hidden()
        k = len(self.classes_)
        w = _class_weights(y_idx, k, self.class_weight, self.classes_)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            net = _build_mlp(Xs.shape[1], hidden, k, float(self.dropout))
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            xt = torch.as_tensor(Xs, dtype=torch.float32)
            yt = torch.as_tensor(y_idx, dtype=torch.long)
            wt = torch.as_tensor(w, dtype=torch.float32)
            n = len(yt)
            bs = n if not self.batch_size else min(int(self.batch_size), n)
            net.train()
            for _ in range(int(self.max_epochs)):
                order = torch.randperm(n) if bs < n else torch.arange(n)
                for s in range(0, n, bs):
                    idx = order[s : s + bs]
                    loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx], weight=wt)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            net.eval()
        self.weights_ = [p.detach().numpy().astype(np.float64).copy() for p in net.state_dict().values()]
        self.loss_ = float(loss.detach())
        return self

    def _net(self) -> torch.nn.Sequential:
        # float64 at inference: float32 matmuls differ in the last bits with the batch size, and a prediction
        # must not depend on which other analyses were scored in the same call
        net = _build_mlp(self.n_features_in_, self._hidden(), len(self.classes_), 0.0).double()
        keys = list(net.state_dict())
        net.load_state_dict({k: torch.as_tensor(v, dtype=torch.float64) for k, v in zip(keys, self.weights_)})
        return net.eval()

    def _logits(self, Xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._net()(torch.as_tensor(Xs, dtype=torch.float64)).numpy()

    def _get_state(self) -> dict[str, np.ndarray]:
        out = super()._get_state()
        out.update({f"weights_{i}": w for i, w in enumerate(self.weights_)})
        return out

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_state(arrays)
        n = sum(1 for k in arrays if k.startswith("weights_"))
        self.weights_ = [arrays[f"weights_{i}"] for i in range(n)]


# ---------------------------------------------------------------------------------------------------------
# End-to-end fine-tuning
# ---------------------------------------------------------------------------------------------------------


class FinetuneClassifier(ClassifierMixin, BaseEstimator):
    """DSTformer encoder + classification head, fine-tuned end to end on clips ``X`` of shape ``(N, F, 17, 3)``.

    ``X`` holds normalised 2D keypoints + confidence exactly as the lifter sees them
    (:func:`gaitscope.models.preprocess.normalise_keypoints`), all clips of one length ``F <= maxlen``.
    The encoder starts from ``checkpoint`` (an official MotionBERT or gaitscope file) or, without one, from a
    random ``config`` (``"small"`` trains on a CPU; a :class:`DSTformerConfig` is accepted too). The backbone
    learns at ``lr * backbone_lr_mult``. Training runs :func:`gaitscope.models.training.train` for ``steps``
    optimizer steps in a temporary folder (no files are left behind).
    """

    def __init__(
        self,
        config: Any = "small",
        checkpoint: str | None = None,
        hidden_layer_sizes: tuple[int, ...] = (),
        dropout: float = 0.1,
        steps: int = 200,
        batch_size: int = 8,
        lr: float = 5e-4,
        backbone_lr_mult: float = 0.1,
        weight_decay: float = 0.01,
        class_weight: str | dict | None = "balanced",
        random_state: int = 0,
        device: str | None = None,
    ):
        self.config = config
        self.checkpoint = checkpoint
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.backbone_lr_mult = backbone_lr_mult
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device

    @staticmethod
    def _check_clips(X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 4 or X.shape[2:] != (17, 3):
            raise ValueError(
                f"FinetuneClassifier takes normalised 2D clips of shape (N, F, 17, 3), got an array of shape "
                f"{X.shape}; build them with gaitscope.training.classify (or preprocess.normalise_keypoints)."
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("the clips contain NaN or infinite values; write missing joints as all-zero rows")
        return X

    def _backbone(self):
        from gaitscope.models.checkpoints import load_checkpoint
        from gaitscope.models.configs import get_config
        from gaitscope.models.dstformer import DSTformer

        if self.checkpoint:
            loaded = load_checkpoint(self.checkpoint)
            return loaded.model, loaded.config
        cfg = get_config(self.config)
        return DSTformer(**cfg.model_kwargs()), cfg

    def _model(self, backbone, cfg, n_classes: int):
        from gaitscope.models.heads import ClassificationHead, EncoderClassifier

        head = ClassificationHead(cfg.dim_rep, n_classes, cfg.num_joints, pooling="mean",
                                  hidden=tuple(int(h) for h in self.hidden_layer_sizes), dropout=float(self.dropout))
        return EncoderClassifier(backbone, head, freeze_backbone=False)

    def fit(self, X, y) -> FinetuneClassifier:
        from gaitscope.models.datasets import TensorClipDataset
        from gaitscope.models.training import (
            ClassificationObjective,
            TrainConfig,
            train,
        )

        X = self._check_clips(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per clip ({len(X)}), got shape {y.shape}")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"FinetuneClassifier needs at least 2 classes to train, got only {self.classes_[0]!r}")
        w = _class_weights(y_idx, len(self.classes_), self.class_weight, self.classes_)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.random_state))
            backbone, cfg = self._backbone()
            model = self._model(backbone, cfg, len(self.classes_))
            tcfg = TrainConfig(steps=int(self.steps), batch_size=int(self.batch_size), lr=float(self.lr),
                               weight_decay=float(self.weight_decay), backbone_lr_mult=float(self.backbone_lr_mult),
                               warmup_steps=min(10, int(self.steps) // 10), ckpt_every=10**9,
                               seed=int(self.random_state), progress=False)
            with tempfile.TemporaryDirectory(prefix="gaitscope-finetune-") as tmp:
                res = train(model, TensorClipDataset(X, y_idx), ClassificationObjective(tuple(float(v) for v in w)),
                            tcfg, tmp, device=self.device, resume=False)
        model.eval().cpu()
        self.config_ = cfg.to_dict()
        self.model_ = model
        self.loss_ = float(res.last_loss)
        self.n_features_in_ = int(X.shape[2] * X.shape[3])
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._check_clips(X)
        out = []
        with torch.inference_mode():
            for s in range(0, len(X), 16):
                out.append(torch.softmax(self.model_(torch.as_tensor(X[s : s + 16])).float(), dim=-1).numpy())
        return np.concatenate(out).astype(np.float64)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _get_state(self) -> dict[str, np.ndarray]:
        return {f"model.{k}": v.detach().cpu().numpy() for k, v in self.model_.state_dict().items()}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        from gaitscope.models.configs import DSTformerConfig
        from gaitscope.models.dstformer import DSTformer

        cfg = DSTformerConfig.from_dict(self.config_)
        model = self._model(DSTformer(**cfg.model_kwargs()), cfg, len(self.classes_))
        state = {k[len("model."):]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("model.")}
        model.load_state_dict(state, strict=True)
        self.model_ = model.eval()
        self.n_features_in_ = 17 * 3


# ---------------------------------------------------------------------------------------------------------
# Persistence (npz + JSON, no pickle)
# ---------------------------------------------------------------------------------------------------------

HEAD_TYPES: dict[str, type] = {"LinearProbe": LinearProbe, "MLPHead": MLPHead, "FinetuneClassifier": FinetuneClassifier}


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if hasattr(v, "to_dict"):  # DSTformerConfig
            v = {"__config__": v.to_dict()}
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    json.dumps(out)  # fail here, naming nothing obscure, if a parameter is not JSON-able
    return out


def _params_from_json(cls: type, params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if isinstance(v, dict) and "__config__" in v:
            from gaitscope.models.configs import DSTformerConfig

            v = DSTformerConfig.from_dict(v["__config__"])
        elif k == "hidden_layer_sizes" and isinstance(v, list):
            v = tuple(v)
        out[k] = v
    return out


def head_to_bytes(head: BaseEstimator, extra: dict[str, Any] | None = None) -> bytes:
    """Serialise a fitted head as ``.npz`` bytes: numeric arrays + one JSON header. ``extra`` (JSON-able) is
    stored in the header too (the platform keeps the feature set and class names there)."""
    name = type(head).__name__
    if name not in HEAD_TYPES:
        raise TypeError(f"cannot serialise {name}; known heads: {sorted(HEAD_TYPES)}")
    check_is_fitted(head, "classes_")
    classes = np.asarray(head.classes_)
    meta = {
        "format": HEAD_FORMAT,
        "format_version": HEAD_FORMAT_VERSION,
        "type": name,
        "params": _jsonable_params(head.get_params(deep=False)),
        "classes": classes.tolist(),
        "classes_kind": classes.dtype.kind,
        "n_features_in": int(getattr(head, "n_features_in_", 0)),
        "config": getattr(head, "config_", None),
        "extra": extra or {},
    }
    arrays = head._get_state()
    bad = [k for k, v in arrays.items() if np.asarray(v).dtype.kind not in "biuf"]
    if bad:
        raise TypeError(f"head state arrays must be numeric, got non-numeric {bad}")
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.array(json.dumps(meta)), **{f"a.{k}": np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def read_head_meta(blob: bytes) -> dict[str, Any]:
    """The JSON header of a serialised head (type, parameters, classes, extra) without building the head."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
    if meta.get("format") != HEAD_FORMAT:
        raise ValueError("this blob is not a gaitscope classifier head")
    return meta


def head_from_bytes(blob: bytes) -> BaseEstimator:
    """Inverse of :func:`head_to_bytes` (``np.load(..., allow_pickle=False)``: never runs code from the blob)."""
    try:
        z = np.load(io.BytesIO(blob), allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"the classifier blob cannot be read as npz: {exc}") from exc
    with z:
        meta = json.loads(str(z["__meta__"]))
        if meta.get("format") != HEAD_FORMAT:
            raise ValueError("this blob is not a gaitscope classifier head")
        if int(meta.get("format_version", 0)) > HEAD_FORMAT_VERSION:
            raise ValueError(f"the head was saved by a newer gaitscope (format {meta['format_version']}); update")
        cls = HEAD_TYPES.get(meta["type"])
        if cls is None:
            raise ValueError(f"unknown head type {meta['type']!r}")
        arrays = {k[2:]: z[k] for k in z.files if k.startswith("a.")}
    head = cls(**_params_from_json(cls, meta["params"]))
    kind = meta.get("classes_kind", "U")
    head.classes_ = np.asarray(meta["classes"]).astype(kind if kind in "biuf" else str)
    if meta.get("config") is not None:
        head.config_ = meta["config"]
    head._set_state(arrays)
    return head


def make_head(kind: str, **params: Any) -> BaseEstimator:
    """A head by short name: ``linear``, ``mlp`` or ``finetune``."""
    table = {"linear": LinearProbe, "mlp": MLPHead, "finetune": FinetuneClassifier}
    if kind not in table:
        raise ValueError(f"unknown head {kind!r}; use one of {', '.join(table)}")
    return table[kind](**params)
