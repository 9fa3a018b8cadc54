"""Verify one environment: report the facts, run the sine fit on the best device(s) and on CPU, prove it.

Where the framework has a distributed smoke it then runs it (torch: checks.frameworks.torch.allreduce, NCCL
across every visible GPU, or gloo with 2 CPU processes where there is none).

    python -m checks.verify --framework torch [--json PATH] [--require-gpu | --allow-cpu] [--device cpu]

Exit status 0 when every rule holds, 1 when any fails (each failure printed as one line), 2 for bad
arguments. On an Apple Silicon Mac a GPU is expected (MPS for torch, Metal for TensorFlow) unless
--allow-cpu; elsewhere a CPU-only run passes and says "ran on CPU"; --require-gpu makes any machine strict.
Every device is probed with a real tensor before it is chosen (checks/core/probe.py); `--device cpu` runs on
the CPU whatever the machine has (hosted macOS CI, whose MPS reports available and cannot allocate).
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
import traceback
from typing import Any, Callable

from checks import frameworks
from checks.core import argcheck, numerics, platform_facts, probe, sine_fit
from checks.core import report as report_file

SCHEMA_VERSION = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.verify", description=__doc__.split("\n")[0])
    p.add_argument("--framework", required=True, choices=sorted(frameworks.NAMES))
    p.add_argument(
        "--json", type=argcheck.output_file, metavar="PATH", help="write the full report as JSON here"
    )
    strict = p.add_mutually_exclusive_group()
    strict.add_argument("--require-gpu", action="store_true", help="fail on any machine without a GPU")
    strict.add_argument(
        "--allow-cpu", action="store_true", help="pass on CPU even on Apple Silicon (e.g. hosted macOS CI)"
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu"),
        default="auto",
        help="auto: the best usable device (mps > cuda > cpu); cpu: the CPU only, e.g. on hosted macOS CI",
    )
    p.add_argument("--steps", type=argcheck.positive(int), default=sine_fit.STEPS)
    p.add_argument("--n", type=argcheck.positive(int), default=sine_fit.N_POINTS, help="number of points")
    p.add_argument(
        "--lr", type=argcheck.positive(float), default=sine_fit.LEARNING_RATE, help="learning rate"
    )
    p.add_argument("--seed", type=argcheck.seed, default=0, help="seed of the standard-normal start")
    p.add_argument("--trace", action="store_true", help="print the loss every 100th step, as the original")
    p.add_argument("--no-cpu-baseline", action="store_true", help="skip the CPU run beside the GPU run")
    p.add_argument(
        "--no-extra",
        action="store_true",
        help="skip the framework's extra checks (tensorflow: the Keras model.fit on the chosen device)",
    )
    p.add_argument(
        "--numerics",
        choices=("quick", "full", "off"),
        default="quick",
        help="the op-level numerics suite on every chosen device against float64 on the CPU: quick (the "
        "default, small shapes), full (larger shapes), off",
    )
    p.add_argument(
        "--no-distributed",
        action="store_true",
        help="skip the framework's distributed smoke (torch: the all-reduce, NCCL over every GPU, else "
        "gloo x2 on CPU)",
    )
    p.add_argument(
        "--locks-sha256", metavar="HEX", help="(nox) the digest of the locks this run was built from"
    )
    p.add_argument(
        "--locked",
        type=distribution_names,
        metavar="NAMES",
        help="(nox) comma-separated distributions the environment's lock installs on this machine: an extra "
        "check's package named here must import; without it a package that is not installed is reported "
        "absent",
    )
    args = p.parse_args(argv)
    if args.device == "cpu" and args.require_gpu:
        p.error("expected --device cpu or --require-gpu, got both: a CPU-only run cannot use a GPU")
    return args


def distribution_names(text: str) -> frozenset[str]:
    """argparse type: 'torch,torchvision' -> their normalised names (PEP 503), one-line error if empty."""
    names = frozenset(re.sub(r"[-_.]+", "-", n.strip()).lower() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated distribution names, got {text!r}")
    return names


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the whole report; `report["passed"]` says whether verify succeeds."""
    facts = platform_facts.gather()
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "framework": args.framework,
        "platform": facts,
        "settings": {"n": args.n, "steps": args.steps, "lr": args.lr, "seed": args.seed},
        **report_file.stamp(),
        "locks": {"sha256": args.locks_sha256, "locked_here": sorted(args.locked) if args.locked else None},
        "failures": [],
        "notes": [],
    }
    try:
        fw = frameworks.load(args.framework)
    except Exception as exc:  # an import failure is the finding: show TF's own words (NumPy 2, a plugin)
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        report.update(framework_version=None, accelerators=None, chosen=None, runs=[], passed=False)
        report["status"] = "failed"
        report["failures"].append(f"`import {args.framework}` failed: {last} (run `nox -s doctor`)")
        return report

    info = fw.accelerators()
    kind, devices = fw.best_devices(info) if args.device == "auto" else ("cpu", [fw.CPU_DEVICE])
    report["framework_version"] = fw.version()
    report["accelerators"] = info
    report["chosen"] = {"kind": kind, "devices": devices}

    gpu_expected = args.require_gpu or (
        platform_facts.is_apple_silicon(facts) and not args.allow_cpu and args.device == "auto"
    )
    if kind != "cpu" or args.device == "cpu":  # an automatic CPU run says why below (why_not has it)
        report["notes"] += [f"{d} not used: {why}" for d, why in probe.failed(info).items()]
    if kind == "cpu":
        why = "; ".join(f"{k}: {v}" for k, v in info["why_not"].items()) or "no accelerator found"
        if args.device == "cpu":
            why = "--device cpu was given"
        if gpu_expected:
            reason = "--require-gpu was given" if args.require_gpu else "this is an Apple Silicon Mac"
            report["failures"].append(f"no GPU used although {reason}: {why} (run `nox -s doctor`)")
        else:
            report["notes"].append(f"ran on CPU: {why}. `nox -s doctor` explains what to do.")

    init = sine_fit.initial_parameters(args.seed)
    reference = sine_fit.reference_fit(init, n=args.n, steps=args.steps, lr=args.lr)
    report["initial_parameters"] = init

    targets = list(devices)
    cpu_name = fw.CPU_DEVICE
    if kind != "cpu" and not args.no_cpu_baseline:
        targets.append(cpu_name)  # the CPU beside the GPU: at N=2000 the CPU often wins (see bench)
    report["runs"] = []
    for device in targets:
        trace = _tracer(device) if args.trace else None
        fit = fw.sine_fit(device, init, n=args.n, steps=args.steps, lr=args.lr, on_step=trace)
        verdict = sine_fit.judge(fit, reference, steps=args.steps, lr=args.lr)
        report["runs"].append(verdict.to_json())
        report["failures"].extend(f"{device}: {f}" for f in verdict.failures)

    gpu_runs = [r for r in report["runs"] if r["device"] != cpu_name]
    cpu_runs = [r for r in report["runs"] if r["device"] == cpu_name]
    if gpu_runs and cpu_runs and _num(cpu_runs[0]["us_per_step"]) < _num(gpu_runs[0]["us_per_step"]):
        report["notes"].append(
            f"the CPU beat the GPU at N={args.n} ({_num(cpu_runs[0]['us_per_step']):.0f} vs "
            f"{_num(gpu_runs[0]['us_per_step']):.0f} us/step): expected for a model this small, where each "
            "step is a few tiny kernels and a host sync. `nox -s bench` shows from which N the GPU wins."
        )
    report["extra"] = {}
    for name in [] if args.no_extra else frameworks.extra_checks(fw):
        short = frameworks.check_name(name)  # its failures read "keras_fit: ..."
        try:
            report["extra"][short] = importlib.import_module(name).run(devices[0], locked=args.locked)
        except Exception as exc:  # a crash is this check's failure, not verify's
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            report["extra"][short] = {"passed": False, "failures": [f"raised {last}"], "crashed": True}
        report["failures"].extend(f"{short}: {f}" for f in report["extra"][short]["failures"])
    suite = frameworks.numerics(fw)
    if suite and args.numerics != "off":
        try:
            ops = importlib.import_module(suite)
            report["numerics"] = [numerics.run(ops, d, full=args.numerics == "full") for d in devices]
        except Exception as exc:  # a crash of the suite is its failure, not verify's (each case has its own)
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            report["numerics"] = []
            report["failures"].append(f"numerics: the suite raised {last}")
        report["failures"].extend(f"numerics: {f}" for r in report["numerics"] for f in r["failures"])
    if fw.DISTRIBUTED_SMOKE and not args.no_distributed:
        report["distributed"] = importlib.import_module(fw.DISTRIBUTED_SMOKE).launch()
        smoke = frameworks.check_name(fw.DISTRIBUTED_SMOKE)  # its failures read "allreduce: ..."
        report["failures"].extend(f"{smoke}: {f}" for f in report["distributed"]["failures"])
    report["passed"] = not report["failures"]
    report["status"] = "passed" if report["passed"] else "failed"
    return report


def _num(v: Any) -> float:
    return float(v) if not isinstance(v, str) else math.nan


def _tracer(device: str) -> Callable[[int, float], None]:
    return lambda t, loss: print(f"  [{device}] step {t:4d}  loss {loss:.6g}")


def summary(report: dict[str, Any]) -> list[str]:
    """A few lines a person reads; the JSON has the rest."""
    p = report["platform"]
    lines = [
        f"verify {report['framework']} {report.get('framework_version') or '(not importable)'} | "
        f"Python {p['python']} | {p['os']} {p['machine']}"
        + (f" | macOS {p['macos_version']}" if p["macos_version"] else "")
        + (" | Rosetta (x86_64 translated)" if p["translated"] else "")
    ]
    if report.get("chosen"):
        chosen = report["chosen"]
        lines.append(f"device: {chosen['kind']} ({', '.join(chosen['devices'])})")
    for r in report.get("runs", []):
        lines.append(
            f"  {r['device']:>8}: loss {_num(r['initial_loss']):.4g} -> {_num(r['final_loss']):.4g}, "
            f"max |coef - float64 ref| {_num(r['max_coefficient_error']):.2g}, "
            f"{_num(r['us_per_step']):.0f} us/step  {'ok' if r['passed'] else 'FAILED'}"
        )
    for short, extra in report.get("extra", {}).items():
        if not extra.get("crashed"):
            module = next(m for m in frameworks.extra_checks(frameworks.load(report["framework"]))
                          if frameworks.check_name(m) == short)  # fmt: skip
            lines.append("  " + importlib.import_module(module).summary_line(extra))
    lines += ["  " + numerics.summary_line(r) for r in report.get("numerics", [])]
    if report.get("distributed"):
        smoke = importlib.import_module(frameworks.load(report["framework"]).DISTRIBUTED_SMOKE)
        lines += smoke.rank_lines(report["distributed"])
        lines.append("  " + smoke.summary_line(report["distributed"]))
    lines += [f"note: {n}" for n in report["notes"]]
    lines += [f"FAIL: {f}" for f in report["failures"]]
    lines.append("PASS" if report["passed"] else "FAILED")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print("\n".join(summary(report)))
    if args.json:
        report_file.write_json(args.json, report)  # one rename: never half a file
        print(f"report: {args.json}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
