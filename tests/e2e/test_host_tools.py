"""The host tools' lock installed the way .ci/run and the GitHub jobs install it: into a fresh venv, by
tools/session/lockinstall.py under that venv's own Python (real pip, real index). A venv of the wrong Python
is one line and exit 1, not a venv that looks built; `tools.envs.installed` says the same of any
environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.envs import envspec, installed
from tools.session import interpreters

ROOT = Path(__file__).resolve().parents[2]
TOOLS = envspec.standalone()["tools"]
OTHER = "3.12" if TOOLS.python != "3.12" else "3.11"


def fresh_venv(tmp_path: Path, version: str) -> Path:
    base = interpreters.find_python(version)
    if base is None:
        pytest.fail(interpreters.missing_message(version))
    subprocess.run([base, "-m", "venv", str(tmp_path / version)], check=True)
    return tmp_path / version / "bin" / "python"


def lockinstall(python: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "tools/session/lockinstall.py", "requirements/tools.txt"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip


def test_a_venv_of_another_python_is_one_line_naming_the_lock_and_both_pythons(tmp_path):
    python = fresh_venv(tmp_path, OTHER)
    done = lockinstall(python)
    assert done.returncode == 1
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert done.stderr.splitlines()[-1] == (
        f"error: expected requirements/tools.txt to install its pins into Python {version} ({python}), got "
        f"nothing: its pins are for python_full_version < '3.10'; make this venv with that Python"
    )
    report = installed.inspect(python)  # and the exactness check refuses the empty match too
    assert envspec.installed_problems(ROOT / "requirements" / "tools.txt", report) == [
        f"tools.txt installs nothing on Python {version} on linux x86_64: its pins are for other Pythons or "
        "platforms"
    ]


@pytest.mark.network
def test_the_tools_python_installs_every_pin_exactly(tmp_path):
    python = fresh_venv(tmp_path, TOOLS.python)
    done = lockinstall(python)
    assert done.returncode == 0, done.stderr
    report = installed.inspect(python)
    assert envspec.installed_problems(ROOT / "requirements" / "tools.txt", report) == []
    pins = [e for e in envspec.read_lock(TOOLS.lock) if e.applies_in(report["environment"])]
    assert done.stdout.strip() == f"requirements/tools.txt: {len(pins)} packages installed into {python}"


def test_bad_arguments_are_one_line():
    done = subprocess.run([sys.executable, "tools/session/lockinstall.py", "no/such.txt"], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == "error: expected one lock file (e.g. requirements/tools.txt), got no/such.txt\n"
