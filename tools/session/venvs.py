"""One venv per lock set (an environment's lock, plus layers), shared by every nox session that needs it.

verify, bench, doctor, run and kernel all use `.nox/env-NAME` (the lock alone, or with the notebook layer
for kernels), tests use `.nox/env-NAME+dev+notebook`, the host tools `.nox/host`: built once, then
only synced. Each venv carries a stamp, the sha256 of exactly the locks installed in it, written only after
a successful install: a venv whose stamp does not match is rebuilt, and under `nox -R` (which skips
installs) it is refused, so a half-built or stale venv is never run.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

STAMP = "gpuenv-locks.sha256"


@dataclass(frozen=True)
class Venv:
    """Where a lock set lives and how to install it with uv (or pip, where uv is missing)."""

    path: Path
    locks: tuple[Path, ...]
    root: Path

    @classmethod
    def for_locks(cls, root: Path, name: str, locks: list[Path]) -> Venv:
        return cls(root / ".nox" / name, tuple(locks), root)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def files(self) -> list[str]:
        return [lock.relative_to(self.root).as_posix() for lock in self.locks]

    def digest(self) -> str:
        return hashlib.sha256(b"".join(lock.read_bytes() for lock in self.locks)).hexdigest()

    def stamped(self) -> bool:
        """Built from exactly these locks (and the install finished)."""
        stamp = self.path / STAMP
        return self.python.exists() and stamp.exists() and stamp.read_text().strip() == self.digest()

    def missing_lock(self) -> str | None:
        for lock in self.locks:
            if not lock.exists():
                return f"expected lock file {lock.relative_to(self.root)}, got none: run `nox -s lock`"
        return None

    def create_command(self, base_python: str, uv: bool) -> list[str]:
        if uv:
            return ["uv", "venv", "--quiet", "--python", base_python, str(self.path)]
        return [base_python, "-m", "venv", str(self.path)]

    def install_command(self, uv: bool) -> list[str]:
        """Make the venv exactly the locks: hashes required, wheels only, nothing else installed."""
        if uv:
            return ["uv", "pip", "sync", "--python", str(self.python), "--require-hashes", "--only-binary",
                    ":all:", *self.files]  # fmt: skip
        # pip fallback: --no-deps because the lock is complete, as pip-sync would install it
        return [str(self.python), "-m", "pip", "install", "--require-hashes", "--only-binary=:all:",
                "--no-deps", *(a for f in self.files for a in ("-r", f))]  # fmt: skip

    def mark_built(self) -> None:
        (self.path / STAMP).write_text(self.digest() + "\n")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def run_install(cmd: list[str]) -> tuple[int, str]:
    """Run the installer with its output shown as it comes and kept (stdout and stderr together)."""
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout or ():
            sys.stdout.write(line)
            lines.append(line)
    sys.stdout.flush()
    return proc.returncode, "".join(lines)


def _find(pattern: str, output: str) -> str | None:
    match = re.search(pattern, output, re.M)
    return match.group(1) if match else None


def _hash_mismatch(out: str) -> str | None:
    pin = _find(r"Hash mismatch for `([^`]+)`", out) or _find(r"^\s+(\S+==\S+) from .*#sha256=", out)
    if pin or "DO NOT MATCH THE HASHES" in out:
        return (
            f"a hash mismatch ({pin or 'see above'}: the index serves other bytes than were locked): if that "
            "release was really re-published, relock with `nox -s lock`, else find out why before installing"
        )
    return None


def _missing_pin(out: str) -> str | None:
    """uv on a lock with markers: "there is no version of NAME{markers}==V and you require ..."."""
    match = re.search(r"Because there is no version of ([\w.-]+)(?:\{[^}]*\})?(==[^\s{]+) and you", out)
    return match.group(1) + match.group(2) if match else None


def _offline(out: str, offline: bool) -> str | None:
    pin = _find(r"Because (\S+) was not found in the cache", out) or (offline and _missing_pin(out))
    if not pin:
        return None
    return (
        f"nothing to install offline ({pin} is not in uv's cache and UV_OFFLINE or --offline is set): "
        "run once online, or unset UV_OFFLINE"
    )


def _missing(out: str) -> str | None:
    pin = _missing_pin(out)
    if not pin:
        return None
    return f"no {pin} on the package index: check the index URL (UV_INDEX_URL, pip.conf) or run `nox -s lock`"


def _unreachable(out: str) -> str | None:
    where = _find(r"Failed to fetch: (\S+)", out) or _find(r"Could not fetch URL (\S+?):", out)
    refused = _find(r"(Failed to establish a new connection: [^']+)", out)
    if not (where or refused or "tcp connect error" in out):
        return None
    return (
        f"the package index unreachable ({where or refused}): check the network, or the index URL "
        "(UV_INDEX_URL, PIP_INDEX_URL, pip.conf) and any proxy"
    )


def _no_wheel(out: str) -> str | None:
    pin = _find(r"Because (\S+) has no (?:usable )?wheels", out) or _find(
        r"No matching distribution found for (\S+)", out
    )
    if not pin:
        return None
    return (
        f"no wheel of {pin} for this platform or Python: use a machine and Python the lock targets "
        "([tool.gpuenv] in pyproject.toml), or add this one there and run `nox -s lock`"
    )


def _conflict(out: str) -> str | None:
    pair = _find(r"Because you require (.+?), we can conclude", out) or _find(
        r"Cannot install (.+?) because these package versions have conflicting", out
    )
    if not pair:
        return None
    return f"a resolver conflict ({pair}): the locks disagree; relock them together with `nox -s lock`"


CAUSES = (_hash_mismatch, _unreachable, _no_wheel, _conflict, _missing)


def uv_offline(environ: Mapping[str, str]) -> bool:
    """uv told to stay offline (UV_OFFLINE=1/true/yes/on)."""
    return environ.get("UV_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def install_problem(output: str, files: list[str], offline: bool = False) -> str:
    """The one line for a failed install, named by its cause as the installer's output tells it (and, for
    uv's bare "there is no version of", whether uv was told to stay offline)."""
    cause = _hash_mismatch(output) or _offline(output, offline)
    cause = cause or next(filter(None, (find(output) for find in CAUSES[1:])), None)
    if not cause:
        last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "no output")
        cause = f"the installer error above ({last})"
    return f"expected {' + '.join(files)} to install, got {cause}; the half-built venv was removed"
