"""A case of verify's numerics suite over its bound (checks/core/numerics.py), from the text the user gives:
verify's output or its results/verify-<env>.json (`--error-file`), or the FAIL line (`--error`)."""

from __future__ import annotations

import re
from typing import Any

from checks.doctor.rule import Finding, error_text, rule

# checks.core.numerics.failure_line: "<op> <dtype> <shape> on <device>: max rel error <e> over its bound <b>"
NUMERICS_FAILED = re.compile(
    r"numerics: (?P<op>[a-z_ ]+?) (?P<dtype>float32|float16|bfloat16) (?P<shape>[\dx ]+?) on "
    r"(?P<device>[\w:/]+): max rel error (?P<error>[\d.e+-]+|inf) over its bound (?P<bound>[\d.e+-]+)"
)
UPSTREAM = {
    "cpu": "the framework's issues",
    "mps": "pytorch/pytorch (label module: mps)",
    "cuda": "the framework's issues",
    "gpu": "ml-explore/mlx",
}


@rule(
    "numerics-case",
    symptom="verify: `FAIL: numerics: OP DTYPE SHAPE on DEVICE: max rel error E over its bound B`",
    cause="the device's kernel for that op computes further from float64 than correct rounding of that "
    "precision and reduction length can (checks/core/numerics.py's bound): a wrong kernel, not rounding",
    fix="the other environment's framework release; that op on the CPU; report upstream with "
    "results/verify-<env>.json attached",
    error=True,
)
def numerics_case(f: dict[str, Any]) -> Finding | None:
    found = list(NUMERICS_FAILED.finditer(error_text(f)))
    if not found:
        return None
    first = found[0]
    cases = sorted({f"{m['op']} {m['dtype']}" for m in found})
    over = float(first["error"]) / float(first["bound"])
    device = first["device"]
    summary = (
        f"numerics: {first['op']} in {first['dtype']} ({first['shape'].strip()}) on {device} is "
        + (f"{over:.0f}x" if over < float("inf") else "infinitely far over")
        + f" its error bound ({first['error']} against {first['bound']})"
        + (f"; {len(cases)} ops over theirs: {', '.join(cases)}" if len(cases) > 1 else "")
    )
    return Finding(
        "numerics-case",
        "fail",
        summary,
        "verify ran the op on the device and the same op in float64 on the CPU from the same inputs; the "
        "bound is what any correct summation order of that precision and length stays within (Higham's "
        "gamma_n, or Higham & Mary's probabilistic bound at a 1e-6 chance), so the kernel, the framework "
        "release or the OS's GPU stack computes wrong numbers (torch 2.7-2.13's allocator-dependent MPS "
        "matmul, pytorch/pytorch#193487; macOS 26 runners' MPS results, actions/runner-images#14380): a "
        "model using the op trains on them silently",
        "try the other environment's framework release (`nox -s \"verify(env='torch-current')\"` against "
        "`verify(env='torch')`, likewise tf/tf-current); until it is fixed, run that op on the CPU in your "
        "code (`.to('cpu')` for it, `tf.device('/CPU:0')`, `stream=mx.cpu`); report it upstream ("
        f"{UPSTREAM.get(device.split(':')[0].strip('/').lower(), 'the framework issues')}) with "
        "results/verify-<env>.json attached: it has the case, its shape, seed, error and bound, and "
        "`python -m checks.verify --framework NAME --numerics full` reproduces it",
    )


RULES = (numerics_case,)
