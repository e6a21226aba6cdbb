"""NTU RGB+D skeleton files: reading the ``.skeleton`` text format, naming/split conventions, Kinect-25 -> H36M-17.

NTU RGB+D 60 (Shahroudy et al., CVPR 2016) and 120 (Liu et al., TPAMI 2020) ship one ``.skeleton`` text file per
clip, recorded with Kinect v2. Users obtain the data set themselves (licence-gated, never downloaded here).

File layout (whitespace-separated numbers, one record per line)::

    <number of frames>
    for every frame:
        <number of bodies in this frame>
        for every body:
            <bodyID> <clippedEdges> <handLeftConfidence> <handLeftState> <handRightConfidence> <handRightState>
                <isRestricted> <leanX> <leanY> <trackingState>
            <number of joints = 25>
            for every joint:
                <x> <y> <z> <depthX> <depthY> <colorX> <colorY> <orientW> <orientX> <orientY> <orientZ> <trackingState>

``x y z`` are Kinect camera-space metres (x to the sensor's left as seen from the sensor, y up, z away from the
sensor); ``depthX/Y`` are pixels of the 512x424 depth image, ``colorX/Y`` pixels of the 1920x1080 colour image;
joint ``trackingState`` is 0 not tracked, 1 inferred, 2 tracked.

File names ``SsssCcccPpppRrrrAaaa`` give setup, camera, performer (subject), replication and action (1-based).
Evaluation protocols of the NTU paper: cross-subject (xsub) trains on the 20 performers in
:data:`XSUB_TRAIN_SUBJECTS` and tests on the rest; cross-view (xview) trains on cameras 2 and 3 and tests on camera 1.

Kinect v2 -> H36M-17 (our mapping, documented in :data:`KINECT_TO_H36M_DOC`): hips, knees, ankles, shoulders,
elbows and wrists are the Kinect joints of the same name; pelvis = midpoint of the two Kinect hips (as MotionBERT's
COCO conversion does); spine = Kinect SpineMid; thorax = Kinect SpineShoulder; nose = Kinect Head (the Kinect head
joint is the head centre, about nose height); head top = Head + 0.5 (Head - Neck), a crown estimate (H36M's head
joint is the top of the head). A derived joint's confidence is the minimum of its sources' confidences (a chain is
only as reliable as its weakest joint). Tracking state becomes confidence 1 (tracked), 0.5 (inferred), 0 (absent).

MotionBERT's action model takes 2D + confidence. Its NTU input was HRNet 2D in colour-image pixels; here the 2D
comes from the file's own colour (default) or depth pixel coordinates, or a pinhole projection of the 3D joints,
then the official action normalisation (:func:`gaitscope.models.action.action_clip`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from gaitscope.errors import InvalidInputError, KeypointFormatError
from gaitscope.skeleton import NUM_JOINTS

KINECT_JOINTS: tuple[str, ...] = (
    "spine_base", "spine_mid", "neck", "head",                                   # 0-3
    "shoulder_left", "elbow_left", "wrist_left", "hand_left",                    # 4-7
    "shoulder_right", "elbow_right", "wrist_right", "hand_right",                # 8-11
    "hip_left", "knee_left", "ankle_left", "foot_left",                          # 12-15
    "hip_right", "knee_right", "ankle_right", "foot_right",                      # 16-19
    "spine_shoulder", "hand_tip_left", "thumb_left", "hand_tip_right", "thumb_right",  # 20-24
)
NUM_KINECT_JOINTS = len(KINECT_JOINTS)
K = {name: i for i, name in enumerate(KINECT_JOINTS)}

#: H36M joint index -> Kinect joints it comes from (the derivation is in :func:`kinect_to_h36m`).
KINECT_TO_H36M_DOC: dict[int, str] = {
    0: "pelvis = mid(hip_left, hip_right)",
    1: "right_hip = hip_right", 2: "right_knee = knee_right", 3: "right_ankle = ankle_right",
    4: "left_hip = hip_left", 5: "left_knee = knee_left", 6: "left_ankle = ankle_left",
    7: "spine = spine_mid", 8: "thorax = spine_shoulder", 9: "nose = head (head centre)",
    10: "head (top) = head + 0.5 (head - neck)",
    11: "left_shoulder = shoulder_left", 12: "left_elbow = elbow_left", 13: "left_wrist = wrist_left",
    14: "right_shoulder = shoulder_right", 15: "right_elbow = elbow_right", 16: "right_wrist = wrist_right",
}
_DIRECT = {1: K["hip_right"], 2: K["knee_right"], 3: K["ankle_right"], 4: K["hip_left"], 5: K["knee_left"],
           6: K["ankle_left"], 7: K["spine_mid"], 8: K["spine_shoulder"], 9: K["head"],
           11: K["shoulder_left"], 12: K["elbow_left"], 13: K["wrist_left"],
           14: K["shoulder_right"], 15: K["elbow_right"], 16: K["wrist_right"]}
HEAD_TOP_EXTENSION = 0.5

#: Cross-subject training performers of NTU RGB+D 60 (Shahroudy et al. 2016).
XSUB_TRAIN_SUBJECTS: frozenset[int] = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
)
#: Cross-view training cameras (camera 1 is the test view).
XVIEW_TRAIN_CAMERAS: frozenset[int] = frozenset((2, 3))

#: Kinect v2 colour / depth image sizes and approximate intrinsics (fx, fy, cx, cy) for the projection option.
COLOR_SIZE = (1920, 1080)
DEPTH_SIZE = (512, 424)
COLOR_INTRINSICS = (1060.0, 1060.0, 960.0, 540.0)
DEPTH_INTRINSICS = (365.0, 365.0, 256.0, 212.0)

NTU60_CLASSES: tuple[str, ...] = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw", "sitting down",
    "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper", "wear jacket",
    "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",
    "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
)

#: Optional file in a data folder naming the classes (line i = action i, 1-based), for custom label sets.
CLASSES_FILE = "classes.txt"

_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
log = logging.getLogger(__name__)
Split = Literal["xsub", "xview"]
Source2D = Literal["color", "depth", "project"]


@dataclass(frozen=True)
class NTUName:
    """Setup, camera, performer, replication and action (all 1-based) of one NTU file name."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def stem(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.subject:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def label(self) -> int:
        """0-based class index (action - 1)."""
        return self.action - 1


def parse_ntu_name(name: str | Path) -> NTUName:
    """``S001C002P003R002A013.skeleton`` -> :class:`NTUName`; :class:`InvalidInputError` if it does not match."""
    m = _NAME_RE.search(Path(name).name)
    if not m:
        raise InvalidInputError(
            f"The file name {Path(name).name!r} does not follow the NTU convention SsssCcccPpppRrrrAaaa.",
            "Name skeleton files like S001C002P003R002A013.skeleton (setup, camera, performer, replication, action).",
        )
    return NTUName(*(int(g) for g in m.groups()))


def split_of(name: NTUName, split: Split) -> Literal["train", "test"]:
    """Which side of the xsub / xview protocol a clip is on."""
    if split == "xsub":
        return "train" if name.subject in XSUB_TRAIN_SUBJECTS else "test"
    if split == "xview":
        return "train" if name.camera in XVIEW_TRAIN_CAMERAS else "test"
    raise InvalidInputError(f"Unknown split {split!r}.", "Use 'xsub' (cross-subject) or 'xview' (cross-view).")


@dataclass(frozen=True)
class NTUSkeleton:
    """One ``.skeleton`` file, bodies in the order of their first appearance (at most ``max_bodies``).

    Arrays are ``(M, T, 25, ...)``: ``xyz`` camera-space metres, ``color_xy`` / ``depth_xy`` pixels, ``tracking``
    the joint tracking state (0/1/2). A body absent in a frame has zeros and tracking 0 there.
    """

    name: str
    xyz: np.ndarray  # (M, T, 25, 3) float32
    color_xy: np.ndarray  # (M, T, 25, 2) float32
    depth_xy: np.ndarray  # (M, T, 25, 2) float32
    tracking: np.ndarray  # (M, T, 25) int8
    body_ids: tuple[str, ...]

    @property
    def n_bodies(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.xyz.shape[1])

    @property
    def conf(self) -> np.ndarray:
        """``(M, T, 25)`` confidence from the tracking state: tracked 1, inferred 0.5, not tracked 0."""
        return tracking_to_conf(self.tracking)


def tracking_to_conf(tracking: np.ndarray) -> np.ndarray:
    t = np.asarray(tracking)
    return np.where(t >= 2, 1.0, np.where(t == 1, 0.5, 0.0)).astype(np.float32)


def _fail(path: Path, line_no: int, what: str) -> KeypointFormatError:
    return KeypointFormatError(
        f"{path.name} is not a valid NTU .skeleton file (line {line_no}: {what}).",
        "Check that the file is complete and unmodified (NTU RGB+D skeleton format, 25 Kinect v2 joints).",
    )


def read_skeleton(path: str | Path, max_bodies: int = 2) -> NTUSkeleton:
    """Parse one ``.skeleton`` file (format in the module docstring).

    When more than ``max_bodies`` bodies appear, the ones with the most motion (summed joint displacement, as the
    common NTU preprocessing keeps the most active actors) are kept.
    """
    p = Path(path)
    try:
        # records only: NTU files have no blank lines, so record numbers are line numbers
        lines = [line for line in p.read_text().split("\n") if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise KeypointFormatError(f"Cannot read {p}: {exc}", "Check the path and the file.") from exc
    pos = 0

    def next_line() -> list[str]:
        nonlocal pos
        if pos >= len(lines):
            raise _fail(p, pos + 1, "the file ends early")
        pos += 1
        return lines[pos - 1].split()

    def next_int(what: str) -> int:
        tok = next_line()
        try:
            return int(tok[0])
        except (ValueError, IndexError):
            raise _fail(p, pos, f"expected the {what}, found {' '.join(tok)[:40]!r}") from None

    n_frames = next_int("number of frames")
    if n_frames < 0:
        raise _fail(p, pos, "negative frame count")
    bodies: dict[str, dict[int, np.ndarray]] = {}  # body id -> frame -> (25, 12)
    for f in range(n_frames):
        n_bodies = next_int("number of bodies")
        for _ in range(n_bodies):
            info = next_line()
            if len(info) != 10:
                raise _fail(p, pos, f"a body line has {len(info)} values instead of 10")
            n_joints = next_int("number of joints")
            if n_joints != NUM_KINECT_JOINTS:
                raise _fail(p, pos, f"{n_joints} joints instead of {NUM_KINECT_JOINTS}")
            if pos + n_joints > len(lines):
                raise _fail(p, len(lines) + 1, "the file ends early")
            block = lines[pos : pos + n_joints]
            toks = " ".join(block).split()  # one numpy conversion per body: ~10x faster than per value
            if len(toks) != n_joints * 12:
                bad = next(j for j, line in enumerate(block) if len(line.split()) != 12)
                raise _fail(p, pos + bad + 1, f"a joint line has {len(block[bad].split())} values instead of 12")
            try:
                rows = np.array(toks, dtype=np.float64).reshape(n_joints, 12)
            except ValueError:
                raise _fail(p, pos + 1, "a joint value is not a number") from None
            pos += n_joints
            bodies.setdefault(info[0], {})[f] = rows
    ids = list(bodies)
    if len(ids) > max_bodies:
        def motion(bid: str) -> float:
            frames = sorted(bodies[bid])
            xyz = np.stack([bodies[bid][k][:, :3] for k in frames])
            return float(np.abs(np.diff(xyz, axis=0)).sum()) if len(frames) > 1 else 0.0

        keep = set(sorted(ids, key=motion, reverse=True)[:max_bodies])
        ids = [b for b in ids if b in keep]
    m = max(len(ids), 1)
    data = np.zeros((m, n_frames, NUM_KINECT_JOINTS, 12), dtype=np.float64)
    for b, bid in enumerate(ids):
        for f, rows in bodies[bid].items():
            data[b, f] = rows
    return NTUSkeleton(
        name=p.name, xyz=data[..., 0:3].astype(np.float32), depth_xy=data[..., 3:5].astype(np.float32),
        color_xy=data[..., 5:7].astype(np.float32), tracking=data[..., 11].astype(np.int8), body_ids=tuple(ids),
    )


def format_skeleton(frames: Sequence[Sequence[tuple[str, np.ndarray]]]) -> str:
    """Text of a ``.skeleton`` file. ``frames[t]`` lists ``(body_id, joints (25, 12))`` of frame ``t``.

    Body metadata fields other than the id are written as zeros with ``trackingState`` 2.
    """
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for bid, joints in bodies:
            j = np.asarray(joints, dtype=np.float64)
            if j.shape != (NUM_KINECT_JOINTS, 12):
                raise ValueError(f"joints must be (25, 12), got {j.shape}")
            out.append(f"{bid} 0 0 0 0 0 0 0 0 2")
            out.append(str(NUM_KINECT_JOINTS))
            for row in j:
                vals = [f"{v:.6g}" for v in row[:11]] + [str(int(row[11]))]
                out.append(" ".join(vals))
    return "\n".join(out) + "\n"


def kinect_to_h36m(joints: np.ndarray, conf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(..., 25, C)`` Kinect joints (any coordinates, 2D or 3D) -> ``(..., 17, C)`` H36M-17, plus confidences.

    ``conf`` ``(..., 25)`` (default all ones) -> ``(..., 17)``; derived joints take the minimum of their sources.
    """
    x = np.asarray(joints, dtype=np.float64)
    if x.shape[-2] != NUM_KINECT_JOINTS:
        raise ValueError(f"expected {NUM_KINECT_JOINTS} Kinect joints on axis -2, got shape {x.shape}")
    c = np.ones(x.shape[:-1]) if conf is None else np.asarray(conf, dtype=np.float64)
    y = np.zeros(x.shape[:-2] + (NUM_JOINTS, x.shape[-1]))
    cy = np.zeros(x.shape[:-2] + (NUM_JOINTS,))
    for h, k in _DIRECT.items():
        y[..., h, :] = x[..., k, :]
        cy[..., h] = c[..., k]
    hl, hr = K["hip_left"], K["hip_right"]
    y[..., 0, :] = 0.5 * (x[..., hl, :] + x[..., hr, :])
    cy[..., 0] = np.minimum(c[..., hl], c[..., hr])
    head, neck = K["head"], K["neck"]
    y[..., 10, :] = x[..., head, :] + HEAD_TOP_EXTENSION * (x[..., head, :] - x[..., neck, :])
    cy[..., 10] = np.minimum(c[..., head], c[..., neck])
    return y, cy


def project_points(xyz: np.ndarray, intrinsics: tuple[float, float, float, float] = COLOR_INTRINSICS) -> np.ndarray:
    """Pinhole projection of Kinect camera-space points (y up) to pixels (v down): ``(..., 3)`` -> ``(..., 2)``."""
    fx, fy, cx, cy = intrinsics
    z = np.maximum(np.asarray(xyz[..., 2], dtype=np.float64), 1e-6)
    u = cx - fx * xyz[..., 0] / z  # Kinect x points to the sensor's left, i.e. image left from the camera's view
    v = cy - fy * xyz[..., 1] / z
    return np.stack([u, v], axis=-1)


def skeleton_to_h36m_2d(skel: NTUSkeleton, source: Source2D = "color") -> tuple[np.ndarray, np.ndarray]:
    """2D H36M-17 keypoints in pixels ``(M, T, 17, 2)`` and confidences ``(M, T, 17)`` of one file.

    ``source``: ``"color"`` the file's colour-image coordinates, ``"depth"`` its depth-image coordinates,
    ``"project"`` a pinhole projection of the 3D joints with nominal Kinect v2 colour intrinsics.
    """
    if source == "color":
        xy = skel.color_xy
    elif source == "depth":
        xy = skel.depth_xy
    elif source == "project":
        xy = project_points(skel.xyz)
    else:
        raise InvalidInputError(f"Unknown 2D source {source!r}.", "Use 'color', 'depth' or 'project'.")
    conf = skel.conf
    conf = np.where(np.isfinite(xy).all(axis=-1), conf, 0.0)
    return kinect_to_h36m(xy, conf)


def skeleton_to_h36m_3d(skel: NTUSkeleton) -> tuple[np.ndarray, np.ndarray]:
    """3D H36M-17 joints in Kinect camera metres ``(M, T, 17, 3)`` and confidences ``(M, T, 17)``."""
    return kinect_to_h36m(skel.xyz, skel.conf)


def class_names(folder: str | Path | None = None, n_classes: int | None = None) -> tuple[str, ...]:
    """Class names: ``folder/classes.txt`` when present (line i = action i), else the NTU-60 names."""
    if folder is not None:
        f = Path(folder) / CLASSES_FILE
        if f.is_file():
            names = tuple(line.strip() for line in f.read_text().splitlines() if line.strip())
            if names:
                return names
    if n_classes is not None and n_classes > len(NTU60_CLASSES):
        return NTU60_CLASSES + tuple(f"action {i + 1}" for i in range(len(NTU60_CLASSES), n_classes))
    return NTU60_CLASSES


@dataclass(frozen=True)
class NTUClip:
    """One clip ready for the action model: 2D keypoints in pixels and its name / label."""

    name: NTUName
    xy_px: np.ndarray  # (M, T, 17, 2)
    conf: np.ndarray  # (M, T, 17)


def list_skeleton_files(folder: str | Path) -> list[Path]:
    """All ``*.skeleton`` files under ``folder`` (recursively), sorted; :class:`InvalidInputError` if none."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"The folder {root} does not exist.", "Give the folder holding the .skeleton files.")
    files = sorted(root.rglob("*.skeleton"))
    if not files:
        raise InvalidInputError(f"No .skeleton files in {root}.",
                                "Put NTU RGB+D skeleton files (S001C001P001R001A001.skeleton ...) there.")
    return files


def read_skeleton_cached(path: Path, cache_dir: Path | None, max_bodies: int = 2) -> NTUSkeleton:
    """:func:`read_skeleton` through an ``.npz`` cache in ``cache_dir`` (keyed by name, size and mtime).

    Parsing the text of the full NTU-60 set takes minutes; the cache makes later runs (train, evaluate, other
    splits) read binary arrays instead. A stale or damaged cache entry is simply rebuilt.
    """
    if cache_dir is None:
        return read_skeleton(path, max_bodies)
    st = path.stat()
    key = f"{path.stem}.m{max_bodies}.npz"
    entry = cache_dir / key
    stamp = np.array([st.st_size, st.st_mtime_ns], dtype=np.int64)
    if entry.is_file():
        try:
            with np.load(entry, allow_pickle=False) as z:
                if np.array_equal(z["stamp"], stamp):
                    return NTUSkeleton(path.name, z["xyz"], z["color_xy"], z["depth_xy"], z["tracking"],
                                       tuple(str(b) for b in z["body_ids"]))
        except (OSError, ValueError, KeyError):
            pass
    skel = read_skeleton(path, max_bodies)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(entry.stem + ".tmp.npz")
    np.savez(tmp, stamp=stamp, xyz=skel.xyz, color_xy=skel.color_xy, depth_xy=skel.depth_xy,
             tracking=skel.tracking, body_ids=np.array(skel.body_ids, dtype=str))
    tmp.replace(entry)
    return skel


def load_ntu_folder(
    folder: str | Path,
    split: Split | None = None,
    subset: Literal["train", "test", "all"] = "all",
    source: Source2D = "color",
    max_bodies: int = 2,
    actions: Iterable[int] | None = None,
    cache_dir: str | Path | None = None,
) -> list[NTUClip]:
    """Read every clip of ``folder`` on one side of a protocol (``split`` + ``subset``), optionally some actions.

    Files without any tracked body are skipped with a logged warning. ``cache_dir``: see
    :func:`read_skeleton_cached`.
    """
    wanted = set(actions) if actions is not None else None
    clips: list[NTUClip] = []
    for f in list_skeleton_files(folder):
        name = parse_ntu_name(f)
        if wanted is not None and name.action not in wanted:
            continue
        if split is not None and subset != "all" and split_of(name, split) != subset:
            continue
        skel = read_skeleton_cached(f, Path(cache_dir) if cache_dir else None, max_bodies)
        xy, conf = skeleton_to_h36m_2d(skel, source)
        if skel.n_frames == 0 or not (conf > 0).any():
            # NTU ships some files without any tracked body (the data set's "missing skeletons" list)
            log.warning("skipping %s: no tracked body in the file", f.name)
            continue
        clips.append(NTUClip(name, xy.astype(np.float32), conf.astype(np.float32)))
    return clips
