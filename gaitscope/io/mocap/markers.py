"""Labelled marker trajectories, the common ground between the file readers and the joint-centre code.

Every reader (C3D, TRC) returns a :class:`MarkerData`: metres, a Z-up right-handed lab frame, one array of
shape ``(T, M, 3)`` with NaN where a marker was not seen. Converting units and axes once, here, means the
joint-centre regressions and the force-plate code never have to ask which lab a file came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from gaitscope.errors import MocapError

#: Rotation taking a Y-up OpenSim/TRC/BVH frame (X forward, Y up, Z right) to our Z-up frame.
#: new = (x, -z, y): a proper rotation (det = +1), so handedness is kept and the old X stays X.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

_UNIT_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "meters": 1.0, "metres": 1.0, "millimeters": 1e-3,
              "in": 0.0254, "inch": 0.0254, "inches": 0.0254}


def unit_scale(units: str, *, path: str = "") -> float:
    """Factor that turns a length in ``units`` (as written in a file header) into metres."""
    key = units.strip().lower()
    if key not in _UNIT_TO_M:
        raise MocapError(
            f"{path or 'The file'} declares length units {units!r}, which gaitscope does not know.",
            hint="Export the markers in millimetres or metres.",
        )
    return _UNIT_TO_M[key]


def normalize_label(label: str) -> str:
    """Canonical form of a marker label, so that 'R THIGH  1', 'r_thigh_1' and 'Subject:R.Thigh.1' compare equal.

    Vicon prefixes the subject name ("Sub01:LASI"); labs mix spaces, dots and underscores. Upper-case, the part
    after the last ':', and runs of space/dot/underscore/dash collapsed to one underscore.
    """
    label = label.split(":")[-1]
    return re.sub(r"[\s._\-]+", "_", label.strip()).strip("_").upper()


@dataclass(frozen=True)
class MarkerData:
    """Marker trajectories of one trial in metres, Z up (see :data:`Y_UP_TO_Z_UP`)."""

    labels: tuple[str, ...]  # as written in the file
    xyz_m: np.ndarray  # (T, M, 3) float, NaN where occluded
    fps: float
    path: str
    units_note: str  # "POINT:UNITS=mm (x 0.001 to metres); Z up as recorded"
    first_frame: int = 0  # frame number of the first sample in the recording's own numbering
    notes: tuple[str, ...] = ()
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.xyz_m.ndim != 3 or self.xyz_m.shape[1:] != (len(self.labels), 3):
            raise MocapError(
                f"{self.path}: marker array has shape {self.xyz_m.shape} for {len(self.labels)} labels.",
                hint="The file is malformed; re-export it from the capture software.",
            )
        if not self.fps > 0:
            raise MocapError(f"{self.path}: marker rate {self.fps} Hz is not positive.", hint="Re-export the file.")
        # First occurrence of a normalised label wins; later duplicates (e.g. a re-used 'RKNE') stay reachable
        # by their position only.
        index: dict[str, int] = {}
        for i, lab in enumerate(self.labels):
            index.setdefault(normalize_label(lab), i)
        object.__setattr__(self, "_index", index)

    @property
    def n_frames(self) -> int:
        return int(self.xyz_m.shape[0])

    def has(self, label: str) -> bool:
        return normalize_label(label) in self._index

    def get(self, label: str) -> np.ndarray:
        """Trajectory ``(T, 3)`` of one marker (by any spelling that normalises to the same label)."""
        key = normalize_label(label)
        if key not in self._index:
            raise KeyError(label)
        return self.xyz_m[:, self._index[key], :]
