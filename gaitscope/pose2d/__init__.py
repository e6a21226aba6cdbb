"""gaitscope.pose2d: where 2D happens. BlazePose (MediaPipe Tasks and the LiteRT engine), run in worker
processes or in the background (:mod:`~gaitscope.pose2d.detect`, :mod:`~gaitscope.pose2d.detect_background`),
the person gate and the choice among several people, and keeping native libraries' log lines off the terminal.
The result is a :class:`~gaitscope.records.Keypoints2D` in H36M-17 order.

May import: io (video frames, frame times, the BlazePose -> H36M mapping), analysis, models, synthetic and the
shared modules. Never pipeline, training, cli, reports, db or ui.
"""
