"""The op-level numerics suite (checks/core/numerics.py) on each real framework: it passes on the CPU, it
fails naming the op when a kernel is wrong by a small relative amount, and a correct kernel that sums in
another order stays inside its bound."""

from __future__ import annotations

import importlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from checks import frameworks
from checks.core import numerics, platform_facts

ROOT = Path(__file__).resolve().parents[2]


def _suite(framework: str):
    pytest.importorskip(framework if framework != "mlx" else "mlx.core", reason=f"{framework} is absent")
    return importlib.import_module(frameworks.declared(framework)["NUMERICS"])


@pytest.mark.parametrize("framework", list(frameworks.NAMES))
def test_suite_passes_on_the_cpu_with_every_case_judged(framework):
    ops = _suite(framework)
    report = numerics.run(ops, ops.CPU)
    assert report["passed"], report["failures"]
    statuses = {c["status"] for c in report["cases"]}
    assert statuses <= {"ok", "unsupported", "known", "unbounded"}
    # every float32 case is judged against a bound (none skipped, none known or unbounded)
    fp32 = [c for c in report["cases"] if c["dtype"] == "float32"]
    assert len(fp32) == len(ops.OPS) and all(c["status"] == "ok" for c in fp32)
    # a known case is one the framework module names, with its report
    for c in report["cases"]:
        if c["status"] == "known":
            assert c["why"] == ops.known(c["op"], c["dtype"], ops.CPU)
    line = numerics.summary_line(report)
    assert line.startswith(f"numerics on {ops.CPU} (quick): ") and line.endswith("  ok")


def test_tensorflows_bfloat16_declarations_follow_this_cpu(monkeypatch):
    """Where oneDNN does not run TF's bfloat16 kernels (no AVX-512, or oneDNN off), the Eigen declarations
    apply, and each is needed: judged at the float32-accumulation bound instead, exactly the declared cases
    this release runs and declares nowhere else fail (measured on an AVX2-only EPYC: bmm in TF 2.9; bmm,
    both convolution gradients and softmax in 2.19)."""
    ops = _suite("tensorflow")
    if "avx512f" not in platform_facts.cpu_flags():
        assert not ops.onednn_runs_bfloat16()
    if ops.onednn_runs_bfloat16():
        pytest.skip("oneDNN runs bfloat16 on this CPU: the Eigen declarations do not apply here")
    declared = ops.SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16
    with_them = {(c["op"], c["dtype"]): c for c in numerics.run(ops, ops.CPU)["cases"]}
    monkeypatch.setattr(ops, "SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16", {})
    without = numerics.run(ops, ops.CPU)
    failed = {(c["op"], c["dtype"]) for c in without["cases"] if c["status"] == "FAILED"}
    needed = {  # the case names its sums_in as "dtype: evidence"
        k
        for k in declared
        if with_them[k]["status"] != "unsupported" and with_them[k].get("sums_in") == f"{k[1]}: {declared[k]}"
    }
    assert needed and failed == needed


def test_tensorflows_empty_bfloat16_conv_is_declared_exactly_where_it_happens():
    """tensorflow/tensorflow#56680: TF's CPU Conv2D returns an empty float32 tensor for bfloat16 input where
    oneDNN does not run bfloat16 (TF 2.9.3 on our AVX2-only CPU; 2.19.1 computes it there). The suite
    reports the three conv cases as that known bug exactly where a plain tf.nn.conv2d shows it."""
    ops = _suite("tensorflow")
    import tensorflow as tf

    with tf.device(ops.CPU):
        y = tf.nn.conv2d(tf.ones([1, 8, 8, 2], tf.bfloat16), tf.ones([3, 3, 2, 4], tf.bfloat16), 1, "SAME")
    empty = y.shape.num_elements() == 0
    assert empty == (y.dtype == tf.float32)  # the bug's two signs come together
    for op in ("conv2d", "conv2d grad input", "conv2d grad weight"):
        assert (ops.known(op, "bfloat16", ops.CPU) is not None) == empty, op


# --- fault injection: torch.library swaps one CPU kernel ---------------------------------------------------


@pytest.fixture
def aten_cpu():
    """override(op, kernel): the test's aten CPU kernel in place of torch's, removed after the test (the
    original kernel returns). torch warns that a kernel is overridden: here that is the point."""
    torch = pytest.importorskip("torch")
    lib = torch.library.Library("aten", "IMPL")

    def override(op, kernel):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Warning only once for all operators", UserWarning)
            lib.impl(op, kernel, "CPU")

    yield override
    lib._destroy()


OFF_BY = 1e-4  # a relative error allclose(rtol=1e-3) does not see; 1700 float32 ulps


def test_wrong_matmul_fails_the_suite_naming_the_op(aten_cpu):
    torch = pytest.importorskip("torch")
    ops = _suite("torch")

    def wrong_mm(a, b):
        # the product through mul and sum (not mm: that is this kernel), float32 off by OFF_BY
        exact = (a.unsqueeze(-1).double() * b.unsqueeze(0).double()).sum(1)
        return (exact * (1 + OFF_BY) if a.dtype == torch.float32 else exact).to(a.dtype)

    aten_cpu("mm", wrong_mm)
    report = numerics.run(ops, "cpu", only=("matmul square", "matmul tall", "bmm", "sum"))
    failed = {(c["op"], c["dtype"]) for c in report["cases"] if c["status"] == "FAILED"}
    assert failed == {("matmul square", "float32"), ("matmul tall", "float32")}
    line = next(f for f in report["failures"] if f.startswith("matmul square float32"))
    assert line.startswith("matmul square float32 128x128 128x128 on cpu: max rel error ")
    case = next(c for c in report["cases"] if (c["op"], c["dtype"]) == ("matmul square", "float32"))
    assert case["error"] > 5 * case["bound"]  # against |A||B|: the wrong 1e-4 of C is 5e-5 of it
    # bmm is another kernel, and the half types' products were right: they pass
    assert all(c["status"] == "ok" for c in report["cases"] if c["op"] in ("bmm", "sum"))


def test_a_correct_reduction_in_another_order_stays_inside_its_bound(aten_cpu):
    torch = pytest.importorskip("torch")
    ops = _suite("torch")
    before = {c["dtype"]: c for c in numerics.run(ops, "cpu", only=("sum",))["cases"]}

    def reversed_sequential_sum(x, dim, keepdim=False, dtype=None):
        # one running sum from the last element to the first, in float32 for float32 (NumPy's
        # add.accumulate is sequential in the array's type; torch's own CPU cumsum would sum in double):
        # a correct sum in the order worst for rounding, where torch's own is vectorised and blocked
        (d,) = dim
        acc_type = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        values = np.flip(x.to(acc_type).numpy(), d)
        total = torch.from_numpy(np.ascontiguousarray(np.take(np.add.accumulate(values, d), -1, d)))
        out = total.to(dtype or x.dtype)
        return out.unsqueeze(d) if keepdim else out

    aten_cpu("sum.dim_IntList", reversed_sequential_sum)
    after = {c["dtype"]: c for c in numerics.run(ops, "cpu", only=("sum",))["cases"]}
    assert after["float32"]["status"] == "ok", after["float32"]
    # the override ran: sequential float32 summation strays far more than torch's own (vectorised) sum
    assert after["float32"]["error"] > 10 * before["float32"]["error"]
    assert after["float32"]["error"] <= after["float32"]["bound"]
    assert all(c["status"] == "ok" for c in after.values())


def test_a_wrong_sum_fails_where_a_reordered_one_passes(aten_cpu):
    torch = pytest.importorskip("torch")
    ops = _suite("torch")

    def wrong_sum(x, dim, keepdim=False, dtype=None):
        # float32 forgets the row's last 1024 elements (a vectorised loop's tail dropped): 1.6% of its length
        (d,) = dim
        kept = x.narrow(d, 0, x.shape[d] - 1024) if x.dtype == torch.float32 else x
        total = torch.cumsum(kept.double(), d).select(d, -1)
        out = total.to(dtype or x.dtype)
        return out.unsqueeze(d) if keepdim else out

    aten_cpu("sum.dim_IntList", wrong_sum)
    report = numerics.run(ops, "cpu", only=("sum",))
    assert [f.split(" on ")[0] for f in report["failures"]] == ["sum float32 2x65536"]


# --- the bounds ------------------------------------------------------------------------------------------


def test_the_bounds_are_the_references_formulas():
    u = numerics.U["float32"]
    assert numerics.gamma(128, u) == pytest.approx(128 * u / (1 - 128 * u))
    assert numerics.gamma(1 << 24, u) == math.inf  # n u >= 1: no deterministic bound
    # Higham & Mary's lambda for 1 output of n products at 1e-6: 2 n exp(-lambda^2 (1-u)^2 / 2) = 1e-6
    n = 4096
    lam = math.sqrt(2 * math.log(2 * n / numerics.FAILURE_PROBABILITY)) / (1 - u)
    assert numerics.gamma_tilde(n, u, 1) == pytest.approx(
        math.expm1(lam * math.sqrt(n) * u + n * u * u / (1 - u))
    )
    # short sums: the deterministic bound is the smaller; long ones: the probabilistic
    assert numerics.acc(8, u, 1) == numerics.gamma(8, u)
    assert numerics.acc(1 << 16, u, 1) == numerics.gamma_tilde(1 << 16, u, 1) < numerics.gamma(1 << 16, u)


def test_recorded_gpu_reports_hold_their_bounds():
    """The H100 runs in docs/gpu-runs: every case the report calls ok is within its bound, and the summary
    line the docs quote comes from the report."""
    lines = {
        "quick": "81 cases, worst bf16 bmm 2.5e-03 of bound 3.9e-03, 1.7 s  ok",
        "full": "81 cases, worst fp16 matmul tall 3.5e-04 of bound 4.9e-04, 26.8 s  ok",
    }
    for size, line in lines.items():
        report = json.loads((ROOT / f"docs/gpu-runs/verify-torch-numerics-h100-{size}.json").read_text())
        (suite,) = report["numerics"]
        assert all(c["error"] <= c["bound"] for c in suite["cases"] if c["status"] == "ok")
        assert numerics.summary_line(suite) == f"numerics on cuda:0 ({size}): {line}"
