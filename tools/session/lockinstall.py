"""Install a hash-locked requirements file into the Python running this, and refuse to call it done when
the lock installed nothing there.

    .cache/ci-tools/bin/python tools/session/lockinstall.py requirements/tools.txt

pip skips every pin whose markers do not match the running Python and exits 0, so a venv made from the
wrong Python (a lock marked `python_full_version < '3.10'`, a venv of 3.12) looks built until the next step
dies on a missing module. Run in a fresh venv, pip's own install report (`--report`, pip >= 22.2) listing
nothing means exactly that: one line naming the lock, this Python and the Python the lock is for; exit 1.
Standard library only: it runs before any tool is installed.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON_MARKER = re.compile(r"python_(?:full_)?version\s*[<>=!~]=?\s*'[^']+'")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        got = " ".join(argv) or "nothing"
        print(f"error: expected one lock file (e.g. requirements/tools.txt), got {got}", file=sys.stderr)
        return 2
    lock = Path(argv[0])
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--require-hashes", "--only-binary=:all:"]
        if subprocess.run([*cmd, "-r", str(lock), "--report", str(report)]).returncode != 0:
            print(f"error: expected pip to install {lock}, got the error above", file=sys.stderr)
            return 1
        installed = json.loads(report.read_text())["install"]
    if not installed:
        wanted = sorted(set(PYTHON_MARKER.findall(lock.read_text()))) or ["its markers"]
        print(
            f"error: expected {lock} to install its pins into Python {platform.python_version()} "
            f"({sys.executable}), got nothing: its pins are for {' or '.join(wanted)}; make this venv "
            "with that Python",
            file=sys.stderr,
        )
        return 1
    print(f"{lock}: {len(installed)} packages installed into {sys.executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
