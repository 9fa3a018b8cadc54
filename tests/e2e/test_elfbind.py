"""tools/mac/elfbind.py on real Linux wheels: mlx's Python module against the libmlx.so of mlx-cpu.

mlx 0.32.4's core.cpython-312-x86_64-linux-gnu.so needs mlx::core's C++ symbols from mlx-cpu's libmlx.so:
the locked pair (0.32.4 + 0.32.4) finds them all; mlx-cpu 0.30.0 (a real older release) lacks hundreds,
as the dynamic loader would say at `import mlx.core` ("undefined symbol"). About 11 MB each, cached in the
shared wheel cache; the torch pairs (torch's ~900 MB Linux wheel) are `nox -s wheels`' job.
"""

from __future__ import annotations

import pytest

pytest.importorskip("lief", reason="lief (dev layer) is not installed")
pytest.importorskip("cxxfilt", reason="cxxfilt (dev layer) is not installed")

from tools.mac import elfbind, wheelcache

pytestmark = [pytest.mark.xdist_group("wheel-cache"), pytest.mark.network]

TARGET, FLOOR, PYTHON = "linux-x86_64", "2.35", "3.12.0"


def _wheel(name: str, version: str):
    got = wheelcache.fetch([(name, version)], TARGET, FLOOR, PYTHON)[(name, version)]
    assert not isinstance(got, str), got
    return got


def test_locked_mlx_finds_every_symbol_in_its_libmlx():
    report = elfbind.check_wheels(_wheel("mlx", "0.32.4"), [_wheel("mlx-cpu", "0.32.4")], "mlx-cpu")
    core = report["binaries"]["mlx/core.cpython-312-x86_64-linux-gnu.so"]
    assert "libmlx.so" in core["needs"] and core["found"] > 400 and core["unresolved"] == []
    assert report["unresolved"] == 0


def test_mlx_against_an_older_libmlx_misses_its_symbols():
    report = elfbind.check_wheels(_wheel("mlx", "0.32.4"), [_wheel("mlx-cpu", "0.30.0")], "mlx-cpu")
    missing = report["binaries"]["mlx/core.cpython-312-x86_64-linux-gnu.so"]["unresolved"]
    assert len(missing) > 100 and all(name.startswith("mlx::") for name in missing)
    assert any(name.startswith("mlx::core::add(") for name in missing)
