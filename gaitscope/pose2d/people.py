"""Several people in view: see them, tell whether the person measured can be told apart, let the user pick one.

Why (issue 21, point 3): BlazePose's tracker follows one person and says nothing about the others; a street clip
gave a confident report of whoever it followed. Its person detector (``pose_detection.tflite``, run by
:class:`~gaitscope.pose2d.blazepose_litert.BlazePoseLiteRT`) scores every person in the frame, but it is built
for one dominant person: on the two-walker test videos it mostly returned only the nearer walker, and a walker
about 100 px high in a 640-px-wide frame (35 px once letterboxed into its 224-px input) was never found. Two things
made the others visible, measured on :mod:`gaitscope.synthetic.people`'s videos:

* **masking the person measured**: the followed person's landmark box (padded by 15 % of their height) is painted
  over with the frame's mean colour before detecting, so the detector's strongest answer is somebody else;
* **tiles**: the detector also runs on two overlapping square halves of the frame (left/right, or top/bottom for a
  portrait video), which doubles the size of a small person in its input.

Every :data:`SAMPLE_EVERY_S` of the analyzed video this gives the boxes of the other people. The person measured
*cannot be told apart* (:func:`ambiguity`) when another person of about the same size in the picture (heights
within :data:`SIMILAR_SIZE`) comes within half a body height of them, or is seen on one side and, at most
:data:`CROSS_WINDOW_S` later, on the other (they crossed while one hid the other), or when the tracker changed
person while others were in view: then a tracker may have swapped them without a visible jump, and the report is
refused (:class:`~gaitscope.errors.MultiplePeopleError`). A person of clearly different size (nearer or farther
from the camera) cannot be mixed up with the one measured without a jump in body size, which the person gate
(:mod:`gaitscope.pose2d.person_gate`) catches.

The user picks a person (:class:`PersonChoice`) by a pixel point or a number on the *people frame*
(:func:`find_people`: the first sampled frame where the most people are seen, numbered left to right); the
detection then starts at that frame and re-detects, whenever the tracker loses the person, the one nearest to
where they were last seen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gaitscope.errors import GaitscopeError, InvalidInputError, MultiplePeopleError
from gaitscope.records import Keypoints2D, PeopleSeen, VideoInfo

Box = tuple[float, float, float, float]

SAMPLE_EVERY_S = 0.5  # how often the other people are looked for (3 detector calls each time)
SIMILAR_SIZE = 1.5  # people whose heights in the picture differ by less than this factor can be mixed up
# (the detector's boxes are crude: on the crossing video two people of 1.75 and 1.72 m, 0.6 m apart in depth,
# measured 1.2-1.4x; the two walkers 3 m apart in depth of the "depths" video 1.8-2.1x)
CLOSE_BODY_FRAC = 0.5  # hip centres closer than this x body height: overlapping in the picture
NEAR_BODY_FRAC = 1.5  # ... within this, a change of side counts as crossing
CROSS_WINDOW_S = 1.2
MASK_PAD = 0.15
TILE_IOU = 0.3
SAME_BODY_FRAC = 0.25
FIND_MAX_S = 20.0  # find_people looks at the first 20 s of the video


# ------------------------------------------------------------------------------------------------------------------
# The user's choice
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonChoice:
    """A person picked on the people frame: a 1-based number (left to right) or a pixel point."""

    number: int | None = None
    point: tuple[float, float] | None = None

    @classmethod
    def parse(cls, text: str | int | None) -> "PersonChoice | None":
        """``"2"`` (the second person from the left) or ``"x,y"`` (pixels on the people frame); None/"" -> None."""
        if text is None or str(text).strip() == "":
            return None
        s = str(text).strip()
        if re.fullmatch(r"#?\d+", s):
            n = int(s.lstrip("#"))
            if n < 1:
                raise InvalidInputError(f"Person number {n} is not valid.", "People are numbered from 1, left to "
                                        "right, on the frame where the most people are seen.")
            return cls(number=n)
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", s)
        if m is None:
            raise InvalidInputError(f"'{s}' does not say which person to analyze.",
                                    "Give a number (1 = the leftmost person) or a pixel point x,y on the frame "
                                    "where people are seen, e.g. --person 2 or --person 410,180.")
        x, y = float(m.group(1)), float(m.group(2))
        if x < 0 or y < 0:
            raise InvalidInputError(f"Pixel point {s} is outside the picture.", "Give x,y in pixels from the "
                                    "top-left corner of the frame.")
        return cls(point=(x, y))

    @property
    def key(self) -> str:
        """One spelling per choice, for the analysis inputs key: ``#2`` or ``410,180`` (whole pixels)."""
        if self.number is not None:
            return f"#{self.number}"
        assert self.point is not None
        return f"{round(self.point[0])},{round(self.point[1])}"


# ------------------------------------------------------------------------------------------------------------------
# Boxes
# ------------------------------------------------------------------------------------------------------------------


def landmark_box(landmarks_px: np.ndarray) -> Box | None:
    """Box around a detected skeleton's landmarks (``(K, >=2)`` pixels), grown by 8 % of its height above (the top
    of the head is above the eyes) and 2 % below; None when nothing is detected."""
    xy = np.asarray(landmarks_px, float)[:, :2]
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return None
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    h = y1 - y0
    return float(x0), float(y0 - 0.08 * h), float(x1), float(y1 + 0.02 * h)


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (1 when one box holds the other)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0


def _tiles(w: int, h: int) -> list[tuple[int, int, int, int]]:
    """The whole frame and two overlapping squares along its longer side: ``(x0, y0, x1, y1)``."""
    out = [(0, 0, w, h)]
    if w >= 1.3 * h:
        out += [(0, 0, h, h), (w - h, 0, w, h)]
    elif h >= 1.3 * w:
        out += [(0, 0, w, w), (0, h - w, w, h)]
    return out


def all_people(detector, rgb: np.ndarray) -> list:
    """Every :class:`~gaitscope.pose2d.blazepose_litert.PersonBox` the detector finds on the whole frame and on
    its tiles (:func:`_tiles`), in frame pixels, best score first, duplicates (body boxes overlapping by more than
    :data:`TILE_IOU`) dropped."""
    h, w = rgb.shape[:2]
    found = []
    for tx0, ty0, tx1, ty1 in _tiles(w, h):
        tile = rgb if (tx0, ty0, tx1, ty1) == (0, 0, w, h) else np.ascontiguousarray(rgb[ty0:ty1, tx0:tx1])
        found += [p.shifted(tx0, ty0) for p in detector.detect_people(tile)]
    found.sort(key=lambda p: -p.score)
    kept: list = []
    for p in found:
        if not any(_same_person(p.body, k.body) for k in kept):
            kept.append(p)
    return kept


def _same_person(a: Box, b: Box) -> bool:
    """Two detections of one person (from the whole frame and a tile): overlapping boxes, or hips closer than
    :data:`SAME_BODY_FRAC` of the larger height (a small person's two boxes may overlap little)."""
    h = max(a[3] - a[1], b[3] - b[1])
    return _iou(a, b) > TILE_IOU or math.hypot(_cx(a) - _cx(b), _cy(a) - _cy(b)) < SAME_BODY_FRAC * h


def people_in_frame(detector, rgb: np.ndarray, mask: Box | None = None) -> list[tuple[Box, float]]:
    """People the detector finds in ``rgb`` (body boxes in pixels, scores), whole frame plus tiles merged; with
    ``mask`` (the person measured) that region is painted over first and nothing inside it is returned."""
    h, w = rgb.shape[:2]
    img = rgb
    if mask is not None:
        pad = MASK_PAD * (mask[3] - mask[1])
        x0, y0 = max(0, int(mask[0] - pad)), max(0, int(mask[1] - pad))
        x1, y1 = min(w, int(math.ceil(mask[2] + pad))), min(h, int(math.ceil(mask[3] + pad)))
        img = rgb.copy()
        img[y0:y1, x0:x1] = rgb.reshape(-1, 3).mean(axis=0).astype(rgb.dtype)
    kept = [(p.body, p.score) for p in all_people(detector, img)]
    if mask is not None:  # what is left of the masked person (e.g. a foot outside the box) is not somebody else
        kept = [k for k in kept if _iou(k[0], mask) < 0.3]
    return kept


# ------------------------------------------------------------------------------------------------------------------
# Can the person measured be told apart?
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One look at the others: the video frame, the measured person's box (None: not tracked), the others' boxes."""

    frame: int
    measured: Box | None
    others: tuple[Box, ...]


def _similar(a: Box, b: Box) -> bool:
    ha, hb = a[3] - a[1], b[3] - b[1]
    return ha > 0 and hb > 0 and max(ha, hb) / min(ha, hb) < SIMILAR_SIZE


def _cx(b: Box) -> float:
    return 0.5 * (b[0] + b[2])


def _cy(b: Box) -> float:
    return 0.5 * (b[1] + b[3])


def ambiguity(samples: Sequence[Sample], fps: float, change_frames: Sequence[int] = (),
              kept: tuple[int, int] | None = None) -> str | None:
    """Why the person measured cannot be told apart from another person, in plain words; None when they can.

    ``samples``: looks at the others over the whole analyzed range; ``kept``: the frames ``[start, stop)`` whose
    person is measured (None: all); ``change_frames``: where the tracker changed person (the person gate cut
    there). A change while somebody else was in view (a sample within :data:`CROSS_WINDOW_S`) is a swap between
    people who were both there, not one person leaving and the next coming in."""
    for f in change_frames:
        near = [s for s in samples if abs(s.frame - f) <= CROSS_WINDOW_S * fps and s.others]
        if near:
            return (f"the person being followed changed at {f / fps:.1f} s while another person was in view, so "
                    "it may have swapped between them")
    if kept is not None:
        samples = [s for s in samples if kept[0] <= s.frame < kept[1]]
    if not any(s.others for s in samples):
        return None
    last_side: tuple[int, float] | None = None  # side (-1 left, +1 right) of a similar person near, and when
    for s in samples:
        if s.measured is None:
            continue
        h = s.measured[3] - s.measured[1]
        near = [o for o in s.others if _similar(o, s.measured) and abs(_cx(o) - _cx(s.measured)) < NEAR_BODY_FRAC * h]
        t = s.frame / fps
        for o in near:
            dx = _cx(o) - _cx(s.measured)
            if abs(dx) < CLOSE_BODY_FRAC * h:
                return (f"another person of about the same size overlapped the person measured "
                        f"(at {t:.1f} s)")
            side = 1 if dx > 0 else -1
            if last_side is not None and side != last_side[0] and t - last_side[1] <= CROSS_WINDOW_S:
                return (f"another person of about the same size crossed the person measured "
                        f"(between {last_side[1]:.1f} and {t:.1f} s)")
        if near:
            dx0 = _cx(near[0]) - _cx(s.measured)
            last_side = (1 if dx0 > 0 else -1, t)
    return None


def summarize(samples: Sequence[Sample], kept: tuple[int, int], fps: float, *, chosen: str = "",
              change_frames: Sequence[int] = ()) -> tuple[PeopleSeen | None, str | None]:
    """The :class:`PeopleSeen` of the kept frames ``[kept[0], kept[1])`` (None when only one person was ever seen)
    and, when the person measured cannot be told apart, why."""
    inside = [s for s in samples if kept[0] <= s.frame < kept[1]]
    most = max((len(s.others) + (s.measured is not None) for s in samples), default=1)
    if most < 2:
        return None, None
    why = ambiguity(samples, fps, change_frames, kept)
    shown = [s for s in inside if s.measured is not None]
    if not shown:
        return PeopleSeen(max_in_view=most, frame=-1, measured_box=None, other_boxes=(), chosen=chosen), why
    best = max(shown, key=lambda s: (len(s.others), -s.frame))
    return PeopleSeen(max_in_view=most, frame=best.frame, measured_box=best.measured,
                      other_boxes=tuple(best.others), chosen=chosen), why


def several_people_note(people: PeopleSeen) -> str:
    """The sentence the 2D stage adds to its notes (it leads the report's warnings)."""
    who = (f"the person picked ({people.chosen})" if people.chosen else
           "the person the detector followed")
    where = ""
    if people.measured_box is not None:
        b = people.measured_box
        where = (f", shown boxed on frame {people.frame} (x {b[0]:.0f}-{b[2]:.0f}, y {b[1]:.0f}-{b[3]:.0f} px)")
    return (f"Several people were seen in the video (up to {people.max_in_view} at once); the numbers are those of "
            f"{who}{where}. Check on that frame that this is the patient.")


def refuse(why: str, chosen: bool) -> MultiplePeopleError:
    """The error that refuses a report whose person cannot be told apart, with what to do."""
    pick = ("" if chosen else "; where the people do not cross, pick the person to analyze (dashboard: 'Person to "
            "analyze'; command line: --person N or --person X,Y on the frame where the people are seen)")
    return MultiplePeopleError(
        f"Several people are in the video and the person measured cannot be told apart: {why}. No report was "
        "made.",
        "Film one person at a time, or trim the video to a part where the patient walks without anybody close "
        f"by{pick}.")


# ------------------------------------------------------------------------------------------------------------------
# The people frame (what the user picks on)
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeopleFrame:
    """The first sampled frame where the most people are seen: its index, RGB image and the people's boxes,
    numbered 1, 2, ... from left to right."""

    frame: int
    image: np.ndarray
    boxes: tuple[Box, ...]

    def resolve(self, choice: PersonChoice) -> tuple[float, float]:
        """The pixel point that designates ``choice`` on this frame (a number -> the centre of its box)."""
        if choice.point is not None:
            x, y = choice.point
            h, w = self.image.shape[:2]
            if not (0 <= x < w and 0 <= y < h):
                raise InvalidInputError(f"Pixel point {choice.key} is outside the {w}x{h} picture.",
                                        "Give x,y in pixels from the top-left corner of the frame.")
            return choice.point
        assert choice.number is not None
        if choice.number > len(self.boxes):
            raise InvalidInputError(
                f"Person {choice.number} was asked for, but {len(self.boxes)} "
                f"{'person was' if len(self.boxes) == 1 else 'people were'} found on frame {self.frame}.",
                "Number the people from 1, left to right, on that frame (the dashboard shows it).")
        b = self.boxes[choice.number - 1]
        return _cx(b), 0.5 * (b[1] + b[3])


def _litert_detector():
    from gaitscope.pose2d.blazepose_litert import BlazePoseLiteRT, litert_available

    if not litert_available():
        raise GaitscopeError("Finding several people needs the LiteRT pose engine (ai-edge-litert).",
                             "Install ai-edge-litert, or film one person at a time.")
    return BlazePoseLiteRT()


def find_people(info: VideoInfo, *, max_s: float = FIND_MAX_S, every_s: float = SAMPLE_EVERY_S,
                start: int = 0) -> PeopleFrame:
    """Look at a frame every ``every_s`` in the first ``max_s`` seconds from ``start``; the first one with the most
    people (:class:`PeopleFrame`). Raises :class:`~gaitscope.errors.NoPersonError` when nobody is seen."""
    import cv2

    from gaitscope.errors import NoPersonError
    from gaitscope.io.video import iter_frames

    det = _litert_detector()
    step = max(1, int(round(every_s * info.fps)))
    stop = min(info.n_frames, start + int(max_s * info.fps) + 1)
    best: tuple | None = None  # (frame index, RGB image, people)
    for index, frame in iter_frames(info, start, stop):
        if (index - start) % step:
            continue
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        people = all_people(det, rgb)
        if people and (best is None or len(people) > len(best[2])):
            best = (index, rgb, people)
    if best is None:
        raise NoPersonError(f"No person was found in the first {max_s:g} s of the video.",
                            "Check that the whole body is visible and large enough in the picture.")
    index, rgb, people = best
    boxes: list[Box] = []
    for box in (_landmark_box_of(det, rgb, p) for p in people):  # best score first
        if all(_overlap(box, b) <= 0.6 for b in boxes):  # two detections of one person: on the same landmarks
            boxes.append(box)
    return PeopleFrame(index, rgb, tuple(sorted(boxes, key=_cx)))


def _landmark_box_of(det, rgb: np.ndarray, person) -> Box:
    """The box around the landmarks the pose network places in a detected person's region (the detector's own
    box is only the face, and the alignment circle is offset from the body), else the circle's body box."""
    flag, pts = det.landmarks(rgb, person.roi)
    box = landmark_box(pts[:33, :2]) if flag >= det.min_tracking_confidence else None
    return box if box is not None else person.body


# ------------------------------------------------------------------------------------------------------------------
# The still frame of the person measured
# ------------------------------------------------------------------------------------------------------------------


def measured_still(video_path: str, keypoints: Keypoints2D, people: PeopleSeen | None = None,
                   max_side: int = 960) -> np.ndarray | None:
    """An RGB frame of the video with the person measured boxed in green (and the others seen, if known, in grey):
    the frame of ``people`` when given, else the middle of the kept stretch. None when the video cannot be read."""
    import cv2

    from gaitscope.io.video import iter_frames, probe_video

    if keypoints.n_frames == 0:
        return None
    if people is not None and people.measured_box is not None and people.frame >= 0:
        frame_no, box, others = people.frame, people.measured_box, people.other_boxes
    else:
        row = keypoints.n_frames // 2
        frame_no = int(keypoints.frame_index[row])
        pts = keypoints.raw[row] if keypoints.raw is not None else keypoints.xy_px[row]
        box, others = landmark_box(pts), ()
    try:
        info = probe_video(video_path)
        image = next((f for _, f in iter_frames(info, frame_no, frame_no + 1)), None)
    except GaitscopeError:
        return None
    if image is None or box is None:
        return None
    h, w = image.shape[:2]
    thick = max(2, round(max(w, h) / 320))
    for o in others:
        cv2.rectangle(image, (int(o[0]), int(o[1])), (int(o[2]), int(o[3])), (160, 160, 160), thick)
    cv2.rectangle(image, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 200, 0), thick + 1)
    cv2.putText(image, "measured", (int(box[0]), max(12, int(box[1]) - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * thick, (0, 200, 0), thick, cv2.LINE_AA)
    scale = min(1.0, max_side / max(w, h))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def numbered_frame(people: PeopleFrame) -> np.ndarray:
    """The people frame (RGB) with each person's box and number drawn, for the dashboard's picker."""
    import cv2

    image = people.image.copy()
    h, w = image.shape[:2]
    thick = max(2, round(max(w, h) / 320))
    for k, b in enumerate(people.boxes, start=1):
        cv2.rectangle(image, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (255, 200, 0), thick)
        cv2.putText(image, str(k), (int(b[0]) + 2, max(14, int(b[1]) + 8 * thick)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * thick, (255, 200, 0), thick, cv2.LINE_AA)
    return image
