"""The README's environment table, derived from the data: the table rows, their targets and their locks.

    python -m tools.envs.envtable            # print the table
    python -m tools.envs.envtable --write    # replace the block between the markers in README.md

A test fails when README.md's block differs from what this prints, so the table has one source.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from tools.envs import envspec

BEGIN, END = "<!-- environments:begin -->", "<!-- environments:end -->"
TARGET_TITLES = {"macos": "macOS {machine}", "glibc": "Linux {machine}"}


def _title(target: envspec.Target) -> str:
    return TARGET_TITLES[target.floor].format(machine=target.machine)


def _cell(env: envspec.Environment, target: str) -> str:
    """The floor, then the top-level packages of the .in that apply there, at their locked versions."""
    kind = env.targets[target].floor
    floor = f"{'macOS ' if kind == 'macos' else 'glibc '}{env.floor(target)}+"
    locked = {e.name: e.version for e in envspec.read_lock(env.lock) if e.applies_to(env, target)}
    names = []
    for req in envspec.read_in(env.requirements_in):
        if req.marker is None or req.marker.evaluate(env.marker_env(target)):
            name = canonicalize_name(req.name)
            names.append(f"{name} {locked.get(name, '(not locked)')}")
    return f"{floor}: {', '.join(names)}"


def markdown(root: Path = envspec.ROOT) -> str:
    envs = envspec.environments(root)
    used = [t for t in envspec.targets(root).values() if any(t.name in e.targets for e in envs.values())]
    head = ["environment", "Python", *(_title(t) for t in used), "Jupyter kernel"]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    for env in envs.values():
        cells = [_cell(env, t.name) if t.name in env.targets else "—" for t in used]
        rows.append(f"| `{env.name}` | {env.python} | {' | '.join(cells)} | {env.display} |")
    return "\n".join(rows) + "\n"


def block(readme: str) -> str | None:
    """What README.md holds between the markers (None if they are missing)."""
    if BEGIN not in readme or END not in readme:
        return None
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.envs.envtable", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--write", action="store_true", help="replace the table in README.md")
    args = parser.parse_args(argv)
    table = markdown()
    if not args.write:
        print(table, end="")
        return 0
    readme = envspec.ROOT / "README.md"
    text = readme.read_text()
    if block(text) is None:
        print(f"error: expected {BEGIN} ... {END} in {readme.name}, got no such block", file=sys.stderr)
        return 2
    before, rest = text.split(BEGIN, 1)
    readme.write_text(before + BEGIN + "\n" + table + END + rest.split(END, 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
