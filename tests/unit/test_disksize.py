"""tools/session/disksize.py on real folders with real du: each folder's size, and a total that counts a file
hard-linked into two of them once (as uv's installs are linked from its cache)."""

from __future__ import annotations

import os

import pytest

from tools.session import disksize

MIB = 1024 * 1024


def test_a_hard_linked_file_counts_once_in_the_total(tmp_path):
    cache, venv = tmp_path / "cache", tmp_path / "venv"
    cache.mkdir()
    venv.mkdir()
    (cache / "wheel.bin").write_bytes(os.urandom(4 * MIB))
    os.link(cache / "wheel.bin", venv / "installed.bin")
    (venv / "own.bin").write_bytes(os.urandom(MIB))

    report = disksize.measure({"cache": cache, "venv": venv, "gone": tmp_path / "missing", "unknown": None})
    sizes = {r["name"]: r["bytes"] for r in report["places"]}
    assert sizes["gone"] is None and sizes["unknown"] is None
    assert 4 * MIB <= sizes["cache"] < 5 * MIB
    assert 5 * MIB <= sizes["venv"] < 6 * MIB  # on its own, the linked file is the venv's too
    assert 5 * MIB <= report["total_bytes"] < 6 * MIB  # together, the 4 MiB are there once
    assert report["free_bytes"] > 0
    text = disksize.lines(report)
    assert any(line.strip().startswith("absent") and "gone" in line for line in text)
    assert "total, each hard-linked file once" in text[-2]


def test_the_places_are_the_folders_ci_fills(tmp_path):
    named = disksize.places(tmp_path)
    assert named["venvs (.nox)"] == tmp_path / ".nox"
    assert named["wheel cache (nox -s wheels)"] == disksize.wheelcache.CACHE
    assert named["uv cache (wheels, built packages)"] is not None  # the host venv has uv


def test_an_unwritable_json_path_is_one_line_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        disksize.main(["--json", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"expected a file path, got a directory: {tmp_path}")


def test_a_root_that_is_no_clone_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        disksize.main(["--root", str(tmp_path)])
    assert exit_.value.code == 2
    assert (
        f"expected a clone of this repository (with noxfile.py), got '{tmp_path}'" in capsys.readouterr().err
    )
