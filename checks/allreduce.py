"""torch.distributed smoke: every rank all-reduces a known tensor and checks the sum.

    python -m checks.allreduce [--nproc N] [--backend nccl|gloo] [--json PATH]

launches `python -m torch.distributed.run --standalone --nproc-per-node N -m checks.allreduce` (torchrun):
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
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from checks import frameworks

ELEMENTS = (
    1 << 20
)  # 4 MiB of float32: big enough to take NCCL's ring/tree path, not only its small-message one
# The lent multi-GPU machines (and many cloud VMs) cannot use NVLink multicast (NVLS); NCCL and torch's
# symmetric memory would otherwise try it and fail or hang at the first collective.
LAUNCH_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "OMP_NUM_THREADS": "1"}
DEFAULT_TIMEOUT_S = 180


def expected_sum(world_size: int) -> float:
    return world_size * (world_size + 1) / 2


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
        want = expected_sum(world)
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
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        print("\n".join(rank_lines(report)), flush=True)
    return 0 if mine["passed"] else 1


def rank_lines(report: dict[str, Any]) -> list[str]:
    return [
        f"  rank {r['rank']}/{report['world_size']} {report['backend']} {r['device']} ({r['name']}): "
        f"{r['contributed']:g} -> {r['got']:g}, expected {r['expected']:g}, {r['us']:.0f} us  "
        + ("ok" if r["passed"] else f"FAILED ({r['wrong_elements']} wrong elements)")
        for r in report["ranks"]
    ]


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
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {
        **os.environ,
        **LAUNCH_ENV,
        "GPUENV_DIST_BACKEND": backend,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="gpuenv-allreduce-") as tmp:
        out = Path(tmp) / "allreduce.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={nproc}",
            "-m",
            "checks.allreduce",
            "--json",
            str(out),
            "--timeout",
            str(timeout_s),
        ]
        start = time.perf_counter()
        # A session of its own, so a timeout kills torchrun and every rank it started, not only torchrun.
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s + 30)
            status = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            status = None
        seconds = time.perf_counter() - start
        report: dict[str, Any] = (
            json.loads(out.read_text()) if out.exists() else {"backend": backend, "ranks": []}
        )
    report.update(
        world_size=nproc, seconds=seconds, command=" ".join(["python", *cmd[1:6], "-m", "checks.allreduce"])
    )
    failures = []
    if status is None:
        failures.append(f"torchrun did not finish within {timeout_s + 30:g} s; every rank was killed")
    elif status != 0:
        failures.append(f"torchrun exited with {status}: {_reason(output)}")
    if len(report["ranks"]) != nproc and status is not None:
        failures.append(f"expected a result from each of {nproc} ranks, got {len(report['ranks'])}")
    failures += [
        f"rank {r['rank']} ({r['device']}): got {r['got']:g}, expected {r['expected']:g} "
        f"({r['wrong_elements']} of {report['elements']} elements wrong)"
        for r in report["ranks"]
        if not r["passed"]
    ]
    report["failures"] = failures
    report["passed"] = not failures
    return report


def _reason(output: str) -> str:
    """The line that says why, from torchrun's output: the last error a rank raised."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error:" in ln]
    return (errors or lines or ["no output"])[-1][:500]


def summary_line(report: dict[str, Any]) -> str:
    ranks = report["ranks"]
    us = max((r["us"] for r in ranks), default=math.nan)
    return (
        f"allreduce: {report['backend']} x{report['world_size']} ranks, each rank r sends r+1, every rank "
        f"must get {expected_sum(report['world_size']):g}; slowest rank {us:.0f} us, "
        f"{report['seconds']:.1f} s with launch  " + ("ok" if report["passed"] else "FAILED")
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.allreduce", description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("nccl", "gloo"), help="default: nccl with a GPU, else gloo")
    p.add_argument("--nproc", type=_positive_int, help="processes (default: one per GPU, or 2 on CPU)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON here")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds before ranks are killed")
    return p.parse_args(argv)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "LOCAL_RANK" in os.environ:  # started by torchrun: be one rank
        return worker(args.json, args.timeout)
    try:
        report = launch(args.backend, args.nproc, args.timeout)
    except ValueError as exc:
        print(f"allreduce: {exc}", file=sys.stderr)
        return 2
    print("\n".join([*rank_lines(report), summary_line(report), *(f"FAIL: {f}" for f in report["failures"])]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report: {args.json}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
