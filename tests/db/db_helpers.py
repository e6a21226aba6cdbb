"""Helpers shared by the database tests (imported as a plain module: tests/ has no __init__.py).

Also runnable as a script: ``python db_helpers.py URL PREFIX N`` saves N analyses into the database at URL.
It prints "ready" once imported and set up, then waits for a line on stdin: the concurrency test starts two
writers, waits until both are ready and releases them at the same instant.
"""

from __future__ import annotations

import hashlib
import sys
import time
from datetime import date

from sqlalchemy.orm import Session

from gaitscope.db import create_patient, create_visit, register_recording
from gaitscope.db.models import Recording


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_recording(s: Session, code: str = "P001", name: str = "walk.mp4", visit_date: date | None = None) -> Recording:
    """A patient (reused if the code exists), a visit and a registered video recording."""
    from gaitscope.db import get_patient

    p = get_patient(s, code) or create_patient(s, code, sex="F", birth_year=1950, height_cm=165, diagnosis="PD")
    v = create_visit(s, p, visit_date or date(2026, 1, 15))
    return register_recording(
        s, v, sha256=sha(f"{code}/{name}/{v.id}"), original_name=name, kind="video", fps=30.0, duration_s=2.0,
        width=1920, height=1080, size_bytes=123456,
    )


def _writer(url: str, prefix: str, n: int) -> None:
    from gaitscope.db import open_database, save_analysis
    from gaitscope.db.samples import make_sample_analysis

    db = open_database(url)
    samples = [make_sample_analysis(seed=i, n_frames=30, with_raw=False) for i in range(n)]
    print("ready", flush=True)
    sys.stdin.readline()  # the starting gun
    began = time.time()
    for i, smp in enumerate(samples):
        with db.session() as s:
            rec = new_recording(s, code=f"{prefix}-{i:03d}", name=f"{prefix}-{i}.mp4")
            save_analysis(
                s, rec, keypoints2d=smp.keypoints2d, motion3d=smp.motion3d, report=smp.report,
                embedding=smp.embedding, predictions=smp.predictions, model_name="m", model_version="1",
                analysis_version="a1", pipeline_version="p1",
            )
        # every process also saves the SAME shared analysis: exactly one copy must survive
        with db.session() as s:
            from gaitscope.db import find_recording_by_hash

            shared = find_recording_by_hash(s, sha("shared"))
            if shared is not None:
                save_analysis(
                    s, shared, keypoints2d=None, motion3d=smp.motion3d, report=smp.report, embedding=None,
                    predictions=(), model_name="m", model_version="1", analysis_version="a1", pipeline_version="p1",
                )
    db.dispose()
    print(f"{began} {time.time()}")  # the test checks that the two writers' busy intervals overlapped


if __name__ == "__main__":
    _writer(sys.argv[1], sys.argv[2], int(sys.argv[3]))
