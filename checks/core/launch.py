"""What the distributed smokes share (checks/frameworks/torch/allreduce.py under torchrun,
checks/frameworks/mlx/allsum.py under mlx.launch): each rank r contributes r+1 and every rank must get the
sum; a launcher starts N ranks of the module, rank 0 writes the report as JSON, and the launching side turns
the launcher's status, its output and that report into failures, one line each. Standard library only: it runs
before any rank exists."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the repository root: checks/ is importable from it


def expected_sum(world_size: int) -> float:
    return world_size * (world_size + 1) / 2


def run(
    cmd: list[str], env: dict[str, str], out: Path, timeout_s: float, *, cwd: Path | None = None
) -> tuple[dict[str, Any] | None, int | None, str, float]:
    """Run the launcher; (rank 0's report or None, its exit status or None on timeout, output, seconds).
    PYTHONPATH gains the repository root, so every rank imports this checks/ whatever its working folder."""
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))}
    start = time.perf_counter()
    # A session of its own, so a timeout kills the launcher and every rank it started, not only it.
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    status: int | None
    try:
        output, _ = proc.communicate(timeout=timeout_s)
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        status = None
    seconds = time.perf_counter() - start
    return (json.loads(out.read_text()) if out.exists() else None), status, output, seconds


def failures(
    report: dict[str, Any], status: int | None, output: str, *, launcher: str, waited_s: float,
    error_marks: Sequence[str],
) -> list[str]:  # fmt: skip
    """Why the smoke failed, one line each: the launcher's status, missing ranks, wrong sums."""
    found = []
    if status is None:
        found.append(f"{launcher} did not finish within {waited_s:g} s; every rank was killed")
    elif status != 0:
        found.append(f"{launcher} exited with {status}: {reason(output, error_marks)}")
    if len(report["ranks"]) != report["world_size"] and status is not None:
        found.append(
            f"expected a result from each of {report['world_size']} ranks, got {len(report['ranks'])}"
        )
    found += [
        f"rank {r['rank']} ({r['device']}): got {r['got']:g}, expected {r['expected']:g} "
        f"({r['wrong_elements']} of {report['elements']} elements wrong)"
        for r in report["ranks"]
        if not r["passed"]
    ]
    return found


def reason(output: str, error_marks: Sequence[str]) -> str:
    """The line that says why, from the ranks' output: the last one holding an error mark."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if any(mark in ln for mark in error_marks)]
    return (errors or lines or ["no output"])[-1][:500]


def finish(
    report: dict[str, Any], json_path: Path | None, rank_lines: Callable[[dict[str, Any]], list[str]],
    summary_line: Callable[[dict[str, Any]], str],
) -> int:  # fmt: skip
    """The launching side's output: each rank, the summary, the failures; the report at --json."""
    print("\n".join([*rank_lines(report), summary_line(report), *(f"FAIL: {f}" for f in report["failures"])]))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {json_path}")
    return 0 if report["passed"] else 1
