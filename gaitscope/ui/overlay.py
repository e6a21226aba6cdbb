"""The 2D skeleton drawn over a video frame (one frame at a time: light for the browser and the server).

Rendering a whole overlay video would re-encode every frame on every analysis; a frame slider reads one frame
on demand with OpenCV and draws the detected joints on it, which is all a clinician needs to check that the
detector followed the right person and did not swap legs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitscope.records import Keypoints2D
from gaitscope.skeleton import H36M_BONES, H36M_JOINTS

# BGR for OpenCV: left red, right blue, centre green (same convention as the plots).
_BGR = {"L": (40, 39, 214), "R": (180, 119, 31), "": (44, 160, 44)}


def _side(j: int) -> str:
    name = H36M_JOINTS[j]
    return "L" if name.startswith("left_") else "R" if name.startswith("right_") else ""


def read_frame(video_path: str | Path, frame_index: int) -> np.ndarray | None:
    """Frame ``frame_index`` of the video as an RGB array, or None when it cannot be read."""
    import cv2

    cap = cv2.VideoCapture(str(video_path))
    try:
        if not cap.isOpened():
            return None
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame_index))
        ok, frame = cap.read()
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok and frame is not None else None
    finally:
        cap.release()


def draw_skeleton(image_rgb: np.ndarray | None, keypoints: Keypoints2D, row: int, min_conf: float = 0.3,
                  ) -> np.ndarray:
    """Draw row ``row`` of ``keypoints`` on a copy of ``image_rgb`` (a grey canvas when None); returns RGB.

    Joints under ``min_conf`` are skipped; interpolated rows are drawn dashed-thin so filled gaps are visible.
    When the frame and the keypoints disagree on orientation (a phone video read unrotated), the frame is
    rotated to match the keypoints' image size.
    """
    import cv2

    w, h = int(keypoints.width), int(keypoints.height)
    if image_rgb is None:
        img = np.full((h, w, 3), 235, np.uint8)
    else:
        img = np.ascontiguousarray(image_rgb.copy())
        if img.shape[:2] == (w, h) and w != h:
            img = np.ascontiguousarray(np.rot90(img, k=-1))
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h))
    row = int(np.clip(row, 0, keypoints.n_frames - 1))
    xy, conf = keypoints.xy_px[row], keypoints.conf[row]
    thick = max(2, int(round(min(w, h) / 200)))
    if keypoints.interpolated[row]:
        thick = max(1, thick // 2)
    for a, b in H36M_BONES:
        if conf[a] < min_conf or conf[b] < min_conf or not np.all(np.isfinite(xy[[a, b]])):
            continue
        colour = _BGR[_side(b)][::-1]  # the image is RGB
        cv2.line(img, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), colour, thick, cv2.LINE_AA)
    for j in range(len(H36M_JOINTS)):
        if conf[j] >= min_conf and np.all(np.isfinite(xy[j])):
            cv2.circle(img, (int(xy[j, 0]), int(xy[j, 1])), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return img


def overlay_frame(video_path: str | Path | None, keypoints: Keypoints2D, row: int) -> np.ndarray:
    """The video frame that row ``row`` of ``keypoints`` came from, with its skeleton drawn."""
    frame = None
    if video_path is not None and Path(video_path).exists():
        frame = read_frame(video_path, int(keypoints.frame_index[int(np.clip(row, 0, keypoints.n_frames - 1))]))
    return draw_skeleton(frame, keypoints, row)


def render_overlay_video(video_path: str | Path, keypoints: Keypoints2D, out_path: str | Path, *,
                         max_width: int = 640, progress=None) -> Path:
    """Write the video with its skeleton drawn on every frame as WebM (VP8) at most ``max_width`` wide.

    Why WebM/VP8: it is the one browser-playable codec OpenCV's bundled FFmpeg can *write* (no H.264 encoder
    ships with the wheels), and many clinic cameras save MPEG-4 Part 2 ("mp4v"), which browsers do not play;
    the overlay video therefore doubles as a playable copy. ``progress(done, total)`` is called per frame.
    Written to a temporary name, then renamed, so a half-written file is never served.
    """
    import cv2

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rows = {int(f): i for i, f in enumerate(keypoints.frame_index)}
    w, h = int(keypoints.width), int(keypoints.height)
    scale = min(1.0, max_width / w)
    size = (int(round(w * scale)) // 2 * 2, int(round(h * scale)) // 2 * 2)
    cap = cv2.VideoCapture(str(video_path))
    if not cap.isOpened():
        from gaitscope.errors import VideoError

        raise VideoError(f"The video {Path(video_path).name} cannot be opened to draw the skeleton on it.")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or keypoints.n_frames
    tmp = out_path.with_name(out_path.stem + ".part.webm")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP80"), float(keypoints.fps), size)
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            row = rows.get(index)
            if row is not None:
                rgb = draw_skeleton(rgb, keypoints, row)
            elif rgb.shape[:2] != (h, w):
                rgb = cv2.resize(rgb, (w, h))
            writer.write(cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR))
            index += 1
            if progress is not None:
                progress(index, max(total, index))
    finally:
        cap.release()
        writer.release()
    if index == 0:
        tmp.unlink(missing_ok=True)
        from gaitscope.errors import VideoError

        raise VideoError(f"No frame of {Path(video_path).name} could be read to draw the skeleton on.")
    tmp.replace(out_path)
    return out_path
