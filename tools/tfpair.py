"""Can this TensorFlow and this tensorflow-metal work together? Checked from the real macOS arm64 wheels.

TensorFlow loads every PluggableDevice at `import tensorflow`; the plugin's libmetal_plugin.dylib leaves its
TensorFlow symbols to dynamic lookup, so each one must be exported by some binary of the TensorFlow wheel,
or the import dies with `Symbol not found … libmetal_plugin.dylib`. This module lists the plugin's
dynamic-lookup imports, subtracts the TF wheel's exports, and reports what is missing demangled and grouped
by class, next to Apple's pairing table (checks/data/tensorflow-metal-pairs.json).

Run: `nox -s pair -- tensorflow-macos==2.9.2 tensorflow-metal==0.7.0`. Exit 0 they link, 1 they cannot
work together (or a wheel does not exist), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tools import envspec, macho, wheels

# One table for doctor (inside the environments, stdlib only, hence JSON) and for this check.
TABLE = envspec.ROOT / "checks" / "data" / "tensorflow-metal-pairs.json"
TF_PACKAGES = ("tensorflow-macos", "tensorflow")  # the macOS arm64 TensorFlow builds on PyPI
PLUGIN = "tensorflow-metal"
TARGET = "macos-arm64"
# Apple's table says 12.1+ for every plugin since 0.5.0; what we download at when the user names no floor.
DEFAULT_FLOOR = "12.1"
# Dynamic-lookup imports the Python interpreter provides, not TensorFlow (Python C-API, in plugins that
# carry Python bindings).
INTERPRETER_PREFIXES = ("_Py", "__Py")


def apple_table(path: Path = TABLE) -> dict:
    return json.loads(path.read_text())


def _minor(version: str) -> str:
    release = Version(version).release
    return f"{release[0]}.{release[1]}"


def documented(tf_version: str, metal_version: str, table: dict | None = None) -> dict | None:
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


def apple_rows_for(metal_version: str = "", tf_version: str = "", table: dict | None = None) -> list[dict]:
    rows = (table or apple_table())["pairs"]
    return [
        r
        for r in rows
        if (metal_version and Version(r["metal"]) == Version(metal_version))
        or (tf_version and _minor(tf_version) in r["tensorflow"])
    ]


def first_tensorflow(symbol: str, table: dict | None = None) -> str | None:
    """The first TF release exporting this (demangled) symbol's namespace, where the table knows it."""
    for row in (table or apple_table()).get("namespaces", []):
        if symbol.startswith(row["prefix"]):
            return row["first_tensorflow"]
    return None


@dataclass
class PairResult:
    tensorflow: str  # name==version
    metal: str
    tensorflow_file: str = ""
    metal_file: str = ""
    imports: int = 0  # TensorFlow symbols the plugin leaves to dynamic lookup
    missing: list[str] = field(default_factory=list)  # raw Mach-O names no TF binary exports
    groups: dict[str, dict] = field(default_factory=dict)  # owner -> {symbols: [demangled], hint}
    apple: dict | None = None  # Apple's row for exactly this pair, or None
    apple_notes: list[str] = field(default_factory=list)
    links: bool = False
    problems: list[str] = field(default_factory=list)


def group_missing(missing: list[str], table: dict | None = None) -> dict[str, dict]:
    groups: dict[str, dict] = {}
    for raw in missing:
        name = macho.demangle(raw)
        group = groups.setdefault(macho.owner(name), {"symbols": [], "hint": None})
        group["symbols"].append(name)
        group["hint"] = group["hint"] or first_tensorflow(name, table)
    return dict(sorted(groups.items()))


def check(
    tf_pin: str, tf_wheel: Path, metal_pin: str, metal_wheel: Path, cache: Path = wheels.CACHE
) -> PairResult:
    """Link the plugin's dynamic-lookup imports against the TF wheel's exports; compare with Apple's table."""
    table = apple_table()
    result = PairResult(tf_pin, metal_pin, tf_wheel.name, metal_wheel.name)
    wanted = {
        sym
        for member, syms in wheels.imports(metal_wheel, cache).items()
        if member.startswith("tensorflow-plugins/")
        for sym in syms
        if not sym.startswith(INTERPRETER_PREFIXES)
    }
    if not wanted:
        result.problems.append(
            f"{metal_wheel.name}: expected a tensorflow-plugins/ binary importing TensorFlow symbols, "
            "got none"
        )
        return result
    result.imports = len(wanted)
    result.missing = sorted(wanted - wheels.exports(tf_wheel, cache))
    result.groups = group_missing(result.missing, table)
    result.links = not result.missing
    tf_version, metal_version = tf_pin.split("==")[1], metal_pin.split("==")[1]
    result.apple = documented(tf_version, metal_version, table)
    if not result.apple:
        for row in apple_rows_for(metal_version=metal_version, table=table):
            result.apple_notes.append(
                f"Apple pairs {PLUGIN} {row['metal']} with TF {', '.join(row['tensorflow'])}"
            )
        for row in apple_rows_for(tf_version=tf_version, table=table):
            result.apple_notes.append(f"Apple pairs TF {_minor(tf_version)} with {PLUGIN} {row['metal']}")
    if not result.links:
        result.problems.append(
            f"{metal_pin} cannot load into {tf_pin}: its plugin imports {len(result.missing)} TensorFlow "
            f"symbols that no binary of {tf_wheel.name} exports ("
            + "; ".join(_group_line(owner, g) for owner, g in result.groups.items())
            + ")"
        )
    return result


def _group_line(owner: str, group: dict) -> str:
    hint = f" — built for TF ≥ {group['hint']}" if group["hint"] else ""
    return f"needs {owner}{hint}"


def describe(result: PairResult) -> list[str]:
    """The human summary: verdict, the missing symbols grouped, Apple's word."""
    verdict = "links" if result.links else "does NOT link"
    lines = [
        f"{result.tensorflow} + {result.metal}: {verdict} ({result.imports} TensorFlow symbols imported, "
        f"{len(result.missing)} missing)"
    ]
    for owner, group in result.groups.items():
        lines.append(f"  {_group_line(owner, group)} ({len(group['symbols'])}):")
        lines += [f"    {s}" for s in group["symbols"]]
    if result.apple:
        lines.append(
            f"  Apple-documented: yes (TF {', '.join(result.apple['tensorflow'])} <-> {PLUGIN} "
            f"{result.apple['metal']}, macOS {result.apple['macos']}+)"
        )
    else:
        lines.append(
            "  Apple-documented: no" + (f" ({'; '.join(result.apple_notes)})" if result.apple_notes else "")
        )
    return lines


def locked_pairs(env: envspec.Environment, checks: list[wheels.WheelCheck], cache: Path) -> list[PairResult]:
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
    )
    if result.links and not result.apple:
        result.problems.append(
            f"{tf.name}=={tf.version} + {PLUGIN}=={plugin.version} links but is not a pair in Apple's table "
            f"({'; '.join(result.apple_notes)}): pin a documented pair in requirements/{env.name}.in"
        )
    return [result]


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


def check_pins(pins: list[str], floor: str = DEFAULT_FLOOR, cache: Path = wheels.CACHE) -> PairResult:
    """Download both wheels (cached) for macOS arm64 at `floor`, CPython 3.9, and check the pair."""
    tf, metal = (_pin(r) for r in parse_pins(pins))
    got = wheels.fetch([tf, metal], TARGET, floor, cache)
    for pin in (tf, metal):
        if isinstance(got[pin], str):
            raise wheels.WheelError(got[pin])
    return check(f"{tf[0]}=={tf[1]}", got[tf], f"{metal[0]}=={metal[1]}", got[metal], cache)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tfpair", description=__doc__.split("\n\n")[0])
    parser.add_argument("pins", nargs="*", help="e.g. tensorflow-macos==2.9.2 tensorflow-metal==0.7.0")
    parser.add_argument(
        "--macos", default=DEFAULT_FLOOR, help=f"the oldest macOS to download for (default {DEFAULT_FLOOR})"
    )
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    try:
        macho.version_tuple(args.macos)
    except ValueError:
        print(f"error: expected --macos like 12.1, got {args.macos!r}", file=sys.stderr)
        return 2
    try:
        result = check_pins(args.pins, args.macos)
    except PairError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except wheels.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(describe(result)))
    for problem in result.problems:
        print(f"FAIL: {problem}")
    print("PASS" if result.links else "FAILED")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(result), indent=1) + "\n")
    return 0 if result.links else 1


if __name__ == "__main__":
    sys.exit(main())
