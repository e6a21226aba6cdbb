"""Reference gait events from force plates: foot contact where vertical force rises above ~20 N.

A force plate is the reference standard for initial contact and foot off (e.g. Zeni et al. 2008, Gait Posture
27:710, used plates to validate kinematic event detectors; O'Connor et al. 2007 likewise). We threshold the
vertical ground reaction force at 20 N, a common choice that sits above plate noise yet below the first
millisecond of loading. Real plates also flicker: a foot grazing a plate edge, a plate that another foot
loads for a few samples, or electrical noise around the threshold. Two duration rules clean this up:
blips shorter than ``min_blip_s`` are dropped, gaps shorter than ``min_flight_s`` bridged and contacts
shorter than ``min_contact_s`` dropped (hysteresis in time rather than in force, so timing stays at the 20 N
crossing).

Each contact is assigned to the foot whose heel-toe midpoint lies nearest, in the horizontal plane, to the
force-weighted mean centre of pressure over the first 30 % of the contact (loading response, when the other
foot is still a step away; later in stance it swings right past the plate). A contact already under way at
the first sample, or still under way at the last, yields only the event that was seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gaitscope.records import GaitEvent

DEFAULT_THRESHOLD_N = 20.0


@dataclass(frozen=True)
class PlateSeries:
    """One force plate's signals in the Z-up lab frame.

    ``start_s`` is the time of the plate's first sample relative to marker frame 0 (0 for C3D, where analog
    and point data start together).
    """

    name: str
    force_n: np.ndarray  # (N, 3) ground reaction force on the subject, newtons
    cop_m: np.ndarray  # (N, 3) centre of pressure, metres (undefined where force is ~0)
    rate: float
    start_s: float = 0.0
    corners_m: np.ndarray | None = None  # (4, 3)

    @property
    def vertical_n(self) -> np.ndarray:
        """Vertical force, positive when the subject pushes down (sign fixed from the largest excursion)."""
        fz = np.nan_to_num(self.force_n[:, 2])
        return fz if abs(fz.max(initial=0)) >= abs(fz.min(initial=0)) else -fz


@dataclass(frozen=True)
class Contact:
    """A foot on a plate: sample indices of the plate, and whether each end was observed."""

    plate: str
    start: int  # first sample above threshold
    end: int  # last sample above threshold
    rate: float
    start_s: float  # plate start offset (PlateSeries.start_s)
    start_seen: bool
    end_seen: bool
    side: str = "?"
    quality: float = 1.0

    @property
    def t_on_s(self) -> float:
        return self.start_s + self.start / self.rate

    @property
    def t_off_s(self) -> float:
        return self.start_s + (self.end + 1) / self.rate  # force released after the last loaded sample

    @property
    def duration_s(self) -> float:
        return (self.end + 1 - self.start) / self.rate


def contact_intervals(
    fz: np.ndarray,
    rate: float,
    *,
    threshold_n: float = DEFAULT_THRESHOLD_N,
    min_blip_s: float = 0.03,
    min_flight_s: float = 0.05,
    min_contact_s: float = 0.12,
) -> list[tuple[int, int]]:
    """Loaded stretches ``[(first, last), ...]`` of a vertical-force signal, after three duration rules.

    1. runs above threshold shorter than ``min_blip_s`` are dropped: a plate ringing after foot off (Camargo
       plates 1-2 swing +/-150 N for ~0.1 s) or a spike;
    2. gaps shorter than ``min_flight_s`` between the remaining runs are bridged: a load dipping under the
       threshold for a few samples is still one stance;
    3. stretches shorter than ``min_contact_s`` are dropped (a walking stance lasts >= 0.4 s; a graze does not).
    """
    on = np.asarray(fz, dtype=float) > threshold_n
    runs = [(a, b) for a, b in _runs(on) if b - a + 1 >= max(1, int(round(min_blip_s * rate)))]
    max_gap = int(round(min_flight_s * rate))
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] - 1 <= max_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    min_len = int(round(min_contact_s * rate))
    return [(a, b) for a, b in merged if b - a + 1 >= min_len]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not mask.any():
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


def detect_contacts(
    plates: list[PlateSeries],
    feet: dict[str, np.ndarray],
    fps: float,
    *,
    threshold_n: float = DEFAULT_THRESHOLD_N,
    **durations: float,
) -> list[Contact]:
    """Contacts on every plate, each assigned to a side using the foot markers ``feet`` (Z-up, metres).

    ``feet`` maps ``"L"``/``"R"`` to a ``(T, 3)`` foot reference trajectory at the marker rate ``fps``
    (heel-toe midpoint, or the heel alone). ``durations`` go to :func:`contact_intervals`.
    """
    out: list[Contact] = []
    for plate in plates:
        fz = plate.vertical_n
        n = len(fz)
        for a, b in contact_intervals(fz, plate.rate, threshold_n=threshold_n, **durations):
            side, quality = _assign_side(plate, a, b, feet, fps)
            out.append(Contact(plate=plate.name, start=a, end=b, rate=plate.rate, start_s=plate.start_s,
                               start_seen=a > 0, end_seen=b < n - 1, side=side, quality=quality))
    return sorted(out, key=lambda c: c.t_on_s)


def _assign_side(plate: PlateSeries, a: int, b: int, feet: dict[str, np.ndarray], fps: float) -> tuple[str, float]:
    if not feet:
        return "?", 0.0
    # Judge on the loading part of the stance (first 30 %): later the swinging foot passes over the plate.
    b = a + max(int(0.3 * (b - a)), 1)
    fz = np.clip(plate.vertical_n[a : b + 1], 0, None)
    cop = plate.cop_m[a : b + 1, :2]
    ok = np.isfinite(cop).all(axis=1) & (fz > 0)
    if ok.sum() == 0 and plate.corners_m is not None:
        centre = np.nanmean(plate.corners_m[:, :2], axis=0)
    elif ok.sum() == 0:
        return "?", 0.0
    else:
        centre = (cop[ok] * fz[ok, None]).sum(0) / fz[ok].sum()
    # marker frames covering the contact
    f0 = int(np.floor((plate.start_s + a / plate.rate) * fps))
    f1 = int(np.ceil((plate.start_s + (b + 1) / plate.rate) * fps))
    dist = {}
    for side, traj in feet.items():
        seg = traj[max(f0, 0) : max(min(f1, len(traj)), 1), :2]
        seg = seg[np.isfinite(seg).all(axis=1)]
        dist[side] = float(np.linalg.norm(seg.mean(0) - centre)) if len(seg) else np.inf
    ranked = sorted(dist, key=dist.get)
    best = ranked[0]
    if not np.isfinite(dist[best]):
        return "?", 0.0
    # quality: 1 when the other foot is far (> 0.3 m) relative to this one, lower when both are close
    other = dist[ranked[1]] if len(ranked) > 1 else np.inf
    quality = float(np.clip((other - dist[best]) / 0.3, 0.0, 1.0)) if np.isfinite(other) else 1.0
    return best, quality


def events_from_contacts(
    contacts: list[Contact],
    fps: float,
    n_frames: int,
    *,
    feet: dict[str, np.ndarray] | None = None,
    min_swing_m: float = 0.10,
    window_s: float = 0.4,
) -> tuple[GaitEvent, ...]:
    """Heel strikes at contact onsets and toe offs at force release, as marker frames (rounded).

    ``time_s`` keeps the plate's own (sub-frame) crossing time. With ``feet`` given, an onset counts as a heel
    strike only if that foot travelled at least ``min_swing_m`` horizontally in the ``window_s`` before it
    (a swing ended there), and a release counts as a toe off only if the foot travels that far in the window
    after it. This rejects weight shifts while standing on the plates at the start or end of a trial, which
    cross 20 N like a real step does. The distance is scaled down when the trial edge shortens the window.
    """
    events: list[GaitEvent] = []
    for c in contacts:
        if c.side not in ("L", "R"):
            continue
        for seen, kind, t in ((c.start_seen, "heel_strike", c.t_on_s), (c.end_seen, "toe_off", c.t_off_s)):
            frame = int(round(t * fps))
            if not seen or not 0 <= frame < n_frames:
                continue
            if feet is not None and c.side in feet and not _foot_moves(feet[c.side], frame, kind, fps,
                                                                        min_swing_m, window_s):
                continue
            events.append(GaitEvent(side=c.side, kind=kind, frame=frame, time_s=float(t), quality=c.quality))
    events.sort(key=lambda e: (e.frame, e.kind))
    return tuple(events)


def _foot_moves(traj: np.ndarray, frame: int, kind: str, fps: float, min_m: float, window_s: float) -> bool:
    n = int(round(window_s * fps))
    seg = traj[max(frame - n, 0) : frame + 1] if kind == "heel_strike" else traj[frame : frame + n + 1]
    seg = seg[np.isfinite(seg).all(axis=1), :2]
    if len(seg) < max(3, n // 4):
        return True  # too little data at the trial edge to judge: trust the plate
    travel = float(np.linalg.norm(seg[-1] - seg[0]))
    return travel >= min_m * min(1.0, (len(seg) - 1) / n)
