"""Is an environment exactly its lock? For an environment built any way: conda's pip step, pip, uv.

    python -m tools.envs.installed requirements/torch.txt --python "$CONDA_PREFIX/bin/python"

pip's own report of the environment (`pip inspect`, pip >= 22.2) gives what is installed and the PEP 508
marker environment the lock's markers are evaluated in; the lock's pins for that platform must be exactly
what is installed (the bootstrap pip/setuptools/wheel aside, unless the lock pins them). Exit 0 exact,
1 with one line per difference, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.envs import envspec


def inspect(python: Path) -> dict[str, Any]:
    """`python -m pip inspect --local`, parsed; SpecError (one line) if pip cannot report."""
    done = subprocess.run(
        [str(python), "-m", "pip", "inspect", "--local"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise envspec.SpecError(f"expected `{python} -m pip inspect` to report the environment, got: {last}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.envs.installed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("lock", type=Path, help="e.g. requirements/torch.txt")
    parser.add_argument(
        "--python", type=Path, required=True, help="the environment's python (PREFIX/bin/python)"
    )
    args = parser.parse_args(argv)
    for path, what in ((args.lock, "a lock file"), (args.python, "a Python executable")):
        if not path.is_file():
            print(f"error: expected {what}, got {path} (no such file)", file=sys.stderr)
            return 2
    try:
        problems = envspec.installed_problems(args.lock, inspect(args.python))
    except envspec.SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"FAIL: {problem}")
    print(f"{args.lock}: " + ("installed exactly" if not problems else f"{len(problems)} differences"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
