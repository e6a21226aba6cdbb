"""``gaitscope batch DIR_OR_MANIFEST``: analyze a researcher's thousands of videos, locally or on a Ray cluster.

* **Input**: a folder (every video file in it and its sub-folders, filed under patient ``UNASSIGNED``) or a
  manifest CSV with the columns ``path`` (absolute, or relative to the manifest), ``patient``, ``visit_date``
  (ISO), ``height_cm`` and ``person`` (the last four optional; ``person`` picks who is measured where several
  walk: ``2`` for the second from the left or ``x,y`` a pixel point, as ``gaitscope analyze --person``; videos
  only). A manifest may also list motion-capture files (.c3d .trc .mot .sto .bvh) and MediaPipe Pose landmark
  files (``.csv``, :mod:`gaitscope.io.landmarks`): every row goes through
  :func:`gaitscope.pipeline.dispatch.analyze_file`, the dispatcher ``gaitscope analyze`` uses, so a row gives the
  numbers ``gaitscope analyze`` gives for that file (on Ray such rows are analyzed in the driver: they have no
  frames to detect). A folder is scanned for videos only (a folder's CSVs may be anything).
* **Resumable**: before any work, each file's SHA-256 is looked up; a file whose recording for that row's patient
  already has an analysis with the same inputs (lifter, versions, reference, the row's height:
  :mod:`gaitscope.pipeline.analysis_inputs`) is skipped, so a rerun after a crash, a Ctrl-C or a fix does only
  what is left (failed files are tried again).
* **Failures never abort the batch**: each is recorded (the recording is marked ``failed`` with the clinician's
  message when it got that far) and listed in the summary at the end; the exit status is 1 when any file failed.
* **Local** (default): :func:`gaitscope.pipeline.dispatch.analyze_file` on one file after another, the lifter
  loaded once (long videos split their frames over 2 BlazePose processes, as in ``gaitscope analyze``).
  ``--workers N`` analyses N videos at once, one per process, each loading MediaPipe and the lifter once for the
  whole batch: for machines with idle cores. Measured on the shared 2-core CI machine (benchmarks/pipeline.py,
  other jobs keeping the second core busy) it was slower than one at a time and used 2.1-2.3x the memory, hence
  the default of 1.
* **Ray** (``--ray ADDRESS``, ``--ray local`` starts a local instance): Ray is the distributed engine, we write no
  cluster code. Decoding + 2D detection are Ray CPU tasks (one video each, as many in flight as the cluster has
  CPUs); 3D lifting and the motion embedding run in ONE Ray actor holding the DSTformer (``num_gpus=1`` when the
  cluster has a GPU, where it receives the videos that are ready in groups and runs their 243-frame windows in
  large batches; a CPU actor otherwise); the gait analysis and every database write happen in the driver through
  the same storage layer as the pipeline (:mod:`gaitscope.pipeline.storage`), so the database needs to be
  reachable from the driver only and the cluster nodes need only the video files (a shared file system).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from gaitscope.errors import GaitscopeError, InvalidInputError, OutputError
from gaitscope.io.file_hash import file_sha256

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")
UNASSIGNED = "UNASSIGNED"


@dataclass(frozen=True)
class BatchItem:
    """One video of a batch, as the folder or manifest describes it. ``problem``: why it cannot be analyzed
    (a manifest row with a bad date, say), found before any work."""

    path: Path
    patient: str = UNASSIGNED
    visit_date: date | None = None
    height_cm: float | None = None
    problem: str | None = None
    person: str | None = None  # PersonChoice.key ("#2", "410,180") of the person picked; None: the detector's


@dataclass
class ItemResult:
    """What happened to one item: ``done``, ``skipped`` (analyzed before) or ``failed`` (``message`` says why)."""

    item: BatchItem
    status: str
    message: str = ""
    seconds: float = 0.0
    recording_id: int | None = None
    analysis_id: int | None = None
    duration_s: float | None = None


@dataclass
class BatchSummary:
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "local"

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "failed"]

    def videos_per_hour(self) -> float:
        done = self.count("done")
        return 3600.0 * done / self.seconds if self.seconds > 0 and done else 0.0

    def table(self) -> str:
        """The per-file table and the totals, as printed at the end of a batch."""
        rows = [("file", "patient", "status", "seconds", "analysis", "message")]
        for r in self.results:
            rows.append((r.item.path.name, r.item.patient, r.status, f"{r.seconds:.1f}",
                         "" if r.analysis_id is None else str(r.analysis_id), r.message[:100]))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:5], widths)) + "  " + row[5] for row in rows]
        lines.insert(1, "-" * min(sum(widths) + 12, 140))
        lines.append("")
        lines.append(f"{len(self.results)} file(s): {self.count('done')} analyzed, {self.count('skipped')} skipped "
                     f"(analyzed before), {self.count('failed')} failed; {self.seconds:.1f} s ({self.engine}), "
                     f"{self.videos_per_hour():.0f} videos/hour")
        return "\n".join(lines)

    def write_csv(self, path: Path) -> Path:
        """The per-file table as CSV, written to a temporary name and renamed (a full disk leaves the previous
        summary, never half of one; :class:`~gaitscope.errors.OutputError` says so)."""
        from gaitscope.pipeline.output_files import write_file_atomically

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["path", "patient", "visit_date", "person", "status", "seconds", "recording_id",
                            "analysis_id", "message"])
                for r in self.results:
                    w.writerow([str(r.item.path), r.item.patient, r.item.visit_date or "", r.item.person or "",
                                r.status, f"{r.seconds:.2f}", r.recording_id or "", r.analysis_id or "", r.message])

        return write_file_atomically(path, write)


# ------------------------------------------------------------------------------------------------- inputs


def _parse_row(row: dict[str, str], base: Path, line: int) -> BatchItem:
    raw_path = (row.get("path") or "").strip()
    path = Path(raw_path)
    if raw_path and not path.is_absolute():
        path = base / path
    patient = (row.get("patient") or "").strip() or UNASSIGNED
    problems = []
    if not raw_path:
        problems.append(f"manifest line {line} has no path")
    visit = None
    if (row.get("visit_date") or "").strip():
        try:
            visit = date.fromisoformat(row["visit_date"].strip())
        except ValueError:
            problems.append(f"visit_date {row['visit_date']!r} is not a date like 2026-01-31")
    height = None
    if (row.get("height_cm") or "").strip():
        try:
            height = float(row["height_cm"])
        except ValueError:
            problems.append(f"height_cm {row['height_cm']!r} is not a number")
        else:
            if not 50.0 <= height <= 250.0:
                problems.append(f"height {height:g} cm is outside 50-250 cm")
    person = None
    if (row.get("person") or "").strip():
        from gaitscope.pose2d.people import PersonChoice

        try:
            person = PersonChoice.parse(row["person"]).key
        except InvalidInputError as exc:
            problems.append(f"person {row['person']!r}: {exc.message}")
        if not is_video_row(path):  # the rule analyze_file applies (pipeline.dispatch), found here before any work
            problems.append("person applies to videos only (a motion-capture or landmark file holds one person "
                            "already)")
    return BatchItem(path, patient, visit, height, "; ".join(problems) or None, person)


def is_video_row(path: Path) -> bool:
    """Whether :func:`gaitscope.pipeline.dispatch.analyze_file` reads ``path`` as a video (not a motion-capture
    or MediaPipe landmark file): the dispatcher's own predicates, so the batch cannot disagree with it."""
    from gaitscope.io.landmarks import is_landmark_file
    from gaitscope.pipeline.mocap import is_mocap_file

    return not (is_mocap_file(path) or is_landmark_file(path))


def read_items(source: str | Path) -> list[BatchItem]:
    """The items of a folder (sorted, recursive) or of a manifest CSV."""
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        return [BatchItem(p) for p in files]
    if not src.is_file():
        raise InvalidInputError(f"{src} is neither a folder nor a manifest file.",
                                "Pass a folder of videos or a CSV with columns path,patient,visit_date,height_cm.")
    if src.suffix.lower() in VIDEO_SUFFIXES:
        raise InvalidInputError(f"{src.name} is a video, not a folder or a manifest.",
                                f"Analyze one video with: gaitscope analyze {src}")
    reader = csv.DictReader(io.StringIO(_manifest_text(src), newline=""))
    try:
        if reader.fieldnames is None or "path" not in [c.strip() for c in reader.fieldnames]:
            raise InvalidInputError(f"The manifest {src.name} has no 'path' column.",
                                    "The first line must be a header such as: path,patient,visit_date,height_cm")
        reader.fieldnames = [c.strip() for c in reader.fieldnames]
        return [_parse_row(row, src.parent, i + 2) for i, row in enumerate(reader)]
    except csv.Error as exc:  # a NUL byte, an unterminated quote at the end
        raise InvalidInputError(f"The manifest {src.name} is not a readable CSV file (line {reader.line_num}: {exc}).",
                                "Save it as CSV (comma-separated, UTF-8) from your spreadsheet.") from exc


#: Byte-order marks of encodings a spreadsheet may save in but the manifest reader refuses.
_FOREIGN_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
                 (b"\xfe\xff", "UTF-16"))


def _manifest_text(src: Path) -> str:
    """The manifest's text: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one).

    Anything else is refused with the line and byte where it stops being UTF-8, rather than guessed: a Latin-1
    guess would silently turn a patient code or a file name with an accent into a different one.
    """
    try:
        raw = src.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"The manifest {src} could not be read ({exc.strerror or exc}).",
                                "Check the path and its permissions.") from exc
    how = "Save it from your spreadsheet as \"CSV UTF-8 (comma delimited)\"."
    for bom, name in _FOREIGN_BOMS:
        if raw.startswith(bom):
            raise InvalidInputError(f"The manifest {src.name} is encoded as {name}; gaitscope reads UTF-8 manifests.",
                                    how)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidInputError(
            f"The manifest {src.name} is not UTF-8 text: line {line}, byte {column} of that line "
            f"(byte {exc.start} of the file) is 0x{raw[exc.start]:02X}. It was probably saved as Latin-1/"
            "Windows-1252, or it is not a CSV file at all.", how) from exc


def current_inputs(checkpoint: str | None, flip_tta: bool = True):
    """The :class:`~gaitscope.pipeline.analysis_inputs.AnalysisInputs` a run would store now, without a height
    (each item puts its own): what makes a stored analysis "done".

    Loads the lifter once to read its version (a second or less for the bundled one); a checkpoint that cannot be
    loaded stops the batch here, with the loader's message, instead of failing every file the same way.
    """
    from gaitscope.pipeline import analysis_inputs, normative_choice
    from gaitscope.pipeline.lifter_choice import load_lifter

    return analysis_inputs.for_video(model_source=analysis_inputs.lifter_source(load_lifter(checkpoint)),
                                     checkpoint=checkpoint, reference=normative_choice.resolve(None), height_cm=None,
                                     flip_tta=flip_tta)


def item_inputs(base, item: BatchItem, database=None):
    """``base`` inputs with the item's height, and (given the ``database``) the age and sex of the item's patient
    record, as :func:`~gaitscope.pipeline.steps.analyze_video` takes them."""
    from dataclasses import replace

    from gaitscope.pipeline.steps import AnalysisOptions, with_patient_subject

    inputs = replace(base, height_cm=item.height_cm, person=item.person)
    if database is not None:
        subject = with_patient_subject(AnalysisOptions(), database, item.patient, item.visit_date)
        inputs = replace(inputs, age_years=subject.age_years, sex=subject.sex)
    return inputs


def already_done(database, sha256: str, patient: str = UNASSIGNED, key: str | None = None) -> tuple[int, int] | None:
    """(recording id, analysis id) when this content was analyzed and stored before for ``patient``, else None.

    With ``key`` (:attr:`AnalysisInputs.key`) only an analysis made from those inputs counts, so a rerun after a
    lifter or analysis upgrade, or with corrected heights, re-analyses (beside the old analyses, which are kept).
    The same file in another patient's row is not "done": it is filed under that patient.
    """
    from gaitscope.db import find_analysis, find_recording_by_hash, get_patient, latest_analysis

    with database.read_session() as s:
        p = get_patient(s, patient or UNASSIGNED)
        rec = find_recording_by_hash(s, sha256, patient_id=int(p.id)) if p is not None else None
        if rec is None:
            return None
        a = latest_analysis(s, rec) if key is None else find_analysis(s, int(rec.id), key)
        return None if a is None else (int(rec.id), int(a.id))


def _out_dir(out: Path | None, item: BatchItem, index: int) -> Path | None:
    if out is None:
        return None
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in item.path.stem)[:80] or "video"
    return out / f"{index:05d}_{stem}"


def _message(exc: BaseException) -> str:
    if isinstance(exc, GaitscopeError):
        return str(exc)
    return f"Internal error ({type(exc).__name__}): {exc}"


def _plan(database, items: list[BatchItem], base_inputs=None,
          ) -> tuple[list[ItemResult], list[tuple[int, BatchItem]]]:
    """Results already decided (problems, missing files, done before) and the (index, item) pairs to run.

    ``base_inputs``: :func:`current_inputs` (None: any stored analysis of the patient's recording counts)."""
    results: list[ItemResult | None] = [None] * len(items)
    todo: list[tuple[int, BatchItem]] = []
    seen: set[tuple[str, str, str | None]] = set()
    for i, item in enumerate(items):
        if item.problem:
            results[i] = ItemResult(item, "failed", item.problem)
            continue
        if not item.path.is_file():
            results[i] = ItemResult(item, "failed", f"file not found: {item.path}")
            continue
        sha = file_sha256(item.path)
        key = item_inputs(base_inputs, item, database).key if base_inputs is not None else None
        prior = already_done(database, sha, item.patient, key)
        if prior is not None:
            results[i] = ItemResult(item, "skipped", "analyzed before", recording_id=prior[0], analysis_id=prior[1])
        elif (sha, item.patient, key) in seen:
            results[i] = ItemResult(item, "skipped", "same content, patient and height as an earlier file of this "
                                                     "batch")
        else:
            seen.add((sha, item.patient, key))
            todo.append((i, item))
    return results, todo  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- local engine


class LazyLifter:
    """Stands for the lifter and loads it on first use, once: a batch (or a pool process) whose files all fail
    before the 3D stage never pays for loading the model; a missing checkpoint fails each item that needs it."""

    def __init__(self, checkpoint: str | None, torch_threads: int | None = None) -> None:
        self._checkpoint = checkpoint
        self._threads = torch_threads
        self._lifter: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._lifter is None:
            from gaitscope.pipeline.lifter_choice import load_lifter

            if self._threads:
                import torch

                torch.set_num_threads(self._threads)
            self._lifter = load_lifter(self._checkpoint)
        return getattr(self._lifter, name)


_POOL_LIFTER: LazyLifter | None = None  # one per local pool process (set by _pool_init)


def _pool_init(checkpoint: str | None) -> None:
    global _POOL_LIFTER
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # one video per process and core: torch must not spread over the other processes' cores
    _POOL_LIFTER = LazyLifter(checkpoint, torch_threads=1)


def _analyze_one(db_url: str, item: BatchItem, out_dir: Path | None, workers: int, checkpoint: str | None,
                 lifter: Any) -> ItemResult:
    """One manifest row through :func:`gaitscope.pipeline.dispatch.analyze_file`, the dispatcher ``gaitscope
    analyze`` uses (video, motion capture or MediaPipe landmarks: the batch never chooses by file type itself);
    any failure becomes the item's result (never raises). A row the pipeline finds stored already (a
    motion-capture file, whose inputs the plan cannot know before reading it) is ``skipped``."""
    from gaitscope.pipeline.dispatch import analyze_file
    from gaitscope.pipeline.steps import AnalysisOptions

    t0 = time.perf_counter()
    try:
        res = analyze_file(item.path, db_url=db_url, patient_code=item.patient, visit_date=item.visit_date,
                           options=AnalysisOptions(height_cm=item.height_cm, workers=workers,
                                                   checkpoint=checkpoint, person=item.person),
                           out_dir=out_dir, lifter=lifter, original_name=item.path.name)
        if res.reused:
            return ItemResult(item, "skipped", "analyzed before", time.perf_counter() - t0, res.recording_id,
                              res.analysis_id, res.video.duration_s)
        return ItemResult(item, "done", "", time.perf_counter() - t0, res.recording_id, res.analysis_id,
                          res.video.duration_s)
    except Exception as exc:
        if not isinstance(exc, GaitscopeError):
            log.exception("batch item %s", item.path)
        return ItemResult(item, "failed", _message(exc), time.perf_counter() - t0)


def _pool_task(db_url: str, item: BatchItem, out_dir: Path | None) -> ItemResult:
    return _analyze_one(db_url, item, out_dir, 1, None, _POOL_LIFTER)


def _run_local(db_url: str, todo: list[tuple[int, BatchItem]], results: list, out: Path | None, workers: int,
               checkpoint: str | None, report: Callable[[ItemResult], None]) -> str:
    """``workers`` > 1: several videos at once, one per process, each process keeping its lifter and its
    MediaPipe import for the whole batch (while one video is lifted or stored the others keep detecting).
    Otherwise one video at a time, a long one split over 2 BlazePose processes (the pipeline's default)."""
    if workers > 1 and len(todo) > 1:
        workers = min(workers, len(todo))
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")  # MediaPipe/OpenCV run threads: never fork them
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_init,
                                 initargs=(checkpoint,)) as pool:
            futures = {pool.submit(_pool_task, db_url, item, _out_dir(out, item, i)): (i, item) for i, item in todo}
            for fut in as_completed(futures):
                i, item = futures[fut]
                try:
                    r = fut.result()
                except Exception as exc:  # noqa: BLE001 - the process died (out of memory, killed)
                    r = ItemResult(item, "failed", f"The analysis process stopped unexpectedly "
                                                   f"({type(exc).__name__}: {exc}).")
                results[i] = r
                report(r)
        return f"local ({workers} processes, one video each)"
    from gaitscope.pipeline.steps import AnalysisOptions

    lifter = LazyLifter(checkpoint)  # once for the whole batch
    for i, item in todo:
        r = _analyze_one(db_url, item, _out_dir(out, item, i), AnalysisOptions().workers, checkpoint, lifter)
        results[i] = r
        report(r)
    return "local (one video at a time)"


# ----------------------------------------------------------------------------------------------- Ray engine


def _detect_task(path: str, max_duration_s: float, person: str | None = None) -> tuple[str, Any, Any, float]:
    """Ray CPU task: probe + decode + BlazePose one video (``person``: the manifest's pick, as
    ``gaitscope analyze --person``). Returns ("ok", info, keypoints, seconds) or ("error", message, None,
    seconds): errors travel as text, whatever exception classes the worker has."""
    t0 = time.perf_counter()
    try:
        from gaitscope.io.video import probe_video
        from gaitscope.pose2d.detect import detect_keypoints
        from gaitscope.pose2d.people import PersonChoice

        info = probe_video(path, max_duration_s=max_duration_s)
        picked = {"person": PersonChoice.parse(person)} if person else {}
        return "ok", info, detect_keypoints(info, workers=1, **picked), time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001
        return "error", _message(exc), None, time.perf_counter() - t0


class _LifterActor:
    """Ray actor: holds the DSTformer once; lifts and embeds groups of videos (batched windows on a GPU)."""

    def __init__(self, checkpoint: str | None, batch_size: int) -> None:
        from gaitscope.pipeline.lifter_choice import load_lifter

        self.error: str | None = None
        try:
            self.lifter = load_lifter(checkpoint)
            if self.lifter.device.type != "cpu":
                self.lifter.batch_size = batch_size
        except Exception as exc:  # noqa: BLE001 - reported per item, the batch goes on
            self.lifter, self.error = None, _message(exc)

    def device(self) -> str:
        return "none" if self.lifter is None else str(self.lifter.device)

    def lift_many(self, jobs: list[tuple[Any, float | None, bool]]) -> list[tuple[str, Any, Any, float]]:
        from gaitscope.pipeline.steps import lift_and_embed

        out = []
        for keypoints, height_m, flip_tta in jobs:
            t0 = time.perf_counter()
            if self.lifter is None:
                out.append(("error", self.error, None, 0.0))
                continue
            try:
                motion, embedding = lift_and_embed(self.lifter, keypoints, height_m=height_m, flip_tta=flip_tta)
                out.append(("ok", motion, embedding, time.perf_counter() - t0))
            except Exception as exc:  # noqa: BLE001
                out.append(("error", _message(exc), None, time.perf_counter() - t0))
        return out


def _connect_ray(address: str | None, workers: int | None):
    import ray

    if ray.is_initialized():  # a test or a notebook started it: use that one
        return ray
    if address in (None, "", "local"):
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return ray


def _store(database, item: BatchItem, info, keypoints, motion, embedding, out_dir: Path | None,
           inputs=None) -> tuple[int, int]:
    """The driver's half of a Ray item: gait analysis, then the pipeline's storage functions. ``inputs``: the
    item's :class:`~gaitscope.pipeline.analysis_inputs.AnalysisInputs` (they identify the stored analysis)."""
    from gaitscope.pipeline import storage
    from gaitscope.pipeline.steps import AnalysisResult, _no_progress, analyze_motion, first_frame_of, store_and_export

    rec_id = storage.register(database, info, patient_code=item.patient, visit_date=item.visit_date,
                              original_name=item.path.name)
    try:
        height_m = item.height_cm / 100.0 if item.height_cm else None
        report = analyze_motion(motion, height_m=height_m, first_frame=first_frame_of(keypoints),
                                age=getattr(inputs, "age_years", None), sex=getattr(inputs, "sex", None),
                                keypoints=keypoints)
        result = store_and_export(AnalysisResult(info, keypoints, motion, embedding, report), database, rec_id,
                                  out_dir, _no_progress, patient_code=item.patient, visit_date=item.visit_date,
                                  height_cm=item.height_cm, name=item.path.name, inputs=inputs)
    except OutputError:  # stored; only its report files are missing: the recording is not failed
        raise
    except Exception as exc:
        storage.mark_failed(database, rec_id, _message(exc))
        raise
    return rec_id, int(result.analysis_id)


def _run_ray(db_url: str, todo: list[tuple[int, BatchItem]], results: list, out: Path | None, address: str | None,
             workers: int | None, checkpoint: str | None, report: Callable[[ItemResult], None],
             max_duration_s: float = 600.0, flip_tta: bool = True, base_inputs=None) -> str:
    from dataclasses import replace

    from gaitscope.pipeline import storage

    # motion-capture and landmark rows have no frames to detect: the driver analyzes them, through the same
    # dispatcher as the local engine (the lifter, loaded here only if a landmark row needs it)
    driver_lifter = LazyLifter(checkpoint)
    for i, item in todo:
        if is_video_row(item.path):
            continue
        r = _analyze_one(db_url, item, _out_dir(out, item, i), 1, checkpoint, driver_lifter)
        results[i] = r
        report(r)
    todo = [(i, item) for i, item in todo if is_video_row(item.path)]
    if not todo:  # nothing for the cluster: no need to reach it
        return "ray (no video to detect: every file analyzed in the driver)"
    ray = _connect_ray(address, workers)
    database = storage.open_db(db_url)
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    cpus = int(ray.cluster_resources().get("CPU", 1.0))
    detect = ray.remote(num_cpus=1, max_retries=1)(_detect_task)
    actor_opts = {"num_gpus": 1, "num_cpus": 0} if gpus >= 1 else {"num_cpus": 0}
    lifter = ray.remote(**actor_opts)(_LifterActor).remote(checkpoint, 64)
    in_flight = max(1, int(workers or cpus))
    started: dict[int, float] = {}
    pending_detect: dict[Any, tuple[int, BatchItem]] = {}
    pending_lift: dict[Any, list[tuple[int, BatchItem, Any, Any, float]]] = {}
    queue = list(todo)

    def fail(i: int, item: BatchItem, message: str) -> None:
        r = ItemResult(item, "failed", message, time.perf_counter() - started[i])
        results[i] = r
        report(r)

    try:
        while queue or pending_detect or pending_lift:
            while queue and len(pending_detect) < in_flight:
                i, item = queue.pop(0)
                started[i] = time.perf_counter()
                pending_detect[detect.remote(str(item.path), max_duration_s, item.person)] = (i, item)
            ready, _ = ray.wait(list(pending_detect) + list(pending_lift), num_returns=1, timeout=1.0)
            if not ready:
                continue
            # everything detected by now goes to the actor as one group (GPU batching across videos)
            ready_detect = [r for r in ready if r in pending_detect]
            if pending_detect:
                more, _ = ray.wait(list(pending_detect), num_returns=len(pending_detect), timeout=0)
                ready_detect = list(dict.fromkeys(ready_detect + more))
            group = []
            for ref in ready_detect:
                i, item = pending_detect.pop(ref)
                try:
                    status, a, b, _secs = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the task's process died (out of memory, node lost)
                    fail(i, item, f"The 2D detection task was lost ({type(exc).__name__}).")
                    continue
                if status != "ok":
                    fail(i, item, a)
                    continue
                group.append((i, item, a, b))
            if group:
                ref = lifter.lift_many.remote([(kp, it.height_cm / 100.0 if it.height_cm else None, flip_tta)
                                               for _, it, _, kp in group])
                pending_lift[ref] = [(i, it, info, kp, 0.0) for i, it, info, kp in group]
            for ref in [r for r in ready if r in pending_lift]:
                members = pending_lift.pop(ref)
                try:
                    lifted = ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    for i, item, *_ in members:
                        fail(i, item, f"The 3D lifting actor failed ({type(exc).__name__}: {exc}).")
                    continue
                for (i, item, info, kp, _), (status, motion, embedding, _secs) in zip(members, lifted):
                    if status != "ok":
                        fail(i, item, motion)
                        continue
                    try:
                        inputs = (replace(item_inputs(base_inputs, item, database), flip_tta=flip_tta)
                                  if base_inputs is not None else None)
                        rec_id, analysis_id = _store(database, item, info, kp, motion, embedding,
                                                     _out_dir(out, item, i), inputs)
                    except Exception as exc:
                        if not isinstance(exc, GaitscopeError):
                            log.exception("batch item %s", item.path)
                        fail(i, item, _message(exc))
                        continue
                    r = ItemResult(item, "done", "", time.perf_counter() - started[i], rec_id, analysis_id,
                                   info.duration_s)
                    results[i] = r
                    report(r)
        device = ray.get(lifter.device.remote())
    finally:
        ray.kill(lifter)
        database.dispose()
    return f"ray ({cpus} CPU, {gpus:g} GPU, lifter on {device})"


# ------------------------------------------------------------------------------------------------- driver


def run_batch(source: str | Path | Iterable[BatchItem], *, db_url: str | None = None, out: str | Path | None = None,
              ray_address: str | None = None, workers: int | None = None, checkpoint: str | None = None,
              report: Callable[[ItemResult], None] | None = None) -> BatchSummary:
    """Analyze every item of ``source`` (folder, manifest, or items) into ``db_url``; never raises for one item.

    ``ray_address``: None = local; ``"local"`` = start a local Ray instance; else the cluster address (a Ray
    instance already initialised in this process is used as it is). ``workers``: videos analyzed at once, one per
    process (local; default 1, see :func:`_run_local`) or detection tasks in flight (Ray; default the cluster's
    CPUs).
    """
    from gaitscope.db import default_url
    from gaitscope.pipeline import storage

    db_url = db_url or default_url()
    items = list(source) if not isinstance(source, (str, Path)) else read_items(source)
    out_path = Path(out) if out is not None else None
    report = report or (lambda r: None)
    t0 = time.perf_counter()
    database = storage.open_db(db_url)
    try:
        base_inputs = current_inputs(checkpoint)
        results, todo = _plan(database, items, base_inputs)
    finally:
        database.dispose()
    for r in results:
        if r is not None:
            report(r)
    if ray_address is None:
        engine = _run_local(db_url, todo, results, out_path, workers or 1, checkpoint, report)
    else:
        engine = _run_ray(db_url, todo, results, out_path, ray_address, workers, checkpoint, report,
                          base_inputs=base_inputs)
    summary = BatchSummary([r for r in results if r is not None], time.perf_counter() - t0, engine)
    if out_path is not None:
        summary.write_csv(out_path / "batch_summary.csv")
    return summary
