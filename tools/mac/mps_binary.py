"""The MPS kernels compiled into torch's macOS arm64 wheel, read from its binary: the evidence behind the
audit's verdicts (checks/core/mps_ops.py judges from native_functions.yaml; this reads what was really built).

torch's build generates RegisterMPS.cpp from native_functions.yaml: one `wrapper_MPS_<...>` function per
MPS kernel, in an anonymous namespace, registered with `m.impl("op.overload", TORCH_FN(wrapper))`. Each
registration instantiates c10's kernel-functor templates with the wrapper as a template argument, and those
instantiations stay in libtorch_cpu.dylib's symbol table (local symbols, read with LIEF through
tools/mac/macho.py) with the wrapper's name inside their mangled names: `..._GLOBAL__N_1<len>wrapper_MPS_...`.
So the set of wrappers in the binary is the set of ops that have an MPS kernel in that release, compiled.

Also here: the macOS a torch release declares its MPS backend for, read from its own files (the evidence
behind MPS_MACOS_FLOOR in checks/frameworks/torch/__init__.py and the environments' macOS floors): the
message libtorch_cpu.dylib raises when MPS is unavailable ("The MPS backend is supported on macOS 15.0+."),
the macOS versions the shipped MPSDevice.h gates ops on (its `MacOSVersion` enum: the floor itself needs no
gate, pytorch/pytorch#133141's review), and the macOS versions of the Metal libraries embedded in the
binary (tools/mac/metallibs.py). `python -m tools.mac.mps_binary --floors 2.8.0 2.15.0 --json F` records them.

Also here: the sha256 of the yaml a wheel ships (the Linux and the macOS wheel of a release ship the same
bytes, so a Linux environment can judge the Mac), and the sha256 a wheel's RECORD declares for a member.
Run in any venv with the dev layer (LIEF, pip): `python -m tools.mac.mps_binary --torch 2.8.0 --python 3.9`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from checks.core import report
from tools.mac import macho, metallibs, wheelcache

LIBRARY = "torch/lib/libtorch_cpu.dylib"
YAML = "torchgen/packaged/ATen/native/native_functions.yaml"
DEVICE_HEADER = "torch/include/ATen/mps/MPSDevice.h"
MACOS = "macos-arm64"
NEWEST_MACOS = "26.0"  # a floor every release's wheel installs at: for reading any release's files
# An Itanium-mangled name in the anonymous namespace is `12_GLOBAL__N_1` then `<length><identifier>`.
_WRAPPER = re.compile(r"_GLOBAL__N_1(\d+)(wrapper_MPS_\w+)")
# MPS_ERROR_RUNTIME_TOO_LOW, spelt "MacOS" up to torch 2.11 and "macOS" from 2.12.
_FLOOR_MESSAGE = re.compile(rb"The MPS backend is supported on [Mm]acOS (\d+)\.(\d+)\+")
_GATE_ENUM = re.compile(r"enum class MacOSVersion[^{]*\{([^}]*)\}")
_GATE = re.compile(r"\bMACOS_(?:VER_)?(\d+)_(\d+)")


def wrappers_in(symbols: Iterable[str]) -> list[str]:
    """The MPS wrapper functions named inside these (mangled) symbol names, by their mangled length."""
    found = set()
    for symbol in symbols:
        for match in _WRAPPER.finditer(symbol):
            length = int(match.group(1))
            if length <= len(match.group(2)):
                found.add(match.group(2)[:length])
    return sorted(found)


def _symbols(dylib: Path) -> list[str]:
    binary = macho._arm64(dylib, bindings=False)  # the arm64 slice, symbols only (no binds: slow)
    return [] if binary is None else [str(s.name) for s in binary.symbols]


def mps_wrappers(wheel: Path, cache: Path = wheelcache.CACHE) -> list[str]:
    """Every `wrapper_MPS_*` kernel in the wheel's libtorch_cpu.dylib, remembered by the wheel's sha256."""

    def compute() -> list[str]:
        with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
            if LIBRARY not in zf.namelist():
                raise wheelcache.WheelError(f"{wheel.name}: expected {LIBRARY} in the wheel, got none")
            return wrappers_in(_symbols(Path(zf.extract(LIBRARY, tmp))))

    digest = wheelcache.sha256(wheel)
    found: list[str] = wheelcache._remember(wheelcache._analysis_file(digest, "mps-wrappers", cache), compute)
    return found


def declared_floor(library: bytes) -> str | None:
    """The macOS that libtorch_cpu's own "MPS is unavailable" message names ("12.3", "13.0", ...)."""
    found = {(int(m[1]), int(m[2])) for m in _FLOOR_MESSAGE.finditer(library)}
    if len(found) > 1:
        raise wheelcache.WheelError(f"expected one MPS floor message in {LIBRARY}, got {sorted(found)}")
    return ".".join(map(str, found.pop())) if found else None


def gated_versions(header: str) -> list[str]:
    """The macOS versions MPSDevice.h's MacOSVersion enum gates MPS ops on, lowest first ([] if none)."""
    enum = _GATE_ENUM.search(header)
    gates = {(int(a), int(b)) for a, b in _GATE.findall(enum.group(1))} if enum else set()
    return [f"{a}.{b}" for a, b in sorted(gates)]


def floor_evidence(wheel: Path, cache: Path = wheelcache.CACHE) -> dict[str, Any]:
    """What a torch macOS wheel says of the macOS its MPS needs: {"message": the floor its message names,
    "gates": MPSDevice.h's gated versions, "metallibs": the macOS versions of its embedded Metal libraries},
    remembered by the wheel's sha256."""

    def compute() -> dict[str, Any]:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            if LIBRARY not in names:
                raise wheelcache.WheelError(f"{wheel.name}: expected {LIBRARY} in the wheel, got none")
            message = declared_floor(zf.read(LIBRARY))
            header = zf.read(DEVICE_HEADER).decode() if DEVICE_HEADER in names else ""
        return {"message": message, "gates": gated_versions(header)}

    found: dict[str, Any] = wheelcache._remember(
        wheelcache._analysis_file(wheelcache.sha256(wheel), "mps-floor", cache), compute
    )
    return {**found, "metallibs": metallibs.embedded_targets(wheel, LIBRARY, cache)}


def floors_record(versions: list[str], cache: Path = wheelcache.CACHE) -> dict[str, dict[str, Any]]:
    """floor_evidence for each torch release's macOS arm64 wheel (for its newest CPython, fetched at that
    wheel's own tag): the record tests/data/torch-mps-floors.json holds."""
    pythons = wheelcache.wheel_pythons("torch", MACOS, NEWEST_MACOS)
    record: dict[str, dict[str, Any]] = {}
    for version in versions:
        if version not in pythons:
            raise wheelcache.WheelError(
                f"expected a macOS arm64 wheel of torch {version} on the index, got none"
            )
        major, minor = max(pythons[version])
        wheel = macos_wheel(version, f"{major}.{minor}", NEWEST_MACOS)
        record[version] = {
            "wheel": wheel.name,
            "sha256": wheelcache.sha256(wheel),
            **floor_evidence(wheel, cache),
        }
    return record


def member_sha256(wheel: Path, member: str = YAML) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return hashlib.sha256(zf.read(member)).hexdigest()


def record_sha256(record: str, member: str = YAML) -> str | None:
    """The sha256 (hex) that a wheel's RECORD (`path,sha256=<urlsafe base64>,size` lines) gives a member."""
    for line in record.splitlines():
        path, _, rest = line.partition(",")
        if path == member and rest.startswith("sha256="):
            encoded = rest.split(",", 1)[0].removeprefix("sha256=")
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    return None


def macos_wheel(version: str, python: str, floor: str) -> Path:
    """torch==version's macOS arm64 wheel for this CPython, from the shared wheel cache (downloaded once)."""
    got = wheelcache.fetch([("torch", version)], MACOS, floor, python)[("torch", version)]
    if isinstance(got, str):
        raise wheelcache.WheelError(got)
    return got


def facts(version: str, python: str, floor: str) -> dict[str, object]:
    wheel = macos_wheel(version, python, floor)
    with zipfile.ZipFile(wheel) as zf:
        record_name = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        record = zf.read(record_name).decode()
    return {
        "torch": version,
        "wheel": wheel.name,
        "wheel_sha256": wheelcache.sha256(wheel),
        "yaml_sha256": member_sha256(wheel),
        "yaml_sha256_in_record": record_sha256(record),
        "mps_wrappers": mps_wrappers(wheel),
    }


_JUDGE = (
    "import json, sys; from pathlib import Path; from checks.core import mps_ops; "
    "t = mps_ops.judge_all(Path(sys.argv[1])); "
    "print(json.dumps({op: t[op].mps if op in t else None for op in sys.argv[2:]}))"
)


def release_verdicts(version: str, python: str, floor: str, ops: list[str]) -> dict[str, str | None]:
    """The audit's verdict for each op (`name.overload`) in that release, from its macOS wheel's yaml read by
    that wheel's own torchgen (first on the path of a child Python, which needs PyYAML): how the table of
    first releases in docs/audit.md was made. None: the release has no such op."""
    wheel = macos_wheel(version, python, floor)
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        zf.extractall(tmp, [n for n in zf.namelist() if n.startswith("torchgen/")])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(wheelcache.ROOT)])}
        done = subprocess.run([sys.executable, "-c", _JUDGE, str(Path(tmp) / "torchgen"), *ops],
                              capture_output=True, text=True, env=env)  # fmt: skip
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise wheelcache.WheelError(f"torch {version}: expected its torchgen to read its yaml, got {last}")
    found: dict[str, str | None] = json.loads(done.stdout)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.mac.mps_binary", description=__doc__.split("\n")[0]
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--torch", metavar="VERSION", help="one release's MPS kernels, e.g. 2.8.0")
    what.add_argument("--floors", nargs="+", metavar="VERSION",
                      help="what each release's files say of the macOS its MPS needs")  # fmt: skip
    parser.add_argument("--python", metavar="X.Y", help="the CPython of the wheel (with --torch), e.g. 3.9")
    parser.add_argument("--floor", default="14.0", help="the oldest macOS to accept the wheel for")
    parser.add_argument("--json", type=Path, help="write the facts here")
    parser.add_argument("--ops", default="", help="comma-separated name.overload: print their verdicts only")
    args = parser.parse_args(argv)
    if args.torch and not args.python:
        parser.error("expected --python X.Y with --torch, got none")
    if args.json and not args.json.parent.is_dir():
        parser.error(f"expected --json in an existing folder, got {args.json}")
    try:
        if args.floors:
            return _print_floors(floors_record(args.floors), args.json)
        if args.ops:
            for op, verdict in release_verdicts(
                args.torch, args.python, args.floor, args.ops.split(",")
            ).items():
                print(f"torch {args.torch} {op}: {verdict or 'no such op'}")
            return 0
        found = facts(args.torch, args.python, args.floor)
    except wheelcache.WheelError as exc:
        print(f"mps_binary: error: {exc}", file=sys.stderr)
        return 2
    wrappers = found["mps_wrappers"]
    assert isinstance(wrappers, list)
    print(f"torch {args.torch} {found['wheel']}: {len(wrappers)} MPS kernels; yaml {found['yaml_sha256']}")
    if args.json:
        report.write_json(args.json, found)
    return 0


def _print_floors(record: dict[str, dict[str, Any]], out: Path | None) -> int:
    for version, found in record.items():
        print(
            f"torch {version}: message {found['message']}+; MPSDevice.h gates "
            f"{', '.join(found['gates']) or 'none'}; Metal libraries for macOS "
            f"{', '.join(found['metallibs']) or 'none'}"
        )
    if out:
        report.write_json(out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
