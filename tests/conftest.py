from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def no_gpu_reason() -> str | None:
    """Why a `gpu` test cannot run in this process, or None when torch sees MPS or CUDA; never imports a
    framework that is absent. The gpu tests are torch's: elsewhere the reason says so, not "no device"."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed in this environment: the gpu tests run in the torch environments"
    import torch

    if torch.backends.mps.is_available() or torch.cuda.is_available():
        return None
    return "no CUDA or MPS device visible to torch in this process"


def pytest_collection_modifyitems(config, items):
    _skip_gpu_tests_without_gpu(items)


def _skip_gpu_tests_without_gpu(items):
    if not any("gpu" in item.keywords for item in items):
        return
    reason = no_gpu_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def env_under_test() -> str | None:
    """Which suite `nox -s tests` runs: an environment's name for tests/env, else unit or e2e (None when
    pytest is run by hand)."""
    return os.environ.get("GPUENV_UNDER_TEST")


# A copy of the repository to run real nox sessions in, and the runner (used by the Jupyter and starter
# tests; the copy leaves out venvs, caches and results so each test builds what it checks).
COPY_IGNORE = shutil.ignore_patterns(
    ".nox", ".git", ".cache", "__pycache__", ".pytest_cache", ".ruff_cache", "results"
)


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    dst = tmp_path / "repo"
    shutil.copytree(ROOT, dst, ignore=COPY_IGNORE)
    return dst


def without_nox_timing(line: str) -> str:
    """nox ends a session's last line with "(took N seconds)." once it has run a while (under load, even a
    one-line refusal): the message is what comes before it."""
    return re.sub(r" \(took [^)]*\)\.$", ".", line)


def run_nox(repo: Path, *args: str, env: dict | None = None, timeout: int = 900):
    """The real nox on `repo`; --script-mode none because this test venv holds nox's needs (dev layer)."""
    return subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
