"""The all-round rendered-video evaluation of the lifter: views, the detection cache and the bundled model's
numbers in a frontal view (issue #4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.training.lifter_eval import VIDEO_CASES, VIEW_CASES

#: Bounds for the bundled model on the frontal and rear walks (see the two tests at the end).
FRONTAL_BACK_PA_MAX_MM = 73.0
DEPTH_SPREAD_MIN = 0.2


def test_eval_detection_cache_is_read_back_without_rendering(tmp_path):
    """Rendered evaluation walks are detected once; later runs read ``tmp/cache`` instead of re-rendering."""
    from gaitscope.pose2d.detect import engine_tag, resolve_engine
    from gaitscope.training.lifter_eval import _cached_detection

    t = 5
    xy = np.arange(t * 17 * 2, dtype=np.float32).reshape(t, 17, 2)
    np.savez_compressed(tmp_path / f"case-{engine_tag(resolve_engine())}.npz", xy_px=xy, conf=np.ones((t, 17), np.float32),
                        fps=30.0, width=640, height=480, frame_index=np.arange(t), interpolated=np.zeros(t, bool),
                        source="blazepose-full")

    def render():
        raise AssertionError("a cached case must not be rendered again")

    kp = _cached_detection(render, "case", tmp_path)
    assert np.array_equal(kp.xy_px, xy) and kp.width == 640 and kp.fps == 30.0


def test_view_cases_go_all_round_on_held_out_walks():
    from gaitscope.training.noise_model import MEASURE_VIEWS

    yaws = {name: yaw for name, yaw, *_ in VIEW_CASES}
    assert yaws["side"] % 180 == 0 and yaws["frontal"] == 90.0 and yaws["back"] == -90.0
    assert {35.0, 60.0} <= {abs(y) for y in yaws.values()}
    seeds = [c[2] for c in VIEW_CASES]
    assert len(set(seeds)) == len(seeds)
    # never the walks the noise model was measured on (nor the training stream, seeds 100000+)
    assert not set(seeds) & {v[1] for v in MEASURE_VIEWS}
    assert all(s < 100_000 for s in seeds)
    # the original two-view set is a subset, so old and new numbers compare
    assert {(c[0], c[1]) for c in VIDEO_CASES} <= {(c[1], c[2]) for c in VIEW_CASES}
    assert all(80 <= c[5] <= 120 for c in VIEW_CASES)  # short walks, about 3 s


VIEWS_KP = Path(__file__).resolve().parent / "data" / "lifter_views_kp.npz"


def _coronal_case(lifter, view: str) -> dict:
    """The held-out frontal / rear walk of :data:`VIEW_CASES`: BlazePose's detections (cached in
    ``data/lifter_views_kp.npz``, from ``eval_views``' cache) lifted by ``lifter``, and the truth in camera axes."""
    from gaitscope.records import Keypoints2D
    from gaitscope.synthetic.camera import view_from_angle
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    _, yaw, seed, _, height, frames = next(c for c in VIEW_CASES if c[0] == view)
    d = np.load(VIEWS_KP)
    g = {k.split("__", 1)[1]: d[k] for k in d.files if k.startswith(view + "__")}
    kp = Keypoints2D(g["xy_px"], g["conf"], float(g["fps"]), int(g["width"]), int(g["height"]), g["frame_index"],
                     g["interpolated"], str(g["source"]))
    walk = simulate_walk(WalkParams(fps=30.0, duration_s=frames / 30.0, height_m=height, seed=seed))
    cam = view_from_angle(walk, yaw)
    gt = cam.to_camera(walk.motion.xyz_m[np.asarray(kp.frame_index)])
    pred = np.asarray(lifter.lift(kp, height_m=height).xyz_m, float)
    return {"pred": pred, "gt": gt - gt[:, :1]}


@pytest.fixture(scope="module")
def coronal():
    from gaitscope.pipeline.lifter_choice import load_lifter

    lifter = load_lifter()
    return {v: _coronal_case(lifter, v) for v in ("frontal", "back")}


def test_bundled_lifter_in_frontal_and_rear_views(coronal):
    """Walking toward and away from the camera (MODEL_CARD.md, per-view table): the stage-3 model measures
    68.1 mm pooled PA-MPJPE on these two walks; the stage-2 model 75.5 mm."""
    from gaitscope.training.lifter_eval import joint_errors_mm

    pa = np.concatenate([joint_errors_mm(c["pred"], c["gt"])["pa_mpjpe"] for c in coronal.values()])
    assert pa.mean() < FRONTAL_BACK_PA_MAX_MM, f"frontal + rear PA-MPJPE {pa.mean():.1f} mm"


def test_bundled_lifter_puts_the_feet_apart_in_depth_when_walking_toward_the_camera(coronal):
    """In a frontal view the step is depth: the distance between the feet along the camera axis. The stage-2
    model predicted a spread (sd of left minus right ankle depth) of 15 % of the true one, the stage-3 model 37 %
    (still far too small, see MODEL_CARD.md, Limits)."""
    from gaitscope.skeleton import J
    from gaitscope.training.lifter_eval import procrustes_align

    c = coronal["frontal"]
    pa = procrustes_align(c["pred"], c["gt"])
    dz_true = c["gt"][:, J["left_ankle"], 2] - c["gt"][:, J["right_ankle"], 2]
    dz_pred = pa[:, J["left_ankle"], 2] - pa[:, J["right_ankle"], 2]
    assert np.corrcoef(dz_true, dz_pred)[0, 1] > 0.5  # the right foot is in front when it is
    assert dz_pred.std() / dz_true.std() > DEPTH_SPREAD_MIN, dz_pred.std() / dz_true.std()
