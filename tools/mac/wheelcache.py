"""Real wheels, without the machines they are for: which files a target accepts, downloading them into a
cache shared by every run, and reading what is inside (Mach-O facts, exported and imported symbols, each
remembered by the wheel's sha256 so it is computed once).

Used by the lock checks (tools/mac/wheels.py) and the tensorflow-metal pair check (tools/mac/tfpair.py), which
import this module and not each other. Targets are pyproject.toml's [tool.gpuenv.targets]; the CPython is
always given by the caller (each lock has its own).
"""

from __future__ import annotations

import gzip
import hashlib
import html.parser
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict
from functools import cache as _memo
from pathlib import Path
from typing import Any, Callable

from packaging import tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tools.envs import envspec
from tools.mac import macho

ROOT = envspec.ROOT
# A user-level cache, like pip's and uv's: every clone and every CI run on the machine shares the gigabytes
# of wheels (the analysis beside them is keyed by each wheel's sha256, so sharing is safe).
_USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpuenv" / "wheels"
CACHE = Path(os.environ.get("GPUENV_WHEEL_CACHE") or _USER_CACHE)
# Bump when what is cached per wheel (Mach-O facts, exported symbols) changes shape.
# 2: exports and imports per binary, read with LIEF (export trie; binds with their library).
ANALYSIS_VERSION = 2
# The package index pip downloads from (PEP 503 "simple" pages list every file of a project): read to
# learn which CPython versions a release has wheels for, before downloading any.
INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
# manylinux's legacy names and the glibc each stands for (PEP 600).
LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}


@_memo
def target(name: str) -> envspec.Target:
    known = envspec.targets()
    if name not in known:
        raise ValueError(f"expected a target in {sorted(known)}, got {name!r}")
    return known[name]


class WheelError(Exception):
    """A wheel cannot be had or read; the message is one line naming the package and what to do."""


# ---- which wheels a target accepts ----------------------------------------------------------------------


def platforms(target_name: str, floor: str) -> list[str]:
    """The platform tags pip accepts on the oldest machine the lock serves, best first."""
    spec = target(target_name)
    version = macho.version_tuple(floor)
    if spec.floor == "macos":
        return list(tags.mac_platforms((version[0], version[1] if len(version) > 1 else 0), spec.machine))
    major, minor = version[:2]
    names = [f"manylinux_{major}_{m}_{spec.machine}" for m in range(minor, 4, -1)]
    legacy = [f"{name}_{spec.machine}" for name, glibc in LEGACY_MANYLINUX.items() if glibc <= (major, minor)]
    return names + legacy


def supported_tags(target: str, floor: str, python: tuple[int, int]) -> list[tags.Tag]:
    plats = platforms(target, floor)
    abi = f"cp{python[0]}{python[1]}"
    return [
        *tags.cpython_tags(python, abis=[abi], platforms=plats),
        *tags.compatible_tags(python, abi, platforms=plats),
    ]


def python_minor(version: str) -> tuple[int, int]:
    """'3.9.18' or '3.12' -> (3, 9) / (3, 12)."""
    release = Version(version).release
    return release[0], release[1] if len(release) > 1 else 0


def floor_name(target_name: str, floor: str) -> str:
    return target(target_name).floor_name(floor)


def tag_problem(filename: str, target: str, floor: str, python: tuple[int, int]) -> str | None:
    """Why this file would not install from binary on the oldest machine of the target; None if it would."""
    try:
        _name, _version, _build, file_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return f"{filename}: expected a binary wheel, got a source distribution (it would build on install)"
    if file_tags & set(supported_tags(target, floor, python)):
        return None
    got = ", ".join(sorted({t.platform for t in file_tags}))
    return (
        f"{filename}: expected a CPython {python[0]}.{python[1]} wheel for {floor_name(target, floor)} or "
        f"older, got {got}"
    )


def tag_rank(filename: str, target: str, floor: str, python: tuple[int, int]) -> int:
    """Lower is better: the position of the file's best tag in pip's preference order."""
    order = {tag: i for i, tag in enumerate(supported_tags(target, floor, python))}
    return min((order[t] for t in parse_wheel_filename(filename)[3] if t in order), default=len(order))


# ---- download and cache -----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    """The file's sha256, remembered next to it by size and mtime so a cached rerun does not rehash GBs."""
    index_file = path.parent / "sha256.json"
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: it is only a cache, rebuilt as we go
        index = {}
    stat = path.stat()
    known = index.get(path.name)
    if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
        return str(known[2])
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    index[path.name] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
    tmp = index_file.with_name(f".{index_file.name}.{os.getpid()}.tmp")  # one per writer: runs may overlap
    tmp.write_text(json.dumps(index, indent=0, sort_keys=True))
    tmp.replace(index_file)
    return digest.hexdigest()


def damage(path: Path) -> str | None:
    """Why a cached wheel cannot be used (truncated, not a zip, its RECORD unreadable); None when it reads.
    A cut-short download loses the zip's central directory, which sits at the end of the file."""
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return str(exc) or type(exc).__name__
    return None


def drop(path: Path) -> None:
    """Delete a damaged cache entry, so the next use downloads it again."""
    path.unlink(missing_ok=True)


def cached(
    name: str, version: str, target: str, floor: str, python: tuple[int, int], cache: Path = CACHE
) -> Path | None:
    """The best already-downloaded wheel of name==version that the target (and this CPython) accepts; a
    damaged one found on the way is deleted (and so downloaded again by `fetch`)."""
    folder = cache / target
    hits = []
    for path in folder.glob("*.whl") if folder.is_dir() else []:
        try:
            wname, wversion, _b, _t = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wname == canonicalize_name(name) and str(wversion) == version:
            if tag_problem(path.name, target, floor, python) is None:
                if damage(path):
                    drop(path)
                    continue
                hits.append(path)
    return min(hits, key=lambda p: tag_rank(p.name, target, floor, python)) if hits else None


def _pip_download(
    pins: list[str], target: str, floor: str, dest: Path, python: str
) -> subprocess.CompletedProcess[str]:
    # A full version (3.9.18), because pip also checks each release's Requires-Python against it.
    major, minor = python_minor(python)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python, "--implementation", "cp"]
    cmd += ["--abi", f"cp{major}{minor}", "--progress-bar", "off", "--dest", str(dest)]
    for plat in platforms(target, floor):
        cmd += ["--platform", plat]
    return subprocess.run([*cmd, *pins], capture_output=True, text=True)


def _pip_reason(done: subprocess.CompletedProcess[str]) -> str:
    errors = [ln.strip() for ln in done.stderr.splitlines() if ln.startswith("ERROR:")]
    return (errors[-1] if errors else (done.stderr.strip().splitlines() or ["pip failed"])[-1]).removeprefix(
        "ERROR: "
    )


def fetch(
    pins: list[tuple[str, str]], target: str, floor: str, python: str, cache: Path = CACHE
) -> dict[tuple[str, str], Path | str]:
    """name==version -> cached wheel Path, or the one-line reason none exists. Downloads what is missing.

    One pip call for all missing pins (a pin list must not repeat a name, so duplicates go in later
    rounds); if it fails, each missing pin is retried alone so every failure gets its own reason.
    """
    minor = python_minor(python)
    found: dict[tuple[str, str], Path | str] = {}
    missing = []
    for name, version in pins:
        hit = cached(name, version, target, floor, minor, cache)
        if hit:
            found[(name, version)] = hit
        else:
            missing.append((name, version))
    if not missing:
        return found
    dest = cache / target
    dest.mkdir(parents=True, exist_ok=True)
    rounds: list[list[tuple[str, str]]] = []
    for pin in missing:
        slot = next((r for r in rounds if all(n != pin[0] for n, _ in r)), None)
        slot.append(pin) if slot is not None else rounds.append([pin])
    for batch in rounds:
        done = _pip_download([f"{n}=={v}" for n, v in batch], target, floor, dest, python)
        singles = [[pin] for pin in batch] if done.returncode else []
        for single in singles:
            one = _pip_download([f"{single[0][0]}=={single[0][1]}"], target, floor, dest, python)
            if one.returncode:
                found[single[0]] = (
                    f"{single[0][0]}=={single[0][1]}: expected a wheel for CPython {python} on "
                    f"{floor_name(target, floor)}, got none from the package index ({_pip_reason(one)})"
                )
        for pin in batch:
            if pin in found:
                continue
            hit = cached(*pin, target, floor, minor, cache)
            found[pin] = hit or (
                f"{pin[0]}=={pin[1]}: expected a readable wheel in {dest} after downloading it, got none "
                "or a damaged file (deleted): check the package index or the disk, then run again"
            )
    return found


# ---- what the package index offers -------------------------------------------------------------------------


class _FileLinks(html.parser.HTMLParser):
    """The files a PEP 503 project page links to: (file name, yanked), the name being the anchor's text."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, bool]] = []
        self._text: list[str] | None = None
        self._yanked = False

    def handle_starttag(self, tag: str, attrs: list[Any]) -> None:
        if tag == "a":
            self._text, self._yanked = [], any(key == "data-yanked" for key, _value in attrs)

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._text is not None:
            self.files.append(("".join(self._text).strip(), self._yanked))
            self._text = None


_INDEX_PAGES: dict[str, list[tuple[str, bool]]] = {}


def index_files(name: str) -> list[tuple[str, bool]]:
    """(file name, yanked) for every file the index lists for the project; [] for a project it does not
    know. One request per project and process."""
    key = canonicalize_name(name)
    if key not in _INDEX_PAGES:
        url = f"{INDEX_URL}/{key}/"
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                page = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise WheelError(
                    f"{name}: expected the package index page {url}, got HTTP {exc.code}"
                ) from None
            page = ""
        except OSError as exc:
            raise WheelError(f"{name}: expected the package index page {url}, got {exc}") from None
        parser = _FileLinks()
        parser.feed(page)
        _INDEX_PAGES[key] = parser.files
    return _INDEX_PAGES[key]


def wheel_pythons(
    name: str, target: str, floor: str, include_yanked: bool = True
) -> dict[str, set[tuple[int, int]]]:
    """version -> the CPython (major, minor) versions that have a wheel of it the target accepts at the floor,
    for every release of `name` on the index (a release with no such wheel is absent)."""
    found: dict[str, set[tuple[int, int]]] = {}
    for filename, yanked in index_files(name):
        if yanked and not include_yanked:
            continue
        try:
            _name, version, _build, file_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        pythons = {
            (int(t.interpreter[2]), int(t.interpreter[3:]))
            for t in file_tags
            if t.interpreter.startswith("cp") and t.interpreter[2:].isdigit() and len(t.interpreter) >= 4
        }
        fits = {py for py in pythons if tag_problem(filename, target, floor, py) is None}
        if fits:
            found.setdefault(str(version), set()).update(fits)
    return found


# ---- what is inside a wheel (cached by the wheel's sha256, so it is computed once) -------------------------


def _analysis_file(digest: str, kind: str, cache: Path) -> Path:
    return cache / "analysis" / f"v{ANALYSIS_VERSION}-{digest}.{kind}.json.gz"


def _remember(path: Path, compute: Callable[[], Any]) -> Any:  # what compute() returns, or its JSON copy
    if path.exists():
        with gzip.open(path, "rt") as f:
            return json.load(f)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with gzip.open(tmp, "wt") as f:
        json.dump(value, f)
    tmp.replace(path)
    return value


def installed_path(member: str) -> str:
    """Where a wheel member lands under site-packages: `NAME-VER.data/purelib/x` and `.../platlib/x` are
    installed as `x` (tensorflow-metal 0.7.0's cp38 wheel ships its plugin so)."""
    head, _, rest = member.partition("/")
    if head.endswith(".data") and rest.startswith(("purelib/", "platlib/")):
        return rest.split("/", 1)[1]
    return member


def _each_macho(wheel: Path, members: list[str] | None = None) -> Iterator[tuple[str, Path]]:
    """Yield (name inside the wheel, extracted path) for each Mach-O member; macholib reads real files."""
    problem = damage(wheel)
    if problem:  # damaged since it was fetched: delete it so the next run downloads it again
        drop(wheel)
        raise WheelError(
            f"{wheel}: expected a readable wheel, got a damaged file ({problem}): deleted it, run again"
        )
    try:
        with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(prefix="gpuenv-macho-") as tmp:
            for name in members if members is not None else macho.macho_members(zf):
                yield name, Path(zf.extract(name, tmp))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a member cut short inside an intact index
        drop(wheel)
        raise WheelError(
            f"{wheel}: expected a readable wheel, got a damaged file ({exc}): deleted it, run again"
        ) from None


def binaries(wheel: Path, cache: Path = CACHE) -> list[macho.Binary]:
    """Every Mach-O slice in the wheel: path, arch, declared minimum macOS, linked libraries."""

    def compute() -> list[dict[str, Any]]:
        return [asdict(b) for name, path in _each_macho(wheel) for b in macho.read_binaries(path, name)]

    rows = _remember(_analysis_file(sha256(wheel), "binaries", cache), compute)
    return [macho.Binary(**row) for row in rows]


def strings_missing(wheel: Path, member: str, texts: list[str], cache: Path = CACHE) -> list[str]:
    """Which of `texts` are not whole C strings (a NUL on each side) in the wheel's `member`: the message
    literals a binary carries. All of them where the wheel has no such member."""
    key = hashlib.sha256("\0".join([member, *texts]).encode()).hexdigest()[:16]

    def compute() -> list[str]:
        with zipfile.ZipFile(wheel) as zf:
            if member not in zf.namelist():
                return list(texts)
        for _, path in _each_macho(wheel, [member]):
            data = path.read_bytes()
            return [t for t in texts if b"\0" + t.encode() + b"\0" not in data]
        return list(texts)

    missing: list[str] = _remember(_analysis_file(sha256(wheel), f"strings-{key}", cache), compute)
    return missing


def exports(wheel: Path, cache: Path = CACHE) -> dict[str, dict[str, Any]]:
    """Per Mach-O member: what dyld finds in it (macho.exports: install name, re-exported libraries, the
    export trie's symbols)."""

    def compute() -> dict[str, Any]:
        members: dict[str, str] = {}
        binaries: dict[str, dict[str, Any]] = {}
        for name, path in _each_macho(wheel):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in binaries:  # wheels ship symlinked libraries as copies: read each once
                binaries[digest] = macho.exports(path)
            members[name] = digest
        return {"members": members, "binaries": binaries}

    found = _remember(_analysis_file(sha256(wheel), "exports", cache), compute)
    return {name: found["binaries"][digest] for name, digest in found["members"].items()}


def imports(wheel: Path, cache: Path = CACHE) -> dict[str, dict[str, Any]]:
    """Per Mach-O member: how its undefined symbols are bound (macho.imports: flat, per library, weak)."""

    def compute() -> dict[str, dict[str, Any]]:
        return {name: macho.imports(path) for name, path in _each_macho(wheel)}

    found: dict[str, dict[str, Any]] = _remember(_analysis_file(sha256(wheel), "imports", cache), compute)
    return found


def dyld_facts(wheel: Path, cache: Path = CACHE) -> dict[str, dict[str, Any]]:
    """Per Mach-O member: its install name and LC_RPATHs (macho.load_paths: how a link to it, or from it,
    is found), the torch dispatch keys it registers kernels for and the Metal kernels whose source it
    carries (macho.torch_kernels, macho.metal_kernels, read from its bytes)."""

    def compute() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for name, path in _each_macho(wheel):
            data = path.read_bytes()
            found[name] = {
                **macho.load_paths(path),
                "torch_kernels": macho.torch_kernels(data),
                "metal_kernels": macho.metal_kernels(data),
            }
        return found

    facts: dict[str, dict[str, Any]] = _remember(_analysis_file(sha256(wheel), "dyld", cache), compute)
    return facts
