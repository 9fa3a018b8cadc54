"""Two sessions building one venv wait for each other: a file lock per venv (fcntl, the real one), taken
before the venv is removed or installed into, and a line saying who waits for what."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tools.session import build, venvs

HOLD = """
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_second_build_of_one_venv_waits_and_says_so(tmp_path):
    venv = venvs.Venv.for_locks(tmp_path, "env-torch", [tmp_path / "requirements" / "torch.txt"])
    lock = build.lock_file(venv)
    lock.parent.mkdir(parents=True, exist_ok=True)
    said: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), "1.5"], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with build.building(venv, said.append):
            waited = time.monotonic() - start
    assert waited > 0.5, waited  # it waited for the other build to let go
    assert said == ["waiting for another nox session building .nox/env-torch (it holds .nox/env-torch.lock)"]


def test_an_unheld_venv_is_built_at_once_without_a_word(tmp_path):
    venv = venvs.Venv.for_locks(tmp_path, "host", [])
    said: list[str] = []
    with build.building(venv, said.append):
        assert Path(build.lock_file(venv)).exists()
    assert said == []
