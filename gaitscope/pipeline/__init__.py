"""gaitscope.pipeline: running analyses. The stage order for a video (:mod:`~gaitscope.pipeline.steps`), the
motion-capture and landmark-file pipelines that reuse its steps, the dispatch by file type
(:mod:`~gaitscope.pipeline.dispatch`), which lifter, reference set and inputs an analysis uses, storage in the
database, the registered classification head and its prediction hook, output files, batch runs, the job worker and
activities.

May import: io, pose2d, reports, analysis, models, db, synthetic and the shared modules. Never training, cli or ui.
"""
