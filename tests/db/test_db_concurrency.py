"""Two PROCESSES save analyses into the same database at the same moment: nothing is lost, nothing doubled.

Each writer (``db_helpers.py`` run as a script) creates its own patients and recordings and saves one
analysis per recording, and both also race to save the same analysis of one shared recording, which must end
up stored exactly once (UNIQUE(recording, model_version, analysis_version) + idempotent save).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from db_helpers import new_recording, sha
from sqlalchemy import func, select

from gaitscope.db.models import Analysis, GaitParameter, Patient, PoseSequence, Recording
from gaitscope.db.samples import make_sample_analysis

HELPER = Path(__file__).with_name("db_helpers.py")
N_PER_WRITER = 10


def test_two_processes_write_at_once_and_lose_nothing(db, head_url):
    with db.session() as s:
        rec = new_recording(s, code="SHARED")
        rec.sha256 = sha("shared")
    procs = [
        subprocess.Popen([sys.executable, str(HELPER), head_url, prefix, str(N_PER_WRITER)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for prefix in ("A", "B")
    ]
    for p in procs:  # wait until both writers have imported everything and built their records
        line = p.stdout.readline()
        assert line.strip() == "ready", p.stderr.read()[-3000:]
    for p in procs:  # then release both at once
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    (a0, a1), (b0, b1) = ([float(x) for x in out.split()] for out, _ in outs)
    assert max(a0, b0) < min(a1, b1), "the writers did not overlap in time; the test proved nothing"
    n_params = len(make_sample_analysis(seed=0, n_frames=30, with_raw=False).report.parameters)
    with db.session() as s:
        count = lambda q: s.scalar(select(func.count()).select_from(q))  # noqa: E731
        assert count(Patient) == 2 * N_PER_WRITER + 1
        assert count(Recording) == 2 * N_PER_WRITER + 1
        assert count(Analysis) == 2 * N_PER_WRITER + 1  # the shared one exactly once
        assert count(GaitParameter) == (2 * N_PER_WRITER + 1) * n_params
        assert count(PoseSequence) == 2 * 2 * N_PER_WRITER + 1  # 2D + 3D each; shared: 3D only
        shared = s.scalars(select(Recording).where(Recording.sha256 == sha("shared"))).one()
        assert len(shared.analyses) == 1 and shared.status == "done"
        assert {r.status for r in s.scalars(select(Recording))} == {"done"}
        codes = set(s.scalars(select(Patient.code)))
        assert codes == {"SHARED"} | {f"{w}-{i:03d}" for w in "AB" for i in range(N_PER_WRITER)}
