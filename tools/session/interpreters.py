"""Finding a CPython of a given X.Y on this machine: on PATH, pyenv's, or uv's.

nox looks interpreters up by `pythonX.Y` on PATH; pyenv installs them without selecting them, and uv keeps
its own. This finds a working one and returns its real path (a venv's python resolved to the interpreter it
was made from, which uv and virtualenv accept as a base).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PROBE = "import os, sys; print('%d.%d' % sys.version_info[:2], os.path.realpath(sys.executable))"


def candidates(version: str) -> list[str]:
    found = [shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True)
    ]
    if shutil.which("uv"):
        uv = subprocess.run(["uv", "python", "find", "--no-project", version], capture_output=True, text=True)
        found.append(uv.stdout.strip() or None)
    return [c for c in found if c]


def find_python(version: str) -> str | None:
    """The real path of a working python`version`, or None."""
    for exe in candidates(version):
        # pyenv puts a pythonX.Y shim on PATH that fails unless X.Y is selected: run it to be sure.
        probe = subprocess.run([exe, "-c", PROBE], capture_output=True, text=True)
        found, _, real = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and found == version:
            return real
    return None


def missing_message(version: str) -> str:
    """One line: which Python is missing and the ways to get it."""
    return (
        f"expected Python {version} (python{version} on PATH, a pyenv {version}.x, or uv's), got none: "
        f"install it with `pyenv install {version}`, `uv python install {version}` or "
        f"`conda create -n py{version.replace('.', '')} python={version}` and put its bin folder on PATH"
    )


def doctor_args(pythons: dict[str, list[str]]) -> list[str]:
    """doctor(env='host')'s view of the environments' Pythons: for each X.Y the interpreter found (or
    none) and the environments that need it."""
    args: list[str] = []
    for python, names in pythons.items():
        args += ["--env-python", f"{python}={find_python(python) or ''}"]
        args += ["--env-python-for", f"{python}={','.join(names)}"]
    return args
