"""Bad arguments and output paths of checks.verify and checks.bench, run as a user runs them: each is one
`error:` line naming the argument and what is expected, exit 2, no traceback, and nothing is fitted or
written first (every case here is refused while parsing, before any framework is imported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def read_only_folder(tmp_path: Path) -> Path:
    """A folder nobody here can write in: chmod 555, or (as root, whom chmod does not stop) sysfs."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    if not Path("/sys/kernel").is_dir():
        pytest.skip("running as root without a read-only sysfs: no folder here refuses writes")
    return Path("/sys/kernel")


# (module, arguments with {tmp} for a scratch folder, the expected error line after "error: ")
CASES = [
    ("verify", ["--seed", "-5"], "argument --seed: expected an integer from 0 to 4294967295, got '-5'"),
    ("bench", ["--seed", "-5"], "argument --seed: expected an integer from 0 to 4294967295, got '-5'"),
    (
        "verify",
        ["--numerics", "fast"],
        "argument --numerics: invalid choice: 'fast' (choose from 'quick', 'full', 'off')",
    ),
    (
        "bench",
        ["--sizes", "inf"],
        "argument --sizes: expected comma-separated sizes like 2000,2e4, got 'inf'",
    ),
    ("bench", ["--sizes", "1e12"], "--sizes: expected N <= "),
    ("bench", ["--matmul-sizes", "1e7"], "--matmul-sizes: expected n <= "),
    ("verify", ["--json", "{tmp}"], "argument --json: expected a file path, got a directory: {tmp}"),
    (
        "verify",
        ["--locked", " , "],
        "argument --locked: expected comma-separated distribution names, got ' , '",
    ),
    (
        "verify",
        ["--json", "{tmp}/file/report.json"],
        "argument --json: expected a path in a folder, got one under the regular file {tmp}/file",
    ),
    (
        "verify",
        ["--json", "{ro}/report.json"],
        "argument --json: expected a writable folder for {ro}/report.json",
    ),
    ("bench", ["--json", "{tmp}"], "argument --json: expected a file path, got a directory: {tmp}"),
    (
        "bench",
        ["--out-dir", "{tmp}/file"],
        "argument --out-dir: expected a folder, got a regular file: {tmp}/file",
    ),
    (
        "bench",
        ["--out-dir", "{ro}/results"],
        "argument --out-dir: expected a writable folder for {ro}/results",
    ),
]


@pytest.mark.parametrize(("module", "argv", "expected"), CASES, ids=[" ".join(c[1]) for c in CASES])
def test_bad_argument_is_one_line_before_any_work(tmp_path, module, argv, expected):
    (tmp_path / "file").write_text("a regular file\n")
    ro = read_only_folder(tmp_path) if any("{ro}" in a for a in argv) else tmp_path
    fill = {"tmp": str(tmp_path), "ro": str(ro)}
    done = subprocess.run(
        [sys.executable, "-m", f"checks.{module}", "--framework", "torch", *(a.format(**fill) for a in argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"python -m checks.{module}: error: {expected.format(**fill)}"), last
    assert not list(tmp_path.glob("**/*.json")) and not list(tmp_path.glob("**/.gpuenv-probe*"))
