"""A device the framework reports available that cannot run a tiny op (checks/probe.py's probe): one rule
per framework, `<framework>-device-probe`, each listed in its framework's RULES.

The facts are the framework's `doctor_facts()["probe"]`: {device: None when the op ran, else its error}.
A fact set recorded before the probe existed has none, and the rule does not apply.
"""

from __future__ import annotations

from checks.doctor.rule import Finding, Rule, first_line, rule

SYMPTOM = (
    "verify runs on the CPU although the GPU is reported available; the first tensor on it fails (hosted "
    "macOS runners: `MPS backend out of memory (MPS allocated: 0 bytes, other allocations: 0 bytes, ...)`)"
)
CAUSE = (
    "the framework reports a device it cannot allocate on: a virtualized Mac (GitHub's hosted macOS runners, "
    "actions/runner-images#9918), a GPU another process holds in exclusive mode, or one whose memory is full"
)
FIX = (
    "in CI on a hosted Mac, verify with `--device cpu`; on your own machine, free the GPU (Activity Monitor "
    "or nvidia-smi shows who holds it) and run `nox -s verify` again"
)


def device_probe(framework: str) -> Rule:
    """The rule `<framework>-device-probe`, reading f[framework]["probe"]."""
    rule_id = f"{framework}-device-probe"

    def check(f: dict) -> Finding | None:
        facts = f.get(framework) or {}
        probed = facts.get("probe")
        if facts.get("import_error") or not probed:  # not importable, recorded before the probe, no device
            return None
        failed = {device: error for device, error in probed.items() if error}
        if not failed:
            ran = ", ".join(probed)
            return Finding(rule_id, "ok", f"{framework}: {ran} ran a tiny op (allocation, kernel, read-back)")
        device, error = next(iter(failed.items()))
        others = f" (and {', '.join(list(failed)[1:])})" if len(failed) > 1 else ""
        return Finding(
            rule_id,
            "fail",
            f"{framework}: {device}{others} reports available but cannot run a tiny op: {first_line(error)}",
            "verify, best_device() and the bench do not use it"
            + ("; nothing else is left but the CPU" if len(failed) == len(probed) else ""),
            FIX,
        )

    return rule(rule_id, symptom=SYMPTOM, cause=CAUSE, fix=FIX)(check)
