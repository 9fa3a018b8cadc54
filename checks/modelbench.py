"""How fast does this machine TRAIN a model of meaningful size: `nox -s modelbench` runs this.

    python -m checks.modelbench --framework torch [--quick] [--best] [--json PATH | --out-dir DIR]

Inside one environment, on the accelerator (if any) and on the CPU: training throughput of the framework's
models (checks/frameworks/NAME/models.py: torch ResNet-50 in images/s and a transformer encoder in tokens/s,
TensorFlow Keras ResNet50 in images/s) over a batch-size sweep, in float32 and each mixed precision the device
runs, on synthetic data made on the device (no downloads). Methodology as checks/bench.py's (its `measure`):
warm-up steps, a device sync before every clock start and stop, the median over repeats; every point checks
that its loss stayed finite (a fast step that diverged proves nothing). A batch that does not fit is recorded
as out of memory and ends that precision's sweep; the largest batch that fit is reported.

ResNet-50 at 224x224 is compared with published training figures (checks/data/model-references.json, each
with its source), matched on precision class (float32/TF32 with float32, fp16/bf16 mixed with autocast),
and the summary answers in one line how this GPU compares with a T4 where a T4 figure is published.
Standard library + the framework; plotting is tools/plots/benchplot.py's job.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import sys
from typing import Any, Callable

from checks import frameworks
from checks.core import platform_facts
from checks.core.argcheck import positive
from checks.core.harness import Progress, add_output_args, load_average, measure, write_report
from checks.core.models import TINY_TRANSFORMER, TRANSFORMER, Options
from checks.core.references import (
    REFERENCE_IMAGE_SIZE,
    answer,
    best_resnet,
    compare,
    load_references,
    resnet_bests,
)

SCHEMA_VERSION = 1
KIND = "modelbench"
MODEL_NAMES = ("resnet50", "transformer")
PRECISIONS = ("float32", "bfloat16", "float16")

FULL = {
    "batch_sizes": [16, 32, 64, 128, 256],
    "cpu_batch_sizes": [4, 8],
    "image_size": 224,
    "seq_len": 256,
    "repeats": 5,
    "min_time": 0.5,
    "warmup": 3,
}
# CI size: on a 2-core CPU every environment's run stays within seconds: ResNet-50 at 32x32 (CIFAR's size, as
# Apple's tensorflow-metal check trains it, and the smallest Keras accepts), tiny batches.
QUICK = {
    "batch_sizes": [2, 4],
    "cpu_batch_sizes": [2, 4],
    "image_size": 32,
    "seq_len": 32,
    "repeats": 2,
    "min_time": 0.0,
    "warmup": 0,  # the step's constructor already ran one untimed step, and measure() one probe
}


# --- arguments ------------------------------------------------------------------------------------------


def _names(allowed: tuple[str, ...], what: str) -> Callable[[str], list[str]]:
    """argparse type: a comma-separated subset of `allowed`, in the given order, each once."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        bad = [n for n in names if n not in allowed]
        if not names or bad:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {what} from {', '.join(allowed)}, got {text!r}"
            )
        return list(dict.fromkeys(names))

    return parse


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive batch sizes like 16,32, got {text!r}"
        )
    return sorted(set(values))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m checks.modelbench", description=__doc__.split("\n")[0])
    p.add_argument("--framework", required=True, choices=sorted(frameworks.NAMES))
    add_output_args(p, "models", "cuda, mps, metal or cpu")
    p.add_argument("--quick", action="store_true", help="CI size: 32x32 images, sequence 32, batches 2 and 4")
    p.add_argument(
        "--best",
        action="store_true",
        help="fastest settings: channels_last, compile, only the mixed precisions (unless --precisions)",
    )
    p.add_argument(
        "--models", type=_names(MODEL_NAMES, "models"), help="default: every model the framework has"
    )
    p.add_argument("--precisions", type=_names(PRECISIONS, "precisions"), help="default: all the device runs")
    p.add_argument("--batch-sizes", type=_batches, help="accelerator batch sizes (default 16,32,64,128,256)")
    p.add_argument("--cpu-batch-sizes", type=_batches, help="CPU batch sizes (default 4,8)")
    p.add_argument("--image-size", type=positive(int), help="ResNet-50 input side in pixels (default 224)")
    p.add_argument("--seq-len", type=positive(int), help="transformer sequence length (default 256)")
    p.add_argument(
        "--channels-last", action="store_true", help="ResNet-50 in channels_last (NHWC) memory format"
    )
    p.add_argument(
        "--compile", action="store_true", help="torch.compile (torch) / XLA jit_compile (TensorFlow)"
    )
    p.add_argument("--repeats", type=positive(int), help="timed repeats per point (default 5)")
    p.add_argument("--min-time", type=float, help="seconds per repeat (default 0.5)")
    p.add_argument("--warmup", type=int, help="untimed steps before timing (default 3)")
    p.add_argument("--cpu-only", action="store_true", help="skip the accelerator")
    p.add_argument("--no-cpu", action="store_true", help="skip the CPU")
    args = p.parse_args(argv)
    if args.cpu_only and args.no_cpu:
        p.error("expected at most one of --cpu-only and --no-cpu, got both (nothing would run)")
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.min_time < 0 or not math.isfinite(args.min_time):
        p.error(f"argument --min-time: expected seconds >= 0, got {args.min_time!r}")
    if args.warmup < 0:
        p.error(f"argument --warmup: expected a count >= 0, got {args.warmup}")
    if args.image_size < 32:
        p.error(
            f"argument --image-size: expected >= 32 (ResNet-50 halves it five times), got {args.image_size}"
        )
    if args.best:
        args.channels_last = args.compile = True
    return args


# --- the run --------------------------------------------------------------------------------------------


def model_module(fw: Any) -> Any:
    name = frameworks.model_bench(fw)
    if not name:
        raise SystemExit(f"modelbench: {fw.NAME} declares no model bench (MODEL_BENCH): see docs/models.md")
    return importlib.import_module(name)


def sweep(
    fw: Any,
    module: Any,
    model: str,
    target: dict[str, Any],
    precision: str,
    batches: list[int],
    args: argparse.Namespace,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """One precision's batch sweep on one device: a point per batch, stopping at the first that fails."""
    options = Options(
        args.image_size,
        args.seq_len,
        args.channels_last,
        args.compile,
        tuple(transformer_shape(args).items()),
    )
    unit = module.MODELS[model]
    points: list[dict[str, Any]] = []
    result: dict[str, Any] = {"points": points, "stopped": None}
    for batch in batches:
        step = None
        where = f"{target['label']} {model} {precision} batch {batch:4d}"
        try:
            step = module.Step(model, target["device"], batch, precision, options)
            t = measure(
                step.fn,
                sync=step.sync,
                warmup=args.warmup,
                repeats=args.repeats,
                min_time=args.min_time,
            )
            loss, how = step.loss(), step.how
        except fw.OUT_OF_MEMORY as exc:
            result["stopped"] = f"batch {batch}: out of memory ({_first_line(exc)})"
            progress(f"{where}: out of memory, larger batches skipped")
            break
        except module.ERRORS as exc:  # e.g. no kernel for this precision on this device
            result["stopped"] = f"batch {batch}: not run here ({type(exc).__name__}: {_first_line(exc)})"
            progress(f"{where}: failed ({_first_line(exc)}), larger batches skipped")
            break
        finally:
            del step  # the next point allocates its own model: drop this one first
            gc.collect()
            getattr(module, "release", lambda device: None)(target["device"])
        rate = batch_items(model, batch, args) / t.median_s
        ok = math.isfinite(loss)
        points.append(
            {
                "batch": batch,
                "items_per_s": rate,
                "ms_per_step": 1e3 * t.median_s,
                "loss_after": loss if ok else None,
                "finite_loss": ok,
                "how": how,
                "timing": t.to_json(),
            }
        )
        progress(
            f"{where}: {rate:10.1f} {unit} ({1e3 * t.median_s:.1f} ms/step)"
            + ("" if ok else " LOSS NOT FINITE")
        )
    good = [p for p in points if p["finite_loss"]]
    result["largest_batch_fit"] = max((p["batch"] for p in points), default=None)
    result["best"] = max(good, key=lambda p: p["items_per_s"], default=None)
    return result


def transformer_shape(args: argparse.Namespace) -> dict[str, Any]:
    """The encoder's shape: the small BERT-like one, or the tiny one at CI size."""
    return TINY_TRANSFORMER if args.quick else TRANSFORMER


def batch_items(model: str, batch: int, args: argparse.Namespace) -> int:
    """Items one step trains on: images for ResNet-50, tokens (batch x sequence) for the transformer."""
    return batch * args.seq_len if model == "transformer" else batch


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def device_precisions(module: Any, target: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The precisions to run on this device: --precisions (those the device has), else all it has; --best
    alone keeps the mixed ones (float32 is never the fastest where a GPU has 16-bit units)."""
    have: list[str] = module.precisions(target["device"])
    if args.precisions:
        return [p for p in args.precisions if p in have]
    if args.best and target["kind"] != "cpu":
        return [p for p in have if p != "float32"] or have
    return have


def run(args: argparse.Namespace) -> dict[str, Any]:
    fw = frameworks.load(args.framework)
    module = model_module(fw)
    models = args.models or list(module.MODELS)
    unknown = [m for m in models if m not in module.MODELS]
    if unknown:
        raise SystemExit(
            f"modelbench: expected a model {args.framework} has ({', '.join(module.MODELS)}), "
            f"got {', '.join(unknown)}"
        )
    facts = platform_facts.gather()
    targets = fw.targets(facts, cpu_only=args.cpu_only)
    if args.no_cpu:
        targets = [t for t in targets if t["kind"] != "cpu"]
        if not targets:
            raise SystemExit("modelbench: expected an accelerator with --no-cpu, got none: drop --no-cpu")
    plan = [
        (t, m, p, args.cpu_batch_sizes if t["kind"] == "cpu" else args.batch_sizes)
        for t in targets
        for m in models
        for p in device_precisions(module, t, args)
    ]
    progress = Progress(sum(len(b) for *_, b in plan))
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "framework": args.framework,
        "framework_version": fw.version(),
        "platform": facts,
        "settings": {
            k: getattr(args, k)
            for k in (
                "quick",
                "best",
                "batch_sizes",
                "cpu_batch_sizes",
                "image_size",
                "seq_len",
                "channels_last",
                "compile",
                "repeats",
                "min_time",
                "warmup",
            )
        },
        "transformer": transformer_shape(args),
        "methodology": "synthetic data on the device; one untimed step at construction, then warm-up steps; "
        "time.perf_counter around each repeat with a device sync before every clock start and stop; the "
        "median over repeats; a point counts only if its loss stayed finite",
        "devices": [],
        "load_average": {"start": load_average()},
    }
    for target in targets:
        result = {**target, "models": {}}
        for t, model, precision, batches in plan:
            if t is not target:
                continue
            entry = result["models"].setdefault(model, {"unit": module.MODELS[model], "precisions": {}})
            entry["precisions"][precision] = sweep(
                fw, module, model, target, precision, batches, args, progress
            )
        report["devices"].append(result)
    report["load_average"]["end"] = load_average()
    report["summary"] = summarize(report, load_references()["references"])
    return report


def summarize(report: dict[str, Any], refs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per device and model the best point of each precision; for ResNet-50 at 224x224 the published
    references of the same precision class, and the one-line answer for the first device (the GPU)."""
    summary: dict[str, Any] = {"devices": {}}
    comparable = report["settings"]["image_size"] == REFERENCE_IMAGE_SIZE
    for d in report["devices"]:
        per_model = {}
        for model, entry in d["models"].items():
            rows = {}
            for precision, res in entry["precisions"].items():
                best = res.get("best")
                row = {
                    "batch": best["batch"] if best else None,
                    "items_per_s": best["items_per_s"] if best else None,
                    "largest_batch_fit": res.get("largest_batch_fit"),
                    "stopped": res.get("stopped"),
                }
                if model == "resnet50" and best and comparable:
                    row["vs_published"] = compare(best["items_per_s"], precision, refs)
                rows[precision] = row
            per_model[model] = {"unit": entry["unit"], "precisions": rows}
        summary["devices"][d["label"]] = per_model
    first = report["devices"][0] if report["devices"] else None
    if first is None:
        summary["answer"] = "no device measured"
    elif not comparable:
        size = report["settings"]["image_size"]
        summary["answer"] = (
            f"ResNet-50 ran at {size}x{size}, not the published figures' {REFERENCE_IMAGE_SIZE}x"
            f"{REFERENCE_IMAGE_SIZE}: not compared (run without --quick)"
        )
    else:
        summary["answer"] = answer(
            first["name"], first["kind"], best_resnet(first), refs, resnet_bests(first)
        )
    return summary


def table(report: dict[str, Any]) -> list[str]:
    """A plain-text digest for the terminal; tools/plots/benchplot.py renders the markdown and the plot."""
    lines = [f"modelbench {report['framework']} {report['framework_version']}"]
    for d in report["devices"]:
        lines.append(f"{d['label']}: {d['name']}")
        for model, entry in d["models"].items():
            for precision, res in entry["precisions"].items():
                cells = ", ".join(f"{p['batch']}: {p['items_per_s']:.1f}" for p in res["points"]) or "-"
                stop = f" [{res['stopped']}]" if res["stopped"] else ""
                lines.append(f"  {model} {precision} {entry['unit']} by batch: {cells}{stop}")
    lines.append(report["summary"]["answer"])
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    print("\n".join(table(report)))
    bad = [
        f"{d['label']} {model} {precision} batch {p['batch']}"
        for d in report["devices"]
        for model, entry in d["models"].items()
        for precision, res in entry["precisions"].items()
        for p in res["points"]
        if not p["finite_loss"]
    ]
    write_report(args, report, "models")
    for where in bad:
        print(
            f"FAIL: {where}: the loss is not finite after training (a diverged step proves nothing)",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
