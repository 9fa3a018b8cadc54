from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _accelerator() -> str | None:
    """The accelerator this test process can use, or None; never imports a framework that is absent."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.backends.mps.is_available():
            return "mps"
        if torch.cuda.is_available():
            return "cuda"
    return None


def pytest_collection_modifyitems(config, items):
    if _accelerator() is not None:
        return
    skip = pytest.mark.skip(reason="no CUDA or MPS device visible to torch in this process")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def env_under_test() -> str | None:
    """Which environment `nox -s tests` runs us in (None when pytest is run by hand)."""
    return os.environ.get("GPUENV_UNDER_TEST")
