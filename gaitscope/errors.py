"""One exception hierarchy for the whole platform.

Every error a user can meet derives from :class:`GaitscopeError`. Its message says what happened in words a
clinician understands and ``hint`` says what to do about it; low-level causes (OpenCV, SQL, torch) are chained
with ``raise ... from exc`` so developers still see them, but the UI and the CLI show only ``str(error)``.
"""

from __future__ import annotations


class GaitscopeError(Exception):
    """Base of every error the platform raises on purpose."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")


class VideoError(GaitscopeError):
    """The file cannot be used as a video: not a video, empty, truncated, absurd fps, too long."""


class NoPersonError(GaitscopeError):
    """No person (or not enough frames with a person) was found to analyze."""


class MultiplePeopleError(GaitscopeError):
    """Several people are visible and the platform could not decide which one to follow."""


class KeypointFormatError(GaitscopeError):
    """An imported 2D keypoint file (COCO / AlphaPose / OpenPose JSON) is malformed."""


class MocapError(GaitscopeError):
    """A motion-capture file (C3D, TRC, MOT, BVH) is malformed or lacks required markers."""


class CheckpointError(GaitscopeError):
    """A model checkpoint is missing, unreadable, or its keys/shapes do not match the model."""


class AnalysisError(GaitscopeError):
    """The motion cannot be analyzed, e.g. too short for one stride or no walking found."""


class DatabaseError(GaitscopeError):
    """A database operation failed (constraint, connection)."""


class SchemaOutdatedError(DatabaseError):
    """The database schema is behind the code; run ``gaitscope db upgrade``."""


class DuplicateError(DatabaseError):
    """A record with the same unique key (e.g. patient code) already exists."""


class AccessDeniedError(GaitscopeError):
    """The signed-in user may not see or change this record."""


class InvalidInputError(GaitscopeError):
    """A user-supplied value (height, birth year, file name...) is out of range or malformed."""


class OutputError(GaitscopeError):
    """Files could not be written: the disk is full, the folder is read-only or is a file.

    For report files (CSV, PDF) it is raised after the analysis is complete (and stored, with a database): the
    stored analysis stays as it is and the recording is not marked failed; running the same command again writes
    the reports from it. For an upload, nothing of the partial file is kept."""
