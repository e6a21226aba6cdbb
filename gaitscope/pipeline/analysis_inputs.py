"""What identifies a stored analysis: every input that changes one of its numbers.

Analyzing a file again must give the numbers of *this* run. Reusing a stored analysis is right only when every
input that changes a number is the same, so all of them take part in the key the analysis is stored under
(``Analysis.inputs_key``, the SHA-256 of :meth:`AnalysisInputs.as_dict`, migration 0006):

* the 3D source: the lifter's name and version (``lifter:small-d64x3@...``), or the motion-capture importer and
  marker set (``mocap:plug-in-gait@c3d``), and the content hash of the lifter's checkpoint file (two user
  checkpoints may both say ``unversioned``);
* the analysis version (it names a non-bundled reference set) and the reference set's identity (name + content
  digest);
* the subject height (it rescales lengths and picks the speed class of the reference curves);
* the subject's age and sex (they pick the spatiotemporal normal ranges, so they change flags); left out of the
  key when not given, so analyses stored before they existed keep their key;
* flip test-time augmentation (it changes the lifted 3D);
* for video, the 2D detector: its engine and versions (``Keypoints2D.source``: the MediaPipe graph and the LiteRT
  port place landmarks differently by a few pixels);
* for video, the person picked when several walk (``#2`` or ``x,y``, :class:`~gaitscope.pose2d.people.PersonChoice`):
  another person is another analysis of the same file; left out of the key when the detector chose, so analyses
  stored before the picker existed keep their key.

What does not change a number is left out: the file name, the patient code (it decides where the recording is
filed, not what is computed), the visit date, the number of 2D processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AnalysisInputs:
    """The inputs of one analysis that change its numbers (see the module docstring)."""

    kind: str  # "video" or "mocap"
    model: str  # the Motion3D source: "lifter:<name>@<version>" or "mocap:<marker set>@<format>"
    checkpoint_sha256: str  # content hash of the lifter's checkpoint file; "" for motion capture or unknown
    analysis_version: str
    reference: str  # ReferenceSet.identity: name#digest
    height_cm: float | None
    flip_tta: bool | None  # None for motion capture (no lifting)
    detector: str = ""  # the 2D stage's Keypoints2D.source; "" for motion capture
    age_years: float | None = None  # the subject's age for the normal ranges (None: adults 18-69)
    sex: str | None = None  # "M" / "F" for the normal ranges (None: both sexes)
    person: str | None = None  # the person picked (PersonChoice.key: "#2", "410,180"); None: the detector's choice

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["height_cm"] = None if self.height_cm is None else round(float(self.height_cm), 3)
        # Absent when not given: the key of an analysis stored before age/sex took part stays the same (it was
        # computed without them), while any given age or sex makes a different analysis.
        for name in ("age_years", "sex", "person"):
            if d[name] is None:
                del d[name]
        if "age_years" in d:
            d["age_years"] = round(float(self.age_years), 1)
        return d

    @property
    def key(self) -> str:
        from gaitscope.db.analysis_records import inputs_key

        return inputs_key(self.as_dict())


@lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    from gaitscope.io.file_hash import file_sha256

    return file_sha256(path)


def checkpoint_digest(checkpoint: str | Path | None) -> str:
    """SHA-256 of the checkpoint file the lifter is loaded from (the bundled one when ``checkpoint`` is None);
    cached per path, size and modification time so a batch hashes it once."""
    from gaitscope.pipeline.lifter_choice import BUNDLED_LIFTER

    path = Path(checkpoint) if checkpoint is not None else BUNDLED_LIFTER
    try:
        st = path.stat()
    except OSError:
        return ""
    return _file_digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


def for_video(*, model_source: str, checkpoint: str | Path | None, reference, height_cm: float | None,
              flip_tta: bool, age_years: float | None = None, sex: str | None = None,
              person: str | None = None) -> AnalysisInputs:
    """Inputs of a video analysis by the lifter whose Motion3D source is ``model_source``; ``person``: the
    :attr:`~gaitscope.pose2d.people.PersonChoice.key` of the person picked, None when the detector chose."""
    from gaitscope.pipeline import normative_choice
    from gaitscope.pose2d.detect import detector_source, resolve_engine

    return AnalysisInputs(kind="video", model=model_source, checkpoint_sha256=checkpoint_digest(checkpoint),
                          analysis_version=normative_choice.analysis_version(reference),
                          reference=str(reference.identity), height_cm=height_cm, flip_tta=bool(flip_tta),
                          detector=detector_source(resolve_engine(None)), age_years=age_years, sex=sex,
                          person=person or None)


def for_mocap(*, model_source: str, reference, height_cm: float | None, age_years: float | None = None,
              sex: str | None = None) -> AnalysisInputs:
    """Inputs of a motion-capture analysis (``model_source``: ``mocap:<marker set>@<format>``)."""
    from gaitscope.pipeline import normative_choice

    return AnalysisInputs(kind="mocap", model=model_source, checkpoint_sha256="",
                          analysis_version=normative_choice.analysis_version(reference),
                          reference=str(reference.identity), height_cm=height_cm, flip_tta=None,
                          age_years=age_years, sex=sex)


def lifter_source(lifter) -> str:
    """The Motion3D source a lifter writes (``lifter:<name>@<version>``), as the analysis stores it."""
    source = getattr(lifter, "source", None)
    if source is None:
        source = f"{getattr(lifter, 'name', '')}@{getattr(lifter, 'version', '')}"
    return str(source)
