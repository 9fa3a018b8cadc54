"""The environments as data: the table in pyproject.toml, their conda files and their locks.

Used by the noxfile (to build and validate) and by the tests. Needs packaging and ruamel.yaml (conda's own
YAML parser, through tools/condaenv.py), which nox's environment provides (the noxfile's script block) and
the dev layer installs for the tests.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tools import condaenv

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli below 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "3.9"
# The oldest 3.9.x the locks resolve for (`uv pip compile --python-version`). Not 3.9.0: every
# cryptography since 44.0.0 declares Requires-Python ">=3.7,!=3.9.0,!=3.9.1" (PyPI metadata), so resolving
# from 3.9.0 split the tf lock into a cryptography 47.0.0 line for 3.9.0 that 47.0.0 itself excludes: no
# wheel installs there (`nox -s wheels` found it). From 3.9.2 the lock has one line that installs.
PYTHON_FLOOR = "3.9.2"

# The two platforms every lock must serve, as concrete marker environments (PEP 508). They must match
# [tool.uv] environments in pyproject.toml, which tells uv's resolver the same thing; a test holds the two
# together.
TARGETS = {
    "macos-arm64": {
        "python_version": "3.9",
        "python_full_version": "3.9.18",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
        "platform_release": "23.0.0",
        "platform_version": "",
        "implementation_version": "3.9.18",
        "extra": "",
    },
    "linux-x86_64": {
        "python_version": "3.9",
        "python_full_version": "3.9.18",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "platform_release": "6.1.0",
        "platform_version": "",
        "implementation_version": "3.9.18",
        "extra": "",
    },
}


# uv's universal resolver splits versions at patch releases when a package excludes some (cryptography
# does for 3.9.0); a lock entry is legitimate if it applies to any of these.
PATCH_RELEASES = ("3.9.0", "3.9.1", "3.9.18", "3.9.99")


class SpecError(Exception):
    """A spec file is wrong; the message is one line naming the file, what was expected and what was found."""


@dataclass
class Environment:
    name: str
    framework: str
    display: str
    root: Path = ROOT
    # The oldest systems the lock promises to serve: every macOS wheel's platform tag and every Mach-O
    # binary's declared minimum must be at or below macos_min, every Linux wheel's manylinux glibc at or
    # below glibc_min (`nox -s wheels` checks both from the real wheels).
    macos_min: str = "12.3"
    glibc_min: str = "2.28"

    @property
    def conda_file(self) -> Path:
        return self.root / f"environment-{self.name}.yml"

    @property
    def requirements_in(self) -> Path:
        return self.root / "requirements" / f"{self.name}.in"

    @property
    def lock(self) -> Path:
        return self.root / "requirements" / f"{self.name}.txt"

    def layer_lock(self, layer: str) -> Path:
        return self.root / "requirements" / f"{self.name}-{layer}.txt"


@dataclass
class LockedRequirement:
    name: str
    version: str
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)

    def applies_to(self, target: str, python_full_version: str | None = None) -> bool:
        env = TARGETS[target]
        if python_full_version:
            env = {**env, "python_full_version": python_full_version}
        return self.marker is None or self.marker.evaluate(env)

    def applies_in(self, marker_env: dict[str, str]) -> bool:
        """Applies in this concrete marker environment (e.g. `pip inspect`'s "environment")."""
        return self.marker is None or self.marker.evaluate({**marker_env, "extra": ""})

    def serves_a_target(self) -> bool:
        """Applies on some target platform for some 3.9.x (uv may split a package at 3.9.0 vs 3.9.1+)."""
        return any(self.applies_to(t, v) for t in TARGETS for v in PATCH_RELEASES)


def pyproject(root: Path = ROOT) -> dict:
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def environments(root: Path = ROOT) -> dict[str, Environment]:
    table = pyproject(root)["tool"]["gpuenv"]["environments"]
    envs = {}
    for name, row in table.items():
        try:
            floors = {k: str(row[k]) for k in ("macos_min", "glibc_min") if k in row}
            envs[name] = Environment(name, row["framework"], row["display"], root, **floors)
        except KeyError as exc:
            raise SpecError(f"pyproject.toml [tool.gpuenv.environments] {name}: expected key {exc}") from None
    return envs


def layers(root: Path = ROOT) -> list[str]:
    """Extra locks layered on every environment (dev = test tools): requirements/LAYER.in each."""
    return list(pyproject(root)["tool"]["gpuenv"].get("layers", []))


def standalone_locks(root: Path = ROOT) -> list[str]:
    """Locks that stand alone (tools: what CI installs to run nox): requirements/NAME.in -> NAME.txt."""
    return list(pyproject(root)["tool"]["gpuenv"].get("standalone", []))


def pip_section(env: Environment) -> list[str]:
    """The exact pip list every environment yml carries: the lock, hashes required, wheels only.

    conda writes these items, one per line, into a requirements file for pip (tools/condaenv.py), so each
    must be a plain string: an unquoted `--only-binary=:all:` is a YAML mapping (its trailing colon), which
    conda cannot write.
    """
    return ["--require-hashes", "--only-binary=:all:", f"-r requirements/{env.name}.txt"]


def read_conda_file(env: Environment) -> dict:
    """Parse an environment yml as conda does (tools/condaenv.py) and check it; SpecError, one line."""
    path = env.conda_file
    rel = path.name
    if not path.exists():
        raise SpecError(f"{rel}: expected this file for environment {env.name!r}, got none")
    try:
        doc = condaenv.load(path)
    except condaenv.CondaFileError as exc:
        raise SpecError(str(exc)) from None
    if not isinstance(doc, dict):
        raise SpecError(
            f"{rel}: expected a mapping with name/channels/dependencies, got {type(doc).__name__}"
        )
    channels = doc.get("channels")
    if channels != ["conda-forge", "nodefaults"]:
        raise SpecError(f"{rel}: expected channels [conda-forge, nodefaults], got {channels}")
    deps = doc.get("dependencies")
    if not isinstance(deps, list):
        raise SpecError(f"{rel}: expected a dependencies list, got {deps!r}")
    plain = [d for d in deps if isinstance(d, str)]
    if f"python={PYTHON}" not in plain:
        raise SpecError(f"{rel}: expected dependency 'python={PYTHON}', got {plain}")
    if "pip" not in plain:
        raise SpecError(f"{rel}: expected dependency 'pip' (it installs the lock), got {plain}")
    sections = [d for d in deps if isinstance(d, dict) and "pip" in d]
    items = condaenv.pip_items(doc)
    for item in items:
        if not isinstance(item, str):
            shown = dict(item) if isinstance(item, dict) else item
            raise SpecError(
                f"{rel}: expected every pip item to be a plain string, got {type(item).__name__} {shown!r} "
                "(quote it: a trailing ':' makes YAML read a mapping)"
            )
    want = pip_section(env)
    if len(sections) != 1 or items != want:
        raise SpecError(
            f"{rel}: expected a pip section of exactly {want}, got {items if sections else 'none'}"
        )
    return doc


def read_in(path: Path) -> list[Requirement]:
    """The top-level requirements of a .in file (comments and blank lines skipped)."""
    reqs = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            continue  # -c/-r options: constraints, not top-level requirements of this file
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement as exc:
            raise SpecError(
                f"{path.name}:{number}: expected a PEP 508 requirement, got {line!r} ({exc})"
            ) from None
    return reqs


def read_lock(path: Path) -> list[LockedRequirement]:
    """Parse a pip-tools format lock: `name==version ; marker \\` lines followed by `--hash=` lines."""
    entries: list[LockedRequirement] = []
    logical = ""
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("--hash") else raw.rstrip()
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        text, logical = logical.strip(), ""
        if not text:
            continue
        parts = text.split()
        hashes = [p.split("=", 1)[1] for p in parts if p.startswith("--hash=")]
        spec = " ".join(p for p in parts if not p.startswith("--hash="))
        req = Requirement(spec)
        pins = [s for s in req.specifier if s.operator == "=="]
        if len(pins) != 1:
            raise SpecError(f"{path.name}: expected an exact pin (name==version), got {spec!r}")
        entries.append(LockedRequirement(canonicalize_name(req.name), pins[0].version, req.marker, hashes))
    return entries


def lock_problems(env: Environment) -> list[str]:
    """Everything wrong between an environment's .in and its lock; empty when they agree."""
    problems = []
    locked = read_lock(env.lock)
    by_name: dict[str, list[LockedRequirement]] = {}
    for entry in locked:
        by_name.setdefault(entry.name, []).append(entry)
        if not entry.hashes or not all(h.startswith("sha256:") for h in entry.hashes):
            problems.append(f"{env.lock.name}: {entry.name}=={entry.version} has no sha256 hash")
        if not entry.serves_a_target():
            problems.append(f"{env.lock.name}: {entry.name}=={entry.version} applies to no target platform")
    for req in read_in(env.requirements_in):
        for target, marker_env in TARGETS.items():
            if req.marker is not None and not req.marker.evaluate(marker_env):
                continue
            hits = [e for e in by_name.get(canonicalize_name(req.name), []) if e.applies_to(target)]
            if not hits:
                problems.append(
                    f"{env.lock.name}: {req.name} from {env.requirements_in.name} is missing for {target}"
                )
            elif not all(req.specifier.contains(e.version, prereleases=True) for e in hits):
                got = ", ".join(e.version for e in hits)
                problems.append(f"{env.lock.name}: {req.name} is {got} for {target}, outside {req.specifier}")
    return problems


# What a bare venv or conda's python + pip already holds before the lock is installed; `pip freeze` hides
# the same set. They count only where the lock pins them.
BOOTSTRAP = {"pip", "setuptools", "wheel", "distribute"}


def installed_problems(lock: Path, report: dict) -> list[str]:
    """Differences between an installed environment (`pip inspect`'s report) and the lock's pins for that
    environment's platform; empty when the environment is exactly the lock."""
    marker_env = report["environment"]
    want = {e.name: e.version for e in read_lock(lock) if e.applies_in(marker_env)}
    have = {canonicalize_name(d["metadata"]["name"]): d["metadata"]["version"] for d in report["installed"]}
    problems = []
    for name in sorted(want.keys() | have.keys()):
        if name in BOOTSTRAP and name not in want:
            continue
        if name not in have:
            problems.append(f"{name}=={want[name]} is locked but not installed")
        elif name not in want:
            problems.append(f"{name}=={have[name]} is installed but not in {lock.name}")
        elif Version(have[name]) != Version(want[name]):
            problems.append(f"{name} is {have[name]}, {lock.name} pins {want[name]}")
    return problems
