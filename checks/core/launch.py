"""What the distributed smokes share (checks/frameworks/torch/allreduce.py under torchrun,
checks/frameworks/mlx/allsum.py under mlx.launch): each rank r contributes r+1 and every rank must get the
sum; a launcher starts N ranks of the module, rank 0 writes the report as JSON, and the launching side turns
the launcher's status, its output and that report into failures, one line each. Standard library only: it runs
before any rank exists."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from checks.core import argcheck
from checks.core import report as reports

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


def add_arguments(parser: argparse.ArgumentParser, default_timeout_s: float) -> None:
    """The options every smoke takes: --json and --timeout (checked positive before any rank starts)."""
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON here")
    parser.add_argument(
        "--timeout",
        type=argcheck.positive(float, "number of seconds"),
        default=default_timeout_s,
        help="seconds before ranks are killed",
    )


def rank_lines(report: dict[str, Any]) -> list[str]:
    """One line per rank: what it sent, what it got, its time (with the device's name where it has one)."""
    return [
        f"  rank {r['rank']}/{report['world_size']} {report['backend']} {r['device']}"
        + (f" ({r['name']})" if r.get("name") else "")
        + f": {r['contributed']:g} -> {r['got']:g}, expected {r['expected']:g}, {r['us']:.0f} us  "
        + ("ok" if r["passed"] else f"FAILED ({r['wrong_elements']} wrong elements)")
        for r in report["ranks"]
    ]


def summary_line(report: dict[str, Any], label: str) -> str:
    """The smoke in one line; `label` names it ("allreduce:", "allsum: mlx.distributed")."""
    us = max((r["us"] for r in report["ranks"]), default=math.nan)
    return (
        f"{label} {report['backend']} x{report['world_size']} ranks, each rank r sends r+1, every rank must "
        f"get {expected_sum(report['world_size']):g}; slowest rank {us:.0f} us, {report['seconds']:.1f} s "
        "with launch  " + ("ok" if report["passed"] else "FAILED")
    )


def finish(
    report: dict[str, Any], json_path: Path | None, rank_lines: Callable[[dict[str, Any]], list[str]],
    summary_line: Callable[[dict[str, Any]], str],
) -> int:  # fmt: skip
    """The launching side's output: each rank, the summary, the failures; the report at --json."""
    print("\n".join([*rank_lines(report), summary_line(report), *(f"FAIL: {f}" for f in report["failures"])]))
    if json_path:
        reports.write_json(json_path, report)
        print(f"report: {json_path}")
    return 0 if report["passed"] else 1
