"""gaitscope.reports: documents from records. The clinical PDF, its figures, the agreement PDF and the CSV
writers: the analysis returns records (:class:`~gaitscope.records.GaitReport`, agreement results) and this room
turns them into files.

May import: analysis, models and the shared modules (reportlab, matplotlib). Never io, pose2d, pipeline,
training, cli, db or ui.
"""
