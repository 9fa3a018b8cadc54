"""The README's "Fork it into a project" steps, run verbatim in a fresh copy of the repository.

Real network and real installs: uv resolves the renamed environment with its added package against PyPI,
`nox -s verify` builds it from the new lock and proves it, and the project's own code runs in it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
from conftest import ROOT

from tools.envs import envspec


def _readme_block(marker: str, language: str) -> str:
    """The fenced block right after `<!-- marker ... -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {marker}\b.*?-->\s*```{language}\n(.*?)```", text, re.S)
    assert found, f"README.md has no ```{language} block after <!-- {marker} -->"
    return found.group(1)


@pytest.mark.network
def test_fork_steps_give_a_verified_environment_with_the_added_package(repo_copy, tmp_path):
    # `nox` on PATH as the README assumes: this venv's nox, whose own needs the dev layer already holds.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "nox"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nox --script-mode none --no-color "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    (repo_copy / "myproject").mkdir()
    (repo_copy / "myproject" / "__init__.py").write_text("")
    (repo_copy / "myproject" / "train.py").write_text(_readme_block("starter-code", "python"))

    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _readme_block("starter-steps", "bash")],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        timeout=1800,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]

    envs = envspec.environments(repo_copy)
    assert sorted(envs) == sorted({*envspec.environments(), "vision"} - {"torch"})
    vision = envs["vision"]
    assert vision.display == "Vision (PyTorch 2.8)" and vision.framework == "torch"
    requirements = repo_copy / "requirements"
    assert not [
        p for p in ("torch.txt", "torch-dev.txt", "torch-notebook.txt") if (requirements / p).exists()
    ]
    for other in (
        "torch-current.txt",
        "torch-current-dev.txt",
    ):  # another environment's locks stay as they were
        assert (requirements / other).read_bytes() == (ROOT / "requirements" / other).read_bytes()
    assert envspec.read_conda_file(vision)["name"] == "vision"
    assert envspec.lock_problems(vision) == []  # tqdm from vision.in is pinned and hashed on both targets
    locked = {e.name: e for e in envspec.read_lock(vision.lock)}
    assert locked["tqdm"].hashes and locked["torch"].version == "2.8.0"
    for layer in envspec.layers(repo_copy):
        assert vision.layer_lock(layer).exists()

    assert "PASS" in out
    chosen = re.search(r"^device: (\w+) ", out, re.M)
    assert chosen, out[-4000:]
    trained = re.search(r"^device (\S+): final mse (\S+)$", out, re.M)
    assert trained, out[-4000:]
    assert trained.group(1).split(":")[0] == chosen.group(1)  # the code got the device verify proved
    assert float(trained.group(2)) < 1e-2
