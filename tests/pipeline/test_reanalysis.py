"""Analyzing a file again (issue 18, points 2 and 3): what identifies a stored analysis, where it is filed, and
that the database and the exports of one analysis hold the same numbers on the video's own timeline.

The 2D stage is the session's one real BlazePose run of the bundled sample (``real_sample_result`` in
tests/conftest.py), handed to :func:`analyze_video` in place of its background detection so each run does not pay
~15 s for the same keypoints; the 3D lifter, the analysis, the database and the exports are the real ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from gaitscope.cli.main import SAMPLE_VIDEO
from gaitscope.pipeline.steps import AnalysisOptions, analyze_video


class _GivenDetection:
    """Stands in for :class:`gaitscope.pose2d.detect_background.BackgroundDetection`: returns given keypoints."""

    keypoints = None

    def __init__(self, info, *, workers, progress=None) -> None:
        pass

    def result(self):
        return type(self).keypoints

    def cancel(self, timeout_s: float = 10.0) -> None:
        return None


@pytest.fixture
def given_keypoints(monkeypatch):
    from gaitscope.pose2d import detect_background

    def use(keypoints):
        _GivenDetection.keypoints = keypoints
        monkeypatch.setattr(detect_background, "BackgroundDetection", _GivenDetection)

    return use


@pytest.fixture(scope="module")
def lifter():
    from gaitscope.pipeline.lifter_choice import load_lifter

    return load_lifter()


@pytest.fixture
def sample(given_keypoints, real_sample_result):
    given_keypoints(real_sample_result.keypoints)


def _rows(url: str, sql: str, **params) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(sql), params).all()]
    finally:
        engine.dispose()


def _stored_parameters(url: str, analysis_id: int) -> pd.DataFrame:
    rows = _rows(url, "SELECT name, side, value FROM gait_parameter WHERE analysis_id = :a ORDER BY name, side",
                 a=analysis_id)
    return pd.DataFrame(rows, columns=["name", "side", "value"])


def _assert_csv_is_the_database(url: str, result) -> None:
    """parameters.csv and events.csv written in this run hold the numbers stored for this run's analysis."""
    from gaitscope.reports.csv_report import UNIT_DECIMALS

    csv = pd.read_csv(result.outputs["parameters"])[["name", "side", "unit", "value"]].sort_values(["name", "side"])
    db = _stored_parameters(url, result.analysis_id)
    assert list(zip(csv["name"], csv["side"])) == list(zip(db["name"], db["side"]))
    both = np.isfinite(csv["value"].to_numpy(float)) & np.isfinite(db["value"].to_numpy(float))
    assert (np.isfinite(csv["value"].to_numpy(float)) == np.isfinite(db["value"].to_numpy(float))).all()
    # the CSV rounds per unit (mm, ms, 0.1 deg, ...): the same number to half its last written digit
    half = 0.5 * 10.0 ** -csv["unit"].map(lambda u: UNIT_DECIMALS.get(u, 2)).to_numpy(float)
    diff = np.abs(csv["value"].to_numpy(float) - db["value"].to_numpy(float))
    assert (diff[both] <= half[both] + 1e-9).all()
    ev_csv = pd.read_csv(result.outputs["events"])
    ev_db = _rows(url, "SELECT side, kind, frame, time_s FROM gait_event WHERE analysis_id = :a ORDER BY idx",
                  a=result.analysis_id)
    assert [tuple(r) for r in ev_csv[["side", "kind", "frame"]].itertuples(index=False)] == [r[:3] for r in ev_db]
    np.testing.assert_allclose(ev_csv["time_s"], [r[3] for r in ev_db], atol=5e-4 + 1e-9)  # CSV keeps ms


def test_another_height_is_a_new_analysis_and_the_same_inputs_are_reused(sample, lifter, tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    first = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=AnalysisOptions(height_cm=170),
                          lifter=lifter)
    taller = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=AnalysisOptions(height_cm=185),
                           lifter=lifter, out_dir=tmp_path / "out185")
    assert not taller.reused and taller.analysis_id != first.analysis_id
    assert taller.recording_id == first.recording_id  # same file, same patient: one recording, two analyses
    # the lifter scales its 3D to the given height, so lengths scale with it (independent truth: 185 / 170)
    ratio = taller.report.parameter("step_length").value / first.report.parameter("step_length").value
    assert ratio == pytest.approx(185 / 170, rel=2e-3)
    _assert_csv_is_the_database(url, taller)
    again = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=AnalysisOptions(height_cm=170),
                          lifter=lifter)
    assert again.reused and again.analysis_id == first.analysis_id
    for options in (AnalysisOptions(height_cm=170, flip_tta=False), AnalysisOptions(height_cm=None)):
        other = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=options, lifter=lifter)
        assert not other.reused and other.analysis_id not in (first.analysis_id, taller.analysis_id)
    heights = _rows(url, "SELECT id, inputs FROM analysis ORDER BY id")
    assert len(heights) == 4


def test_the_same_file_for_another_patient_is_filed_under_that_patient(sample, lifter, tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    a = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-A", options=AnalysisOptions(height_cm=170),
                      lifter=lifter)
    b = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-B", options=AnalysisOptions(height_cm=170),
                      lifter=lifter, out_dir=tmp_path / "b")
    assert not b.reused
    assert b.recording_id != a.recording_id and b.analysis_id != a.analysis_id
    filed = dict(_rows(url, "SELECT r.id, p.code FROM recording r JOIN visit v ON v.id = r.visit_id "
                            "JOIN patient p ON p.id = v.patient_id"))
    assert filed == {a.recording_id: "P-A", b.recording_id: "P-B"}
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(b.outputs["pdf"]).pages)
    assert "P-B" in text and "P-A" not in text
    b_again = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-B", options=AnalysisOptions(height_cm=170),
                            lifter=lifter)
    assert b_again.reused and (b_again.recording_id, b_again.analysis_id) == (b.recording_id, b.analysis_id)


def test_database_and_csv_hold_the_same_numbers_on_reuse_and_on_force(sample, lifter, tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    opts = AnalysisOptions(height_cm=170)
    first = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=opts, lifter=lifter)
    # The stored analysis is stale (as after a fix that did not change a version: why one reruns with --force).
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE gait_parameter SET value = value * 2 WHERE analysis_id = :a"),
                  {"a": first.analysis_id})
    engine.dispose()
    reused = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=opts, lifter=lifter,
                           out_dir=tmp_path / "reuse")
    assert reused.reused
    _assert_csv_is_the_database(url, reused)  # the export shows what is stored
    forced = analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", options=opts, lifter=lifter,
                           out_dir=tmp_path / "force", force=True)
    assert not forced.reused
    _assert_csv_is_the_database(url, forced)  # the database now holds the rerun's numbers, as exported
    cadence = forced.report.parameter("cadence").value
    assert cadence == pytest.approx(first.report.parameter("cadence").value, rel=1e-9)  # fresh, not doubled
    assert _rows(url, "SELECT COUNT(*) FROM analysis") == [(1,)]  # replaced, not piled up


# ---------------------------------------------------------------------------------------------------------
# Point 3: frames and times of the original video
# ---------------------------------------------------------------------------------------------------------

WALK_STARTS_AT = 1980  # frame 1980 = 66 s at 30 fps: the person walks into view late in the video


class _SyntheticLifter:
    """Returns the synthetic walker's true 3D motion (with heel and toe points) for whatever keypoints it gets."""

    name, version = "lifter:synthetic", "truth"
    source = "lifter:synthetic@truth"

    def __init__(self, motion) -> None:
        self.motion = motion

    def lift(self, kp, height_m=None, flip_tta=True):
        assert kp.n_frames == self.motion.n_frames
        return self.motion

    def embed(self, kp, keep_per_joint: bool = False):
        from gaitscope.records import MotionEmbedding

        return MotionEmbedding(pooled=np.zeros(4, np.float32), per_frame=np.zeros((kp.n_frames, 4), np.float32),
                               model_name="synthetic", model_version="truth")


def test_event_and_stride_frames_are_frames_of_the_original_video(given_keypoints, make_video, tmp_path):
    from gaitscope.records import Keypoints2D
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(duration_s=8.0, fps=30.0, seed=3))
    t = walk.motion.n_frames
    given_keypoints(Keypoints2D(
        xy_px=np.zeros((t, 17, 2), np.float32), conf=np.ones((t, 17), np.float32), fps=30.0, width=320,
        height=240, frame_index=np.arange(WALK_STARTS_AT, WALK_STARTS_AT + t), interpolated=np.zeros(t, bool),
        source="given"))
    video = make_video("late_walk.mp4", n_frames=20)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    res = analyze_video(video, db_url=url, patient_code="P-1", lifter=_SyntheticLifter(walk.motion),
                        out_dir=tmp_path / "out")
    events = pd.read_csv(res.outputs["events"])
    truth = {(e.side, e.kind): [] for e in walk.truth.events}
    for e in walk.truth.events:  # independent truth: where the walker put each event, on the video's clock
        truth[(e.side, e.kind)].append(WALK_STARTS_AT + e.time_s * 30.0)
    assert len(events) >= 8
    for row in events.itertuples(index=False):
        nearest = min(truth[(row.side, row.kind)], key=lambda f: abs(f - row.frame))
        assert row.frame == pytest.approx(nearest, abs=2.0), row  # Zeni on ideal markers: within 2 frames
        assert row.time_s == pytest.approx(nearest / 30.0, abs=2.0 / 30.0)
        assert row.time_s > 66.0
    strides = pd.read_csv(res.outputs["strides"])
    strikes = set(events.loc[events["kind"] == "heel_strike", "frame"])
    assert set(strides["start_frame"]) <= strikes and set(strides["end_frame"]) <= strikes
    toe_offs = set(events.loc[events["kind"] == "toe_off", "frame"])
    assert set(strides["toe_off_frame"].dropna().astype(int)) <= toe_offs
    _assert_csv_is_the_database(url, res)
    db_strides = _rows(url, "SELECT start_frame, end_frame FROM stride WHERE analysis_id = :a ORDER BY idx",
                       a=res.analysis_id)
    assert db_strides == list(zip(strides["start_frame"], strides["end_frame"]))


def test_motion_capture_frames_count_from_the_files_first_sample(tmp_path):
    """A TRC whose leg markers are missing for the first 2 s: those samples are trimmed before the analysis, yet
    the exported and stored frames are samples of the file (independent truth: where the walker put its events)."""
    from gaitscope.io.synthetic_mocap import plug_in_gait_markers, write_trc
    from gaitscope.pipeline.mocap import analyze_mocap
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    hidden = 60
    walk = simulate_walk(WalkParams(duration_s=8.0, fps=30.0, seed=5))
    markers = plug_in_gait_markers(walk.motion)
    for name in ("LANK", "RANK"):
        markers[name][:hidden] = np.nan
    trc = write_trc(tmp_path / "late.trc", markers, 30.0, units="mm")
    url = f"sqlite:///{tmp_path / 'g.db'}"
    res = analyze_mocap(trc, db_url=url, patient_code="LAB-1", out_dir=tmp_path / "out")
    events = pd.read_csv(res.outputs["events"])
    assert len(events) >= 6 and (events["frame"] >= hidden).all()
    truth: dict[tuple[str, str], list[float]] = {}
    for e in walk.truth.events:
        truth.setdefault((e.side, e.kind), []).append(e.time_s * 30.0)
    for row in events.itertuples(index=False):
        nearest = min(truth[(row.side, row.kind)], key=lambda f: abs(f - row.frame))
        assert row.frame == pytest.approx(nearest, abs=2.0), row
        assert row.time_s == pytest.approx(nearest / 30.0, abs=2.0 / 30.0)
    _assert_csv_is_the_database(url, res)


def test_another_2d_engine_is_another_analysis(monkeypatch):
    """The MediaPipe graph and the LiteRT port place landmarks a few pixels apart, so the numbers differ: an
    analysis made with one 2D engine is never reused for the other."""
    from gaitscope.pipeline import analysis_inputs, normative_choice

    reference = normative_choice.resolve(None)
    keys = {}
    for engine in ("mediapipe", "litert"):
        monkeypatch.setenv("GAITSCOPE_POSE_ENGINE", engine)
        inputs = analysis_inputs.for_video(model_source="lifter:x@1", checkpoint=None, reference=reference,
                                           height_cm=170.0, flip_tta=True)
        assert engine in inputs.detector
        keys[engine] = inputs.key
    assert keys["mediapipe"] != keys["litert"]


class _PickedDetection(_GivenDetection):
    """Like :class:`_GivenDetection`, and records the person each analysis asked the 2D stage for."""

    asked: list = []

    def __init__(self, info, *, workers, progress=None, person=None) -> None:
        type(self).asked.append(None if person is None else person.key)


def test_another_person_of_the_same_video_is_a_new_analysis(real_sample_result, lifter, tmp_path, monkeypatch):
    """Issue 21.3: the person picked takes part in the inputs key; the same person again is the stored analysis."""
    from gaitscope.pose2d import detect_background

    _PickedDetection.keypoints, _PickedDetection.asked = real_sample_result.keypoints, []
    monkeypatch.setattr(detect_background, "BackgroundDetection", _PickedDetection)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    runs = [analyze_video(SAMPLE_VIDEO, db_url=url, patient_code="P-1", lifter=lifter,
                          options=AnalysisOptions(height_cm=170, person=person))
            for person in (None, "1", "2", "#2")]
    auto, first, second, again = runs
    assert len({auto.analysis_id, first.analysis_id, second.analysis_id}) == 3
    assert not any(r.reused for r in runs[:3]) and again.reused and again.analysis_id == second.analysis_id
    assert _PickedDetection.asked[:3] == [None, "#1", "#2"]  # the 2D stage was told whom to follow
    stored = [r[0] for r in _rows(url, "SELECT inputs FROM analysis ORDER BY id")]
    assert '"person"' not in str(stored[0]) and "#1" in str(stored[1]) and "#2" in str(stored[2])
