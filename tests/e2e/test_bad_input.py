"""Bad input, end to end through the real nox sessions on a copy of the repo: one line, non-zero exit."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_nox, without_nox_timing

from tools import locks


@pytest.fixture
def repo(repo_copy) -> Path:
    return repo_copy


def nox(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run_nox(repo, *args, env=env, timeout=600)


def error_line(done: subprocess.CompletedProcess) -> str:
    lines = [
        ln
        for ln in (done.stdout + done.stderr).splitlines()
        if ln.startswith("nox > Session") and ("aborted" in ln or "failed" in ln)
    ]
    assert lines, done.stdout + done.stderr
    return without_nox_timing(lines[-1])


def tamper_hash(repo: Path) -> None:
    """The index serving other bytes than were locked: one hash of typing-extensions (a small wheel every
    platform installs) flipped, and the lock re-stamped, so only the installer can notice."""
    lock = repo / "requirements" / "torch.txt"
    text = lock.read_text()
    digest = re.search(r"^typing-extensions==.*?--hash=sha256:([0-9a-f]{64})", text, re.S | re.M).group(1)
    text = text.replace(digest, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
    [plan] = [entry for entry in locks.plan(repo) if entry.output == lock]
    lock.write_text(locks.stamped(plan, text))
    assert locks.staleness(plan) is None


def test_malformed_environment_yml(repo):
    (repo / "environment-torch.yml").write_text("name: torch-mps\nchannels: [conda-forge\n")
    done = nox(repo, "-s", "verify(env='torch')")
    assert done.returncode == 1
    assert "environment-torch.yml: expected valid YAML, got a syntax error at line" in error_line(done)


def test_tampered_hash_is_refused_and_leaves_nothing(repo):
    tamper_hash(repo)
    done = nox(repo, "-s", "verify(env='torch')")
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert re.search(r"hash mismatch|hashes? (do not|don't) match", out, re.I), out[-3000:]
    line = error_line(done)
    assert "expected requirements/torch.txt to install, got a hash mismatch (typing-extensions==" in line
    assert "the half-built venv was removed" in line
    assert not (repo / ".nox" / "env-torch").exists()
    assert_failure_recorded(repo, "got a hash mismatch")


@pytest.mark.skipif(shutil.which("uv") is None, reason="UV_OFFLINE needs uv on PATH")
def test_offline_install_is_named_offline(repo, tmp_path):
    cold = {"UV_OFFLINE": "1", "UV_CACHE_DIR": str(tmp_path / "cold")}
    done = nox(repo, "-s", "verify(env='torch')", env=cold)
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert "no version of filelock" in out  # uv's own output is still shown
    assert "to install, got nothing to install offline (" in error_line(done)
    assert "unset UV_OFFLINE; the half-built venv was removed" in error_line(done)
    assert not (repo / ".nox" / "env-torch").exists()


def assert_failure_recorded(repo: Path, why: str) -> None:
    """results/verify-torch.json tells the truth about the run that just failed: not the last pass."""
    report = json.loads((repo / "results" / "verify-torch.json").read_text())
    assert report["status"] == "failed" and report["passed"] is False, report
    assert any(why in failure for failure in report["failures"]), report
    assert report["time"] and report["machine"]
    assert re.fullmatch(r"[0-9a-f]{64}", report["locks"]["sha256"]), report


# (what is done to the copy, the line verify must end with); each is refused before anything is built, and
# the results file, which said "passed" before, says why it failed.
REFUSED_BEFORE_BUILD = [
    (
        lambda repo: _append(repo / "requirements" / "torch.in", "numpy\n"),
        "expected requirements/torch.txt current with its inputs, got it stale (requirements/torch.in "
        "changed since it was locked): run `nox -s lock`",
    ),
    (
        lambda repo: _edit(repo / "requirements" / "torch.txt", "\nnumpy==", "\nnumpy="),
        "torch.txt: expected a pin like name==version, got 'numpy=",
    ),
]


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _edit(path: Path, old: str, new: str) -> None:
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))


def test_verify_refuses_before_building_and_records_why(repo):
    committed = {p: p.read_bytes() for p in (repo / "requirements").glob("torch.*")}
    for spoil, expected in REFUSED_BEFORE_BUILD:
        (repo / "results").mkdir(exist_ok=True)
        (repo / "results" / "verify-torch.json").write_text('{"passed": true}\n')  # an older run's pass
        spoil(repo)
        done = nox(repo, "-s", "verify(env='torch')")
        out = done.stdout + done.stderr
        assert done.returncode == 1 and "Traceback" not in out, out[-3000:]
        assert expected in error_line(done), error_line(done)
        assert not (repo / ".nox" / "env-torch").exists()
        assert_failure_recorded(repo, expected)
        for path, text in committed.items():
            path.write_bytes(text)


def test_stale_venv_is_not_reused(repo):
    """`nox -R` after a failed build must refuse, not run checks in an empty venv."""
    venv = repo / ".nox" / "env-torch"
    uv = shutil.which("uv") or pytest.skip("uv not on PATH")
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    done = nox(repo, "-R", "-s", "verify(env='torch')")
    assert done.returncode == 1
    assert "got a stale or half-built venv: run again without -R" in error_line(done)


def test_unknown_package_in_in_file(repo):
    shutil.which("uv") or pytest.skip("uv not on PATH")
    with (repo / "requirements" / "torch.in").open("a") as f:
        f.write("this-package-does-not-exist-gpuenv==1.0\n")
    done = nox(repo, "-s", "lock")
    assert done.returncode == 1
    line = error_line(done)
    assert line.startswith(
        "nox > Session lock aborted: requirements/torch.in: expected a resolvable set, got:"
    )
    assert "this-package-does-not-exist-gpuenv" in line


def test_missing_python39(repo, tmp_path):
    # A PATH with no python3.9, no pyenv and no uv: only the system tools.
    done = nox(
        repo, "-s", "verify(env='torch')", env={"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "none")}
    )
    assert done.returncode == 1
    line = error_line(done)
    assert "expected Python 3.9" in line and "pyenv install 3.9" in line


def test_doctor_without_python39_is_a_finding_not_a_crash(repo, tmp_path):
    """The host part runs with nox's own Python and says what is missing; the environment parts skip."""
    done = nox(repo, "-s", "doctor", env={"PATH": "/usr/bin:/bin", "PYENV_ROOT": str(tmp_path / "none")})
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "fail  env-python: no Python 3.9 found to build the environments" in out
    fix = next(line for line in out.splitlines() if line.strip().startswith("fix: ") and "pyenv" in line)
    assert "`pyenv install 3.9`" in fix and "`pyenv install 3.12`" in fix  # each missing Python named
    assert "Session doctor(env='torch') skipped: no Python 3.9 to build the torch environment" in out


def test_doctor_reports_a_failed_build_as_a_finding(repo):
    tamper_hash(repo)
    done = nox(repo, "-s", "doctor(env='torch')")
    out = done.stdout + done.stderr
    assert done.returncode == 1
    assert "fail  environment-build: the environment did not build: expected requirements/torch.txt" in out
    report = json.loads((repo / "results" / "doctor-torch.json").read_text())
    assert [f["rule"] for f in report["findings"] if f["status"] == "fail"] == ["environment-build"]
    assert not (repo / ".nox" / "env-torch").exists()


def test_doctor_explains_an_error_file_given_after_dashes(repo):
    """`nox -s doctor -- --error-file LOG` reaches doctor unchanged (the host part here: nothing to build;
    doctor's own bad-input lines are tests/unit/test_doctor_errors.py's)."""
    text = json.loads((repo / "tests/data/facts/mac-m1-torch-mps-float64.json").read_text())["error_text"]
    (repo / "train.log").write_text(text)
    done = nox(repo, "-s", "doctor(env='host')", "--", "--error-file", "train.log")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "fail  mps-float64: a float64 tensor was to go to MPS: TypeError: Cannot convert" in out
    report = json.loads((repo / "results" / "doctor-host.json").read_text())
    assert report["facts"]["error_text"] == text


def test_bad_pair_arguments_are_one_line(repo):
    """`nox -s pair` with a malformed --python: the tool's one error line, no traceback."""
    done = nox(repo, "-s", "pair", "--", "--python", "3.x", "tensorflow==2.18.0", "tensorflow-metal==1.2.0")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out
    errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
    assert errors == ["error: expected --python like 3.12 (a CPython 3 minor version), got '3.x'"]
    assert "failed with exit code 2" in out


def test_run_without_a_command_is_one_line_and_builds_nothing(repo):
    done = nox(repo, "-s", "run(env='tf')")
    assert done.returncode == 1
    # The hint runs in the environment named, not in all five (a bare `run` is every environment's).
    assert error_line(done).endswith(
        "expected a command after --, got none: e.g. nox -s \"run(env='tf')\" -- python -m myproject.train."
    )
    assert not (repo / ".nox" / "env-tf").exists()


def test_run_names_the_command_exit_code(repo):
    done = nox(repo, "-s", "run(env='tf')", "--", "python", "-c", "raise SystemExit(3)")
    assert done.returncode != 0
    line = error_line(done)
    assert "got exit code 3" in line, line
    assert "python -c 'raise SystemExit(3)'" in line, line


def test_lint_outside_a_git_checkout_is_one_line_and_builds_nothing(repo):
    """pre-commit lints what git tracks: a copy without .git (a downloaded archive) is refused first."""
    done = nox(repo, "-s", "lint")
    assert done.returncode == 1
    assert error_line(done) == (
        f"nox > Session lint aborted: expected a git checkout at {repo} (pre-commit lints the files git "
        "tracks), got none: clone it."
    )
    assert not (repo / ".nox" / "host").exists() and not (repo / ".nox" / "lint").exists()
