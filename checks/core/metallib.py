"""Metal shader libraries (.metallib): which OS a wheel's compiled GPU kernels say they are for.

A .metallib is what `xcrun metallib` links from AIR files; Metal.framework loads it at run time (MLX loads
mlx/lib/mlx.metallib when the GPU is first used). Apple does not document the format. Its fixed 88-byte
header, little-endian, as reverse-engineered from Metal.framework's own loader
(MTLLibraryDataWithArchive::parseArchiveSync) by YuAo/MetalLibraryArchive (README, "Header"; its
Sources/MetalLibraryArchive/Archive.swift reads it the same way) and read identically by JuliaGPU's
MetallibHeader (Julia, ObjectFile.jl's metallib support):

    0   4  magic "MTLB" (Metal checks it, and that the size field is the file's size: "Invalid library file")
    4   2  target platform: 0x8001 macOS, 0x0001 iOS
    6   4  file (format) version: major, minor (u16 each)
    10  1  library type: 0 executable, 1 Core Image, 2 dynamic, 3 symbol companion
    11  1  target OS: 0x81 macOS, 0x82 iOS, ... (0: none recorded)
    12  4  target OS version: major, minor (u16 each): the deployment target the library was linked for
           (the `-mmacosx-version-min`/`-mtargetos` of the link: ml-explore/mlx#3501 fixed an mlx.metallib
           stamped macOS 26 by a link that was not passed the target)
    16  8  file size
    24 64  (offset, size) of the function list, public metadata, private metadata and bitcode sections

The function list (u32 count, then one tag group per function: u32 size, then tags of a FourCC, a u16
length and the content, up to ENDT) carries each function's VERS tag: four u16, the AIR version and the
Metal Shading Language version it was compiled for (MetalLibraryArchive README, "Function Information
Tags"). Metal refuses a library whose language version the OS lacks ("This library is using language version
4.0 which is not supported on this OS": jjang-ai/vmlx#120, exo-explore/exo#1327 on macOS 15).

    read(data, file_size=None) -> Header   the header, and VERS of every whole function group in `data`
    read_member(wheel, member) -> Header   the same from a wheel's member, reading only up to the list's end
    embedded(data) -> [Header]              the Metal libraries a binary carries inside it (torch's)
    needs(header) -> str | None            the macOS the library declares it needs ("26.2"), or None
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field

MAGIC = b"MTLB"
# magic, platform, file version major/minor, type, target OS, OS version major/minor, file size
_FIXED = struct.Struct("<4sHHHBBHHQ")
_SECTIONS = struct.Struct("<8Q")
HEADER_SIZE = _FIXED.size + _SECTIONS.size  # 88
PLATFORMS = {0x8001: "macOS", 0x0001: "iOS"}
LIBRARY_TYPES = {0: "executable", 1: "Core Image", 2: "dynamic", 3: "symbol companion"}
TARGET_OSES = {
    0x81: "macOS", 0x82: "iOS", 0x83: "tvOS", 0x84: "watchOS", 0x85: "bridgeOS", 0x86: "macCatalyst",
    0x87: "iOS Simulator", 0x88: "tvOS Simulator", 0x89: "watchOS Simulator",
}  # fmt: skip
SECTION_NAMES = ("function_list", "public_metadata", "private_metadata", "bitcode")


class MetallibError(ValueError):
    """Not a Metal library, or one this reader cannot follow; the message names what was wrong."""


@dataclass
class Header:
    platform: str  # "macOS", "iOS" or the raw value in hex
    file_version: str  # "2.9"
    library_type: str
    target_os: str | None  # None: the library records none
    os_version: str | None  # "26.2"
    size: int
    sections: dict[str, list[int]]  # name -> [offset, size]
    functions: int | None = None  # how many the function list holds (None: the list was not in `data`)
    functions_read: int = 0  # how many whole groups `data` held
    air_versions: list[str] = field(default_factory=list)  # distinct, of the functions read
    language_versions: list[str] = field(default_factory=list)  # Metal Shading Language, likewise


def _version(major: int, minor: int) -> str:
    return f"{major}.{minor}"


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def read(data: bytes, file_size: int | None = None) -> Header:
    """The header of a Metal library whose first bytes are `data` (the whole file, or its start).

    `file_size`: the file's real size, checked against the header's as Metal does; None when `data` is the
    whole file (then its length is the size) and not checked when `data` is only the start (pass it)."""
    if len(data) < HEADER_SIZE:
        raise MetallibError(f"expected a {HEADER_SIZE}-byte Metal library header, got {len(data)} bytes")
    magic, platform, major, minor, kind, target_os, os_major, os_minor, size = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise MetallibError(f"expected the magic {MAGIC!r} of a Metal library, got {magic!r}")
    real = len(data) if file_size is None else file_size
    if size != real:
        raise MetallibError(f"expected the header's file size {size} to be the file's, got {real} bytes")
    offsets = _SECTIONS.unpack_from(data, _FIXED.size)
    sections = {name: [offsets[2 * i], offsets[2 * i + 1]] for i, name in enumerate(SECTION_NAMES)}
    header = Header(
        platform=PLATFORMS.get(platform, f"0x{platform:04x}"),
        file_version=_version(major, minor),
        library_type=LIBRARY_TYPES.get(kind, f"0x{kind:02x}"),
        target_os=TARGET_OSES.get(target_os, f"0x{target_os:02x}") if target_os else None,
        os_version=_version(os_major, os_minor) if target_os else None,
        size=size,
        sections=sections,
    )
    _read_functions(header, data)
    return header


def _read_functions(header: Header, data: bytes) -> None:
    """VERS of each whole function tag group inside `data` (a group cut off by its end is not read)."""
    start, length = header.sections["function_list"]
    if length == 0 or start + 4 > len(data):
        return
    header.functions = struct.unpack_from("<I", data, start)[0]
    at, air, language = start + 4, set(), set()
    for _ in range(header.functions):
        if at + 4 > len(data):
            break
        group = struct.unpack_from("<I", data, at)[0]
        if group < 4 or at + group > len(data):
            break  # the rest is beyond `data` (or not a group): stop, having counted what was whole
        tag = at + 4
        while tag + 4 <= at + group and data[tag : tag + 4] != b"ENDT":
            name, (size,) = data[tag : tag + 4], struct.unpack_from("<H", data, tag + 4)
            if name == b"VERS" and size == 8:
                air_major, air_minor, msl_major, msl_minor = struct.unpack_from("<4H", data, tag + 6)
                air.add(_version(air_major, air_minor))
                language.add(_version(msl_major, msl_minor))
            tag += 6 + size
        header.functions_read += 1
        at += group
    header.air_versions = sorted(air, key=version_tuple)
    header.language_versions = sorted(language, key=version_tuple)


def read_member(wheel: zipfile.ZipFile, member: str) -> Header:
    """A wheel member's header and its whole function list, without inflating the rest (the bitcode of
    mlx.metallib is over 100 MiB)."""
    size = wheel.getinfo(member).file_size
    with wheel.open(member) as stream:
        head = stream.read(HEADER_SIZE)
        if len(head) < HEADER_SIZE or head[:4] != MAGIC:
            return read(head, size)  # raises, naming what was wrong
        start, length = _SECTIONS.unpack_from(head, _FIXED.size)[:2]
        head += stream.read(max(0, min(start + length, size) - HEADER_SIZE))
    return read(head, size)


def embedded(data: bytes) -> list[Header]:
    """Every whole Metal library inside `data` (a binary that carries its compiled kernels as bytes, as
    torch's libtorch_cpu.dylib does): each "MTLB" whose header names a known platform and target OS and
    whose size and function list fit in what follows. The string "MTLB" alone (torch has 20 of them, in its
    code and names) is not one."""
    found, at = [], data.find(MAGIC)
    while at != -1:
        header = _embedded_at(data, at)
        if header is not None:
            found.append(header)
        at = data.find(MAGIC, at + (header.size if header else 1))
    return found


def _embedded_at(data: bytes, at: int) -> Header | None:
    if at + HEADER_SIZE > len(data):
        return None
    _magic, platform, _major, _minor, _kind, target_os, _os_major, _os_minor, size = _FIXED.unpack_from(
        data, at
    )
    start, length = _SECTIONS.unpack_from(data, at + _FIXED.size)[:2]
    if platform not in PLATFORMS or target_os not in TARGET_OSES or not HEADER_SIZE <= size <= len(data) - at:
        return None
    if not HEADER_SIZE <= start <= start + length <= size:
        return None
    try:
        return read(data[at : at + start + length + 4], size)
    except MetallibError:
        return None


def is_metallib(head: bytes) -> bool:
    return head[:4] == MAGIC


def needs(header: Header) -> str | None:
    """The macOS this library declares it is for (its deployment target), or None when it names no macOS."""
    return header.os_version if header.target_os == "macOS" else None


def problem(header: Header, where: str, tag_minimum: str | None, floor: str) -> str | None:
    """Why a wheel's Metal library would be installed on a macOS older than it is for: its deployment target
    above the oldest macOS that installs the wheel (its tag's minimum, or the environment's floor where that
    is newer); None when it fits or names no macOS."""
    wanted = needs(header)
    if wanted is None:
        return None
    lowest = max([floor, *([tag_minimum] if tag_minimum else [])], key=version_tuple)
    if version_tuple(wanted) <= version_tuple(lowest):
        return None
    by = f"its tag's macOS {tag_minimum}" if tag_minimum and lowest == tag_minimum else f"the floor {floor}"
    return (
        f"{where} is a Metal library for macOS {wanted} (its header's target), but pip installs the wheel "
        f"from {by} on: a Mac older than {wanted} gets it"
    )
