"""torchvision and torchaudio on the chosen device, each compared with the same work on the CPU.

The seed's setup installs `pytorch torchvision torchaudio`, and their compiled parts are what breaks first:
a torchvision built for another torch fails at its first compiled op, an op with no kernel for the device
raises NotImplementedError. So every torch environment runs this beside the sine fit (an extra check,
checks/frameworks/torch/__init__.py EXTRA_CHECKS), one part per thing people use:

- resnet18: torchvision.models.resnet18(weights=None), seeded, a synthetic batch BATCH with random
  labels: forward, cross-entropy, backward and one SGD step on the device in float32;
- nms: torchvision.ops.nms (a compiled torchvision op, with MPS and CUDA kernels of its own) on N_BOXES
  random boxes;
- melspectrogram: torchaudio.transforms.MelSpectrogram of a one-second chirp at SAMPLE_RATE (an FFT on the
  device: torch.stft).

The yardstick is the same work on the CPU from the same start (the model deep-copied before the step):
float64 for the ResNet step and the spectrogram, so a CPU-only machine checks its own float32 too, and the
same float32 boxes for nms, whose kept indices must be identical. On CUDA, TF32 is turned off for the check
(torch lets cuDNN convolutions use it by default; its 10-bit mantissa would need a far looser bound) and
restored after; MPS has no such mode.

A package the environment does not have is reported absent, not failed, unless the environment's lock
installs it here (`locked`, from `nox -s verify`): then a missing or broken import is a failure. An op
the device does not implement is a named failure (which op, on which device, what to do), not a crash.

    run(device, locked=None) -> report   {"device", "torch", "packages", "parts", "fell_back", "seconds",
                                          "passed", "failures"}
    summary_line(report) -> str          one line for verify's output
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.metadata
import math
import re
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from typing import Any

import torch

# The name its report and failure lines carry in verify's report ("torch_extras: ..."; frameworks.check_name).
REPORT_NAME = "torch_extras"

PACKAGES = ("torchvision", "torchaudio")
SEED = 0

# float32 against the float64 CPU step, each compared as one vector: ||got - ref|| / ||ref||.
# The forward (loss, logits) and the spectrogram must stay within RTOL: float32 keeps ~7 digits and the
# device sums in its own order (cuDNN, MPSGraph, FFT) over reductions of up to 4608 terms through 20
# layers; measured on an x86_64 CPU ~1e-5 and ~1e-7 (docs/verify.md). 1e-3 leaves two orders of magnitude
# for another summation order, while a wrong kernel (wrong op, layout or data) is off by O(1).
RTOL = 1e-3
# The backward (all gradients, all updates) within BACKWARD_RTOL: ReLU passes the gradient only where its
# input is positive, and an input within rounding of zero that float32 puts on the other side sends the
# gradient another way. `python -m checks.torch_extras --survey 6` (seeds 0-5, batches 8x3x32x32 and
# 4x3x64x64, three CPU convolution paths: oneDNN, oneDNN channels-last, native) measured seed 0 at ~1e-5
# everywhere; 6 of the 36 runs went above 1e-4, all on oneDNN, the worst 1.1e-2 (seed 2, 8x3x32x32, where
# one ReLU input had flipped sign). 5e-2 is five times that, and still twenty times under the O(1) of a
# wrong kernel.
BACKWARD_RTOL = 5e-2
BACKWARD = ("gradients", "updates")

BATCH = (8, 3, 32, 32)  # 32x32 keeps the step quick on a CPU; layer4 sees a 1x1 map of 8 samples
CLASSES = 10
LEARNING_RATE = 0.1

N_BOXES = 300
IOU_THRESHOLD = 0.5

SAMPLE_RATE = 16000
CHIRP_HZ = (100.0, 4000.0)  # a linear chirp over one second: energy in every mel band it crosses
N_FFT = 400
N_MELS = 64

# The three ways torch says an op has no kernel for a device (NotImplementedError): the MPS backend's
# own message (torch's MPSFallback: "... PYTORCH_ENABLE_MPS_FALLBACK=1 ..."), the dispatcher's for any
# backend without a kernel (a torchvision op without an MPS kernel), and the Meta/fake-tensor one.
NOT_IMPLEMENTED = (
    re.compile(r"The operator '(?P<op>[^']+)' is not currently implemented for the (?P<device>\w+) device"),
    re.compile(r"Could not run '(?P<op>[^']+)' with arguments from the '(?P<device>\w+)' backend"),
    re.compile(r"(?P<op>[\w:.]+): attempted to run this operator with (?P<device>\w+) tensors"),
)
# What PYTORCH_ENABLE_MPS_FALLBACK=1 warns (once per op) when it runs an op on the CPU instead.
FELL_BACK = re.compile(r"The operator '(?P<op>[^']+)' is not currently supported on the MPS backend")


# ---- what went wrong, in words -----------------------------------------------------------------------------


def not_implemented(exc: BaseException) -> tuple[str, str] | None:
    """(op, device) when `exc` is torch saying an op has no kernel for a device; None otherwise."""
    if not isinstance(exc, NotImplementedError):
        return None
    for pattern in NOT_IMPLEMENTED:
        found = pattern.search(str(exc))
        if found:
            return found.group("op"), found.group("device")
    return None


def failure(part: str, device: str, exc: BaseException) -> str:
    """One line naming what failed: a missing kernel names the op and the fix, anything else its error."""
    missing = not_implemented(exc)
    if missing:
        op, backend = missing
        fix = (
            "PYTORCH_ENABLE_MPS_FALLBACK=1 runs such ops on the CPU (slower)"
            if backend.lower() == "mps"
            else "run it on another device"
        )
        return (
            f"{part} on {device}: {op} is not implemented for {backend} ({fix}; `nox -s doctor` and "
            "docs/doctor.md explain)"
        )
    lines = traceback.format_exception_only(type(exc), exc)[-1].strip().splitlines()
    return f"{part} on {device}: raised {lines[0][:300] if lines else type(exc).__name__}"


# ---- comparing real tensors --------------------------------------------------------------------------------


def difference(got: torch.Tensor, want: torch.Tensor) -> dict[str, Any]:
    """How far `got` (any device, any float dtype) is from `want`: max |got - want| and the norm-wise
    relative error ||got - want|| / ||want||, in float64 on the CPU. Element-wise relative errors are not
    used: near-zero entries (a gradient that cancels) make them meaningless."""
    got = got.detach().to("cpu", torch.float64)
    want = want.detach().to("cpu", torch.float64)
    if got.shape != want.shape:
        return {"max_abs": math.inf, "rel": math.inf, "shape": [list(got.shape), list(want.shape)]}
    diff = got - want
    norm = float(want.norm())
    rel = float(diff.norm()) / norm if norm else (0.0 if float(diff.norm()) == 0 else math.inf)
    max_abs = float(diff.abs().max()) if diff.numel() else 0.0
    if not (math.isfinite(float(got.abs().sum())) and math.isfinite(float(want.abs().sum()))):
        rel = math.inf  # a nan or inf anywhere fails, whatever the norms say
    return {"max_abs": max_abs, "rel": rel}


def compare(
    named_got: dict[str, Any], named_want: dict[str, Any], bounds: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Each named tensor against its reference, each within its bound (RTOL unless `bounds` names it):
    every difference, the worst relative one, and the names over their bound."""
    diffs = {name: difference(named_got[name], named_want[name]) for name in named_want}
    bound = {name: (bounds or {}).get(name, RTOL) for name in diffs}
    worst = max(diffs, key=lambda n: diffs[n]["rel"])
    return {
        "each": {name: {**d, "bound": bound[name]} for name, d in diffs.items()},
        "worst": worst,
        "rel": diffs[worst]["rel"],
        "max_abs": max(d["max_abs"] for d in diffs.values()),
        "over": sorted(n for n, d in diffs.items() if not d["rel"] <= bound[n]),
    }


# ---- the parts ---------------------------------------------------------------------------------------------


@contextmanager
def full_float32(device: torch.device):
    """On CUDA, TF32 off for matmuls and cuDNN convolutions while the check runs, then as it was."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _sgd_step(model, x, y) -> tuple[dict[str, Any], dict[str, Any]]:
    """Forward, cross-entropy, backward, one SGD step. Returns what is compared, each as one tensor: the
    loss, the logits, every gradient and every parameter's update (new - old), concatenated; and each
    parameter's gradient by name (to name the worst)."""
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    optimizer.zero_grad()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    optimizer.step()
    updates = [(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]
    compared = {
        "loss": loss.detach(),
        "logits": logits.detach(),
        "gradients": torch.cat([g.flatten() for g in grads.values()]),
        "updates": torch.cat(updates),
    }
    return compared, grads


def resnet18_step(torchvision, device: torch.device) -> dict[str, Any]:
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None, num_classes=CLASSES)
    x = torch.randn(*BATCH)
    y = torch.randint(0, CLASSES, (BATCH[0],))
    reference, reference_grads = _sgd_step(copy.deepcopy(model).double(), x.double(), y)  # CPU, float64
    started = time.perf_counter()
    got, grads = _sgd_step(model.to(device), x.to(device), y.to(device))
    seconds = time.perf_counter() - started  # includes the device's first-use set-up (kernels, caches)
    on = sorted({str(p.device) for p in model.parameters()})
    result = compare(got, reference, dict.fromkeys(BACKWARD, BACKWARD_RTOL))
    # For the report only: one small tensor's gradient can nearly cancel (a BatchNorm bias), so its own
    # relative error says little; the judged vector is every gradient at once.
    per_tensor = compare(grads, reference_grads)
    report: dict[str, Any] = {
        "how": f"resnet18(weights=None, num_classes={CLASSES}), batch {'x'.join(map(str, BATCH))}, "
        f"cross-entropy, SGD lr {LEARNING_RATE}, one step, float32 vs the CPU in float64",
        "loss": float(got["loss"]),
        "reference_loss": float(reference["loss"]),
        "compared": result,
        "worst_single_gradient": {"name": per_tensor["worst"], "rel": per_tensor["rel"]},
        "parameters_on": on,
        "seconds": seconds,
        "failures": [],
    }
    if result["over"]:
        each = result["each"]
        over = (f"{n} by {each[n]['rel']:.2g} (bound {each[n]['bound']:g})" for n in result["over"])
        report["failures"].append(f"resnet18 step on {device}: differs from the CPU's in {', '.join(over)}")
    if on != [str(torch.empty(0, device=device).device)]:
        report["failures"].append(f"resnet18 step on {device}: parameters ended on {on}")
    return report


def _boxes() -> tuple[torch.Tensor, torch.Tensor]:
    """N_BOXES random boxes (x1, y1, x2, y2) in a 100x100 image, sides 5 to 35, and random scores."""
    gen = torch.Generator().manual_seed(SEED)
    corner = torch.rand(N_BOXES, 2, generator=gen) * 100
    side = torch.rand(N_BOXES, 2, generator=gen) * 30 + 5
    return torch.cat([corner, corner + side], 1), torch.rand(N_BOXES, generator=gen)


def nms(torchvision, device: torch.device) -> dict[str, Any]:
    boxes, scores = _boxes()
    want = torchvision.ops.nms(boxes, scores, IOU_THRESHOLD)
    iou = torchvision.ops.box_iou(boxes.double(), boxes.double()).fill_diagonal_(math.inf)
    margin = float((iou - IOU_THRESHOLD).abs().min())  # how close a pair comes to flipping the decision
    started = time.perf_counter()
    kept = torchvision.ops.nms(boxes.to(device), scores.to(device), IOU_THRESHOLD)
    got = kept.cpu()
    seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "how": f"torchvision.ops.nms, {N_BOXES} random float32 boxes, IoU {IOU_THRESHOLD}: kept indices "
        "identical to the CPU's",
        "kept": len(got),
        "reference_kept": len(want),
        "identical": got.tolist() == want.tolist(),
        "closest_iou_to_threshold": margin,
        "on": str(kept.device),
        "seconds": seconds,
        "failures": [],
    }
    if not report["identical"]:
        first = next((i for i, (a, b) in enumerate(zip(got.tolist(), want.tolist())) if a != b), None)
        report["failures"].append(
            f"nms on {device}: kept {len(got)} boxes, the CPU {len(want)}; first difference at position "
            f"{first if first is not None else min(len(got), len(want))}"
        )
    if kept.device.type != device.type:
        report["failures"].append(f"nms on {device}: the result came back on {kept.device}")
    return report


def chirp(dtype=torch.float64) -> torch.Tensor:
    """One second of a linear chirp from CHIRP_HZ[0] to CHIRP_HZ[1] at SAMPLE_RATE."""
    t = torch.arange(SAMPLE_RATE, dtype=torch.float64) / SAMPLE_RATE
    f0, f1 = CHIRP_HZ
    return torch.sin(2 * math.pi * (f0 * t + (f1 - f0) * t * t / 2)).to(dtype)


def melspectrogram(torchaudio, device: torch.device) -> dict[str, Any]:
    transform = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)
    want = copy.deepcopy(transform).double()(chirp())  # the CPU, float64
    started = time.perf_counter()
    out = transform.to(device)(chirp(torch.float32).to(device))
    seconds = time.perf_counter() - started
    result = compare({"melspectrogram": out}, {"melspectrogram": want})
    report: dict[str, Any] = {
        "how": f"torchaudio.transforms.MelSpectrogram(n_fft={N_FFT}, n_mels={N_MELS}) of a 1 s chirp "
        f"{CHIRP_HZ[0]:g}-{CHIRP_HZ[1]:g} Hz at {SAMPLE_RATE} Hz, float32 vs the CPU in float64",
        "shape": list(out.shape),
        "compared": result,
        "on": str(out.device),
        "seconds": seconds,
        "failures": [],
    }
    if result["over"]:
        report["failures"].append(
            f"MelSpectrogram on {device}: differs from the CPU's by {result['rel']:.2g} (more than {RTOL:g})"
        )
    if out.device.type != device.type:
        report["failures"].append(f"MelSpectrogram on {device}: the result came back on {out.device}")
    return report


PARTS = {  # part -> (the package it needs, what runs it)
    "resnet18": ("torchvision", resnet18_step),
    "nms": ("torchvision", nms),
    "melspectrogram": ("torchaudio", melspectrogram),
}


# ---- the check ---------------------------------------------------------------------------------------------


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load(name: str, locked: frozenset[str] | None) -> tuple[object | None, dict[str, Any]]:
    """Import a package: (module, {"status": "present", "version"}), or (None, absent / failed with why).
    Absent only where nothing of it is installed and the lock (when known) does not install it here."""
    version = _installed(name)
    try:
        return importlib.import_module(name), {"status": "present", "version": version}
    except Exception as exc:  # ImportError, OSError from a dylib, RuntimeError from a torch mismatch
        why = traceback.format_exception_only(type(exc), exc)[-1].strip()
        expected = version is not None or (locked is not None and name in locked)
        if isinstance(exc, ModuleNotFoundError) and exc.name == name and not expected:
            return None, {"status": "absent", "version": None, "why": "not in this environment"}
        if version is None:
            why = f"the environment's lock installs {name} here, but it is not installed: {why}"
        return None, {"status": "failed", "version": version, "why": why}


def run(device: str, locked: frozenset[str] | None = None) -> dict[str, Any]:
    """Every part whose package is present, on `device` and on the CPU; `locked`: the distributions the
    environment's lock installs on this machine (None: unknown, as when verify runs without nox)."""
    dev = torch.device(device)
    report: dict[str, Any] = {
        "device": str(dev),
        "torch": torch.__version__,
        "packages": {},
        "parts": {},
        "failures": [],
    }
    started = time.perf_counter()
    modules = {}
    for name in PACKAGES:
        imported = time.perf_counter()
        modules[name], report["packages"][name] = load(name, locked)
        report["packages"][name]["import_seconds"] = time.perf_counter() - imported
        if report["packages"][name]["status"] == "failed":
            report["failures"].append(f"import {name}: {report['packages'][name]['why']}")
    with warnings.catch_warnings(record=True) as caught, full_float32(dev):
        warnings.simplefilter("always")
        for part, (package, fn) in PARTS.items():
            if modules[package] is None:
                continue
            began = time.perf_counter()
            try:
                report["parts"][part] = fn(modules[package], dev)
            except Exception as exc:  # the part's failure, named; the other parts still run
                report["parts"][part] = {"failures": [failure(part, str(dev), exc)], "crashed": True}
            report["parts"][part]["total_seconds"] = time.perf_counter() - began  # with the CPU reference
            report["failures"] += report["parts"][part]["failures"]
    fell_back = (FELL_BACK.search(str(w.message)) for w in caught)
    report["fell_back"] = sorted({m.group("op") for m in fell_back if m})
    report["seconds"] = time.perf_counter() - started
    report["passed"] = not report["failures"]
    return report


def _part_words(name: str, part: dict[str, Any]) -> str:
    if part.get("crashed"):
        return f"{name} FAILED"
    if name == "nms":
        same = "identical to" if part["identical"] else "DIFFERENT from"
        return f"nms {same} the CPU's ({part['kept']}/{N_BOXES} kept)"
    if name == "resnet18":
        return (
            f"resnet18 step {part['compared']['rel']:.1g} from float64 (bound {RTOL:g}, backward "
            f"{BACKWARD_RTOL:g})"
        )
    return f"{name} {part['compared']['rel']:.1g} from float64 (bound {RTOL:g})"


STATUS_WORDS = {"absent": "not in this environment", "failed": "FAILED to import"}


def summary_line(report: dict[str, Any]) -> str:
    """What ran, with which versions (torch's own too: torchaudio's no longer follow torch's, pytorch/audio
    #4170), then what did not run and why: "torchvision 0.29.2, torchaudio 2.11.1 with torch 2.15.0 on cpu:
    resnet18 ..., 9.1 s  ok", or "...: resnet18 ...; not run: melspectrogram (torchaudio not in this
    environment), 9.1 s  ok"."""
    packages = report["packages"]
    present = [f"{name} {p['version']}" for name, p in packages.items() if p["status"] == "present"]
    torch_version = f" with torch {report['torch']}" if report.get("torch") else ""
    head = (
        f"{', '.join(present) or 'neither torchvision nor torchaudio'}{torch_version} on {report['device']}"
    )
    parts = ", ".join(_part_words(n, p) for n, p in report["parts"].items()) or "nothing to run"
    fell = f"; on the CPU by fallback: {', '.join(report['fell_back'])}" if report["fell_back"] else ""
    skipped = [
        f"{', '.join(part for part, (pkg, _fn) in PARTS.items() if pkg == name)} ({name} "
        f"{STATUS_WORDS[p['status']]})"
        for name, p in packages.items()
        if p["status"] != "present"
    ]
    not_run = f"; not run: {'; '.join(skipped)}" if skipped else ""
    return (
        f"{head}: {parts}{fell}{not_run}, {report['seconds']:.1f} s  {'ok' if report['passed'] else 'FAILED'}"
    )


# ---- how much float32 itself strays (the numbers behind RTOL and BACKWARD_RTOL) ----------------------------

CPU_PATHS = ("oneDNN", "oneDNN channels-last", "native")


def survey_step(seed: int, batch: tuple[int, ...], path: str) -> dict[str, Any]:
    """The ResNet step in float32 on one CPU convolution path against float64: each family's rel error."""
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None, num_classes=CLASSES)
    x = torch.randn(*batch)
    y = torch.randint(0, CLASSES, (batch[0],))
    reference, _ = _sgd_step(copy.deepcopy(model).double(), x.double(), y)
    if path == "oneDNN channels-last":
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    with warnings.catch_warnings():  # mkldnn.flags warns about TF32 on Intel GPUs, which are not here
        warnings.simplefilter("ignore")
        with torch.backends.mkldnn.flags(enabled=path != "native"):
            got, _ = _sgd_step(model, x, y)
    return {name: difference(got[name], reference[name])["rel"] for name in reference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checks.torch_extras", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="run the check on this device (default cpu)")
    parser.add_argument(
        "--survey", type=int, metavar="SEEDS", help="instead: the float32 CPU step's error, seeds 0..SEEDS-1"
    )
    args = parser.parse_args(argv)
    if args.survey is None:
        try:
            torch.device(args.device)
        except RuntimeError:
            parser.error(f"expected a torch device like cpu, cuda:0 or mps, got {args.device!r}")
        report = run(args.device)
        print("\n".join([summary_line(report), *(f"FAIL: {f}" for f in report["failures"])]))
        return 0 if report["passed"] else 1
    if args.survey < 1:
        parser.error(f"expected --survey 1 or more, got {args.survey}")
    print("batch        seed  CPU path               loss     logits   gradients updates")
    for batch in (BATCH, (4, 3, 64, 64)):
        for seed in range(args.survey):
            for path in CPU_PATHS:
                rel = survey_step(seed, batch, path)
                cells = " ".join(f"{rel[k]:<8.2g}" for k in ("loss", "logits", "gradients", "updates"))
                print(f"{'x'.join(map(str, batch)):<12} {seed:<5} {path:<22} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
