"""Bad input from the command line: a clear message, exit status 2, and nothing stored or written by halves.

Each case runs ``gaitscope analyze`` / ``gaitscope batch`` (``main``) against a database that already holds one
analysis (of a synthetic walk written as motion capture, so no model runs) and checks afterwards that the
database holds exactly what it held before and that the ``--out`` folder holds no partial file. The cases that
reach the database (``db_url``) run on SQLite and, with ``GAITSCOPE_TEST_PG_URL`` set, on PostgreSQL too.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from gaitscope.cli.main import main

PG_URL = os.environ.get("GAITSCOPE_TEST_PG_URL")
BACKENDS = ["sqlite"] + ([pytest.param("postgresql", marks=pytest.mark.postgres)] if PG_URL else [])


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    """No test may read or write the user's own defaults (~/.gaitscope)."""
    monkeypatch.setenv("GAITSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GAITSCOPE_NORMATIVE", raising=False)


def _walk_trc(path: Path, seconds: float, seed: int) -> Path:
    from gaitscope.io.synthetic_mocap import write_walk_trc
    from gaitscope.synthetic.truth import WalkParams
    from gaitscope.synthetic.walker import simulate_walk

    walk = simulate_walk(WalkParams(fps=30.0, duration_s=seconds, height_m=1.75, seed=seed))
    return write_walk_trc(walk.motion, path, rate_hz=60.0)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[Path, Path]:
    """(database file holding one stored analysis, folder of synthetic walks) made once for the module."""
    tmp = tmp_path_factory.mktemp("stored")
    walks = tmp / "walks"
    _walk_trc(walks / "first.trc", 6.0, seed=3)
    _walk_trc(walks / "second.trc", 6.0, seed=4)
    db = tmp / "g.db"
    assert main(["analyze", str(walks / "first.trc"), "--db", f"sqlite:///{db}", "--quiet"]) == 0
    return db, walks


def _pg_admin() -> sa.Engine:
    return sa.create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def pg_template(stored):
    """A PostgreSQL database holding the same one stored analysis, copied (CREATE DATABASE ... TEMPLATE) per test."""
    name = f"gs_badinput_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        assert main(["analyze", str(stored[1] / "first.trc"), "--db", _pg_url(name), "--quiet"]) == 0
        with admin.connect() as c:  # a template must have no open connections (the CLI's pool may keep some)
            c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                      {"n": name})
        yield name
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(stored, tmp_path) -> str:
    """A private copy of the module's SQLite database (each test may change its own)."""
    copy = tmp_path / "g.db"
    for suffix in ("", "-wal", "-shm"):  # SQLite in WAL mode: the latest pages may still be in the -wal file
        if Path(f"{stored[0]}{suffix}").exists():
            shutil.copy(f"{stored[0]}{suffix}", f"{copy}{suffix}")
    return f"sqlite:///{copy}"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """The database holding one stored analysis, private to the test, on SQLite and (when set up) PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    template = request.getfixturevalue("pg_template")
    name = f"gs_badinput_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _pg_url(name)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _state(url: str) -> dict:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        state = {t: c.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                 for t in ("patient", "visit", "recording", "analysis", "gait_parameter")}
        state["recordings"] = c.execute(sa.text("SELECT id, status, original_name FROM recording ORDER BY id")).all()
    engine.dispose()
    return state


def _files(folder: Path) -> list[str]:
    """Every file and folder under ``folder`` (hidden ones included), relative."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _refused(capsys, *phrases: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("gaitscope: ")
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    return err


# ------------------------------------------------------------------------------------------------------ BVH

#: A CMU-named skeleton (the joints ``load_bvh`` maps), as (name, offset, children); leaves get an End Site.
_CMU = ("Hips", (0, 0, 0), [
    ("LeftHip", (1.2, -1.6, 0.7), [("LeftKnee", (0, -7.3, 0), [("LeftAnkle", (0, -6.9, 0), [("LeftToe", (0, -0.4, 2.2), [])])])]),
    ("RightHip", (-1.2, -1.6, 0.7), [("RightKnee", (0, -7.3, 0), [("RightAnkle", (0, -6.9, 0), [("RightToe", (0, -0.4, 2.2), [])])])]),
    ("Chest", (0, 4.0, 0), [("Neck", (0, 4.0, 0), [
        ("Head", (0, 1.5, 0), []),
        ("LeftShoulder", (3.0, 0, 0), [("LeftElbow", (5.0, 0, 0), [("LeftWrist", (4.0, 0, 0), [])])]),
        ("RightShoulder", (-3.0, 0, 0), [("RightElbow", (-5.0, 0, 0), [("RightWrist", (-4.0, 0, 0), [])])]),
    ])]),
])


def _hierarchy(node, depth: int = 0) -> tuple[list[str], int]:
    name, offset, children = node
    pad = "  " * depth
    channels = "6 Xposition Yposition Zposition" if depth == 0 else "3"
    lines = [f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", f"{pad}{{",
             f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}",
             f"{pad}  CHANNELS {channels} Zrotation Yrotation Xrotation"]
    n = 6 if depth == 0 else 3
    for child in children:
        more, k = _hierarchy(child, depth + 1)
        lines += more
        n += k
    if not children:
        lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 1 0", f"{pad}  }}"]
    lines.append(f"{pad}}}")
    return lines, n


def _bvh(frames_line: str = "Frames: 120", time_line: str | None = "Frame Time: 0.0083333",
         rows: int = 120) -> str:
    lines, n_channels = _hierarchy(_CMU)
    motion = ["MOTION", frames_line] + ([time_line] if time_line is not None else [])
    data = [" ".join(["0", "17", "0"] + ["0"] * (n_channels - 3)) for _ in range(rows)]
    return "\n".join(["HIERARCHY"] + lines + motion + data) + "\n"


def test_the_generated_bvh_is_a_valid_cmu_file(tmp_path):
    """The control for the cases below: with a real frame time the skeleton loads at 120 Hz."""
    from gaitscope.io.mocap.bvh import load_bvh

    p = tmp_path / "ok.bvh"
    p.write_text(_bvh())
    motion = load_bvh(p)
    assert motion.fps == 120.0 and motion.n_frames == 120


@pytest.mark.parametrize("text, phrases", [
    (_bvh(time_line="Frame Time: 0"), ["'Frame Time: 0' is not a usable frame time", "Re-export"]),
    (_bvh(time_line="Frame Time: 0.0"), ["'Frame Time: 0.0' is not a usable frame time"]),
    (_bvh(time_line="Frame Time: -0.0083333"), ["'Frame Time: -0.0083333' is not a usable frame time"]),
    (_bvh(time_line="Frame Time: nan"), ["'Frame Time: nan' is not a usable frame time"]),
    (_bvh(time_line=None), ["lacks its 'Frame Time:' line"]),
    (_bvh(frames_line="Frames: 0", rows=0), ["holds no motion ('Frames: 0')"]),
    (_bvh(rows=37), ["is truncated: the header announces 120 frames, the file holds 37"]),
], ids=["zero", "zero-float", "negative", "nan", "missing", "no-frames", "truncated"])
def test_bvh_with_unusable_timing_is_refused_and_nothing_is_stored(text, phrases, tmp_path, sqlite_url, capsys):
    _check_bvh_refused(text, phrases, tmp_path, sqlite_url, capsys)


def test_bvh_with_frame_time_0_stores_nothing_on_either_engine(tmp_path, db_url, capsys):
    _check_bvh_refused(_bvh(time_line="Frame Time: 0"), ["'Frame Time: 0' is not a usable frame time"], tmp_path,
                       db_url, capsys)


def _check_bvh_refused(text: str, phrases: list[str], tmp_path: Path, db_url: str, capsys) -> None:
    bvh = tmp_path / "walk.bvh"
    bvh.write_text(text)
    before = _state(db_url)
    out = tmp_path / "out"
    assert main(["analyze", str(bvh), "--db", db_url, "--out", str(out), "--quiet"]) == 2
    _refused(capsys, "walk.bvh", *phrases)
    assert _state(db_url) == before
    assert _files(out) == []


# ------------------------------------------------------------------------------------------------- manifest


@pytest.mark.parametrize("data, phrases", [
    ("path,patient\nwalk_a.mp4,Jos\u00e9\n".encode("latin-1"),
     ["not UTF-8 text: line 2, byte 15 of that line", "0xE9", "CSV UTF-8"]),
    ("path,patient\nwalk_a.mp4,P1\n".encode("utf-16"), ["encoded as UTF-16", "CSV UTF-8"]),
    (b"\x00\x00\x00\x18ftypisom" + b"\x9f" * 200, ["not UTF-8 text: line 1"]),
], ids=["latin-1", "utf-16-bom", "binary"])
def test_manifest_that_is_not_utf8_is_refused_naming_line_and_byte(data, phrases, tmp_path, sqlite_url, capsys):
    _check_manifest_refused(data, phrases, tmp_path, sqlite_url, capsys)


def test_latin1_manifest_stores_nothing_on_either_engine(tmp_path, db_url, capsys):
    _check_manifest_refused("path,patient\nwalk_a.mp4,Jos\u00e9\n".encode("latin-1"), ["line 2, byte 15"], tmp_path,
                            db_url, capsys)


def _check_manifest_refused(data: bytes, phrases: list[str], tmp_path: Path, db_url: str, capsys) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(data)
    before = _state(db_url)
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "--db", db_url, "--out", str(out)]) == 2
    _refused(capsys, "manifest.csv", *phrases)
    assert _state(db_url) == before
    assert _files(out) == []


def test_manifest_in_utf8_with_or_without_bom_keeps_accents(tmp_path):
    from gaitscope.pipeline.batch import read_items

    text = "path,patient,height_cm\nwalk_a.mp4,Jos\u00e9-01,171\n"
    for name, data in (("plain.csv", text.encode("utf-8")), ("bom.csv", text.encode("utf-8-sig"))):
        (tmp_path / name).write_bytes(data)
        (item,) = read_items(tmp_path / name)
        assert (item.path, item.patient, item.height_cm) == (tmp_path / "walk_a.mp4", "Jos\u00e9-01", 171.0)


def test_batch_given_a_video_instead_of_a_manifest_says_so(tmp_path, sqlite_url, capsys):
    video = tmp_path / "walk.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x9f" * 200)
    assert main(["batch", str(video), "--db", sqlite_url]) == 2
    _refused(capsys, "walk.mp4 is a video", "gaitscope analyze")


# ------------------------------------------------------------------------------------------------ full disk


def _disk_full_after_half_a_pdf(monkeypatch) -> list[Path]:
    """``write_pdf_report`` writes half a file and then meets a full disk, as reportlab would."""
    from gaitscope.reports import pdf_report

    attempts: list[Path] = []

    def full(report, path, **kwargs):
        attempts.append(Path(path))
        Path(path).write_bytes(b"%PDF-1.4\n" + b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pdf_report, "write_pdf_report", full)
    return attempts


def test_full_disk_under_out_leaves_no_partial_report_and_keeps_the_database(stored, tmp_path, db_url,
                                                                             monkeypatch, capsys):
    _, walks = stored
    out = tmp_path / "reports"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"the report of an earlier run")  # must survive as it was
    before = _state(db_url)
    attempts = _disk_full_after_half_a_pdf(monkeypatch)
    assert main(["analyze", str(walks / "second.trc"), "--db", db_url, "--out", str(out), "--quiet"]) == 2
    err = _refused(capsys, f"The disk holding {out} is full", "no partial file was left",
                   "The analysis itself was stored (analysis 2)")
    assert attempts, "the PDF writer was never reached"
    # nothing half-written: no CSV of this run, no staging folder, the earlier report untouched
    assert _files(out) == ["report.pdf"] and (out / "report.pdf").read_bytes() == b"the report of an earlier run"
    # the database keeps what it held, and the new analysis is complete and not marked failed
    after = _state(db_url)
    assert after["recordings"][:1] == before["recordings"]
    assert [r[1:] for r in after["recordings"][1:]] == [("done", "second.trc")]
    assert after["analysis"] == before["analysis"] + 1
    assert after["gait_parameter"] > before["gait_parameter"]
    assert "Traceback" not in err
    # with space again the same command writes the reports from the stored analysis
    monkeypatch.undo()
    assert main(["analyze", str(walks / "second.trc"), "--db", db_url, "--out", str(out), "--quiet"]) == 0
    assert "Already analyzed" in capsys.readouterr().out
    assert _files(out) == sorted(["curves.csv", "events.csv", "parameters.csv", "references.csv", "report.pdf",
                                   "strides.csv", "warnings.csv"])
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert _state(db_url)["analysis"] == after["analysis"]


def test_full_disk_without_database(stored, tmp_path, monkeypatch, capsys):
    _, walks = stored
    out = tmp_path / "reports"
    _disk_full_after_half_a_pdf(monkeypatch)
    assert main(["analyze", str(walks / "second.trc"), "--no-db", "--out", str(out), "--quiet"]) == 2
    err = _refused(capsys, f"The disk holding {out} is full")
    assert "stored" not in err
    assert _files(out) == []


def test_out_that_is_a_file_is_refused(stored, tmp_path, sqlite_url, capsys):
    _, walks = stored
    out = tmp_path / "reports"
    out.write_text("not a folder")
    assert main(["analyze", str(walks / "second.trc"), "--db", sqlite_url, "--out", str(out), "--quiet"]) == 2
    _refused(capsys, f"could not be written to {out}", "is a file")
    assert out.read_text() == "not a folder"


def test_batch_summary_on_a_full_disk_keeps_the_previous_summary(tmp_path, monkeypatch):
    import csv as csv_module

    from gaitscope.errors import OutputError
    from gaitscope.pipeline.batch import BatchItem, BatchSummary, ItemResult

    summary = BatchSummary([ItemResult(BatchItem(tmp_path / "a.mp4"), "done", seconds=1.0)])
    path = summary.write_csv(tmp_path / "batch_summary.csv")
    previous = path.read_bytes()

    class FullWriter:
        def __init__(self, f):
            self.f = f

        def writerow(self, row):
            self.f.write("half a row,")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(csv_module, "writer", FullWriter)
    with pytest.raises(OutputError, match="is full"):
        BatchSummary([ItemResult(BatchItem(tmp_path / "b.mp4"), "failed", "x")]).write_csv(path)
    assert path.read_bytes() == previous
    assert [f for f in _files(tmp_path) if not f.startswith("home")] == ["batch_summary.csv"]  # no temp file


# ---------------------------------------------------------------------------------------- half-written upload


def test_trc_cut_off_mid_number_is_refused_and_nothing_is_stored(stored, tmp_path, db_url, capsys):
    """A copy or upload interrupted in the middle of a negative number (the last line ends in "-")."""
    _, walks = stored
    text = (walks / "second.trc").read_text()
    cut = text.index("\t-", text.index("\n", 2000)) + 2  # right after a minus sign, well into the frames
    half = tmp_path / "half.trc"
    half.write_text(text[:cut])
    before = _state(db_url)
    out = tmp_path / "out"
    assert main(["analyze", str(half), "--db", db_url, "--out", str(out), "--quiet"]) == 2
    _refused(capsys, "half.trc: line", "the file was probably cut off", "complete file again")
    assert _state(db_url) == before
    assert _files(out) == []


# ------------------------------------------------------------------------------------------------ several people


@pytest.fixture(scope="module")
def crossing_video(tmp_path_factory) -> Path:
    """Two people of about the same size walking toward each other and crossing (gaitscope.synthetic.people)."""
    pytest.importorskip("ai_edge_litert", reason="finding several people uses the LiteRT pose detector")
    from gaitscope.synthetic.people import make_scene, render_people

    return render_people(make_scene("crossing"), tmp_path_factory.mktemp("people") / "crossing.mp4")


def test_a_crossing_video_is_refused_and_the_database_keeps_what_it_had(crossing_video, tmp_path, db_url, capsys):
    """Issue 21.3: when the person measured cannot be told apart, no report; what was stored stays."""
    before = _state(db_url)
    out = tmp_path / "out"
    assert main(["analyze", str(crossing_video), "--db", db_url, "--patient", "P-CROSS", "--out", str(out),
                 "--quiet", "--workers", "1"]) == 2
    _refused(capsys, "Several people are in the video and the person measured cannot be told apart",
             "crossed the person measured", "Film one person at a time")
    after = _state(db_url)
    # the analysis stored before is untouched; the refused video's recording is kept as failed, with the reason
    assert {k: after[k] for k in ("analysis", "gait_parameter")} == {k: before[k] for k in ("analysis",
                                                                                          "gait_parameter")}
    assert after["recordings"][: len(before["recordings"])] == before["recordings"]
    assert [r[1:] for r in after["recordings"][len(before["recordings"]):]] == [("failed", "crossing.mp4")]
    assert _files(out) == []


def test_a_malformed_person_is_refused_before_any_work(tmp_path, sqlite_url, capsys):
    before = _state(sqlite_url)
    assert main(["analyze", str(tmp_path / "any.mp4"), "--db", sqlite_url, "--person", "the tall one",
                 "--quiet"]) == 2
    _refused(capsys, "'the tall one' does not say which person to analyze", "--person 2")
    assert _state(sqlite_url) == before


def test_a_person_for_a_motion_capture_file_is_refused(stored, sqlite_url, capsys):
    before = _state(sqlite_url)
    assert main(["analyze", str(stored[1] / "second.trc"), "--db", sqlite_url, "--person", "2", "--quiet"]) == 2
    _refused(capsys, "A person can be picked in a video only", "Leave out --person")
    assert _state(sqlite_url) == before
