"""The sine fit on a real framework against the float64 NumPy reference, and the rules that judge it."""

from __future__ import annotations

import dataclasses
import math

import pytest

from checks import verify
from checks.core import sine_fit


@pytest.fixture(scope="module")
def start():
    init = sine_fit.initial_parameters(0)
    return init, sine_fit.reference_fit(init)


def test_judge_catches_a_wrong_coefficient(start):
    _init, reference = start
    good = sine_fit.FitRun("cpu", {"x": "cpu"}, list(reference[0]), list(reference[1]), 0.1, 2000, True)
    assert sine_fit.judge(good, reference, steps=2000, lr=1e-6).passed
    bad = dataclasses.replace(good, coefficients=[*reference[1][:3], reference[1][3] + 0.01])
    failures = sine_fit.judge(bad, reference, steps=2000, lr=1e-6).failures
    assert len(failures) == 1 and failures[0].startswith("coefficient d =")


def test_judge_catches_nan_misplacement_and_a_flat_loss(start):
    _init, reference = start
    base = sine_fit.FitRun("cuda:0", {"x": "cpu"}, list(reference[0]), list(reference[1]), 0.1, 2000, False)
    assert any(
        "not all on cuda:0" in f for f in sine_fit.judge(base, reference, steps=2000, lr=1e-6).failures
    )
    nan = dataclasses.replace(base, on_device=True, losses=[*reference[0][:5], math.nan])
    assert "diverged" in sine_fit.judge(nan, reference, steps=2000, lr=1e-6).failures[0]
    flat = dataclasses.replace(base, on_device=True, losses=[10.0] * 2000)
    assert any("fell only" in f for f in sine_fit.judge(flat, reference, steps=2000, lr=1e-6).failures)


@pytest.mark.parametrize("bad", [["--lr", "-1"], ["--steps", "0"], ["--n", "x"], ["--framework", "jax"]])
def test_bad_arguments_exit_2(bad):
    args = ["--framework", "torch", *bad] if bad[0] != "--framework" else bad
    with pytest.raises(SystemExit) as exc:
        verify.parse_args(args)
    assert exc.value.code == 2
