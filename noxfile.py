# /// script
# dependencies = ["nox>=2025.2.9", "packaging>=22", "pyyaml>=6", "tomli>=2; python_version < '3.11'"]
# ///
"""Build each environment from its lock and prove it works: `nox -l` lists what there is."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # tools/ lives beside this file; nox does not put it on sys.path

from tools import envspec  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "verify"]

ENVS = envspec.environments()
LAYERS = envspec.layers()
PY = envspec.PYTHON


def _find_python39() -> str | None:
    """A working python3.9: on PATH, else pyenv's, else uv's. Its folder goes first on PATH for nox."""
    candidates = [shutil.which(f"python{PY}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(pyenv_root.glob(f"versions/{PY}.*/bin/python{PY}"), reverse=True)
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", "--no-project", PY], capture_output=True, text=True)
        candidates.append(found.stdout.strip() or None)
    for exe in filter(None, candidates):
        # pyenv puts a python3.9 shim on PATH that fails unless 3.9 is selected: run it to be sure.
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == PY:
            return str(exe)
    return None


PYTHON39 = _find_python39()
if PYTHON39:
    os.environ["PATH"] = str(Path(PYTHON39).parent) + os.pathsep + os.environ["PATH"]
PY39_SESSION = {"python": PY} if PYTHON39 else {"venv_backend": "none"}
MISSING_PY39 = (
    f"expected Python {PY} (python{PY} on PATH, a pyenv {PY}.x, or uv's), got none: install it with "
    f"`pyenv install {PY}`, `uv python install {PY}` or "
    f"`conda create -n py{PY.replace('.', '')} python={PY}` "
    "and put its bin folder on PATH"
)


def _require_python39(session: nox.Session) -> None:
    if not PYTHON39:
        session.error(MISSING_PY39)


def _spec(session: nox.Session, env: envspec.Environment) -> None:
    """Refuse to build from a malformed spec: one line naming the file and what is wrong."""
    try:
        envspec.read_conda_file(env)
        problems = envspec.lock_problems(env)
    except envspec.SpecError as exc:
        session.error(str(exc))
    if problems:
        session.error(
            f"{problems[0]} (run `nox -s lock`)" + (f"; {len(problems) - 1} more" if problems[1:] else "")
        )


def install_locks(session: nox.Session, *locks: Path) -> None:
    """Make the session's venv exactly the locks: hashes required, wheels only, nothing else installed.

    A venv whose install failed is deleted, and a reused one (`nox -R`) must carry the stamp of these very
    locks, so a half-built or stale environment is never run.
    """
    for lock in locks:
        if not lock.exists():
            session.error(f"expected lock file {lock.relative_to(ROOT)}, got none: run `nox -s lock`")
    files = [str(lock.relative_to(ROOT)) for lock in locks]
    venv = Path(session.virtualenv.location)
    stamp = venv / "gpuenv-locks.sha256"
    digest = hashlib.sha256(b"".join(lock.read_bytes() for lock in locks)).hexdigest()
    if session.venv_backend == "uv":
        cmd = [
            "uv",
            "pip",
            "sync",
            "--python",
            str(Path(session.bin) / "python"),
            "--require-hashes",
            "--only-binary",
            ":all:",
            *files,
        ]
    else:  # pip fallback: --no-deps because the lock is complete, as pip-sync would install it
        cmd = [
            "python",
            "-m",
            "pip",
            "install",
            "--require-hashes",
            "--only-binary=:all:",
            "--no-deps",
            *(a for f in files for a in ("-r", f)),
        ]
    try:
        ran = session.run_install(*cmd, external=True)
    except CommandFailed:
        shutil.rmtree(venv, ignore_errors=True)
        session.error(
            f"expected {' + '.join(files)} to install with every hash matching, got the installer "
            "error above; the half-built venv was removed"
        )
    if ran is None:  # `nox -R`: install skipped, so the venv must already be exactly these locks
        if not stamp.exists() or stamp.read_text().strip() != digest:
            session.error(
                f"expected {venv.name} built from {' + '.join(files)}, got a stale or half-built venv: "
                "run again without -R"
            )
        return
    stamp.write_text(digest + "\n")


@nox.session(**PY39_SESSION)
@nox.parametrize("env", list(ENVS))
def verify(session: nox.Session, env: str) -> None:
    """Build the environment from its lock and prove the sine fit on the best device (mps > cuda > cpu)."""
    _require_python39(session)
    spec = ENVS[env]
    _spec(session, spec)
    install_locks(session, spec.lock)
    report = ROOT / "results" / f"verify-{env}.json"
    session.run(
        "python",
        "-m",
        "checks.verify",
        "--framework",
        spec.framework,
        "--json",
        str(report),
        *session.posargs,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1"},
    )


@nox.session(**PY39_SESSION)
@nox.parametrize("env", list(ENVS))
def tests(session: nox.Session, env: str) -> None:
    """Run pytest inside the environment (its lock plus the dev layer); posargs go to pytest."""
    _require_python39(session)
    spec = ENVS[env]
    _spec(session, spec)
    install_locks(session, spec.lock, *(spec.layer_lock(layer) for layer in LAYERS))
    session.run(
        "python",
        "-m",
        "pytest",
        *session.posargs,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1", "GPUENV_UNDER_TEST": env},
    )


@nox.session(**PY39_SESSION, default=False)
@nox.parametrize("env", list(ENVS))
def bench(session: nox.Session, env: str) -> None:
    """Time the sine fit (3 forms), matmul and copy on GPU and CPU vs known peaks (posargs: checks.bench)."""
    _require_python39(session)
    spec = ENVS[env]
    _spec(session, spec)
    install_locks(session, spec.lock)
    session.run(
        "python",
        "-m",
        "checks.bench",
        "--framework",
        spec.framework,
        "--out-dir",
        str(ROOT / "results"),
        "--tag",
        env,
        *session.posargs,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    session.notify("benchplot", posargs=[])  # not the bench options: it would read them as files


@nox.session(**PY39_SESSION, default=False)
def benchplot(session: nox.Session) -> None:
    """Render bench JSON as a markdown table and a PNG plot (posargs: JSON files, default results/)."""
    _require_python39(session)
    install_locks(session, next(iter(ENVS.values())).layer_lock("dev"))  # matplotlib lives in the dev layer
    files = session.posargs or sorted(str(p) for p in (ROOT / "results").glob("bench-*.json"))
    if not files:
        session.error("expected results/bench-*.json, got none: run `nox -s bench` first")
    session.run("python", str(ROOT / "tools" / "benchplot.py"), *files)


@nox.session(**PY39_SESSION)
def lint(session: nox.Session) -> None:
    """Ruff: lint and format check of everything (posargs go to `ruff check`)."""
    _require_python39(session)
    install_locks(session, next(iter(ENVS.values())).layer_lock("dev"))
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


def _uv_compile(session: nox.Session, source: Path, output: Path, *extra: str) -> None:
    """One universal, hashed resolution; uv's failure is cut to the line that says why."""
    cmd = [
        "uv",
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version",
        PY,
        "--generate-hashes",
        "--only-binary",
        ":all:",
        str(source.relative_to(ROOT)),
        "-o",
        str(output.relative_to(ROOT)),
        *extra,
    ]
    session.log(" ".join(cmd))
    done = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "UV_CUSTOM_COMPILE_COMMAND": "nox -s lock",
        },
    )
    if done.returncode != 0:
        why = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        reason = next(
            (ln for ln in why if "not found in the package registry" in ln or "No solution" in ln), None
        )
        detail = next(
            (ln for ln in why if ln.startswith("╰─▶") or "Because" in ln), reason or (why[-1] if why else "?")
        )
        session.error(f"{source.relative_to(ROOT)}: expected a resolvable set, got: {detail.lstrip('╰─▶ ')}")


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve requirements/*.txt from the .in files (universal macOS arm64 + Linux x86_64, hashed)."""
    if not shutil.which("uv"):
        session.error("expected uv on PATH to lock, got none: `pipx install uv` or `pip install uv`")
    for env in ENVS.values():
        _uv_compile(session, env.requirements_in, env.lock)
        for layer in LAYERS:
            layer_in = ROOT / "requirements" / f"{layer}.in"
            _uv_compile(
                session, layer_in, env.layer_lock(layer), "--constraint", str(env.lock.relative_to(ROOT))
            )
    for name in envspec.standalone_locks():
        _uv_compile(session, ROOT / "requirements" / f"{name}.in", ROOT / "requirements" / f"{name}.txt")
