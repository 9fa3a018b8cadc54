"""The device probe (checks/core/probe.py, with each framework's probe_op) with the real frameworks: a device
that works passes, one that cannot hold a tensor fails with one line and is not chosen, and verify then runs
on what is left (or on the CPU, as `--device cpu` asks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checks import frameworks, verify
from checks.core import probe

# GitHub's hosted Apple Silicon runners: torch says MPS is available, the first tensor fails
# (actions/runner-images#9918, reported 2024-05-23 on the macOS 13 and 14 arm64 images; pytorch/vision#8433).
HOSTED_MPS = (
    "RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max "
    "allowed: 7.93 GB). Tried to allocate 256 bytes on private pool. Use "
    "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause system "
    "failure)."
)


def _load(name: str):
    pytest.importorskip(name, reason=f"{name} is not in this environment")
    return frameworks.load(name)


@pytest.mark.parametrize("name", frameworks.NAMES)
def test_the_cpu_and_every_chosen_device_pass_the_probe(name):
    fw = _load(name)
    assert probe.attempt(fw.probe_op(fw.CPU_DEVICE)) is None
    info = fw.accelerators()
    kind, devices = fw.best_devices(info)
    for device in devices if kind != "cpu" else []:
        assert info["probe"][device] is None, (device, info["probe"])
    assert fw.doctor_facts()["probe"] == info["probe"]


@pytest.mark.parametrize("name", frameworks.NAMES)
def test_a_device_that_is_not_there_fails_the_probe_in_one_line(name):
    """Not vacuous: the probe really runs the op, and a device that cannot run it is a line, not a crash."""
    fw = _load(name)
    if name == "torch":
        import torch

        absent = f"cuda:{torch.cuda.device_count()}"  # one past the last GPU, or cuda:0 with none
    elif name == "tensorflow":
        import tensorflow as tf

        absent = f"/GPU:{len(tf.config.list_physical_devices('GPU'))}"  # TF would place it on the CPU
    else:
        if fw.best_devices()[0] != "cpu":
            pytest.skip("this MLX has a GPU; the failure path needs one without")
        absent = "gpu"
    error = probe.attempt(fw.probe_op(absent))
    assert error and "\n" not in error, error


def test_an_mps_that_reports_available_but_cannot_allocate_is_not_chosen():
    """The hosted runners' MPS (the recorded error above): best_devices passes over it, with the reason."""
    fw = _load("torch")
    info = fw.accelerators()
    info["mps"]["available"] = True
    info["probe"] = {"mps": HOSTED_MPS, **info["probe"]}
    kind, devices = fw.best_devices(info)
    assert "mps" not in devices and kind in ("cuda", "cpu")
    assert probe.failed(info) == {"mps": HOSTED_MPS}


def test_device_cpu_runs_on_the_cpu_and_says_so(tmp_path):
    fw = _load("torch")
    out = tmp_path / "report.json"
    args = ["--framework", "torch", "--device", "cpu", "--json", str(out), "--no-distributed",
            "--no-extra"]  # fmt: skip
    assert verify.main(args) == 0
    report = json.loads(out.read_text())
    assert report["chosen"] == {"kind": "cpu", "devices": [fw.CPU_DEVICE]}
    assert [r["device"] for r in report["runs"]] == [fw.CPU_DEVICE]
    assert any(n.startswith("ran on CPU: --device cpu was given") for n in report["notes"])


def test_device_cpu_and_require_gpu_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        verify.parse_args(["--framework", "torch", "--device", "cpu", "--require-gpu"])
    assert exit_.value.code == 2
    assert "expected --device cpu or --require-gpu, got both" in capsys.readouterr().err


# A CUDA GPU that reports available but cannot allocate, made for real: the process may use 0 bytes of each
# GPU (torch.cuda.set_per_process_memory_fraction), so its first tensor fails as the hosted MPS's does.
NO_MEMORY = """
import sys, torch
for i in range(torch.cuda.device_count()):
    torch.cuda.set_per_process_memory_fraction(0.0, i)
from checks import verify
sys.exit(verify.main(sys.argv[1:]))
"""


@pytest.mark.gpu
def test_a_cuda_gpu_that_cannot_allocate_is_skipped_and_verify_runs_on_the_cpu(tmp_path, root):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", NO_MEMORY, "--framework", "torch", "--json", str(out),
         "--no-distributed", "--no-extra"],
        cwd=root, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["chosen"]["kind"] == "cpu"
    errors = report["accelerators"]["probe"]
    assert set(errors) == {f"cuda:{i}" for i in range(torch.cuda.device_count())}
    assert all(e and "OutOfMemoryError" in e for e in errors.values()), errors
    assert "cuda:0 reports available but cannot run a tiny op" in " ".join(report["notes"])


@pytest.mark.gpu
def test_every_visible_cuda_gpu_passes_the_probe_and_is_chosen():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    fw = frameworks.load("torch")
    info = fw.accelerators()
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    assert {d: info["probe"][d] for d in gpus} == dict.fromkeys(gpus)
    assert fw.best_devices(info) == ("cuda", gpus)
