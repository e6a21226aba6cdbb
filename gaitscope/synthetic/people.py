"""Videos with several rendered walkers, for testing what the platform does when more than one person is in view.

Why (issue 21, point 3): a clinic corridor or a street often holds more than the patient. The 2D detector follows one
person without saying who, so the platform must notice the others, refuse a report when it cannot tell the people
apart, and let the clinician pick one. Testing that needs videos whose people are known exactly; two capsule
figures of :mod:`gaitscope.synthetic.render` filmed by one static pinhole camera give that truth: each walker's
joints are known in the world, so where each one appears in the picture (:func:`project_walker`) is independent of
any detector.

Two scenes (:data:`SCENES`), both a few seconds long at a low resolution so a test renders them in about a second:

* ``"depths"``: two people walking the same way past a side camera, a tall one (1.85 m) near the camera and a short
  one (1.55 m) 3 m farther away and half a body length ahead, so they never overlap in the picture and their sizes
  differ (about 1.8x in pixels);
* ``"crossing"``: two people of about the same size (1.75 m and 1.72 m) walking toward each other on lines 0.6 m apart,
  who cross in the middle of the video: the near one hides the far one for a moment, which is exactly when a
  tracker may change person.

Walkers are painted far to near (by the camera depth of the pelvis), each with the body parts ordered far to near as
in a single-walker render, so the near walker hides the far one as on film.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from gaitscope.skeleton import J
from gaitscope.synthetic.camera import PerspectiveCamera
from gaitscope.synthetic.render import _parts, _Scene, available_codec, random_appearance, render_frame
from gaitscope.synthetic.truth import SyntheticWalk, WalkParams
from gaitscope.synthetic.walker import simulate_walk

__all__ = ["SCENES", "PeopleScene", "make_scene", "project_walker", "render_people"]


@dataclass(frozen=True)
class PeopleScene:
    """Walkers placed in the world (metres, Z up) and the static camera that films them all."""

    walks: tuple[SyntheticWalk, ...]
    camera: PerspectiveCamera
    appearance_seeds: tuple[int, ...]
    name: str

    @property
    def fps(self) -> float:
        return float(self.walks[0].motion.fps)

    @property
    def n_frames(self) -> int:
        return min(w.motion.n_frames for w in self.walks)


def _shifted(walk: SyntheticWalk, offset: tuple[float, float]) -> SyntheticWalk:
    """``walk`` moved by ``offset`` (x, y metres) on the floor."""
    d = np.array([offset[0], offset[1], 0.0])
    m = walk.motion
    motion = replace(m, xyz_m=m.xyz_m + d, feet={k: v + d for k, v in m.feet.items()})
    return replace(walk, motion=motion)


#: name -> per walker (height m, heading deg, start offset (x, y) m, appearance seed)
SCENES: dict[str, tuple[tuple[float, float, tuple[float, float], int], ...]] = {
    "depths": ((1.85, 0.0, (0.0, 0.0), 11), (1.55, 0.0, (1.6, -3.0), 12)),
    "crossing": ((1.75, 0.0, (0.0, 0.0), 21), (1.72, 180.0, (5.0, -0.6), 22)),
}


def make_scene(name: str = "depths", *, duration_s: float = 4.0, fps: float = 30.0, width: int = 640,
               height: int = 360) -> PeopleScene:
    """The walkers of scene ``name`` (:data:`SCENES`) and a static side camera on the first walker's left (+y) that
    keeps every walker whole in every frame."""
    spec = SCENES[name]
    walks = []
    for k, (h, heading, offset, _seed) in enumerate(spec):
        w = simulate_walk(WalkParams(fps=fps, duration_s=duration_s, height_m=h, heading_deg=heading, seed=k + 1))
        walks.append(_shifted(w, offset))
    pts = np.concatenate([np.concatenate([w.motion.xyz_m.reshape(-1, 3)] + list(w.motion.feet.values()))
                          for w in walks])
    x_mid = 0.5 * (pts[:, 0].min() + pts[:, 0].max())
    target = np.array([x_mid, pts[:, 1].min(), 0.85])
    for dist in np.arange(3.0, 30.0, 0.25):  # step back from the nearest walker until everyone fits
        pos = np.array([x_mid, pts[:, 1].max() + dist, 1.0])
        cam = PerspectiveCamera.look_at(pos, target, width=width, height=height, hfov_deg=60.0)
        heads = pts + np.array([0.0, 0.0, 0.06])
        if cam.contains(np.concatenate([pts, heads]), 8.0).all():
            break
    return PeopleScene(tuple(walks), cam, tuple(s[3] for s in spec), name)


def project_walker(scene: PeopleScene, k: int) -> np.ndarray:
    """``(T, 17, 2)`` pixel positions of walker ``k``'s joints (H36M-17 order): the truth a detection is checked
    against."""
    return scene.camera.project(scene.walks[k].motion.xyz_m[: scene.n_frames])


def render_people(scene: PeopleScene, path: str | Path) -> Path:
    """Write ``scene`` as a video (the codec of :func:`available_codec`) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cam = scene.camera
    apps = [random_appearance(s) for s in scene.appearance_seeds]
    parts = [_parts(a) for a in apps]
    bg = _Scene(cam, apps[0]).background(cam.position)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*available_codec()), scene.fps,
                             (cam.width, cam.height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV could not open a video writer for {path}")
    try:
        for i in range(scene.n_frames):
            img = bg.copy()
            order = sorted(range(len(scene.walks)),
                           key=lambda k: -float(cam.depth(scene.walks[k].motion.xyz_m[i, J["pelvis"]])))
            for k in order:
                m = scene.walks[k].motion
                render_frame(img, cam, m.xyz_m[i], {n: v[i] for n, v in m.feet.items()},
                             scene.walks[k].params.height_m, apps[k], parts[k])
            writer.write(img)
    finally:
        writer.release()
    return path
