"""Heel strike and toe off from kinematics alone: the coordinate method of Zeni et al. 2008.

Zeni, Richards & Higginson 2008, Gait & Posture 27:710-714: heel strike is the most anterior position of the
heel relative to the sacrum along the walking direction, toe off the most posterior position of the toe.
It needs no force plate and no threshold tuned to a subject, only positions relative to the pelvis, so it
works on root-relative lifter output as well as on world-frame data; it was the most accurate kinematic
method in a 588-subject comparison (Zhang et al. 2025, arXiv 2503.00794). OpenCap's gait module and Stenum
et al. 2021 use the same rule. Where heel/toe points exist (``Motion3D.feet``) they are used; otherwise the
ankle joint stands in for both (H36M-17 has no foot).

Checked on real walking with force plates (tests/analysis/test_analysis_realdata.py, OpenCap lab trials at
100 Hz): heel strike from the heel point 20-55 ms early, toe off from the toe point within 10 ms; with the ankle
joint standing in for the toe (lifter output), toe off comes 5-55 ms early (:data:`TOE_OFF_ANKLE_LATENCY_S`).
On the synthetic walker the extrema fall ~1.5 frames (30 fps) before heel strike and after toe off, because its swing foot starts and ends
at rest; stance % is then overestimated there (see tests/analysis/test_analysis_validation.py). On Horst et
al. 2019 (250 Hz, 6 heel strikes) Zeni's heel strike was within 4 ms. A refinement that moves heel strike to
where the heel's speed falls below 10 % of its swing peak (in the spirit of Ghoussayni et al. 2004) helped on
the OpenCap trials and the walker but was 40-70 ms late on Horst, so it was not adopted.

Peaks are found label-free (:func:`_sided_peaks`): heel strikes as maxima of the FRONT foot's Zeni signal,
whichever foot that is, toe offs as maxima of the BACK foot's, with ``scipy.signal.find_peaks`` (prominence
relative to the signal's own range, minimum spacing 60 % of a step); a parabola through the peak and its
neighbours gives sub-frame timing. Heel strikes then alternate feet, the phase chosen by which labelled foot
is in front; a toe off belongs to the foot other than that of the nearest heel strike. Per-foot peaks (the
method before) gave one foot two strikes 17 frames apart on a real side clip where BlazePose swapped the leg
labels for a few frames; on the rendered side views of real motion the label-free peaks missed 1 of 72 force-
plate heel strikes instead of 3 and 9 of 72 toe offs instead of 13 (docs/validation.md). The ends of a bout (the clip's start and end, or a turn) of a video's lifted motion are read as the data
allow (:func:`_find`, side and oblique views): a maximum whose rise starts in a dip right at the start, lower than where the signal began,
is not an event (the clip started after that foot's strike; the dip was made by the cut, the filter or a label
exchange), and a maximum cut in half by the end is an event once the signal has turned away from it for
:data:`EDGE_TURN_S`. On the real side clip this removed the strike at frame 9 that stood for one before the
clip and found the one 6 frames before its end (docs/validation.md).
Each event gets a quality in [0, 1] from three checks: its prominence relative to the median, the
regularity of the spacing to its neighbours, and alternation (heel strike and toe off of one foot alternate,
left and right heel strikes alternate).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import find_peaks

from gaitscope.analysis.filtering import DEFAULT_CUTOFF_HZ
from gaitscope.analysis.frames import GaitFrame
from gaitscope.records import GaitEvent
from gaitscope.skeleton import J

_PREFIX = {"L": "left", "R": "right"}
MIN_PROMINENCE_FRACTION = 0.25  # of the robust peak-to-peak range of the signal
#: The coordinate method finds heel strike early: the foot stops moving forward relative to the pelvis before
#: it touches down. Measured against force plates (benchmarks/real_mocap_events.py): Horst 2019 -15 ms,
#: OpenCap -38 ms, BMClab -51 ms, Camargo 2021 -40 ms (mean about -36 ms). Heel strikes are moved later by
#: this constant, a conservative part of that mean.
HEEL_STRIKE_LATENCY_S = 0.030
#: With the ankle joint standing in for the toe (the lifter's 17 joints have no foot), toe off is found early:
#: the ankle starts its backward excursion relative to the pelvis to its end before the toe leaves the ground.
#: Measured against force plates with the heel and toe markers dropped (benchmarks/real_mocap_events.py
#: --ankles): Horst 2019 -5 ms, OpenCap -53 ms, Camargo 2021 -45 ms, BMClab -25 ms (median of the sets -35 ms).
#: Toe offs found from the ankle are moved later by this constant, again a conservative part of that.
TOE_OFF_ANKLE_LATENCY_S = 0.025
#: Events of either foot (one per step) are at least this fraction of a stride apart (60 % of a step).
STEP_SPACING = 0.3
#: Consecutive heel strikes farther apart than this many median steps: a step was missed there.
MAX_STEP_GAP_RATIO = 1.6
#: An event in a bout's first or last frames whose other side the clip cuts off is kept when the signal has
#: turned at least this long (and 2 samples) before the end (:func:`_edge_peaks`).
EDGE_TURN_S = 0.03
#: Heel strikes whose leg labels agree with the chosen left/right order less than this (weighted share, see
#: :func:`_alternate`) get a note that left and right may be exchanged: with four strikes and the feet equally
#: far apart at each, one label against three is 0.75 (no note), two against two 0.5.
MIN_SIDE_AGREEMENT = 0.7
#: Walking within this angle (deg) of a camera's optical axis is a frontal or back view (:func:`walks_along_depth`).
DEPTH_VIEW_DEG = 25.0


def walks_along_depth(frame: GaitFrame, root_relative: bool) -> bool:
    """True for 3D in a camera's axes (lifter output: x right, y down, z away from the camera) whose walking
    direction is within :data:`DEPTH_VIEW_DEG` of the optical axis: a frontal or back view.

    There the feet's fore-aft order rests on the lifter's depth, its weakest axis, while left and right are
    plain in the image, so events follow each labelled foot. Measured on the rendered frontal and back views of
    real motion: the label-free front-foot strikes raised spurious heel strikes from 3 to 7 (frontal) and
    spurious toe offs from 14 to 22 (back) of 72.
    """
    if not root_relative:
        return False
    along = np.abs(np.asarray(frame.forward)[:, 2])
    along = along[np.isfinite(along)]
    return bool(along.size and float(np.median(along)) > np.cos(np.radians(DEPTH_VIEW_DEG)))


@dataclass(frozen=True)
class _Peak:
    frame: int
    time_frame: float  # sub-frame position
    prominence: float


def zeni_signals(
    xyz: np.ndarray, frame: GaitFrame, feet: dict[str, np.ndarray] | None = None
) -> dict[tuple[str, str], np.ndarray]:
    """Signals whose maxima are events: ``(side, kind) -> (T,)``.

    heel_strike: (heel - pelvis) . progression; toe_off: -(toe - pelvis) . progression.
    """
    out = {}
    pelvis = xyz[:, J["pelvis"]]
    for s, p in _PREFIX.items():
        heel = feet[f"{p}_heel"] if feet and f"{p}_heel" in feet else xyz[:, J[f"{p}_ankle"]]
        toe = feet[f"{p}_toe"] if feet and f"{p}_toe" in feet else xyz[:, J[f"{p}_ankle"]]
        out[(s, "heel_strike")] = ((heel - pelvis) * frame.forward).sum(1)
        out[(s, "toe_off")] = -((toe - pelvis) * frame.forward).sum(1)
    return out


@dataclass(frozen=True)
class _Ends:
    """How a bout's ends are read, in samples: ``turn``, how long the signal must fall between a maximum the
    end cuts in half and the end (:data:`EDGE_TURN_S`); ``settle``, the low-pass's settling time, within which
    a dip at a bout's end may be the filter's transient or the cut rather than the feet."""

    turn: int = 2
    settle: int = 5


def _find(signal: np.ndarray, min_distance: int, ends: _Ends | None = None) -> list[_Peak]:
    """Maxima of ``signal`` standing out by :data:`MIN_PROMINENCE_FRACTION` of its range, at least
    ``min_distance`` samples apart, with two rules for the bout's ends where ``ends`` is given (the label-free
    front/back envelopes of side and oblique views; in frontal and back views, where the fore-aft signal rests
    on the lifter's depth, they added spurious heel strikes on the renders, frontal 4 -> 5 and back 22 -> 27 of 72,
    and moved frontal stance from -1.4 to -3.5 %pt):

    1. A peak whose prominence rests on a dip within ``ends.settle`` samples of the start (or end), with the
       signal higher still between that dip and the edge, is left out: the signal came down from the edge into
       a dip that the clip's cut, the filter's edge transient or a detector exchanging the legs' labels there
       can make, not the feet crossing. On the real side clip ``sarwesh_side`` the clip starts just after a
       heel strike, BlazePose exchanged the legs' labels in frames 2-11, and the front foot's signal fell from
       0.40 m at frame 0 into a dip at frame 3 and rose to a false maximum at frame 8 (a heel strike at frame 9
       for the one before the clip). A strike just after the start still counts: the signal rose to it from the
       first frame (rule 2).
    2. Maxima that a bout's end cuts in half are added where the data confirm them (:func:`_edge_peaks`).
    """
    x = np.asarray(signal, dtype=float)
    finite = x[np.isfinite(x)]
    if finite.size < 5:
        return []
    rng = np.percentile(finite, 95) - np.percentile(finite, 5)
    if rng <= 0:
        return []
    xx = np.where(np.isfinite(x), x, np.nanmin(finite))  # NaN never forms a peak
    min_prom = MIN_PROMINENCE_FRACTION * rng
    idx, props = find_peaks(xx, prominence=min_prom, distance=max(1, min_distance))
    n = len(xx)
    found = list(zip(idx.tolist(), props["prominences"].tolist()))
    if ends is not None:
        found = [(i, prom) for (i, prom), lb, rb in zip(found, props["left_bases"].tolist(),
                                                        props["right_bases"].tolist())
                 if not (lb < ends.settle and np.max(xx[:lb + 1]) >= xx[i])
                 and not (rb >= n - ends.settle and np.max(xx[rb:]) >= xx[i])]
        found = sorted(found + _edge_peaks(xx, [i for i, _ in found], max(1, min_distance), min_prom, ends.turn))
    peaks = []
    for i, prom in found:
        off = 0.0
        if 0 < i < len(x) - 1 and np.all(np.isfinite(x[i - 1 : i + 2])):
            a, b, c = x[i - 1], x[i], x[i + 1]
            den = a - 2 * b + c
            if den < 0:
                off = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
        peaks.append(_Peak(int(i), i + off, float(prom)))
    return peaks


def _edge_peaks(x: np.ndarray, inner: list[int], min_distance: int, min_prom: float,
                turn: int) -> list[tuple[int, float]]:
    """Maxima that the start or the end of a bout cuts in half: ``[(index, one-sided prominence)]``.

    ``find_peaks`` measures a peak's prominence on both sides, so an event in the last (or first) few frames,
    whose fall (or rise) the clip cut short, is missed: on the real side clip ``sarwesh_side`` the heel strike
    6 frames before the end, whose Zeni maximum lies 3 frames before the end. Such a maximum is kept when the
    data confirm it: it is the largest value between its neighbouring event (at least ``min_distance`` away)
    and the end, a strict local maximum, the signal then falls over at least ``turn`` samples to the end (the
    foot has stopped moving forward; after the 6 Hz low-pass a turn is a turn of the data, jitter being
    millimetres), and its other side passes the usual prominence. A maximum at the very first or last samples
    is never an event: the data cannot say whether the foot went on, and Zeni et al. 2008's event is the
    extremum itself, not the edge of a recording.
    """
    n = len(x)
    out: list[tuple[int, float]] = []
    # the end: after the last two-sided peak, the signal rose (its rise is the prominence) and turned
    lo = inner[-1] + min_distance if inner else 0
    if n - lo > turn + 1:
        i = lo + int(np.argmax(x[lo:]))
        base = x[inner[-1] if inner else 0 : i + 1]
        if (lo < i <= n - 1 - turn and x[i - 1] < x[i] > np.max(x[i + 1 :])
                and x[i] - np.min(base) >= min_prom):
            out.append((i, float(x[i] - np.min(base))))
    # the start: before the first two-sided peak, the signal turned at ``i`` and then fell by the prominence
    hi = inner[0] - min_distance + 1 if inner else n
    if hi > turn + 1:
        i = int(np.argmax(x[:hi]))
        base = x[i : (inner[0] if inner else n) + 1]
        if (turn <= i < hi - 1 and x[i + 1] < x[i] > np.max(x[:i])
                and x[i] - np.min(base) >= min_prom and all(i != j for j, _ in out)):
            out.append((i, float(x[i] - np.min(base))))
    return out


def detect_events(
    xyz: np.ndarray,
    frame: GaitFrame,
    fps: float,
    stride_s: float,
    bouts: list[tuple[int, int]],
    feet: dict[str, np.ndarray] | None = None,
    measured: np.ndarray | None = None,
    label_free: bool = True,
    cutoff_hz: float = DEFAULT_CUTOFF_HZ,
    video_ends: bool = False,
    notes: list[str] | None = None,
) -> tuple[GaitEvent, ...]:
    """Zeni events inside each bout ``[start, stop)``, sorted by time, with a quality per event.

    ``label_free``: find strikes on the front foot and alternate them (:func:`_sided_peaks`); False: peaks of
    each labelled foot's own signal, for views where the fore-aft order of the feet rests on depth
    (:func:`walks_along_depth`).

    ``measured`` (T,) is False where a frame was missing in the input and has been interpolated; an event
    within 2 frames of such a frame has its quality halved (its timing rests on interpolated positions).

    ``video_ends``: read the bout's ends as :func:`_find` says (for a lifter's output, i.e. video, in label-free
    mode); ``cutoff_hz``, the low-pass the joints went through, whose settling time (``fps / cutoff_hz``
    samples) is how far from a bout's ends a dip may be a transient of the filter or the cut rather than the
    feet. Marker data keep the two-sided peaks they were validated with against force plates: they are the
    reference the video evaluation compares with, and the rules would add the strides at a trial's ends to
    that comparison (measured on the force-plate sets, ``benchmarks/real_mocap_events.py``: 58 -> 71 of 80
    Horst heel strikes matched, 5 -> 8 of 16 Camargo, timing unchanged; left for a separate change).

    ``notes``, when given, receives a sentence for every run of heel strikes whose left/right order the leg
    labels at the strikes do not settle (:func:`_alternate`, label-free mode).
    """
    signals = zeni_signals(xyz, frame, feet)
    ends = (_Ends(turn=max(2, int(np.ceil(EDGE_TURN_S * fps))), settle=max(2, int(round(fps / cutoff_hz))))
            if video_ends else None)
    events: list[GaitEvent] = []
    latency_s = {
        (s, kind): (HEEL_STRIKE_LATENCY_S if kind == "heel_strike"
                    else 0.0 if feet and f"{p}_toe" in feet else TOE_OFF_ANKLE_LATENCY_S)
        for s, p in _PREFIX.items() for kind in ("heel_strike", "toe_off")
    }
    for a, b in bouts:
        found: dict[tuple[str, str], list[_Peak]] = {(s, k): [] for s in _PREFIX for k in ("heel_strike", "toe_off")}
        if label_free:
            doubts: list[tuple[int, int, float, int]] = []
            sided = _sided_peaks(signals, a, b, int(STEP_SPACING * stride_s * fps), ends, doubts)
            if notes is not None:
                notes += [f"Heel strikes at frames {a + f0}-{a + f1}: the leg labels at the {n} strikes agree with one "
                          f"order of left and right in only {100 * share:.0f} % of the vote, so which foot is the "
                          "left one is uncertain there: the per-side values may belong to the other leg "
                          "(both-feet values are not affected)." for f0, f1, share, n in doubts]
        else:
            sided = [(key, p) for key, sig in signals.items()
                     for p in _find(sig[a:b], int(0.6 * stride_s * fps))]
        for (side, kind), peak in sided:
            shift = latency_s[(side, kind)] * fps
            found[(side, kind)].append(
                _Peak(int(round(peak.time_frame + a + shift)), peak.time_frame + a + shift, peak.prominence))
        events.extend(_with_quality(found, fps, stride_s))
    if measured is not None:
        near_gap = ~np.asarray(measured, dtype=bool)
        near_gap = np.convolve(near_gap.astype(float), np.ones(5), mode="same") > 0
        events = [replace(e, quality=round(e.quality * 0.5, 3)) if near_gap[min(e.frame, len(near_gap) - 1)] else e
                  for e in events]
    events.sort(key=lambda e: (e.time_s, e.side))
    return tuple(events)


def _alternate(peaks: list[_Peak], lead: np.ndarray,
               doubts: list[tuple[int, int, float, int]] | None = None) -> list[str]:
    """Sides "L"/"R" for consecutive events that alternate feet, each run's phase chosen by the labels.

    ``lead`` (one value per peak) is positive where the left-labelled foot is the one the event belongs to
    (for heel strikes: the left foot is in front). Within a run the sides alternate; the phase that agrees best
    with ``lead`` (weighted by its size) wins, so a 2D detector that swaps the labels for a few frames cannot
    make one foot strike twice in a row. A gap longer than :data:`MAX_STEP_GAP_RATIO` median steps (a missed
    step) starts a new run with its own phase.

    ``doubts`` collects ``(first frame, last frame, agreement, strikes)`` of each run of at least two events whose
    labels agree with the chosen phase in less than :data:`MIN_SIDE_AGREEMENT` of the weighted vote
    (``0.5 + |vote| / (2 sum |lead|)``: 1 when every label agrees, 0.5 for a tie). Then the order of the sides
    rests on the detector's labels at the events, which disagree: on the real side clip ``sarwesh_side`` the
    labels at two of four strikes were exchanged, the vote a near-tie and the sides of the whole clip exchanged
    (seen in the video: the left arm swings back at frame 33, so the left foot is the one landing), until leg
    identity kept one stance from being split in two (:func:`gaitscope.models.leg_identity.merge_spots`).
    """
    if not peaks:
        return []
    times = np.array([p.time_frame for p in peaks])
    gaps = np.diff(times)
    med = float(np.median(gaps)) if gaps.size else np.inf
    breaks = [0] + [i + 1 for i, g in enumerate(gaps) if g > MAX_STEP_GAP_RATIO * med] + [len(peaks)]
    sides: list[str] = []
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        alt = np.array([1.0 if (k - lo) % 2 == 0 else -1.0 for k in range(lo, hi)])
        vote = float(np.nansum(alt * lead[lo:hi]))
        first = "L" if vote > 0 or (vote == 0 and lead[lo] >= 0) else "R"
        weight = float(np.nansum(np.abs(lead[lo:hi])))
        if doubts is not None and hi - lo >= 2 and weight > 0:
            agreement = 0.5 + abs(vote) / (2.0 * weight)
            if agreement < MIN_SIDE_AGREEMENT:
                doubts.append((peaks[lo].frame, peaks[hi - 1].frame, agreement, hi - lo))
        other = "R" if first == "L" else "L"
        sides += [first if (k - lo) % 2 == 0 else other for k in range(lo, hi)]
    return sides


def _sided_peaks(signals: dict[tuple[str, str], np.ndarray], a: int, b: int, min_distance: int,
                 ends: _Ends | None = None,
                 doubts: list[tuple[int, int, float, int]] | None = None) -> list[tuple[tuple[str, str], _Peak]]:
    """Heel strikes and toe offs in frames ``[a, b)`` (peaks relative to ``a``), each with its foot.

    Found label-free, then given feet: a heel strike is a maximum of the FRONT foot's position (whichever foot
    that is; each foot's Zeni signal peaks there when it strikes), a toe off a maximum of the BACK foot's
    backward position. Heel strikes alternate feet (:func:`_alternate`, phase from which labelled foot is in
    front); a toe off belongs to the foot other than that of the nearest heel strike (the left toe comes off
    at the end of the double support that the right heel strike starts, 10 % of a stride later, and 40 % before
    its own heel strike: Perry & Burnfield 2010), except before the bout's first heel strike, where that
    other-foot strike lies before the clip: it belongs to the foot of the first heel strike after it.
    Why: a 2D detector swaps or merges the legs when they cross (on the real side clip ``sarwesh_side``
    BlazePose exchanged the labels for 10-20 frames at a time), and per-foot peaks then give one foot two heel
    strikes 17 frames apart; the front and back envelopes do not depend on the labels.
    """
    hs = {s: signals[(s, "heel_strike")][a:b] for s in _PREFIX}
    to = {s: signals[(s, "toe_off")][a:b] for s in _PREFIX}
    front, back = np.fmax(hs["L"], hs["R"]), np.fmax(to["L"], to["R"])
    out: list[tuple[tuple[str, str], _Peak]] = []
    hs_peaks = _find(front, min_distance, ends)
    hs_sides = _alternate(hs_peaks, np.array([hs["L"][p.frame] - hs["R"][p.frame] for p in hs_peaks]), doubts)
    out += [((s, "heel_strike"), p) for s, p in zip(hs_sides, hs_peaks)]
    hs_t = np.array([p.time_frame for p in hs_peaks])
    for p in _find(back, min_distance, ends):
        if hs_sides and p.time_frame < hs_t[0]:  # before the first strike seen, whose other-foot strike 10 %
            side = hs_sides[0]  # before it the clip cut off: the next strike is this foot's own (40 % later)
        elif hs_sides:  # the nearest heel strike is the other foot's (10 % of a stride before, at the end of
            side = "R" if hs_sides[int(np.argmin(np.abs(hs_t - p.time_frame)))] == "L" else "L"  # double support)
        else:  # no heel strike in the bout: the labels say which foot is behind
            side = "L" if to["L"][p.frame] >= to["R"][p.frame] else "R"
        out.append(((side, "toe_off"), p))
    return out


def _with_quality(found: dict[tuple[str, str], list[_Peak]], fps: float, stride_s: float) -> list[GaitEvent]:
    """Score each peak: prominence x spacing regularity x alternation (each in [0, 1])."""
    all_proms = [p.prominence for ps in found.values() for p in ps]
    med_prom = float(np.median(all_proms)) if all_proms else 1.0
    out = []
    for (side, kind), peaks in found.items():
        other_kind = "toe_off" if kind == "heel_strike" else "heel_strike"
        same_other = sorted(p.time_frame for p in found.get((side, other_kind), []))
        contra = sorted(p.time_frame for p in found.get(("R" if side == "L" else "L", kind), []))
        times = [p.time_frame for p in peaks]
        for i, p in enumerate(peaks):
            q_prom = min(1.0, p.prominence / (0.5 * med_prom)) if med_prom > 0 else 1.0
            gaps = [times[i] - times[i - 1]] if i > 0 else []
            if i + 1 < len(times):
                gaps.append(times[i + 1] - times[i])
            period = stride_s * fps
            q_space = 1.0
            if gaps:
                dev = max(abs(g - period) / period for g in gaps)
                q_space = float(np.clip(1.0 - max(0.0, dev - 0.2) / 0.5, 0.0, 1.0))
            q_alt = 1.0
            # Between this event and the next of the same kind and side there must be exactly one of the
            # other kind (same side) and one contralateral event of the same kind.
            if i + 1 < len(times):
                lo, hi = times[i], times[i + 1]
                n_other = sum(lo < t < hi for t in same_other)
                n_contra = sum(lo < t < hi for t in contra)
                if (same_other and n_other != 1) or (contra and n_contra != 1):
                    q_alt = 0.5
            q = float(np.clip(q_prom, 0, 1) * q_space * q_alt)
            out.append(GaitEvent(side=side, kind=kind, frame=int(round(p.time_frame)),
                                 time_s=float(p.time_frame / fps), quality=round(q, 3)))
    return out
