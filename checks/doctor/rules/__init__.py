"""Every rule, in the order the report shows them: the machine, then the Python, then each framework.

Areas: machine.py (the Mac, the shell's GPU switches, the NVIDIA driver), environment.py (the Pythons
that build the environments, and the build), and one module per registered framework that has rules of
its own, named as the registry names it (torch.py, tensorflow.py): a framework added to the registry
brings its rules by adding checks/doctor/rules/NAME.py, with RULES in its order.
"""

from __future__ import annotations

import importlib
import importlib.util

from checks import frameworks
from checks.doctor.rule import Finding, Rule
from checks.doctor.rules import environment, machine


def _framework_rules() -> tuple[Rule, ...]:
    found: list[Rule] = []
    for name in frameworks.NAMES:
        module = f"{__name__}.{name}"
        if importlib.util.find_spec(module) is not None:
            found += importlib.import_module(module).RULES
    return tuple(found)


# The machine's Apple checks, then the Python and the build, then NVIDIA, then each framework's.
RULES: tuple[Rule, ...] = (*machine.APPLE, *environment.RULES, *machine.NVIDIA, *_framework_rules())


def diagnose(facts: dict) -> list[Finding]:
    """Every rule that applies to these facts, in order."""
    return [found for rule in RULES if (found := rule(facts)) is not None]


def markdown_table() -> str:
    """The docs' table of the rules: what the user sees, the cause, the fix, one row per rule, in order."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| rule | symptom | cause | fix |", "|---|---|---|---|"]
    lines += [f"| `{r.id}` | {cell(r.symptom)} | {cell(r.cause)} | {cell(r.fix)} |" for r in RULES]
    return "\n".join(lines) + "\n"
