"""A 2D keypoint noise model MEASURED on BlazePose, to make training inputs look like real detections.

Why measured: a lifter trained on clean projections (or on MotionBERT's generic Gaussian corruption) meets a
different input at run time. BlazePose has systematic errors (its hip landmarks sit higher and more lateral than
anatomical hip joint centres, the head is built from the ears), temporally correlated wobble, occasional
left/right swaps in side views and low-visibility knees (see ``../shared/data/README.md``). We render synthetic
walks whose joints are known exactly (``gaitscope.synthetic.render``), run the same detector the product runs
(``gaitscope.pose2d.detect.detect_keypoints``) and fit, per H36M joint:

* **bias** and **spread** of the error in a body-aligned 2D frame, in units of the projected trunk length
  (pelvis to thorax in pixels). Axis ``u`` points from the pelvis to the thorax in the image ("up the body"),
  axis ``v`` is perpendicular to it, signed toward the walker's projected direction of travel ("forward").
  Expressing errors this way makes them independent of the image size, the subject's size and which way the
  walker crosses the screen, so one measurement transfers to any camera of the training sampler;
* **temporal correlation**: the lag-1 autocorrelation of the error, used as the coefficient of an AR(1)
  process (detector errors drift over several frames rather than flicker);
* **dropout rate**: fraction of frames where the joint has confidence 0 (below the visibility threshold);
* **left/right swap rate** of the legs and of the arms and the mean length of a swap episode (a frame counts as
  swapped when both detected joints of a pair lie closer to the other side's truth, for every pair of the limb);
* **confidence distribution**: a histogram of BlazePose visibility per joint;
* **occlusion by view** (``occlusion``): for each limb joint type (hip, knee, ankle, shoulder, elbow, wrist) and
  the angle between that body side and the direction to the camera (0 deg = the side faces the camera, 180 deg =
  it faces away), the fraction of frames where BlazePose drops the joint, the mean length of a dropped run, the
  visibility histogram of kept frames and how much larger the error spread is than the joint's average. In a
  side view BlazePose loses the far elbow for most of the clip (78 % of frames at 180 deg) and gives the far
  knee and wrist visibilities around 0.3-0.6, while the near side stays at about 1.0. Per-frame random dropouts
  never show the model such long, view-dependent gaps, nor that a low visibility tells which side faces away;
* **pair gain** (``pair_gain``): for the knees and ankles, per approach angle (0 deg = walking toward the camera,
  180 = away) and body axis, the fraction of the true left-right difference BlazePose keeps (least-squares slope).
  BlazePose draws the feet together: in frontal and rear views it keeps about 55 % of their vertical separation
  in the image, which there is the cue to which foot is nearer. Independent per-joint errors cannot show that
  shrinkage, and a lifter trained without it under-reads the step in depth (MODEL_CARD.md, stage 3).

:class:`NoiseModel` stores this as JSON (``gaitscope/data/noise/blazepose_noise.json``) and :meth:`NoiseModel.sample`
draws noisy detections for a clean projected sequence. Errors are relative to the ground-truth H36M joints of
the walker; where the walker's joint definitions differ from BlazePose's (hip centres), that difference is part
of the bias, which is what we want the lifter to undo.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from gaitscope.skeleton import H36M_JOINTS, NUM_JOINTS, J

NOISE_JSON = Path(__file__).resolve().parents[1] / "data" / "noise" / "blazepose_noise.json"
#: BlazePose detections of rendered walks, shared by this measurement and the lifter evaluation (git-ignored).
#: Defined here, not in lifter_eval, so that this module does not import the evaluation that imports it.
CACHE_DIR = Path(__file__).resolve().parents[2] / "tmp" / "cache" / "lifter_eval"
CONF_BINS = np.linspace(0.0, 1.0, 21)
#: Joints moved together by a left/right swap (BlazePose swaps whole limbs, not single joints).
SWAP_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "legs": ((J["right_hip"], J["left_hip"]), (J["right_knee"], J["left_knee"]), (J["right_ankle"], J["left_ankle"])),
    "arms": ((J["right_shoulder"], J["left_shoulder"]), (J["right_elbow"], J["left_elbow"]),
             (J["right_wrist"], J["left_wrist"])),
}
#: Limb joint types of the occlusion model: (right joint, left joint).
LIMB_TYPES: dict[str, tuple[int, int]] = {
    t: (J[f"right_{t}"], J[f"left_{t}"]) for t in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
}
#: Facing-angle centres (deg) of the occlusion statistics: 0 = the joint's side faces the camera, 180 = away.
FACING_BINS_DEG = (0.0, 22.5, 45.0, 67.5, 90.0, 112.5, 135.0, 157.5, 180.0)
#: Joints that decide whether a limb swap is visible at all (distal joints; proximal ones nearly coincide).
_SWAP_TEST = {"legs": ((J["right_knee"], J["left_knee"]), (J["right_ankle"], J["left_ankle"])),
              "arms": ((J["right_elbow"], J["left_elbow"]), (J["right_wrist"], J["left_wrist"]))}


def body_frame(xy: np.ndarray, forward_px: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame body axes ``u`` (pelvis -> thorax), ``v`` (perpendicular, toward ``forward_px``) and scale.

    ``xy``: ``(T, 17, 2)`` clean projected joints in pixels; ``forward_px``: ``(T, 2)`` projected direction of
    travel (any length) or None (then ``v`` is ``u`` rotated by +90 degrees). Scale: trunk length in pixels.
    """
    trunk = xy[:, J["thorax"]] - xy[:, J["pelvis"]]
    s = np.linalg.norm(trunk, axis=-1)
    u = trunk / np.maximum(s, 1e-9)[:, None]
    v = np.stack([-u[:, 1], u[:, 0]], axis=-1)
    if forward_px is not None:
        sign = np.sign(np.sum(v * forward_px, axis=-1))
        sign[sign == 0] = 1.0
        v = v * sign[:, None]
    return u, v, np.maximum(s, 1e-6)


def _swap_mask(det: np.ndarray, truth: np.ndarray, group: str, min_sep: float) -> tuple[np.ndarray, np.ndarray]:
    """Frames where a limb is swapped, and frames where a swap is decidable (limbs apart by > ``min_sep`` px)."""
    swapped = np.ones(len(det), dtype=bool)
    decidable = np.ones(len(det), dtype=bool)
    for r, l in _SWAP_TEST[group]:
        same = np.linalg.norm(det[:, r] - truth[:, r], axis=-1) + np.linalg.norm(det[:, l] - truth[:, l], axis=-1)
        cross = np.linalg.norm(det[:, r] - truth[:, l], axis=-1) + np.linalg.norm(det[:, l] - truth[:, r], axis=-1)
        swapped &= cross < same
        decidable &= np.linalg.norm(truth[:, r] - truth[:, l], axis=-1) > min_sep
    return swapped & decidable, decidable


def _runs(mask: np.ndarray) -> list[int]:
    out, n = [], 0
    for m in mask:
        if m:
            n += 1
        elif n:
            out.append(n)
            n = 0
    if n:
        out.append(n)
    return out


@dataclass(frozen=True)
class NoiseModel:
    """Per-joint BlazePose error statistics (see the module docstring); arrays are lists for JSON."""

    bias_uv: list[list[float]]  # (17, 2) mean error along (u, v), in trunk lengths
    std_uv: list[list[float]]  # (17, 2) standard deviation along (u, v), in trunk lengths
    ar1: float  # lag-1 autocorrelation of the error (AR(1) coefficient of the sampler)
    dropout: list[float]  # (17,) fraction of frames with confidence 0
    swap_rate: dict[str, float]  # "legs"/"arms": fraction of decidable frames that are swapped
    swap_mean_len: dict[str, float]  # mean swap episode length in frames
    conf_hist: list[list[float]]  # (17, 20) histogram (probabilities) of non-zero confidence over CONF_BINS
    n_frames: int = 0
    fps: float = 30.0
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: View-dependent occlusion of limb joints (see the module docstring and :func:`fit_occlusion`); None in
    #: files measured before it existed, which then sample per-frame dropouts only.
    occlusion: dict | None = None
    #: How much of the true left-right difference of a limb pair BlazePose keeps, per axis and view (see
    #: :func:`fit_pair_gain`); None in files measured before it existed (no shrinkage applied).
    pair_gain: dict | None = None

    # -- io --------------------------------------------------------------------------------------------------

    def to_json(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        d = asdict(self)
        d["joints"] = list(H36M_JOINTS)
        d["conf_bins"] = CONF_BINS.tolist()
        d["units"] = ("bias_uv/std_uv: fractions of the projected trunk length (pelvis-thorax, px); u = pelvis->"
                      "thorax, v = perpendicular toward the direction of travel; ar1 per frame at 'fps'")
        p.write_text(json.dumps(d, indent=1) + "\n")
        return p

    @classmethod
    def from_json(cls, path: str | Path = NOISE_JSON) -> "NoiseModel":
        d = json.loads(Path(path).read_text())
        for k in ("joints", "conf_bins", "units"):
            d.pop(k, None)
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)

    # -- sampling --------------------------------------------------------------------------------------------

    def sample(
        self,
        xy: np.ndarray,
        rng: np.random.Generator,
        forward_px: np.ndarray | None = None,
        scale: float = 1.0,
        fps: float | None = None,
        facing_left_deg: np.ndarray | None = None,
        approach_deg: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Noisy detections for clean ``(T, 17, 2)`` pixels: ``(xy_noisy, conf)``; dropped joints get conf 0.

        ``scale`` multiplies the spread (not the bias) for augmentation; ``fps`` adapts the AR(1) coefficient
        to another frame rate (same correlation time). ``facing_left_deg`` ``(T,)``: angle between the body's
        left side and the direction to the camera (:func:`facing_left_deg`); with it, and occlusion statistics
        in the model, limb joints are dropped in runs and get visibilities as BlazePose gives them in that view
        (:meth:`_occlusion`); without it every joint has the pooled per-frame dropout rate. ``approach_deg``
        ``(T,)``: angle between the body's front and the direction to the camera (:func:`approach_deg`, 0 =
        walking toward it); with it, and ``pair_gain`` in the model, the left-right differences of knees,
        ankles, elbows and wrists are first shrunk as BlazePose shrinks them in that view (:meth:`apply_pair_gain`).
        """
        t = xy.shape[0]
        fps_eff = float(fps) if fps else self.fps
        u, v, s = body_frame(xy, forward_px)
        if approach_deg is not None and self.pair_gain:
            xy = self.apply_pair_gain(xy, np.asarray(approach_deg, dtype=float), u, v)
        bias = np.asarray(self.bias_uv)
        std = np.broadcast_to(np.asarray(self.std_uv) * scale, (t, NUM_JOINTS, 2)).copy()
        occl = None
        if facing_left_deg is not None and self.occlusion:
            occl = self._occlusion(np.asarray(facing_left_deg, dtype=float), rng, fps_eff)
            std *= occl[2][..., None]
        a = float(np.clip(self.ar1, 0.0, 0.999))
        if fps is not None and fps > 0 and self.fps > 0 and a > 0:
            a = float(a ** (self.fps / fps))
        from scipy.signal import lfilter  # lazy: scipy.signal is slow to import, and the CLI imports this module

        innov = rng.normal(size=(t, NUM_JOINTS, 2)) * np.sqrt(1.0 - a * a)
        innov[0] = rng.normal(size=(NUM_JOINTS, 2))  # start in the stationary distribution
        e = lfilter([1.0], [1.0, -a], innov, axis=0)  # AR(1): e[i] = a e[i-1] + innov[i]
        err_uv = bias[None] + e * std
        err = (err_uv[..., :1] * u[:, None, :] + err_uv[..., 1:] * v[:, None, :]) * s[:, None, None]
        out = xy + err
        for group, pairs in SWAP_GROUPS.items():
            mask = self._swap_frames(t, group, rng)
            if mask.any():
                for r, l in pairs:
                    out[mask, r], out[mask, l] = out[mask, l].copy(), out[mask, r].copy()
        conf = np.empty((t, NUM_JOINTS))
        centres = 0.5 * (CONF_BINS[1:] + CONF_BINS[:-1])
        width = CONF_BINS[1] - CONF_BINS[0]
        for j in range(NUM_JOINTS):
            p = np.asarray(self.conf_hist[j], dtype=float)
            p = p / p.sum() if p.sum() > 0 else np.full(len(centres), 1.0 / len(centres))
            idx = rng.choice(len(centres), size=t, p=p)
            conf[:, j] = np.clip(centres[idx] + rng.uniform(-0.5, 0.5, size=t) * width, 0.01, 1.0)
        drop = rng.random((t, NUM_JOINTS)) < np.asarray(self.dropout)[None]
        if occl is not None:
            limb = occl[3]
            conf[:, limb] = occl[1][:, limb]
            drop[:, limb] = occl[0][:, limb]
        conf[drop] = 0.0
        return out, conf

    def apply_pair_gain(self, xy: np.ndarray, approach: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Shrink each limb pair's left-right difference along the body axes ``u``, ``v`` by the measured gains.

        The pair's midpoint stays; only the separation changes. Why: BlazePose pulls the two feet (and knees)
        toward each other, most in frontal and rear views, where the feet's vertical separation in the image is
        the main cue to which foot is nearer (MODEL_CARD.md). Independent per-joint noise cannot show this.
        """
        pg = self.pair_gain
        centres = np.asarray(pg["approach_deg"], dtype=float)
        a = np.clip(np.nan_to_num(approach, nan=90.0), 0.0, 180.0)
        out = np.array(xy, dtype=float, copy=True)
        for name, g in pg["groups"].items():
            r, l = J[f"right_{name}"], J[f"left_{name}"]
            gu = np.interp(a, centres, g["gain_u"])[:, None]
            gv = np.interp(a, centres, g["gain_v"])[:, None]
            mid = 0.5 * (out[:, r] + out[:, l])
            diff = out[:, l] - out[:, r]
            du = np.sum(diff * u, axis=-1)[:, None]
            dv = np.sum(diff * v, axis=-1)[:, None]
            new = gu * du * u + gv * dv * v
            out[:, r], out[:, l] = mid - 0.5 * new, mid + 0.5 * new
        return out

    def _occlusion(self, facing_left: np.ndarray, rng: np.random.Generator, fps: float):
        """Per-frame ``(missing (T,17) bool, conf (T,17), spread factor (T,17), limb joint indices)``.

        Missing runs: a two-state Markov chain per joint whose stationary probability and mean run length follow
        the joint's facing angle frame by frame (run lengths measured in frames at ``self.fps``, converted to
        ``fps``). Visibilities: quantiles of the facing angle's histogram, drawn from an AR(1) Gaussian so that
        they drift like BlazePose's instead of flickering.
        """
        from scipy.signal import lfilter
        from scipy.special import ndtr

        oc = self.occlusion
        centres = np.asarray(oc["facing_deg"], dtype=float)
        t = len(facing_left)
        limb = [j for pair in LIMB_TYPES.values() for j in pair]
        missing = np.zeros((t, NUM_JOINTS), dtype=bool)
        conf = np.ones((t, NUM_JOINTS))
        factor = np.ones((t, NUM_JOINTS))
        a = float(np.clip(oc.get("conf_ar1", 0.8), 0.0, 0.99))
        if fps > 0 and self.fps > 0 and a > 0:
            a = float(a ** (self.fps / fps))
        innov = rng.normal(size=(t, len(limb))) * np.sqrt(1.0 - a * a)
        innov[0] = rng.normal(size=len(limb))
        z = lfilter([1.0], [1.0, -a], innov, axis=0)
        quant = ndtr(z)  # uniform marginals, correlated in time
        groups = [oc["groups"][name] for name, pair in LIMB_TYPES.items() for _ in pair]
        theta = np.stack([180.0 - facing_left if j == pair[0] else facing_left
                          for pair in LIMB_TYPES.values() for j in pair], axis=1)  # (T, L)
        theta = np.clip(np.nan_to_num(theta, nan=90.0), 0.0, 180.0)
        p = np.clip(np.stack([np.interp(theta[:, k], centres, g["missing"]) for k, g in enumerate(groups)], 1),
                    0.0, 0.98)
        run = np.stack([np.interp(theta[:, k], centres, g["run_len"]) for k, g in enumerate(groups)], 1)
        p_end = 1.0 / np.maximum(1.0, run * fps / max(self.fps, 1e-6))
        p_start = np.minimum(1.0, p * p_end / np.maximum(1.0 - p, 1e-6))
        factor[:, limb] = np.stack([np.interp(theta[:, k], centres, g["std_scale"]) for k, g in enumerate(groups)], 1)
        go = rng.random((t, len(limb)))
        on = go[0] < p[0]
        miss_l = np.empty((t, len(limb)), dtype=bool)
        for i in range(t):  # two-state Markov chain, all joints at once
            miss_l[i] = on
            on = np.where(on, go[i] >= p_end[i], go[i] < p_start[i])
        missing[:, limb] = miss_l
        # visibility: inverse CDF of the histogram interpolated at each frame's angle
        pos = np.stack([np.interp(theta[:, k], centres, np.arange(len(centres))) for k in range(len(limb))], 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, len(centres) - 1)
        w = (pos - lo)[..., None]
        hists = np.stack([np.asarray(g["conf_hist"], dtype=float) for g in groups])  # (L, bins, 20)
        kk = np.arange(len(limb))[None, :]
        h = (1 - w) * hists[kk, lo] + w * hists[kk, hi]  # (T, L, 20)
        h = h / np.maximum(h.sum(axis=-1, keepdims=True), 1e-12)
        cdf = np.cumsum(h, axis=-1)
        b = np.minimum((cdf < quant[..., None]).sum(axis=-1), h.shape[-1] - 1)
        below = np.where(b > 0, np.take_along_axis(cdf, np.maximum(b - 1, 0)[..., None], -1)[..., 0], 0.0)
        mass = np.take_along_axis(h, b[..., None], -1)[..., 0]
        frac = np.clip((quant - below) / np.maximum(mass, 1e-12), 0.0, 1.0)
        conf[:, limb] = np.clip(CONF_BINS[b] + frac * (CONF_BINS[1] - CONF_BINS[0]), 0.01, 1.0)
        return missing, conf, factor, limb

    def _swap_frames(self, t: int, group: str, rng: np.random.Generator) -> np.ndarray:
        """Swap episodes as a two-state Markov chain with the measured rate and mean episode length."""
        rate = float(self.swap_rate.get(group, 0.0))
        mask = np.zeros(t, dtype=bool)
        if rate <= 0:
            return mask
        length = max(1.0, float(self.swap_mean_len.get(group, 1.0)))
        p_end = 1.0 / length
        p_start = min(1.0, rate * p_end / max(1e-6, 1.0 - rate))
        on = rng.random() < rate
        for i in range(t):
            mask[i] = on
            on = (rng.random() >= p_end) if on else (rng.random() < p_start)
        return mask


# ---------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------


def fit_noise_model(
    detected: Sequence[tuple[np.ndarray, np.ndarray]],
    truth: Sequence[np.ndarray],
    forward: Sequence[np.ndarray | None],
    fps: float = 30.0,
    source: str = "",
    notes: Sequence[str] = (),
) -> NoiseModel:
    """Fit :class:`NoiseModel` from aligned sequences.

    ``detected``: ``[(xy (T,17,2) px, conf (T,17))]``; ``truth``: ``[(T,17,2) px]`` projected ground truth of
    the same frames; ``forward``: ``[(T,2) projected direction of travel or None]``. Swapped frames are left out
    of the bias/spread fit of the swapped limb (they are modelled by the swap rate).
    """
    errs, keeps, confs, drops = [], [], [], []
    swaps: dict[str, list[np.ndarray]] = {g: [] for g in SWAP_GROUPS}
    decid: dict[str, list[np.ndarray]] = {g: [] for g in SWAP_GROUPS}
    ar_num = ar_den = 0.0
    for (xy_d, conf), xy_t, fwd in zip(detected, truth, forward):
        xy_d = np.asarray(xy_d, dtype=float)
        conf = np.asarray(conf, dtype=float)
        xy_t = np.asarray(xy_t, dtype=float)
        u, v, s = body_frame(xy_t, fwd)
        known = (conf > 0) & np.isfinite(xy_d).all(axis=-1)
        d = np.where(known[..., None], xy_d, xy_t)
        keep = known.copy()
        min_sep = 0.15 * float(np.median(s))
        for g, pairs in SWAP_GROUPS.items():
            sw, dc = _swap_mask(d, xy_t, g, min_sep)
            swaps[g].append(sw)
            decid[g].append(dc)
            for r, l in pairs:
                keep[sw, r] = False
                keep[sw, l] = False
        e = d - xy_t
        e_uv = np.stack([np.sum(e * u[:, None], -1), np.sum(e * v[:, None], -1)], axis=-1) / s[:, None, None]
        errs.append(e_uv)
        keeps.append(keep)
        confs.append(conf)
        drops.append(~known)
    e_all = np.concatenate(errs)
    k_all = np.concatenate(keeps)
    bias = np.zeros((NUM_JOINTS, 2))
    std = np.zeros((NUM_JOINTS, 2))
    for j in range(NUM_JOINTS):
        ej = e_all[k_all[:, j], j]
        if len(ej) >= 2:
            # robust spread: 1.4826 x MAD, so a few gross failures do not inflate the everyday noise
            bias[j] = np.median(ej, axis=0)
            std[j] = 1.4826 * np.median(np.abs(ej - bias[j]), axis=0)
    for e_uv, keep in zip(errs, keeps):
        r = (e_uv - bias[None]) / np.maximum(std[None], 1e-9)
        both = keep[1:] & keep[:-1]
        ar_num += float(np.sum((r[1:] * r[:-1])[both]))
        ar_den += float(0.5 * np.sum((r[1:] ** 2 + r[:-1] ** 2)[both]))
    ar1 = float(np.clip(ar_num / ar_den, 0.0, 0.99)) if ar_den > 0 else 0.0
    c_all = np.concatenate(confs)
    d_all = np.concatenate(drops)
    hist = []
    for j in range(NUM_JOINTS):
        cj = c_all[~d_all[:, j], j]
        h, _ = np.histogram(np.clip(cj, 0, 1), bins=CONF_BINS)
        hist.append((h / max(1, h.sum())).tolist())
    swap_rate, swap_len = {}, {}
    for g in SWAP_GROUPS:
        sw = np.concatenate(swaps[g])
        dc = np.concatenate(decid[g])
        swap_rate[g] = float(sw.sum() / max(1, dc.sum()))
        runs = [n for m in swaps[g] for n in _runs(m)]
        swap_len[g] = float(np.mean(runs)) if runs else 1.0
    return NoiseModel(
        bias_uv=bias.round(5).tolist(),
        std_uv=std.round(5).tolist(),
        ar1=round(ar1, 4),
        dropout=d_all.mean(axis=0).round(5).tolist(),
        swap_rate=swap_rate,
        swap_mean_len=swap_len,
        conf_hist=[[round(x, 5) for x in h] for h in hist],
        n_frames=len(e_all),
        fps=float(fps),
        source=source,
        notes=tuple(notes),
    )


def facing_left_deg(xyz: np.ndarray, cam_pos: np.ndarray, up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Per frame, the angle (deg) between the body's left side and the direction to the camera, about ``up``.

    ``xyz``: ``(T, 17, 3)`` world joints; ``cam_pos``: ``(3,)`` or ``(T, 3)`` camera centres. The left side is
    the hip axis (right hip -> left hip) in the horizontal plane; 0 deg: the camera sees the left side, 180 deg:
    it sees the right side (the left faces away), 90 deg: a frontal or rear view. A right joint's angle is
    180 minus this.
    """
    up_v = np.asarray(up, dtype=float)
    up_v = up_v / np.linalg.norm(up_v)
    left = xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]]
    to_cam = np.broadcast_to(np.asarray(cam_pos, dtype=float), (len(xyz), 3)) - xyz[:, J["pelvis"]]
    left = left - (left @ up_v)[:, None] * up_v
    to_cam = to_cam - (to_cam @ up_v)[:, None] * up_v
    cos = np.sum(left * to_cam, axis=-1) / np.maximum(
        np.linalg.norm(left, axis=-1) * np.linalg.norm(to_cam, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def approach_deg(xyz: np.ndarray, cam_pos: np.ndarray, up: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Per frame, the angle (deg) between the body's front and the direction to the camera, about ``up``.

    0 deg: the walker faces the camera (a frontal view, walking toward it), 180 deg: a rear view, 90 deg: a side
    view. The front is the hip axis (right -> left) crossed with ``up``, so it is defined while standing too.
    Complements :func:`facing_left_deg`, which cannot tell a frontal from a rear view.
    """
    up_v = np.asarray(up, dtype=float)
    up_v = up_v / np.linalg.norm(up_v)
    left = xyz[:, J["left_hip"]] - xyz[:, J["right_hip"]]
    front = np.cross(left, up_v)
    to_cam = np.broadcast_to(np.asarray(cam_pos, dtype=float), (len(xyz), 3)) - xyz[:, J["pelvis"]]
    front = front - (front @ up_v)[:, None] * up_v
    to_cam = to_cam - (to_cam @ up_v)[:, None] * up_v
    cos = np.sum(front * to_cam, axis=-1) / np.maximum(
        np.linalg.norm(front, axis=-1) * np.linalg.norm(to_cam, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


#: Limb pairs whose left-right separation BlazePose shrinks (:func:`fit_pair_gain`).
PAIR_GAIN_TYPES = ("knee", "ankle")


def fit_pair_gain(
    detected: Sequence[tuple[np.ndarray, np.ndarray]],
    truth: Sequence[np.ndarray],
    forward: Sequence[np.ndarray | None],
    approach: Sequence[np.ndarray],
    bins_deg: Sequence[float] = FACING_BINS_DEG,
    min_frames: int = 40,
) -> dict:
    """How much of a limb pair's true left-right difference BlazePose keeps (the ``pair_gain`` field).

    Per joint type (knee, ankle, elbow, wrist) and approach-angle bin (0 = frontal, 180 = rear,
    :func:`approach_deg`), the least-squares slope through the origin of the detected difference (left minus
    right joint) on the true one, separately along the body axes ``u`` (up the trunk) and ``v`` (across it),
    over frames where both joints are detected and the limb is not swapped. A slope of 1 keeps the separation; 0.4
    means the detector draws the two feet 60 % closer than they are. Bins with fewer than ``min_frames``
    frames take the nearest measured bin; slopes are clipped to 0.1-1.5.
    """
    centres = np.asarray(bins_deg, dtype=float)
    groups: dict[str, dict[str, list]] = {}
    for name in PAIR_GAIN_TYPES:
        r, l = J[f"right_{name}"], J[f"left_{name}"]
        limb = "legs" if name in ("knee", "ankle") else "arms"
        num = np.zeros((len(centres), 2))
        den = np.zeros((len(centres), 2))
        frames = np.zeros(len(centres))
        for (xy_d, conf), xy_t, fwd, ap in zip(detected, truth, forward, approach):
            xy_d, conf, xy_t = np.asarray(xy_d, float), np.asarray(conf, float), np.asarray(xy_t, float)
            u, v, s = body_frame(xy_t, fwd)
            known = (conf > 0) & np.isfinite(xy_d).all(axis=-1)
            d = np.where(known[..., None], xy_d, xy_t)
            sw, _ = _swap_mask(d, xy_t, limb, 0.15 * float(np.median(s)))
            ok = known[:, r] & known[:, l] & ~sw
            dt, dd = xy_t[:, l] - xy_t[:, r], d[:, l] - d[:, r]
            t_uv = np.stack([np.sum(dt * u, -1), np.sum(dt * v, -1)], -1) / s[:, None]
            d_uv = np.stack([np.sum(dd * u, -1), np.sum(dd * v, -1)], -1) / s[:, None]
            b = np.abs(np.asarray(ap, float)[:, None] - centres[None]).argmin(axis=1)
            for k in range(len(centres)):
                sel = ok & (b == k)
                frames[k] += sel.sum()
                num[k] += np.sum(d_uv[sel] * t_uv[sel], axis=0)
                den[k] += np.sum(t_uv[sel] ** 2, axis=0)
        gain = np.where(den > 1e-9, num / np.maximum(den, 1e-9), 1.0)
        good = np.flatnonzero(frames >= min_frames)
        for k in range(len(centres)):
            if frames[k] < min_frames and len(good):
                gain[k] = gain[int(good[np.abs(good - k).argmin()])]
        gain = np.clip(gain, 0.1, 1.5)
        groups[name] = {"frames": frames.astype(int).tolist(), "gain_u": gain[:, 0].round(3).tolist(),
                        "gain_v": gain[:, 1].round(3).tolist()}
    return {"approach_deg": [float(c) for c in centres], "groups": groups}


def fit_occlusion(
    detected: Sequence[tuple[np.ndarray, np.ndarray]],
    truth: Sequence[np.ndarray],
    facing_left: Sequence[np.ndarray],
    bins_deg: Sequence[float] = FACING_BINS_DEG,
    min_frames: int = 40,
) -> dict:
    """View-dependent occlusion statistics of the limb joints (the ``occlusion`` field of :class:`NoiseModel`).

    Every frame of a limb joint is put in the facing-angle bin nearest to its angle (left joints: the body's
    facing angle, right joints: 180 minus it). Per joint type and bin: ``missing`` (fraction of frames with
    confidence 0), ``run_len`` (mean length in frames of a missing run, attributed to the bin of its first
    frame; runs cut by the end of a clip count as they are, so long runs are slightly underestimated),
    ``conf_hist`` (visibility histogram of kept frames over ``CONF_BINS``) and ``std_scale`` (robust spread of
    the error there over the same joint type's spread in all bins). Bins with fewer than ``min_frames`` frames take
    the values of the nearest measured bin. ``conf_ar1``: lag-1 autocorrelation of the visibility of kept frames.
    """
    centres = np.asarray(bins_deg, dtype=float)
    groups: dict[str, dict[str, list]] = {}
    num = den = 0.0
    for name, pair in LIMB_TYPES.items():
        frames = np.zeros(len(centres))
        miss = np.zeros(len(centres))
        runs: list[list[int]] = [[] for _ in centres]
        confs: list[list[np.ndarray]] = [[] for _ in centres]
        errs: list[list[np.ndarray]] = [[] for _ in centres]
        for (xy_d, conf), xy_t, fl in zip(detected, truth, facing_left):
            xy_d, conf, xy_t = np.asarray(xy_d, float), np.asarray(conf, float), np.asarray(xy_t, float)
            u, v, s = body_frame(xy_t)
            for j, theta in ((pair[0], 180.0 - np.asarray(fl)), (pair[1], np.asarray(fl))):
                b = np.abs(theta[:, None] - centres[None]).argmin(axis=1)
                known = (conf[:, j] > 0) & np.isfinite(xy_d[:, j]).all(axis=-1)
                e = np.where(known[:, None], xy_d[:, j] - xy_t[:, j], 0.0)
                e_uv = np.stack([np.sum(e * u, -1), np.sum(e * v, -1)], -1) / s[:, None]
                for k in range(len(centres)):
                    sel = b == k
                    frames[k] += sel.sum()
                    miss[k] += (sel & ~known).sum()
                    confs[k].append(conf[sel & known, j])
                    errs[k].append(e_uv[sel & known])
                for start, stop in _run_bounds(~known):
                    runs[b[start]].append(int(stop - start))
                c = conf[:, j]
                both = known[1:] & known[:-1]
                if both.sum() > 2:
                    r = c - c[known].mean()
                    num += float(np.sum((r[1:] * r[:-1])[both]))
                    den += float(0.5 * np.sum((r[1:] ** 2 + r[:-1] ** 2)[both]))
        pooled = np.concatenate([x for xs in errs for x in xs]) if any(len(x) for xs in errs for x in xs) \
            else np.zeros((0, 2))
        ref = _robust_spread(pooled)
        stats = {"frames": frames.astype(int).tolist(), "missing": [], "run_len": [], "conf_hist": [], "std_scale": []}
        for k in range(len(centres)):
            cs = np.concatenate(confs[k]) if confs[k] else np.zeros(0)
            es = np.concatenate(errs[k]) if errs[k] else np.zeros((0, 2))
            h, _ = np.histogram(np.clip(cs, 0, 1), bins=CONF_BINS)
            stats["missing"].append(float(miss[k] / frames[k]) if frames[k] else float("nan"))
            stats["run_len"].append(float(np.mean(runs[k])) if runs[k] else 1.0)
            stats["conf_hist"].append((h / max(1, h.sum())).tolist())
            # robust spread around the bin's own median error, relative to the same over all bins
            stats["std_scale"].append(float(_robust_spread(es) / ref) if len(es) >= 10 and ref > 0 else 1.0)
        good = np.flatnonzero(frames >= min_frames)
        for key in ("missing", "run_len", "conf_hist", "std_scale"):
            vals = stats[key]
            for k in range(len(centres)):
                if frames[k] < min_frames and len(good):
                    vals[k] = vals[int(good[np.abs(good - k).argmin()])]
        stats["missing"] = [round(x, 4) for x in stats["missing"]]
        stats["run_len"] = [round(x, 2) for x in stats["run_len"]]
        stats["std_scale"] = [round(float(np.clip(x, 0.5, 4.0)), 3) for x in stats["std_scale"]]
        stats["conf_hist"] = [[round(x, 4) for x in h] for h in stats["conf_hist"]]
        groups[name] = stats
    return {"facing_deg": [float(c) for c in centres], "groups": groups,
            "conf_ar1": round(float(np.clip(num / den, 0.0, 0.99)) if den > 0 else 0.8, 4)}


def _robust_spread(e: np.ndarray) -> float:
    """Median distance of 2D errors ``(N, 2)`` from their median (insensitive to bias and gross failures)."""
    if len(e) == 0:
        return 0.0
    return float(np.median(np.linalg.norm(e - np.median(e, axis=0), axis=-1)))


def _run_bounds(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of every run of True in ``mask``."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


# ---------------------------------------------------------------------------------------------------------
# Measurement on rendered walks
# ---------------------------------------------------------------------------------------------------------

#: Views of the measurement: (yaw from the walker's left side, walker seed, appearance seed, height m).
#: None of them is the bundled sample (walker seed 11, appearance 4), which stays an unseen test video.
#: Yaws all round (front and rear halves, both sides) so that every facing-angle bin of the occlusion model has
#: data; walker seeds 101-105 and 201-222, never the evaluation walks (9001, 9002) or the sample.
MEASURE_VIEWS: tuple[tuple[float, int, int, float], ...] = (
    (0.0, 101, 21, 1.62), (180.0, 102, 22, 1.80), (40.0, 103, 23, 1.70), (140.0, 104, 24, 1.75), (80.0, 105, 25, 1.66),
    (45.0, 202, 42, 1.78), (90.0, 203, 43, 1.70), (135.0, 204, 44, 1.74), (-45.0, 206, 46, 1.85),
    (-135.0, 207, 47, 1.58), (20.0, 211, 51, 1.70), (70.0, 212, 52, 1.60), (110.0, 213, 53, 1.82),
    (160.0, 214, 54, 1.68), (-20.0, 215, 55, 1.75), (-70.0, 216, 56, 1.64), (-110.0, 217, 57, 1.90),
    (-160.0, 218, 58, 1.55), (0.0, 219, 59, 1.80), (180.0, 220, 60, 1.72), (-90.0, 222, 62, 1.76),
)


def measure_blazepose_noise(
    out_json: str | Path = NOISE_JSON,
    frames_per_view: int = 120,
    views: Sequence[tuple[float, int, int, float]] = MEASURE_VIEWS,
    work_dir: str | Path | None = None,
    log=print,
    cache_dir: str | Path | None = None,
) -> NoiseModel:
    """Render short walks, run BlazePose (``workers=1``) on them, fit and save :class:`NoiseModel`.

    ``cache_dir``: keep each view's detections there and reuse them (default: the evaluation's git-ignored
    ``tmp/cache/lifter_eval``; None there too means no cache)."""
    cache_dir = CACHE_DIR if cache_dir is None else cache_dir
    import tempfile

    from gaitscope.pose2d.detect import cached_detection, detector_source, resolve_engine
    from gaitscope.synthetic.camera import view_from_angle
    from gaitscope.synthetic.render import render_walk
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    tmp = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="gaitscope_noise_"))
    tmp.mkdir(parents=True, exist_ok=True)
    detected, truth, forward, facing, approach = [], [], [], [], []
    fps = 30.0
    t0 = time.perf_counter()
    for yaw, seed, app_seed, height in views:
        params = WalkParams(fps=fps, duration_s=frames_per_view / fps, height_m=height, seed=seed)
        walk = simulate_walk(params)
        cam = view_from_angle(walk, yaw)
        video = tmp / f"noise_{seed}.mp4"

        def render(walk=walk, cam=cam, video=video, app_seed=app_seed) -> Path:
            render_walk(walk, cam, video, seed=app_seed)
            return video

        # detections cached per view in ``cache_dir`` (re-fitting then needs no rendering or BlazePose)
        kp = cached_detection(render, f"noise-walk{seed}-app{app_seed}-h{height:.2f}-yaw{yaw:+.0f}-f{frames_per_view}",
                               cache_dir, min_person_frames=10)
        idx = np.asarray(kp.frame_index)
        xyz = walk.motion.xyz_m[idx]
        xy_t = cam.project(xyz)
        pel = walk.motion.xyz_m[:, 0]
        vel = np.gradient(pel, axis=0)[idx]
        fwd = cam.project(xyz[:, 0] + 0.3 * vel / np.maximum(np.linalg.norm(vel, axis=-1, keepdims=True), 1e-9)) \
            - xy_t[:, 0]
        detected.append((kp.xy_px, kp.conf))
        truth.append(xy_t)
        forward.append(fwd)
        facing.append(facing_left_deg(xyz, cam.position))
        approach.append(approach_deg(xyz, cam.position))
        log(f"noise: view yaw {yaw:5.0f} deg, {len(idx)} frames detected ({time.perf_counter() - t0:.0f} s)")
    model = fit_noise_model(
        detected, truth, forward, fps=fps,
        source=f"{detector_source(resolve_engine())} on gaitscope rendered walks",
        notes=(f"{len(views)} rendered walks (yaw {[v[0] for v in views]} deg from the walker's left), "
               f"{frames_per_view} frames each at {fps:g} fps, 1280x720; measured "
               f"{time.strftime('%Y-%m-%d', time.gmtime())}",
               "rendered mannequins are easier than real people: real videos have more noise; the trainer "
               "scales the spread by a random factor",
               "occlusion: per limb joint type and facing angle (0 = side toward the camera, 180 = away): "
               "missing fraction, mean missing run (frames at fps), visibility histogram, spread factor",
               "pair_gain: per limb pair and approach angle (0 = frontal, 180 = rear), the fraction of the true "
               "left-right difference BlazePose keeps along u and v (slope through the origin)"),
    )
    model = replace(model, occlusion=fit_occlusion(detected, truth, facing),
                    pair_gain=fit_pair_gain(detected, truth, forward, approach))
    model.to_json(out_json)
    return model


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Measure BlazePose 2D noise on rendered walks.")
    ap.add_argument("--out", default=str(NOISE_JSON))
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args(argv)
    m = measure_blazepose_noise(args.out, frames_per_view=args.frames)
    print(json.dumps({"n_frames": m.n_frames, "ar1": m.ar1, "swap_rate": m.swap_rate}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
