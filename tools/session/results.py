"""results/verify-<env>.json tells the truth about the last run, whatever became of it.

`nox -s verify` writes a "running" record before it builds anything, a "failed" one when the build (or the
check itself) fails before checks.verify could write its report, and checks.verify rewrites it at the end.
Every record names when it was written, on which machine (checks.core.report's stamp, as verify's own), and
the sha256 of the locks the run used, so an old `"passed": true` can never be mistaken for this run's result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checks.core import report

RUNNING, FAILED = "running", "failed"


def record(
    env: str, locks: list[str], digest: str, status: str, failure: str | None = None
) -> dict[str, Any]:
    """What a run that has not (yet) produced checks.verify's report says about itself."""
    return {
        "environment": env,
        "status": status,
        "passed": False,
        **report.stamp(),
        "locks": {"files": locks, "sha256": digest},
        "failures": [failure] if failure else [],
    }


def write(path: Path, data: dict[str, Any]) -> None:
    """Replace the file in one rename: a reader sees the old record or the new one, never half."""
    report.write_json(path, data)


def still_running(path: Path) -> bool:
    """True when the run ended without checks.verify rewriting the record (a crash, bad arguments)."""
    try:
        return bool(json.loads(path.read_text()).get("status") == RUNNING)
    except (OSError, ValueError, AttributeError):
        return True
