"""MLX for real: the all-sum under mlx.launch (ring backend, local ranks), what MLX sees, the bench forms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

mx = pytest.importorskip("mlx.core", reason="mlx is not in this environment")
from checks.core import sine_fit  # noqa: E402
from checks.frameworks import mlx as fw  # noqa: E402
from checks.frameworks.mlx import allsum as mlx_allsum  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("nproc", [2, 3])
def test_ring_all_sum_gives_every_rank_the_sum(nproc):
    report = mlx_allsum.launch(nproc, timeout_s=120)
    assert report["passed"], report["failures"]
    want = nproc * (nproc + 1) / 2  # 3 for two ranks, 6 for three: not a constant
    assert sorted(r["rank"] for r in report["ranks"]) == list(range(nproc))
    for r in report["ranks"]:
        assert r["contributed"] == r["rank"] + 1
        assert r["got"] == r["expected"] == want and r["wrong_elements"] == 0
        assert r["warmup_sum"] == nproc and r["us"] > 0


def test_a_launch_past_its_timeout_is_killed_and_fails():
    report = mlx_allsum.launch(2, timeout_s=0.2)  # starting two Pythons with mlx takes longer than that
    assert not report["passed"]
    assert report["failures"] == ["mlx.launch did not finish within 0.2 s; every rank was killed"]


def test_the_cli_writes_the_report_and_refuses_bad_input(tmp_path):
    out = tmp_path / "allsum.json"
    cmd = [sys.executable, "-m", "checks.mlx_allsum"]
    done = subprocess.run([*cmd, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(out.read_text())["passed"] is True
    assert "allsum: mlx.distributed ring x2 ranks" in done.stdout
    bad = subprocess.run([*cmd, "--nproc", "0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected a positive integer, got '0'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_what_mlx_sees_says_why_each_gpu_is_missing():
    info = fw.accelerators()
    kind, devices = fw.best_devices(info)
    if sys.platform == "linux":
        assert not info["metal"]["available"] and "only on macOS" in info["why_not"]["metal"]
        assert set(info["backends"]) & {"mlx-cpu", "mlx-cuda-12", "mlx-cuda-13"}
    if kind == "cpu":
        assert devices == ["cpu"] and info["why_not"]
        assert fw.float64_on_gpu() is None  # no GPU to refuse it
    else:
        assert devices == ["gpu"] and "float64" in (fw.float64_on_gpu() or "")


def test_bad_device_names_are_refused():
    with pytest.raises(ValueError, match="expected an MLX device 'gpu', 'gpu:N' or 'cpu', got 'mps'"):
        fw.sync_for("mps")


@pytest.mark.parametrize("form", ["faithful", "no_sync", "fused"])
def test_every_bench_form_matches_the_float64_reference(form):
    init = sine_fit.initial_parameters(3)
    _, ref_coef = sine_fit.reference_fit(init, steps=300)[:2]
    fit = fw.SineFit("cpu", sine_fit.N_POINTS, init, sine_fit.LEARNING_RATE, form)
    got = fit.run(300)
    assert all(abs(g - r) <= 1e-4 + 1e-3 * abs(r) for g, r in zip(got, ref_coef)), (form, got, ref_coef)
    if form == "fused":
        assert fit.how.startswith("mx.compile"), fit.how


def test_the_fit_runs_on_the_device_asked_for_and_reads_every_loss():
    """Every array float32, every operation on the CPU stream asked for, one loss read back per step."""
    init = sine_fit.initial_parameters(0)
    run = fw.sine_fit("cpu", init, n=2000, steps=200, lr=1e-6)
    assert run.on_device and set(run.placements.values()) == {"cpu:0"}
    assert run.steps_run == 200 and len(run.losses) == 200
