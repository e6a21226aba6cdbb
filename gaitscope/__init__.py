"""gaitscope: clinical gait and movement analysis from video.

Video -> 2D keypoints (BlazePose) -> 3D motion (DSTformer) -> gait analysis and motion embeddings ->
SQL database -> dashboard, reports and cohort research.
"""

__version__ = "0.1.0"
