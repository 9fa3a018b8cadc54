"""The README's quick start with one tool and nothing else, on a fresh clone: uv alone, then pipx alone.

Each runs with a PATH that holds only that tool, /usr/bin and /bin (no nox, no pyenv, no host venv), in a
`git clone` of this repository (its committed HEAD), on the mlx environment: the quickest to build. uv
cannot download Pythons on our CI machine, so the Python 3.12 that environment needs is one uv and nox find
on PATH, a folder holding only `python3.12`; where uv downloads it (and Python 3.9, for the seeds) is the
GitHub job `start-with-uv` (.github/workflows/ci.yml).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from tools.envs import envspec
from tools.session import interpreters

ENV = "mlx" if "mlx" in envspec.environments() else next(iter(envspec.environments()))  # mlx: quickest
VERIFY = f"verify(env='{ENV}')"
SYSTEM_PATH = ["/usr/bin", "/bin"]
# Variables that would let the clone see this checkout or a venv instead of what the tool itself brings.
LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "NOX_SCRIPT_MODE", "GPUENV_UNDER_TEST")

pytestmark = pytest.mark.network


def fresh_clone(tmp_path: Path) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout: nothing to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    return clone


def folder_of(tmp_path: Path, name: str, **programs: str) -> Path:
    """A folder holding only these programs (symlinks), to put on PATH."""
    folder = tmp_path / name
    folder.mkdir()
    for program, target in programs.items():
        (folder / program).symlink_to(target)
    return folder


def environment_python(tmp_path: Path) -> Path:
    version = envspec.environments()[ENV].python
    found = interpreters.find_python(version)
    if not found:
        pytest.fail(interpreters.missing_message(version))
    return folder_of(tmp_path, "python", **{f"python{version}": found})


def bare_env(tmp_path: Path, *folders: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKS}
    env["PATH"] = os.pathsep.join([*map(str, folders), *SYSTEM_PATH])
    env["PYENV_ROOT"] = str(tmp_path / "no-pyenv")  # interpreters.py looks there even off PATH
    env.update(extra)
    return env


def run(cmd: list[str], clone: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, timeout=900)


def assert_verified(done: subprocess.CompletedProcess[str], clone: Path) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    report = json.loads((clone / "results" / f"verify-{ENV}.json").read_text())
    assert report["passed"] and report["status"] == "passed", report["failures"]
    assert report["framework"] == envspec.environments()[ENV].framework
    lock = (clone / "requirements" / f"{ENV}.txt").read_bytes()
    assert report["locks"]["sha256"] == hashlib.sha256(lock).hexdigest()  # built from the clone's own lock
    assert "PASS" in out


def test_uv_alone_runs_the_quick_start(tmp_path):
    """`uvx nox -s verify`, then `./noxfile.py -s verify` (its shebang: `uv run --script`): only uv."""
    uv, uvx = shutil.which("uv"), shutil.which("uvx")
    if not (uv and uvx):
        pytest.fail(f"expected uv and uvx on PATH (requirements/tools.txt), got uv={uv}, uvx={uvx}")
    clone = fresh_clone(tmp_path)
    env = bare_env(
        tmp_path,
        folder_of(tmp_path, "uv", uv=uv, uvx=uvx),
        environment_python(tmp_path),
        UV_PYTHON_DOWNLOADS="never",  # it could not here anyway: say so rather than wait on GitHub
    )
    assert shutil.which("nox", path=env["PATH"]) is None  # nox comes from uvx, the noxfile's needs from nox

    done = run(["uvx", "nox", "-s", VERIFY], clone, env)
    assert_verified(done, clone)
    assert "uv pip sync" in done.stdout + done.stderr  # the environment was built by uv

    (clone / "results" / f"verify-{ENV}.json").unlink()
    assert os.access(clone / "noxfile.py", os.X_OK)
    done = run(["./noxfile.py", "-s", VERIFY], clone, env)
    assert_verified(done, clone)


def test_pipx_alone_runs_the_quick_start(tmp_path):
    """`pipx run nox -s verify` with pipx and no uv: nox builds its own needs and the environment with pip."""
    clone = fresh_clone(tmp_path)
    venv = tmp_path / "pipx-venv"  # a throwaway pipx, as a user would have it
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "pipx"], check=True, timeout=600
    )
    home = tmp_path / "pipx-home"
    env = bare_env(
        tmp_path,
        folder_of(tmp_path, "pipx", pipx=str(venv / "bin" / "pipx")),
        environment_python(tmp_path),
        PIPX_HOME=str(home),
        PIPX_BIN_DIR=str(home / "bin"),
        PIPX_MAN_DIR=str(home / "man"),
    )
    for program in ("uv", "nox"):
        assert shutil.which(program, path=env["PATH"]) is None, program

    done = run(["pipx", "run", "nox", "-s", VERIFY], clone, env)
    assert_verified(done, clone)
    assert "-m pip install --require-hashes" in done.stdout + done.stderr  # no uv: pip installed the lock
