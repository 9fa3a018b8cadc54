"""tools/mac/mps_binary.py's pure parts on real recorded inputs: the MPS wrapper names inside symbols read
from torch 2.8.0's macOS libtorch_cpu.dylib, and a wheel RECORD line's sha256."""

from __future__ import annotations

import json
from pathlib import Path

from tools.mac import mps_binary

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
