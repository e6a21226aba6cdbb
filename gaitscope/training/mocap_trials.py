"""Which marker recordings train the lifter and which measure it: the one place that says so (issues 19, 20).

Kept apart from the training recipe so that the evaluation (:mod:`gaitscope.training.video_eval`), the
renderer (:mod:`gaitscope.training.real_motion_video`) and the builder of real-detection training pairs
(:mod:`gaitscope.training.real_failures`) can all check a trial without importing the recipe, and the recipe
can use them without an import circle. Paths are relative to ``../shared/data/mocap``.
"""

from __future__ import annotations

from pathlib import Path

from gaitscope.errors import InvalidInputError

#: Training trials (relative to the mocap folder); full-body or head-only gaps.
TRAIN_MOCAP: tuple[str, ...] = tuple(
    [f"horst2019_S01/c3d/S01_{i:04d}_Gait.c3d" for i in range(2, 18)]
    + ["opencap_lab_subject/MarkerData/walking2.trc", "opencap_lab_subject/MarkerData/walking4.trc",
       "cmu_131/131_01.bvh", "cmu_131/131_02.bvh"]
)
#: Held out from training, used by the evaluation.
HELDOUT_MOCAP: tuple[str, ...] = tuple(
    [f"horst2019_S01/c3d/S01_{i:04d}_Gait.c3d" for i in range(18, 22)]
    + ["opencap_lab_subject/MarkerData/walking3.trc"]
)
#: Real marker recordings the video evaluation (:mod:`gaitscope.training.real_motion_video`) renders: every
#: walking trial in the mocap folder that is not in :data:`TRAIN_MOCAP` (Horst S01_0001 is a static pose).
EVAL_MOCAP: tuple[str, ...] = HELDOUT_MOCAP + (
    "bmclab/data/Gait.c3d", "bmclab/data/walk.trc", "bmclab/data/walk1.trc", "bmclab/data/walk2.trc",
    "camargo2021_circuit/levelground_ccw_fast_01_01.trc",
)


class TrainingTrialError(InvalidInputError):
    """An evaluation was asked to measure accuracy on a trial the lifter was trained on."""


def _trial_key(path: str | Path) -> str:
    """``folder/file`` of a trial path (absolute or relative to the mocap folder), lower case: the same
    recording is the same key wherever the data folder is mounted."""
    p = Path(str(path).replace("\\", "/"))
    return f"{p.parent.name}/{p.name}".lower()


_TRAIN_KEYS = frozenset(_trial_key(t) for t in TRAIN_MOCAP)


def subject_in_training(path: str | Path) -> bool:
    """Whether another recording of ``path``'s person is in :data:`TRAIN_MOCAP` (same data-set folder: each
    folder of the mocap data holds one person, except BMClab and Camargo, none of whose trials are trained on).
    The video evaluation reports these subjects apart: a held-out trial of a trained-on person is easier."""
    folder = Path(str(path).replace("\\", "/")).parts[0].lower()
    return folder in {Path(t).parts[0].lower() for t in TRAIN_MOCAP}


def refuse_training_trial(path: str | Path) -> None:
    """Raise :class:`TrainingTrialError` when ``path`` is a trial in :data:`TRAIN_MOCAP`.

    Why: an accuracy measured on a trial the lifter has seen is not an accuracy (issue 19). Every evaluation
    that loads a marker recording calls this first; the training list is the single place that says which
    trials are off limits."""
    if _trial_key(path) in _TRAIN_KEYS:
        raise TrainingTrialError(f"{path} is a training trial of the lifter (TRAIN_MOCAP); it cannot be used to "
                                 "measure accuracy.", "Evaluate on the trials in EVAL_MOCAP.")
