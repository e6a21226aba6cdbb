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
