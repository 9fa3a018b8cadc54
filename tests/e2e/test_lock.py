"""The lock lifecycle, for real: stamps, `nox -s lock -- --check`, relock, `--upgrade-package`, no conda.

Pure logic runs on copies of the committed files; the session tests run the real `nox -s lock` (real uv,
real PyPI: marked network) on a copy of the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import without_nox_timing

from tools import locks
from tools.envs import envspec
from tools.locks import relock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(repo_copy) -> Path:
    return repo_copy


def nox_lock(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`nox -s lock -- ARGS` on the copy, on a PATH with this venv's tools (uv, nox) and no conda."""
    env = {k: v for k, v in os.environ.items() if k not in ("CONDA_EXE", "MAMBA_EXE", "CONDA_PREFIX")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    return subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", "-s", "lock", "--", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def session_end(done: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.startswith("nox > Session lock")]
    assert lines, done.stdout + done.stderr
    return without_nox_timing(lines[-1])


def snapshot(repo: Path) -> dict[str, bytes]:
    files = [*repo.glob("requirements/*"), *repo.glob("*.yml"), repo / "pyproject.toml"]
    return {f.relative_to(repo).as_posix(): f.read_bytes() for f in files}


def pins(path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in envspec.read_lock(path):
        found.setdefault(entry.name, set()).add(entry.version)
    return found


# --- the stamp, on the committed files ---------------------------------------------------------------


# --- the real session ----------------------------------------------------------------------------------


def test_check_fails_naming_the_edited_file_and_touches_nothing(repo):
    with (repo / "requirements" / "torch.in").open("a") as f:
        f.write("six\n")
    before = snapshot(repo)
    done = nox_lock(repo, "--check")
    assert done.returncode == 1
    assert session_end(done) == (
        "nox > Session lock aborted: expected every lock current with its inputs, got stale "
        "requirements/torch.txt (requirements/torch.in changed since it was locked): run `nox -s lock`."
    )
    assert snapshot(repo) == before
    assert not (repo / ".cache").exists() and not list(repo.glob("requirements/*.conda-lock.yml"))


def test_check_passes_on_the_committed_locks_and_notes_the_missing_conda_lock(repo):
    done = nox_lock(repo, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "requirements/torch-dev.txt is current" in out
    for name in ("torch", "tf"):
        if not (ROOT / "requirements" / f"{name}.conda-lock.yml").exists():
            missing = (
                f"requirements/{name}.conda-lock.yml is missing: it is made by `nox -s lock` on a machine"
            )
            assert f"{missing} with conda-lock" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "got: unrecognized arguments: --bogus"),
        (["--check", "--upgrade"], "got: argument --upgrade: not allowed with argument --check"),
        (["--upgrade-package"], "got: argument --upgrade-package: expected one argument"),
        (["--upgrade-package", "not-a-locked-package"], "got 'not-a-locked-package'"),
    ],
)
def test_bad_options_are_one_line(repo, args, message):
    before = snapshot(repo)
    done = nox_lock(repo, *args)
    assert done.returncode == 1
    line = session_end(done)
    assert line.startswith("nox > Session lock aborted: ") and line.endswith(message + ".")
    assert snapshot(repo) == before


@pytest.mark.network
def test_relock_fixes_drift_and_says_conda_is_absent(repo):
    with (repo / "requirements" / "torch.in").open("a") as f:
        f.write("six  # a package a user adds\n")
    assert nox_lock(repo, "--check").returncode == 1
    done = nox_lock(repo)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "requirements/torch.txt written: +six==" in out
    assert "requirements/tools.txt unchanged" in out
    # conda is absent here (no conda, mamba or micromamba on this PATH): one line, nothing written.
    for name in ("torch", "tf"):
        assert re.search(
            rf"^nox > requirements/{name}\.conda-lock\.yml left as it is \(missing\): no conda, mamba or "
            "micromamba on PATH",
            out,
            re.M,
        )
    assert not list(repo.glob("requirements/*.conda-lock.yml"))
    assert "six" in pins(repo / "requirements" / "torch.txt")
    assert nox_lock(repo, "--check").returncode == 0
    assert not list(repo.glob(".cache/lock-staging*"))


@pytest.mark.network
def test_a_failed_relock_leaves_every_lock_as_it_was(repo):
    """torch resolves, tf does not: torch.txt must not be half-updated either."""
    for name, line in (("torch.in", "six\n"), ("tf.in", "this-package-does-not-exist-gpuenv==1.0\n")):
        with (repo / "requirements" / name).open("a") as f:
            f.write(line)
    before = {p: b for p, b in snapshot(repo).items() if p.endswith(".txt")}
    done = nox_lock(repo)
    assert done.returncode == 1
    assert session_end(done).startswith(
        "nox > Session lock aborted: requirements/tf.in: expected a resolvable"
    )
    assert {p: b for p, b in snapshot(repo).items() if p.endswith(".txt")} == before
    assert not list(repo.glob(".cache/lock-staging*"))


@pytest.mark.network
def test_upgrade_package_moves_only_that_package(repo):
    """Force two old pins, drop the force (plain relock keeps them), upgrade one (only it moves), then all;
    the frozen seeds (torch, tf and their layers) never move under either."""
    current_in = repo / "requirements" / "torch-current.in"
    original = current_in.read_text()
    current_in.write_text(original + "filelock==3.18.0\njinja2==3.1.5\n")
    assert nox_lock(repo).returncode == 0
    current_in.write_text(original)
    done = nox_lock(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    current_txt = repo / "requirements" / "torch-current.txt"
    assert pins(current_txt)["filelock"] == {"3.18.0"} and pins(current_txt)["jinja2"] == {"3.1.5"}
    seeds = {
        lock.output.name: lock.output.read_bytes()
        for lock in locks.plan(repo)
        if lock.kind == "uv" and getattr(lock.lockable, "frozen", "")
    }
    assert sorted(seeds) == ["tf-dev.txt", "tf-notebook.txt", "tf.txt", "torch-dev.txt", "torch-notebook.txt",
                             "torch.txt"]  # fmt: skip

    kept = repo.parent / "kept"
    shutil.copytree(repo / "requirements", kept)
    # jinja2, not filelock: an old filelock also holds virtualenv down in the dev layer (virtualenv 21.15.8
    # needs a newer filelock), so filelock's upgrade moves virtualenv back too; nothing depends on jinja2's.
    done = nox_lock(repo, "--upgrade-package", "jinja2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "requirements/torch.txt is frozen (the seed: " in done.stdout + done.stderr
    moved = {}
    for lock in sorted(kept.glob("*.txt")):
        moved[lock.name] = locks.pin_changes(lock, repo / "requirements" / lock.name)
        assert all(change.startswith("jinja2 3.1.5 -> ") for change in moved[lock.name]), moved
    assert moved["torch-current.txt"] and moved["torch-current-notebook.txt"]  # the layer follows its lock
    assert pins(current_txt)["filelock"] == {"3.18.0"}
    assert nox_lock(repo, "--check").returncode == 0

    # --upgrade moves the rest: filelock leaves the old pin plain relocks kept; the seeds stay as they were.
    done = nox_lock(repo, "--upgrade")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "requirements/torch-current.txt written: " in done.stdout + done.stderr
    assert pins(current_txt)["filelock"] != {"3.18.0"}
    assert {name: (repo / "requirements" / name).read_bytes() for name in seeds} == seeds
    assert nox_lock(repo, "--check").returncode == 0


def test_a_second_relock_is_refused_in_one_line(repo):
    """Another `nox -s lock` holds the clone's relock lock: this one stops at once, touching nothing."""
    import fcntl

    (repo / ".cache").mkdir()
    before = snapshot(repo)
    with (repo / ".cache" / "relock.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = nox_lock(repo)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert session_end(done) == (
        "nox > Session lock aborted: expected no other relock running in this clone, got another "
        "`nox -s lock` holding .cache/relock.lock: wait for it to finish, then run again."
    )
    assert snapshot(repo) == before
    assert not list(repo.glob(".cache/lock-staging*"))


@pytest.mark.network
def test_another_uv_first_on_path_changes_no_lock(repo, tmp_path):
    """A newcomer's uv (0.13.9 here: it factors markers that 0.13.8 expands) first on PATH: `nox -s lock`
    still writes every lock with the uv requirements/tools.txt pins, byte for byte what is committed; the
    same relock run by that other uv writes other bytes, and `--check` names the lock it made."""
    other = tmp_path / "other-uv"
    subprocess.run([sys.executable, "-m", "venv", str(other)], check=True)
    subprocess.run([str(other / "bin" / "python"), "-m", "pip", "install", "-q", "uv==0.13.9"], check=True)
    before = snapshot(repo)
    env = {k: v for k, v in os.environ.items() if k not in ("CONDA_EXE", "MAMBA_EXE", "CONDA_PREFIX")}
    env["PATH"] = os.pathsep.join([str(other / "bin"), str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    done = subprocess.run(
        [sys.executable, "-m", "nox", "--script-mode", "none", "--no-color", "-s", "lock"],
        cwd=repo, capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"locking with uv {locks.pinned_uv(repo)} (" in out
    assert snapshot(repo) == before

    relock.relock(locks.plan(repo), relock.Options(), repo, print, relock.uv_at(other / "bin" / "uv"))
    assert snapshot(repo) != before
    check = nox_lock(repo, "--check")
    assert check.returncode == 1
    assert "requirements/torch.txt (made by uv 0.13.9, not the pinned uv 0.13.8)" in session_end(check)
