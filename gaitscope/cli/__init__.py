"""gaitscope.cli: the ``gaitscope`` command. :mod:`~gaitscope.cli.main` builds the parser (``analyze``, ``demo``,
``db``) and adds every command group from its own module here (accounts, action, batch, classify, lifter, mesh,
normative, validate, worker); each module keeps its heavy imports inside its handlers.

May import every room below it (training, pipeline, io, pose2d, reports, analysis, models, db, synthetic, shared).
Nothing imports the CLI.
"""
