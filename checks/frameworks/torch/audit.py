"""Run a training step on the CPU and record every ATen op that reaches a backend kernel, for the MPS audit.

The recorder is a TorchDispatchMode (torch.utils._python_dispatch): it sees each call after autograd and
after CompositeImplicitAutograd decompositions, i.e. the ops a backend must have a kernel for, with the
dtypes and shapes of their tensors and the CPU time each call took. What the ops get on MPS is
checks/core/mps_ops.py's verdict from the release's own native_functions.yaml; checks/audit.py is the command.

A step is either the user's zero-argument function (`--step MODULE:FUNCTION`) or one the audit builds from
a model factory and input shapes (`--model MODULE:FACTORY --input SHAPE[:DTYPE]`): forward, a loss
(cross-entropy for a (batch, classes) output, else the mean), backward and one SGD step.
"""

from __future__ import annotations

import importlib
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# dtypes MPS refuses or limits (torch's MPS backend; docs/audit.md cites each).
FLOAT64 = torch.float64
COMPLEX = (torch.complex64, torch.complex128, torch.complex32)
BFLOAT16_MACOS = (14, 0)  # MPS has bfloat16 from macOS 14 (Sonoma) on
DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool",
        "complex64",
    )
}  # fmt: skip


class AuditError(Exception):
    """What the user named cannot be audited; the message is the one line to print."""


@dataclass
class OpRecord:
    """Every call of one op in the step."""

    op: str  # "aten::name.overload" as torch prints it ("aten::relu" for the default overload)
    calls: int = 0
    seconds: float = 0.0
    dtypes: set[str] = field(default_factory=set)


@dataclass
class DtypeFinding:
    dtype: str
    op: str
    shape: list[int]


def _tensors(value: Any) -> list[torch.Tensor]:
    found: list[torch.Tensor] = []
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.extend(_tensors(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(_tensors(item))
    return found


class Recorder(TorchDispatchMode):
    """Counts, times and types every op call that reaches a kernel while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[str, OpRecord] = {}
        self.dtype_findings: dict[tuple[str, str], DtypeFinding] = {}
        self.devices: set[str] = set()

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        start = time.perf_counter()
        out = func(*args, **kwargs)
        elapsed = time.perf_counter() - start
        name = func.name()
        record = self.ops.get(name) or self.ops.setdefault(name, OpRecord(name))
        record.calls += 1
        record.seconds += elapsed
        for tensor in _tensors(args) + _tensors(kwargs) + _tensors(out):
            dtype = str(tensor.dtype).removeprefix("torch.")
            record.dtypes.add(dtype)
            self.devices.add(tensor.device.type)
            if tensor.dtype == FLOAT64 or tensor.dtype in COMPLEX or tensor.dtype == torch.bfloat16:
                self.dtype_findings.setdefault((dtype, name), DtypeFinding(dtype, name, list(tensor.shape)))
        return out


# ---- what the user named ------------------------------------------------------------------------------


def _where(exc: BaseException) -> str:
    """The innermost frame of the user's code (not torch's, not ours) that the exception passed through."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = Path(__file__).parent
    theirs = [f for f in frames if "site-packages" not in f.filename and Path(f.filename).parent != mine]
    found = theirs or list(frames)
    return f" at {Path(found[-1].filename).name}:{found[-1].lineno}" if found else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def resolve(spec: str, what: str) -> Callable[..., Any]:
    """MODULE:NAME -> the object, imported from the repository root (the current folder)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise AuditError(f"expected {what} as MODULE:NAME (e.g. myproject.train:audit_step), got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of the user's module is one line
        raise AuditError(
            f"expected module {module_name!r} to import (from {Path.cwd()}), got {_first_line(exc)}"
            f"{_where(exc)}: fix the import or run from the folder that holds it"
        ) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise AuditError(f"expected {module_name} to define {attr!r}, got no such name: check {spec}")
        target = getattr(target, part)
    if not callable(target):
        raise AuditError(f"expected {spec} to be a function, got a {type(target).__name__}")
    return target


_SHAPE = re.compile(r"^\d+(,\d+)*$")


def parse_input(text: str) -> tuple[list[int], torch.dtype]:
    """'8,3,224,224' or '4,128:int64' -> (shape, dtype)."""
    shape_text, _, dtype_text = text.partition(":")
    usage = "comma-separated sizes with an optional :DTYPE (e.g. 8,3,224,224 or 4,128:int64)"
    if not _SHAPE.match(shape_text.replace(" ", "")) or any(int(s) == 0 for s in shape_text.split(",")):
        raise AuditError(f"expected --input as {usage}, got {text!r}")
    dtype_name = dtype_text or "float32"
    if dtype_name not in DTYPES:
        raise AuditError(f"expected --input's dtype to be one of {', '.join(DTYPES)}, got {dtype_name!r}")
    return [int(s) for s in shape_text.split(",")], DTYPES[dtype_name]


def _make_input(shape: list[int], dtype: torch.dtype) -> torch.Tensor:
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, dtype=dtype)
    if dtype == torch.bool:
        return torch.zeros(shape, dtype=dtype)
    return torch.randint(0, 2, shape, dtype=dtype)  # small indices: valid for any embedding table


def _first_tensor(value: Any) -> torch.Tensor | None:
    found = _tensors(value)
    return found[0] if found else None


def model_step(factory_spec: str, inputs: list[str]) -> Callable[[], None]:
    """A training step for FACTORY's model on random inputs of the given shapes: forward, cross-entropy
    (a (batch, classes) float output) or mean loss, backward, one SGD step."""
    if not inputs:
        raise AuditError("expected at least one --input SHAPE[:DTYPE] with --model, got none")
    parsed = [parse_input(text) for text in inputs]
    factory = resolve(factory_spec, "--model")
    torch.manual_seed(0)
    try:
        model = factory()
    except Exception as exc:
        raise AuditError(
            f"expected {factory_spec}() to build a model, got {_first_line(exc)}{_where(exc)}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise AuditError(
            f"expected {factory_spec}() to return a torch.nn.Module, got a {type(model).__name__}: name a "
            "model factory (e.g. torchvision.models:resnet50), or audit your own step with --step"
        )
    tensors = [_make_input(shape, dtype) for shape, dtype in parsed]
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)

    def step() -> None:
        out = _first_tensor(model(*tensors))
        if out is None or not out.is_floating_point():
            raise AuditError(
                f"expected {factory_spec}()'s model to return a float tensor, got {type(out).__name__}"
            )
        if out.dim() == 2 and out.shape[1] > 1:
            target = torch.randint(
                0, out.shape[1], (out.shape[0],), generator=torch.Generator().manual_seed(0)
            )
            loss = torch.nn.functional.cross_entropy(out, target)
        else:
            loss = out.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def user_step(spec: str) -> Callable[[], None]:
    step = resolve(spec, "--step")
    return lambda: step()


_CUDA_WORDS = ("cuda", "nvidia driver", "cudnn", "nccl")


def run_recorded(step: Callable[[], None], label: str) -> tuple[Recorder, float]:
    """Run the step once under the recorder; (the recorder, the step's wall seconds). One line on failure."""
    recorder = Recorder()
    start = time.perf_counter()
    try:
        with recorder:
            step()
    except AuditError:
        raise
    except Exception as exc:
        line = _first_line(exc)
        if any(word in line.lower() for word in _CUDA_WORDS):
            raise AuditError(
                f"expected {label} to run on the CPU, got one that uses CUDA ({line}{_where(exc)}): the "
                "audit judges MPS from a CPU run; build the step on torch.device('cpu')"
            ) from None
        raise AuditError(f"expected {label} to run, got {line}{_where(exc)}: fix the step first") from None
    seconds = time.perf_counter() - start
    others = sorted(recorder.devices - {"cpu"})
    if others:
        raise AuditError(
            f"expected {label} to run on the CPU, got tensors on {', '.join(others)}: the audit judges MPS "
            "from a CPU run; build the step on torch.device('cpu')"
        )
    return recorder, seconds


def run_plain(step: Callable[[], None]) -> float:
    """The step's wall seconds without the recorder (the recorder's own cost is the difference)."""
    start = time.perf_counter()
    step()
    return time.perf_counter() - start
