"""The lifter's depth rescaled so the limbs keep a fixed length after anchoring (issue 20, oblique views).

Truth is the synthetic walker (fixed segment lengths by construction) in the frame of a known camera: its x, y
stand for the anchored detections and its depth for the lifter's, so a consistent input has an exact answer
(scale 1, nothing moves) and a planted depth/2D mismatch (the depth ``m`` times too deep) has one too (1 / m).
Orthographic: the relation the fit uses is exact there, so the tolerances below measure the fit, not the camera.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.models.anchoring import anchor_to_detections
from gaitscope.models.depth_scale import SCALE_BONES, fit_depth_scale, scale_depth_to_fixed_bones
from gaitscope.models.inference import Lifter
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import J
from gaitscope.synthetic.camera import view_from_angle
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk

LEGS = ((J["right_hip"], J["right_knee"], J["right_ankle"]), (J["left_hip"], J["left_knee"], J["left_ankle"]))


def _walker_in_camera(yaw_deg: float, seed: int = 2) -> np.ndarray:
    """The synthetic walker (4 s, 30 fps) root-relative in the frame of a camera at ``yaw_deg`` (0: side view;
    50: an oblique view as the video evaluation's, walking line 40 deg from the optical axis), metres."""
    walk = simulate_walk(WalkParams(seed=seed, fps=30.0, duration_s=4.0))
    cam = view_from_angle(walk, yaw_deg, width=1280, height=720)
    xyz = np.asarray(walk.motion.xyz_m, dtype=np.float64) @ cam.R.T + cam.t
    return xyz - xyz[:, :1]


def _bone_cv(xyz: np.ndarray) -> float:
    """Largest frame-to-frame variation (SD / median) of a thigh's or shank's length."""
    out = []
    for hip, knee, ankle in LEGS:
        for a, c in ((hip, knee), (knee, ankle)):
            n = np.linalg.norm(xyz[:, c] - xyz[:, a], axis=-1)
            out.append(n.std() / np.median(n))
    return float(max(out))


def _knee_deg(xyz: np.ndarray) -> np.ndarray:
    out = []
    for hip, knee, ankle in LEGS:
        u, v = xyz[:, hip] - xyz[:, knee], xyz[:, ankle] - xyz[:, knee]
        c = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
        out.append(180.0 - np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
    return np.stack(out, axis=-1)


def test_the_walker_has_rigid_limbs():
    """The premise of the truth below: the synthetic walker's thighs and shanks keep their length."""
    assert _bone_cv(_walker_in_camera(50.0)) < 1e-6


def test_a_consistent_skeleton_is_left_unchanged():
    truth = _walker_in_camera(50.0)
    conf = np.ones(truth.shape[:2])
    out, k = scale_depth_to_fixed_bones(truth, conf)
    assert k == pytest.approx(1.0, abs=1e-6)
    assert np.abs(out - truth).max() < 1e-6  # metres: well under 1 mm


@pytest.mark.parametrize("planted", [1.4, 0.7])
def test_without_the_prior_a_planted_depth_mismatch_is_undone_exactly(planted):
    """The relation itself: depth ``planted`` times the truth's against exact x, y, and the fit with no prior
    finds 1 / planted to 1e-6, so the joints come back to the micrometre."""
    truth = _walker_in_camera(50.0)
    bad = truth.copy()
    bad[..., 2] *= planted
    k = fit_depth_scale(bad, np.ones(truth.shape[:2]), prior_weight=0.0)
    assert k * planted == pytest.approx(1.0, abs=1e-6)


def test_a_planted_depth_too_deep_is_repaired():
    """As shipped (prior toward 1): a depth 1.4 times too deep, the lifter's fault in oblique views, comes back to
    within 4 % (the prior's pull on a 4 s clip), the joints within 15 mm, the thighs and shanks rigid again
    (< 0.5 % variation, from 4.9 %) and the knee angle the truth's within 1 deg (from 8 deg off)."""
    truth = _walker_in_camera(50.0)
    bad = truth.copy()
    bad[..., 2] *= 1.4
    conf = np.ones(truth.shape[:2])
    assert _bone_cv(bad) > 0.04
    assert np.abs(_knee_deg(bad) - _knee_deg(truth)).max() > 7.0
    out, k = scale_depth_to_fixed_bones(bad, conf)
    assert k * 1.4 == pytest.approx(1.0, abs=0.04)
    assert np.linalg.norm(out - truth, axis=-1).max() < 0.015
    assert _bone_cv(out) < 0.005
    assert np.abs(_knee_deg(out) - _knee_deg(truth)).max() < 1.0


def test_a_planted_depth_too_shallow_is_moved_toward_the_truth():
    """A depth 0.7 times the truth's gives the fit less to go on (the depth terms are squared): the prior keeps
    part of the error, but more than half of it goes and the bones' variation halves."""
    truth = _walker_in_camera(50.0)
    bad = truth.copy()
    bad[..., 2] *= 0.7
    out, k = scale_depth_to_fixed_bones(bad, np.ones(truth.shape[:2]))
    assert abs(k * 0.7 - 1.0) < 0.5 * 0.3
    assert _bone_cv(out) < 0.5 * _bone_cv(bad)


def test_a_walker_that_grows_in_the_image_is_not_taken_for_a_depth_mismatch():
    """A walker approaching the camera grows in the image (one normalisation scale per video): the bones' image
    lengths grow over time with no depth error. The fit allows each bone's length a trend in time, so a
    consistent skeleton growing by 30 % over the clip keeps its depth (scale within 2 % of 1)."""
    truth = _walker_in_camera(50.0)
    grow = np.linspace(1.0, 1.3, len(truth))[:, None, None]
    conf = np.ones(truth.shape[:2])
    assert fit_depth_scale(truth * grow, conf) == pytest.approx(1.0, abs=0.02)


def test_a_side_view_says_little_and_keeps_the_depth_near_one():
    """From the side the limbs hardly leave the image plane, so a depth made of noise (no information) must not
    pull the scale far from 1: the prior holds it within 10 %."""
    truth = _walker_in_camera(0.0)
    rng = np.random.default_rng(0)
    noisy = truth.copy()
    noisy[..., 2] = truth[..., 2] + rng.normal(0.0, 0.01, truth.shape[:2])
    k = fit_depth_scale(noisy, np.ones(truth.shape[:2]))
    assert 0.9 <= k <= 1.1


def test_bones_whose_detections_are_not_trusted_carry_no_weight():
    """Unconfident joints keep the lifter's own x, y (anchoring), which say nothing about the mismatch: with no
    confident limb joint the depth is left as it is."""
    truth = _walker_in_camera(50.0)
    bad = truth.copy()
    bad[..., 2] *= 1.4
    conf = np.ones(truth.shape[:2])
    conf[:, [a for bone in SCALE_BONES for a in bone]] = 0.2  # below anchoring's threshold
    out, k = scale_depth_to_fixed_bones(bad, conf)
    assert k == 1.0 and np.array_equal(out, bad)


def test_the_lifter_rescales_the_depth_after_anchoring_and_says_so(tiny_config):
    """Through ``Lifter._motion``: detections with exact x, y and a lifter whose depth is 1.4 times too deep give
    rigid limbs and the true knee angle with the correction (``GAITSCOPE_DEPTH_SCALE=1``), and neither without it
    (the default); the source says which."""
    truth = _walker_in_camera(50.0)
    t = len(truth)
    conf = np.full((t, 17), 0.95)
    x = np.zeros((t, 17, 3))
    x[..., :2] = truth[..., :2]
    pred = truth.copy()
    pred[..., 2] *= 1.4
    pred[..., :2] += np.random.default_rng(1).normal(0.0, 0.02, (t, 17, 2))  # the lifter's own x, y differ
    kp = Keypoints2D(np.zeros((t, 17, 2), np.float32), conf.astype(np.float32), 30.0, 640, 480, np.arange(t),
                     np.zeros(t, bool), "test")
    lifter = Lifter.untrained(tiny_config, seed=0, device="cpu")
    assert lifter.depth_scale is False  # off by default (docs/validation.md: the oblique speed's cost)
    lifter.depth_scale = True  # as GAITSCOPE_DEPTH_SCALE=1 does

    class _Norm:
        mode, center_px, half_size_px = "box", (0.0, 0.0), 1.0

    on = lifter._motion(pred, x, kp, _Norm(), 1.75, True)
    assert on.source.endswith("+anchor2d+zfit")
    assert any(n.startswith("depth scaled by 0.7") for n in on.notes)
    assert _bone_cv(on.xyz_m.astype(np.float64)) < 0.005
    assert np.abs(_knee_deg(on.xyz_m.astype(np.float64)) - _knee_deg(truth)).max() < 1.0

    lifter.depth_scale = False
    off = lifter._motion(pred, x, kp, _Norm(), 1.75, True)
    assert off.source.endswith("+anchor2d")
    assert _bone_cv(off.xyz_m.astype(np.float64)) > 0.04
    assert np.abs(_knee_deg(off.xyz_m.astype(np.float64)) - _knee_deg(truth)).max() > 7.0
    np.testing.assert_allclose(_knee_deg(off.xyz_m.astype(np.float64)),
                               _knee_deg(anchor_to_detections(pred, x, conf)), atol=1e-3)  # anchoring alone


def test_the_setting_switches_it_on(monkeypatch):
    from gaitscope.settings import Settings

    monkeypatch.delenv("GAITSCOPE_DEPTH_SCALE", raising=False)
    assert Settings().depth_scale is False
    monkeypatch.setenv("GAITSCOPE_DEPTH_SCALE", "1")
    assert Settings().depth_scale is True
