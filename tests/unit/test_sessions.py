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


def test_a_gpu_test_skipped_where_torch_is_absent_says_so():
    """The host venv has no torch (like the tf and mlx environments): the reason must not claim a device
    search that never happened."""
    from conftest import no_gpu_reason

    assert no_gpu_reason() == (
        "torch is not installed in this environment: the gpu tests run in the torch environments"
    )


def test_the_suite_removes_what_passed_tests_made_in_the_temp_folder(tmp_path):
    """pyproject.toml's pytest settings, run for real on two tests: the passed one's tmp_path is gone at
    the end (the e2e copies and venvs were 1.6 GB a run), the failed one's stays to be looked at."""
    (tmp_path / "test_two.py").write_text(
        "def test_pass(tmp_path):\n    (tmp_path / 'big').write_bytes(b'x' * 1000)\n\n"
        "def test_fail(tmp_path):\n    (tmp_path / 'kept').write_text('x')\n    assert False\n"
    )
    base = tmp_path / "base"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "--basetemp", str(base), str(tmp_path / "test_two.py")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()) == [
        "test_fail0/kept"
    ]
