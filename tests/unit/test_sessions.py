"""What `nox -l` shows a newcomer: a bare `nox` runs verify only, and every parametrized session names its
environment the same way (`tests(env='unit')` like `verify(env='torch')`)."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

from tools.envs import envspec

ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)  # one `nox -l` for every test that reads the listing
def listed() -> tuple[str, ...]:
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", "-l"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    # "* verify(env='torch') [verify] -> ...": the name, its tags dropped (nox -t TAG selects by them)
    return tuple(
        re.sub(r" \[[^]]*\](?= -> )", "", ln) for ln in done.stdout.splitlines() if ln[:2] in ("* ", "- ")
    )


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


# --- a malformed environment table: one line, at `nox -l` and in every session ---------------------------

BAD_ROW = "expected keys ['framework']"


def _copy_without_framework(tmp_path: Path) -> Path:
    """noxfile.py, checks/, tools/ and pyproject.toml with the torch row's `framework` key removed."""
    import shutil

    repo = tmp_path / "repo"
    for folder in ("checks", "tools"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "noxfile.py", repo / "noxfile.py")
    text = (ROOT / "pyproject.toml").read_text()
    row = text.index("[tool.gpuenv.environments.torch]")
    line = text.index('framework = "torch"', row)
    (repo / "pyproject.toml").write_text(text[:line] + text[text.index("\n", line) + 1 :])
    return repo


def _nox(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", *args],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip


def test_a_malformed_table_is_one_line_at_nox_l_and_in_every_session(tmp_path):
    repo = _copy_without_framework(tmp_path)
    listing = _nox(repo, "-l")
    shown = listing.stdout + listing.stderr
    assert "Traceback" not in shown and shown.count(BAD_ROW) == 1, shown
    line = next(ln for ln in shown.splitlines() if BAD_ROW in ln)
    assert line.endswith(f"pyproject.toml [tool.gpuenv.environments.torch]: {BAD_ROW}"), line
    for session in ("verify(env='torch')", "lint", "tests(env='unit')"):
        done = _nox(repo, "-s", session)
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in out, out
        assert f"pyproject.toml [tool.gpuenv.environments.torch]: {BAD_ROW}" in out, out
