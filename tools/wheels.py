"""Prove each lock's wheels from the real files, for macOS arm64 and Linux x86_64, without either machine.

For every environment lock and both targets (CPython 3.9): pip downloads the wheel a user's pip would pick
at the environment's floor (macOS `macos_min`, glibc `glibc_min`), into a cache shared by every run; then

- it is a wheel (no source build on the user's machine) and its sha256 is one of the lock's hashes;
- its platform tag fits the floor (macosx_X_Y <= macos_min, arm64 or universal2; manylinux glibc <=
  glibc_min), and on macOS every Mach-O binary in it declares a minimum at or below macos_min;
- torch's macOS wheel links Metal, MetalPerformanceShaders and MetalPerformanceShadersGraph (the MPS build);
- a locked TensorFlow + tensorflow-metal pair links: tools/tfpair.py.

Run: `nox -s wheels` (or `python -m tools.wheels --help` in the dev layer). Exit 0 all hold, 1 any fails.
"""

from __future__ import annotations

import argparse
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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging import tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from tools import envspec, macho

ROOT = envspec.ROOT
PYTHON = (3, 9)
CACHE = Path(os.environ.get("GPUENV_WHEEL_CACHE", ROOT / ".cache" / "wheels"))
# Bump when what is cached per wheel (Mach-O facts, exported symbols) changes shape.
# 2: exports and imports per binary, read with LIEF (export trie; binds with their library).
ANALYSIS_VERSION = 2
# The package index pip downloads from (PEP 503 "simple" pages list every file of a project): read to
# learn which CPython versions a release has wheels for, before downloading any.
INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
# The frameworks of PyTorch's MPS backend: a macOS torch wheel without them is a CPU-only build.
MPS_FRAMEWORKS = ("Metal", "MetalPerformanceShaders", "MetalPerformanceShadersGraph")
# manylinux's legacy names and the glibc each stands for (PEP 600).
LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}


class WheelError(Exception):
    """A wheel cannot be had or read; the message is one line naming the package and what to do."""


# ---- which wheels a target accepts ----------------------------------------------------------------------


def platforms(target: str, floor: str) -> list[str]:
    """The platform tags pip accepts on the oldest machine the lock serves, best first."""
    version = macho.version_tuple(floor)
    if target == "macos-arm64":
        return list(tags.mac_platforms((version[0], version[1] if len(version) > 1 else 0), "arm64"))
    if target == "linux-x86_64":
        major, minor = version[:2]
        names = [f"manylinux_{major}_{m}_x86_64" for m in range(minor, 4, -1)]
        names += [f"{legacy}_x86_64" for legacy, glibc in LEGACY_MANYLINUX.items() if glibc <= (major, minor)]
        return names
    raise ValueError(f"expected a target in {sorted(envspec.TARGETS)}, got {target!r}")


def supported_tags(target: str, floor: str, python: tuple[int, int] = PYTHON) -> list[tags.Tag]:
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


def floor_name(target: str, floor: str) -> str:
    return f"macOS {floor} arm64" if target == "macos-arm64" else f"glibc {floor} x86_64 (manylinux)"


def tag_problem(filename: str, target: str, floor: str, python: tuple[int, int] = PYTHON) -> str | None:
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


def tag_rank(filename: str, target: str, floor: str, python: tuple[int, int] = PYTHON) -> int:
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
        return known[2]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    index[path.name] = [stat.st_size, stat.st_mtime_ns, digest.hexdigest()]
    tmp = index_file.with_name(f".{index_file.name}.{os.getpid()}.tmp")  # one per writer: runs may overlap
    tmp.write_text(json.dumps(index, indent=0, sort_keys=True))
    tmp.replace(index_file)
    return digest.hexdigest()


def cached(
    name: str, version: str, target: str, floor: str, cache: Path = CACHE, python: tuple[int, int] = PYTHON
) -> Path | None:
    """The best already-downloaded wheel of name==version that the target (and this CPython) accepts."""
    folder = cache / target
    hits = []
    for path in folder.glob("*.whl") if folder.is_dir() else []:
        try:
            wname, wversion, _b, _t = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wname == canonicalize_name(name) and str(wversion) == version:
            if tag_problem(path.name, target, floor, python) is None:
                hits.append(path)
    return min(hits, key=lambda p: tag_rank(p.name, target, floor, python)) if hits else None


def _pip_download(
    pins: list[str], target: str, floor: str, dest: Path, python: str
) -> subprocess.CompletedProcess:
    # A full version (3.9.18), because pip also checks each release's Requires-Python against it.
    major, minor = python_minor(python)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python, "--implementation", "cp"]
    cmd += ["--abi", f"cp{major}{minor}", "--progress-bar", "off", "--dest", str(dest)]
    for plat in platforms(target, floor):
        cmd += ["--platform", plat]
    return subprocess.run([*cmd, *pins], capture_output=True, text=True)


def _pip_reason(done: subprocess.CompletedProcess) -> str:
    errors = [ln.strip() for ln in done.stderr.splitlines() if ln.startswith("ERROR:")]
    return (errors[-1] if errors else (done.stderr.strip().splitlines() or ["pip failed"])[-1]).removeprefix(
        "ERROR: "
    )


def fetch(
    pins: list[tuple[str, str]], target: str, floor: str, cache: Path = CACHE, python: str | None = None
) -> dict:
    """name==version -> cached wheel Path, or the one-line reason none exists. Downloads what is missing.

    One pip call for all missing pins (a pin list must not repeat a name, so duplicates go in later
    rounds); if it fails, each missing pin is retried alone so every failure gets its own reason.
    """
    python = python or envspec.TARGETS[target]["python_full_version"]
    minor = python_minor(python)
    found: dict[tuple[str, str], Path | str] = {}
    missing = []
    for name, version in pins:
        hit = cached(name, version, target, floor, cache, minor)
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
            hit = cached(*pin, target, floor, cache, minor)
            found[pin] = hit or f"{pin[0]}=={pin[1]}: pip reported success but no fitting wheel is in {dest}"
    return found


# ---- what the package index offers -------------------------------------------------------------------------


class _FileLinks(html.parser.HTMLParser):
    """The files a PEP 503 project page links to: (file name, yanked), the name being the anchor's text."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, bool]] = []
        self._text: list[str] | None = None
        self._yanked = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
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


def wheel_pythons(name: str, target: str, floor: str, include_yanked: bool = True) -> dict[str, set]:
    """version -> the CPython (major, minor) versions that have a wheel of it the target accepts at the floor,
    for every release of `name` on the index (a release with no such wheel is absent)."""
    found: dict[str, set] = {}
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


def _remember(path: Path, compute):
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


def _each_macho(wheel: Path, members: list[str] | None = None):
    """Yield (name inside the wheel, extracted path) for each Mach-O member; macholib reads real files."""
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(prefix="gpuenv-macho-") as tmp:
        for name in members if members is not None else macho.macho_members(zf):
            yield name, Path(zf.extract(name, tmp))


def binaries(wheel: Path, cache: Path = CACHE) -> list[macho.Binary]:
    """Every Mach-O slice in the wheel: path, arch, declared minimum macOS, linked libraries."""

    def compute():
        return [asdict(b) for name, path in _each_macho(wheel) for b in macho.read_binaries(path, name)]

    rows = _remember(_analysis_file(sha256(wheel), "binaries", cache), compute)
    return [macho.Binary(**row) for row in rows]


def exports(wheel: Path, cache: Path = CACHE) -> dict[str, dict]:
    """Per Mach-O member: what dyld finds in it (macho.exports: install name, re-exported libraries, the
    export trie's symbols)."""

    def compute():
        members: dict[str, str] = {}
        binaries: dict[str, dict] = {}
        for name, path in _each_macho(wheel):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in binaries:  # wheels ship symlinked libraries as copies: read each once
                binaries[digest] = macho.exports(path)
            members[name] = digest
        return {"members": members, "binaries": binaries}

    found = _remember(_analysis_file(sha256(wheel), "exports", cache), compute)
    return {name: found["binaries"][digest] for name, digest in found["members"].items()}


def imports(wheel: Path, cache: Path = CACHE) -> dict[str, dict]:
    """Per Mach-O member: how its undefined symbols are bound (macho.imports: flat, per library, weak)."""

    def compute():
        return {name: macho.imports(path) for name, path in _each_macho(wheel)}

    return _remember(_analysis_file(sha256(wheel), "imports", cache), compute)


# ---- the checks --------------------------------------------------------------------------------------------


@dataclass
class WheelCheck:
    env: str
    target: str
    name: str
    version: str
    file: str | None = None
    sha256: str | None = None
    minos: str | None = None  # highest minimum macOS declared by its Mach-O binaries
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # true, reported, not failing: see check_wheel
    facts: dict = field(default_factory=dict)


def _pins(env: envspec.Environment, target: str) -> dict[str, list[envspec.LockedRequirement]]:
    """Every lock entry some CPython 3.9.x on this target installs, by the 3.9.x to check it at: the target's
    own (3.9.18) where the entry applies there, else the first patch release it is for (uv may split a
    package at a patch release; pip then checks that release against the package's Requires-Python)."""
    default = envspec.TARGETS[target]["python_full_version"]
    by_python: dict[str, list[envspec.LockedRequirement]] = {}
    for entry in envspec.read_lock(env.lock):
        python = next((v for v in (default, *envspec.PATCH_RELEASES) if entry.applies_to(target, v)), None)
        if python:
            by_python.setdefault(python, []).append(entry)
    return by_python


def floor_of(env: envspec.Environment, target: str) -> str:
    return env.macos_min if target == "macos-arm64" else env.glibc_min


def check_wheel(check: WheelCheck, wheel: Path, hashes: list[str], floor: str, cache: Path) -> None:
    check.file, check.sha256 = wheel.name, sha256(wheel)
    if f"sha256:{check.sha256}" not in hashes:
        check.problems.append(
            f"{wheel.name}: sha256 {check.sha256[:16]}… is none of the lock's {len(hashes)} hashes for "
            f"{check.name}=={check.version} (run `nox -s lock`, or the index serves a different file)"
        )
    problem = tag_problem(wheel.name, check.target, floor)
    if problem:
        check.problems.append(problem)
    if check.target != "macos-arm64":
        return
    found = binaries(wheel, cache)
    declared = [b.minos for b in found if b.minos]
    if declared:
        check.minos = max(declared, key=macho.version_tuple)
        # A binary declaring a newer macOS than the floor is reported, not failed: the wheel's tag (what
        # pip installs by) is checked above, PyTorch's own macOS wheels carry such a libomp.dylib (built
        # for 14.0 in a wheel renamed to macosx_11_0: pytorch/pytorch#173666), and whether it runs below
        # its declared minimum only a Mac of that version can show. The warning names the file.
        for binary in found:
            if binary.minos and macho.version_tuple(binary.minos) > macho.version_tuple(floor):
                check.warnings.append(
                    f"{binary.path} in {wheel.name} declares minimum macOS {binary.minos}, above the floor "
                    f"{floor} and the wheel tag's {platform_minimum(wheel.name)}"
                )
    for path in sorted({b.path for b in found} - {b.path for b in found if b.arch == "ARM64"}):
        check.problems.append(f"{path} in {wheel.name}: expected an arm64 slice, got none")
    if check.name == "torch":
        check_mps(check, found, floor)


def check_mps(check: WheelCheck, found: list[macho.Binary], floor: str) -> None:
    """torch's macOS wheel is the MPS build: some binary links all three MPS frameworks."""
    linking = {b.path: b.frameworks() for b in found if set(MPS_FRAMEWORKS) <= set(b.frameworks())}
    check.facts["mps"] = {
        "binaries": {path: {f: fw[f] for f in MPS_FRAMEWORKS} for path, fw in linking.items()},
        "wheel_tag_minimum": platform_minimum(check.file or ""),
        "binaries_minimum": check.minos,
        "mps_floor": floor,
    }
    if not linking:
        check.problems.append(
            f"{check.file}: expected a binary linking {', '.join(MPS_FRAMEWORKS)} (the MPS build), got none: "
            "this torch wheel would run on the CPU only"
        )


def platform_minimum(filename: str) -> str | None:
    """macosx_11_0_arm64 -> 11.0: the lowest macOS the wheel's tag admits."""
    versions = []
    for tag in parse_wheel_filename(filename)[3] if filename.endswith(".whl") else []:
        if tag.platform.startswith("macosx_"):
            major, minor = tag.platform.split("_")[1:3]
            versions.append(f"{major}.{minor}")
    return min(versions, key=macho.version_tuple) if versions else None


def check_lock(env: envspec.Environment, target: str, cache: Path = CACHE) -> list[WheelCheck]:
    """Download (or reuse) every wheel the lock installs on the target and check each."""
    floor = floor_of(env, target)
    entries, wheels = [], {}
    for python, group in _pins(env, target).items():
        entries += group
        wheels.update(fetch([(e.name, e.version) for e in group], target, floor, cache, python))
    checks = []
    for entry in entries:
        check = WheelCheck(env.name, target, entry.name, entry.version)
        got = wheels[(entry.name, entry.version)]
        if isinstance(got, str):
            check.problems.append(got)
        else:
            check_wheel(check, got, entry.hashes, floor, cache)
        checks.append(check)
    return checks


def run(envs: dict[str, envspec.Environment], targets: list[str], cache: Path = CACHE) -> dict:
    from tools import tfpair  # tfpair uses this module's download and analysis

    report: dict = {"schema_version": 1, "python": "3.9", "environments": {}}
    for env in envs.values():
        per_env: dict = {"floors": {"macos-arm64": env.macos_min, "linux-x86_64": env.glibc_min}}
        for target in targets:
            checks = check_lock(env, target, cache)
            per_env[target] = [asdict(c) for c in checks]
            if target == "macos-arm64":
                per_env["tensorflow_metal_pairs"] = [
                    asdict(p) for p in tfpair.locked_pairs(env, checks, cache)
                ]
        report["environments"][env.name] = per_env
    report["failures"] = failures(report)
    report["passed"] = not report["failures"]
    return report


def failures(report: dict) -> list[str]:
    lines = []
    for name, per_env in report["environments"].items():
        for target in envspec.TARGETS:
            for check in per_env.get(target, []):
                lines += [f"{name} {target}: {p}" for p in check["problems"]]
        for pair in per_env.get("tensorflow_metal_pairs", []):
            lines += [f"{name} macos-arm64: {p}" for p in pair["problems"]]
    return lines


def summary(report: dict) -> list[str]:
    from tools import tfpair

    out = []
    for name, per_env in report["environments"].items():
        for target in envspec.TARGETS:
            checks = per_env.get(target)
            if checks is None:
                continue
            floor = floor_name(target, per_env["floors"][target])
            bad = sum(bool(c["problems"]) for c in checks)
            out.append(
                f"{name} {target}: {len(checks)} wheels, {len(checks) - bad} ok "
                f"(binary, sha256 in lock, fits {floor})"
            )
            for check in checks:
                mps = check["facts"].get("mps")
                if mps:
                    kinds = sorted({k for fw in mps["binaries"].values() for k in fw.values()})
                    how = (
                        f"{len(mps['binaries'])} binaries ({', '.join(sorted(mps['binaries']))}) link "
                        f"{', '.join(MPS_FRAMEWORKS)} ({'/'.join(kinds)})"
                        if mps["binaries"]
                        else "no binary links the MPS frameworks"
                    )
                    out.append(f"  torch {check['version']} MPS build: {how}")
                    out.append(
                        f"  torch {check['version']} minimum macOS: wheel tag {mps['wheel_tag_minimum']}, "
                        f"binaries up to {mps['binaries_minimum']}, MPS floor {mps['mps_floor']}"
                    )
        for pair in per_env.get("tensorflow_metal_pairs", []):
            out += ["  " + line for line in tfpair.describe(tfpair.PairResult(**pair))]
    for name, per_env in report["environments"].items():
        for target in envspec.TARGETS:
            out += [f"WARN: {name} {target}: {w}" for c in per_env.get(target, []) for w in c["warnings"]]
    out += [f"FAIL: {line}" for line in report["failures"]]
    out.append("PASS" if report["passed"] else "FAILED")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    envs = envspec.environments()
    parser = argparse.ArgumentParser(prog="python -m tools.wheels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=sorted(envs), help="only this environment (repeat)")
    parser.add_argument(
        "--target", action="append", choices=sorted(envspec.TARGETS), help="only this platform (repeat)"
    )
    parser.add_argument("--json", type=Path, help="write the full report here (e.g. results/wheels.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    envs = {n: e for n, e in envspec.environments().items() if not args.env or n in args.env}
    report = run(envs, args.target or list(envspec.TARGETS))
    print("\n".join(summary(report)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
