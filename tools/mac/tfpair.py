"""Can this TensorFlow and this tensorflow-metal work together? Checked from the real macOS arm64 wheelcache.

TensorFlow loads every PluggableDevice at `import tensorflow`, and one symbol the plugin cannot bind kills
the whole import (`Symbol not found … libmetal_plugin.dylib`). Each undefined symbol of the plugin's
libmetal_plugin.dylib is bound one of two ways, as its bind opcodes or chained fixups say
(tools/mac/macho.py):

- two-level, to one named library: since tensorflow-metal 1.1.0 the plugin links
  `@rpath/_pywrap_tensorflow_internal.so` and binds some symbols to it. Such a symbol must be in that very
  library's exports (re-exports and indirect symbols count), whatever other binaries of the wheel export.
  The library is the TF wheel's binary of that install name (dyld reuses the image TF has already loaded),
  else of that file name. Binds to the system's libraries (/usr/lib, /System) are not checked;
- flat (dynamic lookup): any loaded image may provide it. It is missing only if no binary of the TF wheel
  exports it and it is TensorFlow's to provide (`tensorflow_symbol`): the system's and the interpreter's
  symbols (objc_msgSend, libc++'s std::…) are listed as left to them, never as missing.

The report names each missing symbol demangled, grouped by class, with where it was expected, next to
Apple's pairing table (checks/data/tensorflow-metal-pairs.json). The Python is the newest CPython both
releases have macOS arm64 wheels for, or `--python`. Every pair at once: tools/mac/tfmatrix.py (`--
--matrix`).

Run: `nox -s pair -- tensorflow==2.18.0 tensorflow-metal==1.2.0`. Exit 0 they link, 1 they cannot
work together (or a wheel does not exist), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import email.parser
import functools
import json
import re
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from checks.core import report as report_file
from tools.envs import envspec
from tools.mac import macho, wheelcache

# One table for doctor (inside the environments, stdlib only, hence JSON) and for this check.
TABLE = envspec.ROOT / "checks" / "data" / "tensorflow-metal-pairs.json"
TF_PACKAGES = ("tensorflow-macos", "tensorflow")  # the macOS arm64 TensorFlow builds on PyPI
PLUGIN = "tensorflow-metal"
TARGET = "macos-arm64"
# Apple's table says 12.1+ for every plugin since 0.5.0; what we download at when the user names no floor.
DEFAULT_FLOOR = "12.1"
# Two-level binds to these libraries are the system's business (libSystem, libc++, libobjc, frameworks).
SYSTEM_LIBRARIES = ("/usr/lib/", "/System/")
# C names TensorFlow's binaries provide: its C APIs (TF_, TFE_, TFL_/TfLite for Lite, TSL_ for TSL) and
# Abseil's C-linkage hooks (AbslInternal…).
TF_C_PREFIXES = ("TF_", "TFE_", "TFL_", "TfLite", "TSL_", "Absl")
# libc++/libc++abi, the only C++ libraries macOS ships: what their demangled names start with (after a
# "typeinfo for "/"vtable for "-style prefix).
CXX_RUNTIME_PREFIXES = ("std::", "__cxxabiv1::", "operator new", "operator delete")
_SPECIAL_NAME = re.compile(
    r"^(?:typeinfo name for |typeinfo for |vtable for |VTT for |construction vtable for |guard variable for "
    r"|(?:non-)?virtual thunk to |covariant return thunk to )+"
)
FLAT = "any TensorFlow binary (flat lookup)"


def apple_table(path: Path = TABLE) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(path.read_text())
    return table


def _minor(version: str) -> str:
    release = Version(version).release
    return f"{release[0]}.{release[1]}"


def documented(
    tf_version: str, metal_version: str, table: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Apple's row that pairs this TF minor with exactly this plugin version, if any."""
    rows = (table or apple_table())["pairs"]
    return next(
        (
            r
            for r in rows
            if _minor(tf_version) in r["tensorflow"] and Version(r["metal"]) == Version(metal_version)
        ),
        None,
    )


def apple_rows_for(
    metal_version: str = "", tf_version: str = "", table: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    rows = (table or apple_table())["pairs"]
    return [
        r
        for r in rows
        if (metal_version and Version(r["metal"]) == Version(metal_version))
        or (tf_version and _minor(tf_version) in r["tensorflow"])
    ]


def tensorflow_symbol(raw: str) -> bool:
    """Is this flat (dynamic-lookup) import TensorFlow's to provide? Decided by its name, as follows.

    C++ names (Itanium-mangled, `__Z…` in Mach-O) are TensorFlow's unless they belong to the C++ runtime
    (std::, __cxxabiv1::, operator new/delete): libc++ is the only C++ library macOS ships, so tensorflow::,
    tsl::, xla::, absl::, google::protobuf::, Eigen::, mlir:: … can only come from TF's binaries. C names
    are TensorFlow's only with its C-API prefixes (TF_C_PREFIXES); every other C or Objective-C name
    (objc_msgSend, _OBJC_CLASS_$_…, libSystem's functions, the Python C API) is the system's or the
    interpreter's. A name that does not demangle counts as TensorFlow's (never silently dropped)."""
    name = raw[1:] if raw.startswith("_") else raw
    if name.startswith("_Z"):
        demangled = macho.demangle(raw)
        if demangled == raw:
            return True
        return not _SPECIAL_NAME.sub("", demangled).startswith(CXX_RUNTIME_PREFIXES)
    return name.startswith(TF_C_PREFIXES)


def first_tensorflow(symbol: str, table: dict[str, Any] | None = None) -> str | None:
    """The first TF release exporting this (demangled) symbol's namespace, where the table knows it."""
    for row in (table or apple_table()).get("namespaces", []):
        if symbol.startswith(row["prefix"]):
            return str(row["first_tensorflow"])
    return None


@dataclass
class PairResult:
    tensorflow: str  # name==version
    metal: str
    tensorflow_file: str = ""
    metal_file: str = ""
    imports: int = 0  # TensorFlow symbols the plugin imports (two-level binds to TF libraries + flat ones)
    missing: list[str] = field(default_factory=list)  # raw Mach-O names not found where they are bound
    groups: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # owner -> {symbols: [demangled], where, hint}
    apple: dict[str, Any] | None = None  # Apple's row for exactly this pair, or None
    apple_notes: list[str] = field(default_factory=list)
    links: bool = False
    problems: list[str] = field(default_factory=list)
    python: str = ""  # the CPython (3.x) of both wheels
    two_level: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # install name -> {binary, symbols: count}
    flat: int = 0  # flat imports that are TensorFlow's (found in a TF binary, or TF-named)
    expected_in: dict[str, str] = field(default_factory=dict)  # raw missing name -> where it was looked up
    left_to_system: list[str] = field(default_factory=list)  # flat, in no TF binary, not TF's: system's
    installs: str = ""  # where the TF pin is a metapackage on macOS arm64: the pin it installs (read instead)


def group_missing(
    missing: list[str],
    table: dict[str, Any] | None = None,
    expected_in: dict[str, str] | None = None,
    tf_version: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Missing symbols by owning class; the hint (the first TF with that namespace) only where this TF is
    older than that, since a newer one lacks the symbol for another reason (a changed signature)."""
    groups: dict[str, dict[str, Any]] = {}
    for raw in missing:
        name = macho.demangle(raw)
        owner = macho.owner(name) if "::" in name else "the C API (TF_…)"  # C names have no class
        group = groups.setdefault(owner, {"symbols": [], "where": [], "hint": None})
        group["symbols"].append(name)
        group["where"].append((expected_in or {}).get(raw, FLAT))
        first = first_tensorflow(name, table)
        if first and (tf_version is None or Version(tf_version) < Version(first)):
            group["hint"] = group["hint"] or first
    return dict(sorted(groups.items()))


def library_in_wheel(install_name: str, tf_exports: dict[str, dict[str, Any]]) -> str | None:
    """The TF wheel's binary a plugin's load command names: the one with that install name (dyld reuses an
    image already loaded under it: TF has loaded _pywrap_tensorflow_internal.so before any plugin), else the
    one of that file name; None if the wheel has neither."""
    exact = sorted(m for m, rec in tf_exports.items() if rec["install_name"] == install_name)
    if exact:
        return exact[0]
    file_name = install_name.rsplit("/", 1)[-1]
    same = sorted(m for m in tf_exports if m.rsplit("/", 1)[-1] == file_name)
    return same[0] if same else None


def library_exports(
    member: str, tf_exports: dict[str, dict[str, Any]], seen: frozenset[str] = frozenset()
) -> set[str]:
    """What a two-level bind to this binary can find: its export trie plus, for each LC_REEXPORT_DYLIB,
    that library's exports (where the wheel has it)."""
    record = tf_exports[member]
    names = set(record["symbols"])
    for library in record["reexported_libraries"]:
        target = library_in_wheel(library, tf_exports)
        if target and target not in seen:
            names |= library_exports(target, tf_exports, seen | {member})
    return names


@functools.lru_cache(maxsize=2)  # the matrix checks one TF wheel against every plugin in a row
def _tf_exports(tf_wheel: Path, cache: Path) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
    """The TF wheel's exports per binary, and their union (what a flat lookup can find)."""
    per_binary = wheelcache.exports(tf_wheel, cache)
    return per_binary, frozenset().union(*(rec["symbols"] for rec in per_binary.values()))


def check(
    tf_pin: str,
    tf_wheel: Path,
    metal_pin: str,
    metal_wheel: Path,
    cache: Path,
    python: str,
) -> PairResult:
    """Check every bind of the plugin where dyld would resolve it (module docstring); Apple's table beside."""
    table = apple_table()
    result = PairResult(tf_pin, metal_pin, tf_wheel.name, metal_wheel.name, python=python)
    plugin = {
        m: rec
        for m, rec in wheelcache.imports(metal_wheel, cache).items()
        if wheelcache.installed_path(m).startswith("tensorflow-plugins/")
    }
    tf_exports, everywhere = _tf_exports(tf_wheel, cache)
    missing: dict[str, str] = {}
    left_to_system: set[str] = set()
    flat: set[str] = set()
    for rec in plugin.values():
        for library, symbols in rec["libraries"].items():
            if library.startswith(SYSTEM_LIBRARIES):
                continue
            member = library_in_wheel(library, tf_exports)
            if member is None:
                if library not in rec["weak_libraries"]:
                    missing.update((sym, f"{library} (no such binary in {tf_wheel.name})") for sym in symbols)
                continue
            count = result.two_level.setdefault(library, {"binary": member, "symbols": 0})
            count["symbols"] += len(symbols)
            have = library_exports(member, tf_exports)
            missing.update((sym, f"{library} ({member})") for sym in symbols if sym not in have)
        for sym in rec["flat"]:
            if sym in everywhere or tensorflow_symbol(sym):
                flat.add(sym)
                if sym not in everywhere:
                    missing.setdefault(sym, FLAT)
            else:
                left_to_system.add(sym)
    result.flat = len(flat)
    result.imports = result.flat + sum(c["symbols"] for c in result.two_level.values())
    result.left_to_system = sorted(left_to_system)
    if not result.imports:
        result.problems.append(
            f"{metal_wheel.name}: expected a tensorflow-plugins/ binary importing TensorFlow symbols, "
            "got none"
        )
        return result
    result.missing = sorted(missing)
    result.expected_in = {sym: missing[sym] for sym in result.missing}
    tf_version, metal_version = tf_pin.split("==")[1], metal_pin.split("==")[1]
    result.groups = group_missing(result.missing, table, result.expected_in, tf_version)
    result.links = not result.missing
    result.apple = documented(tf_version, metal_version, table)
    if not result.apple:
        for row in apple_rows_for(metal_version=metal_version, table=table):
            result.apple_notes.append(
                f"Apple pairs {PLUGIN} {row['metal']} with TF {', '.join(row['tensorflow'])}"
            )
        for row in apple_rows_for(tf_version=tf_version, table=table):
            note = f"Apple pairs TF {_minor(tf_version)} with {PLUGIN} {row['metal']}"
            if note not in result.apple_notes:
                result.apple_notes.append(note)
    if not result.links:
        places = sorted({_short(where) for where in result.expected_in.values()})
        result.problems.append(
            f"{metal_pin} cannot load into {tf_pin}: its plugin needs {len(result.missing)} TensorFlow "
            f"symbols that {tf_wheel.name} does not export where the plugin binds them "
            f"({', '.join(places)}): "
            + "; ".join(_group_line(owner, g) for owner, g in result.groups.items())
        )
    return result


def _short(where: str) -> str:
    """'@rpath/_pywrap_tensorflow_internal.so (tensorflow/python/…)' -> '_pywrap_tensorflow_internal.so'."""
    return "flat lookup" if where == FLAT else where.split(" ", 1)[0].rsplit("/", 1)[-1]


def where_text(where: str) -> str:
    """The console form of expected_in: 'two-level: @rpath/X.so' or 'flat: any TensorFlow binary'."""
    return "flat: any TensorFlow binary" if where == FLAT else f"two-level: {where.split(' ', 1)[0]}"


def _group_line(owner: str, group: dict[str, Any]) -> str:
    hint = f" — built for TF ≥ {group['hint']}" if group["hint"] else ""
    return f"needs {owner}{hint}"


def _summary(result: PairResult) -> str:
    """How the plugin's TensorFlow symbols are bound: 'N bound two-level to LIB, M flat'."""
    parts = [
        f"{c['symbols']} bound two-level to {lib.rsplit('/', 1)[-1]}" for lib, c in result.two_level.items()
    ]
    return ", ".join([*parts, f"{result.flat} flat"])


def describe(result: PairResult) -> list[str]:
    """The human summary: verdict, the missing symbols grouped with where each was expected, Apple's word."""
    verdict = "links" if result.links else "does NOT link"
    python = f"CPython {result.python}; " if result.python else ""
    lines = [
        f"{result.tensorflow} + {result.metal}: {verdict} ({python}{result.imports} TensorFlow symbols "
        f"imported: {_summary(result)}; {len(result.missing)} missing)"
    ]
    if result.installs:
        lines.append(
            f"  {result.tensorflow} is a metapackage on macOS arm64 (no binaries): it installs "
            f"{result.installs}, whose binaries were read"
        )
    for owner, group in result.groups.items():
        lines.append(f"  {_group_line(owner, group)} ({len(group['symbols'])}):")
        wheres = group.get("where") or [FLAT] * len(group["symbols"])
        lines += [f"    {s}  [{where_text(where)}]" for s, where in zip(group["symbols"], wheres)]
    if result.left_to_system:
        names = ", ".join(macho.demangle(s) for s in result.left_to_system)
        lines.append(f"  left to the system (flat, not TensorFlow's, in no TF binary): {names}")
    if result.apple:
        lines.append(
            f"  Apple-documented: yes (TF {', '.join(result.apple['tensorflow'])} <-> {PLUGIN} "
            f"{result.apple['metal']}, macOS {result.apple['macos']}+)"
        )
    else:
        lines.append(
            "  Apple-documented: no" + (f" ({'; '.join(result.apple_notes)})" if result.apple_notes else "")
        )
    minor = _minor(result.tensorflow.split("==")[1])
    for row in apple_table().get("binaries", []):
        if row["tensorflow"] == minor:
            pairs = (
                f"pair TF {minor} with {PLUGIN} {row['metal']}"
                if row["metal"]
                else f"load no {PLUGIN} into TF {minor}"
            )
            lines.append(
                f"  the binaries {pairs} (docs/tensorflow-metal-matrix.md, `nox -s pair -- --matrix`)"
            )
    return lines


def locked_pairs(env: envspec.Environment, checks: list[Any], cache: Path) -> list[PairResult]:
    """The TF + tensorflow-metal pair a lock installs on macOS arm64 (none if it installs no plugin)."""
    by_name = {c.name: c for c in checks if c.file}
    plugin = by_name.get(PLUGIN)
    tf = next((by_name[n] for n in TF_PACKAGES if n in by_name), None)
    if not plugin or not tf:
        return []
    folder = cache / TARGET
    result = check(
        f"{tf.name}=={tf.version}",
        folder / tf.file,
        f"{PLUGIN}=={plugin.version}",
        folder / plugin.file,
        cache,
        env.python,
    )
    if result.links and not result.apple and not binaries_pair(tf.version, plugin.version):
        result.problems.append(
            f"{tf.name}=={tf.version} + {PLUGIN}=={plugin.version} links but is a pair neither in Apple's "
            f"table nor in the binaries' rows ({'; '.join(result.apple_notes)}): pin a pair of either in "
            f"requirements/{env.name}.in"
        )
    return [result]


def binaries_pair(tf_version: str, metal_version: str, table: dict[str, Any] | None = None) -> bool:
    """The binaries' row (`nox -s pair -- --matrix`, written where Apple's table is silent or wrong: TF
    2.18-2.21) pairs this TF minor with exactly this plugin: the pairing doctor follows."""
    rows = (table or apple_table()).get("binaries", [])
    return any(
        r["tensorflow"] == _minor(tf_version) and r["metal"] and Version(r["metal"]) == Version(metal_version)
        for r in rows
    )


class PairError(Exception):
    """Bad arguments: one line."""


def parse_pins(pins: list[str]) -> tuple[Requirement, Requirement]:
    """Exactly one TensorFlow pin and one tensorflow-metal pin, each name==version."""
    reqs = []
    for text in pins:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            raise PairError(f"expected a pin like tensorflow-metal==0.5.0, got {text!r}") from None
        exact = [s for s in req.specifier if s.operator == "=="]
        if len(exact) != 1 or len(req.specifier) != 1:
            raise PairError(f"expected an exact version (name==version), got {text!r}")
        try:
            Version(exact[0].version)
        except InvalidVersion:
            raise PairError(f"expected an exact version (name==version), got {text!r}") from None
        reqs.append(req)
    names = [canonicalize_name(r.name) for r in reqs]
    if len(reqs) != 2 or PLUGIN not in names or not any(n in TF_PACKAGES for n in names):
        raise PairError(
            f"expected two pins, one of {' or '.join(TF_PACKAGES)} and one of {PLUGIN} "
            f"(e.g. tensorflow-macos==2.9.2 tensorflow-metal==0.5.0), got {' '.join(pins) or 'none'}"
        )
    tf = next(r for r in reqs if canonicalize_name(r.name) in TF_PACKAGES)
    metal = next(r for r in reqs if canonicalize_name(r.name) == PLUGIN)
    return tf, metal


def _pin(req: Requirement) -> tuple[str, str]:
    return canonicalize_name(req.name), next(iter(req.specifier)).version


def parse_python(text: str) -> tuple[int, int]:
    """'3.12' -> (3, 12): a CPython minor version, as --python takes it."""
    match = re.fullmatch(r"3\.(\d{1,2})", text.strip())
    if not match:
        raise PairError(f"expected --python like 3.12 (a CPython 3 minor version), got {text!r}")
    return 3, int(match.group(1))


def _pythons(name: str, version: str, floor: str) -> set[tuple[int, int]]:
    """The CPython minors the index has macOS arm64 wheels of name==version for (empty: none, or unknown)."""
    for release, pythons in wheelcache.wheel_pythons(name, TARGET, floor).items():
        if Version(release) == Version(version):
            return pythons
    return set()


def python_text(python: tuple[int, int]) -> str:
    return ".".join(map(str, python))


def full_version(python: tuple[int, int]) -> str:
    """What pip is told (--python-version): where an environment runs this X.Y, the patch release its
    wheels are checked at (the same download as `nox -s wheels`), else X.Y."""
    full = {e.python: e.python_full for e in envspec.environments().values()}
    return full.get(python_text(python), python_text(python))


def _seed_python() -> tuple[int, int]:
    """The Python of the first TensorFlow environment of the table: where the index lists no wheel."""
    tf_envs = [e for e in envspec.environments().values() if e.framework == "tensorflow"]
    return wheelcache.python_minor(tf_envs[0].python if tf_envs else "3.9")


def choose_python(tf: tuple[str, str], metal: tuple[str, str], floor: str) -> tuple[int, int]:
    """The newest CPython both releases have macOS arm64 wheels for. Where the index lists no such wheel of
    one of them, the first TensorFlow environment's Python, and pip says what is missing; where both have
    wheels but for no common CPython, the pair cannot be installed together (WheelError)."""
    tf_pythons, metal_pythons = _pythons(*tf, floor), _pythons(*metal, floor)
    if not tf_pythons or not metal_pythons:
        return _seed_python()
    common = tf_pythons & metal_pythons
    if not common:
        raise wheelcache.WheelError(
            f"{tf[0]}=={tf[1]} + {metal[0]}=={metal[1]}: expected a CPython with macOS arm64 wheels of both, "
            f"got none ({tf[0]}: {_python_list(tf_pythons)}; {metal[0]}: {_python_list(metal_pythons)}): "
            "they cannot be installed together"
        )
    return max(common)


def _python_list(pythons: set[tuple[int, int]]) -> str:
    return ", ".join(python_text(p) for p in sorted(pythons))


def _other_name_hint(tf: tuple[str, str], floor: str) -> str:
    """tensorflow==2.12.0 has no macOS arm64 wheel but tensorflow-macos==2.12.0 does (and the reverse)."""
    other = next(n for n in TF_PACKAGES if n != tf[0])
    return f"; {other}=={tf[1]} has macOS arm64 wheels" if _pythons(other, tf[1], floor) else ""


def metapackage_target(wheel: Path, python: tuple[int, int]) -> tuple[str, str] | None:
    """The TF pin a wheel installs on macOS arm64 if it is a metapackage there: tensorflow 2.13.0-2.15.0 and
    tensorflow-macos 2.15.1-2.16.2 carry no binaries, only a Requires-Dist on the other name (==X) for
    Darwin arm64. None for a wheel that is TensorFlow itself, and for tensorflow-macos 2.15.1, whose only
    such requirement is on itself (it installs no TensorFlow: tensorflow_binaries says so)."""
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(zf.read(member).decode("utf-8"))  # core metadata: RFC 822
    env = {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "python_version": python_text(python),
        "python_full_version": f"{python_text(python)}.0",
        "extra": "",
    }
    own = canonicalize_name(metadata["Name"] or "")
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        exact = [s.version for s in req.specifier if s.operator == "=="]
        if name in TF_PACKAGES and name != own and exact and (not req.marker or req.marker.evaluate(env)):
            return name, exact[0]
    return None


def tensorflow_binaries(
    tf: tuple[str, str], wheel: Path, python: tuple[int, int], floor: str, cache: Path = wheelcache.CACHE
) -> tuple[Path, str]:
    """(the wheel whose binaries TF is, the pin it installs where `wheel` is a metapackage, else "")."""
    target = metapackage_target(wheel, python)
    if target is None:
        if not wheelcache.exports(wheel, cache):  # tensorflow-macos 2.15.1's wheel: METADATA and nothing else
            raise wheelcache.WheelError(
                f"{tf[0]}=={tf[1]}: expected TensorFlow's binaries in {wheel.name}, got none and no "
                f"requirement on a TensorFlow that has them: it installs no TensorFlow"
                + _other_name_hint(tf, DEFAULT_FLOOR)
            )
        return wheel, ""
    got = wheelcache.fetch([target], TARGET, floor, full_version(python), cache)[target]
    if isinstance(got, str):
        raise wheelcache.WheelError(
            f"{tf[0]}=={tf[1]} installs {target[0]}=={target[1]} on macOS arm64: {got}"
        )
    return got, f"{target[0]}=={target[1]}"


def check_pins(
    pins: list[str], floor: str = DEFAULT_FLOOR, cache: Path = wheelcache.CACHE, python: str | None = None
) -> PairResult:
    """Download both wheels (cached) for macOS arm64 at `floor` and check the pair. `python` ("3.12"): the
    CPython to download for; by default the newest both releases have wheels for (choose_python)."""
    tf, metal = (_pin(r) for r in parse_pins(pins))
    minor = parse_python(python) if python else choose_python(tf, metal, floor)
    got = wheelcache.fetch([tf, metal], TARGET, floor, full_version(minor), cache)
    tf_got, metal_got = got[tf], got[metal]
    if isinstance(tf_got, str):
        raise wheelcache.WheelError(tf_got + _other_name_hint(tf, floor))
    if isinstance(metal_got, str):
        raise wheelcache.WheelError(metal_got)
    tf_wheel, installs = tensorflow_binaries(tf, tf_got, minor, floor, cache)
    result = check(
        f"{tf[0]}=={tf[1]}", tf_wheel, f"{metal[0]}=={metal[1]}", metal_got, cache, python_text(minor)
    )
    result.installs = installs
    return result


class _Args(argparse.ArgumentParser):
    """argparse that raises instead of printing usage, so a bad argument is one line."""

    def error(self, message: str) -> NoReturn:
        raise PairError(f"expected valid arguments, got: {message}")


def main(argv: list[str] | None = None) -> int:
    parser = _Args(prog="python -m tools.mac.tfpair", description=__doc__.split("\n\n")[0])
    parser.add_argument("pins", nargs="*", help="e.g. tensorflow==2.18.0 tensorflow-metal==1.2.0")
    parser.add_argument(
        "--macos", default=DEFAULT_FLOOR, help=f"the oldest macOS to download for (default {DEFAULT_FLOOR})"
    )
    parser.add_argument(
        "--python", help="the CPython to download for, e.g. 3.11 (default: the newest both have)"
    )
    parser.add_argument("--json", type=Path, help="write the result here")
    try:
        args = parser.parse_args(argv)
        try:
            macho.version_tuple(args.macos)
        except ValueError:
            raise PairError(f"expected --macos like 12.1, got {args.macos!r}") from None
        if args.python:
            parse_python(args.python)
        result = check_pins(args.pins, args.macos, python=args.python)
    except PairError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except wheelcache.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(describe(result)))
    for problem in result.problems:
        print(f"FAIL: {problem}")
    print("PASS" if result.links else "FAILED")
    if args.json:
        report_file.write_json(args.json, asdict(result))
    return 0 if result.links else 1


if __name__ == "__main__":
    sys.exit(main())
