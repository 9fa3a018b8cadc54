"""A device a framework reports available that cannot run a tiny op (checks/core/probe.py's probe): rule
`device-probe`, over every framework doctor was asked about.

The facts are each framework's `doctor_facts()["probe"]`: {device: None when the op ran, else its error}.
A fact set recorded before the probe existed has none, and the rule does not apply.
"""

from __future__ import annotations

from typing import Any

from checks import frameworks
from checks.doctor.rule import Finding, first_line, rule

FIX = (
    "in CI on a hosted Mac, verify with `--device cpu`; on your own machine, free the GPU (Activity Monitor "
    "or nvidia-smi shows who holds it) and run `nox -s verify` again"
)


def _probed(f: dict[str, Any]) -> dict[str, str | None]:
    """{"torch mps": None | error, ...} for every framework that imported and probed a device."""
    found: dict[str, str | None] = {}
    for name in frameworks.NAMES:
        facts = f.get(name) or {}
        if not facts.get("import_error"):
            found.update({f"{name} {device}": error for device, error in (facts.get("probe") or {}).items()})
    return found


@rule(
    "device-probe",
    symptom="verify runs on the CPU although the GPU is reported available; the first tensor on it fails "
    "(hosted macOS runners: `MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, "
    "...)`)",
    cause="the framework reports a device it cannot allocate on: a virtualized Mac (GitHub's hosted "
    "macOS runners, actions/runner-images#9918), a GPU another process holds in exclusive mode, or one whose "
    "memory is full",
    fix=FIX,
)
def device_probe(f: dict[str, Any]) -> Finding | None:
    probed = _probed(f)
    if not probed:  # no framework asked, none imported, none reported a device, or recorded before the probe
        return None
    failed = {device: error for device, error in probed.items() if error}
    if not failed:
        return Finding(
            "device-probe", "ok", f"{', '.join(probed)}: a tiny op ran (allocation, kernel, read-back)"
        )
    device, error = next(iter(failed.items()))
    others = f" (and {', '.join(list(failed)[1:])})" if len(failed) > 1 else ""
    return Finding(
        "device-probe",
        "fail",
        f"{device}{others} reports available but cannot run a tiny op: {first_line(error or '')}",
        "verify, best_device() and the bench do not use it"
        + ("; nothing is left but the CPU" if len(failed) == len(probed) else ""),
        FIX,
    )


RULES = (device_probe,)
