"""What `nox -l` shows a newcomer: a bare `nox` runs verify only, and every parametrized session names its
environment the same way (`tests(env='unit')` like `verify(env='torch')`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.envs import envspec

ROOT = Path(__file__).resolve().parents[2]


def listed() -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", "-l"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [ln for ln in done.stdout.splitlines() if ln[:2] in ("* ", "- ")]


def test_a_bare_nox_runs_verify_and_only_verify():
    selected = [ln.split(" -> ")[0][2:] for ln in listed() if ln.startswith("* ")]
    assert selected == [f"verify(env='{name}')" for name in envspec.environments()]


def test_every_suite_is_named_like_the_environments():
    names = [ln.split(" -> ")[0][2:] for ln in listed()]
    suites = [name for name in names if name.startswith("tests(")]
    assert suites == [f"tests(env='{s}')" for s in ["unit", *envspec.environments(), "e2e"]]
