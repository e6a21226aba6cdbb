"""SMPL body model: reading the user's model files and the linear-blend-skinning forward pass.

SMPL (Loper et al., "SMPL: A Skinned Multi-Person Linear Model", SIGGRAPH Asia 2015) maps 72 pose numbers (24
joint rotations, axis-angle, relative to the parent joint) and 10 shape coefficients (betas) to a 6890-vertex mesh:

1. shaped template ``v = T + S beta`` (shape blend shapes), rest joints ``J = R_J v`` (joint regressor);
2. pose-corrective offsets ``v += P (vec(R_1..R_23) - vec(I))`` (pose blend shapes, 207 = 23 x 9 numbers);
3. forward kinematics along the kinematic tree gives each joint's world transform ``G_k``; each vertex moves by
   the blend ``sum_k w_vk G_k (x - J_k)`` of its skinning weights (linear blend skinning).

The model files are licence-gated (non-commercial SMPL licence) and cannot ship with gaitscope or be downloaded
by it: the user registers at https://smpl.is.tue.mpg.de (gender-neutral model: https://smplify.is.tue.mpg.de) and
puts the files in a folder named by ``$GAITSCOPE_SMPL_DIR`` or a ``--smpl-dir`` argument. Missing files raise
:class:`MissingModelFileError` with the expected paths.

The ``.pkl`` files as distributed were pickled under Python 2 with ``chumpy`` arrays (and a scipy sparse joint
regressor). :func:`read_smpl_pickle` reads them WITHOUT chumpy and without trusting the pickle: a restricted
unpickler allows only numpy/scipy-sparse data constructors and maps every ``chumpy`` class to a stand-in that
keeps the array (chumpy's pickled state stores the value under ``x``); anything else is refused. ``.npz`` files
with the same keys (``v_template``, ``shapedirs``, ``posedirs``, ``J_regressor``, ``weights``, ``kintree_table``,
``f``) are read with ``allow_pickle=False``.

:class:`StandInBodyModel` has the same interface with random, structurally valid arrays (any vertex count), so the
mesh head and its losses are tested without the licensed files.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gaitscope.errors import CheckpointError
from gaitscope.models.rotations import axis_angle_to_matrix

SMPL_DIR_ENV = "GAITSCOPE_SMPL_DIR"
SMPL_WEBSITE = "https://smpl.is.tue.mpg.de"
SMPLIFY_WEBSITE = "https://smplify.is.tue.mpg.de"
#: File names looked for, per gender, in the SMPL folder (and its ``smpl/`` subfolder), first match wins.
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "neutral": ("SMPL_NEUTRAL.pkl", "SMPL_NEUTRAL.npz", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
    "male": ("SMPL_MALE.pkl", "SMPL_MALE.npz", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
             "basicModel_m_lbs_10_207_0_v1.0.0.pkl"),
    "female": ("SMPL_FEMALE.pkl", "SMPL_FEMALE.npz", "basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
               "basicModel_f_lbs_10_207_0_v1.0.0.pkl"),
}
#: Vertex -> Human3.6M-17 joint regressor (SPIN's data bundle), optional.
H36M_REGRESSOR_FILES = ("J_regressor_h36m_correct.npy", "J_regressor_h36m.npy")
#: SPIN's mean pose (6D, 24 x 6) and shape, the starting point of the mesh head's regression; optional.
MEAN_PARAMS_FILE = "smpl_mean_params.npz"

NUM_SMPL_JOINTS = 24
#: SMPL kinematic tree: parent of each joint (-1: root / pelvis).
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)


class MissingModelFileError(CheckpointError):
    """A licence-gated body-model file (SMPL) is not where gaitscope looks for it."""


def smpl_dir(explicit: str | Path | None = None) -> Path | None:
    """The SMPL folder: ``explicit`` (a CLI argument), else ``$GAITSCOPE_SMPL_DIR``, else None."""
    if explicit:
        return Path(explicit)
    from gaitscope.settings import settings

    return settings().smpl_dir


def _how_to(folder: Path | None) -> str:
    where = f"in {folder}" if folder is not None else f"in a folder named by ${SMPL_DIR_ENV} (or --smpl-dir)"
    return (f"Register at {SMPL_WEBSITE} (gender-neutral model: {SMPLIFY_WEBSITE}), download the model and put it "
            f"{where}; gaitscope cannot ship or download it because of its licence.")


def find_model_file(folder: str | Path | None = None, gender: str = "neutral") -> Path:
    """Path of the SMPL model file for ``gender``; :class:`MissingModelFileError` naming the expected paths."""
    if gender not in MODEL_FILES:
        raise ValueError(f"gender must be one of {sorted(MODEL_FILES)}, got {gender!r}")
    root = smpl_dir(folder)
    if root is None:
        raise MissingModelFileError("No SMPL body-model folder is configured, so the mesh view is unavailable.",
                                    f"Set ${SMPL_DIR_ENV} to the folder holding {MODEL_FILES[gender][0]}. "
                                    + _how_to(None))
    candidates = [root / n for n in MODEL_FILES[gender]] + [root / "smpl" / n for n in MODEL_FILES[gender]]
    for c in candidates:
        if c.is_file():
            return c
    raise MissingModelFileError(
        f"The SMPL {gender} model file is missing: looked for {', '.join(str(c) for c in candidates[:3])} "
        "(and the same names under smpl/).", _how_to(root))


def smpl_configured(folder: str | Path | None = None, gender: str = "neutral") -> bool:
    """True when the SMPL model file can be found (the dashboard shows the mesh view only then)."""
    try:
        find_model_file(folder, gender)
    except MissingModelFileError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# Reading the files
# ---------------------------------------------------------------------------------------------------------


class _ChumpyStandIn:
    """Takes the place of any chumpy class while unpickling; keeps the pickled state (value under ``x``)."""

    _chumpy_class = "chumpy"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_state"] = {"args": args, **kwargs}

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state if isinstance(state, dict) else {"state": state}

    def to_numpy(self) -> np.ndarray:
        x = self.__dict__.get("_state", {}).get("x")
        if isinstance(x, np.ndarray):
            return x
        if isinstance(x, _ChumpyStandIn):
            return x.to_numpy()
        raise CheckpointError(
            f"The SMPL file holds a chumpy expression ({self._chumpy_class}) that is not a plain array.",
            "Use the SMPL model file exactly as distributed, or convert it to .npz with plain arrays.",
        )


_SAFE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    ("__builtin__", "object"), ("builtins", "object"), ("__builtin__", "set"), ("builtins", "set"),
    ("__builtin__", "frozenset"), ("builtins", "frozenset"),  # chumpy's pickled state holds a set
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles (a string codec, no side effects)
}


class _SMPLUnpickler(pickle.Unpickler):
    """Only data: numpy arrays/scalars, scipy sparse matrices, chumpy arrays (as :class:`_ChumpyStandIn`)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return type(name, (_ChumpyStandIn,), {"_chumpy_class": f"{module}.{name}"})
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            import scipy.sparse

            return getattr(scipy.sparse, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an SMPL model file")


def _plain(value: Any) -> Any:
    if isinstance(value, _ChumpyStandIn):
        return value.to_numpy()
    if hasattr(value, "toarray") and hasattr(value, "tocsc"):  # scipy sparse matrix
        return np.asarray(value.toarray())
    return value


def read_smpl_pickle(path: str | Path) -> dict[str, Any]:
    """An SMPL ``.pkl`` as distributed -> dict of numpy arrays (chumpy not needed; see the module docstring)."""
    p = Path(path)
    try:
        raw = _SMPLUnpickler(io.BytesIO(p.read_bytes()), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The SMPL file {p} cannot be read: {exc}.",
                              "Use the model file exactly as downloaded from the SMPL website.") from exc
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"The SMPL file {p} does not hold a dictionary of model arrays.")
    return {str(k): _plain(v) for k, v in raw.items()}


def read_smpl_npz(path: str | Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_smpl_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    return read_smpl_npz(p) if p.suffix == ".npz" else read_smpl_pickle(p)


def load_mean_params(folder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """SPIN's mean pose ``(144,)`` (6D) and shape ``(10,)`` from ``smpl_mean_params.npz``, or None if absent."""
    root = smpl_dir(folder)
    if root is None or not (root / MEAN_PARAMS_FILE).is_file():
        return None
    with np.load(root / MEAN_PARAMS_FILE, allow_pickle=False) as z:
        return np.asarray(z["pose"], dtype=np.float32).reshape(-1), np.asarray(z["shape"], dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyOutput:
    """Result of :meth:`BodyModel.forward` (model units: metres for SMPL)."""

    vertices: torch.Tensor  # (N, V, 3)
    joints: torch.Tensor  # (N, 24, 3) posed SMPL joints
    joints_h36m: torch.Tensor | None  # (N, 17, 3) when an H36M regressor is set


class BodyModel(nn.Module):
    """SMPL-style linear blend skinning with fixed model arrays (non-persistent buffers: they follow ``.to()``
    but never enter a ``state_dict``, so licensed data cannot leak into a saved checkpoint).

    Arrays: ``v_template (V, 3)``, ``shapedirs (V, 3, B)``, ``posedirs (V, 3, 9 (K-1))``, ``J_regressor (K, V)``,
    ``weights (V, K)``, ``parents (K,)``, ``faces (F, 3)``, optional ``J_regressor_h36m (17, V)``.
    """

    def __init__(self, v_template: np.ndarray, shapedirs: np.ndarray, posedirs: np.ndarray, J_regressor: np.ndarray,
                 weights: np.ndarray, parents: np.ndarray | tuple[int, ...], faces: np.ndarray,
                 J_regressor_h36m: np.ndarray | None = None, num_betas: int = 10, name: str = "smpl"):
        super().__init__()
        v = np.asarray(v_template, dtype=np.float32)
        n_v, k = v.shape[0], len(parents)
        sd = np.asarray(shapedirs, dtype=np.float32)[..., :num_betas]
        pd = np.asarray(posedirs, dtype=np.float32)
        if pd.ndim == 2 and pd.shape[0] == 9 * (k - 1):  # smplx layout (P, V*3)
            pd = pd.T.reshape(n_v, 3, -1)
        checks = {"shapedirs": (sd.shape[:2], (n_v, 3)), "posedirs": (pd.shape, (n_v, 3, 9 * (k - 1))),
                  "J_regressor": (np.shape(J_regressor), (k, n_v)), "weights": (np.shape(weights), (n_v, k))}
        for what, (got, want) in checks.items():
            if tuple(got) != tuple(want):
                raise CheckpointError(f"The body model's {what} has shape {tuple(got)}, expected {want}.",
                                      "The model file is damaged or of another kind (use SMPL, 6890 vertices).")
        self.name = name
        self.num_betas = int(sd.shape[-1])
        self.register_buffer("v_template", torch.from_numpy(v), persistent=False)
        self.register_buffer("shapedirs", torch.from_numpy(np.ascontiguousarray(sd)), persistent=False)
        self.register_buffer("posedirs", torch.from_numpy(np.ascontiguousarray(pd)), persistent=False)
        self.register_buffer("J_regressor", torch.as_tensor(np.asarray(J_regressor, dtype=np.float32)),
                             persistent=False)
        self.register_buffer("weights", torch.as_tensor(np.asarray(weights, dtype=np.float32)), persistent=False)
        self.register_buffer("faces", torch.as_tensor(np.asarray(faces, dtype=np.int64)), persistent=False)
        self.parents = tuple(int(p) for p in parents)
        if self.parents[0] != -1 or any(p >= i for i, p in enumerate(self.parents) if i > 0):
            raise CheckpointError("The body model's kinematic tree is not ordered parent-before-child.")
        h36m = None if J_regressor_h36m is None else torch.as_tensor(np.asarray(J_regressor_h36m, dtype=np.float32))
        if h36m is not None and tuple(h36m.shape) != (17, n_v):
            raise CheckpointError(f"The H36M joint regressor has shape {tuple(h36m.shape)}, expected (17, {n_v}).")
        self.register_buffer("J_regressor_h36m", h36m, persistent=False)

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def n_joints(self) -> int:
        return len(self.parents)

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any], J_regressor_h36m: np.ndarray | None = None,
                    num_betas: int = 10, name: str = "smpl") -> BodyModel:
        """From a dict with the SMPL file keys (``v_template``, ``shapedirs``, ``posedirs``, ``J_regressor``,
        ``weights``, ``kintree_table``, ``f``)."""
        try:
            kintree = np.asarray(arrays["kintree_table"])
            parents = kintree[0].astype(np.int64).copy()
            parents[0] = -1  # the root's parent is stored as a huge unsigned number
            return cls(arrays["v_template"], arrays["shapedirs"], arrays["posedirs"], arrays["J_regressor"],
                       arrays["weights"], parents, arrays["f"], J_regressor_h36m, num_betas, name)
        except KeyError as exc:
            raise CheckpointError(f"The SMPL model file lacks the array {exc.args[0]!r}.",
                                  "Use the model file exactly as distributed on the SMPL website.") from None

    @classmethod
    def from_dir(cls, folder: str | Path | None = None, gender: str = "neutral", num_betas: int = 10) -> BodyModel:
        """The SMPL model of ``gender`` from ``folder`` (or ``$GAITSCOPE_SMPL_DIR``), with the H36M regressor
        when ``J_regressor_h36m_correct.npy`` is there."""
        path = find_model_file(folder, gender)
        arrays = read_smpl_file(path)
        root = path.parent if path.parent.name != "smpl" else path.parent.parent
        reg = None
        for n in H36M_REGRESSOR_FILES:
            for d in (root, path.parent):
                if (d / n).is_file():
                    reg = np.load(d / n, allow_pickle=False)
                    break
            if reg is not None:
                break
        return cls.from_arrays(arrays, reg, num_betas, name=f"smpl-{gender}")

    # -- forward ----------------------------------------------------------------------------------------------

    def forward(self, pose: torch.Tensor, betas: torch.Tensor) -> BodyOutput:
        """``pose``: ``(N, 72)`` axis-angle or ``(N, 24, 3, 3)`` rotation matrices; ``betas`` ``(N, B<=num_betas)``."""
        n = pose.shape[0]
        rot = pose if pose.ndim == 4 else axis_angle_to_matrix(pose.reshape(n, -1, 3))
        if rot.shape[1:] != (self.n_joints, 3, 3):
            raise ValueError(f"pose must give {self.n_joints} rotations, got shape {tuple(pose.shape)}")
        dtype = self.v_template.dtype
        rot = rot.to(dtype)
        b = betas.to(dtype)
        if b.shape[-1] < self.num_betas:
            b = torch.nn.functional.pad(b, (0, self.num_betas - b.shape[-1]))
        n_v = self.n_vertices
        # blend shapes as plain matrix products (einsum would broadcast large intermediates on CPU)
        v_shaped = self.v_template + (b[:, : self.num_betas] @ self.shapedirs.reshape(n_v * 3, -1).T).view(n, n_v, 3)
        j_rest = self.J_regressor @ v_shaped
        eye = torch.eye(3, dtype=dtype, device=rot.device)
        pose_feat = (rot[:, 1:] - eye).reshape(n, -1)
        v_posed = v_shaped + (pose_feat @ self.posedirs.reshape(n_v * 3, -1).T).view(n, n_v, 3)
        # forward kinematics: world rotation / translation of every joint
        g_rot: list[torch.Tensor] = []
        g_trans: list[torch.Tensor] = []
        for i, p in enumerate(self.parents):
            if p < 0:
                g_rot.append(rot[:, i])
                g_trans.append(j_rest[:, i])
            else:
                g_rot.append(g_rot[p] @ rot[:, i])
                g_trans.append(g_trans[p] + (g_rot[p] @ (j_rest[:, i] - j_rest[:, p])[..., None])[..., 0])
        gr = torch.stack(g_rot, dim=1)  # (N, K, 3, 3)
        gt = torch.stack(g_trans, dim=1)  # (N, K, 3) posed joints
        # skinning transforms relative to the rest pose: x -> G_R (x - J_rest) + G_t
        t_rel = gt - (gr @ j_rest[..., None])[..., 0]
        k = self.n_joints
        a_rot = (self.weights @ gr.reshape(n, k, 9)).view(n, n_v, 3, 3)
        a_t = self.weights @ t_rel
        verts = (a_rot @ v_posed[..., None])[..., 0] + a_t
        h36m = None
        if self.J_regressor_h36m is not None:
            h36m = self.J_regressor_h36m @ verts
        return BodyOutput(verts, gt, h36m)


class StandInBodyModel(BodyModel):
    """A randomly initialised body model with SMPL's interface and kinematic tree (tests, demos without SMPL).

    Vertices are scattered around rest joints of a rough human layout; skinning weights fall off with the distance
    to each joint; the joint regressors average each joint's nearest vertices; blend shapes are small random fields.
    Its meshes are not human bodies: never show them as a patient's shape.
    """

    @classmethod
    def random(cls, n_vertices: int = 500, seed: int = 0, num_betas: int = 10, n_faces: int | None = None,
               with_h36m: bool = True) -> StandInBodyModel:
        rng = np.random.default_rng(seed)
        k = NUM_SMPL_JOINTS
        # rough SMPL rest-joint layout in metres (y up, z forward)
        offsets = np.array([
            [0, 0.93, 0], [0.06, -0.09, 0], [-0.06, -0.09, 0], [0, 0.11, 0], [0.0, -0.38, 0], [0.0, -0.38, 0],
            [0, 0.13, 0], [0, -0.40, 0], [0, -0.40, 0], [0, 0.05, 0], [0, -0.05, 0.12], [0, -0.05, 0.12],
            [0, 0.21, 0], [0.08, 0.12, 0], [-0.08, 0.12, 0], [0, 0.09, 0], [0.10, 0.03, 0], [-0.10, 0.03, 0],
            [0.26, 0, 0], [-0.26, 0, 0], [0.25, 0, 0], [-0.25, 0, 0], [0.08, 0, 0], [-0.08, 0, 0],
        ], dtype=np.float64)
        rest = np.zeros((k, 3))
        for i, p in enumerate(SMPL_PARENTS):
            rest[i] = offsets[i] if p < 0 else rest[p] + offsets[i]
        owner = rng.integers(0, k, n_vertices)
        v = rest[owner] + rng.normal(0, 0.04, (n_vertices, 3))
        d = np.linalg.norm(v[:, None, :] - rest[None], axis=-1)
        w = np.exp(-((d / 0.08) ** 2))
        w[np.arange(n_vertices), owner] += 1.0
        w /= w.sum(axis=1, keepdims=True)
        jreg = np.zeros((k, n_vertices))
        for j in range(k):
            near = np.argsort(d[:, j])[: max(3, n_vertices // (2 * k))]
            jreg[j, near] = 1.0 / len(near)
        shapedirs = rng.normal(0, 0.01, (n_vertices, 3, num_betas))
        posedirs = rng.normal(0, 0.002, (n_vertices, 3, 9 * (k - 1)))
        nf = n_faces or 2 * n_vertices
        faces = np.stack([rng.choice(n_vertices, 3, replace=False) for _ in range(nf)])
        h36m = None
        if with_h36m:
            h36m = np.zeros((17, n_vertices))
            # H36M joints from SMPL-joint neighbourhoods (pelvis, hips, knees, ankles, spine, thorax, neck, head,
            # shoulders, elbows, wrists)
            for h, j in enumerate((0, 2, 5, 8, 1, 4, 7, 6, 12, 15, 15, 16, 18, 20, 17, 19, 21)):
                h36m[h] = jreg[j]
        return cls(v, shapedirs, posedirs, jreg, w, SMPL_PARENTS, faces, h36m, num_betas, name=f"stand-in-{seed}")
