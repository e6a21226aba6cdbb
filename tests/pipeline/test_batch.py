"""``gaitscope batch``: a folder or manifest of videos, locally and on a local Ray instance started here; a rerun
skips what is done; a corrupt file is recorded as failed and does not stop the others.

The videos are 2-second cuts of the bundled sample (the real pipeline runs on them: BlazePose, the bundled
lifter, the gait analysis, storage)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

cv2 = pytest.importorskip("cv2")

from gaitscope.pipeline.batch import BatchItem, read_items, run_batch

SAMPLE = Path(__file__).resolve().parents[2] / "gaitscope" / "data" / "sample" / "walk_side.mp4"
CORRUPT = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x07" * 5000  # MP4 magic, no video


def _cut(dst: Path, first_frame: int, seconds: float = 2.0) -> Path:
    cap = cv2.VideoCapture(str(SAMPLE))
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first_frame)
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(int(seconds * fps)):
        ok, frame = cap.read()
        if not ok:
            break
        out.write(frame)
    out.release()
    cap.release()
    return dst


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    if not SAMPLE.exists():
        pytest.skip("the bundled sample video is missing")
    from gaitscope.pipeline.lifter_choice import BUNDLED_LIFTER

    if not BUNDLED_LIFTER.exists():
        pytest.skip("the bundled lifter is missing")
    d = tmp_path_factory.mktemp("batch-videos")
    _cut(d / "walk_a.mp4", 0)
    _cut(d / "walk_b.mp4", 75)
    (d / "corrupt.mp4").write_bytes(CORRUPT)
    return d


def test_manifest_rows_are_parsed_and_bad_rows_become_failures(tmp_path):
    (tmp_path / "v").mkdir()
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,patient,visit_date,height_cm\n"
                        "v/a.mp4,PD-1,2026-02-03,172\n"
                        "/abs/b.mp4,,, \n"
                        "v/c.mp4,PD-2,03/02/2026,900\n")
    a, b, c = read_items(manifest)
    assert (a.path, a.patient, str(a.visit_date), a.height_cm, a.problem) == (
        tmp_path / "v" / "a.mp4", "PD-1", "2026-02-03", 172.0, None)
    assert (b.path, b.patient, b.visit_date, b.height_cm) == (Path("/abs/b.mp4"), "UNASSIGNED", None, None)
    assert "not a date" in c.problem and "outside 50-250 cm" in c.problem
    summary = run_batch([c, BatchItem(tmp_path / "missing.mp4")], db_url=f"sqlite:///{tmp_path / 'b.db'}")
    assert [r.status for r in summary.results] == ["failed", "failed"]
    assert "file not found" in summary.results[1].message


def test_a_manifest_picks_the_person_to_measure_as_analyze_does(tmp_path, monkeypatch):
    """A ``person`` column chooses who is measured where several walk (``2`` or ``x,y``, as ``gaitscope analyze
    --person``): it reaches the pipeline's options and the analysis inputs key (another person is another
    analysis); a malformed choice, or one on a landmark file, is that row's problem, found before any work."""
    from types import SimpleNamespace

    from gaitscope.pipeline import batch, dispatch

    manifest = tmp_path / "m.csv"
    manifest.write_text('path,patient,visit_date,height_cm,person\n'
                        'a.mp4,PD-1,,172,2\n'
                        'b.mp4,PD-1,,172,"410.4,180"\n'
                        'c.mp4,PD-1,,172,\n'
                        'd.mp4,PD-1,,172,left one\n'
                        'e.csv,PD-1,,172,1\n')
    a, b, c, d, e = read_items(manifest)
    assert (a.person, b.person, c.person) == ("#2", "410,180", None)
    assert a.problem is None and b.problem is None and c.problem is None
    assert "person 'left one'" in d.problem
    assert "videos only" in e.problem
    base = batch.current_inputs(None)
    keys = {batch.item_inputs(base, it).key for it in (a, b, c)}
    assert len(keys) == 3  # each choice is its own analysis of the same file
    seen = []
    monkeypatch.setattr(dispatch, "analyze_video", lambda path, **kw: seen.append(kw["options"].person) or
                        SimpleNamespace(recording_id=1, analysis_id=1, video=SimpleNamespace(duration_s=2.0),
                                        reused=False))
    for it in (a, b, c):
        (tmp_path / it.path.name).write_bytes(b"x")
    run_batch([a, b, c], db_url=f"sqlite:///{tmp_path / 'b.db'}")
    assert seen == ["#2", "410,180", None]


def test_local_batch_records_failures_and_a_rerun_skips_what_is_done(videos, tmp_path):
    url = f"sqlite:///{tmp_path / 'local.db'}"
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,patient,visit_date,height_cm\n"
                        f"{videos / 'walk_a.mp4'},PD-7,2026-03-04,172\n"
                        f"{videos / 'corrupt.mp4'},PD-8,,\n")
    first = run_batch(manifest, db_url=url, out=tmp_path / "out", workers=1)
    by_name = {r.item.path.name: r for r in first.results}
    assert by_name["walk_a.mp4"].status == "done", by_name["walk_a.mp4"].message
    assert by_name["corrupt.mp4"].status == "failed" and "corrupt.mp4" in by_name["corrupt.mp4"].message
    assert (tmp_path / "out" / "batch_summary.csv").read_text().count("\n") == 3
    assert any((tmp_path / "out").glob("*walk_a/report.pdf"))
    from sqlalchemy import select

    from gaitscope.db import open_database
    from gaitscope.db.models import Patient, Recording

    with open_database(url) as db, db.read_session() as s:
        rec = s.scalars(select(Recording)).one()
        assert rec.status == "done" and s.get(Patient, rec.visit.patient_id).code == "PD-7"
    again = run_batch(manifest, db_url=url, workers=1)
    assert [r.status for r in again.results] == ["skipped", "failed"]  # the failure is tried again
    assert again.results[0].analysis_id == by_name["walk_a.mp4"].analysis_id
    assert "1 skipped" in again.table() and "1 failed" in again.table()

    # "done" means done for this row's patient from the inputs a run would use now (lifter, versions, reference,
    # the row's height): after an upgrade, a corrected height or for another patient the same file is analyzed
    # again (the old analysis is kept beside the new one)
    from dataclasses import replace

    from gaitscope.pipeline import batch

    database = open_database(url)
    sha = batch.file_sha256(videos / "walk_a.mp4")
    base = batch.current_inputs(None)
    done = batch.item_inputs(base, BatchItem(videos / "walk_a.mp4", "PD-7", height_cm=172.0))
    assert batch.already_done(database, sha, "PD-7", done.key) is not None
    assert batch.already_done(database, sha, "PD-7", replace(done, model="lifter:some-older@1").key) is None
    assert batch.already_done(database, sha, "PD-7", replace(done, analysis_version="an older analysis").key) is None
    assert batch.already_done(database, sha, "PD-7", replace(done, height_cm=180.0).key) is None
    assert batch.already_done(database, sha, "PD-8", done.key) is None
    database.dispose()


def test_local_pool_runs_videos_in_parallel_processes_and_records_their_failures(tmp_path):
    for name in ("bad1.mp4", "bad2.mp4"):
        (tmp_path / name).write_bytes(CORRUPT + name.encode())
    summary = run_batch(tmp_path, db_url=f"sqlite:///{tmp_path / 'pool.db'}", workers=2)
    assert summary.engine == "local (2 processes, one video each)"
    assert [(r.item.path.name, r.status) for r in summary.results] == [("bad1.mp4", "failed"), ("bad2.mp4", "failed")]
    assert all(r.item.path.name in r.message for r in summary.results)  # the clinician's message names the file


@pytest.mark.slow
def test_ray_batch_on_a_local_instance(videos, tmp_path):
    ray = pytest.importorskip("ray")
    url = f"sqlite:///{tmp_path / 'ray.db'}"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        first = run_batch(videos, db_url=url, ray_address="local")
        status = {r.item.path.name: r for r in first.results}
        assert status["walk_a.mp4"].status == "done", status["walk_a.mp4"].message
        assert status["walk_b.mp4"].status == "done", status["walk_b.mp4"].message
        assert status["corrupt.mp4"].status == "failed" and "corrupt.mp4" in status["corrupt.mp4"].message
        assert first.engine.startswith("ray (1 CPU, 0 GPU, lifter on cpu)")
        again = run_batch(videos, db_url=url, ray_address="local")
        assert {r.item.path.name: r.status for r in again.results} == {
            "walk_a.mp4": "skipped", "walk_b.mp4": "skipped", "corrupt.mp4": "failed"}
    finally:
        ray.shutdown()
    from sqlalchemy import func, select

    from gaitscope.db import open_database
    from gaitscope.db.models import Analysis, Recording

    with open_database(url) as db, db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Analysis)) == 2
        assert {r.status for r in s.scalars(select(Recording))} == {"done"}


@pytest.fixture(scope="module")
def trc(tmp_path_factory) -> Path:
    """A 6 s synthetic walk's Plug-in-Gait markers as an OpenSim TRC (millimetres): a motion-capture file."""
    from gaitscope.io.synthetic_mocap import plug_in_gait_markers, write_trc
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(duration_s=6.0, fps=30.0, seed=3))
    return write_trc(tmp_path_factory.mktemp("batch-trc") / "walk.trc", plug_in_gait_markers(walk.motion), 30.0,
                     units="mm")


def _parameters(url: str) -> dict[tuple[str, str], float]:
    """(name, side) -> value of the one analysis stored in ``url``, read back from the database."""
    import sqlalchemy as sa

    from gaitscope.db import open_database
    from gaitscope.pipeline import storage

    with open_database(url) as db:
        with db.read_session() as s:
            (analysis_id,) = s.execute(sa.text("SELECT id FROM analysis")).scalars().all()
        report = storage.load_stored(db, analysis_id)[0]
    return {(p.name, p.side): p.value for p in report.parameters}


def test_a_manifest_row_of_motion_capture_is_analyzed_as_analyze_does(trc, tmp_path, capsys):
    """A TRC row goes through the one dispatcher ``gaitscope analyze`` uses (pipeline.dispatch.analyze_file),
    not to the video reader: the batch stores the same numbers as ``gaitscope analyze`` on that file. The bad rows
    beside it (a person picked on a mocap file, a corrupt video) are their own rows' problem and the exit status is
    1; a rerun skips the analyzed row."""
    from gaitscope.cli.main import main

    one = f"sqlite:///{tmp_path / 'analyze.db'}"
    assert main(["analyze", str(trc), "--db", one, "--patient", "LAB-1", "--height-cm", "175", "--quiet"]) == 0
    (tmp_path / "corrupt.mp4").write_bytes(CORRUPT)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,patient,visit_date,height_cm,person\n"
                        f"{trc},LAB-1,,175,\n"
                        f"{trc},LAB-2,,175,2\n"
                        "corrupt.mp4,LAB-3,,,\n")
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    capsys.readouterr()
    assert main(["batch", str(manifest), "--db", url, "--out", str(tmp_path / "out")]) == 1
    shown = capsys.readouterr().out
    summary = (tmp_path / "out" / "batch_summary.csv").read_text().splitlines()
    assert summary[1].split(",")[4] == "done", shown
    assert "videos only" in summary[2] and "failed" in summary[2]
    assert "failed" in summary[3] and "corrupt.mp4" in summary[3]
    batch_numbers, analyze_numbers = _parameters(url), _parameters(one)
    assert len(analyze_numbers) > 10 and ("cadence", "both") in analyze_numbers
    assert batch_numbers == pytest.approx(analyze_numbers, rel=1e-9, abs=1e-9)
    assert list((tmp_path / "out").glob("00000_walk/*.pdf"))  # its reports are written as for a video
    capsys.readouterr()
    assert main(["batch", str(manifest), "--db", url]) == 1
    assert "[skipped] walk.trc" in capsys.readouterr().out


def test_the_ray_engine_analyzes_a_motion_capture_row_in_the_driver_through_the_dispatcher(trc, tmp_path):
    """On Ray a motion-capture row has no frames for the detection tasks: the driver analyzes it with the same
    dispatcher (without reaching a cluster when there is no video), to the numbers of the local engine."""
    local, on_ray = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    item = BatchItem(trc, "LAB-1", height_cm=175.0)
    assert run_batch([item], db_url=local).results[0].status == "done"
    summary = run_batch([item], db_url=on_ray, ray_address="ray://nowhere.invalid:10001")
    assert [r.status for r in summary.results] == ["done"], summary.results[0].message
    assert summary.engine.startswith("ray (no video")
    assert _parameters(on_ray) == pytest.approx(_parameters(local), rel=1e-9, abs=1e-9)
