"""Settings for the whole suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run torch on one thread in tests: on the shared 2-core CI machine, with BlazePose or a database server
    beside it, the small test models were about 10x faster on one thread than on two."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency; kept for clarity
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------------------
# What the product really produces, computed once per session (database tests store it on both engines)
# ---------------------------------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "gaitscope" / "data" / "sample" / "walk_side.mp4"
HORST_C3D = REPO / ".." / "shared" / "data" / "mocap" / "horst2019_S01" / "c3d" / "S01_0011_Gait.c3d"


@pytest.fixture(scope="session")
def real_sample_result():
    """A real :class:`AnalysisResult` of the bundled sample video: real decoding, BlazePose, the bundled lifter
    and the analysis against the bundled reference (no database), with a 170 cm height. ~15 s, once a session."""
    from gaitscope.pipeline.steps import AnalysisOptions, run_stages

    return run_stages(SAMPLE_VIDEO, AnalysisOptions(height_cm=170.0, workers=1))


@pytest.fixture(scope="session")
def real_c3d_result():
    """A real :class:`AnalysisResult` of a marker-based C3D trial (Horst 2019, subject 1), no database."""
    if not HORST_C3D.exists():
        pytest.skip(f"shared motion-capture data not found at {HORST_C3D}")
    from gaitscope.pipeline.mocap import analyze_mocap

    return analyze_mocap(HORST_C3D)
