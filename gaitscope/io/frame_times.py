"""When each frame of a video was taken: presentation times from the container (PyAV), and resampling of 2D
keypoints from those times onto an even clock.

Why: phones record variable frame rate (VFR): the interval between frames follows exposure and load, e.g.
1/30 s in daylight and 1/15 s indoors, within one clip. OpenCV reports one frame rate and every later stage
assumed frames an equal interval apart, so on a VFR clip event times, cadence and speeds are wrong by as much as
the rate varies. The container knows each frame's presentation time stamp; PyAV reads them from the packets
without decoding a picture.

Decision: a video whose frame intervals vary by more than :data:`VFR_TOLERANCE` of their median is treated as
VFR. Its nominal rate becomes the mean rate (frames over duration), and the 2D keypoints, detected per decoded
frame, are interpolated (linearly, per coordinate) onto an even clock at that rate before lifting; each resampled
frame keeps the index of the source frame nearest in time, so reported frames still point into the video.
Constant-rate videos are left exactly as they were.
"""

from __future__ import annotations

import numpy as np

from gaitscope.records import Keypoints2D

#: Relative deviation of a frame interval from the median above which the video counts as variable-rate
#: (container time stamps of constant-rate files jitter by a tick or two of their time base).
VFR_TOLERANCE = 0.10
#: A resampled frame farther than this many nominal intervals from any decoded frame is marked interpolated.
MAX_SOURCE_DISTANCE = 1.5


def read_frame_times(path: str) -> np.ndarray | None:
    """Presentation times (s, first frame at 0) of the video stream's frames in display order, or None when the
    container does not give them (PyAV missing, no time stamps, an unreadable stream)."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a dependency
        return None
    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
            base = stream.time_base
    except (av.FFmpegError, OSError, ValueError):
        return None
    if len(pts) < 2 or base is None:
        return None
    t = np.sort(np.asarray(pts, dtype=np.float64)) * float(base)
    return t - t[0]


def is_variable_rate(times: np.ndarray) -> bool:
    """True when some frame interval differs from the median interval by more than :data:`VFR_TOLERANCE`."""
    dt = np.diff(np.asarray(times, dtype=float))
    if dt.size < 2:
        return False
    med = float(np.median(dt))
    if med <= 0:
        return False
    return bool(np.any(np.abs(dt - med) > VFR_TOLERANCE * med))


def mean_rate(times: np.ndarray) -> float:
    """Frames per second over the whole clip (n - 1 intervals over the time they span)."""
    return float((len(times) - 1) / (times[-1] - times[0]))


def resample_keypoints(kp: Keypoints2D, times_s: np.ndarray, fps: float) -> Keypoints2D:
    """``kp`` (one row per decoded frame, taken at ``times_s[kp.frame_index]``) on an even clock at ``fps``; each
    new row's time on the video's clock is in ``time_s``.

    Positions, confidences and the raw landmarks are interpolated linearly in time; ``frame_index`` of each new
    row is the source frame nearest in time; rows farther than :data:`MAX_SOURCE_DISTANCE` intervals from any
    decoded frame (a long exposure gap) are marked ``interpolated``, as are rows between two interpolated ones.
    """
    t_src = np.asarray(times_s, dtype=float)[kp.frame_index]
    n = int(np.floor((t_src[-1] - t_src[0]) * fps + 1e-9)) + 1
    t_new = t_src[0] + np.arange(n) / fps

    def interp(a: np.ndarray) -> np.ndarray:
        flat = a.reshape(len(a), -1).astype(np.float64)
        out = np.empty((n, flat.shape[1]))
        for j in range(flat.shape[1]):
            out[:, j] = np.interp(t_new, t_src, flat[:, j])
        return out.reshape((n,) + a.shape[1:]).astype(a.dtype)

    nearest = np.clip(np.searchsorted(t_src, t_new), 1, len(t_src) - 1)
    nearest = np.where(np.abs(t_src[nearest - 1] - t_new) <= np.abs(t_src[nearest] - t_new), nearest - 1, nearest)
    far = np.abs(t_src[nearest] - t_new) > MAX_SOURCE_DISTANCE / fps
    was_filled = kp.interpolated[nearest]
    dt = np.diff(t_src)
    note = (f"Variable frame rate ({1 / dt.max():.1f}-{1 / dt.min():.1f} fps): the 2D keypoints were resampled "
            f"from the container's frame times onto an even {fps:.2f} fps clock.")
    return Keypoints2D(
        xy_px=interp(kp.xy_px), conf=interp(kp.conf), fps=float(fps), width=kp.width, height=kp.height,
        frame_index=kp.frame_index[nearest], interpolated=far | was_filled, source=kp.source,
        raw=None if kp.raw is None else interp(kp.raw), raw_format=kp.raw_format, notes=kp.notes + (note,),
        time_s=t_new,
    )
