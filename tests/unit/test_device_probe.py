"""The probe's verdicts and doctor's `<framework>-device-probe` rules, on the error GitHub's hosted macOS
runners really give (the frameworks themselves: tests/env/test_probe.py, CUDA included where there is one)."""

from __future__ import annotations

import pytest

from checks.core import probe
from checks.doctor import rules
from checks.doctor.rules import mlx, torch
from checks.doctor.rules import tensorflow as tf
from checks.doctor.rules.probe import device_probe

# actions/runner-images#9918 (2024-05-23, the macOS 13 and 14 arm64 images): MPS available, then this.
HOSTED_MPS = (
    "RuntimeError: MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, max "
    "allowed: 7.93 GB). Tried to allocate 256 bytes on private pool. Use "
    "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause system "
    "failure)."
)


def _raise(exc: BaseException):
    def op() -> float:
        raise exc

    return op


def test_attempt_passes_the_expected_value_and_names_anything_else():
    assert probe.attempt(lambda: probe.EXPECTED) is None
    assert probe.attempt(lambda: 15.0) == "a tiny op returned 15.0, expected 16.0"
    message = HOSTED_MPS.removeprefix("RuntimeError: ")
    assert probe.attempt(_raise(RuntimeError(message + "\n  a second line"))) == HOSTED_MPS  # one line
    assert probe.attempt(_raise(ValueError())) == "ValueError"


def test_failed_and_usable_read_the_probe_and_a_report_without_one():
    info = {"probe": {"mps": HOSTED_MPS, "cuda:0": None}}
    assert probe.failed(info) == {"mps": HOSTED_MPS}
    assert not probe.usable(info, "mps") and probe.usable(info, "cuda:0")
    assert probe.usable({}, "mps") and probe.failed({}) == {}  # a report from before the probe


def test_the_rule_is_listed_once_after_every_framework_rule():
    ids = [r.id for r in rules.RULES]
    assert ids.count("device-probe") == 1
    assert ids.index("device-probe") > max(ids.index(r.id) for r in (*torch.RULES, *tf.RULES, *mlx.RULES))


def test_the_hosted_mps_is_a_failing_finding_with_the_fix():
    found = device_probe({"torch": {"import_error": None, "probe": {"mps": HOSTED_MPS}}})
    assert found is not None and found.status == "fail"
    assert found.summary.startswith("torch mps reports available but cannot run a tiny op: RuntimeError: MPS")
    assert "nothing is left but the CPU" in found.meaning
    assert "--device cpu" in found.fix


def test_one_failing_gpu_of_two_is_named_and_the_other_still_used():
    probed = {"cuda:0": None, "cuda:1": "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 MiB."}
    found = device_probe({"torch": {"import_error": None, "probe": probed}})
    assert found is not None and found.status == "fail"
    assert found.summary.startswith(
        "torch cuda:1 reports available but cannot run a tiny op: OutOfMemoryError"
    )
    assert "nothing is left" not in found.meaning


@pytest.mark.parametrize(
    "facts",
    [
        {},  # doctor was not asked about a framework
        {"torch": {"import_error": "ImportError: x", "probe": {"mps": HOSTED_MPS}}},
        {"torch": {"import_error": None, "version": "2.8.0"}},  # recorded before the probe existed
        {"torch": {"import_error": None, "probe": {}}},  # no device reported available
    ],
)
def test_the_rule_does_not_apply_without_a_probed_device(facts):
    assert device_probe(facts) is None


def test_devices_that_ran_the_op_are_ok_across_frameworks():
    found = device_probe({"mlx": {"import_error": None, "probe": {"gpu": None}},
                          "tensorflow": {"import_error": None, "probe": {"/GPU:0": None}}})  # fmt: skip
    assert found is not None and found.status == "ok"
    assert "tensorflow /GPU:0, mlx gpu: a tiny op ran" in found.summary
