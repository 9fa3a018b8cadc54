"""Jupyter: the example notebook runs headless in this environment; `nox -s kernel` registers and removes.

Both run for real: nbclient starts an IPython kernel of this very venv, and the kernel test builds the
kernel venv from the locks in a copy of the repo, with JUPYTER_DATA_DIR pointing at a temporary folder so
the user's own kernels are never touched.

`nox -s kernel` does the same for every environment, and each environment's notebook layer is installed
with its lock and runs a kernel in its own suite (`nox -s "tests(env='NAME')"`: tests/env/test_jupyter.py
executes the quickstart notebook there). So the session's life cycle runs here for one environment, the
one with the smallest lock (a few minutes of installs less per environment on our 2 cores);
GPUENV_KERNEL_ALL=1 runs it for every environment.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import run_nox

from tools.envs import envspec

ENVS = envspec.environments()
KERNEL_ENVS = (
    list(ENVS)
    if os.environ.get("GPUENV_KERNEL_ALL")
    else [min(ENVS, key=lambda n: len(envspec.read_lock(ENVS[n].lock)))]
)


@pytest.fixture
def jupyter_data(tmp_path) -> dict:
    return {"JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data")}


@pytest.mark.parametrize("env", KERNEL_ENVS)
def test_kernel_registers_idempotently_and_unregisters(repo_copy, jupyter_data, env):
    spec = envspec.environments(repo_copy)[env]
    session = f"kernel(env='{env}')"
    kernel_dir = repo_copy.parent / "jupyter-data" / "kernels" / env
    venv = repo_copy / ".nox" / f"env-{env}+notebook"  # the venv kernels run in

    for _ in range(2):  # registering twice replaces the spec: still one kernel, same content
        done = run_nox(repo_copy, "-s", session, env=jupyter_data)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        kernel = json.loads((kernel_dir / "kernel.json").read_text())
        assert kernel["display_name"] == spec.display
        assert kernel["argv"][0] == str(venv / "bin" / "python")
        assert kernel["env"]["PYTHONPATH"] == str(repo_copy)
        assert sorted(p.name for p in kernel_dir.parent.iterdir()) == [env]
    # the smoke test ran inside the kernel: it printed the kernel's Python and the framework version
    assert str(venv / "bin" / "python") in done.stdout + done.stderr

    done = run_nox(repo_copy, "-s", session, "--", "--remove", env=jupyter_data)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not kernel_dir.exists() and not venv.exists()

    done = run_nox(repo_copy, "-s", session, "--", "--remove", env=jupyter_data)
    assert done.returncode == 0
    assert f"no kernel named '{env}' is registered: nothing to remove" in done.stdout + done.stderr


def test_kernel_bad_flag_is_one_line(repo_copy, jupyter_data):
    done = run_nox(repo_copy, "-s", "kernel(env='tf')", "--", "--rm", env=jupyter_data)
    assert done.returncode == 1
    assert (
        "nox > Session kernel(env='tf') aborted: expected no option or --remove, got '--rm'"
        in done.stdout + done.stderr
    )
    assert not (repo_copy.parent / "jupyter-data" / "kernels").exists()
