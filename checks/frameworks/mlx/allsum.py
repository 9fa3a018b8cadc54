"""mlx.distributed smoke: every rank all-sums a known array and checks the sum.

    python -m checks.mlx_allsum [--nproc N] [--timeout S] [--json PATH]

launches `mlx.launch --backend ring -n N -- python -m checks.frameworks.mlx.allsum` (N local processes, 2
by default), the way MLX spreads work over several Macs (docs/mlx.md: the same smoke over a hostfile of Macs).
The ring backend joins the ranks over TCP; its collectives run on the CPU stream. Rank r contributes an
array of r + 1, so after the all-sum every element on every rank must be 1 + 2 + ... + N = N(N + 1)/2. Each
rank's result is all-gathered to rank 0, which writes the report. A hung rank cannot hang the caller: the
launcher and every rank run in a session of their own, killed whole after --timeout seconds.

Run by mlx.launch itself, it is the worker (mlx.launch sets MLX_RANK). `checks.verify --framework mlx` runs
the launcher after the fit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlx.core as mx

from checks.core import argcheck
from checks.core import launch as launched
from checks.core import report as report_file

# The name its report and failure lines carry in verify's report ("mlx_allsum: ..."; frameworks.check_name).
REPORT_NAME = "mlx_allsum"

ELEMENTS = 1 << 20  # 4 MiB of float32: several of the ring's chunks, not one small message
DEFAULT_TIMEOUT_S = 120
# Per rank, gathered to rank 0: rank, contributed, got (element 0), wrong elements, warm-up sum, seconds.
FIELDS = ("rank", "contributed", "got", "wrong_elements", "warmup_sum", "seconds")


# ------------------------------------------------------------------------------------- worker (a rank)


def worker(json_path: Path | None) -> int:
    """One rank: join the ring, all-sum rank + 1, check every element, gather everyone's result to rank 0."""
    group = mx.distributed.init(backend="ring", strict=True)
    rank, world = group.rank(), group.size()
    warm = mx.distributed.all_sum(mx.ones((8,)), stream=mx.cpu)  # the first collective: not timed
    mx.eval(warm)
    array = mx.full((ELEMENTS,), float(rank + 1), dtype=mx.float32)
    mx.eval(array)
    start = time.perf_counter()
    total = mx.distributed.all_sum(array, stream=mx.cpu)
    mx.eval(total)
    seconds = time.perf_counter() - start
    want = launched.expected_sum(world)
    wrong = mx.sum(total != want).item()
    mine = mx.array([rank, rank + 1, total[0].item(), wrong, warm[0].item(), seconds], dtype=mx.float32)
    everyone = mx.distributed.all_gather(mine[None], stream=mx.cpu)
    mx.eval(everyone)
    if rank == 0:
        ranks = [_rank_row(dict(zip(FIELDS, row)), world) for row in everyone.tolist()]
        report = {"backend": "ring", "world_size": world, "elements": ELEMENTS, "ranks": ranks}
        if json_path is not None:
            report_file.write_json(json_path, report)  # the launcher reads it: written whole or not at all
        print("\n".join(rank_lines(report)), flush=True)
    return 0 if wrong == 0 and warm[0].item() == world else 1


def _rank_row(row: dict[str, Any], world: int) -> dict[str, Any]:
    want = launched.expected_sum(world)
    return {
        "rank": int(row["rank"]),
        "device": "cpu",
        "contributed": row["contributed"],
        "got": row["got"],
        "expected": want,
        "wrong_elements": int(row["wrong_elements"]),
        "warmup_sum": row["warmup_sum"],
        "us": 1e6 * row["seconds"],
        "passed": row["wrong_elements"] == 0 and row["warmup_sum"] == world,
    }


rank_lines = launched.rank_lines


# ------------------------------------------------------------------------------------------ launcher


def free_port() -> int:
    """A TCP port nothing listens on now: the ring's first rank listens there, the next on port + 1, ...
    (mlx.launch's default, 5000, collides when two smokes run at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher() -> str:
    """mlx's `mlx.launch` console script, the one beside this Python (a venv's or a conda env's bin)."""
    beside = Path(sys.executable).parent / "mlx.launch"
    return str(beside) if beside.exists() else shutil.which("mlx.launch") or "mlx.launch"


def command(nproc: int, json_path: Path) -> list[str]:
    """mlx.launch's command line: N local ranks on the ring backend, each this module under this Python."""
    return [
        launcher(), "--backend", "ring", "-n", str(nproc),
        "--starting-port", str(free_port()),
        "--", sys.executable, "-m", "checks.frameworks.mlx.allsum", "--json", str(json_path),
    ]  # fmt: skip


def launch(nproc: int = 2, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Run the smoke under mlx.launch; the report has `passed` and, when not, `failures` saying why."""
    with tempfile.TemporaryDirectory(prefix="gpuenv-mlx-allsum-") as tmp:
        out = Path(tmp) / "allsum.json"
        found, status, output, seconds = launched.run(
            command(nproc, out), dict(os.environ), out, timeout_s, cwd=launched.PACKAGE_ROOT
        )
    report = found or {"backend": "ring", "ranks": []}
    report.update(
        world_size=nproc,
        seconds=seconds,
        command=f"mlx.launch --backend ring -n {nproc} -- python -m checks.frameworks.mlx.allsum",
    )
    report["failures"] = launched.failures(
        report, status, output, launcher="mlx.launch", waited_s=timeout_s, error_marks=("Error", "error")
    )
    report["passed"] = not report["failures"]
    return report


def summary_line(report: dict[str, Any]) -> str:
    return launched.summary_line(report, "allsum: mlx.distributed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.mlx_allsum", description=__doc__.split("\n")[0])
    p.add_argument(
        "--nproc", type=argcheck.positive(int, "integer"), default=2, help="local processes (default 2)"
    )
    launched.add_arguments(p, DEFAULT_TIMEOUT_S)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "MLX_RANK" in os.environ:  # started by mlx.launch: be one rank
        return worker(args.json)
    return launched.finish(launch(args.nproc, args.timeout), args.json, rank_lines, summary_line)


if __name__ == "__main__":
    sys.exit(main())
