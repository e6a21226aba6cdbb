"""Leg identity over the sequence (gaitscope/platform/leg_identity.py) against exact truth.

Truth: a synthetic walk filmed from the side (projected joints and feet, so the legs cross twice per stride as
on film). Swaps are injected into copies of it the way BlazePose makes them: starting and ending where the
legs cross (positions stay continuous; only the motion tells), and also at arbitrary frames. The correction
must give back the true labels, and must not touch a sequence without swaps.
"""

import numpy as np
import pytest

from gaitscope.platform.leg_identity import (
    BLAZEPOSE_LEG_PAIRS,
    apply_leg_identity,
    decide_leg_identity,
)
from gaitscope.skeleton import J
from gaitscope.synthetic.camera import view_from_angle
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk


def _side_view_raw(fps: float, seed: int = 0, noise_px: float = 1.5, yaw: float = 0.0):
    """(T, 33, 4) BlazePose-like landmarks (hips, knees, ankles, heels, toes) of a walk filmed from the side."""
    walk = simulate_walk(WalkParams(fps=fps, duration_s=6.0, seed=seed))
    cam = view_from_angle(walk, yaw, width=1280, height=720)
    m = walk.motion
    t = m.xyz_m.shape[0]
    raw = np.zeros((t, 33, 4))
    rng = np.random.default_rng(seed)
    src = {23: m.xyz_m[:, J["left_hip"]], 24: m.xyz_m[:, J["right_hip"]], 25: m.xyz_m[:, J["left_knee"]],
           26: m.xyz_m[:, J["right_knee"]], 27: m.xyz_m[:, J["left_ankle"]], 28: m.xyz_m[:, J["right_ankle"]],
           29: m.feet["left_heel"], 30: m.feet["right_heel"], 31: m.feet["left_toe"], 32: m.feet["right_toe"]}
    for k, xyz in src.items():
        raw[:, k, :2] = cam.project(xyz[:, None, :])[:, 0] + rng.normal(0, noise_px, (t, 2))
        raw[:, k, 3] = 0.9
    return raw


def _crossings(raw: np.ndarray) -> np.ndarray:
    """Frames where the ankles pass each other in the image (sign change of their horizontal separation)."""
    d = raw[:, 27, 0] - raw[:, 28, 0]
    return np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1])) + 1


def _swap(raw: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = raw.copy()
    for left, right in BLAZEPOSE_LEG_PAIRS:
        out[mask, left], out[mask, right] = raw[mask, right], raw[mask, left]
    return out


@pytest.mark.parametrize("fps,noise_px", [(25.0, 8.0), (30.0, 4.0), (60.0, 8.0)])
def test_no_swap_is_left_alone(fps, noise_px):
    raw = _side_view_raw(fps, noise_px=noise_px)
    ident = decide_leg_identity(raw, fps)
    assert not ident.swapped.any() and ident.episodes == 0 and ident.note() is None


@pytest.mark.parametrize("fps,noise_px", [(25.0, 4.0), (30.0, 4.0), (60.0, 4.0)])
def test_swaps_from_one_crossing_to_the_next_are_undone(fps, noise_px):
    """Jitter of 4 px on a person about 200 px tall (hip to ankle 110 px): about twice BlazePose's."""
    raw = _side_view_raw(fps, seed=1, noise_px=noise_px)
    cross = _crossings(raw)
    assert len(cross) >= 8  # the legs cross twice per stride
    truth = np.zeros(len(raw), dtype=bool)
    # three swap episodes, each from one crossing to a later one (what BlazePose does in side views)
    for a, b in ((cross[1], cross[2]), (cross[4], cross[6]), (cross[7], cross[8])):
        truth[a:b] = True
    detected = _swap(raw, truth)
    ident = decide_leg_identity(detected, fps)
    # the labelling of every frame is right, except within 2 frames of a crossing (the legs coincide there)
    near = np.zeros(len(raw), dtype=bool)
    for c in cross:
        near[max(c - 2, 0): c + 3] = True
    wrong = ident.swapped != truth
    assert not np.any(wrong & ~near), np.flatnonzero(wrong & ~near)
    assert ident.episodes == 3
    fixed = apply_leg_identity(detected, ident)
    assert np.array_equal(fixed[~near], raw[~near])


def test_swap_starting_anywhere_is_undone():
    """A jump of the labels at an arbitrary frame (legs apart) is undone too, whatever the episode's length."""
    fps = 30.0
    raw = _side_view_raw(fps, seed=2)
    truth = np.zeros(len(raw), dtype=bool)
    truth[40:47] = True
    truth[100:160] = True
    ident = decide_leg_identity(_swap(raw, truth), fps)
    cross = _crossings(raw)
    near = np.zeros(len(raw), dtype=bool)
    for c in cross:
        near[max(c - 2, 0): c + 3] = True
    assert not np.any((ident.swapped != truth) & ~near)


def test_the_labelling_follows_the_detector_most_of_the_time():
    """Both labellings of a whole sequence move alike: the one the detector gave for most frames is kept."""
    fps = 30.0
    raw = _side_view_raw(fps, seed=3)
    cross = _crossings(raw)
    truth = np.zeros(len(raw), dtype=bool)
    truth[cross[0]: cross[-1]] = True  # swapped for most of the walk: then "swapped" IS the detector's labelling
    ident = decide_leg_identity(_swap(raw, truth), fps)
    assert ident.swapped.mean() < 0.5
