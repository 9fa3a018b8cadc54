"""Linux's half of the link check: every symbol a wheel's ELF extension needs from another wheel's libraries
is defined there (torchvision's and torchaudio's from torch's, mlx's from mlx-cpu's libmlx.so: PAIRS).

A torchvision or torchaudio built for another torch fails at `import` with "undefined symbol: ..." (the
dynamic loader binds every undefined symbol of a library it loads, flat: from any loaded library). For each
ELF binary of the consumer wheel (LIEF reads its dynamic section and symbols), each undefined, non-weak
dynamic symbol is sorted by where the loader will find it:

- defined and exported (a default-visibility dynamic symbol) by a provider library the binary reaches
  through DT_NEEDED, directly or through each other: the provider's, found;
- named as the provider's own (PROVIDER_NAMES: torch's stable C ABI aoti_torch_*/torch_*, and C++ names
  in c10::, at::, torch::, caffe2::; mlx's mlx::) but not defined there: unresolved, the import would fail;
- anything else: another library's (versioned by libc.so.6, libstdc++.so.6, libgcc_s.so.1, libcudart...,
  or unversioned: the C++ runtime, Python's Py*): not this check's (the glibc floor is checked by tags).

Run: `python -m tools.mac.elfbind CONSUMER.whl PROVIDER.whl ...` (exit 1 on an unresolved symbol);
tools/mac/wheels.py calls check_wheels for the pairs in PAIRS.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lief

from tools.mac import macho, wheelcache

lief.logging.disable()

# consumer -> provider, both in the same lock: torch's extensions, and mlx's Python module on libmlx.so
PAIRS = {"torchvision": "torch", "torchaudio": "torch", "mlx": "mlx-cpu"}
# The provider's own names, as demangled: what only its libraries define.
PROVIDER_NAMES = {
    "torch": re.compile(
        r"^(aoti_torch_|torch_|(?:[\w:<>, *&]+ )?(?:c10|at|torch|caffe2)::|(?:vtable|typeinfo(?: name)?) for "
        r"(?:c10|at|torch|caffe2)::)"
    ),
    "mlx-cpu": re.compile(r"^(?:[\w:<>, *&]+ )?mlx::"),
}
ELF_MAGIC = b"\x7fELF"
ANALYSIS = 2  # 2: visibility from st_other's low bits (some libraries set others, which LIEF's enum rejects)
STV_MASK, STV_DEFAULT = 0x3, 0  # ELF st_other: visibility


def _elf_members(zf: zipfile.ZipFile) -> list[str]:
    found = []
    for info in zf.infolist():
        if info.is_dir() or info.file_size < 4:
            continue
        with zf.open(info) as member:
            if member.read(4) == ELF_MAGIC:
                found.append(info.filename)
    return found


def read_elf(path: Path) -> dict[str, Any]:
    """{"soname", "needed", "defined": exported names, "undefined": [[name, version file or None, weak]]}."""
    binary = lief.ELF.parse(str(path))
    if binary is None:
        return {"soname": None, "needed": [], "defined": [], "undefined": []}
    entries = binary.dynamic_entries
    soname = next((e.name for e in entries if isinstance(e, lief.ELF.DynamicSharedObject)), None)
    needed = [e.name for e in entries if isinstance(e, lief.ELF.DynamicEntryLibrary)]
    files = {}  # version name -> the file its verneed entry names
    for req in binary.symbols_version_requirement:
        for aux in req.get_auxiliary_symbols():
            files[aux.name] = req.name
    defined, undefined = set(), []
    weak = lief.ELF.Symbol.BINDING.WEAK
    for symbol in binary.dynamic_symbols:
        if not symbol.name:
            continue
        versioned = symbol.symbol_version if symbol.has_version else None
        version = versioned.symbol_version_auxiliary if versioned is not None else None
        if symbol.shndx == 0:  # SHN_UNDEF
            undefined.append(
                [symbol.name, files.get(version.name) if version else None, symbol.binding == weak]
            )
        elif symbol.other & STV_MASK == STV_DEFAULT:  # the raw field: LIEF's enum rejects extra bits
            defined.add(symbol.name)
    return {"soname": soname, "needed": needed, "defined": sorted(defined), "undefined": undefined}


def elf_facts(wheel: Path, cache: Path = wheelcache.CACHE) -> dict[str, dict[str, Any]]:
    """read_elf of every ELF member of the wheel, remembered by the wheel's sha256."""
    path = cache / "analysis" / f"elf-v{ANALYSIS}-{wheelcache.sha256(wheel)}.json.gz"
    if path.exists():
        found: dict[str, dict[str, Any]] = json.loads(gzip.decompress(path.read_bytes()))
        return found
    found = {}
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(prefix="gpuenv-elf-") as tmp:
        for name in _elf_members(zf):
            found[name] = read_elf(Path(zf.extract(name, tmp)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(found).encode()))
    return found


def _by_name(facts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each library by the names DT_NEEDED uses: its SONAME and its file name."""
    named: dict[str, dict[str, Any]] = {}
    for member, fact in facts.items():
        named.setdefault(member.rsplit("/", 1)[-1], fact)
        if fact["soname"]:
            named.setdefault(fact["soname"], fact)
    return named


def check_wheels(
    consumer: Path, providers: list[Path], provider: str = "torch", cache: Path = wheelcache.CACHE
) -> dict[str, Any]:
    """Per binary of `consumer`: how many of its symbols the providers' libraries define, how many are
    another library's, and those named as the provider's that none defines ("unresolved", demangled).
    {"binaries": {member: {...}}, "unresolved": int}."""
    provided: dict[str, dict[str, Any]] = {}
    for wheel in providers:
        provided |= _by_name(elf_facts(wheel, cache))
    own = PROVIDER_NAMES[provider]
    report: dict[str, Any] = {"binaries": {}, "unresolved": 0}
    for member, fact in sorted(elf_facts(consumer, cache).items()):
        reach, todo = {}, [n for n in fact["needed"] if n in provided]
        while todo:  # the provider libraries this binary loads, directly or through each other
            name = todo.pop()
            if name not in reach:
                reach[name] = provided[name]
                todo += [n for n in provided[name]["needed"] if n in provided]
        exported = {s for lib in reach.values() for s in lib["defined"]}
        found, other, unresolved = 0, 0, []
        for name, _file, is_weak in fact["undefined"]:
            if is_weak:
                continue
            readable = macho.demangle("_" + name)
            if name in exported:
                found += 1
            elif own.match(readable):
                unresolved.append(readable)
            else:
                other += 1
        if reach or unresolved:
            report["binaries"][member] = {
                "needs": sorted(reach), "found": found, "other": other, "unresolved": sorted(unresolved)
            }  # fmt: skip
            report["unresolved"] += len(unresolved)
    return report


def check_lock(checks: list[Any], wheels: dict[str, Path], cache: Path = wheelcache.CACHE) -> None:
    """Each PAIRS consumer of a Linux lock against its provider's wheel: facts["elf_bindings"], and a
    problem per binary that needs a provider symbol the provider does not define."""
    for check in checks:
        provider = PAIRS.get(check.name)
        if provider is None or check.name not in wheels or provider not in wheels:
            continue
        report = check_wheels(wheels[check.name], [wheels[provider]], provider, cache)
        check.facts["elf_bindings"] = {"provider": provider, **report}
        for member, got in report["binaries"].items():
            if got["unresolved"]:
                check.problems.append(
                    f"{member} in {check.file} needs {len(got['unresolved'])} symbols {provider}'s libraries "
                    f"do not define (the import fails: undefined symbol), e.g. {got['unresolved'][0]}: a "
                    f"{check.name} built for another {provider}"
                )


def describe(consumer: str, report: dict[str, Any]) -> list[str]:
    lines = []
    for member, got in report["binaries"].items():
        missing = f", {len(got['unresolved'])} of the provider's MISSING" if got["unresolved"] else ""
        lines.append(
            f"  {consumer}: {member} finds {got['found']} symbols in {', '.join(got['needs']) or 'nothing'}"
            f"{missing}; {got['other']} are other libraries' (system, C++ runtime, CUDA, Python)"
        )
        lines += [f"    UNRESOLVED {name}" for name in got["unresolved"][:10]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mac.elfbind", description=__doc__.split("\n\n")[0])
    parser.add_argument("consumer", type=Path, help="the wheel whose ELF binaries are checked")
    parser.add_argument("providers", type=Path, nargs="+", help="the wheels whose libraries they load")
    args = parser.parse_args(argv)
    for wheel in [args.consumer, *args.providers]:
        if not zipfile.is_zipfile(wheel):
            parser.error(f"expected a wheel file, got {wheel}")
    report = check_wheels(args.consumer, args.providers)
    print("\n".join(describe(args.consumer.name, report)))
    print("PASS" if not report["unresolved"] else f"FAILED: {report['unresolved']} unresolved symbols")
    return 0 if not report["unresolved"] else 1


if __name__ == "__main__":
    sys.exit(main())
