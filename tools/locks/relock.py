"""`nox -s lock`: relock every lock from its inputs, all or nothing; `--check` compares stamps offline.

Everything is resolved in a staging copy of requirements/ (uv and conda-lock keep the pins already there
unless told to upgrade, so plain relocks move nothing that need not move); the locks are moved into place
only when every one of them succeeded. Each uv lock is resolved for its own Python and targets: the
staging folder's pyproject.toml carries that lock's `[tool.uv] environments` (uv reads them from its
working folder and accepts them nowhere else), derived from pyproject.toml's [tool.gpuenv] tables.

A frozen environment (`frozen = "why"` in its pyproject.toml row: the seeds) is never upgraded: under
`--upgrade` or `--upgrade-package` its lock and layers are relocked as by a plain `nox -s lock`, which moves
only what its inputs force (nothing, when they are unchanged). Seeds never move, current ones do.

The noxfile calls `options`, `check` and `relock`; every failure is a RelockError whose message is the one
line the session prints.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

from packaging.utils import canonicalize_name

from tools import locks
from tools.envs import condaenv

Log = Callable[[str], None]

CONDA_LOCK_HOWTO = (
    "it is made by `nox -s lock` on a machine with conda-lock, conda (or mamba/micromamba) and conda-forge "
    'reachable (docs/locks.md, "Refreshing the conda-lock files")'
)
CONDA_FORGE = "https://conda.anaconda.org/conda-forge/noarch/repodata.json"


class RelockError(Exception):
    """Relocking cannot go on; the message is one line naming what is wrong and what to do."""


class _Args(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so the error is one line."""

    def error(self, message: str) -> NoReturn:
        raise RelockError(
            f"expected `--check`, `--upgrade` or `--upgrade-package NAME` after `--`, got: {message}"
        )


@dataclass(frozen=True)
class Options:
    check: bool = False
    upgrade: bool = False
    upgrade_package: tuple[str, ...] = ()


def options(argv: list[str]) -> Options:
    parser = _Args(prog="nox -s lock --", add_help=False, allow_abbrev=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--upgrade", action="store_true")
    mode.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    return Options(args.check, args.upgrade, tuple(args.upgrade_package))


def check(plan: list[locks.Lock], log: Log) -> None:
    """Compare each lock's stamp with its inputs now; touches nothing, needs no network."""
    stale = []
    for lock in plan:
        if lock.kind == "conda-lock" and not lock.output.exists():
            log(f"{lock.rel()} is missing: {CONDA_LOCK_HOWTO}")
            continue
        why = locks.staleness(lock)
        log(f"{lock.rel()} is stale: {why}" if why else f"{lock.rel()} is current")
        if why:
            stale.append(f"{lock.rel()} ({why})")
    if stale:
        raise RelockError(
            f"expected every lock current with its inputs, got stale {'; '.join(stale)}: run `nox -s lock`"
        )


@dataclass(frozen=True)
class Uv:
    """The uv that writes the locks: its path and the version it reports."""

    path: Path
    version: str


def uv_at(path: Path) -> Uv:
    """The uv at `path` (the host venv's, pinned by requirements/tools.txt), asked for its version."""
    try:
        said = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RelockError(f"expected a working uv at {path}, got {exc}: run `nox -s lock` again") from None
    return Uv(path, said.split()[1])


def relock(plan: list[locks.Lock], opts: Options, root: Path, log: Log, uv: Uv) -> bool:
    """Resolve every lock in a staging copy with `uv`, then move the changed ones into place. True when
    `uv` is the one requirements/tools.txt pins now (False: this relock moved the pin; run it again with
    the uv it pins, so every lock's bytes are that uv's)."""
    pinned = locks.pinned_names([lock for lock in plan if not frozen(lock)])
    for name in opts.upgrade_package:
        if not locks.PACKAGE_NAME.match(name) or canonicalize_name(name) not in pinned:
            raise RelockError(
                f"--upgrade-package: expected a package pinned in some lock that is not frozen, got {name!r}"
            )
    log(
        f"locking with uv {uv.version} ({uv.path}): the uv requirements/tools.txt pins, "
        "whatever uv is on PATH"
    )
    with one_relock(root):
        (root / ".cache").mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="lock-staging-", dir=root / ".cache"))  # this run's own
        try:
            shutil.copytree(root / "requirements", staging / "requirements")
            for wave in waves(chains(plan)):
                _resolve_chains(wave, staging, opts, log, uv)
            conda = [lock for lock in plan if lock.kind == "conda-lock"]
            done = [lock for lock in plan if lock.kind == "uv"]
            done += [lock for lock in conda if _resolve(lock, staging, staging, opts, log, uv)]
            swap([(lock, staging / lock.output.relative_to(root)) for lock in done], log)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return locks.pinned_uv(root) == uv.version


@contextlib.contextmanager
def one_relock(root: Path) -> Iterator[None]:
    """One `nox -s lock` at a time per clone: an OS lock on .cache/relock.lock, released when the process
    ends however it ends (so a killed run leaves nothing to clean up)."""
    (root / ".cache").mkdir(exist_ok=True)
    with (root / ".cache" / "relock.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RelockError(
                "expected no other relock running in this clone, got another `nox -s lock` holding "
                ".cache/relock.lock: wait for it to finish, then run again"
            ) from None
        yield


def swap(staged: list[tuple[locks.Lock, Path]], log: Log) -> None:
    """Put every changed lock in place, all or nothing: each new lock is first copied beside its old one
    (same folder, same filesystem), then renamed over it; if any step fails or is interrupted, the locks
    already replaced are put back from copies of the old ones, so the set is never mixed."""
    beside: list[tuple[locks.Lock, Path, Path]] = []
    backups: list[tuple[locks.Lock, Path]] = []
    created: list[Path] = []
    try:
        changed = [(lock, new) for lock, new in staged if not _unchanged(lock, new, log)]
        beside = [(lock, lock.output.with_name(f".{lock.output.name}.new"), new) for lock, new in changed]
        for _lock, near, new in beside:
            shutil.copyfile(new, near)
        for lock, near, new in beside:
            if lock.output.exists():
                backup = lock.output.with_name(f".{lock.output.name}.old")
                shutil.copyfile(lock.output, backup)
                backups.append((lock, backup))
            else:
                created.append(lock.output)
            changes = locks.pin_changes(lock.output, new) if lock.kind == "uv" else []
            os.replace(near, lock.output)
            log(f"{lock.rel()} written" + (f": {', '.join(changes)}" if changes else ""))
    except BaseException as exc:
        for lock, backup in backups:
            os.replace(backup, lock.output)
        for path in created:
            path.unlink(missing_ok=True)
        for _lock, near, _new in beside:
            near.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise RelockError(
                f"expected to put the new locks in place, got {exc.strerror or exc} ({exc.filename}): "
                "no lock was changed (make requirements/ writable, with room on its disk, and run again)"
            ) from None
        raise
    for _lock, backup in backups:
        backup.unlink(missing_ok=True)


def _unchanged(lock: locks.Lock, new: Path, log: Log) -> bool:
    if lock.output.exists() and lock.output.read_bytes() == new.read_bytes():
        log(f"{lock.rel()} unchanged")
        return True
    return False


def chains(plan: list[locks.Lock]) -> list[list[locks.Lock]]:
    """The uv locks in independent chains: an environment's lock then its layers (each layer is resolved
    against the locks before it), or one standalone lock. Chains share nothing, so they resolve at once."""
    found: dict[str, list[locks.Lock]] = {}
    for lock in plan:
        if lock.kind == "uv":
            found.setdefault(lock.lockable.lock.as_posix(), []).append(lock)
    return list(found.values())


def waves(found: list[list[locks.Lock]]) -> list[list[list[locks.Lock]]]:
    """The chains in waves: first those whose locks others are resolved within (tools.txt, for the host
    venv's dev.txt), then the rest at once."""

    def needed_by_others(chain: list[locks.Lock]) -> bool:
        outputs = {lock.output for lock in chain}
        return any(outputs & set(lock.constraints) for other in found if other is not chain for lock in other)

    first = [chain for chain in found if needed_by_others(chain)]
    return [wave for wave in (first, [chain for chain in found if chain not in first]) if wave]


def _resolve_chains(chains: list[list[locks.Lock]], staging: Path, opts: Options, log: Log, uv: Uv) -> None:
    """Each chain in a working folder of its own (its pyproject.toml holds that chain's resolver
    environments; requirements/ is the shared staged copy), all at once: resolving waits on the index far
    more than on the CPU. The first failure is raised once every chain has stopped."""

    def run(chain: list[locks.Lock]) -> None:
        workdir = staging / f"work-{chain[0].lockable.name}"
        workdir.mkdir()
        (workdir / "requirements").symlink_to(staging / "requirements", target_is_directory=True)
        for lock in chain:
            _resolve(lock, staging, workdir, opts, log, uv)

    with ThreadPoolExecutor(max_workers=len(chains) or 1) as pool:
        futures = [pool.submit(run, chain) for chain in chains]
    errors = [exc for f in futures if (exc := f.exception()) is not None]
    if errors:
        raise errors[0]


def frozen(lock: locks.Lock) -> str:
    """Why this lock's versions never move (its environment's `frozen` reason), or ""."""
    return getattr(lock.lockable, "frozen", "")


def options_for(lock: locks.Lock, opts: Options) -> Options:
    """The options one lock is resolved with: a frozen environment's locks are never upgraded."""
    return Options() if frozen(lock) and (opts.upgrade or opts.upgrade_package) else opts


def _resolve(lock: locks.Lock, staging: Path, workdir: Path, opts: Options, log: Log, uv: Uv) -> bool:
    """Resolve one lock into its staged copy and stamp it; False where it cannot be made here (conda)."""
    if options_for(lock, opts) != opts:
        log(f"{lock.rel()} is frozen ({frozen(lock)}): relocked from its inputs only, not upgraded")
        opts = options_for(lock, opts)

    def staged(path: Path) -> Path:
        return staging / path.relative_to(lock.root)

    out = staged(lock.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if lock.kind == "uv":
        extra = ["--upgrade"] if opts.upgrade else []
        extra += [a for name in opts.upgrade_package for a in ("--upgrade-package", name)]
        extra += [a for c in lock.constraints for a in ("--constraint", lock.rel(c))]
        _uv_compile(lock, workdir, extra, log, uv.path)
    elif not _conda_lock(lock, out, opts, log):
        return False
    version = uv.version if lock.kind == "uv" else None
    out.write_text(locks.stamped(lock, out.read_text(), lambda path: staged(path).read_text(), version))
    return True


def resolver_config(lock: locks.Lock) -> str:
    """The pyproject.toml uv reads in the staging folder: this lock's resolver environments."""
    rows = ",\n".join(f"  {json.dumps(marker)}" for marker in lock.lockable.resolver_environments())
    return f"# Written by tools/locks/relock.py for {lock.rel()}.\n[tool.uv]\nenvironments = [\n{rows},\n]\n"


def _uv_compile(lock: locks.Lock, workdir: Path, extra: list[str], log: Log, uv: Path) -> None:
    """One universal, hashed resolution in a staging folder; uv's failure is cut to the line that says why."""
    (workdir / "pyproject.toml").write_text(resolver_config(lock))
    options = locks.uv_compile_options(lock.lockable)
    cmd = [str(uv), "pip", "compile", "--quiet", *options, lock.rel(lock.source), "-o", lock.rel(), *extra]
    log(" ".join(["uv", *cmd[1:]]))
    done = subprocess.run(
        cmd,
        cwd=workdir,
        capture_output=True,
        text=True,
        # UV_PYTHON_DOWNLOADS=never: with --python-version X.Y.Z, uv otherwise looks for that exact
        # interpreter and tries to download it (an 18 s stall per lock where the download host is out of
        # reach, seen here with uv 0.13.8 and `-v`); a universal resolution needs no such interpreter.
        env={**os.environ, "UV_CUSTOM_COMPILE_COMMAND": "nox -s lock", "UV_PYTHON_DOWNLOADS": "never"},
    )
    if done.returncode != 0:
        raise RelockError(compile_problem(done.stderr, lock.rel(lock.source)))


def compile_problem(stderr: str, source: str) -> str:
    """uv pip compile's failure as one line naming the .in and why: the line it could not parse, the index
    it could not reach, or the resolver's reason."""
    why = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    causes = [ln.removeprefix("cause:").strip() for ln in why if ln.startswith("cause:")]
    if why and why[0].startswith("error: Couldn't parse requirement"):
        # uv shows the offending text, then a ^^^ line under it
        marks = next((i for i, ln in enumerate(why) if set(ln) == {"^"}), None)
        text = why[marks - 1] if marks else "?"
        said = causes[0] if causes else why[0]
        return f"{source}: expected a valid requirement, got {text!r} (uv: {said}): fix that line"
    url = next(
        (c.removeprefix("Failed to fetch:").strip() for c in causes if c.startswith("Failed to fetch:")), None
    )
    if url:
        return (
            f"{source}: expected the package index to answer, got no answer from {url} ({causes[-1]}): "
            "check the network and the index URL (UV_INDEX_URL, uv.toml)"
        )
    detail = next((c for c in causes if "Because" in c), None)
    detail = detail or next(
        (ln.lstrip("╰─▶ ") for ln in why if ln.startswith("╰─▶") or "Because" in ln), None
    )
    return f"{source}: expected a resolvable set, got: {detail or (why[-1] if why else '?')}"


def _conda_lock_blocker() -> tuple[str, str]:
    """(conda executable, "") when conda-lock can run here, else ("", what is missing)."""
    # An activated conda exports CONDA_EXE even where `conda` itself is only a shell function.
    conda_exe = os.environ.get("CONDA_EXE")
    found = [
        *map(shutil.which, ("conda", "mamba", "micromamba")),
        conda_exe if conda_exe and Path(conda_exe).is_file() else None,
    ]
    exe = next(filter(None, found), None)
    if not exe:
        return "", "no conda, mamba or micromamba on PATH (install Miniforge)"
    if not shutil.which("conda-lock"):
        return "", "no conda-lock on PATH (`pipx install conda-lock` or `conda install -n base conda-lock`)"
    try:
        urllib.request.urlopen(urllib.request.Request(CONDA_FORGE, method="HEAD"), timeout=15).close()
    except OSError as exc:
        return "", f"conda-forge is unreachable ({CONDA_FORGE}: {exc})"
    return exe, ""


def _conda_lock(lock: locks.Lock, staged: Path, opts: Options, log: Log) -> bool:
    """Solve one yml's conda layer for its targets' conda platforms into `staged`; False (one line) if it
    cannot be done here."""
    exe, missing = _conda_lock_blocker()
    if missing:
        now = locks.staleness(lock) or "current"
        log(f"{lock.rel()} left as it is ({now}): {missing}; {CONDA_LOCK_HOWTO}")
        return False
    # conda-lock cannot read the pip section's `-r lock` (pip wheels stay in the uv locks): give it a copy
    # of the yml without it.
    assert lock.conda_file is not None, "a conda-lock Lock names its yml (locks.plan)"
    layer = staged.parent / f"{lock.conda_file.stem}.conda-layer.yml"
    layer.write_text(condaenv.dump(locks.conda_layer(lock.conda_file)))
    cmd = ["conda-lock", "lock", "--conda", exe, "--lockfile", str(staged), "-f", str(layer)]
    cmd += [a for platform in lock.conda_platforms for a in ("-p", platform)]
    in_conda = locks.conda_lock_packages(staged) if staged.exists() else set()
    wanted = [name for name in opts.upgrade_package if canonicalize_name(name) in in_conda]
    if wanted:
        cmd += [a for name in wanted for a in ("--update", name)]
    elif not opts.upgrade and staged.exists():
        cmd.append("--check-input-hash")  # keep the solve already there unless its inputs changed
    elif staged.exists():
        staged.unlink()  # --upgrade: a fresh solve, not an update of the old one
    log(" ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        raise RelockError(
            f"{lock.rel()}: expected conda-lock to solve {lock.rel(lock.conda_file)}'s conda layer for "
            f"{' and '.join(lock.conda_platforms)}, got the error above; no lock was changed"
        )
    return True
