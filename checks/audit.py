"""Will this training step run on the Mac GPU? The ops it needs, judged against this torch's MPS kernels.

    python -m checks.audit --model torchvision.models:resnet50 --input 8,3,224,224
    python -m checks.audit --step myproject.train:audit_step

Runs the step once on the CPU under a recorder of every ATen op that reaches a kernel
(checks/frameworks/torch/audit.py) and judges each op from this torch release's own native_functions.yaml
(checks/core/mps_ops.py): MPS kernel, composite (decomposes into other ops) or missing (the
NotImplementedError on a Mac, or the CPU with PYTORCH_ENABLE_MPS_FALLBACK=1). Prints one line for this
torch and the line of every other environment's report of the same step in the results folder, then the
table, and writes results/audit-<tag>.json.
Exit 0 when the audit ran, whatever it found; --strict: 1 when an op is missing or a dtype is refused; 2 on
bad input (one line). docs/audit.md explains the method and its limits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from checks.core import argcheck, mps_ops
from checks.core import report as report_file

SCHEMA_VERSION = 1
# Ops that mark a region for the profiler (torch.optim's step is one), no computation: left out.
MARKERS = ("profiler::",)


def _macos(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a macOS version such as 12.3 or 14.0, got {text!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m checks.audit", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--step", metavar="MODULE:FUNCTION", help="a zero-argument function running one step on the CPU"
    )
    what.add_argument("--model", metavar="MODULE:FACTORY", help="a function returning a torch.nn.Module")
    parser.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE]",
                        help="the model's input (repeatable), e.g. 8,3,224,224 or 4,128:int64")  # fmt: skip
    parser.add_argument("--env", default="", help="the environment's name, for the report (nox passes it)")
    parser.add_argument("--macos-floor", type=_macos, default=None, metavar="X.Y",
                        help="the oldest macOS the environment serves (bfloat16 needs 14)")  # fmt: skip
    parser.add_argument("--out-dir", type=argcheck.output_dir, default=Path("results"),
                        help="for audit-<env>.json; other envs' reports are read there")  # fmt: skip
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when an op is missing or a dtype refused"
    )
    parser.add_argument("--time-plain", action="store_true",
                        help="also time the step without the recorder (the recorder's overhead)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.input and not args.model:
        parser.error("--input goes with --model (a --step builds its own inputs)")
    return args


def target_name(args: argparse.Namespace) -> str:
    return (
        f"--step {args.step}"
        if args.step
        else " ".join([f"--model {args.model}", *(f"--input {i}" for i in args.input)])
    )


def judge(recorder: Any, table: dict[str, mps_ops.OpFacts]) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per aten op, the ops of other namespaces the yaml cannot judge)."""
    # Shares of the step's op time: the profiler's record_function markers (the optimizer's step, ...) are
    # not work of their own and would dilute every share (ResNet-50's summed to 0.987 under load).
    work = [r.seconds for name, r in recorder.ops.items() if not name.startswith(MARKERS)]
    total = sum(work) or 1.0
    rows, others = [], []
    for name, record in sorted(recorder.ops.items(), key=lambda kv: -kv[1].seconds):
        facts = mps_ops.verdict(table, name) if name.startswith("aten::") else None
        if facts is None:
            if not name.startswith(MARKERS):
                others.append(name)
            continue
        rows.append({
            "op": name, "mps": facts.mps, "why": facts.why, "calls": record.calls,
            "dtypes": sorted(record.dtypes), "cpu_ms": round(record.seconds * 1e3, 3),
            "cpu_share": round(record.seconds / total, 4), "cpu_fallback": facts.cpu_fallback,
            "via": [f"aten::{op}" for op in facts.via] if facts.via else None,
            "cpu_only": facts.cpu_only,
            # the op the NotImplementedError names on a Mac (None: it never raises)
            "error_names": _error_name(name, facts, table),
        })  # fmt: skip
    return rows, sorted(others)


def _error_name(name: str, facts: mps_ops.OpFacts, table: dict[str, mps_ops.OpFacts]) -> str | None:
    """The op a Mac's NotImplementedError would name for this recorded op; None when it would not raise."""
    if facts.mps != mps_ops.MISSING or facts.cpu_fallback:
        return None
    for op in facts.via or []:  # a CPU-only choice: MPS runs (and misses) another op
        if table[op].mps == mps_ops.MISSING:
            return f"aten::{op}"
    return name


def dtype_notes(recorder: Any, floor: tuple[int, ...] | None) -> list[dict[str, Any]]:
    notes = []
    for f in sorted(recorder.dtype_findings.values(), key=lambda f: (f.dtype, f.op)):
        if f.dtype == "float64":
            refused, why = True, "MPS has no float64: the tensor must be float32 on a Mac"
        elif f.dtype == "complex128":
            refused, why = True, "MPS has no complex128 (its parts are float64)"
        elif f.dtype.startswith("complex") and (floor is None or floor < (14, 0)):
            shown = "unknown" if floor is None else ".".join(map(str, floor))
            refused = floor is not None
            why = f"complex types on MPS need macOS 14; this environment's floor is {shown}"
        elif f.dtype.startswith("complex"):
            refused, why = False, "complex64 runs on MPS from macOS 14 (not every op has it)"
        elif floor is None:
            refused, why = False, "bfloat16 on MPS needs macOS 14 (the environment's floor is unknown)"
        else:
            refused = floor < (14, 0)
            shown = ".".join(map(str, floor))
            why = (
                f"bfloat16 on MPS needs macOS 14; this environment serves macOS {shown}+"
                if refused
                else f"bfloat16 runs on MPS from macOS 14, this environment's floor is {shown}"
            )
        notes.append({"dtype": f.dtype, "op": f.op, "shape": f.shape, "refused": refused, "why": why})
    return notes


def dtype_lines(notes: list[dict[str, Any]]) -> list[str]:
    """One line per dtype: how many ops, the first few with a tensor's shape, and what MPS makes of it."""
    lines = []
    for dtype in sorted({n["dtype"] for n in notes}):
        mine = [n for n in notes if n["dtype"] == dtype]
        shown = ", ".join(f"{n['op']} {n['shape']}" for n in mine[:3]) + (", ..." if mine[3:] else "")
        verdict = "refused on MPS" if any(n["refused"] for n in mine) else "note"
        lines.append(f"dtype {dtype}: {verdict}: {mine[0]['why']}; {len(mine)} ops ({shown})")
    return lines


def summary_line(report: dict[str, Any]) -> str:
    ops, missing = report["ops"], report["missing"]
    head = f"torch {report['torch_release']}"
    if not missing:
        kernels = sum(o["mps"] == mps_ops.KERNEL for o in ops)
        return f"{head}: all {len(ops)} ops run on MPS ({kernels} kernels, the rest composite)"
    share = sum(o["cpu_share"] for o in ops if o["mps"] == mps_ops.MISSING)
    shown = ", ".join(missing[:4]) + (", ..." if missing[4:] else "")
    return (
        f"{head}: {len(missing)} of {len(ops)} ops have no MPS kernel ({shown}): they fall back to the CPU, "
        f"{share:.0%} of the step's CPU time"
    )


def _others(out_dir: Path, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Reports of the same step from other environments (e.g. the other torch release)."""
    found = []
    for path in sorted(out_dir.glob("audit-*.json")):
        try:
            other = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if other.get("target") == report["target"] and other.get("env") != report["env"]:
            found.append(other)
    return found


def table_lines(report: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    columns = [report, *others]
    heads = [f"torch {r['torch_release']}" for r in columns]
    verdicts = [{o["op"]: o["mps"] for o in r["ops"]} for r in columns]
    lines = [
        "| op | calls | dtypes | CPU share | " + " | ".join(heads) + " |",
        "|---|---|---|---|" + "---|" * len(heads),
    ]
    for o in report["ops"]:
        cells = [v.get(o["op"], "not run") for v in verdicts]
        lines.append(
            f"| {o['op']} | {o['calls']} | {','.join(o['dtypes'])} | {o['cpu_share']:.1%} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _name(report: dict[str, Any]) -> str:
    return f"{report['env'] or 'torch ' + report['torch_release']} (torch {report['torch_release']})"


def fix_line(report: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """What to do, for this environment and the others whose report of the same step is at hand."""
    if not report["missing"]:
        lacking = [o for o in others if o["missing"]]
        if lacking:
            names = ", ".join(f"{_name(o)} lacks {len(o['missing'])}" for o in lacking)
            return f"fix: run the step in {_name(report)}, which has every op on MPS ({names})"
        return "fix: none needed: every op has an MPS kernel or decomposes into ops that have one"
    clean = [o for o in others if not o["missing"]]
    if clean:
        names = ", ".join(_name(o) for o in clean)
        return (
            f"fix: {names} runs every op on MPS; or set PYTORCH_ENABLE_MPS_FALLBACK=1 before importing torch"
        )
    return (
        "fix: set PYTORCH_ENABLE_MPS_FALLBACK=1 before importing torch: the missing ops run on the CPU, "
        "each call copying its tensors there and back"
    )


def run(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    import torch

    from checks.frameworks.torch import audit as mps_audit  # imports torch: after the arguments are checked

    started = time.perf_counter()
    table, digest = mps_ops.table_for(mps_ops.installed_torchgen())
    label = args.step or f"{args.model}()'s training step"
    step = mps_audit.user_step(args.step) if args.step else mps_audit.model_step(args.model, args.input)
    plain = plain_cpu = None
    if args.time_plain:  # a first, untimed run warms the allocator and caches, as the recorded run finds them
        mps_audit.run_plain(step)
        cpu = time.process_time()
        plain = mps_audit.run_plain(step)
        plain_cpu = time.process_time() - cpu
    cpu = time.process_time()  # CPU seconds of all threads: what a loaded machine does not inflate
    recorder, seconds = mps_audit.run_recorded(step, label)
    step_cpu = time.process_time() - cpu
    rows, others = judge(recorder, table)
    notes = dtype_notes(recorder, args.macos_floor)
    missing = sorted(o["op"] for o in rows if o["mps"] == mps_ops.MISSING)
    report = {
        "schema": SCHEMA_VERSION,
        "env": args.env,
        "target": target_name(args),
        "torch": torch.__version__,
        "torch_release": torch.__version__.split("+")[0],
        "yaml_sha256": digest,
        "ops": rows,
        "missing": missing,
        "other_ops": others,
        "dtypes": notes,
        "step_s": round(seconds, 3),
        "plain_step_s": None if plain is None else round(plain, 3),
        "step_cpu_s": round(step_cpu, 3),
        "plain_step_cpu_s": None if plain_cpu is None else round(plain_cpu, 3),
        "wall_s": round(time.perf_counter() - started, 3),
        "threads": torch.get_num_threads(),
    }
    refused = any(n["refused"] for n in notes)
    return report, int(args.strict and (bool(missing) or refused))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from checks.frameworks.torch.audit import AuditError

    try:
        report, code = run(args)
    except (AuditError, mps_ops.YamlError) as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        return 2
    tag = args.env or f"torch-{report['torch_release']}"
    out = args.out_dir / f"audit-{tag}.json"
    report_file.write_json(out, report)
    others = _others(args.out_dir, report)
    ops, step = len(report["ops"]), report["step_s"]
    print(f"audit {report['target']} ({ops} aten ops, step {step:.1f} s under the recorder)")
    for r in [report, *others]:
        print(("  " if r is not report else "") + summary_line(r) + (f" [{r['env']}]" if r["env"] else ""))
    for line in table_lines(report, others):
        print(line)
    for line in dtype_lines(report["dtypes"]):
        print(line)
    cpu_only = [o["op"] for o in report["ops"] if o.get("cpu_only")]
    if cpu_only:
        print(
            f"note: {', '.join(cpu_only)} have a CPU kernel and no CUDA one: if one is the CPU backend's "
            "own choice, MPS may run another op in its place (docs/audit.md, limits)"
        )
    if report["other_ops"]:
        print(f"not judged (not in native_functions.yaml): {', '.join(report['other_ops'])}")
    print(fix_line(report, others))
    print(f"report: {out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
