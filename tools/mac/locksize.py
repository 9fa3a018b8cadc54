"""The record of what `nox -s wheels` reports as each lock's disk: bytes downloaded and installed, per target.

`nox -s wheels` downloads every wheel a lock installs on every target into the shared wheel cache
(tools/mac/wheelcache.py) and prints "X GB to download, Y GB installed" per lock and target. This reads the
same selection back (tools/mac/wheels.py's `target_pins`, the best cached file for each pin), checks each
file's sha256 against the lock, and sizes it with the same function (`wheels.wheel_bytes`), so the record and
the report are one computation; it adds what the report does not print: each wheel's share, the sums over the
environments per target, and the distinct files a cold cache downloads. Nothing is downloaded: a pin missing
from the cache is an error that says to run `nox -s wheels` first. The docs quote these totals
(docs/claims.toml names the record).

    python -m tools.mac.locksize --json docs/records/lock-sizes.json   # after nox -s wheels
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from checks.core import report as report_file
from tools.envs import envspec
from tools.mac import wheelcache
from tools.mac.wheels import target_pins, wheel_bytes


def lock_size(env: envspec.Environment, target: str, cache: Path) -> dict[str, Any]:
    """Every wheel the lock installs on the target, with its bytes; WheelError for a missing or wrong one."""
    floor = env.floor(target)
    wheels = []
    for python_full, group in target_pins(env, target).items():
        for entry in group:
            path = wheelcache.cached(
                entry.name, entry.version, target, floor, wheelcache.python_minor(python_full)
            )
            if path is None:
                raise wheelcache.WheelError(
                    f"expected {entry.name}=={entry.version} for {target} in the wheel cache {cache}, "
                    "got none: "
                    f"run `nox -s wheels` first"
                )
            if f"sha256:{wheelcache.sha256(path)}" not in entry.hashes:
                raise wheelcache.WheelError(
                    f"expected {path.name} to have a sha256 in {env.lock.name}, got another"
                )
            wheels.append(
                {
                    "name": entry.name,
                    "version": entry.version,
                    "file": path.name,
                    **wheel_bytes(path),
                }
            )
    return {
        "wheels": sorted(wheels, key=lambda w: -w["download"]),
        "total_bytes": sum(w["download"] for w in wheels),  # to download
        "installed_bytes": sum(w["installed"] for w in wheels),
    }


def report(envs: dict[str, envspec.Environment], cache: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema_version": 1,
        "command": " ".join(["python -m tools.mac.locksize", *sys.argv[1:]]),
        "environments": {},
    }
    unique: dict[str, int] = {}
    summed: dict[str, dict[str, int]] = {}
    for env in envs.values():
        per_target = {}
        for target in env.targets:
            sized = lock_size(env, target, cache)
            per_target[target] = sized
            unique.update({f"{target}/{w['file']}": w["download"] for w in sized["wheels"]})
            into = summed.setdefault(target, {"total_bytes": 0, "installed_bytes": 0})
            into["total_bytes"] += sized["total_bytes"]
            into["installed_bytes"] += sized["installed_bytes"]
        out["environments"][env.name] = per_target
    # Every environment built on one machine: each venv holds its own files (uv hard-links them from its
    # cache, so the disk they take together may be less).
    out["sum_over_environments"] = summed
    # What a cold `nox -s wheels` downloads: each distinct file once, whichever environments share it.
    out["all_distinct_wheels"] = {
        "count": len(unique),
        "total_bytes": sum(unique.values()),
        "by_target": {
            t: sum(b for k, b in unique.items() if k.startswith(f"{t}/"))
            for t in sorted({k.split("/")[0] for k in unique})
        },
    }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.mac.locksize", description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="write the report here")
    p.add_argument("--env", action="append", help="only this environment (repeatable; default: every one)")
    args = p.parse_args(argv)
    envs = envspec.environments()
    unknown = sorted(set(args.env or []) - set(envs))
    if unknown:
        p.error(f"--env: expected one of {', '.join(envs)}, got {', '.join(unknown)}")
    try:
        result = report({n: e for n, e in envs.items() if not args.env or n in args.env}, wheelcache.CACHE)
    except wheelcache.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, per_target in result["environments"].items():
        for target, sized in per_target.items():
            print(
                f"{name:14s} {target:14s} {len(sized['wheels']):3d} wheels "
                f"{sized['total_bytes'] / 1e9:6.2f} GB to download, "
                f"{sized['installed_bytes'] / 1e9:6.2f} GB installed"
            )
    every = result["all_distinct_wheels"]
    print(f"all distinct wheels: {every['count']}, {every['total_bytes'] / 1e9:.2f} GB")
    if args.json:
        report_file.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
