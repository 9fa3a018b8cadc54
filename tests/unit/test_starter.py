"""The README's "Fork it into a project" steps, run verbatim in a fresh copy of the repository.

Real network and real installs: uv resolves the renamed environment with its added package against PyPI,
`nox -s verify` builds it from the new lock and proves it, and the project's own code runs in it.
"""

from __future__ import annotations

import re

from conftest import ROOT


def _readme_block(marker: str, language: str) -> str:
    """The fenced block right after `<!-- marker ... -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- {marker}\b.*?-->\s*```{language}\n(.*?)```", text, re.S)
    assert found, f"README.md has no ```{language} block after <!-- {marker} -->"
    return found.group(1)


def test_readme_blocks_are_there():
    steps = _readme_block("starter-steps", "bash")
    assert "nox -s lock" in steps and "verify(env='vision')" in steps
    assert "best_device()" in _readme_block("starter-code", "python")
