"""The sine fit on a real framework against the float64 NumPy reference, and the rules that judge it."""

from __future__ import annotations

import json
import platform

import pytest

from checks import frameworks, verify
from checks.core import sine_fit

UNITS = list(frameworks.NAMES)


def _unit(framework: str):
    pytest.importorskip(framework, reason=f"{framework} is not in this environment")
    return frameworks.load(framework)


def _cpu(framework: str) -> str:
    return frameworks.declared(framework)["CPU_DEVICE"]


@pytest.fixture(scope="module")
def start():
    init = sine_fit.initial_parameters(0)
    return init, sine_fit.reference_fit(init)


@pytest.mark.parametrize("framework", UNITS)
def test_cpu_fit_matches_float64_reference(framework, start):
    unit = _unit(framework)
    init, reference = start
    run = unit.sine_fit(_cpu(framework), init, n=2000, steps=2000, lr=1e-6)
    verdict = sine_fit.judge(run, reference, steps=2000, lr=1e-6)
    assert verdict.passed, verdict.failures
    assert run.steps_run == 2000 and len(run.losses) == 2000
    assert run.on_device
    # Measured: float32 stays within ~1e-6 of float64 here; the tolerance in sine_fit is 1e-3.
    assert verdict.max_coefficient_error < 1e-4
    assert verdict.loss_drop > 100
    # The fit lands on the least-squares cubic's shape: b near 0.86, d near -0.09 (facts.md).
    assert 0.7 < run.coefficients[1] < 1.0 and -0.12 < run.coefficients[3] < -0.06


@pytest.mark.parametrize("framework", UNITS)
def test_diverging_learning_rate_fails_with_the_reason(framework, start):
    unit = _unit(framework)
    init, _ = start
    run = unit.sine_fit(_cpu(framework), init, n=2000, steps=2000, lr=1e-3)
    ref = sine_fit.reference_fit(init, lr=1e-3)
    verdict = sine_fit.judge(run, ref, steps=2000, lr=1e-3)
    assert not verdict.passed
    assert verdict.failures[0].startswith("the fit diverged: loss became")
    assert run.steps_run < 2000  # stopped at the first non-finite loss


@pytest.mark.parametrize("framework", UNITS)
def test_verify_writes_a_json_report(framework, tmp_path, capsys):
    _unit(framework)
    out = tmp_path / "r" / "report.json"
    # the torch.distributed smoke has its own tests (test_allreduce.py)
    args = ["--framework", framework, "--json", str(out), "--steps", "300", "--allow-cpu", "--no-distributed"]
    code = verify.main(args)
    report = json.loads(out.read_text())
    assert code == (0 if report["passed"] else 1)
    assert report["schema_version"] == 1
    assert set(report) >= {
        "platform",
        "framework_version",
        "accelerators",
        "chosen",
        "runs",
        "failures",
        "notes",
    }
    assert report["platform"]["python"] == platform.python_version()
    run = report["runs"][0]
    assert set(run) >= {
        "device",
        "us_per_step",
        "initial_loss",
        "final_loss",
        "coefficients",
        "reference_coefficients",
        "max_coefficient_error",
        "placements",
        "passed",
    }
    assert run["us_per_step"] > 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-2] in ("PASS", "FAILED")


@pytest.mark.parametrize("framework", UNITS)
def test_diverging_fit_fails_verify(framework, tmp_path):
    _unit(framework)
    out = tmp_path / "report.json"
    args = ["--framework", framework, "--lr", "1e-3", "--json", str(out), "--no-distributed", "--no-extra"]
    assert verify.main(args) == 1
    report = json.loads(out.read_text())
    assert not report["passed"]
    assert any("diverged" in f for f in report["failures"])
    assert report["runs"][0]["final_loss"] in ("nan", "inf")  # valid JSON even for a diverged run


def test_require_gpu_without_gpu_fails(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU; the failure path needs one without")
    out = tmp_path / "report.json"
    args = ["--framework", "torch", "--require-gpu", "--steps", "50", "--json", str(out), "--no-distributed",
            "--no-extra"]  # fmt: skip
    assert verify.main(args) == 1
    failures = json.loads(out.read_text())["failures"]
    assert failures and failures[0].startswith("no GPU used although --require-gpu was given")


@pytest.mark.gpu
def test_fit_passes_on_every_gpu(start):
    """On a CUDA box: every visible GPU; on a Mac: MPS. Tensors must live there and match the reference."""
    torch_fw = frameworks.load("torch")

    init, reference = start
    kind, devices = torch_fw.best_devices()
    assert kind in ("cuda", "mps")
    for device in devices:
        run = torch_fw.sine_fit(device, init, n=2000, steps=2000, lr=1e-6)
        verdict = sine_fit.judge(run, reference, steps=2000, lr=1e-6)
        assert verdict.passed, (device, verdict.failures)
        assert all(p.startswith(kind) for p in run.placements.values())


@pytest.mark.gpu
def test_best_device_helper_picks_the_gpu():
    from checks.device import best_device

    assert best_device().type in ("cuda", "mps")
