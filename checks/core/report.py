"""One writer for every JSON report checks/ and tools/ leave behind, and the stamp a run record carries.

verify's report, the bench and model bench results, doctor's facts and nox's verify record
(tools/session/results.py) are all written by `write_json`: one rename, so a reader sees the old file or
the new one, never half of one. `stamp()` is when and where: a record without it could be mistaken for
this run's. Standard library only: it runs inside every environment and on the host.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any


def now() -> str:
    """The time in UTC to the second, ISO 8601."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def machine() -> str:
    """The machine in a few words: host name, OS and architecture."""
    return f"{platform.node() or 'unknown host'} ({platform.system()} {platform.machine()})"


def stamp() -> dict[str, str]:
    """When and where a record was made: {"time", "machine"}."""
    return {"time": now(), "machine": machine()}


def write_json(path: Path, data: Any) -> None:
    """Replace the file in one rename (its folder made if missing): sorted keys, two-space indent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
