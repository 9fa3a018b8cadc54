"""The wheel cache never reuses a damaged download: a truncated wheel is found on use, deleted, and (by
`fetch`) downloaded again; one that breaks while being read is one line naming the file, and is deleted."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tools.mac import wheelcache

NAME = "demo_pkg-1.0-py3-none-any.whl"


def wheel(folder: Path, cut: float | None = None) -> Path:
    """A real (tiny) wheel; `cut` keeps only that fraction of its bytes, as an interrupted download."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("demo_pkg/__init__.py", "x = 1\n" * 5000)
        zf.writestr("demo_pkg-1.0.dist-info/RECORD", "")
    if cut is not None:
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * cut)])
    return path


# (how the file is damaged, whether the cache still offers it)
CASES = [
    ("intact", None, True),
    ("truncated to half", 0.5, False),
    ("truncated to one byte short", 0.999, False),
    ("empty", 0.0, False),
]


@pytest.mark.parametrize(("what", "cut", "kept"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_cached_wheel_is_deleted_not_reused(tmp_path, what, cut, kept):
    path = wheel(tmp_path / "linux-x86_64", cut)
    hit = wheelcache.cached("demo-pkg", "1.0", "linux-x86_64", "2.17", (3, 9), cache=tmp_path)
    assert (hit == path) is kept
    assert path.exists() is kept


def test_a_wheel_damaged_after_fetching_is_one_line_and_deleted(tmp_path):
    path = wheel(tmp_path / "macos-arm64", 0.5)
    with pytest.raises(wheelcache.WheelError) as caught:
        wheelcache.binaries(path, cache=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: expected a readable wheel, got a damaged file (")
    assert message.endswith("): deleted it, run again")
    assert not path.exists()
