"""Mach-O facts read with macholib: what a binary links, the macOS it declares, the symbols it trades.

Only what the wheel checks need, each read from the load commands or the symbol table by macholib (no
hand-written parsing). Demangling goes through cxxfilt, which calls the C++ runtime's __cxa_demangle.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cxxfilt
from macholib import mach_o
from macholib.MachO import MachO
from macholib.SymbolTable import SymbolTable

# Mach-O and fat (universal) magics, as the first four bytes of a file in either byte order.
MAGICS = {
    m.to_bytes(4, order)
    for m in (mach_o.MH_MAGIC, mach_o.MH_MAGIC_64, mach_o.FAT_MAGIC)
    for order in ("big", "little")
}
LINK_COMMANDS = {
    mach_o.LC_LOAD_DYLIB: "load",
    mach_o.LC_LOAD_WEAK_DYLIB: "weak",
    mach_o.LC_REEXPORT_DYLIB: "reexport",
    mach_o.LC_LAZY_LOAD_DYLIB: "lazy",
    mach_o.LC_LOAD_UPWARD_DYLIB: "upward",
}
# Two-level namespace: an undefined symbol's library ordinal sits in the high byte of n_desc. 0xfe means
# "look it up in every loaded image" (-undefined dynamic_lookup): how plugins import their host's symbols.
DYNAMIC_LOOKUP_ORDINAL = 0xFE
PLATFORM_MACOS = 1  # LC_BUILD_VERSION platform


def version_string(packed: int) -> str:
    """LC_BUILD_VERSION / LC_VERSION_MIN pack X.Y.Z as xxxx.yy.zz nibbles."""
    major, minor, patch = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
    return f"{major}.{minor}" + (f".{patch}" if patch else "")


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@dataclass
class Binary:
    """One architecture slice of one Mach-O file."""

    path: str  # inside the wheel
    arch: str
    minos: str | None  # the minimum macOS it declares (LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX)
    links: dict[str, str] = field(default_factory=dict)  # install name -> load/weak/reexport/...

    def frameworks(self) -> dict[str, str]:
        """System frameworks by name (Metal, MetalPerformanceShaders, ...) -> how they are linked."""
        found = {}
        for name, kind in self.links.items():
            if "/System/Library/Frameworks/" in name:
                found[name.split("/System/Library/Frameworks/", 1)[1].split(".framework", 1)[0]] = kind
        return found


def _arch(header) -> str:
    cpu = header.header.cputype
    return mach_o.CPU_TYPE_NAMES.get(cpu, str(cpu))


def _minos(header) -> str | None:
    for load, cmd, _data in header.commands:
        if load.cmd == mach_o.LC_BUILD_VERSION and cmd.platform == PLATFORM_MACOS:
            return version_string(cmd.minos)
        if load.cmd == mach_o.LC_VERSION_MIN_MACOSX:
            return version_string(cmd.version)
    return None


def _links(header) -> dict[str, str]:
    links = {}
    for load, _cmd, data in header.commands:
        if load.cmd in LINK_COMMANDS:
            links[data.rstrip(b"\x00").decode()] = LINK_COMMANDS[load.cmd]
    return links


def read_binaries(file: Path, name: str) -> list[Binary]:
    """Every architecture slice of a Mach-O file on disk; `name` is its path inside the wheel."""
    macho = MachO(str(file))
    return [Binary(name, _arch(h), _minos(h), _links(h)) for h in macho.headers]


def _symbols(file: Path) -> list[tuple[SymbolTable, object]]:
    macho = MachO(str(file))
    return [(SymbolTable(macho, h), h) for h in macho.headers]


def exported_symbols(file: Path) -> set[str]:
    """Externally defined symbols (what `nm -gU` lists), raw Mach-O names with their leading underscore."""
    names = set()
    for table, _header in _symbols(file):
        names.update(raw.decode() for _nlist, raw in getattr(table, "extdefsyms", []))
    return names


def dynamic_lookup_imports(file: Path) -> set[str]:
    """Undefined symbols bound to no library (dynamic lookup): what a plugin expects its host to export."""
    names = set()
    for table, _header in _symbols(file):
        for nlist, raw in getattr(table, "undefsyms", []):
            if (nlist.n_desc >> 8) & 0xFF == DYNAMIC_LOOKUP_ORDINAL:
                names.add(raw.decode())
    return names


def is_macho(head: bytes) -> bool:
    return head[:4] in MAGICS


def macho_members(wheel: zipfile.ZipFile) -> list[str]:
    """Names of the wheel's members that are Mach-O files, found by their magic, not their suffix."""
    found = []
    for info in wheel.infolist():
        if info.is_dir() or info.file_size < 4:
            continue
        with wheel.open(info) as member:
            if is_macho(member.read(4)):
                found.append(info.filename)
    return found


def demangle(raw: str) -> str:
    """The source-level name of a Mach-O symbol, which carries one extra leading underscore: C++ names
    demangled, C names as written (cxxfilt returns a name that is not mangled unchanged)."""
    name = raw[1:] if raw.startswith("_") else raw
    try:
        return cxxfilt.demangle(name)
    except cxxfilt.InvalidName:
        return raw


def owner(demangled: str) -> str:
    """The class or namespace a demangled function belongs to: tsl::internal::LogMessage::~LogMessage() ->
    tsl::internal::LogMessage. Splits on '::' outside template arguments; the parameter list is dropped."""
    parts, current, depth = [], "", 0
    for i, ch in enumerate(demangled):
        if ch == "(" and depth == 0 and current:
            break
        depth += {"<": 1, ">": -1}.get(ch, 0)
        if ch == ":" and depth == 0 and demangled[i : i + 2] == "::":
            parts.append(current)
            current = ""
        elif not (ch == ":" and depth == 0 and demangled[i - 1 : i + 1] == "::"):
            current += ch
    return "::".join(parts) if parts else demangled
