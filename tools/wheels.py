"""Prove each lock's wheels from the real files, for every target of its environment, without those machines.

For every environment lock and each of its targets, at the environment's own CPython: pip downloads the
wheel a user's pip would pick at the target's floor (a macOS or a glibc version, from the environment's row
in pyproject.toml), into a cache shared by every run (tools/wheelcache.py); then

- it is a wheel (no source build on the user's machine) and its sha256 is one of the lock's hashes;
- its platform tag fits the floor (macosx_X_Y <= the macOS floor, for the target's machine or universal2;
  manylinux glibc <= the glibc floor), and on macOS every Mach-O binary in it declares a minimum at or below
  the floor;
- torch's macOS wheel links Metal, MetalPerformanceShaders and MetalPerformanceShadersGraph (the MPS build);
- mlx-metal's wheel ships the Metal library (mlx/lib/mlx.metallib, the compiled GPU kernels) and a libmlx
  that links Metal (the Metal backend);
- a locked TensorFlow + tensorflow-metal pair links: tools/tfpair.py.

Run: `nox -s wheels` (or `python -m tools.wheels --help` in the dev layer). Exit 0 all hold, 1 any fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import parse_wheel_filename

from tools import envspec, macho, tfpair, wheelcache
from tools.wheelcache import CACHE, fetch, floor_name, python_minor, sha256, tag_problem

# The frameworks of PyTorch's MPS backend: a macOS torch wheel without them is a CPU-only build.
MPS_FRAMEWORKS = ("Metal", "MetalPerformanceShaders", "MetalPerformanceShadersGraph")


# ---- the checks --------------------------------------------------------------------------------------------


@dataclass
class WheelCheck:
    env: str
    target: str
    name: str
    version: str
    file: str | None = None
    sha256: str | None = None
    minos: str | None = None  # highest minimum macOS declared by its Mach-O binaries
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # true, reported, not failing: see check_wheel
    facts: dict[str, Any] = field(default_factory=dict)


def _pins(env: envspec.Environment, target: str) -> dict[str, list[envspec.LockedRequirement]]:
    """Every lock entry some CPython X.Y.z on this target installs, by the X.Y.z to check it at: the
    environment's late patch release where the entry applies there, else the first patch release it is for
    (uv may split a package at a patch release; pip then checks that release against the package's
    Requires-Python)."""
    default = env.python_full
    by_python: dict[str, list[envspec.LockedRequirement]] = {}
    for entry in envspec.read_lock(env.lock):
        python = next((v for v in (default, *env.patch_releases()) if entry.applies_to(env, target, v)), None)
        if python:
            by_python.setdefault(python, []).append(entry)
    return by_python


def check_wheel(
    check: WheelCheck, wheel: Path, hashes: list[str], floor: str, python: tuple[int, int], cache: Path
) -> None:
    check.file, check.sha256 = wheel.name, sha256(wheel)
    if f"sha256:{check.sha256}" not in hashes:
        wheelcache.drop(wheel)  # never analysed or reused: the next run downloads it again
        check.problems.append(
            f"{wheel.name}: sha256 {check.sha256[:16]}… is none of the lock's {len(hashes)} hashes for "
            f"{check.name}=={check.version} (deleted from the cache: run again; if it recurs, run "
            "`nox -s lock`, or the index serves a different file)"
        )
        return
    problem = tag_problem(wheel.name, check.target, floor, python)
    if problem:
        check.problems.append(problem)
    if wheelcache.target(check.target).floor != "macos":
        return
    found = wheelcache.binaries(wheel, cache)
    declared = [b.minos for b in found if b.minos]
    if declared:
        check.minos = max(declared, key=macho.version_tuple)
        # A binary declaring a newer macOS than the floor is reported, not failed: the wheel's tag (what
        # pip installs by) is checked above, PyTorch's own macOS wheels carry such a libomp.dylib (built
        # for 14.0 in a wheel renamed to macosx_11_0: pytorch/pytorch#173666), and whether it runs below
        # its declared minimum only a Mac of that version can show. The warning names the file.
        for binary in found:
            if binary.minos and macho.version_tuple(binary.minos) > macho.version_tuple(floor):
                check.warnings.append(
                    f"{binary.path} in {wheel.name} declares minimum macOS {binary.minos}, above the floor "
                    f"{floor} and the wheel tag's {platform_minimum(wheel.name)}"
                )
    machine = wheelcache.target(check.target).machine
    arch = {"arm64": "ARM64", "x86_64": "x86_64"}[machine]  # macholib's CPU type names
    for path in sorted({b.path for b in found} - {b.path for b in found if b.arch == arch}):
        check.problems.append(f"{path} in {wheel.name}: expected an {machine} slice, got none")
    if check.name == "torch":
        check_mps(check, found, floor)
    if check.name == "mlx-metal":
        check_mlx_metal(check, wheel, found)


def check_mps(check: WheelCheck, found: list[macho.Binary], floor: str) -> None:
    """torch's macOS wheel is the MPS build: some binary links all three MPS frameworks."""
    linking = {b.path: b.frameworks() for b in found if set(MPS_FRAMEWORKS) <= set(b.frameworks())}
    check.facts["mps"] = {
        "binaries": {path: {f: fw[f] for f in MPS_FRAMEWORKS} for path, fw in linking.items()},
        "wheel_tag_minimum": platform_minimum(check.file or ""),
        "binaries_minimum": check.minos,
        "mps_floor": floor,
    }
    if not linking:
        check.problems.append(
            f"{check.file}: expected a binary linking {', '.join(MPS_FRAMEWORKS)} (the MPS build), got none: "
            "this torch wheel would run on the CPU only"
        )


def check_mlx_metal(check: WheelCheck, wheel: Path, found: list[macho.Binary]) -> None:
    """mlx-metal's macOS wheel is MLX's Metal backend: the kernels' library ships, and libmlx links Metal."""
    with zipfile.ZipFile(wheel) as zf:
        metallibs = {i.filename: i.file_size for i in zf.infolist() if i.filename.endswith(".metallib")}
    linking = sorted(b.path for b in found if "Metal" in b.frameworks())
    check.facts["mlx_metal"] = {"metallibs": metallibs, "binaries_linking_metal": linking}
    if not metallibs:
        check.problems.append(f"{check.file}: expected the Metal library (mlx.metallib), got none")
    if not linking:
        check.problems.append(f"{check.file}: expected a binary linking Metal (libmlx.dylib), got none")


def platform_minimum(filename: str) -> str | None:
    """macosx_11_0_arm64 -> 11.0: the lowest macOS the wheel's tag admits."""
    versions = []
    for tag in parse_wheel_filename(filename)[3] if filename.endswith(".whl") else []:
        if tag.platform.startswith("macosx_"):
            major, minor = tag.platform.split("_")[1:3]
            versions.append(f"{major}.{minor}")
    return min(versions, key=macho.version_tuple) if versions else None


def check_lock(env: envspec.Environment, target: str, cache: Path = CACHE) -> list[WheelCheck]:
    """Download (or reuse) every wheel the lock installs on the target and check each."""
    floor, python = env.floor(target), python_minor(env.python)
    entries, wheels = [], {}
    for python_full, group in _pins(env, target).items():
        entries += group
        wheels.update(fetch([(e.name, e.version) for e in group], target, floor, python_full, cache))
    checks = []
    for entry in entries:
        check = WheelCheck(env.name, target, entry.name, entry.version)
        got = wheels[(entry.name, entry.version)]
        if isinstance(got, str):
            check.problems.append(got)
        else:
            check_wheel(check, got, entry.hashes, floor, python, cache)
        checks.append(check)
    return checks


def run(
    envs: dict[str, envspec.Environment], targets: list[str] | None = None, cache: Path = CACHE
) -> dict[str, Any]:
    """Every environment's wheels on each of its targets (or only `targets`), and its locked Metal pair."""
    report: dict[str, Any] = {"schema_version": 2, "environments": {}}
    for env in envs.values():
        per_env: dict[str, Any] = {"python": env.python, "floors": dict(env.floors)}
        for target in [t for t in env.targets if not targets or t in targets]:
            checks = check_lock(env, target, cache)
            per_env[target] = [asdict(c) for c in checks]
            if target == tfpair.TARGET:
                per_env["tensorflow_metal_pairs"] = [
                    asdict(p) for p in tfpair.locked_pairs(env, checks, cache)
                ]
        report["environments"][env.name] = per_env
    report["failures"] = failures(report)
    report["passed"] = not report["failures"]
    return report


def _targets(per_env: dict[str, Any]) -> list[str]:
    return list(per_env["floors"])


def failures(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            for check in per_env.get(target, []):
                lines += [f"{name} {target}: {p}" for p in check["problems"]]
        for pair in per_env.get("tensorflow_metal_pairs", []):
            lines += [f"{name} macos-arm64: {p}" for p in pair["problems"]]
    return lines


def summary(report: dict[str, Any]) -> list[str]:
    out = []
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            checks = per_env.get(target)
            if checks is None:
                continue
            floor = floor_name(target, per_env["floors"][target])
            bad = sum(bool(c["problems"]) for c in checks)
            out.append(
                f"{name} {target}: {len(checks)} wheels, {len(checks) - bad} ok "
                f"(binary, sha256 in lock, fits {floor})"
            )
            for check in checks:
                metal = check["facts"].get("mlx_metal")
                if metal:
                    libs = ", ".join(f"{k} ({v / 2**20:.0f} MiB)" for k, v in metal["metallibs"].items())
                    links = ", ".join(metal["binaries_linking_metal"]) or "none"
                    out.append(
                        f"  mlx-metal {check['version']}: ships {libs or 'no metallib'}; links Metal: {links}"
                    )
                mps = check["facts"].get("mps")
                if mps:
                    kinds = sorted({k for fw in mps["binaries"].values() for k in fw.values()})
                    how = (
                        f"{len(mps['binaries'])} binaries ({', '.join(sorted(mps['binaries']))}) link "
                        f"{', '.join(MPS_FRAMEWORKS)} ({'/'.join(kinds)})"
                        if mps["binaries"]
                        else "no binary links the MPS frameworks"
                    )
                    out.append(f"  torch {check['version']} MPS build: {how}")
                    out.append(
                        f"  torch {check['version']} minimum macOS: wheel tag {mps['wheel_tag_minimum']}, "
                        f"binaries up to {mps['binaries_minimum']}, MPS floor {mps['mps_floor']}"
                    )
        for pair in per_env.get("tensorflow_metal_pairs", []):
            out += ["  " + line for line in tfpair.describe(tfpair.PairResult(**pair))]
    for name, per_env in report["environments"].items():
        for target in _targets(per_env):
            out += [f"WARN: {name} {target}: {w}" for c in per_env.get(target, []) for w in c["warnings"]]
    out += [f"FAIL: {line}" for line in report["failures"]]
    out.append("PASS" if report["passed"] else "FAILED")
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    envs = envspec.environments()
    parser = argparse.ArgumentParser(prog="python -m tools.wheels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", action="append", choices=sorted(envs), help="only this environment (repeat)")
    parser.add_argument(
        "--target", action="append", choices=sorted(envspec.targets()), help="only this platform (repeat)"
    )
    parser.add_argument("--json", type=Path, help="write the full report here (e.g. results/wheels.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    envs = {n: e for n, e in envspec.environments().items() if not args.env or n in args.env}
    try:
        report = run(envs, args.target)
    except wheelcache.WheelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary(report)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
