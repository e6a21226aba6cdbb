"""No leakage: the video evaluation refuses every trial the lifter was trained on (issue 19).

The training list (``TRAIN_MOCAP``) is the single place that says which recordings are off limits; the
evaluation list (``EVAL_MOCAP``) must not share a recording with it, and rendering or evaluating a training
trial must raise before anything is measured. None of this needs ../shared/data: the refusal comes first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitscope.errors import InvalidInputError
from gaitscope.training.mocap_trials import (
    EVAL_MOCAP,
    HELDOUT_MOCAP,
    TRAIN_MOCAP,
    TrainingTrialError,
    refuse_training_trial,
)
from gaitscope.training.real_motion_video import VideoCase, default_cases, render_case
from gaitscope.training.video_eval import evaluate_case


def _key(p: str) -> str:  # independent of the code under test: folder/file, lower case
    parts = Path(p).parts
    return f"{parts[-2]}/{parts[-1]}".lower()


def test_eval_and_training_lists_are_disjoint():
    assert EVAL_MOCAP, "the evaluation list is empty"
    assert not {_key(t) for t in EVAL_MOCAP} & {_key(t) for t in TRAIN_MOCAP}
    assert set(HELDOUT_MOCAP) <= set(EVAL_MOCAP)


@pytest.mark.parametrize("trial", TRAIN_MOCAP)
def test_every_training_trial_is_refused_relative_absolute_and_in_another_case(trial):
    for path in (trial, f"/data/elsewhere/mocap/{trial}", trial.upper()):
        with pytest.raises(TrainingTrialError) as err:
            refuse_training_trial(path)
        assert isinstance(err.value, InvalidInputError)  # a clear message, exit code 2 on the command line


@pytest.mark.parametrize("trial", EVAL_MOCAP)
def test_evaluation_trials_pass(trial):
    refuse_training_trial(trial)  # does not raise


def test_default_cases_hold_only_evaluation_trials():
    cases = default_cases(("side", "oblique", "frontal", "back"))
    assert {c.trial for c in cases} == set(EVAL_MOCAP)


def test_render_and_evaluate_refuse_a_training_trial(tmp_path):
    case = VideoCase("horst2019_S01/c3d/S01_0005_Gait.c3d", "side")
    with pytest.raises(TrainingTrialError):
        render_case(case, tmp_path / "no_data_needed", tmp_path / "cache")
    with pytest.raises(TrainingTrialError):
        evaluate_case(case, lifter=None, mocap_dir=tmp_path / "no_data_needed", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing was rendered
