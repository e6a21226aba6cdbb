"""gaitscope.analysis: from a 3D motion (:class:`~gaitscope.records.Motion3D`) to a :class:`~gaitscope.records.GaitReport`.

Entry point: :func:`gaitscope.analysis.report.analyze_gait` (also importable as ``gaitscope.analysis.analyze_gait``).
Imports only numpy, scipy, pandas and ``gaitscope.records/skeleton/errors``.
"""

from __future__ import annotations

__all__ = ["analyze_gait", "ANALYSIS_VERSION"]


def __getattr__(name: str):  # lazy, so importing a sibling module does not load the whole analysis
    if name in __all__:
        from gaitscope.analysis import report

        return getattr(report, name)
    raise AttributeError(f"module 'gaitscope.analysis' has no attribute {name!r}")
