"""tools/mac/mps_binary.py's pure parts on real recorded inputs: the MPS wrapper names inside symbols read
from torch 2.8.0's macOS libtorch_cpu.dylib, a wheel RECORD line's sha256, and the macOS each release
declares its MPS backend for (its message and MPSDevice.h's gates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.mac import mps_binary, wheelcache

DATA = Path(__file__).resolve().parents[1] / "data" / "audit"


def test_each_wrapper_is_read_at_its_mangled_length():
    recorded = json.loads((DATA / "libtorch_cpu-2.8.0-symbols.json").read_text())
    for wrapper, symbol in recorded["wrappers"].items():
        # the mangled name runs on past the wrapper (`ES9_S7_...`): the length prefix is what stops it
        assert mps_binary.wrappers_in([symbol]) == [wrapper]
    assert mps_binary.wrappers_in(recorded["not_wrappers"]) == []


def test_record_hash_is_the_files_sha256_in_hex():
    # torch 2.8.0's RECORD line for its yaml, and that file's sha256 (also read from the macOS wheel's member)
    line = (
        "torchgen/packaged/ATen/native/native_functions.yaml,"
        "sha256=uj5Y1fZAyzRj0H5DJLOUBlkzT9DnGh6SoYHa9aOq8J8,606478"
    )
    record = f"torch/__init__.py,sha256=abc,1\n{line}\n"
    expected = "ba3e58d5f640cb3463d07e4324b3940659334fd0e71a1e92a181daf5a3aaf09f"
    assert mps_binary.record_sha256(record) == expected
    assert mps_binary.record_sha256("other,sha256=x,1\n") is None


# Real bytes from torch's macOS arm64 wheels (tests/data/audit/mps-floor/sources.json names each wheel and
# its sha256): the C strings around libtorch_cpu.dylib's "MPS is unavailable" message, and MPSDevice.h.
FLOOR = DATA / "mps-floor"


@pytest.mark.parametrize(
    ("version", "message", "gates"),
    [
        # 2.5.1 still printed 12.3 although its gates start at 13.1 (pytorch/pytorch#133141, #139425)
        ("2.5.1", "12.3", ["13.1", "13.2", "13.3", "14.0", "14.4", "15.0"]),
        ("2.8.0", "13.0", ["13.1", "13.2", "13.3", "14.0", "14.4", "15.0", "15.1", "15.2"]),
        (
            "2.15.0",
            "15.0",
            ["15.0", "15.1", "15.2", "26.0", "26.2", "26.4", "27.0"],
        ),  # "macOS", and MACOS_15_0
    ],
)
def test_the_declared_floor_and_gates_are_read_from_the_release(version, message, gates):
    assert mps_binary.declared_floor((FLOOR / f"libtorch_cpu-{version}.bytes").read_bytes()) == message
    assert mps_binary.gated_versions((FLOOR / f"MPSDevice-{version}.h").read_text()) == gates


def test_a_binary_with_no_message_or_two_is_named():
    data = (FLOOR / "libtorch_cpu-2.8.0.bytes").read_bytes()
    assert mps_binary.declared_floor(data.replace(b"MPS backend", b"MPS_backend")) is None
    two = data + (FLOOR / "libtorch_cpu-2.15.0.bytes").read_bytes()
    with pytest.raises(wheelcache.WheelError, match=r"one MPS floor message .*\(13, 0\), \(15, 0\)"):
        mps_binary.declared_floor(two)
    assert mps_binary.gated_versions("// no enum here\n") == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--torch", "2.8.0"], "expected --python X.Y with --torch, got none"),
        (["--floors", "2.8.0", "--json", "no/such/folder/f.json"], "expected --json in an existing folder"),
        (["--torch", "2.8.0", "--floors", "2.8.0"], "not allowed with argument"),
    ],
)
def test_bad_arguments_are_one_line_before_any_download(argv, said, capsys):
    with pytest.raises(SystemExit) as exc:
        mps_binary.main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and said in err and "Traceback" not in err
