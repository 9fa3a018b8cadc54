"""Why is the GPU not used? Gather facts, then apply rules that each say ok / warn / fail, why, and the fix.

    python -m checks.doctor                       # the machine: OS, CPU, Rosetta, macOS, NVIDIA driver
    python -m checks.doctor --framework torch     # ... plus what torch inside this environment sees
    python -m checks.doctor --save-facts f.json   # record the facts (tests replay recorded machines)
    python -m checks.doctor --facts f.json        # replay recorded facts through the rules, no gathering
    python -m checks.doctor --error-file LOG      # ... plus an error your program printed (- : stdin)
    python -m checks.doctor --rules-markdown      # the rules' table for docs/doctor.md

Gathering reads the machine (sysctl, sw_vers, nvidia-smi, the framework itself) and never guesses; the
rules are pure functions of the facts, so a fact set recorded on an M1 under Rosetta or an H100 box gives
the same findings anywhere. Standard library only, plus the framework when --framework asks for it.
Exit status: 0 when no finding fails, 1 when one does, 2 for bad arguments or an unreadable facts file.

The parts: facts.py gathers (and reads recorded facts back), rule.py says what a rule is (its symptom,
cause and fix as data, beside its check), rules/ holds them by area, cli.py is the command.
"""

from __future__ import annotations

from checks.doctor.cli import load_facts, main, report_lines
from checks.doctor.facts import SCHEMA_VERSION, gather
from checks.doctor.rule import Finding, Rule
from checks.doctor.rules import RULES, diagnose, markdown_table

__all__ = [
    "RULES",
    "SCHEMA_VERSION",
    "Finding",
    "Rule",
    "diagnose",
    "gather",
    "load_facts",
    "main",
    "markdown_table",
    "report_lines",
]
