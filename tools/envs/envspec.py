"""The environments as data: the table in pyproject.toml, their conda files and their locks.

Used by the noxfile (to build and validate) and by the tests. Needs packaging and ruamel.yaml (conda's own
YAML parser, through tools/envs/condaenv.py), which nox's environment provides (the noxfile's script block)
and the dev layer installs for the tests.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tools.envs import condaenv

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli below 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
# The marker keys a target's table row must give (the rest of a PEP 508 environment comes from the Python).
TARGET_MARKERS = ("sys_platform", "platform_system", "platform_machine", "os_name", "platform_release")
FLOOR_KINDS = ("macos", "glibc")
# The patch release a lock is checked at by default (marker evaluation, wheel downloads): a late X.Y.18, as
# a user's current Python would be; a lock's earlier patch releases are checked where uv split for them.
LATE_PATCH = 18


class SpecError(Exception):
    """A spec file is wrong; the message is one line naming the file, what was expected and what was found."""


@dataclass(frozen=True)
class Target:
    """A platform a lock can serve (pyproject.toml [tool.gpuenv.targets]): defined once, used everywhere."""

    name: str
    markers: dict[str, str]
    conda: str  # conda's subdir: osx-arm64, linux-64, linux-aarch64
    floor: str  # what an OS floor means here: "macos" (a macOS version) or "glibc" (a glibc version)

    @property
    def machine(self) -> str:
        return self.markers["platform_machine"]

    def marker_env(self, python_full_version: str) -> dict[str, str]:
        """A complete PEP 508 environment: CPython `python_full_version` on this platform."""
        xy = ".".join(python_full_version.split(".")[:2])
        return {
            **self.markers,
            "python_version": xy,
            "python_full_version": python_full_version,
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "implementation_version": python_full_version,
            "platform_version": "",
            "extra": "",
        }

    def resolver_marker(self, python: str | None) -> str:
        """This target as one of uv's resolver environments (`[tool.uv] environments`), for Python X.Y or
        any Python (None). CPython is stated in both markers that name it: without them uv also forks for
        PyPy wherever a dependency has an implementation_name or platform_python_implementation marker
        (pyzmq and cffi, under the notebook layer), finds no PyPy wheel (tornado) and fails the whole
        resolution; with only one of the two it still explores the impossible fork "cpython and PyPy" and
        fails there (seen with uv 0.13.8)."""
        parts = [f"python_version == '{python}'"] if python else []
        parts += ["implementation_name == 'cpython'", "platform_python_implementation == 'CPython'"]
        parts += [f"sys_platform == '{self.markers['sys_platform']}'"]
        parts += [f"platform_machine == '{self.machine}'"]
        return " and ".join(parts)

    def floor_name(self, floor: str) -> str:
        """How people name the oldest system: 'macOS 12.3 arm64', 'glibc 2.28 x86_64 (manylinux)'."""
        if self.floor == "macos":
            return f"macOS {floor} {self.machine}"
        return f"glibc {floor} {self.machine} (manylinux)"


@dataclass
class Lockable:
    """What a lock is resolved for: a Python X.Y (from python_floor on) on some targets."""

    name: str
    python: str = "3.9"
    python_floor: str = ""
    target_names: tuple[str, ...] = ("macos-arm64", "linux-x86_64")
    root: Path = ROOT
    constraints: tuple[str, ...] = ()  # other standalone locks this one is resolved within

    @property
    def floor_python(self) -> str:
        """The oldest X.Y.Z the lock resolves for (`uv pip compile --python-version`)."""
        return self.python_floor or f"{self.python}.0"

    @property
    def targets(self) -> dict[str, Target]:
        known = targets(self.root)
        return {name: known[name] for name in self.target_names}

    def resolver_environments(self) -> list[str]:
        return [t.resolver_marker(self.python) for t in self.targets.values()]

    def patch_releases(self) -> tuple[str, ...]:
        """The X.Y.Z a lock entry may be meant for: uv's universal resolver splits versions at patch
        releases when a package excludes some (cryptography does for 3.9.0), so an entry is legitimate if
        it applies to any of these."""
        xy = self.python
        return (f"{xy}.0", f"{xy}.1", self.floor_python, self.python_full, f"{xy}.99")

    @property
    def python_full(self) -> str:
        return f"{self.python}.{LATE_PATCH}"

    def marker_env(self, target: str, python_full_version: str | None = None) -> dict[str, str]:
        """The target's PEP 508 environment for this lock's Python (a late X.Y.Z unless one is given)."""
        return self.targets[target].marker_env(python_full_version or self.python_full)

    @property
    def lock(self) -> Path:
        return self.root / "requirements" / f"{self.name}.txt"

    @property
    def requirements_in(self) -> Path:
        return self.root / "requirements" / f"{self.name}.in"


@dataclass(init=False)
class Environment(Lockable):
    """One row of [tool.gpuenv.environments]: a lock, its conda file, its framework and its floors."""

    framework: str = "torch"
    display: str = ""
    # target -> the oldest OS the lock promises to serve there (macOS or glibc version, by the target).
    floors: dict[str, str] = field(default_factory=lambda: {"macos-arm64": "12.3", "linux-x86_64": "2.28"})
    layers: tuple[str, ...] = ("dev", "notebook")
    # Why its versions never move ("" for an environment that does): `nox -s lock -- --upgrade` and
    # `--upgrade-package` relock a frozen environment only from its inputs (tools/locks/relock.py).
    frozen: str = ""

    def __init__(self, name: str, framework: str, display: str, root: Path = ROOT, *, python: str = "3.9",
                 python_floor: str = "", floors: dict[str, str] | None = None,
                 layers: tuple[str, ...] = ("dev", "notebook"), frozen: str = "") -> None:  # fmt: skip
        floors = dict(floors or {"macos-arm64": "12.3", "linux-x86_64": "2.28"})
        super().__init__(name, python, python_floor, tuple(floors), root)
        self.framework, self.display, self.floors, self.layers = framework, display, floors, tuple(layers)
        self.frozen = frozen

    @property
    def conda_file(self) -> Path:
        return self.root / f"environment-{self.name}.yml"

    def layer_lock(self, layer: str) -> Path:
        return self.root / "requirements" / f"{self.name}-{layer}.txt"

    def floor(self, target: str) -> str:
        return self.floors[target]


@dataclass
class LockedRequirement:
    name: str
    version: str
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)

    def applies_in(self, marker_env: dict[str, str]) -> bool:
        """Applies in this concrete marker environment (a target's, or `pip inspect`'s "environment")."""
        return self.marker is None or self.marker.evaluate({**marker_env, "extra": ""})

    def applies_to(self, lockable: Lockable, target: str, python_full_version: str | None = None) -> bool:
        return self.applies_in(lockable.marker_env(target, python_full_version))

    def serves_a_target(self, lockable: Lockable) -> bool:
        """Applies on some target platform of the lock for some X.Y.Z it is meant for."""
        return any(
            self.applies_to(lockable, t, v) for t in lockable.targets for v in lockable.patch_releases()
        )


def pyproject(root: Path = ROOT) -> dict[str, Any]:
    """pyproject.toml, parsed once per version of the file (its size and modification time): every
    Lockable.targets and every table read asks for it, hundreds of times in one `lock_problems`. Read only:
    the dict is shared."""
    path = root / "pyproject.toml"
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _parsed(path: Path, mtime_ns: int, size: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def _table(root: Path, key: str) -> dict[str, Any]:
    table: dict[str, Any] = pyproject(root).get("tool", {}).get("gpuenv", {}).get(key, {})
    return table


def targets(root: Path = ROOT) -> dict[str, Target]:
    """[tool.gpuenv.targets]: every platform a lock may name."""
    found = {}
    for name, row in _table(root, "targets").items():
        where = f"pyproject.toml [tool.gpuenv.targets.{name}]"
        markers = row.get("markers", {})
        missing = [k for k in TARGET_MARKERS if k not in markers]
        if missing:
            raise SpecError(f"{where}: expected markers {list(TARGET_MARKERS)}, got none for {missing}")
        if row.get("floor") not in FLOOR_KINDS or not row.get("conda"):
            raise SpecError(f"{where}: expected conda = SUBDIR and floor = one of {list(FLOOR_KINDS)}")
        found[name] = Target(name, {k: str(markers[k]) for k in TARGET_MARKERS}, row["conda"], row["floor"])
    return found


def _python(row: dict[str, Any], where: str) -> tuple[str, str]:
    python, floor = str(row.get("python", "")), str(row.get("python_floor", ""))
    if not python or python.count(".") != 1 or not all(p.isdigit() for p in python.split(".")):
        raise SpecError(f'{where}: expected python = "X.Y" (e.g. "3.12"), got {python or "none"!r}')
    if floor and not floor.startswith(python + "."):
        raise SpecError(f'{where}: expected python_floor = "{python}.Z", got {floor!r}')
    return python, floor


def environments(root: Path = ROOT) -> dict[str, Environment]:
    """[tool.gpuenv.environments], in table order; SpecError (one line) on a malformed row."""
    known = targets(root)
    envs = {}
    for name, row in _table(root, "environments").items():
        where = f"pyproject.toml [tool.gpuenv.environments.{name}]"
        missing = [k for k in ("framework", "display", "python", "targets") if k not in row]
        if missing:
            raise SpecError(f"{where}: expected keys {missing}")
        python, floor = _python(row, where)
        unknown = [t for t in row["targets"] if t not in known]
        if unknown or not row["targets"]:
            raise SpecError(f"{where}: expected targets among {sorted(known)}, got {unknown or 'none'}")
        floors = {t: str(v) for t, v in row["targets"].items()}
        layers = tuple(row.get("layers", ()))
        frozen = row.get("frozen", "")
        if not isinstance(frozen, str):
            raise SpecError(
                f'{where}: expected frozen = "the reason its versions never move", got {frozen!r}'
            )
        envs[name] = Environment(
            name, row["framework"], row["display"], root, python=python, python_floor=floor, floors=floors,
            layers=layers, frozen=frozen.strip(),
        )  # fmt: skip
    return envs


def standalone(root: Path = ROOT) -> dict[str, Lockable]:
    """[tool.gpuenv.standalone]: locks of their own (tools for CI, dev for the host venv)."""
    known = targets(root)
    found = {}
    for name, row in _table(root, "standalone").items():
        where = f"pyproject.toml [tool.gpuenv.standalone.{name}]"
        python, floor = _python(row, where)
        names = tuple(row.get("targets", ()))
        if not names or any(t not in known for t in names):
            raise SpecError(f"{where}: expected targets among {sorted(known)}, got {list(names)}")
        constraints = tuple(row.get("constraints", ()))
        unknown = [c for c in constraints if c not in _table(root, "standalone") or c == name]
        if unknown:
            raise SpecError(f"{where}: expected constraints among the other standalone locks, got {unknown}")
        found[name] = Lockable(name, python, floor, names, root, constraints)
    return found


def layers(root: Path = ROOT) -> list[str]:
    """Every layer some environment has, in first-seen order (requirements/LAYER.in each)."""
    seen: list[str] = []
    for env in environments(root).values():
        seen += [layer for layer in env.layers if layer not in seen]
    return seen


def pythons(root: Path = ROOT) -> dict[str, list[str]]:
    """Python X.Y -> the environments that need it (what the machine must have to build them all)."""
    found: dict[str, list[str]] = {}
    for env in environments(root).values():
        found.setdefault(env.python, []).append(env.name)
    return found


def pip_section(env: Environment) -> list[str]:
    """The exact pip list every environment yml carries: the lock, hashes required, wheels only.

    conda writes these items, one per line, into a requirements file for pip (tools/envs/condaenv.py), so each
    must be a plain string: an unquoted `--only-binary=:all:` is a YAML mapping (its trailing colon), which
    conda cannot write.
    """
    return ["--require-hashes", "--only-binary=:all:", f"-r requirements/{env.name}.txt"]


def read_conda_file(env: Environment) -> dict[str, Any]:
    """Parse an environment yml as conda does (tools/envs/condaenv.py) and check it; SpecError, one line."""
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
    if f"python={env.python}" not in plain:
        raise SpecError(f"{rel}: expected dependency 'python={env.python}', got {plain}")
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


# --- the one reader of requirement files: .in files and pip-tools format locks --------------------------


def in_lines(path: Path) -> list[tuple[int, str]]:
    """A .in file's requirement and option lines with their numbers: comments (` #` on, or a whole `#`
    line) and blank lines dropped, runs of spaces made one: what uv reads."""
    lines = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append((number, " ".join(line.split())))
    return lines


def in_meaning(path: Path) -> list[str]:
    """A .in file's meaning for the lock's stamp: its requirement and option lines (`in_lines`)."""
    return [line for _, line in in_lines(path)]


def read_in(path: Path) -> list[Requirement]:
    """The top-level requirements of a .in file (comments, blank lines and -c/-r options skipped)."""
    reqs = []
    for number, line in in_lines(path):
        if line.startswith("-"):
            continue  # -c/-r options: constraints, not top-level requirements of this file
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement as exc:
            raise SpecError(
                f"{path.name}:{number}: expected a PEP 508 requirement, got {line!r} ({exc})"
            ) from None
    return reqs


def lock_body(text: str) -> list[str]:
    """A lock's pins and hashes (pip-tools format) or packages (conda-lock YAML): its non-comment lines."""
    return [ln.rstrip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _entries(text: str) -> list[list[tuple[int, str]]]:
    """A pip-tools lock's entries: each `name==version ; marker \\` line with the `--hash=` lines that
    continue it, as (line number, text without comment or trailing backslash)."""
    entries: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip() if raw.lstrip().startswith("--hash") else raw.split("#", 1)[0].strip()
        continued = line.endswith("\\")
        if line:
            current.append((number, line[:-1].rstrip() if continued else line))
        if not continued and current:
            entries.append(current)
            current = []
    return entries + ([current] if current else [])


def _pin_error(path: Path, line: str, number: int) -> SpecError:
    where = f"{path.parent.name}/{path.name}"
    # Quoted as written, in single quotes whatever it holds (a marker's own quotes are single).
    return SpecError(
        f"{where}: expected a pin like name==version, got '{line}' (line {number}): "
        "fix it or run `nox -s lock`"
    )


def read_lock(path: Path) -> list[LockedRequirement]:
    """Parse a pip-tools format lock: `name==version ; marker \\` lines followed by `--hash=` lines. A line
    that is neither is named with its number and quoted."""
    locked: list[LockedRequirement] = []
    for (number, first), *rest in _entries(path.read_text()):
        stray = next(((n, line) for n, line in rest if not line.startswith("--hash=")), None)
        if stray:
            raise _pin_error(path, stray[1], stray[0])
        parts = first.split()
        hashes = [
            p.split("=", 1)[1] for p in [*parts, *(line for _, line in rest)] if p.startswith("--hash=")
        ]
        spec = " ".join(p for p in parts if not p.startswith("--hash="))
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            raise _pin_error(path, first, number) from None
        pins = [s for s in req.specifier if s.operator == "=="]
        if len(pins) != 1:
            where = f"{path.parent.name}/{path.name}"
            raise SpecError(f"{where}: expected an exact pin (name==version), got {spec!r} (line {number})")
        locked.append(LockedRequirement(canonicalize_name(req.name), pins[0].version, req.marker, hashes))
    return locked


def locked_here(env: Environment) -> list[str]:
    """The distributions the environment's lock installs on this machine, at any patch release of its
    Python: this machine's platform markers (packaging's default environment) with the environment's
    Python in place of the one running this (nox's own)."""
    here = default_environment()
    names: set[str] = set()
    entries = read_lock(env.lock)
    for version in env.patch_releases():
        marker_env: dict[str, str] = {**here, "python_version": env.python, "python_full_version": version}  # type: ignore[dict-item]  # packaging types its environment as a TypedDict of str
        names |= {e.name for e in entries if e.applies_in(marker_env)}
    return sorted(names)


def lock_problems(env: Environment) -> list[str]:
    """Everything wrong between an environment's .in and its lock; empty when they agree."""
    problems = []
    locked = read_lock(env.lock)
    by_name: dict[str, list[LockedRequirement]] = {}
    for entry in locked:
        by_name.setdefault(entry.name, []).append(entry)
        if not entry.hashes or not all(h.startswith("sha256:") for h in entry.hashes):
            problems.append(f"{env.lock.name}: {entry.name}=={entry.version} has no sha256 hash")
        if not entry.serves_a_target(env):
            problems.append(f"{env.lock.name}: {entry.name}=={entry.version} applies to no target platform")
    for req in read_in(env.requirements_in):
        for target in env.targets:
            if req.marker is not None and not req.marker.evaluate(env.marker_env(target)):
                continue
            hits = [e for e in by_name.get(canonicalize_name(req.name), []) if e.applies_to(env, target)]
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


def installed_problems(lock: Path, report: dict[str, Any]) -> list[str]:
    """Differences between an installed environment (`pip inspect`'s report) and the lock's pins for that
    environment's platform; empty when the environment is exactly the lock."""
    marker_env = report["environment"]
    want = {e.name: e.version for e in read_lock(lock) if e.applies_in(marker_env)}
    if not want:  # every pin is marked for other Pythons or platforms: "installed exactly" would be vacuous
        platform = f"{marker_env['sys_platform']} {marker_env['platform_machine']}"
        where = f"Python {marker_env['python_full_version']} on {platform}"
        return [f"{lock.name} installs nothing on {where}: its pins are for other Pythons or platforms"]
    have: dict[str, str] = {
        canonicalize_name(d["metadata"]["name"]): d["metadata"]["version"] for d in report["installed"]
    }
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
