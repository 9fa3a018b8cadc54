#!/usr/bin/env -S uv run --script
# /// script
# requires-python = ">=3.9"
# dependencies = [
#   "nox>=2025.2.9", "packaging>=22", "pyyaml>=6", "ruamel.yaml>=0.17", "tomli>=2; python_version < '3.11'",
# ]
# ///
"""Build each environment from its lock and prove it works: `nox -l` lists what there is.

The environments and targets are data (pyproject.toml [tool.gpuenv]); the logic lives in tools/. Sessions
run in venvs of our own (tools/venvs.py), one per lock set, shared by every session that needs exactly it,
so nox's own venv is none.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # tools/ lives beside this file; nox does not put it on sys.path

from checks import frameworks  # noqa: E402  (standard library only: reads declared constants)
from tools import envspec, interpreters, locks, relock, results, venvs  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.error_on_missing_interpreters = True

ENVS = envspec.environments()
HOST = envspec.standalone()["dev"]  # the host venv: unit and end-to-end tests, lint, wheels, pair, plots
LINT = envspec.standalone()["lint"]  # the rest of lint, on 3.12: pre-commit, mypy, zizmor, sp-repo-review
RUN_ENV = {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1"}


def session(*, default: bool = True) -> Callable[[Callable[..., None]], object]:
    """nox.session making no venv: every session's venv is one of ours (tools/venvs.py). A maintenance
    session says `default=False`: it runs only when named (nox's default per session, no session list)."""
    return nox.session(venv_backend="none", default=default)


def _reusing(s: nox.Session) -> bool:
    """`nox -R` (--no-install): nox skips installs only in venvs it made itself, so ask its option."""
    return bool(getattr(s._runner.global_config, "no_install", False))


def _venv(s: nox.Session, name: str, lockfiles: list[Path], python: str) -> str:
    """The venv `name`, made exactly `lockfiles` (hashes required); its python. One line on failure."""
    built, problem = _try_venv(s, name, lockfiles, python)
    return built or s.error(problem)


def _try_venv(s: nox.Session, name: str, lockfiles: list[Path], python: str) -> tuple[str, str]:
    """(python, "") or ("", the one-line reason): doctor reports a failed build as a finding."""
    venv = venvs.Venv.for_locks(ROOT, name, lockfiles)
    problem = venv.missing_lock()
    if problem:
        return "", problem
    if _reusing(s):
        if not venv.stamped():
            files = " + ".join(venv.files)
            stale = f"expected {venv.path.name} built from {files}, got a stale or half-built venv"
            return "", f"{stale}: run again without -R"
        return str(venv.python), ""
    base = interpreters.find_python(python)
    if not base:
        return "", interpreters.missing_message(python)
    uv = shutil.which("uv") is not None
    try:
        if not venv.stamped():
            venv.remove()
            s.run(*venv.create_command(base, uv), external=True, silent=True)
        problem = _install(s, venv, uv)
    except (CommandFailed, KeyboardInterrupt) as exc:
        venv.remove()
        if isinstance(exc, KeyboardInterrupt):
            raise
        problem = f"expected a venv at {venv.path.name} from {base}, got `{exc.reason}`: see the error above"
    if problem:
        venv.remove()
        return "", problem
    venv.mark_built()
    return str(venv.python), ""


def _install(s: nox.Session, venv: venvs.Venv, uv: bool) -> str:
    """Install the locks, the installer's output shown; "" or the one line naming why it failed."""
    cmd = venv.install_command(uv)
    s.log(" ".join(cmd))
    code, output = venvs.run_install(cmd)
    if not code:
        return ""
    return venvs.install_problem(output, venv.files, offline=uv and venvs.uv_offline(os.environ))


def _spec(s: nox.Session, env: envspec.Environment) -> None:
    """Refuse to build from a malformed spec: one line naming the file and what is wrong."""
    problem = _spec_problem(env)
    if problem:
        s.error(problem)


def _spec_problem(env: envspec.Environment) -> str | None:
    try:
        envspec.read_conda_file(env)
        problems = envspec.lock_problems(env)
    except envspec.SpecError as exc:
        return str(exc)
    if problems:
        more = f"; {len(problems) - 1} more" if problems[1:] else ""
        return f"{problems[0]} (run `nox -s lock`){more}"
    return None


def build(s: nox.Session, name: str, *layers: str) -> str:
    """The environment's venv (its lock plus these layers), checked against its spec; its python."""
    env = ENVS[name]
    _spec(s, env)
    return _venv(s, "+".join(["env-" + name, *layers]), [env.lock, *map(env.layer_lock, layers)], env.python)


def host(s: nox.Session) -> str:
    """The host tools' venv (requirements/dev.txt: pytest, uv, ruff, macholib, matplotlib, ...)."""
    return _venv(s, "host", [HOST.lock], HOST.python)


@session()
@nox.parametrize("env", list(ENVS))
def verify(s: nox.Session, env: str) -> None:
    """Build the environment from its lock and prove the sine fit on the best device (mps > cuda > cpu)."""
    spec = ENVS[env]
    report = ROOT / "results" / f"verify-{env}.json"
    venv = venvs.Venv.for_locks(ROOT, f"env-{env}", [spec.lock])
    digest = venv.digest() if not venv.missing_lock() else "none"

    def fail(why: str) -> None:  # the results file says so before the session ends
        results.write(report, results.record(env, venv.files, digest, results.FAILED, why))
        s.error(why)

    results.write(report, results.record(env, venv.files, digest, results.RUNNING))
    problem = _spec_problem(spec) or _stale(spec)
    if problem:
        fail(problem)
    python, problem = _try_venv(s, f"env-{env}", [spec.lock], spec.python)
    if problem:
        fail(problem)
    here = envspec.locked_here(spec)  # what the lock installs on this machine: extra checks expect it
    locked = ["--locked", ",".join(here)] if here else []
    try:
        s.run(python, "-m", "checks.verify", "--framework", spec.framework, "--json", str(report),
              "--locks-sha256", digest, *locked, *s.posargs, env=RUN_ENV, external=True)  # fmt: skip
    except CommandFailed as exc:
        if results.still_running(report):  # it stopped before writing its report (bad arguments, a crash)
            fail(f"checks.verify stopped before writing its report ({exc.reason}): see the error above")
        raise


def _stale(spec: envspec.Environment) -> str | None:
    """One line when the environment's lock no longer matches its inputs (the offline `--check` logic)."""
    for lock in locks.plan():
        if lock.output == spec.lock:
            why = locks.staleness(lock)
            if why:
                return (
                    f"expected {lock.rel()} current with its inputs, got it stale ({why}): run `nox -s lock`"
                )
    return None


SUITES = [
    nox.param("unit", id="unit"),
    *(nox.param(e, id=f"env='{e}'") for e in ENVS),
    nox.param("e2e", id="e2e"),
]


@session()
@nox.parametrize("env", SUITES)
def tests(s: nox.Session, env: str) -> None:
    """pytest by where it runs: unit (host venv), env (inside each environment), e2e; posargs to pytest."""
    if env in ENVS:
        python, folder = build(s, env, *ENVS[env].layers), "tests/env"
    else:
        python, folder = host(s), f"tests/{env}"
    # End-to-end tests mostly wait (installs, the index, nox on a copy): four at once; the ones sharing the
    # wheel cache stay in one worker (xdist_group).
    side_by_side = ["-n", "4", "--dist", "loadgroup"] if env == "e2e" else []
    s.run(python, "-m", "pytest", folder, *side_by_side, *s.posargs, external=True,
          env={**RUN_ENV, "GPUENV_UNDER_TEST": env})  # fmt: skip


@session(default=False)
@nox.parametrize("env", list(ENVS))
def kernel(s: nox.Session, env: str) -> None:
    """Register the environment as a Jupyter kernel (lock + notebook layer); `-- --remove` unregisters."""
    unknown = [arg for arg in s.posargs if arg != "--remove"]
    if unknown:
        s.error(f"expected no option or --remove, got {unknown[0]!r}")
    spec = ENVS[env]
    if "--remove" in s.posargs:
        # Only jupyter_client is needed to find and delete the kernelspec: the notebook layer alone, in a
        # venv of its own; it goes, and so does the kernel's venv.
        python = _venv(s, f"kernel-remove-{env}", [spec.layer_lock("notebook")], spec.python)
        if env in _kernelspecs(s, python):
            s.run(python, "-m", "jupyter", "kernelspec", "remove", "-y", env, external=True)
        else:
            s.log(f"no kernel named {env!r} is registered: nothing to remove")
        for name in (f"kernel-remove-{env}", f"env-{env}+notebook"):
            venvs.Venv.for_locks(ROOT, name, []).remove()
        return
    python = build(s, env, "notebook")
    # --user: ~/Library/Jupyter/kernels on macOS, ~/.local/share/jupyter/kernels on Linux (JUPYTER_DATA_DIR
    # moves it). Re-running replaces the spec, so registering is idempotent.
    s.run(python, "-m", "ipykernel", "install", "--user", "--name", env, "--display-name", spec.display,
          "--env", "PYTHONPATH", str(ROOT), "--env", "TF_CPP_MIN_LOG_LEVEL", "1", external=True)  # fmt: skip
    got = _kernelspecs(s, python).get(env, {})
    if got.get("spec", {}).get("argv", [None])[0] != python:
        s.error(f"expected kernel {env!r} to launch {python}, got {got or 'no such kernel'}")
    # Start it as Jupyter would and import the framework and checks/ in it.
    s.run(python, str(ROOT / "tools" / "kernel_smoke.py"), env, spec.framework, external=True)
    s.log(f"kernel {env!r} ({spec.display}) -> {got['resource_dir']}")


def _kernelspecs(s: nox.Session, python: str) -> dict[str, Any]:
    """Jupyter's own view of the installed kernels, from that venv's jupyter_client."""
    out = s.run(python, "-m", "jupyter", "kernelspec", "list", "--json", silent=True, external=True)
    found: dict[str, Any] = json.loads(str(out))["kernelspecs"]  # silent=True: run returns the output
    return found


@session(default=False)
@nox.parametrize("env", list(ENVS))
def run(s: nox.Session, env: str) -> None:
    """Run your command in the environment (its lock), from the repository root: `-- python -m pkg.mod`."""
    if not s.posargs:
        s.error("expected a command after --, got none: e.g. nox -s run -- python -m myproject.train")
    venv_bin = Path(build(s, env)).parent
    # As if activated: the venv's `python` (or any of its scripts) runs, and its bin folder leads PATH for
    # what the command starts (nox itself looks programs up on its own PATH).
    program, *rest = s.posargs
    if (venv_bin / program).exists():
        program = str(venv_bin / program)
    path = os.pathsep.join([str(venv_bin), os.environ.get("PATH", "")])
    env_vars = {**os.environ, **RUN_ENV, "PATH": path, "VIRTUAL_ENV": str(venv_bin.parent)}
    shown = shlex.join(s.posargs)
    s.log(shown)
    try:
        code = subprocess.run([program, *rest], env=env_vars, cwd=ROOT).returncode
    except OSError as exc:
        s.error(f"expected a command to run, got {shown!r}: {exc.strerror}")
    if code:
        # nox ends a failed session with exit code 1 whatever the command returned: this line keeps it.
        why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        s.error(f"expected `{shown}` to succeed in env-{env}, got {why} (nox itself exits 1)")


@session(default=False)
@nox.parametrize("env", list(ENVS))
def bench(s: nox.Session, env: str) -> None:
    """Time the sine fit (3 forms), matmul and copy on GPU and CPU vs known peaks (posargs: checks.bench)."""
    python = build(s, env)
    s.run(python, "-m", "checks.bench", "--framework", ENVS[env].framework, "--out-dir",
          str(ROOT / "results"), "--tag", env, *s.posargs, external=True,
          env={**RUN_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    s.notify("benchplot", posargs=[])  # not the bench options: it would read them as files


@session(default=False)
@nox.parametrize("env", list(ENVS))
def modelbench(s: nox.Session, env: str) -> None:
    """Time real-model training (ResNet-50, a transformer) on GPU and CPU (posargs: checks.modelbench)."""
    framework = ENVS[env].framework
    if not frameworks.declared(framework).get("MODEL_BENCH"):
        s.skip(f"{framework} declares no model bench (MODEL_BENCH): docs/models.md says why")
    python = build(s, env)
    s.run(python, "-m", "checks.modelbench", "--framework", framework, "--out-dir", str(ROOT / "results"),
          "--tag", env, *s.posargs, external=True, env={**RUN_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    s.notify("benchplot", posargs=[])


# ---- audit (issue 23): which ops of your training step have no MPS kernel, per torch release -----------
@session(default=False)
@nox.parametrize("env", [name for name, spec in ENVS.items() if spec.framework == "torch"])
def audit(s: nox.Session, env: str) -> None:
    """Which ops of your CPU training step lack an MPS kernel in this torch (posargs: checks.audit)."""
    if not s.posargs:
        s.error("expected what to audit after --, e.g. `nox -s audit -- --model torchvision.models:resnet50 "
                "--input 8,3,224,224` or `-- --step myproject.train:audit_step`, got nothing")  # fmt: skip
    spec = ENVS[env]
    # The test venv (its dev layer has PyYAML, which torch's own torchgen reads native_functions.yaml with).
    python = build(s, env, *spec.layers)
    floor = ["--macos-floor", spec.floors["macos-arm64"]] if "macos-arm64" in spec.floors else []
    s.run(python, "-m", "checks.audit", "--env", env, *floor, "--out-dir", str(ROOT / "results"),
          *s.posargs, external=True, env=RUN_ENV)  # fmt: skip


@session(default=False)
def benchplot(s: nox.Session) -> None:
    """Render bench and modelbench JSON as markdown tables and PNG plots (posargs: JSON files)."""
    results = ROOT / "results"
    files = s.posargs or sorted(
        str(p) for p in [*results.glob("bench-*.json"), *results.glob("models-*.json")]
    )
    if not files:
        s.error(
            "expected results/bench-*.json or results/models-*.json, got none: run `nox -s bench` or "
            "`nox -s modelbench` first"
        )
    s.run(host(s), str(ROOT / "tools" / "benchplot.py"), *files, external=True)


@session(default=False)
def lint(s: nox.Session) -> None:
    """pre-commit: ruff, mypy, YAML, Actions schemas, zizmor, sp-repo-review on every tracked file."""
    if not (ROOT / ".git").exists():
        s.error(
            f"expected a git checkout at {ROOT} (pre-commit lints the files git tracks), got none: clone it"
        )
    host(s)  # the hooks name the tools in both venvs by path (.pre-commit-config.yaml)
    pre_commit = Path(_venv(s, "lint", [LINT.lock], LINT.python)).parent / "pre-commit"
    s.run(str(pre_commit), "run", "--all-files", "--show-diff-on-failure", *s.posargs, external=True)


@session(default=False)
@nox.parametrize("env", ["host", *ENVS])
def doctor(s: nox.Session, env: str) -> None:
    """Why a GPU is or is not used: the machine, then each environment; `-- --error-file LOG`: an error."""
    report = ["--json", str(ROOT / "results" / f"doctor-{env}.json"), *s.posargs]
    doctor_env = {"PYTHONPATH": str(ROOT)}
    if env == "host":  # nox's own Python, no environment: it runs even where none can be built
        found = [a for py, names in envspec.pythons().items() for a in _env_python_args(py, names)]
        s.run(sys.executable, "-m", "checks.doctor", *found, *report, external=True, env=doctor_env)
        return
    spec = ENVS[env]
    if not interpreters.find_python(spec.python):
        s.skip(f"no Python {spec.python} to build the {env} environment: see doctor(env='host')")
    _spec(s, spec)
    python, problem = _try_venv(s, f"env-{env}", [spec.lock], spec.python)
    if problem:  # a build failure is a finding too: the host Python reports it through the same rules
        s.run(sys.executable, "-m", "checks.doctor", "--build-error", problem, *report, external=True,
              env=doctor_env)  # fmt: skip
        return
    s.run(python, "-m", "checks.doctor", "--framework", spec.framework, *report, external=True,
          env={**doctor_env, "TF_CPP_MIN_LOG_LEVEL": "1"})  # fmt: skip


def _env_python_args(python: str, names: list[str]) -> list[str]:
    return ["--env-python", f"{python}={interpreters.find_python(python) or ''}",
            "--env-python-for", f"{python}={','.join(names)}"]  # fmt: skip


@session(default=False)
def wheels(s: nox.Session) -> None:
    """Every lock's real wheels for each of its targets: sha256, tags, minimum OS, MPS, Metal plugin."""
    for spec in ENVS.values():
        _spec(s, spec)
    s.run(host(s), "-m", "tools.wheels", "--json", str(ROOT / "results" / "wheels.json"), *s.posargs,
          env={"PYTHONPATH": str(ROOT)}, external=True)  # fmt: skip


@session(default=False)
def pair(s: nox.Session) -> None:
    """Can a TensorFlow and a tensorflow-metal work together? Two pins after `--`, or `--matrix`: all."""
    if not s.posargs:
        s.error(
            "expected two pins after --, e.g. "
            "`nox -s pair -- tensorflow==2.18.0 tensorflow-metal==1.2.0` (or `-- --matrix`), got none"
        )
    tool = "tools.tfmatrix" if "--matrix" in s.posargs else "tools.tfpair"
    s.run(host(s), "-m", tool, *s.posargs, env={"PYTHONPATH": str(ROOT)}, external=True)


@session(default=False)
def lock(s: nox.Session) -> None:
    """Relock all from their inputs; `-- --check`: fail on a stale lock; `-- --upgrade[-package NAME]`."""
    try:
        opts = relock.options(s.posargs)
        plan = locks.plan()
        for env in ENVS.values():
            envspec.read_conda_file(env)
        if opts.check:
            relock.check(plan, s.log)
        else:
            relock.relock(plan, opts, ROOT, s.log)
    except (relock.RelockError, envspec.SpecError) as exc:
        s.error(str(exc))


if __name__ == "__main__":  # `./noxfile.py -s verify`: uv runs it with the script block's needs (the shebang)
    nox.main()
