"""The set of locks is replaced all or nothing: a swap that fails part-way puts back every lock it had
already replaced (and removes one it had created), leaving nothing beside them; the failure is one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools import locks
from tools.locks import relock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def plan(tmp_path) -> list[locks.Lock]:
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for yml in ROOT.glob("environment-*.yml"):
        shutil.copy(yml, tmp_path)
    return [lock for lock in locks.plan(tmp_path) if lock.kind == "uv"]


def staged(plan: list[locks.Lock], folder: Path) -> list[tuple[locks.Lock, Path]]:
    folder.mkdir()
    out = []
    for lock in plan:
        new = folder / lock.output.name
        new.write_text(lock.output.read_text() + "# relocked\n")
        out.append((lock, new))
    return out


def test_swap_replaces_every_lock(plan, tmp_path):
    relock.swap(staged(plan, tmp_path / "staging"), lambda line: None)
    assert all(lock.output.read_text().endswith("# relocked\n") for lock in plan)
    assert not [p for p in (tmp_path / "requirements").iterdir() if p.name.startswith(".")]


def test_a_swap_that_fails_part_way_puts_every_lock_back(plan, tmp_path):
    before = {lock.output: lock.output.read_bytes() for lock in plan}
    pairs = staged(plan, tmp_path / "staging")
    pairs[len(pairs) // 2][1].unlink()  # the middle one's staged copy vanishes: its copy step fails
    with pytest.raises(relock.RelockError) as caught:
        relock.swap(pairs, lambda line: None)
    assert "\n" not in str(caught.value) and "no lock was changed" in str(caught.value)
    assert {lock.output: lock.output.read_bytes() for lock in plan} == before
    assert not [p for p in (tmp_path / "requirements").iterdir() if p.name.startswith(".")]


def test_an_interrupt_during_the_swap_puts_every_lock_back(plan, tmp_path):
    before = {lock.output: lock.output.read_bytes() for lock in plan}
    written = []

    def log(line: str) -> None:  # Ctrl-C right after the second lock was renamed into place
        written.append(line)
        if len(written) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        relock.swap(staged(plan, tmp_path / "staging"), log)
    assert {lock.output: lock.output.read_bytes() for lock in plan} == before
