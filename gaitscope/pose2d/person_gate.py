"""Decide which BlazePose detections are one real person, and which stretch of the video to keep.

BlazePose always returns *some* skeleton once its tracker is running, and it follows one person at a time
without telling who. Two failure modes matter for gait analysis:

* **Phantoms on empty frames.** On the Intel "one by one" clip (768x432, nobody in the room) BlazePose
  reports a tiny skeleton on a table's foot with *high* visibility (median 0.89), so visibility alone
  proves nothing. What gives phantoms away is geometry: their body is small (median 33 px high, 8 % of the
  image) and their torso is degenerate (median torso/body-height 0.13, against 0.34-0.73 for the real
  walkers in the same clip, where limbs are at most ~0.7 torso lengths). :func:`plausible_frames` checks
  size, torso proportion, limb/torso ratios and mean visibility of the major joints.
* **Identity switches.** When several people are visible the tracker may jump from one to another, which
  would give a skeleton mixing two people. Between consecutive credible frames :func:`identity_breaks`
  flags a jump of the hip centre larger than a fraction of body height (plus what walking or a panning
  camera can explain in the elapsed time) or an abrupt change of torso length.

:func:`select_person` then cuts the sequence at long gaps and identity breaks and keeps the longest
stretch, reporting what was dropped in plain words.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gaitscope.errors import MultiplePeopleError, NoPersonError

# BlazePose indices of the joints used for geometry (nose, shoulders, hips, knees, ankles).
_NOSE, _LSH, _RSH, _LHIP, _RHIP, _LKNEE, _RKNEE, _LANK, _RANK, _LELB, _RELB = 0, 11, 12, 23, 24, 25, 26, 27, 28, 13, 14
MAJOR = (_NOSE, _LSH, _RSH, _LHIP, _RHIP, _LKNEE, _RKNEE, _LANK, _RANK)
_MAJOR_VIS = (_LSH, _RSH, _LHIP, _RHIP, _LKNEE, _RKNEE, _LANK, _RANK)


@dataclass(frozen=True)
class GateParams:
    """Thresholds of the plausibility gate; defaults measured on the shared clips (see module docstring)."""

    min_height_frac: float = 0.12  # body extent / shorter image side (phantoms: 3-13 %, walkers: 60-80 %)
    min_mean_visibility: float = 0.5  # mean visibility of shoulders, hips, knees, ankles
    torso_height_range: tuple[float, float] = (0.2, 0.8)  # torso length / body extent
    max_limb_torso: float = 2.0  # thigh, shank / torso length (walkers: <= 1.1; phantoms: median 4.8)
    max_arm_torso: float = 1.5  # upper arm / torso length
    jump_body_frac: float = 0.35  # hip-centre jump allowed between neighbouring frames, x body extent
    jump_body_per_s: float = 2.0  # ... plus this many body extents per second elapsed
    max_torso_ratio: float = 1.5  # torso length change between neighbouring credible frames


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


@dataclass(frozen=True)
class Geometry:
    """Per-frame measurements of a BlazePose sequence, in pixels."""

    extent: np.ndarray  # (T,) larger side of the bounding box of the major joints
    torso: np.ndarray  # (T,) mid-shoulder to mid-hip
    thigh: np.ndarray
    shank: np.ndarray
    upper_arm: np.ndarray
    centre: np.ndarray  # (T, 2) mid-hip
    mean_vis: np.ndarray  # (T,)

    @classmethod
    def of(cls, raw: np.ndarray) -> "Geometry":
        xy = raw[..., :2].astype(np.float64)
        major = xy[:, MAJOR]
        with warnings.catch_warnings():  # frames without a detection are all-NaN, expectedly
            warnings.simplefilter("ignore", RuntimeWarning)
            extent = np.nanmax(np.nanmax(major, axis=1) - np.nanmin(major, axis=1), axis=-1)
        mid_sh = 0.5 * (xy[:, _LSH] + xy[:, _RSH])
        mid_hip = 0.5 * (xy[:, _LHIP] + xy[:, _RHIP])
        return cls(
            extent=extent,
            torso=_dist(mid_sh, mid_hip),
            thigh=0.5 * (_dist(xy[:, _LHIP], xy[:, _LKNEE]) + _dist(xy[:, _RHIP], xy[:, _RKNEE])),
            shank=0.5 * (_dist(xy[:, _LKNEE], xy[:, _LANK]) + _dist(xy[:, _RKNEE], xy[:, _RANK])),
            upper_arm=0.5 * (_dist(xy[:, _LSH], xy[:, _LELB]) + _dist(xy[:, _RSH], xy[:, _RELB])),
            centre=mid_hip,
            mean_vis=raw[:, _MAJOR_VIS, -1].mean(axis=1),
        )


def plausible_frames(raw: np.ndarray, width: int, height: int, params: GateParams = GateParams()) -> np.ndarray:
    """``(T,) bool``: frames whose BlazePose skeleton looks like a real, analysable person."""
    g = Geometry.of(raw)
    detected = np.isfinite(raw[..., :2]).all(axis=(1, 2))
    lo, hi = params.torso_height_range
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (
            detected
            & (g.extent >= params.min_height_frac * min(width, height))
            & (g.mean_vis >= params.min_mean_visibility)
            & (g.torso >= lo * g.extent)
            & (g.torso <= hi * g.extent)
            & (g.thigh <= params.max_limb_torso * g.torso)
            & (g.shank <= params.max_limb_torso * g.torso)
            & (g.upper_arm <= params.max_arm_torso * g.torso)
        )
    return np.asarray(ok, dtype=bool)


def identity_breaks(raw: np.ndarray, valid: np.ndarray, fps: float, params: GateParams = GateParams()) -> np.ndarray:
    """``(T,) bool``: True at a credible frame whose skeleton is not the same person as the previous credible one."""
    g = Geometry.of(raw)
    idx = np.flatnonzero(valid)
    breaks = np.zeros(len(valid), dtype=bool)
    if len(idx) < 2:
        return breaks
    i, j = idx[:-1], idx[1:]
    dt = (j - i) / fps
    body = 0.5 * (g.extent[i] + g.extent[j])
    jump = _dist(g.centre[j], g.centre[i]) > (params.jump_body_frac + params.jump_body_per_s * dt) * body
    ratio = np.maximum(g.torso[j], g.torso[i]) / np.maximum(np.minimum(g.torso[j], g.torso[i]), 1e-6)
    rescale = ratio > params.max_torso_ratio
    breaks[j[jump | rescale]] = True
    return breaks


@dataclass(frozen=True)
class Selection:
    """The stretch of frames to keep: ``[start, stop)`` rows of the detector output, and what was decided."""

    start: int
    stop: int
    valid: np.ndarray  # (stop - start,) bool: credible detection in that row
    notes: tuple[str, ...]
    change_frames: tuple[int, ...] = ()  # video frames where the person followed changed (cutting a stretch)


def select_person(
    raw: np.ndarray,
    width: int,
    height: int,
    fps: float,
    *,
    min_person_frames: int,
    max_gap_s: float,
    frame_offset: int = 0,
    params: GateParams = GateParams(),
) -> Selection:
    """Keep the longest stretch with one credible person; gaps up to ``max_gap_s`` stay inside a stretch.

    Raises :class:`NoPersonError` when no stretch reaches ``min_person_frames`` credible frames, or
    :class:`MultiplePeopleError` when enough frames show a person but the tracker kept switching between
    people so that no single-person stretch is long enough.
    """
    t = raw.shape[0]
    detected = np.isfinite(raw[..., :2]).all(axis=(1, 2))
    valid = plausible_frames(raw, width, height, params)
    breaks = identity_breaks(raw, valid, fps, params)
    max_gap = int(np.floor(max_gap_s * fps + 1e-9))

    runs: list[list[int]] = []  # [first, last, n_valid]
    n_gap_splits = 0
    prev = None
    n_breaks = 0  # identity changes that cut a stretch (a change across a long gap is just a new stretch)
    change_frames: list[int] = []
    for k in np.flatnonzero(valid):
        long_gap = prev is not None and (k - prev - 1) > max_gap
        if prev is None or long_gap or breaks[k]:
            n_gap_splits += int(long_gap)
            if breaks[k] and not long_gap and prev is not None:
                n_breaks += 1
                change_frames.append(int(k) + frame_offset)
            runs.append([k, k, 1])
        else:
            runs[-1][1] = k
            runs[-1][2] += 1
        prev = k
    n_valid = int(valid.sum())
    n_phantom = int((detected & ~valid).sum())
    seconds = t / fps

    if not runs or max(r[2] for r in runs) < min_person_frames:
        if n_breaks and n_valid >= min_person_frames:
            raise MultiplePeopleError(
                f"Several people seem to be in the video: the person being followed changed {n_breaks} times, "
                f"so no stretch of at least {min_person_frames} frames shows the same person.",
                "Film the patient walking alone, or trim the video to a part where only the patient is visible.",
            )
        detail = (
            f" ({n_phantom} frames held only a doubtful, too small or distorted body shape)" if n_phantom else ""
        )
        raise NoPersonError(
            f"No person could be followed long enough in the {seconds:.1f} s of video analyzed: "
            f"{n_valid} usable frames, at least {min_person_frames} needed{detail}.",
            "Check that the whole body (head to feet) is visible and large enough in the picture, "
            "with good lighting.",
        )

    best = max(runs, key=lambda r: (r[2], -r[0]))
    start, stop = best[0], best[1] + 1
    notes: list[str] = []
    if len(runs) > 1 or start > 0 or stop < t:
        a, b = start + frame_offset, stop - 1 + frame_offset
        where = f"Kept frames {a}-{b} ({a / fps:.2f}-{(b + 1) / fps:.2f} s)"
        if len(runs) == 1:
            notes.append(f"{where}: no person was found outside these frames.")
        else:
            why = []
            if n_gap_splits:
                why.append(f"{n_gap_splits} gap(s) longer than {max_gap_s:g} s without a person")
            if n_breaks:
                why.append(f"{n_breaks} change(s) of the person being followed")
            notes.append(
                f"{where}, the longest stretch with one person; {len(runs) - 1} other stretch(es) were left out "
                f"because of {' and '.join(why)}."
            )
    if n_phantom:
        notes.append(
            f"{n_phantom} frame(s) with a doubtful body (too small, distorted, or a pose seen in an empty room) "
            "were ignored."
        )
    return Selection(start=start, stop=stop, valid=valid[start:stop].copy(), notes=tuple(notes),
                     change_frames=tuple(change_frames))
