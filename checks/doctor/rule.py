"""What a rule is: its symptom, cause and fix as data, beside the function that finds it in a fact set.

    @rule("rosetta", symptom="...", cause="...", fix="...")
    def rosetta(f: dict) -> Finding | None: ...

The static text (what the user sees, why, what to do) is what the docs' table shows
(`python -m checks.doctor --rules-markdown`); the function computes the Finding for one fact set, with the
numbers and names that fact set holds, or None where the rule does not apply. A rule made with
`error=True` explains an error text the user gave (the `error_text` fact: `--error`, `--error-file`); when
none of those applies to a given text, rule `error-text` says so. Also here: the predicates on facts that
rules of several areas share, and the helpers that read error texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from checks import frameworks
from checks.core import platform_facts


@dataclass
class Finding:
    """One rule's verdict: `summary` says what was found, `meaning` why it matters, `fix` what to do."""

    rule: str
    status: str  # ok | warn | fail
    summary: str
    meaning: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Rule:
    """A rule: `id` as findings and the docs name it; `symptom` what the user sees (an error message where
    there is one), `cause` what is behind it, `fix` what to do; `check(facts)` the finding, or None.
    `error`: the rule explains the error text the user gave (and fires only on one)."""

    id: str
    symptom: str
    cause: str
    fix: str
    check: Callable[[dict[str, Any]], Finding | None]
    error: bool = False

    def __call__(self, facts: dict[str, Any]) -> Finding | None:
        found = self.check(facts)
        if found is not None and found.rule != self.id:
            raise ValueError(f"rule {self.id} returned a finding of rule {found.rule}")
        return found


def rule(
    id: str, *, symptom: str, cause: str, fix: str, error: bool = False
) -> Callable[[Callable[..., Any]], Rule]:
    """Register the decorated function as the check of a Rule with this static text."""

    def register(check: Callable[[dict[str, Any]], Finding | None]) -> Rule:
        return Rule(id, symptom, cause, fix, check, error)

    return register


# --- predicates on facts, shared by the areas ----------------------------------------------------------


version = frameworks.release  # '2.8.0+cu128' -> (2, 8, 0); () if none


def on_mac(f: dict[str, Any]) -> bool:
    return bool(f["platform"]["os"] == "Darwin")


def on_apple_silicon(f: dict[str, Any]) -> bool:
    return platform_facts.is_apple_silicon(f["platform"])


def under_rosetta(f: dict[str, Any]) -> bool:
    p = f["platform"]
    return on_apple_silicon(f) and (bool(p["translated"]) or p["machine"] == "x86_64")


def macos_reported(f: dict[str, Any]) -> str | None:
    """sw_vers' version where it was read (the real one), else what Python's mac_ver() said."""
    found = (f.get("macos") or {}).get("sw_vers") or f["platform"]["macos_version"]
    return str(found) if found else None


def mps_macos_floor(f: dict[str, Any]) -> str:
    """The macOS MPS needs for the torch these facts know of (its import, else its installed version), from
    the torch framework module's table; where no torch is known, the lowest floor any torch has had."""
    known = (f.get("torch") or {}).get("version") or f["distributions"].get("torch")
    return frameworks.by_release(frameworks.declared("torch")["MPS_MACOS_FLOOR"], known)


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # TF's plugin error puts the useful part ("Symbol not found: ...") on its first line.
    return lines[0] if lines else text


# --- error texts (the error_text fact) ----------------------------------------------------------------

# A size as torch's allocators print it: "129.21 MB", "9.57 GiB", "0 bytes".
SIZE = r"\d+(?:\.\d+)?\s(?:bytes|[KMGT]i?B)"
_UNITS = {"bytes": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
# A traceback's frame line and the source line Python prints under it.
FRAME = re.compile(
    r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)[ \t]*\n(?P<code>[^\n]*)', re.M
)


def error_text(f: dict[str, Any]) -> str:
    """The error text the user gave, "" where none was."""
    return f.get("error_text") or ""


def size_bytes(size: str) -> float:
    """'129.21 MB' -> bytes; torch's MPS allocator prints powers of 1024 as MB/GB, newer ones as MiB/GiB."""
    number, unit = size.split()
    return float(number) * _UNITS[unit.replace("i", "")]


def raised_at(text: str, end: int) -> str:
    """Where the traceback before position `end` says the error came from: ' (raised at file:line in
    func: `code`)', or "" where the text has no Python frame before it."""
    frames = list(FRAME.finditer(text, 0, end))
    if not frames:
        return ""
    last = frames[-1]
    code = last["code"].strip()
    shown = f": `{code}`" if code and not code.startswith(("File ", "^", "~")) else ""
    name = last["file"].replace("\\", "/").rsplit("/", 1)[-1]
    return f" (raised at {name}:{last['line']} in {last['func']}{shown})"
