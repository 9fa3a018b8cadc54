"""One venv per lock set (an environment's lock, plus layers), shared by every nox session that needs it.

verify, bench, doctor, run and kernel all use `.nox/env-NAME` (the lock alone, or with the notebook layer
for kernels), tests use `.nox/env-NAME+dev+notebook`, the host tools `.nox/lock-dev`: built once, then
only synced. Each venv carries a stamp, the sha256 of exactly the locks installed in it, written only after
a successful install: a venv whose stamp does not match is rebuilt, and under `nox -R` (which skips
installs) it is refused, so a half-built or stale venv is never run.
"""

from __future__ import annotations

import hashlib
import shutil
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
