"""The Metal library reader and the wheel rule, on the real headers of mlx-metal 0.32.4's three macOS wheels.

tests/data/metallib/<tag>.head: the first 512 bytes of mlx/lib/mlx.metallib from
mlx_metal-0.32.4-py3-none-<tag>.whl (the wheels the mlx lock hashes; sources.json names each wheel, its
sha256 and the member's real size). The forged headers are those bytes with one field changed.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from checks.core import metallib

DATA = Path(__file__).resolve().parent.parent / "data" / "metallib"
SOURCES = json.loads((DATA / "sources.json").read_text())


def _head(tag: str) -> tuple[bytes, int]:
    return (DATA / f"{tag}.head").read_bytes(), SOURCES[f"{tag}.head"]["member_size"]


@pytest.mark.parametrize(
    ("tag", "file_version", "os_version", "air", "language", "functions"),
    [
        ("macosx_14_0_arm64", "2.7", "14.0", ["2.6"], ["3.1"], 17248),
        ("macosx_15_0_arm64", "2.8", "15.0", ["2.7"], ["3.2"], 17251),
        ("macosx_26_0_arm64", "2.9", "26.2", ["2.8"], ["4.0"], 18817),
    ],
)
def test_real_headers(
    tag: str, file_version: str, os_version: str, air: list[str], language: list[str], functions: int
) -> None:
    data, size = _head(tag)
    header = metallib.read(data, size)
    assert (header.platform, header.target_os, header.library_type) == ("macOS", "macOS", "executable")
    assert (header.file_version, header.os_version, header.size) == (file_version, os_version, size)
    assert header.sections["function_list"][0] == metallib.HEADER_SIZE
    # the 512 bytes hold the whole first tag groups only: their VERS, and the list's full count
    assert header.functions == functions and 1 <= header.functions_read < functions
    assert (header.air_versions, header.language_versions) == (air, language)
    assert metallib.needs(header) == os_version


@pytest.mark.parametrize(
    ("tag", "tag_minimum", "floor", "fails"),
    [
        ("macosx_14_0_arm64", "14.0", "14.0", False),
        ("macosx_15_0_arm64", "15.0", "14.0", False),
        ("macosx_26_0_arm64", "26.0", "14.0", True),  # 26.2 in a wheel pip installs on 26.0
        ("macosx_15_0_arm64", "14.0", "14.0", True),  # a 15.0 library in a wheel tagged 14.0
        ("macosx_15_0_arm64", "11.0", "15.0", False),  # the floor, not the tag, is the lowest Mac
        ("macosx_26_0_arm64", "26.0", "26.2", False),
    ],
)
def test_problem(tag: str, tag_minimum: str, floor: str, fails: bool) -> None:
    header = metallib.read(*_head(tag))
    problem = metallib.problem(header, "mlx.metallib", tag_minimum, floor)
    assert (problem is not None) == fails
    if fails:
        assert f"macOS {header.os_version}" in problem


def _forged(os_version: tuple[int, int]) -> bytes:
    data = bytearray(_head("macosx_26_0_arm64")[0])
    struct.pack_into("<HH", data, 12, *os_version)
    return bytes(data)


def test_forged_newer_os_fails_even_the_known_wheel() -> None:
    """A header claiming macOS 27.0 in the macosx_26_0 wheel: the reader reports it, the rule fails it, and
    the exception for mlx-metal's 26.2 does not cover it."""
    pytest.importorskip("packaging")
    from tools.mac import metallibs

    size = _head("macosx_26_0_arm64")[1]
    header = metallib.read(_forged((27, 0)), size)
    assert metallib.needs(header) == "27.0"
    wheel = "mlx_metal-0.32.4-py3-none-macosx_26_0_arm64.whl"
    forged = metallibs.judge("mlx-metal", wheel, "mlx/lib/mlx.metallib", _asdict(header), "14.0")
    assert forged["verdict"] == "fail" and "macOS 27.0" in forged["why"]
    real = metallib.read(*_head("macosx_26_0_arm64"))
    known = metallibs.judge("mlx-metal", wheel, "mlx/lib/mlx.metallib", _asdict(real), "14.0")
    assert known["verdict"] == "known" and "mlx#4525" in known["why"]
    # the same library in another package's wheel is no exception
    other = metallibs.judge("other", wheel.replace("mlx_metal", "other"), "x.metallib", _asdict(real), "14.0")
    assert other["verdict"] == "fail"


def _asdict(header: metallib.Header) -> dict:
    from dataclasses import asdict

    return asdict(header)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: b"MTLX" + d[4:], "magic"),
        (lambda d: d[:40], "88-byte"),
    ],
)
def test_not_a_metallib(change, message: str) -> None:
    data, size = _head("macosx_14_0_arm64")
    with pytest.raises(metallib.MetallibError, match=message):
        metallib.read(change(data), size)


def test_size_must_match() -> None:
    """Metal refuses a library whose header's size is not the file's ("Invalid library file")."""
    data, size = _head("macosx_14_0_arm64")
    with pytest.raises(metallib.MetallibError, match="file size"):
        metallib.read(data, size + 1)


def test_embedded_finds_whole_libraries_only() -> None:
    """A binary carrying a library (the real header, padded to its function list's end) between other bytes
    that spell MTLB: only the library is found."""
    data, _size = _head("macosx_15_0_arm64")
    header = metallib.read(data, _head("macosx_15_0_arm64")[1])
    start, length = header.sections["function_list"]
    library = bytearray(data.ljust(start + length + 4, b"\0"))
    struct.pack_into("<Q", library, 16, len(library))  # a library of exactly these bytes
    binary = b"\0MTLB not a header" + b"\0" * 100 + bytes(library) + b"MTLB"
    found = metallib.embedded(binary)
    assert [h.os_version for h in found] == ["15.0"] and found[0].size == len(library)


@pytest.mark.parametrize(("floor", "verdict"), [("13.0", "fail"), ("14.0", "ok"), ("15.0", "ok")])
def test_embedded_libraries_need_one_for_the_lowest_mac(floor: str, verdict: str) -> None:
    """A binary carrying Metal libraries for macOS 14.0 and 15.0 (the real headers) fails a wheel that
    installs on 13.0: below 14.0 it has none to load (torch 2.8.0's are for 13.0 and 14.0, so the `torch`
    environment's floor is 13.0)."""
    pytest.importorskip("packaging")
    from tools.mac import metallibs

    headers = [_asdict(metallib.read(*_head(tag))) for tag in ("macosx_14_0_arm64", "macosx_15_0_arm64")]
    wheel = "torch-2.8.0-cp39-none-macosx_11_0_arm64.whl"
    row = metallibs.judge_embedded(wheel, "torch/lib/libtorch_cpu.dylib", headers, floor)
    assert (row["targets"], row["lowest"], row["verdict"]) == (["14.0", "15.0"], floor, verdict)
    if verdict == "fail":
        assert "none for 13.0" in row["why"]
