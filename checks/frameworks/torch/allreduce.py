"""torch.distributed smoke: every rank all-reduces a known tensor and checks the sum.

    python -m checks.allreduce [--nproc N] [--backend nccl|gloo] [--json PATH]

launches `python -m torch.distributed.run --standalone --nproc-per-node N -m
checks.frameworks.torch.allreduce` (torchrun):
NCCL with one process per visible GPU on a CUDA machine, gloo with 2 CPU processes elsewhere, so a machine
without a GPU still exercises the whole torch.distributed path. Rank r contributes a tensor of r + 1, so
after the all-reduce every element on every rank must be 1 + 2 + ... + N = N(N + 1)/2. Rank 0 gathers each
rank's result and writes the report. A hung rank cannot hang the caller: the process group has a timeout
and the launcher kills the whole torchrun process group after --timeout seconds.

Run by torchrun yourself, it is the worker (torchrun sets LOCAL_RANK). `checks.verify --framework torch`
runs the launcher after the fit, so one command proves a multi-GPU box.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from checks import frameworks
from checks.core import argcheck
from checks.core import launch as launched
from checks.core import report as report_file

# The name its report and failure lines carry in verify's report ("allreduce: ..."; frameworks.check_name).
REPORT_NAME = "allreduce"

ELEMENTS = (
    1 << 20
)  # 4 MiB of float32: big enough to take NCCL's ring/tree path, not only its small-message one
# The lent multi-GPU machines (and many cloud VMs) cannot use NVLink multicast (NVLS); NCCL and torch's
# symmetric memory would otherwise try it and fail or hang at the first collective.
LAUNCH_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "OMP_NUM_THREADS": "1"}
DEFAULT_TIMEOUT_S = 180


# ------------------------------------------------------------------------------------- worker (a rank)


def worker(json_path: Path | None, timeout_s: float) -> int:
    """One rank: join the group, all-reduce rank + 1, check every element, report to rank 0."""
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    backend = os.environ.get("GPUENV_DIST_BACKEND") or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        name = torch.cuda.get_device_name(local)
    else:
        device, name = torch.device("cpu"), "cpu"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    try:
        warm = torch.ones(8, device=device)
        dist.all_reduce(warm)  # the first collective builds the communicator: not timed
        tensor = torch.full((ELEMENTS,), float(rank + 1), device=device)
        sync = frameworks.load("torch").sync_for(device)
        sync()
        start = time.perf_counter()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        sync()
        seconds = time.perf_counter() - start
        want = launched.expected_sum(world)
        wrong = int((tensor != want).sum().item())
        mine = {
            "rank": rank,
            "local_rank": local,
            "device": str(device),
            "name": name,
            "contributed": float(rank + 1),
            "got": tensor[0].item(),
            "expected": want,
            "wrong_elements": wrong,
            "warmup_sum": warm[0].item(),
            "us": 1e6 * seconds,
            "passed": wrong == 0 and warm[0].item() == world,
        }
        everyone: list[Any] = [None] * world
        dist.all_gather_object(everyone, mine)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        report = {"backend": backend, "world_size": world, "elements": ELEMENTS, "ranks": everyone}
        if json_path is not None:
            report_file.write_json(json_path, report)  # the launcher reads it: written whole or not at all
        print("\n".join(rank_lines(report)), flush=True)
    return 0 if mine["passed"] else 1


rank_lines = launched.rank_lines


# ------------------------------------------------------------------------------------------ launcher


def plan(backend: str | None, nproc: int | None) -> tuple[str, int]:
    """NCCL over every visible GPU, else gloo over 2 CPU processes; ValueError for an impossible request."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    backend = backend or ("nccl" if gpus else "gloo")
    if backend == "nccl" and gpus == 0:
        raise ValueError("expected a CUDA GPU for --backend nccl, got none: use --backend gloo")
    nproc = nproc or (gpus if backend == "nccl" else 2)
    if backend == "nccl" and nproc > gpus:
        raise ValueError(f"expected at most {gpus} NCCL processes (one per GPU), got --nproc {nproc}")
    return backend, nproc


def launch(
    backend: str | None = None, nproc: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, Any]:
    """Run the smoke under torchrun; the report has `passed` and, when not, `failures` saying why."""
    backend, nproc = plan(backend, nproc)
    with tempfile.TemporaryDirectory(prefix="gpuenv-allreduce-") as tmp:
        out = Path(tmp) / "allreduce.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "checks.frameworks.torch.allreduce",
            "--json",
            str(out),
            "--timeout",
            str(timeout_s),
        ]
        env = {**os.environ, **LAUNCH_ENV, "GPUENV_DIST_BACKEND": backend}
        # The ranks' own timeout first (they report it), then torchrun's 30 s to tear them down.
        found, status, output, seconds = launched.run(cmd, env, out, timeout_s + 30)
    report = found or {"backend": backend, "ranks": []}
    report.update(
        world_size=nproc,
        seconds=seconds,
        command=" ".join(["python", *cmd[1:7]]),
    )
    report["failures"] = launched.failures(
        report, status, output, launcher="torchrun", waited_s=timeout_s + 30, error_marks=("Error", "error:")
    )
    report["passed"] = not report["failures"]
    return report


def summary_line(report: dict[str, Any]) -> str:
    return launched.summary_line(report, "allreduce:")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.allreduce", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("nccl", "gloo"), help="default: nccl with a GPU, else gloo")
    p.add_argument(
        "--nproc",
        type=argcheck.positive(int, "integer"),
        help="processes (default: one per GPU, or 2 on CPU)",
    )
    launched.add_arguments(p, DEFAULT_TIMEOUT_S)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "LOCAL_RANK" in os.environ:  # started by torchrun: be one rank
        return worker(args.json, args.timeout)
    try:
        report = launch(args.backend, args.nproc, args.timeout)
    except ValueError as exc:
        print(f"allreduce: {exc}", file=sys.stderr)
        return 2
    return launched.finish(report, args.json, rank_lines, summary_line)


if __name__ == "__main__":
    sys.exit(main())
