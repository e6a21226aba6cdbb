"""The lifter shipped inside the package: it loads with no download and lifts the sample walk to plausible 3D.

The 2D input is BlazePose's detection of the bundled sample video, cached in ``data/lifter_sample_kp.npz``
(detection takes about a minute on a shared CPU; regenerate with ``detect_keypoints(walk_side.mp4, workers=1)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitscope.models.inference import Lifter
from gaitscope.pipeline.lifter_choice import BUNDLED_LIFTER, load_lifter
from gaitscope.records import Keypoints2D
from gaitscope.training.lifter_eval import joint_errors_mm, load_sample_truth

KP_CACHE = Path(__file__).resolve().parent / "data" / "lifter_sample_kp.npz"
STRETCH = slice(30, 120)  # 3 s, about 3 strides
#: PA-MPJPE bound on the sample stretch: the shipped model (s1500+1200+1600-occ-front30) measures 27 mm there
#: (31.5 mm over the whole video, see MODEL_CARD.md), stage 2 (s1500+1200-occ) 29 mm; the first bundled model
#: (per-frame dropouts only) 71 mm, the same architecture with random weights about 370 mm.
PA_MPJPE_MAX_MM = 40.0
#: The far (left) elbow, missing in ~74 % of the sample's frames: 47 mm now (stage 2: 55), 234 mm with the first
#: model.
FAR_ELBOW_PA_MAX_MM = 80.0


def _cached_keypoints(stretch: slice = STRETCH) -> Keypoints2D:
    d = np.load(KP_CACHE)
    sl = stretch
    return Keypoints2D(d["xy_px"][sl], d["conf"][sl], float(d["fps"]), int(d["width"]), int(d["height"]),
                       d["frame_index"][sl], d["interpolated"][sl], str(d["source"]))


def _errors(lifter: Lifter) -> dict[str, np.ndarray]:
    kp = _cached_keypoints()
    truth = load_sample_truth()
    idx = np.asarray(kp.frame_index)
    gt = np.einsum("ik,tjk->tji", truth["R"], truth["xyz"][idx]) + truth["t"][idx][:, None, :]
    motion = lifter.lift(kp, height_m=truth["height_m"])
    assert motion.root_relative and np.allclose(motion.xyz_m[:, 0], 0.0)
    return joint_errors_mm(np.asarray(motion.xyz_m, float), gt)


@pytest.fixture(scope="module")
def bundled() -> Lifter:
    return load_lifter()


def test_bundled_checkpoint_is_small_and_documented(bundled):
    assert BUNDLED_LIFTER.exists()
    assert BUNDLED_LIFTER.stat().st_size < 25e6
    meta = bundled.metadata
    for key in ("model_version", "training_data", "recipe", "metrics", "licence", "config"):
        assert key in meta, key
    assert bundled.version.startswith("gaitscope-small")
    assert (BUNDLED_LIFTER.parent / "MODEL_CARD.md").exists()


def test_bundled_lifter_lifts_the_sample_video(bundled):
    err = _errors(bundled)
    pa = float(err["pa_mpjpe"].mean())
    assert pa < PA_MPJPE_MAX_MM, f"PA-MPJPE {pa:.1f} mm"
    # the lifting is meaningful: far better than the same architecture with random weights
    untrained = Lifter.untrained(bundled.config, device="cpu")
    pa_random = float(_errors(untrained)["pa_mpjpe"].mean())
    assert pa < 0.4 * pa_random, (pa, pa_random)


def test_bundled_lifter_places_the_occluded_far_arm(bundled):
    from gaitscope.skeleton import J

    err = _errors(bundled)
    far = float(err["pa_mpjpe"][:, J["left_elbow"]].mean())
    assert far < FAR_ELBOW_PA_MAX_MM, f"far elbow PA-MPJPE {far:.1f} mm"
    assert bundled.metadata["training_data"].get("noise_model") == "blazepose_noise.json"
    assert bundled.metadata["recipe"].get("view_occlusion") is True
