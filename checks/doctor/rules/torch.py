"""PyTorch inside the environment: does it import, does it have MPS, does it see the NVIDIA GPUs; and the
errors torch raises in the user's own program (MPS: a missing op, out of memory, float64; CUDA out of
memory), from the text the user gives (`--error`, `--error-file`)."""

from __future__ import annotations

import re
from typing import Any

from checks import frameworks
from checks.doctor.rule import (
    SIZE,
    Finding,
    error_text,
    first_line,
    macos_reported,
    mps_macos_floor,
    on_apple_silicon,
    on_mac,
    raised_at,
    rule,
    size_bytes,
    under_rosetta,
    version,
)
from checks.doctor.rules.machine import MIN_DRIVER_FOR_CUDA_MAJOR

# torch's macOS arm64 wheels are tagged macosx_14_0 from 2.12 on (PyPI's files; `nox -s wheels` checks the
# torch-current lock's against its 14.0 floor): pip on macOS 13 finds none. Before 2.12: macosx_11_0.
FIRST_TORCH_NEEDING_MACOS_14 = "2.12"
NO_WHEEL = "No matching distribution found for torch"
# The seed's torch and the macOS its MPS needs (the torch module's table), for the way out of a newer one.
SEED_TORCH = "2.8.0"
SEED_WAY_OUT = (
    f"the `torch` environment (torch {SEED_TORCH}, macOS "
    f"{frameworks.by_release(frameworks.declared('torch')['MPS_MACOS_FLOOR'], SEED_TORCH)}+)"
)


@rule(
    "torch-import",
    symptom="`import torch` fails",
    cause='e.g. arm64 wheels loaded by an x86_64 Python ("incompatible architecture")',
    fix="rebuild with a native Python",
)
def torch_import(f: dict[str, Any]) -> Finding | None:
    t = f.get("torch")
    if t is None:
        return None
    if t["import_error"]:
        return Finding(
            "torch-import",
            "fail",
            f"`import torch` failed: {first_line(t['import_error'])}",
            "the installed wheels are for another architecture than this Python (see rule rosetta)"
            if "incompatible architecture" in t["import_error"]
            else "no torch device at all can be used",
            "rebuild the environment from the lock with a native Python (`nox -s verify`); if it persists, "
            "report the text above",
        )
    return Finding("torch-import", "ok", f"torch {t['version']} imports")


@rule(
    "torch-macos-wheel",
    symptom=f"`ERROR: {NO_WHEEL}` (pip on macOS 13), or MPS missing after forcing an install",
    cause=f"torch >= {FIRST_TORCH_NEEDING_MACOS_14} has macOS arm64 wheels tagged macosx_14_0 only, and its "
    "MPS needs macOS 14 or newer",
    fix=f"update macOS to 14+, or use {SEED_WAY_OUT}",
)
def torch_macos_wheel(f: dict[str, Any]) -> Finding | None:
    if not on_apple_silicon(f):
        return None
    macos = version(macos_reported(f))
    installed = (f.get("torch") or {}).get("version") or f["distributions"].get("torch")
    build = f.get("build_error") or ""
    wants_current = version(installed) >= version(FIRST_TORCH_NEEDING_MACOS_14) if installed else False
    no_wheel = NO_WHEEL in build or ("torch" in build and "macosx_14_0" in build)
    if not (wants_current or no_wheel):
        return None
    what = f"torch {installed}" if installed else "the torch the lock pins"
    if macos and macos[:2] < (14, 0):
        return Finding(
            "torch-macos-wheel",
            "fail",
            f"macOS {macos_reported(f)} and {what}: "
            + (f"pip says `{first_line(build)}`" if no_wheel else "a torch built for macOS 14+"),
            f"torch >= {FIRST_TORCH_NEEDING_MACOS_14} ships macOS arm64 wheels tagged macosx_14_0 only, so "
            f"pip on macOS 13 finds no wheel; and its MPS backend needs macOS {mps_macos_floor(f)}",
            f"update macOS to {mps_macos_floor(f)} or newer (Software Update), or use {SEED_WAY_OUT}: "
            "`nox -s \"verify(env='torch')\"`",
        )
    if no_wheel:
        return None  # another cause: rule environment-build shows pip's text
    return Finding("torch-macos-wheel", "ok", f"macOS {macos_reported(f)} has wheels for {what} (14.0+)")


@rule(
    "torch-mps",
    symptom="MPS missing",
    cause="torch built without MPS, or built with it but unavailable (the cause is named)",
    fix="the locked macOS arm64 wheel, native Python",
)
def torch_mps(f: dict[str, Any]) -> Finding | None:
    t = f.get("torch")
    if t is None or t["import_error"] or not on_mac(f):
        return None
    if t["mps_available"]:
        return Finding("torch-mps", "ok", f"torch {t['version']}: MPS built and available")
    if not t["mps_built"]:
        return Finding(
            "torch-mps",
            "fail",
            f"torch {t['version']} was built without MPS",
            "only the macOS arm64 wheels have the MPS backend; an x86_64 wheel (Rosetta) or a CPU-only "
            "conda build never uses the GPU",
            "install the lock in an arm64 Python: `nox -s verify`, or `conda env create -f "
            "environment-torch.yml` from an arm64 Miniforge",
        )
    causes = []
    if under_rosetta(f):
        causes.append("Python runs under Rosetta (see rule rosetta)")
    if not on_apple_silicon(f):
        causes.append("this is an Intel Mac")
    macos, floor = version(macos_reported(f)), mps_macos_floor(f)
    if macos and macos[:2] < version(floor):
        causes.append(f"macOS is below {floor} (see rule macos-version)")
    return Finding(
        "torch-mps",
        "fail",
        f"torch {t['version']} has MPS built in but not available",
        "; ".join(causes)
        or "none of the known causes applies: a virtual machine or hosted CI runner has no Metal device",
        "fix the rules marked fail above"
        if causes
        else "run on the Mac itself, not in a VM or a hosted CI runner",
    )


# What the loader names when a library needs a symbol no loaded library defines: Linux's ld.so ("undefined
# symbol: NAME") and macOS's dyld ("Symbol not found: NAME").
MISSING_SYMBOL = re.compile(r"(?:undefined symbol|Symbol not found): (\S+)")


@rule(
    "torch-extensions",
    symptom="`import torchaudio` or `import torchvision` fails: `OSError: …/libtorchaudio.so: undefined "
    "symbol: …` (Linux) or `Symbol not found: …` (macOS); e.g. torchaudio 2.11.1 with torch 2.11.0: "
    "`undefined symbol: torch_exception_get_what_without_backtrace`",
    cause="its compiled library was built against another torch and needs a symbol this torch does not "
    "define. pip cannot tell: torchaudio's releases no longer follow torch's (pytorch/audio#4170), and "
    "2.11.1 declares torch>=2.11 while its Linux library needs symbols torch exports from 2.13.0 on",
    fix="rebuild from the lock (`nox -s verify`), whose pairs `nox -s wheels` proves symbol by symbol; "
    "outside it, the release built for your torch, or a torch that defines the symbol",
)
def torch_extensions(f: dict[str, Any]) -> Finding | None:
    t = f.get("torch")
    # Facts recorded before doctor loaded the extensions have none.
    if t is None or t["import_error"] or not t.get("extensions"):
        return None
    installed = {name: e for name, e in sorted(t["extensions"].items()) if e is not None}
    if not installed:
        return None
    broken = [(name, e) for name, e in installed.items() if e["load_error"]]
    if not broken:
        names = " and ".join(f"{name} {e['version']}" for name, e in installed.items())
        return Finding("torch-extensions", "ok", f"{names} load with torch {t['version']}")
    name, e = broken[0]
    missing = MISSING_SYMBOL.search(e["load_error"])
    return Finding(
        "torch-extensions",
        "fail",
        f"{name} {e['version']} does not load with torch {t['version']}: `import {name}` fails",
        f"its {e['library']} needs `{missing.group(1)}`, which torch {t['version']} does not define: "
        f"{name} {e['version']} was built against another torch"
        if missing
        else f"loading its {e['library']} failed: {first_line(e['load_error'])}",
        "rebuild the environment from the lock (`nox -s verify`), whose pairs `nox -s wheels` proves; "
        f"outside the lock, install the {name} release built for torch {t['version']}, or a torch that "
        "defines that symbol (docs/mac.md)",
    )


@rule(
    "torch-cuda",
    symptom="torch runs on CPU beside GPUs",
    cause='CPU-only torch; a driver too old for CUDA 12.8 ("found version 11040"); driver older than the '
    "toolkit (warn)",
    fix="the locked CUDA wheel; driver >= 525, better one whose CUDA >= 12.8",
)
def torch_cuda(f: dict[str, Any]) -> Finding | None:
    t, n = f.get("torch"), f.get("nvidia")
    if t is None or t["import_error"] or n is None:
        return None
    gpus = n["gpus"]
    if t["cuda"] is None:
        if gpus:
            return Finding(
                "torch-cuda",
                "fail",
                f"torch {t['version']} is a CPU-only build on a machine with {len(gpus)} NVIDIA GPU(s)",
                "a CPU-only wheel (from the CPU index, or conda's cpu build) never uses the GPU",
                "install the lock (`nox -s verify`: PyPI's Linux wheel is the CUDA 12.8 build) or "
                "`pip install torch --index-url https://download.pytorch.org/whl/cu128`",
            )
        return Finding(
            "torch-cuda", "ok", f"torch {t['version']} is CPU-only; this machine has no NVIDIA GPU"
        )
    built = version(t["cuda"])
    if not gpus:
        return Finding(
            "torch-cuda",
            "warn",
            f"torch {t['version']} is a CUDA {t['cuda']} build but no NVIDIA GPU is usable",
            "it runs on the CPU here; the same environment uses the GPUs on a machine with a driver",
            "nothing, on a CPU-only machine; otherwise fix rule nvidia-driver first",
        )
    driver = version(n["driver_version"])
    floor = MIN_DRIVER_FOR_CUDA_MAJOR.get(built[0]) if built else None
    if floor and driver and driver[0] < floor:
        return Finding(
            "torch-cuda",
            "fail",
            f"NVIDIA driver {n['driver_version']} (CUDA up to {n['driver_cuda_version']}) is too old for "
            f"torch's CUDA {t['cuda']}",
            f"CUDA {built[0]}.x builds need driver >= {floor}; torch says: "
            f"{t['cuda_warning'] or 'CUDA is not available'}",
            f"upgrade the NVIDIA driver to >= {floor} (better: one whose CUDA is >= {t['cuda']}) and reboot",
        )
    seen = len(t["devices"])
    if seen == 0:
        return Finding(
            "torch-cuda",
            "fail",
            f"nvidia-smi lists {len(gpus)} GPU(s) but torch {t['version']} (CUDA {t['cuda']}) sees none",
            f"torch says: {t['cuda_warning'] or 'nothing (CUDA_VISIBLE_DEVICES may hide them)'}",
            "check CUDA_VISIBLE_DEVICES, then `python -c 'import torch; torch.cuda.init()'` for the error",
        )
    driver_cuda = version(n["driver_cuda_version"])
    if driver_cuda and built and driver_cuda[:2] < built[:2]:
        return Finding(
            "torch-cuda",
            "warn",
            f"torch's CUDA {t['cuda']} is newer than the driver's CUDA {n['driver_cuda_version']}",
            "it runs through CUDA minor-version compatibility, but kernels that need a newer driver (PTX "
            "JIT) fail with 'the provided PTX was compiled with an unsupported toolchain'",
            f"upgrade the driver to one whose CUDA is >= {t['cuda']}",
        )
    names = ", ".join(d["name"] for d in t["devices"])
    partial = f" of the {len(gpus)} nvidia-smi lists" if seen < len(gpus) else ""
    return Finding(
        "torch-cuda",
        "ok",
        f"torch {t['version']} (CUDA {t['cuda']}) sees {seen} GPU(s){partial}: {names}",
    )


# --- errors the user's own program printed (the error_text fact) --------------------------------------
#
# The texts are torch's own, read from pytorch/pytorch's source and checked against the strings in the
# macOS arm64 wheels' torch/lib/libtorch_cpu.dylib of torch 2.8.0 (the `torch` lock) and 2.15.0 (the newest,
# `torch-current`), which hold the same texts (`unzip` the wheel, `strings libtorch_cpu.dylib | grep MPS`):
# - aten/src/ATen/mps/MPSFallback.mm: mps_error_fallback raises "The operator '<op>' is not currently
#   implemented for the MPS device. ..." (NotImplementedError); mps_fallback warns once "The operator '<op>'
#   is not currently supported on the MPS backend and will fall back to run on the CPU. This may have
#   performance implications." and runs the op through at::native::cpu_fallback (its tensors copied to the
#   CPU, the results back), as it always does for a few ops (linalg_svd, col2im, ...). Which of the two
#   is registered is decided by `TORCH_LIBRARY_IMPL(_, MPS, m) { static const char* enable_mps_fallback =
#   getenv("PYTORCH_ENABLE_MPS_FALLBACK"); ... }`: a static registration, run once while `import torch`
#   loads libtorch_cpu, so setting os.environ after the import changes nothing.
# - aten/src/ATen/mps/MPSAllocator.mm (alloc_buffer_block): "MPS backend out of memory (MPS allocated: A,
#   other allocations: B, max allowed: C). Tried to allocate D on private|shared pool. Use
#   PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for memory allocations (may cause system
#   failure)." (RuntimeError; without "max allowed" when the ratio is 0.0). MPSAllocator.h: the limit is
#   ratio x device.recommendedMaxWorkingSetSize ("typically 75% of the total system memory"), the ratio
#   defaults to 1.7 and may be at most 2.0; 0.0 disables it "(may cause system failure if system-wide OOM
#   occurs)". init_allocator reads the variable once, when the allocator starts.
# - aten/src/ATen/mps/EmptyTensor.cpp: "Cannot convert a MPS Tensor to float64 dtype as the MPS framework
#   doesn't support float64. Please use float32 instead." and native/mps/OperationUtils.mm: "Cannot convert
#   a float64 Tensor to MPS as the MPS framework doesn't support float64. Please use float32 instead."
#   (both TypeError).
# - c10/cuda/CUDACachingAllocator.cpp (Linux wheels' libc10_cuda.so, 2.8.0 and 2.15.0): "CUDA out of memory.
#   Tried to allocate X. GPU N has a total capacity of T of which F is free. ... R is reserved by PyTorch
#   but unallocated. If reserved but unallocated memory is large try setting
#   PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation." (torch.OutOfMemoryError);
#   older releases: "(GPU N; T total capacity; A already allocated; F free; ...)".
# The C string literals torch assembles those messages from, each a whole string in its binaries (the
# same in torch 2.8.0 and 2.15.0): CUDA builds' torch/lib/libc10_cuda.so, macOS builds' libtorch_cpu.dylib.
# tests/env/test_doctor.py finds them in the torch it runs with; tests/unit assemble messages from them as
# torch does and replay them through the rules.
LITERALS = {
    "mps-unsupported-op": ("libtorch_cpu", (
        "The operator '", "' is not currently implemented ",
        "for the MPS device. If you want this op to be considered for addition ",
        "' is not currently supported ", "on the MPS backend and will fall back to run on the CPU.",
        " This may have performance implications.",
    )),
    "mps-out-of-memory": ("libtorch_cpu", (
        "MPS backend out of memory (MPS allocated: ", ", other allocations: ", ", max allowed: ",
        "). Tried to allocate ", " pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper limit for "
        "memory allocations (may cause system failure).",
    )),
    "mps-float64": ("libtorch_cpu", (
        "Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64. "
        "Please use float32 instead.",
        "Cannot convert a float64 Tensor to MPS as the MPS framework doesn't support float64. Please use "
        "float32 instead.",
    )),
    "cuda-out-of-memory": ("libc10_cuda", (
        "CUDA out of memory. Tried to allocate ", " has a total capacity of ", " of which ", " is free. ",
        " is reserved by PyTorch but unallocated.",
    )),
}  # fmt: skip
MPS_OP_MISSING = re.compile(  # torch 1.12-1.13 said "not current implemented" (invoke-ai/InvokeAI#262)
    r"The operator '(?P<op>[^']+)' is\s+not\s+current(?:ly)?\s+implemented\s+for\s+the\s+MPS\s+device"
)
MPS_OP_ON_CPU = re.compile(
    r"The operator '(?P<op>[^']+)' is\s+not\s+currently\s+supported\s+on\s+the\s+MPS\s+backend\s+and\s+"
    r"will\s+fall\s+back\s+to\s+run\s+on\s+the\s+CPU"
)
MPS_OOM = re.compile(
    rf"MPS backend out of memory \(MPS allocated: (?P<allocated>{SIZE}),\s+other allocations: "
    rf"(?P<other>{SIZE})(?:,\s+max allowed: (?P<limit>{SIZE}))?\)\.\s+Tried to allocate "
    rf"(?P<request>{SIZE}) on (?P<pool>shared|private) pool"
)
MPS_FLOAT64 = re.compile(
    r"Cannot convert a MPS Tensor to float64 dtype|Cannot convert a float64 Tensor to MPS"
)
CUDA_OOM = re.compile(rf"CUDA out of memory\.\s+Tried to allocate (?P<request>{SIZE})")
CUDA_OOM_GPU = re.compile(  # the two formats: today's (some releases printed "capacty"), and the older one
    rf"GPU (?P<gpu>\d+) has a total capac\w* of (?P<total>{SIZE}) of which (?P<free>{SIZE}) is free"
    rf"|\(GPU (?P<gpu_old>\d+); (?P<total_old>{SIZE}) total capacity; {SIZE} already allocated; "
    rf"(?P<free_old>{SIZE}) free"
)
CUDA_OOM_RESERVED = re.compile(rf"(?P<reserved>{SIZE}) is reserved by PyTorch but unallocated")


def _ops(pattern: re.Pattern[str], text: str) -> tuple[list[str], re.Match[str] | None]:
    """The distinct operators a pattern names in the text, in order, and its first match."""
    found = list(pattern.finditer(text))
    return list(dict.fromkeys(m["op"] for m in found)), (found[0] if found else None)


# A Python warning's first line: "path/to/file.py:103: UserWarning: ...".
WARNING_AT = re.compile(r"(?P<file>[^\s:]+):(?P<line>\d+): \w*Warning: ")


def _warned_at(text: str, pos: int) -> str:
    """' (warned at file:line)' where the warning's line starts with Python's location, else ""."""
    start = text.rfind("\n", 0, pos) + 1
    m = WARNING_AT.match(text, start)
    return f" (warned at {m['file'].rsplit('/', 1)[-1]}:{m['line']})" if m and m.end() <= pos else ""


def _named(ops: list[str]) -> str:
    return ", ".join(f"`{op}`" for op in ops)


FALLBACK_COST = (
    "the fallback runs the op on the CPU: each call copies its input tensors from the GPU to the CPU and "
    "its results back (at::native::cpu_fallback)"
)


@rule(
    "mps-unsupported-op",
    symptom="`NotImplementedError: The operator 'aten::…' is not currently implemented for the MPS device`; "
    "or, with the fallback on, `UserWarning: The operator 'aten::…' is not currently supported on the MPS "
    "backend and will fall back to run on the CPU. This may have performance implications.`",
    cause="torch has no MPS kernel for that op; `PYTORCH_ENABLE_MPS_FALLBACK=1` runs it on the CPU instead, "
    "but only if set before `import torch` (torch reads it once, while the import registers the MPS "
    "fallback: aten/src/ATen/mps/MPSFallback.mm)",
    fix="`PYTORCH_ENABLE_MPS_FALLBACK=1 python train.py`; it costs a copy to the CPU and back on each call "
    "of that op. Which ops of your step lack a kernel in each torch, before a Mac runs it: `nox -s audit` "
    "(docs/audit.md)",
    error=True,
)
def mps_unsupported_op(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    missing, first = _ops(MPS_OP_MISSING, text)
    on_cpu, warned = _ops(MPS_OP_ON_CPU, text)
    if missing and first is not None:  # _ops returns a match whenever it found an op
        meaning = (
            "torch has no MPS kernel for it, and PYTORCH_ENABLE_MPS_FALLBACK=1 was not set when the "
            f"program imported torch; with it, {FALLBACK_COST}, so the step is slower but runs"
        )
        if f["env_vars"].get("PYTORCH_ENABLE_MPS_FALLBACK") == "1":
            meaning += (
                ". PYTORCH_ENABLE_MPS_FALLBACK=1 is set where doctor ran, yet your program raised this: it "
                "did not have it at `import torch` (set through os.environ after the import, which torch "
                "never reads again; or started from an IDE, a notebook kernel or another shell without it)"
            )
        return Finding(
            "mps-unsupported-op",
            "fail",
            f"torch has no MPS kernel for {_named(missing)}: NotImplementedError"
            + raised_at(text, first.start()),
            meaning,
            "start the program with it set: `PYTORCH_ENABLE_MPS_FALLBACK=1 python train.py` (or `export "
            "PYTORCH_ENABLE_MPS_FALLBACK=1` first; in Python, `os.environ['PYTORCH_ENABLE_MPS_FALLBACK'] = "
            "'1'` only above the first `import torch`; in Jupyter, set it and restart the kernel); in a "
            "training loop, better replace the op or move that step to the CPU yourself; a newer torch may "
            "have the kernel (pytorch/pytorch#141287 tracks the missing ones): `nox -s audit -- --step "
            "MODULE:FUNCTION` lists every op of your step that has none, for each torch environment, on any "
            "machine (docs/audit.md)",
        )
    if on_cpu and warned is not None:
        return Finding(
            "mps-unsupported-op",
            "warn",
            f"{_named(on_cpu)} runs on the CPU: torch warned it will fall back"
            + (raised_at(text, warned.start()) or _warned_at(text, warned.start())),
            "torch has no MPS kernel for it and runs it on the CPU (with PYTORCH_ENABLE_MPS_FALLBACK=1, or "
            f"always for the few ops torch itself sends there, e.g. `aten::linalg_svd`); {FALLBACK_COST}",
            "fine for an op called now and then; in a training loop, replace it with ops MPS has or move "
            "that step to the CPU yourself, and time both",
        )
    return None


@rule(
    "mps-out-of-memory",
    symptom="`RuntimeError: MPS backend out of memory (MPS allocated: …, other allocations: …, max allowed: "
    "…). Tried to allocate … on private pool. Use PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 to disable upper "
    "limit for memory allocations (may cause system failure).`",
    cause="the allocation would pass the limit: PYTORCH_MPS_HIGH_WATERMARK_RATIO (default 1.7) x Metal's "
    "recommendedMaxWorkingSetSize (about 75% of RAM), RAM the GPU shares with macOS "
    "(aten/src/ATen/mps/MPSAllocator.h)",
    fix="smaller batches, `torch.mps.empty_cache()`; `PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0` lifts the limit "
    "but can make macOS swap or freeze",
    error=True,
)
def mps_out_of_memory(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    m = MPS_OOM.search(text)
    if m is None:
        return None
    limit = f", limit (max allowed) {m['limit']}" if m["limit"] else ", no limit set"
    summary = (
        f"MPS ran out of memory asking for {m['request']} ({m['pool']} pool): torch's MPS heaps hold "
        f"{m['allocated']}, other Metal allocations of the process {m['other']}{limit}"
        + raised_at(text, m.start())
    )
    if size_bytes(m["allocated"]) == 0 and size_bytes(m["other"]) == 0:
        return Finding(
            "mps-out-of-memory",
            "fail",
            summary,
            "nothing was allocated yet and a small request failed: this is no full memory but a Metal "
            "device that cannot allocate, as in a virtual machine or a hosted CI runner (GitHub's macOS "
            "runners do not support MPS)",
            "run on the Mac itself; in CI, test on the CPU (`device='cpu'`)",
        )
    if m["limit"]:
        meaning = (
            "the allocation would pass the limit torch sets: PYTORCH_MPS_HIGH_WATERMARK_RATIO (default 1.7, "
            "at most 2.0) times Metal's recommendedMaxWorkingSetSize, about 75% of RAM; the GPU shares that "
            "RAM with macOS and every other program"
        )
    else:
        meaning = (
            "PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0 had already lifted torch's limit: the Mac itself had no "
            "memory left for the request"
        )
    fix = (
        "use smaller batches (halve the batch size; gradient accumulation keeps the effective batch); keep "
        "no references you do not need (log `loss.item()`, not `loss`; `with torch.no_grad()` for "
        "evaluation); call `torch.mps.empty_cache()` between phases; float16 where accuracy allows"
    )
    if m["limit"]:
        fix += (
            "; last resort: `PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0` exported before starting Python (torch "
            "reads it once, when its MPS allocator starts; in the program: "
            "`torch.mps.set_per_process_memory_fraction(0.0)`) lifts the limit, and past the RAM macOS "
            "swaps and the whole system can freeze (torch: 'may cause system failure')"
        )
    return Finding("mps-out-of-memory", "fail", summary, meaning, fix)


@rule(
    "mps-float64",
    symptom="`TypeError: Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support "
    "float64. Please use float32 instead.` (or `Cannot convert a float64 Tensor to MPS …`)",
    cause="MPS has no float64; NumPy arrays are float64 by default, and `torch.from_numpy` keeps that "
    "(aten/src/ATen/mps/EmptyTensor.cpp)",
    fix="float32 before the GPU: `.float()`, `torch.from_numpy(a.astype(np.float32))`, "
    "`torch.set_default_dtype(torch.float32)`",
    error=True,
)
def mps_float64(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    m = MPS_FLOAT64.search(text)
    if m is None:
        return None
    line = text[text.rfind("\n", 0, m.start()) + 1 :].split("\n", 1)[0].strip()
    return Finding(
        "mps-float64",
        "fail",
        f"a float64 tensor was to go to MPS: {line}" + raised_at(text, m.start()),
        "MPS has no float64, so torch refuses to make an MPS tensor of it; the float64 usually comes from "
        "NumPy (its arrays are float64 unless told otherwise, and `torch.from_numpy` / `torch.tensor` keep "
        "that), from `.double()` or `dtype=torch.float64` in the code, or from a library doing so",
        "make it float32 before it reaches the GPU: `t.float().to('mps')`, "
        "`torch.from_numpy(a.astype(np.float32))`, `model.float()` before `model.to('mps')`; where the "
        "program set float64 as the default: `torch.set_default_dtype(torch.float32)`; keep a step that "
        "needs float64 on the CPU",
    )


@rule(
    "cuda-out-of-memory",
    symptom="`torch.OutOfMemoryError: CUDA out of memory. Tried to allocate … GPU 0 has a total capacity of "
    "… of which … is free.`",
    cause="the GPU's memory is full: this process's tensors, torch's cache (fragmented: 'reserved but "
    "unallocated'), other processes on that GPU",
    fix="smaller batches; `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` against fragmentation; "
    "`nvidia-smi` for other processes",
    error=True,
)
def cuda_out_of_memory(f: dict[str, Any]) -> Finding | None:
    text = error_text(f)
    m = CUDA_OOM.search(text)
    if m is None:
        return None
    after = text[m.end() : m.end() + 1000]  # the rest of the same message
    gpu_m, reserved_m = CUDA_OOM_GPU.search(after), CUDA_OOM_RESERVED.search(after)
    where = ""
    if gpu_m:
        gpu, total, free = (gpu_m["gpu"] or gpu_m["gpu_old"], gpu_m["total"] or gpu_m["total_old"],
                            gpu_m["free"] or gpu_m["free_old"])  # fmt: skip
        where = f" on GPU {gpu}: {free} free of {total}"
    summary = f"CUDA ran out of memory asking for {m['request']}{where}" + raised_at(text, m.start())
    meaning = (
        "the GPU's memory is full: this process's tensors and torch's cache of freed blocks, plus any other "
        "process on the same GPU (`nvidia-smi` lists them)"
    )
    fix = (
        "use smaller batches (gradient accumulation keeps the effective batch); keep no references you do "
        "not need (`loss.item()`, `with torch.no_grad()` for evaluation); stop other processes on that GPU"
    )
    reserved = reserved_m["reserved"] if reserved_m else None
    if reserved and size_bytes(reserved) >= size_bytes(m["request"]):
        meaning += (
            f"; {reserved} is reserved by torch but unallocated, more than the request: the cache is "
            "fragmented into blocks too small for it"
        )
    fix += (
        "; against fragmentation, start the program with `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`"
        " (set in the shell, before Python starts)"
    )
    return Finding("cuda-out-of-memory", "fail", summary, meaning, fix)


RULES = (
    torch_import, torch_macos_wheel, torch_mps, torch_cuda, torch_extensions,
    mps_unsupported_op, mps_out_of_memory, mps_float64, cuda_out_of_memory,
)  # fmt: skip
