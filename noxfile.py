#!/usr/bin/env -S uv run --script
# /// script
# requires-python = ">=3.9"
# dependencies = [
#   "nox>=2025.2.9", "packaging>=22", "ruamel.yaml>=0.17", "tomli>=2; python_version < '3.11'",
# ]
# ///
"""Build each environment from its lock and prove it works. A bare `nox` runs verify (the sessions marked
*), the first thing to run on a new machine; `nox -s tests` runs the test suite; `nox -t TAG` runs a group
(verify, tests, use, bench, evidence, maintain).

The environments and targets are data (pyproject.toml [tool.gpuenv]); the plumbing lives in tools/session/
(build.py: the table, our venvs, the checks before a build). Sessions run in venvs of our own, one per lock
set, shared by every session that needs exactly it, so nox's own venv is none.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # tools/ lives beside this file; nox does not put it on sys.path

from checks import frameworks  # noqa: E402  (standard library only: reads declared constants)
from tools import locks  # noqa: E402
from tools.envs import envspec  # noqa: E402
from tools.locks import relock  # noqa: E402
from tools.session import build, interpreters, results, venvs  # noqa: E402

nox.needs_version = ">=2025.2.9"
nox.options.error_on_missing_interpreters = True

TABLE = build.load_table(ROOT)  # read once; a malformed table is one line, at `nox -l` and in every session
if TABLE.error:
    __doc__ = f"{__doc__}\n{TABLE.error}"  # what `nox -l` prints above the sessions
ENVS, NAMES = TABLE.envs, list(TABLE.names)
RUN_ENV = {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "1"}


def session(*tags: str, default: bool = False) -> Callable[[Callable[..., None]], object]:
    """nox.session making no venv (every session's venv is one of ours), tagged for `nox -t`; it first
    ends with the table's one line where the table is malformed. Only verify is a default."""

    def decorate(func: Callable[..., None]) -> object:
        @functools.wraps(func)
        def checked(s: nox.Session, *args: Any, **kwargs: Any) -> None:
            TABLE.check(s)
            func(s, *args, **kwargs)

        return nox.session(venv_backend="none", default=default, tags=list(tags))(checked)

    return decorate


def host(s: nox.Session) -> str:
    """The host tools' venv (requirements/dev.txt: pytest, uv, ruff, macholib, matplotlib, ...)."""
    return build.standalone_python(s, ROOT, TABLE.standalone["dev"], "host")


@session("verify", default=True)
@nox.parametrize("env", NAMES)
def verify(s: nox.Session, env: str) -> None:
    """Build the environment from its lock and prove the sine fit on the best device (mps > cuda > cpu)."""
    spec = ENVS[env]
    report = ROOT / "results" / f"verify-{env}.json"
    venv = build.env_venv(ROOT, spec)  # the one Venv of this session
    digest = venv.digest() if not venv.missing_lock() else "none"

    def fail(why: str) -> None:  # the results file says so before the session ends
        results.write(report, results.record(env, venv.files, digest, results.FAILED, why))
        s.error(why)

    results.write(report, results.record(env, venv.files, digest, results.RUNNING))
    problem = build.spec_problem(spec) or build.stale(spec)
    if problem:
        fail(problem)
    python, problem = build.try_venv(s, venv, spec.python)
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


SUITES = ["unit", *NAMES, "e2e"]  # one name form for all: tests(env='unit'), tests(env='torch'), ...


# Not a default: a bare `nox` runs verify alone, what a newcomer wants first, not 14 minutes of tests.
@session("tests")
@nox.parametrize("env", SUITES)
def tests(s: nox.Session, env: str) -> None:
    """pytest by where it runs: unit (host venv), env (inside each environment), e2e; posargs to pytest."""
    if env in ENVS:
        python, folder = build.build(s, ROOT, ENVS[env], *ENVS[env].layers), "tests/env"
    else:
        python, folder = host(s), f"tests/{env}"
    # End-to-end tests mostly wait (installs, the index, nox on a copy): four at once; the ones sharing the
    # wheel cache stay in one worker (xdist_group).
    side_by_side = ["-n", "4", "--dist", "loadgroup"] if env == "e2e" else []
    s.run(python, "-m", "pytest", folder, *side_by_side, *s.posargs, external=True,
          env={**RUN_ENV, "GPUENV_UNDER_TEST": env})  # fmt: skip


@session("use")
@nox.parametrize("env", NAMES)
def kernel(s: nox.Session, env: str) -> None:
    """Register the environment as a Jupyter kernel (lock + notebook layer); `-- --remove` unregisters."""
    unknown = [arg for arg in s.posargs if arg != "--remove"]
    if unknown:
        s.error(f"expected no option or --remove, got {unknown[0]!r}")
    spec = ENVS[env]
    if "--remove" in s.posargs:
        # Only jupyter_client is needed to find and delete the kernelspec: the notebook layer alone, in a
        # venv of its own; it goes, and so does the kernel's venv.
        remover = venvs.Venv.for_locks(ROOT, f"kernel-remove-{env}", [spec.layer_lock("notebook")])
        python = build.venv_python(s, remover, spec.python)
        if env in build.kernelspecs(s, python):
            s.run(python, "-m", "jupyter", "kernelspec", "remove", "-y", env, external=True)
        else:
            s.log(f"no kernel named {env!r} is registered: nothing to remove")
        for name in (f"kernel-remove-{env}", f"env-{env}+notebook"):
            venvs.Venv.for_locks(ROOT, name, []).remove()
        return
    python = build.build(s, ROOT, spec, "notebook")
    # --user: ~/Library/Jupyter/kernels on macOS, ~/.local/share/jupyter/kernels on Linux (JUPYTER_DATA_DIR
    # moves it). Re-running replaces the spec, so registering is idempotent.
    s.run(python, "-m", "ipykernel", "install", "--user", "--name", env, "--display-name", spec.display,
          "--env", "PYTHONPATH", str(ROOT), "--env", "TF_CPP_MIN_LOG_LEVEL", "1", external=True)  # fmt: skip
    got = build.kernelspecs(s, python).get(env, {})
    if got.get("spec", {}).get("argv", [None])[0] != python:
        s.error(f"expected kernel {env!r} to launch {python}, got {got or 'no such kernel'}")
    # Start it as Jupyter would and import the framework and checks/ in it.
    s.run(python, "-m", "checks.kernel_smoke", env, spec.framework, external=True, env=RUN_ENV)
    s.log(f"kernel {env!r} ({spec.display}) -> {got['resource_dir']}")


@session("use")
@nox.parametrize("env", NAMES)
def run(s: nox.Session, env: str) -> None:
    """Run your command in the environment (its lock), from the repository root: `-- python -m pkg.mod`."""
    if not s.posargs:
        example = f"nox -s \"run(env='{env}')\" -- python -m myproject.train"
        s.error(f"expected a command after --, got none: e.g. {example}")
    venv_bin = Path(build.build(s, ROOT, ENVS[env])).parent
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


@session("bench")
@nox.parametrize("env", NAMES)
def bench(s: nox.Session, env: str) -> None:
    """Time the sine fit (3 forms), matmul and copy on GPU and CPU vs known peaks (posargs: checks.bench)."""
    python = build.build(s, ROOT, ENVS[env])
    s.run(python, "-m", "checks.bench", "--framework", ENVS[env].framework, "--out-dir",
          str(ROOT / "results"), "--tag", env, *s.posargs, external=True,
          env={**RUN_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    s.notify("benchplot", posargs=[])  # not the bench options: it would read them as files


@session("bench")
@nox.parametrize("env", NAMES)
def modelbench(s: nox.Session, env: str) -> None:
    """Time real-model training (ResNet-50, a transformer) on GPU and CPU (posargs: checks.modelbench)."""
    framework = ENVS[env].framework
    if not frameworks.declared(framework).get("MODEL_BENCH"):
        s.skip(f"{framework} declares no model bench (MODEL_BENCH): docs/models.md says why")
    python = build.build(s, ROOT, ENVS[env])
    s.run(python, "-m", "checks.modelbench", "--framework", framework, "--out-dir", str(ROOT / "results"),
          "--tag", env, *s.posargs, external=True, env={**RUN_ENV, "TF_CPP_MIN_LOG_LEVEL": "2"})  # fmt: skip
    s.notify("benchplot", posargs=[])


@session("bench")
def benchplot(s: nox.Session) -> None:
    """Render bench and modelbench JSON as markdown tables and PNG plots (posargs: JSON files)."""
    results = ROOT / "results"
    files = s.posargs or sorted(map(str, [*results.glob("bench-*.json"), *results.glob("models-*.json")]))
    if not files:
        run_first = "run `nox -s bench` or `nox -s modelbench` first"
        s.error(f"expected results/bench-*.json or results/models-*.json, got none: {run_first}")
    s.run(host(s), str(ROOT / "tools" / "plots" / "benchplot.py"), *files, external=True)


@session("maintain")
def lint(s: nox.Session) -> None:
    """pre-commit: ruff, mypy, YAML, Actions schemas, zizmor, sp-repo-review on every tracked file."""
    if not (ROOT / ".git").exists():
        s.error(
            f"expected a git checkout at {ROOT} (pre-commit lints the files git tracks), got none: clone it"
        )
    host(s)  # the hooks name the tools in both venvs by path (.pre-commit-config.yaml)
    pre_commit = (
        Path(build.standalone_python(s, ROOT, TABLE.standalone["lint"], "lint")).parent / "pre-commit"
    )
    s.run(str(pre_commit), "run", "--all-files", "--show-diff-on-failure", *s.posargs, external=True)


@session("use")
@nox.parametrize("env", ["host", *NAMES])
def doctor(s: nox.Session, env: str) -> None:
    """Why a GPU is or is not used: the machine, then each environment; `-- --error-file LOG`: an error."""
    report = ["--json", str(ROOT / "results" / f"doctor-{env}.json"), *s.posargs]
    doctor_env = {"PYTHONPATH": str(ROOT)}
    if env == "host":  # nox's own Python, no environment: it runs even where none can be built
        found = interpreters.doctor_args(envspec.pythons(ROOT))
        s.run(sys.executable, "-m", "checks.doctor", *found, *report, external=True, env=doctor_env)
        return
    spec = ENVS[env]
    if not interpreters.find_python(spec.python):
        s.skip(f"no Python {spec.python} to build the {env} environment: see doctor(env='host')")
    build.check_spec(s, spec)
    python, problem = build.try_venv(s, build.env_venv(ROOT, spec), spec.python)
    if problem:  # a build failure is a finding too: the host Python reports it through the same rules
        s.run(sys.executable, "-m", "checks.doctor", "--build-error", problem, *report, external=True,
              env=doctor_env)  # fmt: skip
        return
    s.run(python, "-m", "checks.doctor", "--framework", spec.framework, *report, external=True,
          env={**doctor_env, "TF_CPP_MIN_LOG_LEVEL": "1"})  # fmt: skip


@session("evidence")
def wheels(s: nox.Session) -> None:
    """Every lock's real wheels for each of its targets: sha256, tags, minimum OS, MPS, Metal plugin."""
    for spec in ENVS.values():
        build.check_spec(s, spec)
    s.run(host(s), "-m", "tools.mac.wheels", "--json", str(ROOT / "results" / "wheels.json"), *s.posargs,
          env={"PYTHONPATH": str(ROOT)}, external=True)  # fmt: skip


@session("evidence")
def disk(s: nox.Session) -> None:
    """The disk a CI run left: every cache and venv folder .ci/run fills, and their total (docs/ci.md)."""
    s.run(host(s), "-m", "tools.session.disksize", "--json", str(ROOT / "results" / "disk.json"),
          *s.posargs, env={"PYTHONPATH": str(ROOT)}, external=True)  # fmt: skip


@session("evidence")
def pair(s: nox.Session) -> None:
    """Can a TensorFlow and a tensorflow-metal work together? Two pins after `--`, or `--matrix`: all."""
    if not s.posargs:
        example = "`nox -s pair -- tensorflow==2.18.0 tensorflow-metal==1.2.0` (or `-- --matrix`)"
        s.error(f"expected two pins after --, e.g. {example}, got none")
    tool = "tools.mac.tfmatrix" if "--matrix" in s.posargs else "tools.mac.tfpair"
    s.run(host(s), "-m", tool, *s.posargs, env={"PYTHONPATH": str(ROOT)}, external=True)


@session("maintain")
def lock(s: nox.Session) -> None:
    """Relock all from their inputs; `-- --check`: fail on a stale lock; `-- --upgrade[-package NAME]`."""
    try:
        opts = relock.options(s.posargs)
        plan = locks.plan()
        for env in ENVS.values():
            envspec.read_conda_file(env)
        if opts.check:
            relock.check(plan, s.log)
            return
        # The host venv's uv, the one requirements/tools.txt pins, never the uv on PATH; a second pass when
        # this relock moved that pin, so every lock ends up written by the uv it pins.
        for _ in range(2):
            if relock.relock(plan, opts, ROOT, s.log, relock.uv_at(Path(host(s)).parent / "uv")):
                return
        s.error(f"expected every lock written by uv {locks.pinned_uv()}, got another uv in .nox/host")
    except (relock.RelockError, envspec.SpecError) as exc:
        s.error(str(exc))


if __name__ == "__main__":  # `./noxfile.py -s verify`: uv runs it with the script block's needs (the shebang)
    nox.main()
