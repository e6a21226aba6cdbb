"""The 2D stage's notes (stretch kept, person followed changed, gaps filled) reach the report's warnings and the
PDF (issue 21 point 3, first part): before, they were stored with the keypoints and never shown."""

from __future__ import annotations

import numpy as np
import pytest

from gaitscope.pipeline.steps import SEVERAL_PEOPLE, analyze_motion
from gaitscope.records import Keypoints2D
from gaitscope.skeleton import NUM_JOINTS
from gaitscope.synthetic.truth import WalkParams
from gaitscope.synthetic.walker import simulate_walk

SWITCH = ("Kept frames 120-359 (4.00-12.00 s), the longest stretch with one person; 2 other stretch(es) were left "
          "out because of 3 change(s) of the person being followed.")
FILLED = "Filled 2 short gap(s) (5 frames, each gap at most 0.5 s) by linear interpolation."


def _keypoints(t: int, notes: tuple[str, ...]) -> Keypoints2D:
    return Keypoints2D(xy_px=np.zeros((t, NUM_JOINTS, 2), np.float32), conf=np.ones((t, NUM_JOINTS), np.float32),
                       fps=30.0, width=640, height=480, frame_index=np.arange(t), interpolated=np.zeros(t, bool),
                       source="synthetic", notes=notes)


@pytest.fixture(scope="module")
def motion():
    return simulate_walk(WalkParams(duration_s=6.0, seed=1)).motion


def test_2d_notes_become_warnings_and_a_person_change_leads(motion):
    report = analyze_motion(motion, height_m=1.7, keypoints=_keypoints(motion.n_frames, (SWITCH, FILLED)))
    assert report.warnings[0] == SEVERAL_PEOPLE
    assert f"Video: {SWITCH}" in report.warnings and f"Video: {FILLED}" in report.warnings
    plain = analyze_motion(motion, height_m=1.7, keypoints=_keypoints(motion.n_frames, (FILLED,)))
    assert SEVERAL_PEOPLE not in plain.warnings and f"Video: {FILLED}" in plain.warnings


def test_the_pdf_shows_the_person_change_before_the_numbers(motion, tmp_path):
    pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev dependency")
    from gaitscope.reports.pdf_report import ReportContext, write_pdf_report

    report = analyze_motion(motion, height_m=1.7, keypoints=_keypoints(motion.n_frames, (SWITCH,)))
    pdf = write_pdf_report(report, tmp_path / "r.pdf", context=ReportContext())
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(str(pdf)).pages).split())
    assert "Attention: Several people may be in the video" in text
    assert text.index("Several people") < text.index("Spatiotemporal parameters")
    assert "3 change(s) of the person being followed" in text
