"""Which tensorflow-metal loads into which TensorFlow, read from the binaries: every TensorFlow 2.x release
with macOS arm64 wheels (tensorflow-macos 2.5.0-2.16.2, tensorflow from 2.13.0) against every
tensorflow-metal release, each pair checked as `nox -s pair` checks one (tools/mac/tfpair.py).

- Releases: the final (not pre-release, not yanked) versions the package index lists with a macOS arm64
  wheel at the floor (macOS 12.1); every patch release, under both names where both exist.
- Python: one per TensorFlow release, the newest CPython it has a wheel for that some tensorflow-metal
  release has too (no plugin has a 3.13 wheel), to keep the downloads to one TF wheel per release; the
  plugin (1-2 MB) is read from its wheel for the newest CPython the pair shares, and the run records
  whether a plugin release ships the same libmetal_plugin.dylib under every CPython tag.
- A cell "loads" when every bind resolves and some CPython has wheels of both; "no common CPython" when no
  CPython has both (they cannot be installed together, whatever their symbols).

Writes docs/tensorflow-metal-matrix.json and .md, and the "binaries" rows of
checks/data/tensorflow-metal-pairs.json: per TF minor, the plugin the binaries pair it with where that
differs from Apple's table (which stays there as Apple wrote it). Run: `nox -s pair -- --matrix`
(downloads ~9 GB of TensorFlow wheels into the wheel cache once; opt-in, not part of CI).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from packaging.version import Version

from tools.envs import envspec
from tools.mac import macho, tfpair, wheelcache

ROOT = envspec.ROOT
DOCS = ROOT / "docs"
COMMAND = "nox -s pair -- --matrix"
PLUGIN_BINARY = "tensorflow-plugins/libmetal_plugin.dylib"
MISSING_SHOWN = 5  # missing symbols kept per cell (the count is complete)


def releases(name: str, floor: str) -> dict[str, set[tuple[int, int]]]:
    """Final, not yanked, 2.x (for TF) releases of `name` with macOS arm64 wheels -> their CPythons."""
    found = wheelcache.wheel_pythons(name, tfpair.TARGET, floor, include_yanked=False)
    return {
        v: pys
        for v, pys in sorted(found.items(), key=lambda kv: Version(kv[0]))
        if not Version(v).is_prerelease and (name == tfpair.PLUGIN or Version(v).major == 2)
    }


def _fetch(name: str, version: str, python: tuple[int, int], floor: str) -> Path:
    got = wheelcache.fetch([(name, version)], tfpair.TARGET, floor, tfpair.full_version(python))
    wheel = got[(name, version)]
    if isinstance(wheel, str):
        raise wheelcache.WheelError(wheel)
    return wheel


def _plugin_digest(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as zf:
        member = next((n for n in zf.namelist() if wheelcache.installed_path(n) == PLUGIN_BINARY), None)
        return hashlib.sha256(zf.read(member)).hexdigest() if member else None


def _label(name: str, version: str) -> str:
    return f"{name}=={version}"


def build(
    floor: str = tfpair.DEFAULT_FLOOR,
    tf_filter: Callable[[str, str], bool] | None = None,
    metal_filter: Callable[[str], bool] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole matrix as data. `tf_filter(name, version)` / `metal_filter(version)` narrow it (tests)."""
    metal = {v: p for v, p in releases(tfpair.PLUGIN, floor).items() if not metal_filter or metal_filter(v)}
    plugin_pythons = set().union(*metal.values()) if metal else set()
    tf_rows = []
    for name in tfpair.TF_PACKAGES:
        for version, pythons in releases(name, floor).items():
            if tf_filter and not tf_filter(name, version):
                continue
            usable = pythons & plugin_pythons
            tf_rows.append((name, version, pythons, max(usable or pythons)))
    tf_rows.sort(key=lambda row: (Version(row[1]), row[0]))

    plugins = {}
    for version, pythons in metal.items():
        digests = {}
        for python in sorted(pythons):
            digests[tfpair.python_text(python)] = _plugin_digest(
                _fetch(tfpair.PLUGIN, version, python, floor)
            )
        plugins[version] = {
            "pythons": sorted(digests),
            "same_binary_for_every_python": len(set(digests.values())) == 1,
            "binary_sha256": digests,
        }
        log(f"{tfpair.PLUGIN}=={version}: CPython {', '.join(sorted(digests))}")

    matrix: dict[str, Any] = {
        "about": __doc__.split("\n\n")[0].replace("\n", " "),
        "command": COMMAND,
        "macos": floor,
        "index": wheelcache.INDEX_URL,
        "tensorflow": [],
        "metal": plugins,
        "cells": {},
    }
    for name, version, pythons, python in tf_rows:
        row = _label(name, version)
        wheel = _fetch(name, version, python, floor)
        entry = {
            "name": name,
            "version": version,
            "pythons": sorted(tfpair.python_text(p) for p in pythons),
            "checked_python": tfpair.python_text(python),
            "installs": "",
            "no_tensorflow": "",
            "file": wheel.name,
            "sha256": wheelcache.sha256(wheel),
        }
        matrix["tensorflow"].append(entry)
        cells = matrix["cells"][row] = {}
        try:
            tf_wheel, entry["installs"] = tfpair.tensorflow_binaries((name, version), wheel, python, floor)
        except wheelcache.WheelError as exc:  # an empty wheel: nothing to pair with
            entry["no_tensorflow"] = str(exc)
            for metal_version in metal:
                cells[metal_version] = {
                    "verdict": "no TensorFlow",
                    "links": False,
                    "missing_count": 0,
                    "missing": [],
                    "apple_documented": bool(tfpair.documented(version, metal_version)),
                }
            log(f"{row}: {exc}")
            continue
        entry["file"], entry["sha256"] = tf_wheel.name, wheelcache.sha256(tf_wheel)
        for metal_version, metal_pythons in metal.items():
            common = pythons & metal_pythons
            plugin_python = max(common) if common else max(metal_pythons)
            plugin_wheel = _fetch(tfpair.PLUGIN, metal_version, plugin_python, floor)
            result = tfpair.check(
                row,
                tf_wheel,
                _label(tfpair.PLUGIN, metal_version),
                plugin_wheel,
                wheelcache.CACHE,
                tfpair.python_text(python),
            )
            verdict = "no common CPython" if not common else "loads" if result.links else "fails"
            cells[metal_version] = {
                "verdict": verdict,
                "links": result.links,
                "common_pythons": sorted(tfpair.python_text(p) for p in common),
                "plugin_python": tfpair.python_text(plugin_python),
                "imports": result.imports,
                "two_level": {lib: c["symbols"] for lib, c in result.two_level.items()},
                "flat": result.flat,
                "missing_count": len(result.missing),
                "missing": [  # the first few; `nox -s pair` lists them all
                    f"{macho.demangle(raw)} [{tfpair.where_text(result.expected_in[raw])}]"
                    for raw in result.missing[:MISSING_SHOWN]
                ],
                "left_to_system": result.left_to_system,
                "apple_documented": bool(result.apple),
            }
        loads = [v for v, c in cells.items() if c["verdict"] == "loads"]
        log(f"{row} (CPython {tfpair.python_text(python)}): loads {', '.join(loads) or 'no plugin'}")
    matrix["summary"] = summarize(matrix)
    return matrix


def _minor(version: str) -> str:
    release = Version(version).release
    return f"{release[0]}.{release[1]}"


def summarize(matrix: dict[str, Any]) -> dict[str, Any]:
    """The newest TF that loads the newest plugin, and per TF minor what the binaries pair it with."""
    table = tfpair.apple_table()
    newest_metal = max(matrix["metal"], key=Version) if matrix["metal"] else None
    loading = [
        row
        for row in matrix["tensorflow"]
        if newest_metal
        and matrix["cells"][_label(row["name"], row["version"])][newest_metal]["verdict"] == "loads"
    ]
    newest = max(loading, key=lambda r: (Version(r["version"]), r["name"])) if loading else None
    minors: dict[str, dict[str, Any]] = {}
    for row in matrix["tensorflow"]:
        if row.get("no_tensorflow"):  # installs no TensorFlow: no one pairs a plugin with it
            continue
        cells = matrix["cells"][_label(row["name"], row["version"])]
        entry = minors.setdefault(
            _minor(row["version"]), {"releases": [], "loads_everywhere": None, "apple": None}
        )
        entry["releases"].append(_label(row["name"], row["version"]))
        loaded = {v for v, c in cells.items() if c["verdict"] == "loads"}
        before = entry["loads_everywhere"]
        entry["loads_everywhere"] = loaded if before is None else before & loaded
    for minor, entry in minors.items():
        loads = sorted(entry["loads_everywhere"] or (), key=Version)
        entry["loads_everywhere"] = loads
        apple = [r["metal"] for r in table["pairs"] if minor in r["tensorflow"]]
        entry["apple"] = sorted(set(apple), key=Version)
        fitting = [v for v in entry["apple"] if v in loads]
        entry["binaries_pair"] = fitting[-1] if fitting else (loads[-1] if loads else None)
        entry["agrees_with_apple"] = bool(fitting) and entry["binaries_pair"] in entry["apple"]
        if entry["apple"] and not fitting:
            entry["why_not_apple"] = _why(matrix, entry["releases"], entry["apple"])
        elif not entry["apple"]:
            entry["why_not_apple"] = "not in Apple's table" + (
                f"; none loads, e.g. {_why(matrix, entry['releases'], [newest_metal or ''])}"
                if not loads
                else ""
            )
    return {
        "newest_metal": newest_metal,
        "newest_tensorflow_loading_newest_metal": _label(newest["name"], newest["version"])
        if newest
        else None,
        "minors": minors,
    }


def _why(matrix: dict[str, Any], rows: list[str], apple: list[str]) -> str:
    """The first release of the minor where Apple's plugin does not load, and why (first missing symbol)."""
    for row in rows:
        for version in apple:
            cell = matrix["cells"][row].get(version)
            if cell and cell["verdict"] != "loads":
                missing = cell["missing"]
                what = f"{cell['missing_count']} missing, e.g. {missing[0]}" if missing else cell["verdict"]
                return f"{row} + {tfpair.PLUGIN}=={version}: {what}"
    return ""


# ---- outputs ----------------------------------------------------------------------------------------------


def _cell_text(cell: dict[str, Any]) -> str:
    marks = {
        "loads": "✓",
        "fails": f"✗ {cell['missing_count']}",
        "no common CPython": "—",
        "no TensorFlow": "∅",
    }
    mark = marks[cell["verdict"]]
    return f"**{mark} A**" if cell["apple_documented"] else mark


def markdown(matrix: dict[str, Any]) -> str:
    metal = sorted(matrix["metal"], key=Version, reverse=True)
    summary = matrix["summary"]
    lines = [
        "# TensorFlow and tensorflow-metal: which pairs load, read from the binaries",
        "",
        f"Made by `{COMMAND}` (tools/mac/tfmatrix.py) from the real macOS arm64 wheels (floor macOS "
        f"{matrix['macos']}); the same data is in "
        "[tensorflow-metal-matrix.json](tensorflow-metal-matrix.json). "
        "Do not edit by hand: run the command again.",
        "",
    ]
    newest = summary["newest_tensorflow_loading_newest_metal"]
    lines += [
        f"**The newest TensorFlow that loads the newest plugin (tensorflow-metal {summary['newest_metal']}): "
        f"`{newest}`.**"
        if newest
        else f"**No TensorFlow loads tensorflow-metal {summary['newest_metal']}.**",
        "",
        "## How a cell is decided",
        "",
        "Each undefined symbol of the plugin's `tensorflow-plugins/libmetal_plugin.dylib` is checked where "
        "its bind (bind opcodes or chained fixups, read with LIEF) says dyld will look it up:",
        "",
        "- **two-level** (tensorflow-metal ≥ 1.1.0 binds some symbols to "
        "`@rpath/_pywrap_tensorflow_internal.so`):"
        " the symbol must be in that very library's export trie (re-exports, i.e. its indirect symbols, "
        "count); another TF binary exporting it does not help. Binds to the system's libraries "
        "(`/usr/lib`, `/System`) are not checked.",
        "- **flat** (dynamic lookup): any TF binary of the wheel may export it. One no TF binary exports is "
        "missing only if it is TensorFlow's to provide: C++ outside the C++ runtime (`std::`, operator "
        "new/delete), or C with TF's C-API prefixes (`TF_`, `TFE_`, …). The rest (`objc_msgSend`, libSystem, "
        "the Python C API) is the system's or the interpreter's and never counted missing.",
        "",
        "A link check is necessary, not sufficient: a pair that links can still misbehave at run time "
        "(Apple's table also vouches for that). TensorFlow loads every plugin at `import tensorflow`, so "
        "a pair that does not link breaks the import (`Symbol not found … libmetal_plugin.dylib`).",
        "",
        "Legend: ✓ loads; ✗ N: N symbols missing; — no CPython has wheels of both (they cannot be installed "
        "together); ∅ that release installs no TensorFlow (Notes); **A**: the pair is in Apple's table "
        "(tensorflow-metal's PyPI description). Each TF release is read from its wheel for one CPython "
        "(column Py: the newest it shares with some plugin release), each plugin from its wheel for the "
        "newest CPython the pair shares.",
        "",
        "## Where the binaries and Apple's table differ",
        "",
        "| TF | Apple's table | Loads into every release of the minor (binaries) | Paired here | Why |",
        "|---|---|---|---|---|",
    ]
    for minor, entry in sorted(summary["minors"].items(), key=lambda kv: Version(kv[0])):
        if entry["agrees_with_apple"]:
            continue
        lines.append(
            f"| {minor} | {', '.join(entry['apple']) or '(none)'} | "
            f"{', '.join(entry['loads_everywhere']) or 'none'} | {entry['binaries_pair'] or 'none'} | "
            f"{entry.get('why_not_apple', '')} |"
        )
    lines += [
        "",
        "Where they differ, doctor's pairing rule and `checks/data/tensorflow-metal-pairs.json` (its "
        "`binaries` rows, written by this command) follow the binaries; Apple's rows stay as Apple wrote "
        "them.",
        "",
        "## The matrix",
        "",
        "| TensorFlow | Py | " + " | ".join(metal) + " |",
        "|---|---|" + "---|" * len(metal),
    ]
    for row in reversed(matrix["tensorflow"]):
        label = _label(row["name"], row["version"])
        cells = matrix["cells"][label]
        via = f" (installs {row['installs'].split('==')[0]})" if row.get("installs") else ""
        lines.append(
            f"| {row['name']} {row['version']}{via} | {row['checked_python']} | "
            + " | ".join(_cell_text(cells[v]) for v in metal)
            + " |"
        )
    differ = [v for v, p in matrix["metal"].items() if not p["same_binary_for_every_python"]]
    lines += [
        "",
        "## Notes",
        "",
        "- tensorflow-metal ships the same `libmetal_plugin.dylib` under every CPython tag of a release "
        + (f"except {', '.join(differ)}" if differ else "(sha256 compared for every release)")
        + "; a TF release's binaries are read for one CPython only.",
        _metapackage_note(matrix),
        f"- What each failing pair misses, and where it was expected: the JSON (`cells`, the first "
        f"{MISSING_SHOWN} of each), or `nox -s pair -- NAME==X tensorflow-metal==Y` for all of one pair.",
        "",
    ]
    return "\n".join(lines)


def _metapackage_note(matrix: dict[str, Any]) -> str:
    """Which rows are metapackages or empty on macOS arm64 (from the data, grouped)."""
    by_target: dict[tuple[str, str], list[str]] = {}
    empty: list[str] = []
    for row in matrix["tensorflow"]:
        if row.get("installs"):
            by_target.setdefault((row["name"], row["installs"].split("==")[0]), []).append(row["version"])
        elif row.get("no_tensorflow"):
            empty.append(f"{row['name']} {row['version']}")
    parts = [
        f"{name} {', '.join(versions)} install {target}" for (name, target), versions in by_target.items()
    ]
    lines = []
    if parts:
        lines.append(
            '- "(installs …)": on macOS arm64 that release is a metapackage without binaries that requires '
            f"the other name's same version ({'; '.join(parts)}); the binaries read are that one's."
        )
    if empty:
        lines.append(
            f"- ∅: {', '.join(empty)}: the macOS arm64 wheel has no binaries and requires no other "
            "TensorFlow (at most itself), so installing it installs no TensorFlow at all: use the other name."
        )
    return "\n".join(lines)


def update_pairs_file(matrix: dict[str, Any], path: Path = tfpair.TABLE) -> None:
    """Write the binaries' pairing per TF minor where it differs from Apple's table (Apple's rows kept)."""
    data = json.loads(path.read_text())
    rows = []
    for minor, entry in sorted(matrix["summary"]["minors"].items(), key=lambda kv: Version(kv[0])):
        if entry["agrees_with_apple"]:
            continue
        rows.append(
            {
                "tensorflow": minor,
                "metal": entry["binaries_pair"],
                "apple": entry["apple"],
                "loads": entry["loads_everywhere"],
                "evidence": entry.get("why_not_apple", ""),
            }
        )
    data["binaries_about"] = (
        f"Where the binaries disagree with Apple's table, or Apple is silent: per TF minor, the plugin that "
        f"loads into every release of it (`metal`, null where none does), from `{COMMAND}` "
        "(docs/tensorflow-metal-matrix.md). Doctor's pairing rule uses these over Apple's rows."
    )
    data["binaries"] = rows
    data["newest_pair"] = {
        "tensorflow": matrix["summary"]["newest_tensorflow_loading_newest_metal"],
        "metal": matrix["summary"]["newest_metal"],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write(matrix: dict[str, Any], docs: Path = DOCS) -> list[Path]:
    docs.mkdir(parents=True, exist_ok=True)
    out = [docs / "tensorflow-metal-matrix.json", docs / "tensorflow-metal-matrix.md"]
    out[0].write_text(json.dumps(matrix, indent=1, ensure_ascii=False, default=_jsonable) + "\n")
    out[1].write_text(markdown(matrix))
    return out


def _jsonable(value: Any) -> Any:  # json.dumps' default=: a set or a dataclass, as JSON data
    if isinstance(value, set):
        return sorted(value)
    return asdict(value)


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.mac.tfmatrix [--matrix] [--macos 12.1]` (`nox -s pair -- --matrix` runs it)."""
    parser = argparse.ArgumentParser(prog="nox -s pair -- --matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--matrix", action="store_true", help="(what `nox -s pair` passes; implied)")
    parser.add_argument("--macos", default=tfpair.DEFAULT_FLOOR, help="the oldest macOS to download for")
    args, extra = parser.parse_known_args(argv)
    if extra:
        alone = "expected --matrix alone (it checks every pair, one Python per TF release)"
        print(f"error: {alone}, got {extra}", file=sys.stderr)
        return 2
    try:
        macho.version_tuple(args.macos)
    except ValueError:
        print(f"error: expected --macos like 12.1, got {args.macos!r}", file=sys.stderr)
        return 2
    matrix = build(args.macos)
    for path in write(matrix):
        print(f"wrote {path.relative_to(ROOT)}")
    update_pairs_file(matrix)
    print(f"wrote {tfpair.TABLE.relative_to(ROOT)} (binaries rows)")
    summary = matrix["summary"]
    print(
        f"newest TensorFlow that loads tensorflow-metal {summary['newest_metal']}: "
        f"{summary['newest_tensorflow_loading_newest_metal'] or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
