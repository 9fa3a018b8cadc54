"""Every rule, in the order the report shows them: the machine, then the Python, then each framework.

Areas: machine.py (the Mac, the shell's GPU switches, the NVIDIA driver), environment.py (the Pythons
that build the environments, and the build), probe.py (the device probe, over every framework) and
numerics.py (a failed case of verify's numerics suite, any framework's), both after the framework rules,
and one module per registered framework that has rules of
its own, named as the registry names it (torch.py, tensorflow.py): a framework added to the registry
brings its rules by adding checks/doctor/rules/NAME.py, with RULES in its order. Rules that explain an
error text the user gave (`error=True`, e.g. torch's MPS errors) sit among their framework's; the last
rule, `error-text`, says when none of them knows the text given.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Any

from checks import frameworks
from checks.doctor.rule import Finding, Rule, error_text, rule
from checks.doctor.rules import environment, machine, numerics, probe


def _framework_rules() -> tuple[Rule, ...]:
    found: list[Rule] = []
    for name in frameworks.NAMES:
        module = f"{__name__}.{name}"
        if importlib.util.find_spec(module) is not None:
            found += importlib.import_module(module).RULES
    return tuple(found)


# The machine's Apple checks, then the Python and the build, then NVIDIA, then each framework's, then the
# device probe over them all, then a failed case of verify's numerics suite (any framework's).
_AREAS: tuple[Rule, ...] = (
    *machine.APPLE,
    *environment.RULES,
    *machine.NVIDIA,
    *_framework_rules(),
    *probe.RULES,
    *numerics.RULES,
)
# An exception's line in a traceback or a log: "TypeError: ...", "torch.OutOfMemoryError: ...".
_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Warning)\b.*$", re.M)


def _last_error_line(text: str) -> str:
    """The last exception line of a traceback or log, else its last non-empty line (shortened)."""
    found = _EXCEPTION_LINE.findall(text)
    line = (found[-1] if found else [ln for ln in text.splitlines() if ln.strip()][-1]).strip()
    return line if len(line) <= 200 else line[:197] + "..."


@rule(
    "error-text",
    symptom="an error text given to doctor (`--error`, `--error-file`) that no rule above explains",
    cause="doctor knows the texts of the rules above; the other findings may still explain it",
    fix="search its exact line in the issues of the library that raised it",
)
def unexplained_error(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    if not text.strip() or any(r(f) is not None for r in _AREAS if r.error):
        return None
    return Finding(
        "error-text",
        "warn",
        f"no rule explains the error given: `{_last_error_line(text)}`",
        "doctor explains torch's MPS errors (a missing op, out of memory, float64), CUDA out of memory and "
        "verify's failed numerics cases from their text; for anything else only the findings about this "
        "machine above can help",
        "search that line, as printed, in the issues of the library that raised it (the last `File` line "
        "of the traceback names it)",
    )


RULES: tuple[Rule, ...] = (*_AREAS, unexplained_error)


def diagnose(facts: dict[str, Any]) -> list[Finding]:
    """Every rule that applies to these facts, in order."""
    return [found for rule in RULES if (found := rule(facts)) is not None]


def markdown_table() -> str:
    """The docs' table of the rules: what the user sees, the cause, the fix, one row per rule, in order."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| rule | symptom | cause | fix |", "|---|---|---|---|"]
    lines += [f"| `{r.id}` | {cell(r.symptom)} | {cell(r.cause)} | {cell(r.fix)} |" for r in RULES]
    return "\n".join(lines) + "\n"
