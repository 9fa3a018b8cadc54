# /// script
# dependencies = [
#   "nox>=2025.2.9", "packaging>=22", "pyyaml>=6", "ruamel.yaml>=0.17", "tomli>=2; python_version < '3.11'",
# ]
# ///
"""Build each environment from its lock and prove it works: `nox -l` lists what there is."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import NoReturn

import nox
import yaml
from nox.command import CommandFailed
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # tools/ lives beside this file; nox does not put it on sys.path

from tools import envspec, interpreters, locks  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["tests", "verify"]

ENVS = envspec.environments()
LAYERS = envspec.layers()
PY = envspec.PYTHON


PYTHON39 = interpreters.find_python(PY)
if PYTHON39:
    os.environ["PATH"] = str(Path(PYTHON39).parent) + os.pathsep + os.environ["PATH"]
PY39_SESSION = {"python": PY} if PYTHON39 else {"venv_backend": "none"}
MISSING_PY39 = interpreters.missing_message(PY)


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
    problem = _sync_locks(session, *locks)
    if problem:
        session.error(problem)


def _sync_locks(session: nox.Session, *locks: Path) -> str | None:
    """install_locks' work; returns the one-line reason instead of aborting (doctor reports it)."""
    for lock in locks:
        if not lock.exists():
            return f"expected lock file {lock.relative_to(ROOT)}, got none: run `nox -s lock`"
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
        return (
            f"expected {' + '.join(files)} to install with every hash matching, got the installer "
            "error above; the half-built venv was removed"
        )
    if ran is None:  # `nox -R`: install skipped, so the venv must already be exactly these locks
        if not stamp.exists() or stamp.read_text().strip() != digest:
            return (
                f"expected {venv.name} built from {' + '.join(files)}, got a stale or half-built venv: "
                "run again without -R"
            )
        return None
    stamp.write_text(digest + "\n")
    return None


def build(session: nox.Session, env: str, *layers: str) -> envspec.Environment:
    """Python 3.9, a valid spec, and a venv that is exactly the environment's lock (plus these layers)."""
    _require_python39(session)
    spec = ENVS[env]
    _spec(session, spec)
    install_locks(session, spec.lock, *(spec.layer_lock(layer) for layer in layers))
    return spec


@nox.session(**PY39_SESSION)
@nox.parametrize("env", list(ENVS))
def verify(session: nox.Session, env: str) -> None:
    """Build the environment from its lock and prove the sine fit on the best device (mps > cuda > cpu)."""
    spec = build(session, env)
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
    build(session, env, *LAYERS)
    session.run(
        "python",
        "-m",
        "pytest",
        *session.posargs,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1", "GPUENV_UNDER_TEST": env},
    )


def _kernelspecs(session: nox.Session) -> dict:
    """Jupyter's own view of the installed kernels, from the session venv's jupyter_client."""
    out = session.run("python", "-m", "jupyter", "kernelspec", "list", "--json", silent=True)
    return json.loads(out)["kernelspecs"]


@nox.session(**PY39_SESSION, default=False)
@nox.parametrize("env", list(ENVS))
def kernel(session: nox.Session, env: str) -> None:
    """Register the environment as a Jupyter kernel (lock + notebook layer); `-- --remove` unregisters."""
    _require_python39(session)
    unknown = [arg for arg in session.posargs if arg != "--remove"]
    if unknown:
        session.error(f"expected no option or --remove, got {unknown[0]!r}")
    spec = ENVS[env]
    _spec(session, spec)
    notebook = spec.layer_lock("notebook")
    if "--remove" in session.posargs:
        # Only jupyter_client is needed to find and delete the kernelspec; the venv goes with it.
        install_locks(session, notebook)
        if env in _kernelspecs(session):
            session.run("python", "-m", "jupyter", "kernelspec", "remove", "-y", env)
        else:
            session.log(f"no kernel named {env!r} is registered: nothing to remove")
        shutil.rmtree(session.virtualenv.location, ignore_errors=True)
        return
    install_locks(session, spec.lock, notebook)
    # --user: ~/Library/Jupyter/kernels on macOS, ~/.local/share/jupyter/kernels on Linux (JUPYTER_DATA_DIR
    # moves it). Re-running replaces the spec, so registering is idempotent.
    session.run(
        "python", "-m", "ipykernel", "install", "--user", "--name", env, "--display-name", spec.display,
        "--env", "PYTHONPATH", str(ROOT), "--env", "TF_CPP_MIN_LOG_LEVEL", "1",
    )  # fmt: skip
    registered = _kernelspecs(session).get(env, {})
    python = Path(session.bin) / "python"
    if registered.get("spec", {}).get("argv", [None])[0] != str(python):
        session.error(f"expected kernel {env!r} to launch {python}, got {registered or 'no such kernel'}")
    # Start it as Jupyter would and import the framework and checks/ in it.
    session.run("python", str(ROOT / "tools" / "kernel_smoke.py"), env, spec.framework)
    session.log(f"kernel {env!r} ({spec.display}) -> {registered['resource_dir']}")


@nox.session(**PY39_SESSION, default=False)
@nox.parametrize("env", list(ENVS))
def run(session: nox.Session, env: str) -> None:
    """Run your command in the environment (its lock), from the repository root: `-- python -m pkg.mod`."""
    if not session.posargs:
        session.error("expected a command after --, got none: e.g. nox -s run -- python -m myproject.train")
    build(session, env)
    session.run(*session.posargs, env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1"})


@nox.session(**PY39_SESSION, default=False)
@nox.parametrize("env", list(ENVS))
def bench(session: nox.Session, env: str) -> None:
    """Time the sine fit (3 forms), matmul and copy on GPU and CPU vs known peaks (posargs: checks.bench)."""
    spec = build(session, env)
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
    _dev_layer(session)  # matplotlib lives in the dev layer
    files = session.posargs or sorted(str(p) for p in (ROOT / "results").glob("bench-*.json"))
    if not files:
        session.error("expected results/bench-*.json, got none: run `nox -s bench` first")
    session.run("python", str(ROOT / "tools" / "benchplot.py"), *files)


@nox.session(**PY39_SESSION)
def lint(session: nox.Session) -> None:
    """Ruff: lint and format check of everything (posargs go to `ruff check`)."""
    _dev_layer(session)
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


# The host part needs no environment (it runs even without Python 3.9, whose absence is then a finding);
# each environment part runs inside that environment, built from its lock.
DOCTOR_PARTS = [
    nox.param(False, "host", id="env='host'"),
    *(nox.param(PY if PYTHON39 else False, name, id=f"env='{name}'") for name in ENVS),
]


@nox.session
@nox.parametrize(("python", "env"), DOCTOR_PARTS)
def doctor(session: nox.Session, env: str) -> None:
    """Explain why a GPU is or is not used: the machine, then what each environment's framework sees."""
    report = str(ROOT / "results" / f"doctor-{env}.json")
    doctor_env = {"PYTHONPATH": str(ROOT)}
    if env == "host":
        session.run(
            sys.executable,
            "-m",
            "checks.doctor",
            "--env-python",
            PYTHON39 or "",
            "--json",
            report,
            *session.posargs,
            external=True,
            env=doctor_env,
        )
        return
    if not PYTHON39:
        session.skip(f"no Python {PY} to build the {env} environment: see doctor(env='host')")
    spec = ENVS[env]
    _spec(session, spec)
    problem = _sync_locks(session, spec.lock)
    if problem:  # a build failure is a finding too: the host Python reports it through the same rules
        session.run(
            sys.executable,
            "-m",
            "checks.doctor",
            "--build-error",
            problem,
            "--json",
            report,
            *session.posargs,
            external=True,
            env=doctor_env,
        )
        return
    session.run(
        "python",
        "-m",
        "checks.doctor",
        "--framework",
        spec.framework,
        "--json",
        report,
        *session.posargs,
        env={**doctor_env, "TF_CPP_MIN_LOG_LEVEL": "1"},
    )


def _dev_layer(session: nox.Session) -> None:
    """The tools' venv: the dev layer's lock (pip, macholib, cxxfilt, packaging, ...), hashes checked."""
    _require_python39(session)
    install_locks(session, next(iter(ENVS.values())).layer_lock("dev"))


@nox.session(**PY39_SESSION, default=False)
def wheels(session: nox.Session) -> None:
    """Every lock's real wheels, macOS arm64 + Linux x86_64: sha256, tags, minimum OS, MPS, Metal plugin."""
    _dev_layer(session)
    for spec in ENVS.values():
        _spec(session, spec)
    session.run(
        "python",
        "-m",
        "tools.wheels",
        "--json",
        str(ROOT / "results" / "wheels.json"),
        *session.posargs,
        env={"PYTHONPATH": str(ROOT)},
    )


@nox.session(**PY39_SESSION, default=False)
def pair(session: nox.Session) -> None:
    """Can a TensorFlow and a tensorflow-metal work together? Two pins after `--`, or `--matrix`: all."""
    if not session.posargs:
        session.error(
            "expected two pins after --, e.g. "
            "`nox -s pair -- tensorflow==2.18.0 tensorflow-metal==1.2.0` (or `-- --matrix`), got none"
        )
    _dev_layer(session)
    session.run("python", "-m", "tools.tfpair", *session.posargs, env={"PYTHONPATH": str(ROOT)})


class _LockArgs(argparse.ArgumentParser):
    """argparse for `nox -s lock -- ...` that raises instead of printing usage, so the error is one line."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _lock_options(session: nox.Session) -> argparse.Namespace:
    parser = _LockArgs(prog="nox -s lock --", add_help=False, allow_abbrev=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--upgrade", action="store_true")
    mode.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    try:
        return parser.parse_args(session.posargs)
    except ValueError as exc:
        session.error(f"expected `--check`, `--upgrade` or `--upgrade-package NAME` after `--`, got: {exc}")


def _check_ymls(session: nox.Session) -> None:
    """A malformed environment yml stops the lock session with its one-line reason."""
    for env in ENVS.values():
        try:
            envspec.read_conda_file(env)
        except envspec.SpecError as exc:
            session.error(str(exc))


def _check_locks(session: nox.Session, plan: list[locks.Lock]) -> None:
    """Compare each lock's stamp with its inputs now; touches nothing, needs no network."""
    stale = []
    for lock in plan:
        if lock.kind == "conda-lock" and not lock.output.exists():
            session.log(f"{lock.rel()} is missing: {CONDA_LOCK_HOWTO}")
            continue
        why = locks.staleness(lock)
        session.log(f"{lock.rel()} is stale: {why}" if why else f"{lock.rel()} is current")
        if why:
            stale.append(f"{lock.rel()} ({why})")
    if stale:
        session.error(
            f"expected every lock current with its inputs, got stale {'; '.join(stale)}: run `nox -s lock`"
        )


def _uv_compile(session: nox.Session, lock: locks.Lock, staging: Path, extra: list[str]) -> None:
    """One universal, hashed resolution in the staging copy; uv's failure is cut to the line that says why."""
    cmd = ["uv", "pip", "compile", "--quiet", *locks.UV_COMPILE_OPTIONS, lock.rel(lock.source)]
    cmd += ["-o", lock.rel(), *extra]
    session.log(" ".join(cmd))
    done = subprocess.run(
        cmd,
        cwd=staging,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_CUSTOM_COMPILE_COMMAND": "nox -s lock"},
    )
    if done.returncode != 0:
        why = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        reason = next(
            (ln for ln in why if "not found in the package registry" in ln or "No solution" in ln), None
        )
        detail = next(
            (ln for ln in why if ln.startswith("╰─▶") or "Because" in ln), reason or (why[-1] if why else "?")
        )
        session.error(f"{lock.rel(lock.source)}: expected a resolvable set, got: {detail.lstrip('╰─▶ ')}")


CONDA_LOCK_HOWTO = (
    "it is made by `nox -s lock` on a machine with conda-lock, conda (or mamba/micromamba) and conda-forge "
    'reachable (README: "Refreshing conda-lock.yml")'
)
CONDA_FORGE = "https://conda.anaconda.org/conda-forge/noarch/repodata.json"


def _conda_lock_blocker() -> tuple[str | None, str | None]:
    """(conda executable, None) when conda-lock can run here, else (None, what is missing)."""
    # An activated conda exports CONDA_EXE even where `conda` itself is only a shell function.
    conda_exe = os.environ.get("CONDA_EXE")
    found = [
        *map(shutil.which, ("conda", "mamba", "micromamba")),
        conda_exe if conda_exe and Path(conda_exe).is_file() else None,
    ]
    exe = next(filter(None, found), None)
    if not exe:
        return None, "no conda, mamba or micromamba on PATH (install Miniforge)"
    if not shutil.which("conda-lock"):
        return None, "no conda-lock on PATH (`pipx install conda-lock` or `conda install -n base conda-lock`)"
    try:
        urllib.request.urlopen(urllib.request.Request(CONDA_FORGE, method="HEAD"), timeout=15).close()
    except OSError as exc:
        return None, f"conda-forge is unreachable ({CONDA_FORGE}: {exc})"
    return exe, None


def _conda_lock(session: nox.Session, lock: locks.Lock, staged: Path, opts: argparse.Namespace) -> bool:
    """Solve the ymls' conda layer for osx-arm64 and linux-64 into `staged`; False (one line) if it cannot."""
    exe, missing = _conda_lock_blocker()
    if missing:
        now = locks.staleness(lock) or "current"
        session.log(f"{lock.rel()} left as it is ({now}): {missing}; {CONDA_LOCK_HOWTO}")
        return False
    # conda-lock cannot read the pip section's `-r lock` (pip wheels stay in the uv locks): give it
    # copies of the ymls without it.
    layer_dir = staged.parent / "conda-layer"
    layer_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["conda-lock", "lock", "--conda", exe, "--lockfile", str(staged)]
    for conda_file in lock.conda_files:
        layer = layer_dir / conda_file.name
        layer.write_text(yaml.safe_dump(locks.conda_layer(conda_file), sort_keys=False))
        cmd += ["-f", str(layer)]
    for platform in locks.CONDA_PLATFORMS.values():
        cmd += ["-p", platform]
    in_conda = locks.conda_lock_packages(staged) if staged.exists() else set()
    wanted = [name for name in opts.upgrade_package if canonicalize_name(name) in in_conda]
    if wanted:
        cmd += [a for name in wanted for a in ("--update", name)]
    elif not opts.upgrade and staged.exists():
        cmd.append("--check-input-hash")  # keep the solve already there unless its inputs changed
    elif staged.exists():
        staged.unlink()  # --upgrade: a fresh solve, not an update of the old one
    try:
        session.run(*cmd, external=True)
    except CommandFailed:
        session.error(
            f"{lock.rel()}: expected conda-lock to solve the ymls' conda layer for "
            f"{' and '.join(locks.CONDA_PLATFORMS.values())}, got the error above; no lock was changed"
        )
    return True


@nox.session(venv_backend="none", default=False)
def lock(session: nox.Session) -> None:
    """Relock all from their inputs; `-- --check`: fail on a stale lock; `-- --upgrade[-package NAME]`."""
    opts = _lock_options(session)
    plan = locks.plan()
    _check_ymls(session)
    if opts.check:
        _check_locks(session, plan)
        return
    if not shutil.which("uv"):
        session.error("expected uv on PATH to lock, got none: `pipx install uv` or `pip install uv`")
    pinned = locks.pinned_names(plan)
    for name in opts.upgrade_package:
        if not locks.PACKAGE_NAME.match(name) or canonicalize_name(name) not in pinned:
            session.error(f"--upgrade-package: expected a package pinned in some lock, got {name!r}")
    # Everything is resolved in a staging copy of the inputs and current locks (whose pins uv and conda-lock
    # keep unless told to upgrade), so the locks' annotations read as in the repo; they are moved into
    # place only when every lock succeeded.
    staging = ROOT / ".cache" / "lock-staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(ROOT / "requirements", staging / "requirements")
    for config in ("pyproject.toml", "uv.toml"):  # uv reads [tool.uv] environments from its working folder
        if (ROOT / config).exists():
            shutil.copyfile(ROOT / config, staging / config)
    try:
        _relock(session, plan, staging, opts)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _relock(session: nox.Session, plan: list[locks.Lock], staging: Path, opts: argparse.Namespace) -> None:
    def staged(path: Path) -> Path:
        return staging / path.relative_to(ROOT)

    def read_staged(path: Path) -> str:
        return staged(path).read_text()

    uv_extra = ["--upgrade"] if opts.upgrade else []
    uv_extra += [a for name in opts.upgrade_package for a in ("--upgrade-package", name)]
    done = []
    for lock in plan:
        out = staged(lock.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        if lock.output.exists() and not out.exists():
            shutil.copyfile(lock.output, out)
        if lock.kind == "uv":
            constraint = [a for c in lock.constraints for a in ("--constraint", lock.rel(c))]
            _uv_compile(session, lock, staging, uv_extra + constraint)
        elif not _conda_lock(session, lock, out, opts):
            continue
        out.write_text(locks.stamped(lock, out.read_text(), read_staged))
        done.append(lock)
    for lock in done:
        out = staged(lock.output)
        if lock.output.exists() and lock.output.read_bytes() == out.read_bytes():
            session.log(f"{lock.rel()} unchanged")
            continue
        changes = locks.pin_changes(lock.output, out) if lock.kind == "uv" else []
        session.log(f"{lock.rel()} written" + (f": {', '.join(changes)}" if changes else ""))
        os.replace(out, lock.output)
