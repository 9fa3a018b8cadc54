"""Mach-O facts: what a binary links, the macOS it declares, the symbols it trades and how each is bound.

Only what the wheel checks need, each fact from one maintained reader (no hand-written parsing):
- macholib: the load commands (linked libraries and how, the minimum macOS, the architecture, the install
  name and the run-path list);
- LIEF: the symbols. What a binary exports is its export trie (what dyld looks symbols up in, re-exports
  and indirect N_INDR symbols included); what it imports, and from where, is its bind opcodes
  (LC_DYLD_INFO) or its chained fixups (LC_DYLD_CHAINED_FIXUPS), whichever it has: LIEF decodes both into
  one list of binds, each naming its symbol and its library ordinal. macholib reads neither (only the
  symbol table, whose n_desc ordinal is the static linker's note, not what dyld binds by).
Demangling goes through cxxfilt, which calls the C++ runtime's __cxa_demangle.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cxxfilt
import lief
from macholib import mach_o
from macholib.MachO import MachO, MachOHeader  # untyped: Any to mypy

lief.logging.disable()  # LIEF logs what it finds odd to stderr; the facts it returns are what counts

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
# A bind's library ordinal: N >= 1 is the N-th library load command (two-level namespace: the symbol must
# come from that very library); the special ordinals (mach-o/fixup-chains.h, BIND_SPECIAL_DYLIB_*):
SELF_ORDINAL = 0  # this image itself (dyld_info weak-definition coalescing)
MAIN_EXECUTABLE_ORDINAL = -1  # the program (python)
FLAT_LOOKUP_ORDINAL = -2  # every loaded image, in load order (-undefined dynamic_lookup): plugins import so
WEAK_LOOKUP_ORDINAL = -3  # weak-definition coalescing (chained fixups): the image defines it itself
# nlist n_type bits, for a binary without an export trie (older linkers): external, and which kind.
N_EXT, N_TYPE, N_ABS, N_INDR, N_SECT = 0x01, 0x0E, 0x02, 0x0A, 0x0E
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


def _arch(header: MachOHeader) -> str:
    cpu = header.header.cputype
    return str(mach_o.CPU_TYPE_NAMES.get(cpu, cpu))


def _minos(header: MachOHeader) -> str | None:
    for load, cmd, _data in header.commands:
        if load.cmd == mach_o.LC_BUILD_VERSION and cmd.platform == PLATFORM_MACOS:
            return version_string(cmd.minos)
        if load.cmd == mach_o.LC_VERSION_MIN_MACOSX:
            return version_string(cmd.version)
    return None


def _links(header: MachOHeader) -> dict[str, str]:
    links = {}
    for load, _cmd, data in header.commands:
        if load.cmd in LINK_COMMANDS:
            links[data.rstrip(b"\x00").decode()] = LINK_COMMANDS[load.cmd]
    return links


def read_binaries(file: Path, name: str) -> list[Binary]:
    """Every architecture slice of a Mach-O file on disk; `name` is its path inside the wheel."""
    macho = MachO(str(file))
    return [Binary(name, _arch(h), _minos(h), _links(h)) for h in macho.headers]


def load_paths(file: Path) -> dict[str, Any]:
    """Where dyld looks for what this file links: {"install_name": its LC_ID_DYLIB (None for a bundle, as
    a Python extension module is), "rpaths": its LC_RPATH entries in order}, from the arm64 slice (the
    first slice where there is none)."""
    headers = MachO(str(file)).headers
    header = next((h for h in headers if _arch(h) == "ARM64"), headers[0])
    found: dict[str, Any] = {"install_name": None, "rpaths": []}
    for load, _cmd, data in header.commands:
        text = data.rstrip(b"\x00").decode(errors="replace") if isinstance(data, bytes) else None
        if load.cmd == mach_o.LC_ID_DYLIB:
            found["install_name"] = text
        elif load.cmd == mach_o.LC_RPATH:
            found["rpaths"].append(text)
    return found


# torch's TORCH_LIBRARY_IMPL(ns, key, m) (torch/library.h) defines TORCH_LIBRARY_IMPL_init_<ns>_<key>_<uid>
# and TORCH_LIBRARY_IMPL_static_init_<ns>_<key>_<uid>; the stable-ABI STABLE_TORCH_LIBRARY_IMPL (torchvision
# 0.29's _C_stable.so) the same with a STABLE_ prefix. The symbol table keeps them under their mangled
# names: the dispatch keys a binary registers kernels for, by op namespace. Keys are one word (CPU, MPS,
# AutogradCUDA); namespaces may hold underscores (`_quantized`), hence the lazy namespace; a uid is digits,
# followed in the mangling by a letter.
_TORCH_IMPL = re.compile(
    rb"TORCH_LIBRARY_IMPL_(?:static_)?init_([A-Za-z0-9_]+?)_([A-Za-z0-9]+)_(\d+)(?![0-9])"
)
# Metal Shading Language source a binary carries as text, compiled at run time: `kernel void name(`.
_METAL_KERNEL = re.compile(rb"\bkernel\s+void\s+([A-Za-z_][A-Za-z0-9_]*)")


def torch_kernels(data: bytes) -> dict[str, list[str]]:
    """{op namespace: the dispatch keys this binary registers kernels for}, from its symbol names."""
    found: dict[str, set[str]] = {}
    for match in _TORCH_IMPL.finditer(data):
        found.setdefault(match.group(1).decode(), set()).add(match.group(2).decode())
    return {ns: sorted(keys) for ns, keys in sorted(found.items())}


def metal_kernels(data: bytes) -> list[str]:
    """The names of the Metal kernels whose source this binary carries."""
    return sorted({m.group(1).decode() for m in _METAL_KERNEL.finditer(data)})


def _arm64(file: Path, bindings: bool) -> lief.MachO.Binary | None:
    """The arm64 slice of a (possibly fat) Mach-O file, parsed by LIEF; binds only where asked (slow)."""
    config = lief.MachO.ParserConfig()
    config.parse_dyld_bindings = bindings
    config.parse_dyld_rebases = False
    fat = lief.MachO.parse(str(file), config)
    return fat.take(lief.MachO.Header.CPU_TYPE.ARM64) if fat is not None else None


def exports(file: Path) -> dict[str, Any]:
    """What dyld finds in this library: {install_name, reexported_libraries, symbols}.

    `symbols` is the export trie (LC_DYLD_INFO's or LC_DYLD_EXPORTS_TRIE), raw names with their leading
    underscore: defined symbols, re-exports (EXPORT_SYMBOL_FLAGS_REEXPORT, which is how an N_INDR symbol
    is exported) and resolvers alike. Without a trie (older linkers), the symbol table's external defined
    and indirect symbols. `reexported_libraries`: LC_REEXPORT_DYLIB install names, whose exports count as
    this library's too."""
    binary = _arm64(file, bindings=False)
    if binary is None:
        return {"install_name": None, "reexported_libraries": [], "symbols": []}
    info = binary.dyld_info if binary.has_dyld_info else None
    exports_trie = binary.dyld_exports_trie if binary.has_dyld_exports_trie else None
    source = info if info is not None else exports_trie
    if source is not None:
        names = {entry.symbol.name for entry in source.exports if entry.symbol is not None}
    else:
        names = {
            s.name
            for s in binary.symbols
            if s.raw_type & N_EXT and s.raw_type & N_TYPE in (N_SECT, N_ABS, N_INDR)
        }
    kinds = lief.MachO.LoadCommand.TYPE
    return {
        "install_name": next((lib.name for lib in binary.libraries if lib.command == kinds.ID_DYLIB), None),
        "reexported_libraries": [lib.name for lib in binary.libraries if lib.command == kinds.REEXPORT_DYLIB],
        "symbols": sorted(names),
    }


def imports(file: Path) -> dict[str, Any]:
    """How this binary's undefined symbols are bound, from its bind opcodes or chained fixups.

    {"flat": [symbols looked up in every loaded image], "libraries": {install name: [symbols bound
    two-level to that library]}, "weak_libraries": [install names linked weak, which may be absent],
    "weak": [weak imports: dyld binds NULL where none has them], "main_executable": [symbols from the
    program]}. Weak-definition coalescing (a symbol the image defines itself) is no import and left out."""
    binary = _arm64(file, bindings=True)
    found: dict[str, Any] = {
        "flat": set(),
        "libraries": {},
        "weak_libraries": [],
        "weak": set(),
        "main_executable": set(),
    }
    if binary is None:
        return {k: [] if k != "libraries" else {} for k in found}
    opcodes, weak_class = lief.MachO.DyldBindingInfo, lief.MachO.DyldBindingInfo.CLASS.WEAK
    for bind in binary.bindings:
        symbol = bind.symbol if bind.has_symbol else None
        if symbol is None or (isinstance(bind, opcodes) and bind.binding_class == weak_class):
            continue
        name, ordinal = symbol.name, bind.library_ordinal
        if ordinal in (SELF_ORDINAL, WEAK_LOOKUP_ORDINAL):
            continue
        if bind.weak_import:
            found["weak"].add(name)
        elif ordinal == FLAT_LOOKUP_ORDINAL:
            found["flat"].add(name)
        elif ordinal == MAIN_EXECUTABLE_ORDINAL:
            found["main_executable"].add(name)
        elif bind.has_library and bind.library is not None:
            found["libraries"].setdefault(bind.library.name, set()).add(name)
        else:  # an ordinal past the load commands: dyld refuses the image
            found["libraries"].setdefault(f"<library ordinal {ordinal}>", set()).add(name)
    weak_kind = lief.MachO.LoadCommand.TYPE.LOAD_WEAK_DYLIB
    return {
        "flat": sorted(found["flat"]),
        "libraries": {lib: sorted(names) for lib, names in sorted(found["libraries"].items())},
        "weak_libraries": sorted(lib.name for lib in binary.libraries if lib.command == weak_kind),
        "weak": sorted(found["weak"]),
        "main_executable": sorted(found["main_executable"]),
    }


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
        return str(cxxfilt.demangle(name))
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
