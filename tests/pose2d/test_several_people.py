"""Several people in view (issue 21 point 3): said in the result, refused when the person measured cannot be told
apart, the person picked with ``--person`` (or the dashboard) analyzed.

The videos are rendered here (:mod:`gaitscope.synthetic.people`, 4 s at 640x360): where each walker is in the
picture comes from the renderer's camera and the walkers' world joints, not from any detector. The crossing video's
refusal with storage involved is tested on SQLite and PostgreSQL in ``test_bad_input.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.errors import InvalidInputError, MultiplePeopleError
from gaitscope.pose2d.people import PersonChoice, Sample, ambiguity
from gaitscope.skeleton import J

pytest.importorskip("ai_edge_litert", reason="finding several people uses the LiteRT pose detector")

NEAR, FAR = 0, 1  # walkers of the "depths" scene: 1.85 m near the camera, 1.55 m 3 m farther


@pytest.fixture(scope="module")
def depths(tmp_path_factory):
    from gaitscope.synthetic.people import make_scene, render_people

    scene = make_scene("depths")
    return scene, render_people(scene, tmp_path_factory.mktemp("people") / "two_walkers.mp4")


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    from gaitscope.synthetic.people import make_scene, render_people

    scene = make_scene("crossing")
    return scene, render_people(scene, tmp_path_factory.mktemp("people") / "crossing.mp4")


def _hip_error_px(kp, scene, walker: int) -> float:
    """Median distance (px) of the detected mid-hip to walker ``walker``'s true pelvis in the picture."""
    from gaitscope.synthetic.people import project_walker

    truth = project_walker(scene, walker)[kp.frame_index, J["pelvis"]]
    return float(np.median(np.linalg.norm(kp.xy_px[:, J["pelvis"]] - truth, axis=1)))


# ------------------------------------------------------------------------------------------------ unit: the rules


def _box(cx: float, h: float) -> tuple[float, float, float, float]:
    return cx - 0.2 * h, 100.0, cx + 0.2 * h, 100.0 + h


def test_a_similar_person_crossing_is_ambiguous_a_smaller_one_is_not():
    me = [_box(400 - 10 * k, 180) for k in range(6)]  # I walk left; samples every 10 frames at 30 fps

    def other(k: int, h: float = 170) -> tuple:
        return (_box(150 + 60 * k, h),)  # somebody walks right, past me

    hidden = {3, 4}  # behind me: not detected
    crossed = [Sample(10 * k, me[k], () if k in hidden else other(k)) for k in range(6)]
    assert "crossed the person measured (between 0.7 and 1.7 s)" in ambiguity(crossed, fps=30.0)
    seen_overlapping = [Sample(10 * k, me[k], other(k)) for k in range(6)]  # at k = 3: 40 px apart, 180 px high
    assert "overlapped the person measured (at 1.0 s)" in ambiguity(seen_overlapping, fps=30.0)
    smaller = [Sample(10 * k, me[k], other(k, h=95)) for k in range(6)]  # half my size: nearer or farther, told apart
    assert ambiguity(smaller, fps=30.0) is None
    assert ambiguity([Sample(10 * k, me[k], ()) for k in range(6)], fps=30.0) is None
    # the tracker changed person while somebody else was in view (a swap), or with nobody else around (the next
    # person came in after the first left: told apart by the person gate)
    assert "changed at 1.0 s while another person was in view" in ambiguity(smaller, fps=30.0, change_frames=[30])
    alone_then = [Sample(10 * k, me[k], () if k < 4 else other(k, h=95)) for k in range(6)]
    assert ambiguity(alone_then[:4], fps=30.0, change_frames=[15]) is None


def test_person_choice_parses_numbers_and_points_and_refuses_the_rest():
    assert PersonChoice.parse("2").key == "#2" and PersonChoice.parse("#2") == PersonChoice(number=2)
    assert PersonChoice.parse(" 410.4 , 180 ").key == "410,180"
    assert PersonChoice.parse(None) is None and PersonChoice.parse("") is None
    for bad in ("0", "abc", "1,2,3", "-5,10"):
        with pytest.raises(InvalidInputError):
            PersonChoice.parse(bad)


def test_the_person_picked_takes_part_in_the_analysis_inputs_key():
    from gaitscope.pipeline.analysis_inputs import AnalysisInputs

    base = dict(kind="video", model="lifter:x@1", checkpoint_sha256="c", analysis_version="a", reference="r#d",
                height_cm=170.0, flip_tta=True, detector="d")
    auto, first, second = (AnalysisInputs(**base, person=p) for p in (None, "#1", "#2"))
    assert "person" not in auto.as_dict()  # analyses stored before the picker keep their key
    assert len({auto.key, first.key, second.key}) == 3


# ------------------------------------------------------------------------------------------------ the videos


def test_two_walkers_are_seen_and_the_measured_one_is_said(depths):
    from gaitscope.pose2d.detect import detect_keypoints
    from gaitscope.synthetic.people import project_walker

    scene, video = depths
    kp = detect_keypoints(video, workers=1)
    assert kp.people is not None and kp.people.max_in_view == 2
    assert kp.notes[0].startswith("Several people were seen in the video (up to 2 at once)")
    assert _hip_error_px(kp, scene, NEAR) < 10.0  # the detector follows the near walker (truth: the renderer)
    # the still frame's boxes: the measured one holds the near walker's pelvis, the other box the far walker's
    f = kp.people.frame
    for box, walker in ((kp.people.measured_box, NEAR), (kp.people.other_boxes[0], FAR)):
        x, y = project_walker(scene, walker)[f, J["pelvis"]]
        assert box[0] <= x <= box[2] and box[1] <= y <= box[3], (box, walker, (x, y))


def test_a_crossing_is_refused_with_what_to_do(crossing):
    from gaitscope.pose2d.detect import detect_keypoints

    with pytest.raises(MultiplePeopleError) as err:
        detect_keypoints(crossing[1], workers=1)
    text = str(err.value)
    assert "cannot be told apart" in text and "crossed" in text
    assert "Film one person at a time" in text and "--person" in text


@pytest.mark.parametrize("choice", ["1", "point"])
def test_person_selects_the_other_walker(depths, choice):
    from gaitscope.io.video import probe_video
    from gaitscope.pose2d.detect import detect_keypoints
    from gaitscope.pose2d.people import find_people
    from gaitscope.synthetic.people import project_walker

    scene, video = depths
    people = find_people(probe_video(video))
    assert len(people.boxes) == 2
    if choice == "point":  # a click on the far walker's hips (truth from the renderer)
        x, y = project_walker(scene, FAR)[people.frame, J["pelvis"]]
        choice = f"{x:.0f},{y:.0f}"
    kp = detect_keypoints(video, workers=1, person=PersonChoice.parse(choice))
    assert _hip_error_px(kp, scene, FAR) < 10.0 < 50.0 < _hip_error_px(kp, scene, NEAR)
    assert kp.frame_index[0] == people.frame and kp.people is not None and kp.people.chosen
    # the far walker is 1.55 m against the near one's 1.85 m and 3 m farther: much smaller in the picture
    height_px = np.median(kp.xy_px[:, J["head"], 1] - kp.xy_px[:, [J["left_ankle"], J["right_ankle"]], 1].max(1))
    near_px = np.median(np.diff(project_walker(scene, NEAR)[:, [J["head"], J["left_ankle"]], 1], axis=1))
    assert abs(height_px) < 0.75 * abs(near_px)


def test_a_person_number_beyond_those_seen_is_refused(depths):
    from gaitscope.pose2d.detect import detect_keypoints

    with pytest.raises(InvalidInputError, match="Person 3 was asked for, but 2 people were found"):
        detect_keypoints(depths[1], workers=1, person=PersonChoice(number=3))


def test_csv_and_pdf_of_the_two_walker_video_say_several_people(depths, tmp_path):
    pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency")
    import pandas as pd

    from gaitscope.pipeline.steps import AnalysisOptions, analyze_video

    result = analyze_video(depths[1], options=AnalysisOptions(height_cm=185.0, workers=1), out_dir=tmp_path)
    assert result.report.warnings[0].startswith("Several people were seen")
    warnings = pd.read_csv(tmp_path / "warnings.csv")
    assert warnings["warning"].iloc[0].startswith("Several people were seen in the video (up to 2 at once)")
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(str(tmp_path / "report.pdf")).pages).split())
    assert "Attention: Several people were seen" in text
    assert "Person measured" in text and "Green box: the person whose numbers are reported" in text
    assert text.index("Person measured") < text.index("Spatiotemporal parameters")
    images = [img for page in pypdf.PdfReader(str(tmp_path / "report.pdf")).pages for img in page.images]
    assert images, "the still frame of the person measured is in the PDF"
