"""checks.audit's report lines on the real reports of docs/audit/ (recorded by `nox -s audit` in both torch
environments): the summary, the fix for this environment and the other, the table's verdict columns."""

from __future__ import annotations

import json
from pathlib import Path

from checks import audit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit"


def reports(model: str) -> tuple[dict, dict]:
    return tuple(
        json.loads((DOCS / model / f"audit-{env}.json").read_text()) for env in ("torch", "torch-current")
    )


def test_the_seed_lacks_ten_ops_of_the_numerics_step_and_current_has_them():
    seed, current = reports("numerics")
    assert audit.summary_line(seed).startswith(
        "torch 2.8.0: 10 of 74 ops have no MPS kernel (aten::_linalg_eigh"
    )
    assert (
        audit.summary_line(current) == "torch 2.15.0: all 74 ops run on MPS (50 kernels, the rest composite)"
    )
    assert audit.fix_line(seed, [current]).startswith(
        "fix: torch-current (torch 2.15.0) runs every op on MPS"
    )
    assert audit.fix_line(current, [seed]) == (
        "fix: run the step in torch-current (torch 2.15.0), which has every op on MPS "
        "(torch (torch 2.8.0) lacks 10)"
    )
    assert audit.fix_line(seed, []).startswith("fix: set PYTORCH_ENABLE_MPS_FALLBACK=1")


def test_the_table_has_a_verdict_column_per_release():
    seed, current = reports("numerics")
    lines = audit.table_lines(current, [seed])
    assert lines[0] == "| op | calls | dtypes | CPU share | torch 2.15.0 | torch 2.8.0 |"
    qr = next(line for line in lines if line.startswith("| aten::linalg_qr |"))
    assert qr.endswith("| kernel | missing |")


def test_resnet50_needs_no_fix_in_either_release():
    for report in reports("resnet50-224"):
        assert report["missing"] == [] and len(report["ops"]) == 26
    seed, current = reports("resnet50-224")
    assert audit.fix_line(current, [seed]).startswith("fix: none needed")
