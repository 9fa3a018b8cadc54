"""The torch.distributed smoke for real: gloo with 2 and 3 CPU processes here, NCCL on every GPU there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not in this environment")
from checks import verify  # noqa: E402
from checks.frameworks.torch import allreduce  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


# Each torchrun launch costs tens of seconds on a 2-core CI machine (every rank imports torch), so the
# smoke is launched twice: by the CLI with 3 ranks, and by verify with the default 2; both reports are
# checked rank by rank here.
def assert_every_rank_sums(report: dict, nproc: int) -> None:
    assert report["passed"], report["failures"]
    assert report["backend"] == "gloo" and report["world_size"] == nproc
    want = nproc * (nproc + 1) / 2  # 3 for two ranks, 6 for three: not a constant
    assert sorted(r["rank"] for r in report["ranks"]) == list(range(nproc))
    for r in report["ranks"]:
        assert r["contributed"] == r["rank"] + 1
        assert r["got"] == r["expected"] == want and r["wrong_elements"] == 0
        assert r["warmup_sum"] == nproc and r["us"] > 0


def test_the_cli_launches_torchrun_and_writes_the_report(tmp_path):
    out = tmp_path / "ar.json"
    done = subprocess.run(
        [sys.executable, "-m", "checks.allreduce", "--backend", "gloo", "--nproc", "3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "allreduce: gloo x3 ranks" in done.stdout and done.stdout.count(" ok") >= 4
    report = json.loads(out.read_text())
    assert "torch.distributed.run --standalone --nproc-per-node=3" in report["command"]
    assert report["command"].endswith("--nproc-per-node=3 -m checks.frameworks.torch.allreduce")  # one -m
    assert_every_rank_sums(report, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nproc", "0"], "expected a positive integer, got '0'"),
        (["--backend", "mpi"], "invalid choice: 'mpi'"),
        # a timeout that cannot run out (negative, nan) is refused before torchrun starts
        (["--timeout", "-1"], "expected a positive number of seconds, got '-1'"),
        (["--timeout", "nan"], "expected a positive number of seconds, got 'nan'"),
    ],
)
def test_bad_arguments_exit_2(args, message, capsys):
    """Refused by the parser before anything launches (in-process: a subprocess would only add an import
    of torch; the CLI's own process is run above)."""
    with pytest.raises(SystemExit) as exc:
        allreduce.main(args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_nccl_without_a_gpu_is_refused_with_the_fix():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(
        ValueError, match="expected a CUDA GPU for --backend nccl, got none: use --backend gloo"
    ):
        allreduce.plan("nccl", None)


def test_verify_runs_the_smoke_and_reports_it(tmp_path):
    out = tmp_path / "verify.json"
    verify.main(["--framework", "torch", "--steps", "2000", "--allow-cpu", "--json", str(out)])
    report = json.loads(out.read_text())
    dist = report["distributed"]
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert dist["backend"] == ("nccl" if gpus else "gloo")
    assert dist["world_size"] == (gpus or 2) and dist["passed"], dist["failures"]
    if not gpus:
        assert_every_rank_sums(dist, 2)
    assert report["passed"], report["failures"]


@pytest.mark.gpu
def test_nccl_over_every_gpu():
    if not torch.cuda.is_available():
        pytest.skip("NCCL needs CUDA")
    report = allreduce.launch()
    n = torch.cuda.device_count()
    assert report["backend"] == "nccl" and report["world_size"] == n, report
    assert report["passed"], report["failures"]
    assert sorted(r["device"] for r in report["ranks"]) == [f"cuda:{i}" for i in range(n)]
