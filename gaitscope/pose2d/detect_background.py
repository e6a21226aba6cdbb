"""2D detection started in a background thread, so the setup after it overlaps with BlazePose.

Why: on a cold start, opening the database, loading the lifter (importing torch) and the re-analysis check took
about 5 s on one core before the first frame was detected, while the other core idled; the 2D stage is the
pipeline's floor, so it should start first. If the check then finds the video already analyzed, the detection
is cancelled (its processes stop within a fraction of a second) and nothing it did is used.
"""

from __future__ import annotations

import threading
from typing import Callable

from gaitscope.records import Keypoints2D, VideoInfo


class BackgroundDetection:
    """``detect_keypoints(info)`` running in a daemon thread; :meth:`result` waits for it, :meth:`cancel` stops it.

    ``progress(done, total)`` is forwarded from the detection until :meth:`cancel` is called (so a cancelled run
    never reports progress after the caller has moved on).
    """

    def __init__(self, info: VideoInfo, *, workers: int, progress: Callable[[int, int], None] | None = None,
                 person=None) -> None:
        self._cancel = threading.Event()
        self._progress = progress
        self._result: Keypoints2D | None = None
        self._error: BaseException | None = None
        self._person = person  # a gaitscope.pose2d.people.PersonChoice, or None
        self._thread = threading.Thread(target=self._run, args=(info, workers), name="gaitscope-2d", daemon=True)
        self._thread.start()

    def _report(self, done: int, total: int) -> None:
        if self._progress is not None and not self._cancel.is_set():
            self._progress(done, total)

    def _run(self, info: VideoInfo, workers: int) -> None:
        from gaitscope.pose2d.detect import detect_keypoints

        try:
            self._result = detect_keypoints(info, workers=workers, progress=self._report, cancel=self._cancel,
                                            person=self._person)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> Keypoints2D:
        """The keypoints, once detection ends; re-raises its error (NoPersonError, VideoError, ...) here."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self, timeout_s: float = 10.0) -> None:
        """Stop the detection (no-op when it has finished) and wait for its thread."""
        self._cancel.set()
        self._thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
