"""The plumbing of every nox session, so noxfile.py holds sessions only: the environment table read once
(its error kept as one line for every session to show), our venvs built from their locks (one file lock per
venv: two sessions building one venv wait for each other), refused under `nox -R` when stale, and the
checks that come first (a malformed spec, a stale lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nox
from nox.command import CommandFailed

from tools import locks
from tools.envs import envspec
from tools.session import interpreters, venvs


@dataclass(frozen=True)
class Table:
    """pyproject.toml [tool.gpuenv], read once when the noxfile loads. A malformed table is `error` (its one
    line), and `names` is then what the raw table lists, so every session still exists to say it."""

    envs: dict[str, envspec.Environment] = field(default_factory=dict)
    standalone: dict[str, envspec.Lockable] = field(default_factory=dict)
    error: str = ""
    names: tuple[str, ...] = ()

    def check(self, s: nox.Session) -> None:
        """End the session with the table's one line where the table is malformed."""
        if self.error:
            s.error(self.error)


def load_table(root: Path) -> Table:
    try:
        envs, standalone = envspec.environments(root), envspec.standalone(root)
    except envspec.SpecError as exc:
        raw = envspec.pyproject(root).get("tool", {}).get("gpuenv", {}).get("environments", {})
        return Table(error=str(exc), names=tuple(raw))
    return Table(envs, standalone, names=tuple(envs))


def reusing(s: nox.Session) -> bool:
    """`nox -R` (--no-install): nox skips installs only in venvs it made itself, so ask its option."""
    return bool(getattr(s._runner.global_config, "no_install", False))


def lock_file(venv: venvs.Venv) -> Path:
    """The file lock beside the venv (.nox/NAME.lock): held while it is removed, made or installed into."""
    return venv.path.with_name(venv.path.name + ".lock")


@contextlib.contextmanager
def building(venv: venvs.Venv, log: Callable[[str], object]) -> Iterator[None]:
    """Hold the venv's file lock; where another session holds it, say so and wait for it (fcntl: released
    by the kernel when that process ends, however it ends)."""
    path = lock_file(venv)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            where = venv.path.relative_to(venv.root).as_posix()
            log(f"waiting for another nox session building {where} (it holds {path.relative_to(venv.root)})")
            fcntl.flock(held, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def try_venv(s: nox.Session, venv: venvs.Venv, python: str) -> tuple[str, str]:
    """(its python, "") or ("", the one-line reason): doctor reports a failed build as a finding."""
    problem = venv.missing_lock()
    if problem:
        return "", problem
    if reusing(s):
        if not venv.stamped():
            files = " + ".join(venv.files)
            stale = f"expected {venv.path.name} built from {files}, got a stale or half-built venv"
            return "", f"{stale}: run again without -R"
        return str(venv.python), ""
    base = interpreters.find_python(python)
    if not base:
        return "", interpreters.missing_message(python)
    with building(venv, s.log):
        problem = _make(s, venv, base)
    return ("", problem) if problem else (str(venv.python), "")


def _make(s: nox.Session, venv: venvs.Venv, base: str) -> str:
    """Create (where not already stamped) and sync the venv; "" or the one line naming why it failed, the
    half-built venv removed."""
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
        return problem
    venv.mark_built()
    return ""


def _install(s: nox.Session, venv: venvs.Venv, uv: bool) -> str:
    """Install the locks, the installer's output shown; "" or the one line naming why it failed."""
    cmd = venv.install_command(uv)
    s.log(" ".join(cmd))
    code, output = venvs.run_install(cmd)
    if not code:
        return ""
    return venvs.install_problem(output, venv.files, offline=uv and venvs.uv_offline(os.environ))


def venv_python(s: nox.Session, venv: venvs.Venv, python: str) -> str:
    """The venv's python, built if needed; the session ends with the one line where it cannot be."""
    built, problem = try_venv(s, venv, python)
    return built or s.error(problem)


def spec_problem(env: envspec.Environment) -> str | None:
    """Why the environment's files cannot be built from (a malformed yml or lock, a lock behind its .in):
    one line, or None."""
    try:
        envspec.read_conda_file(env)
        problems = envspec.lock_problems(env)
    except envspec.SpecError as exc:
        return str(exc)
    if problems:
        more = f"; {len(problems) - 1} more" if problems[1:] else ""
        return f"{problems[0]} (run `nox -s lock`){more}"
    return None


def check_spec(s: nox.Session, env: envspec.Environment) -> None:
    """Refuse to build from a malformed spec: one line naming the file and what is wrong."""
    problem = spec_problem(env)
    if problem:
        s.error(problem)


def stale(env: envspec.Environment) -> str | None:
    """One line when the environment's lock no longer matches its inputs (the offline `--check` logic)."""
    lock = locks.env_lock(env)
    why = locks.staleness(lock)
    if why:
        return f"expected {lock.rel()} current with its inputs, got it stale ({why}): run `nox -s lock`"
    return None


def env_venv(root: Path, env: envspec.Environment, *layers: str) -> venvs.Venv:
    """The venv of the environment's lock plus these layers: .nox/env-NAME[+LAYER...]."""
    locked = [env.lock, *map(env.layer_lock, layers)]
    return venvs.Venv.for_locks(root, "+".join(["env-" + env.name, *layers]), locked)


def build(s: nox.Session, root: Path, env: envspec.Environment, *layers: str) -> str:
    """The environment's venv (its lock plus these layers), checked against its spec; its python."""
    check_spec(s, env)
    return venv_python(s, env_venv(root, env, *layers), env.python)


def standalone_python(s: nox.Session, root: Path, lockable: envspec.Lockable, name: str) -> str:
    """A standalone lock's venv (.nox/NAME): the host tools, lint's tools; its python."""
    return venv_python(s, venvs.Venv.for_locks(root, name, [lockable.lock]), lockable.python)


def kernelspecs(s: nox.Session, python: str) -> dict[str, Any]:
    """Jupyter's own view of the installed kernels, from that venv's jupyter_client."""
    out = s.run(python, "-m", "jupyter", "kernelspec", "list", "--json", silent=True, external=True)
    found: dict[str, Any] = json.loads(str(out))["kernelspecs"]  # silent=True: run returns the output
    return found
