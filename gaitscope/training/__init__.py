"""gaitscope.training: training and evaluating the models. The lifter's training recipe and data
(synthetic walks, held-out mocap, real failure cases, the BlazePose noise model), its evaluation on rendered and real
videos, the validation against motion capture, and the Parkinson's-disease heads (features, real-patient data,
nested evaluation, the replication of Deng et al. 2024).

Evaluation runs the product's own pipeline (:mod:`gaitscope.pipeline`) on rendered videos, so training sits above
pipeline. May import: pipeline, io, pose2d, reports, analysis, models, db, synthetic and the shared modules. Never
cli or ui.
"""
