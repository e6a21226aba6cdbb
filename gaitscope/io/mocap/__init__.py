"""Motion-capture import: C3D, TRC, OpenSim MOT/STO and BVH files into the platform's :class:`Motion3D`.

Gait labs keep archives of marker recordings; importing them lets the platform analyze lab data with the same
code as video, and gives reference gait events (force plates) to validate the video pipeline against.

    >>> from gaitscope.io.mocap import load_motion
    >>> trial = load_motion("S01_0002_Gait.c3d")      # finds S01_0001_Static.c3d beside it
    >>> trial.motion.xyz_m.shape, trial.events[0]

Everything comes out in metres, in a Z-up right-handed frame (``motion.up == (0, 0, 1)``), in H36M-17 order.
"""

from gaitscope.io.mocap.bvh import load_bvh
from gaitscope.io.mocap.c3d import read_c3d
from gaitscope.io.mocap.force_plates import PlateSeries, contact_intervals, detect_contacts
from gaitscope.io.mocap.loader import MocapTrial, load_motion
from gaitscope.io.mocap.marker_sets import MARKER_SETS, MarkerSet
from gaitscope.io.mocap.markers import MarkerData
from gaitscope.io.mocap.opensim_mot import read_grf_plates, read_ik_angles, read_table
from gaitscope.io.mocap.trc import read_trc

__all__ = [
    "MARKER_SETS",
    "MarkerData",
    "MarkerSet",
    "MocapTrial",
    "PlateSeries",
    "contact_intervals",
    "detect_contacts",
    "load_bvh",
    "load_motion",
    "read_c3d",
    "read_grf_plates",
    "read_ik_angles",
    "read_table",
    "read_trc",
]
