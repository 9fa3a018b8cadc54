"""The lock plan: which lock file is made from which inputs, and the stamp that makes a stale lock visible.

`nox -s lock` writes, under uv's (or conda-lock's) own header, one line per input with the sha256 of that
input's meaning (comments and formatting do not count), plus the sha256 of the lock's own pins and hashes.
`nox -s lock -- --check` recomputes them: no network, no resolver, no file written. A lock is stale when
any input changed since it was written, or when its pins were edited by hand.

Needs ruamel.yaml (through condaenv, the one YAML library of tools/) and packaging (through envspec).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from packaging.utils import canonicalize_name

from tools.envs import condaenv, envspec

# One universal, hashed, wheels-only resolution for the lock's resolver environments; part of every stamp
# (with the lock's --python-version), so changing how locks are resolved makes them all stale.
UV_COMPILE_OPTIONS = ("--universal", "--generate-hashes", "--only-binary", ":all:")
CONDA_LOCK_SUFFIX = ".conda-lock.yml"

STAMP_TITLE = "# Inputs, checked by `nox -s lock -- --check` (a changed one makes this lock stale):"
STAMP_LINE = re.compile(r"^#    (?P<label>.+) sha256:(?P<digest>[0-9a-f]{16})$")
BODY_LABEL = "this lock's own pins and hashes"
# The uv that wrote a lock, recorded in its stamp: uv releases write the same resolution in different bytes
# (0.13.9 factors markers that 0.13.8 expands), so every uv lock is made by the one uv that
# requirements/tools.txt pins, and `--check` calls a lock made by any other uv stale.
MADE_BY = re.compile(r"^made by uv (?P<version>\S+)$")
TOOLS_LOCK = Path("requirements") / "tools.txt"
RESOLVER_LABEL = "resolver environments"
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


def uv_compile_options(lockable: envspec.Lockable) -> tuple[str, ...]:
    """uv's options for this lock: universal over its resolver environments, from its oldest X.Y.Z."""
    return (UV_COMPILE_OPTIONS[0], "--python-version", lockable.floor_python, *UV_COMPILE_OPTIONS[1:])


@dataclass(frozen=True)
class Lock:
    """One lock file and what it is made from; `kind` is "uv" or "conda-lock"."""

    output: Path
    kind: str
    lockable: envspec.Lockable  # the Python and targets it is resolved for (an Environment for conda-lock)
    source: Path | None = None  # the .in uv resolves
    # For a layer: the environment's lock and the layers before it, so `tests` can install them together.
    constraints: tuple[Path, ...] = ()
    conda_file: Path | None = None  # conda-lock: the environment yml whose conda layer it solves
    root: Path = envspec.ROOT

    def rel(self, path: Path | None = None) -> str:
        return (path or self.output).relative_to(self.root).as_posix()

    @property
    def conda_platforms(self) -> list[str]:
        return [t.conda for t in self.lockable.targets.values()]


def env_lock(env: envspec.Environment) -> Lock:
    """The environment's own lock (requirements/NAME.txt from NAME.in), without planning every other."""
    return Lock(env.lock, "uv", env, source=env.requirements_in, root=env.root)


def plan(root: Path = envspec.ROOT) -> list[Lock]:
    """Every lock in the order `nox -s lock` makes them: an environment's lock before its layers; each
    environment's conda layer last (one conda-lock file each: environments on different Pythons cannot
    share one solve). A standalone lock's `constraints` are other standalone locks it is resolved within."""
    envs = envspec.environments(root)
    locks = []
    for env in envs.values():
        locks.append(env_lock(env))
        below = [env.lock]
        for layer in env.layers:
            source = root / "requirements" / f"{layer}.in"
            layer_lock = env.layer_lock(layer)
            locks.append(Lock(layer_lock, "uv", env, source=source, constraints=tuple(below), root=root))
            below.append(layer_lock)
    for lockable in envspec.standalone(root).values():
        within = tuple(root / "requirements" / f"{name}.txt" for name in lockable.constraints)
        source = lockable.requirements_in
        locks.append(Lock(lockable.lock, "uv", lockable, source=source, constraints=within, root=root))
    for env in envs.values():
        output = root / "requirements" / f"{env.name}{CONDA_LOCK_SUFFIX}"
        locks.append(Lock(output, "conda-lock", env, conda_file=env.conda_file, root=root))
    return locks


def _digest(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def conda_layer(conda_file: Path) -> dict[str, Any]:
    """An environment yml without its pip section: the part conda-lock can solve (it cannot read `-r`)."""
    doc = condaenv.plain(conda_file)
    deps = [d for d in doc.get("dependencies", []) if not (isinstance(d, dict) and "pip" in d)]
    return {"name": doc.get("name"), "channels": doc.get("channels"), "dependencies": deps}


def inputs(lock: Lock, read: Callable[[Path], str] = Path.read_text) -> dict[str, str]:
    """label -> digest of everything the lock is made from, in the order the stamp lists them.

    `read` fetches the constraint lock: `nox -s lock` passes one that reads the freshly staged copy.
    """
    found: dict[str, str] = {}
    if lock.kind == "uv":
        assert lock.source is not None, "a uv Lock names its .in (plan)"
        found[lock.rel(lock.source)] = _digest(envspec.in_meaning(lock.source))
        for constraint in lock.constraints:
            found[f"{lock.rel(constraint)} (constraint)"] = _digest(envspec.lock_body(read(constraint)))
        conda_file = getattr(lock.lockable, "conda_file", None)
        if conda_file is not None and lock.output == lock.lockable.lock and conda_file.exists():
            found[lock.rel(conda_file)] = _digest(condaenv.plain(conda_file))
        found[RESOLVER_LABEL] = _digest(lock.lockable.resolver_environments())
        options = uv_compile_options(lock.lockable)
        found["uv pip compile " + " ".join(options)] = _digest(list(options))
    else:
        assert lock.conda_file is not None, "a conda-lock Lock names its yml (plan)"
        found[f"{lock.rel(lock.conda_file)} conda layer"] = _digest(conda_layer(lock.conda_file))
        platforms = " ".join(lock.conda_platforms)
        found[f"conda-lock platforms {platforms}"] = _digest(platforms)
    return found


def pinned_uv(root: Path = envspec.ROOT) -> str:
    """The uv version requirements/tools.txt pins: the one uv that writes every lock."""
    path = root / TOOLS_LOCK
    versions = {e.version for e in envspec.read_lock(path) if e.name == "uv"} if path.exists() else set()
    if len(versions) != 1:
        found = ", ".join(sorted(versions)) or "none"
        raise envspec.SpecError(
            f"{TOOLS_LOCK.as_posix()}: expected one pinned uv (the uv that writes every lock), got {found}: "
            "pin `uv==X.Y.Z` in requirements/tools.in and requirements/dev.in"
        )
    return versions.pop()


def made_by(text: str) -> str | None:
    """The uv version a lock's stamp records as its writer, or None (no stamp, or a conda-lock file)."""
    for label in read_stamp(text) or {}:
        match = MADE_BY.match(label)
        if match:
            return match["version"]
    return None


def stamp_block(
    lock: Lock, body_text: str, read: Callable[[Path], str] = Path.read_text, uv_version: str | None = None
) -> list[str]:
    rows = {**inputs(lock, read), BODY_LABEL: _digest(envspec.lock_body(body_text))}
    if uv_version is not None:
        rows[f"made by uv {uv_version}"] = _digest(uv_version)
    return [STAMP_TITLE, *(f"#    {label} sha256:{digest}" for label, digest in rows.items())]


def strip_stamp(text: str) -> str:
    """The lock as its tool wrote it: the stamp block removed wherever it sits."""
    lines = text.splitlines(keepends=True)
    out, skipping = [], False
    for line in lines:
        if line.rstrip("\n") == STAMP_TITLE:
            skipping = True
            continue
        if skipping and STAMP_LINE.match(line.rstrip("\n")):
            continue
        skipping = False
        out.append(line)
    return "".join(out)


def stamped(
    lock: Lock, text: str, read: Callable[[Path], str] = Path.read_text, uv_version: str | None = None
) -> str:
    """The lock text with a fresh stamp: after uv's two header lines, or on top of conda-lock's file.
    A uv lock's stamp ends with the version of the uv that wrote it: `uv_version`, else the one its old
    stamp records (restamping is not rewriting)."""
    uv_version = uv_version or made_by(text)
    text = strip_stamp(text)
    block = "".join(line + "\n" for line in stamp_block(lock, text, read, uv_version))
    if lock.kind == "conda-lock":
        return block + text
    head = text.splitlines(keepends=True)
    return "".join(head[:2]) + block + "".join(head[2:])


def read_stamp(text: str) -> dict[str, str] | None:
    lines = text.splitlines()
    if STAMP_TITLE not in lines:
        return None
    rows = {}
    for line in lines[lines.index(STAMP_TITLE) + 1 :]:
        match = STAMP_LINE.match(line)
        if not match:
            break
        rows[match["label"]] = match["digest"]
    return rows


def staleness(lock: Lock) -> str | None:
    """Why this lock no longer matches what it is made from, in a few words; None when it is current."""
    if not lock.output.exists():
        return "missing"
    text = lock.output.read_text()
    recorded = read_stamp(text)
    if recorded is None:
        return "no input stamp: not written by `nox -s lock`"
    current = inputs(lock)
    changed = [label for label, digest in current.items() if recorded.get(label) != digest]
    kept = (BODY_LABEL, *(label for label in recorded if MADE_BY.match(label)))
    changed += [label for label in recorded if label not in current and label not in kept]
    if changed:
        return f"{', '.join(changed)} changed since it was locked"
    if recorded.get(BODY_LABEL) != _digest(envspec.lock_body(strip_stamp(text))):
        return "edited by hand after it was locked"
    if lock.kind == "uv":
        writer, pinned = made_by(text), pinned_uv(lock.root)
        if writer != pinned:
            return f"made by {f'uv {writer}' if writer else 'an unrecorded uv'}, not the pinned uv {pinned}"
    return None


def pinned_names(locks: list[Lock]) -> set[str]:
    """Canonical names of every package pinned in the uv locks and in the conda-lock files (where present)."""
    names: set[str] = set()
    for lock in locks:
        if not lock.output.exists():
            continue
        if lock.kind == "uv":
            names |= {entry.name for entry in envspec.read_lock(lock.output)}
        else:
            names |= conda_lock_packages(lock.output)
    return names


def conda_lock_packages(path: Path) -> set[str]:
    doc = condaenv.plain(path) or {}
    return {canonicalize_name(p["name"]) for p in doc.get("package", []) if "name" in p}


def pin_changes(before: Path, after: Path) -> list[str]:
    """What a relock changed in a uv lock, one `name old -> new` per package (markers folded together)."""

    def pins(path: Path) -> dict[str, str]:
        found: dict[str, set[str]] = {}
        for entry in envspec.read_lock(path) if path.exists() else []:
            found.setdefault(entry.name, set()).add(entry.version)
        return {name: "/".join(sorted(versions)) for name, versions in found.items()}

    old, new = pins(before), pins(after)
    changes = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            changes.append(f"+{name}=={new[name]}")
        elif name not in new:
            changes.append(f"-{name}=={old[name]}")
        elif old[name] != new[name]:
            changes.append(f"{name} {old[name]} -> {new[name]}")
    return changes
