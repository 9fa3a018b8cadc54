"""The Metal shader libraries in every macOS wheel of a lock, against the macOS that installs the wheel.

pip installs a macOS wheel on any macOS at or above its platform tag's (and the environment promises its
floor), so a Metal library inside it that was linked for a newer macOS reaches Macs too old for it: Metal
then refuses it at run time ("This library is using language version 4.0 which is not supported on this
OS": jjang-ai/vmlx#120), or a kernel meant for a newer OS runs on an older one (ml-explore/mlx#4525).
For every macOS wheel of each locked release (every tag: mlx-metal 0.32.4 ships macosx_14_0, 15_0 and
26_0 wheels, all hashed in the lock), this reads (checks/core/metallib.py):

- each `.metallib` member (found by its magic): the header's target OS version must be at or below the
  lowest macOS that installs the wheel, max(its tag's minimum, the environment's floor), or the wheel
  fails, unless KNOWN names that package, tag and version with its reason;
- each Metal library embedded in a Mach-O binary (torch's libtorch_cpu.dylib carries one per macOS it
  supports and loads the one the running macOS takes): the lowest of them must be at or below the lowest
  macOS that installs the wheel, or the wheel fails (on a Mac below it the binary has no Metal library to
  load: torch 2.8.0's are for 13.0 and 14.0, which is why the `torch` environment's floor is 13.0, not
  MPS's first 12.3); the newer ones are variants the binary chooses among at run time.

Facts go into each wheel's check (facts["metallibs"]); tools/mac/wheels.py calls check_lock.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename

from checks.core import metallib
from tools.envs import envspec
from tools.mac import macho, wheelcache

# A Metal library that needs a newer macOS than its wheel's tag, allowed only as named here: (package,
# the tag's macOS) -> (the newest header target allowed, why). pip's macOS tags from macOS 11 on are
# macosx_N_0 only (packaging.tags.mac_platforms((26, 1), "arm64") yields macosx_26_0 and below), so a wheel
# built for 26.2 cannot be tagged so; a newer target than the one named fails again.
KNOWN = {
    ("mlx-metal", "26.0"): (
        "26.2",
        "MLX builds its macOS 26 wheel for 26.2 (the NAX kernels need it: ml-explore/mlx#3622) and can only "
        "tag it macosx_26_0, so pip installs it on macOS 26.0 and 26.1 too (ml-explore/mlx#4525, open). "
        "Its metallib's language (MSL 4.0) and AIR (2.8) versions are macOS 26.0's, which is what Metal is "
        "seen to refuse a library by (jjang-ai/vmlx#120, ollama/ollama#16044); on an M5-class GPU, MLX "
        "selects its NAX kernels on 26.0/26.1 too (mlx#4525: unverified on such a Mac). doctor's "
        "mlx-metallib rule tells a user on macOS 26.0/26.1 to update",
    ),
}
ANALYSIS = 1  # bump when what is cached per wheel changes shape


def _cached(wheel: Path, cache: Path) -> dict[str, Any]:
    """Every Metal library in the wheel, read once per wheel (by its sha256): {"files": {member: header},
    "embedded": {member: [header, ...]}, "errors": {member: why}}."""
    path = cache / "analysis" / f"metallib-v{ANALYSIS}-{wheelcache.sha256(wheel)}.json.gz"
    if path.exists():
        found: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
        return found
    found = {"files": {}, "embedded": {}, "errors": {}}
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or info.file_size < metallib.HEADER_SIZE:
                continue
            with zf.open(info) as member:
                head = member.read(4)
            try:
                if metallib.is_metallib(head):
                    found["files"][info.filename] = asdict(metallib.read_member(zf, info.filename))
                elif macho.is_macho(head):
                    embedded = [asdict(h) for h in metallib.embedded(zf.read(info))]
                    if embedded:
                        found["embedded"][info.filename] = embedded
            except metallib.MetallibError as exc:
                found["errors"][info.filename] = str(exc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(found).encode()))
    return found


def embedded_targets(wheel: Path, member: str, cache: Path = wheelcache.CACHE) -> list[str]:
    """The macOS versions of the Metal libraries embedded in one binary of the wheel, lowest first."""
    return _targets(_cached(wheel, cache)["embedded"].get(member, []))


def _targets(headers: list[dict[str, Any]]) -> list[str]:
    return sorted(
        {t for h in headers if (t := metallib.needs(metallib.Header(**h)))}, key=metallib.version_tuple
    )


def tag_minimum(filename: str) -> str | None:
    """macosx_26_0_arm64 -> 26.0: the lowest macOS the wheel's tag admits (None: not a macOS wheel)."""
    versions = [
        f"{t.platform.split('_')[1]}.{t.platform.split('_')[2]}"
        for t in parse_wheel_filename(filename)[3]
        if t.platform.startswith("macosx_")
    ]
    return min(versions, key=metallib.version_tuple) if versions else None


def judge(name: str, wheel: str, member: str, header: dict[str, Any], floor: str) -> dict[str, Any]:
    """One Metal library file against its wheel: {"member", "tag_minimum", "lowest", "needs", "header",
    "verdict": "ok" | "known" | "fail", "why"}."""
    tag = tag_minimum(wheel)
    parsed = metallib.Header(**header)
    problem = metallib.problem(parsed, f"{member} in {wheel}", tag, floor)
    lowest = max([floor, *([tag] if tag else [])], key=metallib.version_tuple)
    needs = metallib.needs(parsed)
    row: dict[str, Any] = {"member": member, "tag_minimum": tag, "lowest": lowest, "needs": needs}
    row |= {"header": header, "verdict": "ok", "why": None}
    known = KNOWN.get((canonicalize_name(name), tag or ""))
    if problem and known and needs and metallib.version_tuple(needs) <= metallib.version_tuple(known[0]):
        row |= {"verdict": "known", "why": f"{problem}; allowed: {known[1]}"}
    elif problem:
        row |= {"verdict": "fail", "why": problem}
    return row


def judge_embedded(wheel: str, member: str, headers: list[dict[str, Any]], floor: str) -> dict[str, Any]:
    """The Metal libraries inside one binary: the lowest macOS any of them is for, against the wheel's
    (verdict "ok" or "fail")."""
    tag = tag_minimum(wheel)
    lowest = max([floor, *([tag] if tag else [])], key=metallib.version_tuple)
    targets = _targets(headers)
    row: dict[str, Any] = {"member": member, "tag_minimum": tag, "lowest": lowest, "targets": targets}
    row |= {"headers": headers, "verdict": "ok", "why": None}
    if targets and metallib.version_tuple(targets[0]) > metallib.version_tuple(lowest):
        row |= {
            "verdict": "fail",
            "why": f"{member} in {wheel} carries Metal libraries for macOS {', '.join(targets)}, none for "
            f"{lowest} (the {'floor' if lowest == floor else 'tag'} that installs the wheel): on a macOS "
            f"below {targets[0]} the package has no Metal library to load",
        }
    return row


def siblings(name: str, version: str, target: str, python: str) -> list[str]:
    """The index's other macOS wheels of name==version that this target and CPython take at their own tag's
    macOS: the wheels pip picks on newer Macs than the floor."""
    minor = wheelcache.python_minor(python)
    found = []
    for filename, _yanked in wheelcache.index_files(name):
        if not filename.endswith(".whl"):
            continue
        _name, wversion, _build, _tags = parse_wheel_filename(filename)
        tag = tag_minimum(filename)
        if str(wversion) == version and tag and wheelcache.tag_problem(filename, target, tag, minor) is None:
            found.append(filename)
    return sorted(found)


def check_lock(
    env: envspec.Environment,
    target: str,
    checks: list[Any],
    hashes: dict[str, list[str]],
    cache: Path = wheelcache.CACHE,
) -> None:
    """Every Metal library in every macOS wheel of the lock's releases on this target (`hashes`: each
    release's lock hashes), each wheel got at its own tag's macOS; a failing one is a problem of its
    release's check, a known one a warning. Needs check.file set (the
    wheel checked at the floor)."""
    floor, python = env.floor(target), env.python_full
    for check in checks:
        if not check.file or check.problems:
            continue
        names = [check.file]
        if tag_minimum(check.file):  # a macOS wheel: its release may have others, for newer Macs
            names += [n for n in siblings(check.name, check.version, target, python) if n != check.file]
        rows: list[dict[str, Any]] = []
        for filename in names:
            wheel = _download(check, filename, target, python, hashes.get(check.name, []), cache)
            if wheel is None:
                continue
            if isinstance(wheel, str):
                check.problems.append(wheel)
                continue
            found = _cached(wheel, cache)
            for member, header in sorted(found["files"].items()):
                rows.append({"wheel": wheel.name, **judge(check.name, wheel.name, member, header, floor)})
            for member, headers in sorted(found["embedded"].items()):
                rows.append({"wheel": wheel.name, **judge_embedded(wheel.name, member, headers, floor)})
            check.problems += [f"{wheel.name}: {m}: {why}" for m, why in sorted(found["errors"].items())]
        if rows:
            check.facts["metallibs"] = rows
        check.problems += [r["why"] for r in rows if r["verdict"] == "fail"]
        check.warnings += [r["why"] for r in rows if r["verdict"] == "known"]


def _download(
    check: Any, filename: str, target: str, python: str, hashes: list[str], cache: Path
) -> Path | str | None:
    """The wheel `filename` from the cache or the index, fetched at its own tag's macOS (where pip picks
    it) and checked against the lock's hashes; None where pip picks another file there (it then serves no
    Mac); or why it cannot be had."""
    folder = cache / target
    if not (folder / filename).is_file():  # fetch would reuse an older tag's wheel already cached
        folder.mkdir(parents=True, exist_ok=True)
        done = wheelcache._pip_download(
            [f"{check.name}=={check.version}"], target, tag_minimum(filename) or "", folder, python
        )
        if done.returncode:
            return f"{filename}: expected pip to download it, got: {wheelcache._pip_reason(done)}"
    got = folder / filename
    if not got.is_file():
        return None
    if f"sha256:{wheelcache.sha256(got)}" not in hashes:
        pin = f"{check.name}=={check.version}"
        return f"{filename}: expected its sha256 among the lock's hashes for {pin}, got none"
    return got


def describe(check: dict[str, Any]) -> list[str]:
    """One line per Metal library: wheel, tag, target, language, verdict."""
    out = []
    for row in check["facts"].get("metallibs", []):
        if "header" in row:
            h = row["header"]
            langs = "/".join(h["language_versions"]) or "?"
            out.append(
                f"  {check['name']} {check['version']} {row['wheel']}: {row['member']} for macOS "
                f"{row['needs']} (file {h['file_version']}, MSL {langs}); installed from macOS "
                f"{row['lowest']}: {row['verdict']}"
            )
        else:
            targets = ", ".join(row["targets"])
            out.append(
                f"  {check['name']} {check['version']} {row['wheel']}: {row['member']} embeds Metal "
                f"libraries for macOS {targets}; installed from macOS {row['lowest']}: {row['verdict']}"
            )
    return out
