"""How much faster is the GPU, from what size on, and how close to its peak: `nox -s bench` runs this.

    python -m checks.bench --framework torch [--quick] [--json PATH] [--sizes 2000,20000,...]

Inside one environment, on the accelerator (if any) and on the CPU:

1. the sine-fit step swept over N in three forms: `faithful` (the loss read back every step, as the
   original), `no_sync` (the same ops, no per-step host read) and `fused` (one compiled/captured step:
   torch.compile + CUDA graph on CUDA, torch.compile on CPU/MPS where it works, XLA for TensorFlow where it
   works; each result says what it really used). Reported: us/step, the N from which the GPU wins, and the
   achieved bandwidth against the memory roofline: a step must at least read x and y once, 2*4*N bytes;
2. dense matmul throughput (float32, float16, bfloat16 where the device has them) against the peak;
3. device-to-device copy bandwidth against the peak, counting bytes read + bytes written.

The learning rate is scaled as 1e-6 * 2000/N so every N runs the same stable fit (the loss is a sum over
N points, so a fixed rate diverges for large N, and inf/NaN arithmetic would time something else).
Methodology: warm-up calls, a device synchronisation before starting and before stopping every clock,
and the median over repeats; each form is first checked against the float64 reference at N=2000.
Standard library + NumPy + the framework only; plotting is tools/plots/benchplot.py's job.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from checks import frameworks
from checks.core import argcheck, peaks, platform_facts, sine_fit
from checks.core.argcheck import positive
from checks.core.harness import (
    Progress,
    add_output_args,
    load_average,
    measure,
    write_report,
)

SCHEMA_VERSION = 1
FORMS = ("faithful", "no_sync", "fused")
FLOAT32_BYTES = 4

FULL = {
    "sizes": [2000, 6000, 20000, 60000, 200000, 600000, 2000000, 6000000, 20000000],
    "matmul_sizes": [256, 512, 1024, 2048, 4096, 8192],
    "cpu_matmul_max": 2048,  # 8192^3 on a laptop CPU is minutes per dtype; --cpu-matmul-max raises it
    "copy_mib": 1024,
    "repeats": 7,
    "min_time": 0.05,
    "check_steps": 500,
}
QUICK = {
    "sizes": [2000, 20000, 200000],
    "matmul_sizes": [256, 512],
    "cpu_matmul_max": 512,
    "copy_mib": 32,
    "repeats": 3,
    "min_time": 0.005,
    "check_steps": 200,
}


# --- the arithmetic every ratio rests on --------------------------------------------------------------


def fit_min_bytes(n: int, itemsize: int = FLOAT32_BYTES) -> int:
    """The memory roofline's numerator: one step must read x and y (n values each) at least once."""
    return 2 * itemsize * n


def copy_bytes(nbytes: int) -> int:
    """A copy of nbytes moves 2*nbytes through memory: read the source, write the destination (the way
    datasheet bandwidth counts DRAM traffic)."""
    return 2 * nbytes


def matmul_flops(n: int) -> int:
    """An n x n by n x n product: n^2 outputs, each n multiply-adds = 2n^3 FLOP."""
    return 2 * n**3


def gbs(nbytes: float, seconds: float) -> float:
    return nbytes / seconds / 1e9


def tflops(flop: float, seconds: float) -> float:
    return flop / seconds / 1e12


def fraction(measured: float, peak: float | None) -> float | None:
    """measured / peak, or None where no peak is known: an unknown device gets no ratio."""
    return measured / peak if peak else None


def fit_lr(n: int) -> float:
    """The canonical 1e-6 at N=2000, scaled by 1/N so the gradient step stays the same size."""
    return sine_fit.LEARNING_RATE * sine_fit.N_POINTS / n


def crossover(cpu: dict[int, float], gpu: dict[int, float]) -> dict[str, Any]:
    """From which N the GPU wins (is faster at that N and at every larger N measured).

    `cpu` and `gpu` map N -> us/step. Returns {"gpu_wins_from": N or None, "cpu_wins_at": N or None}:
    the crossover lies between cpu_wins_at (the largest N the CPU still won) and gpu_wins_from.
    """
    sizes = sorted(set(cpu) & set(gpu))
    wins_from = None
    for n in reversed(sizes):
        if gpu[n] < cpu[n]:
            wins_from = n
        else:
            break
    lost = [n for n in sizes if gpu[n] >= cpu[n] and (wins_from is None or n < wins_from)]
    return {"gpu_wins_from": wins_from, "cpu_wins_at": max(lost) if lost else None}


# --- the run --------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        values = [int(argcheck.finite_number(v)) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated sizes like 2000,2e4, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return sorted(set(values))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.bench", description=__doc__.split("\n")[0])
    p.add_argument("--framework", required=True, choices=sorted(frameworks.NAMES))
    add_output_args(p, "bench", "cuda, mps, cpu...")
    p.add_argument("--quick", action="store_true", help="CI size: 3 sizes, small matmuls, 3 repeats")
    p.add_argument("--sizes", type=_sizes, help="sine-fit N values (default 2e3 ... 2e7, quick 2e3 ... 2e5)")
    p.add_argument("--matmul-sizes", type=_sizes, help="square matmul sizes (default 256 ... 8192)")
    p.add_argument("--cpu-matmul-max", type=positive(int), help="largest matmul on the CPU (default 2048)")
    p.add_argument("--copy-mib", type=positive(int), help="device copy size in MiB (default 1024)")
    p.add_argument("--repeats", type=positive(int), help="timed repeats per point (default 7)")
    p.add_argument("--min-time", type=positive(float), help="seconds per repeat (default 0.05)")
    p.add_argument("--cpu-only", action="store_true", help="skip the accelerator")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU (the GPU alone; no crossover)")
    p.add_argument("--gpu-cores", type=positive(int), help="Apple only: your GPU's core count (a lower bin)")
    p.add_argument("--seed", type=argcheck.seed, default=0)
    args = p.parse_args(argv)
    if args.cpu_only and args.no_cpu:
        p.error("expected at most one of --cpu-only and --no-cpu, got both (nothing would run)")
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    too_big = memory_problem(args, argcheck.free_memory_bytes())
    if too_big:
        p.error(too_big)
    return args


# A sine-fit step holds x, y and a few temporaries of N float32 each; matmul holds a, b and the product.
FIT_BYTES_PER_POINT = 16 * FLOAT32_BYTES
MATMUL_ARRAYS = 3


def memory_problem(args: argparse.Namespace, free: int | None) -> str | None:
    """Why the largest --sizes / --matmul-sizes cannot fit in the memory free now; None when they can."""
    if not free:
        return None
    largest_n = free // FIT_BYTES_PER_POINT
    if max(args.sizes) > largest_n:
        return (
            f"--sizes: expected N <= {largest_n:.2g} (the largest sine fit that fits the {free / 2**30:.1f} "
            f"GiB free now), got {max(args.sizes):.2g}"
        )
    largest_m = int((free / (MATMUL_ARRAYS * FLOAT32_BYTES)) ** 0.5)
    if max(args.matmul_sizes) > largest_m:
        return (
            f"--matmul-sizes: expected n <= {largest_m} (the largest float32 matmul that fits the "
            f"{free / 2**30:.1f} GiB free now), got {max(args.matmul_sizes)}"
        )
    return None


def bench_fit(
    backend: Any,
    device: str,
    sizes: list[int],
    args: argparse.Namespace,
    init: list[float],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Every form at every N on one device: us/step, bandwidth vs the roofline, and a correctness check."""
    out: dict[str, Any] = {"forms": {}, "check": {}}
    # Each form must first reproduce the float64 reference at N=2000: a fast wrong step proves nothing.
    reference = sine_fit.reference_fit(init, steps=args.check_steps)
    for form in FORMS:
        fit = backend.SineFit(device, sine_fit.N_POINTS, init, sine_fit.LEARNING_RATE, form)
        coef = fit.run(args.check_steps)
        errors = [abs(c - r) for c, r in zip(coef, reference[1])]
        ok = all(e <= sine_fit.COEF_ATOL + sine_fit.COEF_RTOL * abs(r) for e, r in zip(errors, reference[1]))
        out["check"][form] = {"ok": ok, "max_coefficient_error": max(errors), "how": fit.how}
        verdict = "matches" if ok else "DOES NOT MATCH"
        progress(f"{device} check {form:8s}: {verdict} the float64 reference at N=2000 ({fit.how})")
    for form in FORMS:
        rows: list[dict[str, object]] = []
        for n in sizes:
            try:
                fit = backend.SineFit(device, n, init, fit_lr(n), form)
                t = measure(
                    fit.step, sync=fit.sync, repeats=args.repeats, min_time=args.min_time, block=backend.block
                )
            except backend.OUT_OF_MEMORY as exc:
                progress(f"{device} fit {form:8s} N={n:.0e}: out of memory, larger N skipped")
                rows.append(
                    {"n": n, "us_per_step": None, "how": f"out of memory: {str(exc).splitlines()[0]}"}
                )
                break
            bw = gbs(fit_min_bytes(n), t.median_s)
            rows.append(
                {
                    "n": n,
                    "us_per_step": 1e6 * t.median_s,
                    "roofline_gbs": bw,
                    "how": fit.how,
                    "timing": t.to_json(),
                }
            )
            progress(f"{device} fit {form:8s} N={n:.0e}: {1e6 * t.median_s:10.1f} us/step  {bw:8.2f} GB/s")
            del fit
        out["forms"][form] = rows
    return out


def bench_matmul(
    backend: Any, device: str, sizes: list[int], args: argparse.Namespace, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    rows = []
    for dtype in backend.matmul_dtypes(device):
        for n in sizes:
            mm = backend.Matmul(device, n, dtype)
            if mm.fn is None:
                rows.append({"dtype": dtype, "n": n, "tflops": None, "how": mm.how})
                progress(f"{device} matmul {dtype:8s} {n:5d}: not available ({mm.how})")
                break
            t = measure(
                mm.fn, sync=mm.sync, repeats=args.repeats, min_time=args.min_time, block=backend.block
            )
            rate = tflops(matmul_flops(n), t.median_s)
            rows.append({"dtype": dtype, "n": n, "tflops": rate, "how": mm.how, "timing": t.to_json()})
            progress(f"{device} matmul {dtype:8s} {n:5d}: {rate:9.3f} TFLOP/s")
            del mm
    return rows


def bench_copy(
    backend: Any, device: str, mib: int, args: argparse.Namespace, progress: Callable[[str], None]
) -> dict[str, Any]:
    nbytes = mib * 2**20
    cp = backend.Copy(device, nbytes)
    t = measure(cp.fn, sync=cp.sync, repeats=args.repeats, min_time=args.min_time, block=backend.block)
    rate = gbs(copy_bytes(nbytes), t.median_s)
    progress(f"{device} copy {mib} MiB: {rate:9.1f} GB/s (read + write)")
    return {"bytes": nbytes, "gbs": rate, "counts": "read + write", "how": cp.how, "timing": t.to_json()}


def with_ratios(result: dict[str, Any], peak: peaks.Peak | None) -> dict[str, Any]:
    """Add measured/peak next to every measurement where the device's peak is known."""
    bw = peak.bandwidth_gbs if peak else None
    for rows in result["fit"]["forms"].values():
        for row in rows:
            if row.get("roofline_gbs") is not None:
                row["fraction_of_bandwidth"] = fraction(row["roofline_gbs"], bw)
    result["copy"]["fraction_of_bandwidth"] = fraction(result["copy"]["gbs"], bw)
    for row in result["matmul"]:
        if row["tflops"] is not None:
            row["fraction_of_peak"] = fraction(row["tflops"], peak.tflops.get(row["dtype"]) if peak else None)
            best = peak.best_measured.get(row["dtype"]) if peak else None
            row["fraction_of_best_measured"] = fraction(row["tflops"], best)
    return result


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The answers: crossover per form, the big-N roofline fraction, the best matmul, fused vs faithful."""
    devs = report["devices"]
    summary: dict[str, Any] = {}
    cpu = next((d for d in devs if d["kind"] == "cpu"), None)
    gpu = next((d for d in devs if d["kind"] != "cpu"), None)
    if cpu and gpu:
        summary["crossover"] = {form: crossover(_us(cpu, form), _us(gpu, form)) for form in FORMS}
    for d in devs:
        s: dict[str, Any] = {}
        us = {form: _us(d, form) for form in FORMS}
        small = min(us["faithful"], default=None)
        if small is not None and small in us["fused"]:
            s["fused_speedup_at_smallest_n"] = {"n": small, "x": us["faithful"][small] / us["fused"][small]}
        fused = [r for r in d["fit"]["forms"]["fused"] if r.get("us_per_step")]
        if fused:
            big = fused[-1]
            s["fused_at_largest_n"] = {
                k: big.get(k) for k in ("n", "us_per_step", "roofline_gbs", "fraction_of_bandwidth")
            }
        best: dict[str, Any] = {}
        for row in d["matmul"]:
            if row["tflops"] is not None and row["tflops"] > best.get(row["dtype"], {}).get("tflops", 0):
                best[row["dtype"]] = row
        s["best_matmul"] = {
            k: {f: v.get(f) for f in ("n", "tflops", "fraction_of_peak", "fraction_of_best_measured")}
            for k, v in best.items()
        }
        s["copy"] = {k: d["copy"].get(k) for k in ("gbs", "fraction_of_bandwidth")}
        summary[d["label"]] = s
    return summary


def _us(device_result: dict[str, Any], form: str) -> dict[int, float]:
    return {r["n"]: r["us_per_step"] for r in device_result["fit"]["forms"].get(form, []) if r["us_per_step"]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    backend = frameworks.load(args.framework)
    facts = platform_facts.gather()
    targets = backend.targets(facts, cpu_only=args.cpu_only)
    if args.no_cpu:
        targets = [t for t in targets if t["kind"] != "cpu"]
        if not targets:
            raise SystemExit("bench: expected an accelerator with --no-cpu, got none: drop --no-cpu")
    init = sine_fit.initial_parameters(args.seed)
    total = sum(
        (len(args.sizes) + 1) * len(FORMS)
        + 1
        + len(backend.matmul_dtypes(t["device"])) * len(_msizes(t, args))
        for t in targets
    )
    progress = Progress(total)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "framework": args.framework,
        "framework_version": backend.version(),
        "platform": facts,
        "settings": {
            k: getattr(args, k)
            for k in (
                "quick",
                "sizes",
                "matmul_sizes",
                "cpu_matmul_max",
                "copy_mib",
                "repeats",
                "min_time",
                "check_steps",
                "seed",
            )
        },
        "methodology": "warm-up, device sync before every clock start and stop, median over repeats; "
        f"timer: {backend.TIMER}",
        "devices": [],
        # Other work on the machine slows the CPU side most: the load average says how busy it was.
        "load_average": {"start": load_average()},
    }
    for t in targets:
        peak = peaks.match(t["name"], args.gpu_cores if t["kind"] in ("mps", "metal") else None)
        result = {
            **t,
            "peak": peak.to_json() if peak else None,
            "fit": bench_fit(backend, t["device"], args.sizes, args, init, progress),
            "matmul": bench_matmul(backend, t["device"], _msizes(t, args), args, progress),
            "copy": bench_copy(backend, t["device"], args.copy_mib, args, progress),
        }
        report["devices"].append(with_ratios(result, peak))
    report["load_average"]["end"] = load_average()
    report["summary"] = summarize(report)
    return report


def _msizes(target: dict[str, Any], args: argparse.Namespace) -> list[int]:
    """Matmul sizes for this device: the CPU stops at --cpu-matmul-max (8192^3 takes minutes there)."""
    return [n for n in args.matmul_sizes if target["kind"] != "cpu" or n <= args.cpu_matmul_max]


def table(report: dict[str, Any]) -> list[str]:
    """A plain-text digest for the terminal; tools/plots/benchplot.py renders the markdown and the plot."""
    lines = [f"bench {report['framework']} {report['framework_version']}"]
    for d in report["devices"]:
        peak = d["peak"]["name"] if d["peak"] else "no known peak: measured numbers only"
        lines.append(f"{d['label']}: {d['name']} ({peak})")
        sizes = [r["n"] for r in d["fit"]["forms"]["faithful"]]
        lines.append("  fit N                " + " ".join(f"{n:9.0e}" for n in sizes))
        for form, rows in d["fit"]["forms"].items():
            cells = " ".join(f"{r['us_per_step']:9.1f}" if r["us_per_step"] else "        -" for r in rows)
            check = d["fit"]["check"][form]
            verdict = "ok" if check["ok"] else "WRONG RESULT"
            lines.append(f"  fit {form:8s} us/step {cells}   [{check['how']}; {verdict}]")
        for dtype, row in report["summary"][d["label"]]["best_matmul"].items():
            lines.append(f"  matmul {dtype:8s} best {row['tflops']:.3f} TFLOP/s at n={row['n']}{_pct(row)}")
        copy = d["copy"]
        lines.append(f"  copy {copy['gbs']:.1f} GB/s (read + write){_pct(copy, 'fraction_of_bandwidth')}")
    for key, value in report["summary"].get("crossover", {}).items():
        lines.append(f"crossover {key}: {value}")
    return lines


def _pct(row: dict[str, Any], key: str = "fraction_of_peak") -> str:
    return f" = {100 * row[key]:.0f}% of peak" if row.get(key) is not None else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print("\n".join(table(report)))
    failed = [
        f"{d['label']} {form}"
        for d in report["devices"]
        for form, c in d["fit"]["check"].items()
        if not c["ok"]
    ]
    write_report(args, report, "bench")
    for f in failed:
        print(f"FAIL: {f}: the step does not reproduce the float64 reference at N=2000", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
