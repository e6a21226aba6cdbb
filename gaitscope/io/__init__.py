"""gaitscope.io: reading inputs into records. Videos (probe, frame reader, frame times from the container,
browser-playable copies), uploads, content hashes, 2D keypoint files (OpenPose, COCO, MediaPipe Pose landmarks and
the BlazePose-33 -> H36M-17 mapping they share with the detector), motion-capture files (:mod:`gaitscope.io.mocap`:
C3D, TRC, MOT/STO, BVH) and synthetic mocap trials.

May import: analysis, models, synthetic and the shared modules (records, settings, skeleton, errors). Never
pose2d, pipeline, training, cli, reports, db or ui.
"""
