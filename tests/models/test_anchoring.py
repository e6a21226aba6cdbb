"""Anchoring the lifted joints to the detected 2D (issue 20): confident detections set x and y, the model's depth
is kept, unknown joints keep the model's guess."""

from __future__ import annotations

import numpy as np

from gaitscope.models.anchoring import anchor_to_detections, anchor_weights


def _arrays(t: int = 4, j: int = 17):
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(t, j, 3))
    x = np.zeros((t, j, 3))
    x[..., :2] = rng.normal(size=(t, j, 2))
    return pred, x


def test_confident_joints_take_the_detection_relative_to_the_root_and_keep_the_model_depth():
    pred, x = _arrays()
    conf = np.ones((4, 17))
    out = anchor_to_detections(pred, x, conf)
    np.testing.assert_allclose(out[..., :2], x[..., :2] - x[:, :1, :2], atol=1e-12)
    np.testing.assert_allclose(out[..., 2], pred[..., 2] - pred[:, :1, 2], atol=1e-12)


def test_unknown_or_doubtful_joints_keep_the_model_and_half_confident_ones_blend():
    pred, x = _arrays()
    conf = np.ones((4, 17))
    conf[:, 5] = 0.0  # missing
    conf[:, 6] = 0.25  # the detector does not know
    conf[:, 7] = 0.5  # halfway up the ramp (0.3 -> 0.7)
    out = anchor_to_detections(pred, x, conf)
    rel_pred = pred - pred[:, :1]
    rel_det = x[..., :2] - x[:, :1, :2]
    np.testing.assert_allclose(out[:, 5, :2], rel_pred[:, 5, :2], atol=1e-12)
    np.testing.assert_allclose(out[:, 6, :2], rel_pred[:, 6, :2], atol=1e-12)
    np.testing.assert_allclose(out[:, 7, :2], 0.5 * rel_det[:, 7] + 0.5 * rel_pred[:, 7, :2], atol=1e-12)


def test_nothing_is_anchored_in_a_frame_whose_root_is_unknown():
    conf = np.ones((3, 17))
    conf[1, 0] = 0.0
    w = anchor_weights(conf)
    assert w[1].max() == 0.0 and w[0].min() == 1.0
