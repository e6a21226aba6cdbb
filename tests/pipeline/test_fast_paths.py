"""Issue 24: the fast paths of the pipeline give the numbers of the plain one.

Fast: :func:`analyze_video` runs BlazePose in a background thread while the rest starts, and a warm worker keeps one
lifter across jobs (:class:`gaitscope.pipeline.batch.LazyLifter`, as ``gaitscope worker`` does). Plain:
:func:`run_stages` detects in the calling thread and lifts with a freshly loaded lifter. Same video, same options:
the lifted motion and the embedding agree within 1e-6 and every event and parameter is the same.
"""

from __future__ import annotations

import numpy as np

from gaitscope.cli.main import SAMPLE_VIDEO
from gaitscope.pipeline.batch import LazyLifter
from gaitscope.pipeline.lifter_choice import load_lifter
from gaitscope.pipeline.steps import AnalysisOptions, analyze_video, run_stages


def _same(fast, plain) -> None:
    np.testing.assert_array_equal(fast.keypoints.xy_px, plain.keypoints.xy_px)
    np.testing.assert_allclose(fast.motion.xyz_m, plain.motion.xyz_m, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.embedding.per_frame, plain.embedding.per_frame, rtol=0, atol=1e-6)
    assert fast.motion.source == plain.motion.source
    assert [(e.side, e.kind, e.frame) for e in fast.report.events] == \
        [(e.side, e.kind, e.frame) for e in plain.report.events]
    assert len(fast.report.parameters) == len(plain.report.parameters) > 5
    for a, b in zip(fast.report.parameters, plain.report.parameters):
        assert (a.name, a.side, a.n) == (b.name, b.side, b.n)
        np.testing.assert_allclose([a.value, a.sd], [b.value, b.sd], rtol=1e-6, atol=1e-9, err_msg=f"{a.name} {a.side}")
        assert a.flag == b.flag


def test_background_2d_and_a_kept_lifter_give_the_plain_numbers():
    options = AnalysisOptions(height_cm=172.0, workers=2)
    plain = run_stages(SAMPLE_VIDEO, options, lifter=load_lifter())
    kept = LazyLifter(None)
    first = analyze_video(SAMPLE_VIDEO, options=options, lifter=kept)  # no database: nothing reused
    second = analyze_video(SAMPLE_VIDEO, options=options, lifter=kept)  # the warm worker's next job
    _same(first, plain)
    _same(second, plain)
