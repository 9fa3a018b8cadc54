"""Which ATen ops have an MPS kernel in a torch release, read from that release's own files.

The source is the `native_functions.yaml` that torch ships inside its wheel (torchgen/packaged/ATen/native/),
the file the build generated its kernel registrations from (RegisterMPS.cpp), read with the torchgen that
ships beside it: the same parser and the same dispatch rules the build used, not a copy of them. Nothing
here imports torch itself, only torchgen and PyYAML, so a release's yaml can be judged from any Python that
has them; the Linux and macOS wheels of a release ship the same yaml byte for byte (tools/mac/mps_binary.py
shows it, and confirms each verdict against the `wrapper_MPS_*` kernels compiled into the macOS wheel).

A verdict is about the op that the MPS error would name:
- "kernel": the yaml gives it an MPS kernel, itself or through its `structured_delegate` (a structured
  functional or in-place op runs the MPS kernel of its out= variant);
- "composite": no MPS kernel, but a CompositeExplicitAutograd(NonFunctional) or CompositeImplicitAutograd
  one, which runs on every backend by calling other ops (the audit records what those call);
- "missing": neither. On a Mac, the op raises `NotImplementedError: The operator 'aten::NAME.OVERLOAD' is
  not currently implemented for the MPS device` unless PYTORCH_ENABLE_MPS_FALLBACK=1 sends it to the CPU,
  or, for the few ops that aten/src/ATen/mps/MPSFallback.mm registers outside the yaml, always runs on the
  CPU (CPU_FALLBACK_OPS below).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# MPS registrations made outside the yaml, by aten/src/ATen/mps/MPSFallback.mm's
# TORCH_LIBRARY_IMPL(aten, MPS, m): each is a CPU fallback (mps_fallback, which copies to the CPU, runs there
# and copies back) with no error, and `_slow_conv2d_forward` a stub that only asserts (called only when a
# tensor is on the CPU and the other on MPS). Read from pytorch/pytorch at commit 035290b77d8b (the public
# snapshot the audit was built against; docs/audit.md cites it; the snapshot of each release's tag was too
# large to fetch here). An op with an MPS kernel in the yaml is judged by the yaml (see judge_all).
CPU_FALLBACK_OPS = frozenset(
    ["embedding_renorm_", "linalg_svd", "linalg_svd.U", "col2im", "upsample_nearest3d.vec"]
)
RAISING_STUB_OPS = frozenset(["_slow_conv2d_forward"])
MPS_FALLBACK_SOURCE = (
    "https://github.com/pytorch/pytorch/blob/035290b77d8b4bd106cf5f9a728516d4335d5a42/"
    "aten/src/ATen/mps/MPSFallback.mm"
)
# Ops that exist because the CPU was chosen: a composite op (lstm, scaled_dot_product_attention) looks at its
# tensors' device and calls a CPU-only kernel here, another op on MPS. The recorder sees the CPU's choice, so
# the verdict is that of the ops MPS would run instead (each all the way from its own yaml entry).
_SDPA = (
    "scaled_dot_product_attention takes its CPU flash kernel for CPU tensors; on MPS it runs "
    "_scaled_dot_product_attention_math_for_mps, or with gradients the math decomposition into bmm and "
    "softmax (aten/src/ATen/native/transformers/attention.cpp)"
)
_LSTM = "lstm() calls _lstm_mps for MPS tensors, mkldnn_rnn_layer for CPU ones (aten/src/ATen/native/RNN.cpp)"
CPU_CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "_scaled_dot_product_flash_attention_for_cpu": (
        ("_scaled_dot_product_attention_math_for_mps", "bmm", "_softmax"),
        _SDPA,
    ),
    "_scaled_dot_product_flash_attention_for_cpu_backward": (("bmm", "_softmax_backward_data"), _SDPA),
    "mkldnn_rnn_layer": (("_lstm_mps",), _LSTM),
    "mkldnn_rnn_layer_backward": (("lstm_mps_backward",), _LSTM),
}
KERNEL, COMPOSITE, MISSING = "kernel", "composite", "missing"
# Bump when the cached table's shape changes.
TABLE_VERSION = 3


class YamlError(Exception):
    """The release's yaml cannot be read; the message is one line naming the file and what to do."""


@dataclass(frozen=True)
class OpFacts:
    """What one op (`name.overload`, or `name` for the default overload) gets on MPS."""

    mps: str  # kernel | composite | missing
    why: str  # the yaml's reason, e.g. "MPS kernel via structured_delegate add.out"
    wrapper: str | None  # the MPS kernel's wrapper function in RegisterMPS.cpp, for the binary check
    cpu_fallback: bool = False  # MPSFallback.mm registers a CPU fallback: it never raises, always slow
    via: list[str] | None = None  # a CPU-only choice (CPU_CHOICES): the ops MPS runs in its place
    # missing, with a CPU kernel and no CUDA one: possibly a CPU backend's own choice that CPU_CHOICES does
    # not know yet (MPS would then run another op); the report says so
    cpu_only: bool = False


def yaml_files(torchgen_dir: Path) -> tuple[Path, Path]:
    """native_functions.yaml and tags.yaml of the torchgen package folder given."""
    native = torchgen_dir / "packaged" / "ATen" / "native"
    return native / "native_functions.yaml", native / "tags.yaml"


def installed_torchgen() -> Path:
    """The folder of the torchgen this Python imports (it ships in the torch wheel)."""
    try:
        import torchgen
    except ImportError as exc:
        raise YamlError(
            f"expected torchgen (it ships in the torch wheel) to read native_functions.yaml, got {exc}: "
            "run the audit in a torch environment"
        ) from None
    return Path(torchgen.__file__).parent


def _wrapper_names(f: Any, mps_index: Any, delegate: Any) -> str:
    """The name torchgen gives the MPS wrapper of f in RegisterMPS.cpp (torchgen/dest/
    register_dispatch_key.py): unstructured kernels are `wrapper_MPS_<overload>_<dispatcher name>`,
    structured ones `wrapper_MPS_<native name>` (the functional, in-place and out= of a structured group)."""
    from torchgen.api.types import DispatcherSignature, NativeSignature

    structured = f.structured or delegate is not None
    if structured:
        kern = mps_index.get_kernel(f if f.structured else delegate)
        return str(
            NativeSignature(
                f.func, prefix="wrapper_MPS_", symint=bool(kern and kern.supports_symint())
            ).name()
        )
    prefix = f"wrapper_MPS_{f.func.name.overload_name}_"
    return str(DispatcherSignature.from_schema(f.func, prefix=prefix, symint=False).name())


def judge_all(torchgen_dir: Path) -> dict[str, OpFacts]:
    """`name.overload` -> OpFacts for every op of the release's yaml (autogenerated variants included)."""
    try:
        from torchgen.gen import parse_native_yaml
        from torchgen.model import DispatchKey
    except ImportError as exc:  # torchgen imports PyYAML, which the torch wheel does not require
        raise YamlError(
            f"expected torchgen and PyYAML to read native_functions.yaml, got {exc}: "
            "`pip install pyyaml` (`nox -s audit` brings it)"
        ) from None
    native, tags = yaml_files(torchgen_dir)
    if not native.is_file():
        raise YamlError(f"expected {native} (shipped in the torch wheel), got no such file: reinstall torch")
    parsed = parse_native_yaml(str(native), str(tags))
    backends = parsed.backend_indices
    mps = backends[DispatchKey.MPS]
    by_name = {f.func.name: f for f in parsed.native_functions}
    table: dict[str, OpFacts] = {}
    for f in parsed.native_functions:
        name = str(f.func.name)
        delegate = by_name.get(f.structured_delegate) if f.structured_delegate else None
        # The yaml's MPS kernel first: the fallback list is from an older snapshot (col2im has had a kernel
        # since, compiled as wrapper_MPS__col2im in 2.8.0 and 2.15.0), and a release cannot register both.
        if mps.has_kernel(f):
            table[name] = OpFacts(KERNEL, "MPS kernel", _wrapper_names(f, mps, None))
        elif delegate is not None and mps.has_kernel(delegate):
            why = f"MPS kernel via structured_delegate {f.structured_delegate}"
            table[name] = OpFacts(KERNEL, why, _wrapper_names(f, mps, delegate))
        elif name in CPU_FALLBACK_OPS:
            table[name] = OpFacts(MISSING, "MPSFallback.mm registers a CPU fallback", None, cpu_fallback=True)
        elif name in RAISING_STUB_OPS:
            table[name] = OpFacts(MISSING, "MPSFallback.mm registers a stub that only raises", None)
        elif f.has_composite_explicit_autograd_kernel:
            table[name] = OpFacts(COMPOSITE, "CompositeExplicitAutograd", None)
        elif f.has_composite_explicit_autograd_non_functional_kernel:
            table[name] = OpFacts(COMPOSITE, "CompositeExplicitAutogradNonFunctional", None)
        elif f.has_composite_implicit_autograd_kernel:
            table[name] = OpFacts(COMPOSITE, "CompositeImplicitAutograd", None)
        else:
            cpu_only = backends[DispatchKey.CPU].has_kernel(f) and not backends[DispatchKey.CUDA].has_kernel(
                f
            )
            table[name] = OpFacts(MISSING, "no MPS kernel in native_functions.yaml", None, cpu_only=cpu_only)
    for name, (instead, why) in CPU_CHOICES.items():
        if name in table and all(op in table for op in instead):
            verdicts = {table[op].mps for op in instead}
            worst = next(v for v in (MISSING, COMPOSITE, KERNEL) if v in verdicts or v == KERNEL)
            table[name] = OpFacts(worst, f"the CPU's own choice: {why}", None, via=list(instead))
    return table


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_dir() -> Path:
    """A user-level cache (like the wheel cache): the table is keyed by the yaml's sha256 and this code."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "gpuenv" / "mps-ops"


def table_for(torchgen_dir: Path, cache: Path | None = None) -> tuple[dict[str, OpFacts], str]:
    """(the verdict table, the yaml's sha256), remembered per yaml so a rerun skips torchgen's parse."""
    native, _tags = yaml_files(torchgen_dir)
    if not native.is_file():
        raise YamlError(f"expected {native} (shipped in the torch wheel), got no such file: reinstall torch")
    digest = sha256(native)
    folder = cache or cache_dir()
    key = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    path = folder / f"v{TABLE_VERSION}-{digest[:16]}-{key}.json.gz"
    try:
        with gzip.open(path, "rt") as f:
            return {k: OpFacts(**v) for k, v in json.load(f).items()}, digest
    except (OSError, ValueError, TypeError):  # none yet or unreadable: only a cache, computed again
        pass
    table = judge_all(torchgen_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with gzip.open(tmp, "wt") as f:
            json.dump({k: asdict(v) for k, v in table.items()}, f)
        tmp.replace(path)
    except OSError:  # a read-only home: the audit still runs, only slower next time
        pass
    return table, digest


def verdict(table: dict[str, OpFacts], op: str) -> OpFacts | None:
    """The facts for `aten::name.overload` (or `name.overload`); None for an op the yaml does not have
    (another namespace, or an op registered only in C++)."""
    name = op.split("::", 1)[1] if op.startswith("aten::") else op
    return table.get(name)
