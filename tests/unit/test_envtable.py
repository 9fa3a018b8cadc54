"""README.md's environment table is what `python -m tools.envs.envtable` derives from the table, .in files
and locks: regenerate it with `--write` after a lock or a row changes (tools/docs/claims.py exempts the
block's figures because this test holds it)."""

from __future__ import annotations

from conftest import ROOT

from tools.envs import envtable


def test_the_readme_table_is_what_envtable_prints():
    assert envtable.block((ROOT / "README.md").read_text()) == envtable.markdown()
