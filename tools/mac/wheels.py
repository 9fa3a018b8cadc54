"""Prove each lock's wheels from the real files, for every target of its environment, without those machines.

For every environment lock and each of its targets, at the environment's own CPython: pip downloads the
wheel a user's pip would pick at the target's floor (a macOS or a glibc version, from the environment's row
in pyproject.toml), into a cache shared by every run (tools/mac/wheelcache.py); then

- it is a wheel (no source build on the user's machine) and its sha256 is one of the lock's hashes;
- its platform tag fits the floor (macosx_X_Y <= the macOS floor, for the target's machine or universal2;
  manylinux glibc <= the glibc floor), and on macOS every Mach-O binary in it declares a minimum at or below
  the floor;
- torch's macOS wheel links Metal, MetalPerformanceShaders and MetalPerformanceShadersGraph (the MPS build),
  and its libtorch_cpu.dylib holds the MPS error messages doctor's rules match (their literals, in
  checks/doctor/rules/torch.py): a torch that rewords one fails here, naming the rule to update;
- mlx-metal's wheel ships the Metal library (mlx/lib/mlx.metallib, the compiled GPU kernels) and a libmlx
  that links Metal (the Metal backend);
- a locked TensorFlow + tensorflow-metal pair links: tools/mac/tfpair.py;
- on Linux, every symbol torchvision's and torchaudio's ELF binaries need from torch's libraries is
  defined there: tools/mac/elfbind.py;
- every Metal library (.metallib) in every macOS wheel of each locked release, whatever its tag, is for a
  macOS no newer than the one that installs that wheel: tools/mac/metallibs.py.

Run: `nox -s wheels` (or `python -m tools.mac.wheels --help` in the dev layer). Exit 0 all hold, 1 any fails.
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from checks.core import report as report_file
from checks.doctor.rules import torch as doctor_torch
from tools.envs import envspec
from tools.mac import elfbind, macho, metallibs, mps_binary, tfpair, wheelcache
from tools.mac.wheelcache import CACHE, fetch, floor_name, python_minor, sha256, tag_problem

# The frameworks of PyTorch's MPS backend: a macOS torch wheel without them is a CPU-only build.
MPS_FRAMEWORKS = ("Metal", "MetalPerformanceShaders", "MetalPerformanceShadersGraph")
# Where macOS keeps its own libraries (in the dyld shared cache, not on disk since macOS 11): a link there
# is the system's to satisfy.
SYSTEM_LIBRARIES = ("/usr/lib/", "/System/Library/")
# Libraries a binary in a lock's wheel links that no wheel ships and macOS does not have, each allowed
# because the package loads that binary only on demand, from a library the user installs (a warning
# naming it, not a failure). Keyed by a pattern of the library's file name.
OUTSIDE_THE_LOCK = {
    r"libav(util|codec|format|device|filter)\.\d+\.dylib": (
        "FFmpeg 4, 5 or 6: torchaudio's torio/lib/*ffmpeg* extensions link it, and torio loads them only "
        "when FFmpeg I/O is used, trying each version against the user's own FFmpeg "
        "(torio/_extension/utils.py)"
    ),
    r"libsox\.dylib": (
        "SoX: torchaudio/lib/*sox* link it, and torchaudio loads them only when sox I/O or effects are used "
        "(lazy_import_sox_ext in torchaudio/_extension/__init__.py), from the user's own libsox"
    ),
}


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
    facts: dict[str, Any] = field(default_factory=dict)


def target_pins(env: envspec.Environment, target: str) -> dict[str, list[envspec.LockedRequirement]]:
    """Every lock entry some CPython X.Y.z on this target installs, by the X.Y.z to check it at: the
    environment's late patch release where the entry applies there, else the first patch release it is for
    (uv may split a package at a patch release; pip then checks that release against the package's
    Requires-Python)."""
    default = env.python_full
    by_python: dict[str, list[envspec.LockedRequirement]] = {}
    for entry in envspec.read_lock(env.lock):
        python = next((v for v in (default, *env.patch_releases()) if entry.applies_to(env, target, v)), None)
        if python:
            by_python.setdefault(python, []).append(entry)
    return by_python


def check_wheel(
    check: WheelCheck, wheel: Path, hashes: list[str], floor: str, python: tuple[int, int], cache: Path
) -> None:
    check.file, check.sha256 = wheel.name, sha256(wheel)
    if f"sha256:{check.sha256}" not in hashes:
        wheelcache.drop(wheel)  # never analysed or reused: the next run downloads it again
        check.problems.append(
            f"{wheel.name}: sha256 {check.sha256[:16]}… is none of the lock's {len(hashes)} hashes for "
            f"{check.name}=={check.version} (deleted from the cache: run again; if it recurs, run "
            "`nox -s lock`, or the index serves a different file)"
        )
        return
    problem = tag_problem(wheel.name, check.target, floor, python)
    if problem:
        check.problems.append(problem)
    if wheelcache.target(check.target).floor != "macos":
        return
    found = wheelcache.binaries(wheel, cache)
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
    machine = wheelcache.target(check.target).machine
    arch = {"arm64": "ARM64", "x86_64": "x86_64"}[machine]  # macholib's CPU type names
    for path in sorted({b.path for b in found} - {b.path for b in found if b.arch == arch}):
        check.problems.append(f"{path} in {wheel.name}: expected an {machine} slice, got none")
    if check.name == "torch":
        check_mps(check, found, floor)
        check_mps_floor(check, wheel, floor, cache)
        check_doctor_texts(check, wheel, cache)
    if check.name == "mlx-metal":
        check_mlx_metal(check, wheel, found)


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


def check_mps_floor(check: WheelCheck, wheel: Path, floor: str, cache: Path) -> None:
    """The environment's macOS floor is at or above the one torch's own message names for its MPS backend
    (tools/mac/mps_binary.py): below it, the environment would promise a GPU that torch does not support."""
    declared = mps_binary.floor_evidence(wheel, cache)["message"]
    check.facts["mps"]["declared_floor"] = declared
    if declared and macho.version_tuple(floor) < macho.version_tuple(declared):
        check.problems.append(
            f"{check.file}: expected a macOS floor at or above {declared}, the macOS torch {check.version} "
            f'declares its MPS backend for ("The MPS backend is supported on macOS {declared}+" in '
            f"{mps_binary.LIBRARY}), got {floor}: raise the environment's floor in pyproject.toml"
        )


def check_doctor_texts(check: WheelCheck, wheel: Path, cache: Path) -> None:
    """torch's messages that doctor's MPS rules match are in the wheel's libtorch_cpu.dylib, word for word."""
    member = "torch/lib/libtorch_cpu.dylib"
    wanted = {rule: texts for rule, (lib, texts) in doctor_torch.LITERALS.items() if lib == "libtorch_cpu"}
    texts = sorted({t for ts in wanted.values() for t in ts})
    missing = set(wheelcache.strings_missing(wheel, member, texts, cache))
    check.facts["doctor_texts"] = {"member": member, "found": len(texts) - len(missing), "of": len(texts)}
    for rule, rule_texts in wanted.items():
        for text in (t for t in rule_texts if t in missing):
            check.problems.append(
                f"{check.file}: expected {member} to hold {text!r}, which doctor's rule {rule} matches, got "
                "none: torch reworded it; update that rule and its literals in checks/doctor/rules/torch.py"
            )


def check_torch_kernels(check: WheelCheck, wheels: dict[str, Path], cache: Path = CACHE) -> None:
    """Which torch dispatch keys the wheel's binaries register kernels for (TORCH_LIBRARY_IMPL), and the
    Metal kernels they carry as source: the MPS kernels of torch and its extensions, read from the binary.
    A fact, not a rule: torchaudio's transforms, for one, are torch ops with no kernels of their own."""
    if check.name not in wheels:
        return
    found = {}
    for member, fact in wheelcache.dyld_facts(wheels[check.name], cache).items():
        if fact["torch_kernels"] or fact["metal_kernels"]:
            found[wheelcache.installed_path(member)] = {
                "torch_kernels": fact["torch_kernels"],
                "metal_kernels": fact["metal_kernels"],
            }
    if found:
        check.facts["torch_kernels"] = found


def check_mlx_metal(check: WheelCheck, wheel: Path, found: list[macho.Binary]) -> None:
    """mlx-metal's macOS wheel is MLX's Metal backend: the kernels' library ships, and libmlx links Metal."""
    with zipfile.ZipFile(wheel) as zf:
        metallibs = {i.filename: i.file_size for i in zf.infolist() if i.filename.endswith(".metallib")}
    linking = sorted(b.path for b in found if "Metal" in b.frameworks())
    check.facts["mlx_metal"] = {"metallibs": metallibs, "binaries_linking_metal": linking}
    if not metallibs:
        check.problems.append(f"{check.file}: expected the Metal library (mlx.metallib), got none")
    if not linking:
        check.problems.append(f"{check.file}: expected a binary linking Metal (libmlx.dylib), got none")


def platform_minimum(filename: str) -> str | None:
    """macosx_11_0_arm64 -> 11.0: the lowest macOS the wheel's tag admits."""
    versions = []
    for tag in parse_wheel_filename(filename)[3] if filename.endswith(".whl") else []:
        if tag.platform.startswith("macosx_"):
            major, minor = tag.platform.split("_")[1:3]
            versions.append(f"{major}.{minor}")
    return min(versions, key=macho.version_tuple) if versions else None


# ---- the lock's macOS wheels as one site-packages: every library each binary links is found -------------


@dataclass
class SitePackages:
    """The lock's wheels installed side by side, as dyld sees them: every file by its installed path, and
    every library by its install name."""

    files: dict[str, WheelCheck] = field(default_factory=dict)  # installed path -> the wheel that ships it
    install_names: dict[str, tuple[WheelCheck, str]] = field(default_factory=dict)  # -> (wheel, path)

    def add(self, check: WheelCheck, wheel: Path, facts: dict[str, dict[str, Any]]) -> None:
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                self.files.setdefault(wheelcache.installed_path(name), check)
        for member, fact in facts.items():
            if fact["install_name"]:
                where = wheelcache.installed_path(member)
                self.install_names.setdefault(fact["install_name"], (check, where))


def resolve(link: str, path: str, rpaths: list[str], site: SitePackages) -> tuple[str, str | None]:
    """How dyld (macOS 12+, dyld4) finds `link`, loaded from the binary installed at `path` with these
    LC_RPATHs: ("system" | "loader_path" | "rpath" | "install_name" | "missing", the installed path found).

    @loader_path is the binary's folder; @rpath each LC_RPATH in turn (those relative to @loader_path; an
    absolute one is the build machine's folder, absent on a user's). An @rpath link none of them finds is
    still found when an image with that install name is already loaded: dyld4 checks loaded images first
    for @rpath paths (Loader::getLoader, "already-loaded-by-rpath": apple-oss-distributions/dyld
    dyld/Loader.cpp), which is how torchvision's and torchaudio's extensions reach torch's libraries after
    `import torch` has loaded them. That needs the library in the lock; that it is loaded first is the
    package's import order, which verify's import proves on a real machine."""
    if link.startswith(SYSTEM_LIBRARIES):
        return "system", None
    folder = posixpath.dirname(path)
    if link.startswith("@loader_path/"):
        found = posixpath.normpath(posixpath.join(folder, link.removeprefix("@loader_path/")))
        return ("loader_path", found) if found in site.files else ("missing", None)
    if link.startswith("@rpath/"):
        rest = link.removeprefix("@rpath/")
        for rpath in rpaths:
            if rpath.startswith("@loader_path"):
                base = posixpath.join(folder, rpath.removeprefix("@loader_path").lstrip("/"))
                found = posixpath.normpath(posixpath.join(base, rest))
                if found in site.files:
                    return "rpath", found
        if link in site.install_names:
            return "install_name", site.install_names[link][1]
    return "missing", None


def outside_the_lock(link: str) -> str | None:
    """Why a library no wheel ships may be linked (OUTSIDE_THE_LOCK), or None."""
    name = link.rsplit("/", 1)[-1]
    return next((why for pattern, why in OUTSIDE_THE_LOCK.items() if re.fullmatch(pattern, name)), None)


def check_links(checks: list[WheelCheck], wheels: dict[str, Path], cache: Path = CACHE) -> None:
    """Every library each arm64 binary of the lock's macOS wheels links is the system's, or found in the
    lock's wheels (the same wheel or another, by @loader_path, @rpath or install name), or declared in
    OUTSIDE_THE_LOCK; and each symbol bound two-level to a library of another wheel is exported there."""
    site, facts, found = SitePackages(), {}, {}
    for check in checks:
        if check.name in wheels:
            facts[check.name] = wheelcache.dyld_facts(wheels[check.name], cache)
            site.add(check, wheels[check.name], facts[check.name])
            binaries = wheelcache.binaries(wheels[check.name], cache)
            found[check.name] = [b for b in binaries if b.arch == "ARM64"]
    for check in checks:
        if check.name not in wheels:
            continue
        links: dict[str, Any] = {
            "binaries": len(found[check.name]),
            "from_other_wheels": {},
            "outside_the_lock": {},
        }
        for binary in found[check.name]:
            path = wheelcache.installed_path(binary.path)
            rpaths = facts[check.name][binary.path]["rpaths"]
            for link, kind in binary.links.items():
                how, where = resolve(link, path, rpaths, site)
                provider = site.files.get(where) if where else None
                if provider is not None and provider is not check:
                    links["from_other_wheels"].setdefault(path, {})[link] = {
                        "wheel": provider.name, "path": where, "how": how
                    }  # fmt: skip
                elif how == "missing" and outside_the_lock(link):
                    links["outside_the_lock"].setdefault(path, []).append(link)
                elif how == "missing" and kind != "weak":  # dyld skips a weak library that is absent
                    check.problems.append(
                        f"{path} in {check.file} links {link}, which no wheel of the lock ships and macOS "
                        "does not have: it would fail to load (dyld: Library not loaded)"
                    )
        check.facts["links"] = links
        if links["outside_the_lock"]:
            libs = {lib for ls in links["outside_the_lock"].values() for lib in ls}
            whys = sorted({why for lib in libs if (why := outside_the_lock(lib))})
            check.warnings.append(
                f"{len(links['outside_the_lock'])} binaries in {check.file} link {len(libs)} libraries no "
                f"wheel of the lock ships, loaded only on demand: {'; '.join(whys)}"
            )
        if links["from_other_wheels"]:
            check_bindings(check, wheels, links["from_other_wheels"], cache)


def check_bindings(check: WheelCheck, wheels: dict[str, Path], linked: dict[str, Any], cache: Path) -> None:
    """Each symbol a binary binds two-level to another wheel's library is in that library's exports (its
    export trie, plus what it re-exports): the ABI the two wheels were built against agrees."""
    imports = wheelcache.imports(wheels[check.name], cache)
    by_path = {wheelcache.installed_path(m): rec for m, rec in imports.items()}
    bound: dict[str, Any] = {}
    for path, links in sorted(linked.items()):
        for link, provider in sorted(links.items()):
            symbols = by_path[path]["libraries"].get(link, [])
            exports = wheelcache.exports(wheels[provider["wheel"]], cache)
            member = next(m for m in exports if wheelcache.installed_path(m) == provider["path"])
            have = tfpair.library_exports(member, exports)
            missing = sorted(s for s in symbols if s not in have)
            bound[f"{path} -> {provider['path']}"] = {"symbols": len(symbols), "missing": len(missing)}
            if missing:
                check.problems.append(
                    f"{path} in {check.file} binds {len(missing)} of its {len(symbols)} symbols from {link} "
                    f"to names {provider['wheel']}'s {provider['path']} does not export (dyld: Symbol not "
                    f"found), e.g. {macho.demangle(missing[0])}: a {check.name} built for another "
                    f"{provider['wheel']}"
                )
    check.facts["bindings"] = bound


def check_lock(env: envspec.Environment, target: str, cache: Path = CACHE) -> list[WheelCheck]:
    """Download (or reuse) every wheel the lock installs on the target and check each."""
    floor, python = env.floor(target), python_minor(env.python)
    entries, wheels = [], {}
    for python_full, group in target_pins(env, target).items():
        entries += group
        wheels.update(fetch([(e.name, e.version) for e in group], target, floor, python_full, cache))
    checks = []
    for entry in entries:
        check = WheelCheck(env.name, target, entry.name, entry.version)
        got = wheels[(entry.name, entry.version)]
        if isinstance(got, str):
            check.problems.append(got)
        else:
            check_wheel(check, got, entry.hashes, floor, python, cache)
            if got.is_file():  # a wheel whose sha256 the lock does not carry is gone from the cache
                check.facts["bytes"] = wheel_bytes(got)
        checks.append(check)
    if wheelcache.target(target).floor == "macos":
        readable: dict[str, Path] = {}
        for c in checks:
            got = wheels[(c.name, c.version)]
            if c.file and not c.problems and isinstance(got, Path):
                readable[c.name] = got
        check_links(checks, readable, cache)
        for check in checks:
            check_torch_kernels(check, readable, cache)
        metallibs.check_lock(env, target, checks, {e.name: e.hashes for e in entries}, cache)
    else:
        found = {c.name: wheels[(c.name, c.version)] for c in checks if c.file and not c.problems}
        elfbind.check_lock(checks, {n: w for n, w in found.items() if isinstance(w, Path)}, cache)
    return checks


def wheel_bytes(wheel: Path) -> dict[str, int]:
    """What the wheel costs on disk: its download, and its files once installed (the sum of its members'
    uncompressed sizes, read from the zip's directory: what pip or uv unpacks into site-packages)."""
    with zipfile.ZipFile(wheel) as zf:
        installed = sum(i.file_size for i in zf.infolist())
    return {"download": wheel.stat().st_size, "installed": installed}


def disk(checks: list[dict[str, Any]]) -> str:
    """', 1.2 GB to download, 3.4 GB installed' for a lock's wheels on one target (GB = 10**9 bytes)."""
    sizes = [c["facts"]["bytes"] for c in checks if "bytes" in c["facts"]]
    download, installed = (sum(s[k] for s in sizes) / 1e9 for k in ("download", "installed"))
    return f", {download:.2f} GB to download, {installed:.2f} GB installed" if sizes else ""


def run(
    envs: dict[str, envspec.Environment], targets: list[str] | None = None, cache: Path = CACHE
) -> dict[str, Any]:
    """Every environment's wheels on each of its targets (or only `targets`), and its locked Metal pair."""
    report: dict[str, Any] = {"schema_version": 2, "environments": {}}
    for env in envs.values():
        per_env: dict[str, Any] = {"python": env.python, "floors": dict(env.floors)}
        for target in [t for t in env.targets if not targets or t in targets]:
            checks = check_lock(env, target, cache)
            per_env[target] = [asdict(c) for c in checks]
            if target == tfpair.TARGET:
                per_env["tensorflow_metal_pairs"] = [
                    asdict(p) for p in tfpair.locked_pairs(env, checks, cache)
                ]
        report["environments"][env.name] = per_env
    report["failures"] = failures(report)
    report["passed"] = not report["failures"]
    return report


def _targets(per_env: dict[str, Any]) -> list[str]:
    return list(per_env["floors"])


def failures(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            for check in per_env.get(target, []):
                lines += [f"{name} {target}: {p}" for p in check["problems"]]
        for pair in per_env.get("tensorflow_metal_pairs", []):
            lines += [f"{name} macos-arm64: {p}" for p in pair["problems"]]
    return lines


def summary(report: dict[str, Any]) -> list[str]:
    out = []
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            checks = per_env.get(target)
            if checks is None:
                continue
            floor = floor_name(target, per_env["floors"][target])
            bad = sum(bool(c["problems"]) for c in checks)
            links = (
                ", every library its binaries link found"
                if any("links" in c["facts"] for c in checks)
                else ""
            )
            out.append(
                f"{name} {target}: {len(checks)} wheels, {len(checks) - bad} ok "
                f"(binary, sha256 in lock, fits {floor}{links}){disk(checks)}"
            )
            for check in checks:
                out += describe_links(check) + describe_kernels(check) + metallibs.describe(check)
                elf = check["facts"].get("elf_bindings")
                if elf:
                    out += elfbind.describe(f"{check['name']} {check['version']}", elf)
                metal = check["facts"].get("mlx_metal")
                if metal:
                    libs = ", ".join(f"{k} ({v / 2**20:.0f} MiB)" for k, v in metal["metallibs"].items())
                    links = ", ".join(metal["binaries_linking_metal"]) or "none"
                    out.append(
                        f"  mlx-metal {check['version']}: ships {libs or 'no metallib'}; links Metal: {links}"
                    )
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
                        f"binaries up to {mps['binaries_minimum']}, MPS floor {mps['mps_floor']} (torch "
                        f"declares {mps.get('declared_floor') or 'none'}+)"
                    )
                texts = check["facts"].get("doctor_texts")
                if texts:
                    out.append(
                        f"  torch {check['version']} MPS messages doctor matches: {texts['found']} of "
                        f"{texts['of']} literals in {texts['member']}"
                    )
        for pair in per_env.get("tensorflow_metal_pairs", []):
            out += ["  " + line for line in tfpair.describe(tfpair.PairResult(**pair))]
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            out += [f"WARN: {name} {target}: {w}" for c in per_env.get(target, []) for w in c["warnings"]]
    out += [f"FAIL: {line}" for line in report["failures"]]
    out.append("PASS" if report["passed"] else "FAILED")
    return out


def describe_links(check: dict[str, Any]) -> list[str]:
    """One line per wheel whose binaries reach another wheel's libraries, and how many symbols they bind."""
    linked = check["facts"].get("links", {}).get("from_other_wheels", {})
    if not linked:
        return []
    by_wheel: dict[str, dict[str, Any]] = {}
    for path, links in linked.items():
        for provider in links.values():
            entry = by_wheel.setdefault(provider["wheel"], {"from": set(), "to": set(), "how": set()})
            entry["from"].add(path)
            entry["to"].add(provider["path"])
            entry["how"].add(provider["how"].replace("_", " "))
    bound = check["facts"].get("bindings", {})
    symbols, missing = sum(b["symbols"] for b in bound.values()), sum(b["missing"] for b in bound.values())
    return [
        f"  {check['name']} {check['version']} links {wheel}: {len(e['from'])} "
        f"{'binary reaches' if len(e['from']) == 1 else 'binaries reach'} "
        f"{', '.join(sorted(e['to']))} (by {', '.join(sorted(e['how']))}); {symbols} symbols bound "
        f"two-level, {'all exported there' if not missing else f'{missing} MISSING'}"
        for wheel, e in sorted(by_wheel.items())
    ]


def describe_kernels(check: dict[str, Any]) -> list[str]:
    """One line per binary registering torch kernels: for MPS or not, and the Metal kernels it carries."""
    out = []
    for path, found in check["facts"].get("torch_kernels", {}).items():
        kernels = found["torch_kernels"]
        # `_` is TORCH_LIBRARY_IMPL(_, KEY, m): a fallback for every namespace's ops on that key
        mps = sorted(ns if ns != "_" else "_ (fallback)" for ns, keys in kernels.items() if "MPS" in keys)
        metal = found["metal_kernels"]
        if not kernels and not metal:
            continue
        what = (
            f"registers {', '.join(mps)} ops for MPS"
            if mps
            else f"registers {', '.join(kernels) or 'no'} ops, none for MPS"
        )
        shown = ", ".join(metal[:4]) + (", ..." if len(metal) > 4 else "")
        carries = f", carries the Metal source of {len(metal)} kernels ({shown})" if metal else ""
        out.append(f"  {check['name']} {check['version']} kernels: {path} {what}{carries}")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    envs = envspec.environments()
    parser = argparse.ArgumentParser(prog="python -m tools.mac.wheels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=sorted(envs), help="only this environment (repeat)")
    parser.add_argument(
        "--target", action="append", choices=sorted(envspec.targets()), help="only this platform (repeat)"
    )
    parser.add_argument("--json", type=Path, help="write the full report here (e.g. results/wheels.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    envs = {n: e for n, e in envspec.environments().items() if not args.env or n in args.env}
    try:
        report = run(envs, args.target)
    except wheelcache.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary(report)))
    if args.json:
        report_file.write_json(args.json, report)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
