"""Arguments checked before any work: a bad one is one line (argparse's `error:`) and exit 2, never a
traceback after minutes of fitting. Standard library only (it runs inside every environment)."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, TypeVar

SEED_MAX = 2**32 - 1  # NumPy's seeds are non-negative; 32 bits is what every framework accepts too


def seed(text: str) -> int:
    """argparse type: an integer seed in 0 ... 2**32-1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {SEED_MAX}, got {text!r}")
    return value


def output_file_problem(path: Path) -> str | None:
    """Why a file cannot be written at `path` (a directory, under a regular file, read-only); None if it
    can. Probes with a real temporary file where the path would go, so it holds for root and read-only
    mounts alike; creates nothing that stays."""
    if path.is_dir():
        return f"expected a file path, got a directory: {path}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"expected a path in a folder, got one under the regular file {parent}: {path}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"expected a writable file, got a read-only one: {path}"
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".gpuenv-probe-"):
            pass
    except OSError as exc:
        return f"expected a writable folder for {path}, got {parent}: {exc.strerror or exc}"
    return None


def output_file(text: str) -> Path:
    """argparse type: a file path that can be written (checked now, before the work that fills it)."""
    path = Path(text)
    problem = output_file_problem(path)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return path


def output_dir(text: str) -> Path:
    """argparse type: a folder (made if missing) in which files can be written."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"expected a folder, got a regular file: {path}")
    problem = output_file_problem(path / ".gpuenv-probe")
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return path


def free_memory_bytes() -> int | None:
    """The memory this machine has free now (Linux: MemAvailable; elsewhere free pages); None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


Number = TypeVar("Number", int, float)


def positive(kind: Callable[[str], Number], noun: str | None = None) -> Callable[[str], Number]:
    """argparse type: a positive, finite int or float, with a one-line error otherwise
    ("expected a positive int, got '0'"; `noun` names it instead of the type: "integer", "number of
    seconds"). The one positive-number parser of checks/: verify, the benches and the distributed smokes."""
    what = noun or getattr(kind, "__name__", "number")

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
        return value

    return parse
