"""How much disk a CI run leaves: each cache and venv folder `.ci/run` fills, and their total.

    python -m tools.session.disksize [--json PATH] [--root CLONE]     (nox -s disk; the last step of .ci/run)

GitHub guarantees a hosted runner 14 GB of SSD; docs/ci.md records what this reports after `.ci/run`. The
total is one `du` over every folder, so a file hard-linked into several of them (uv links each install from
its cache on Linux) counts once, as it does on the disk; each folder's own size counts all its files. A
folder shared with other work on the machine (uv's cache, the wheel cache) holds that work's files too.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from checks.core import argcheck
from checks.core import report as report_file
from tools.envs import envspec
from tools.mac import wheelcache

ROOT = envspec.ROOT


def _uv(*args: str) -> Path | None:
    """A folder uv reports (`uv cache dir`, `uv python dir`): it honours UV_CACHE_DIR and the like."""
    uv = Path(sys.executable).with_name("uv")
    exe = str(uv) if uv.exists() else shutil.which("uv")
    if exe is None:
        return None
    done = subprocess.run([exe, *args], capture_output=True, text=True)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def places(root: Path = ROOT) -> dict[str, Path | None]:
    """Every folder a CI run fills, by what it holds (None where it cannot be located)."""
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return {
        "uv cache (wheels, built packages)": _uv("cache", "dir"),
        "uv's Pythons": _uv("python", "dir"),
        "pip cache (conda-route tests)": Path(os.environ.get("PIP_CACHE_DIR") or user_cache / "pip"),
        "wheel cache (nox -s wheels)": wheelcache.CACHE,
        "venvs (.nox)": root / ".nox",
        "host tools (.cache)": root / ".cache",
        "reports (results)": root / "results",
        # pytest keeps its last three runs' temporary folders: the e2e tests' venvs and repository copies.
        "pytest's kept temporary folders": Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}",
    }


def _du(paths: list[Path]) -> list[int]:
    """Bytes per path, then their total with each hard-linked file once (GNU du: -c, one invocation)."""
    done = subprocess.run(["du", "-s", "-k", "-c", *map(str, paths)], capture_output=True, text=True)
    # du exits 1 when a file vanished or was unreadable mid-walk (a cache in use): the sizes still stand.
    lines = [ln.split("\t", 1)[0] for ln in done.stdout.splitlines() if ln.strip()]
    if len(lines) != len(paths) + 1:
        raise RuntimeError(f"expected {len(paths) + 1} lines from du, got: {done.stdout + done.stderr}")
    return [int(kib) * 1024 for kib in lines]


def measure(named: dict[str, Path | None]) -> dict[str, Any]:
    """{"places": [{name, path, bytes}], "total_bytes", "free_bytes"}: missing folders have bytes None."""
    found = {name: path for name, path in named.items() if path is not None and path.exists()}
    each = {name: _du([path])[0] for name, path in found.items()}
    total = _du(list(found.values()))[-1] if found else 0
    free = shutil.disk_usage(next(iter(found.values()), ROOT)).free
    rows = [{"name": n, "path": str(p) if p else None, "bytes": each.get(n)} for n, p in named.items()]
    return {"places": rows, "total_bytes": total, "free_bytes": free}


def _gb(n: int | None) -> str:
    return "absent" if n is None else f"{n / 1e9:.1f} GB"


def lines(report: dict[str, Any]) -> list[str]:
    out = [f"{_gb(r['bytes']):>9}  {r['name']}: {r['path']}" for r in report["places"]]
    out.append(
        f"{_gb(report['total_bytes']):>9}  total, each hard-linked file once (du -skc over all of them)"
    )
    out.append(f"{_gb(report['free_bytes']):>9}  still free on the first one's file system")
    return out


def _clone(text: str) -> Path:
    """argparse type: a folder holding a noxfile.py (a clone of this repository)."""
    path = Path(text)
    if not (path / "noxfile.py").is_file():
        raise argparse.ArgumentTypeError(
            f"expected a clone of this repository (with noxfile.py), got {text!r}"
        )
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.session.disksize", description=__doc__.split("\n")[0])
    p.add_argument(
        "--json", type=argcheck.output_file, metavar="PATH", help="also write the report as JSON here"
    )
    p.add_argument("--root", type=_clone, default=ROOT, help="the clone whose .nox, .cache, results count")
    args = p.parse_args(argv)
    report = measure(places(args.root))
    print("\n".join(lines(report)))
    if args.json:
        report_file.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
