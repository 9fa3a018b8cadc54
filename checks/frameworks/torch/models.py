"""PyTorch training steps for the model bench: torchvision's ResNet-50 and a small transformer encoder.

One step is what a training loop does per batch: forward, cross-entropy loss, backward, SGD update
(momentum 0.9), gradients set to None. Mixed precision is `torch.autocast` on the device: bfloat16 needs
no loss scaling; float16 runs through a GradScaler where the device has one (CUDA, and MPS in recent
torch), as PyTorch's AMP recipe says. float32 on CUDA is torch's default: convolutions may use TF32
(`torch.backends.cudnn.allow_tf32` is True by default), matmuls stay FP32; each result's `how` records it.

`compile` wraps the model in `torch.compile` (Inductor; the optimizer step stays eager, fused on CUDA);
where compiling fails (no C++ compiler for the CPU backend, MPS's prototype backend) the step runs eagerly
and `how` says why. The interface is checks/core/models.py's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from checks.core.models import Options
from checks.frameworks import torch as fw

MODELS = {"resnet50": "images/s", "transformer": "tokens/s"}
NUM_CLASSES = 1000  # ImageNet's head, as torchvision's resnet50() builds it
LEARNING_RATE = 0.01
# What a point that cannot run raises (torch.OutOfMemoryError, a RuntimeError, is caught before these).
ERRORS = (RuntimeError, TypeError, ValueError, NotImplementedError)


def precisions(device: str) -> list[str]:
    """float32, then the autocast dtypes the device runs: CUDA and MPS bfloat16 and float16 (MPS bfloat16
    needs macOS 14: where it fails the point says so), the CPU bfloat16."""
    kind = torch.device(device).type
    if kind == "cpu":
        return ["float32", "bfloat16"]
    return ["float32", "bfloat16", "float16"]


def _resnet50():
    try:
        import torchvision
    except ImportError as exc:  # the torch environments install it; a bare torch does not have it
        raise SystemExit(
            f"modelbench: expected torchvision for resnet50, got {exc}: install torchvision"
        ) from None
    return torchvision.models.resnet50(weights=None, num_classes=NUM_CLASSES)


class _Encoder(torch.nn.Module):
    """Token embedding, nn.TransformerEncoder (pre-norm, no dropout: the bench times arithmetic), and a
    head over the vocabulary: a masked-language-model-shaped step."""

    def __init__(self, seq_len: int, shape: dict[str, Any]):
        super().__init__()
        d = shape["d_model"]
        self.embed = torch.nn.Embedding(shape["vocab"], d)
        self.pos = torch.nn.Parameter(torch.zeros(1, seq_len, d))
        layer = torch.nn.TransformerEncoderLayer(
            d, shape["heads"], shape["ff"], dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(layer, shape["layers"], enable_nested_tensor=False)
        self.head = torch.nn.Linear(d, shape["vocab"])

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens) + self.pos))


def _why(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


class Step:
    """One training step of `model` at `batch` on `device` in `precision` (see the module docstring)."""

    def __init__(self, model: str, device: str, batch: int, precision: str, options: Options):
        self.dev = torch.device(device)
        self.sync = fw.sync_for(device)
        self.precision = precision
        gen = torch.Generator(device="cpu").manual_seed(0)
        torch.manual_seed(0)
        notes = []
        if model == "resnet50":
            net = _resnet50()
            size = options.image_size
            x = torch.randn(batch, 3, size, size, generator=gen)
            y = torch.randint(0, NUM_CLASSES, (batch,), generator=gen)
            self.items = batch
            if options.channels_last:
                net = net.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            notes.append(f"{size}x{size}, " + ("channels_last" if options.channels_last else "NCHW"))
        elif model == "transformer":
            shape = dict(options.transformer)
            net = _Encoder(options.seq_len, shape)
            x = torch.randint(0, shape["vocab"], (batch, options.seq_len), generator=gen)
            y = torch.randint(0, shape["vocab"], (batch, options.seq_len), generator=gen)
            self.items = batch * options.seq_len
            notes.append(f"seq {options.seq_len}, d_model {shape['d_model']}, {shape['layers']} layers")
        else:
            raise ValueError(f"expected a model in {', '.join(MODELS)}, got {model!r}")
        self.net = net.to(self.dev)
        self.x, self.y = x.to(self.dev), y.to(self.dev)
        self.opt, how_opt = self._optimizer()
        notes.append(how_opt)
        self.autocast = None if precision == "float32" else getattr(torch, precision)
        self.scaler = None
        if precision == "float16":
            self.scaler, how_scale = self._scaler()
            notes.append(how_scale)
        notes.append(self._precision_note())
        self.forward = self.net
        if options.compile:
            notes.append(self._compile())
        else:
            notes.append("eager")
            self.fn()  # the first step allocates the optimizer state: not part of any timing
        self.how = "; ".join(n for n in notes if n)

    def _optimizer(self):
        params = self.net.parameters()
        # Fused SGD is one kernel for the whole update, but not under a GradScaler: measured on an H100 with
        # torch 2.11, fused SGD applied the inf/NaN gradients of the steps the scaler should have skipped
        # (NaN weights from the third step on), where the default (foreach) SGD skipped them and trained.
        if self.dev.type == "cuda" and self.precision != "float16":
            try:
                return torch.optim.SGD(params, lr=LEARNING_RATE, momentum=0.9, fused=True), "SGD fused"
            except (TypeError, RuntimeError, ValueError):  # a torch without fused SGD
                params = self.net.parameters()
        return torch.optim.SGD(params, lr=LEARNING_RATE, momentum=0.9), "SGD"

    def _scaler(self):
        try:
            return torch.amp.GradScaler(self.dev.type), "GradScaler"
        except (AttributeError, RuntimeError, TypeError, ValueError) as exc:  # no scaler for this device
            return None, f"no GradScaler ({_why(exc)})"

    def _precision_note(self) -> str:
        if self.autocast is not None:
            return f"autocast {self.precision}"
        if self.dev.type == "cuda":
            tf32 = "TF32" if torch.backends.cudnn.allow_tf32 else "FP32"
            mm = "TF32" if torch.backends.cuda.matmul.allow_tf32 else "FP32"
            return f"float32 (convolutions {tf32}, matmuls {mm}: torch's defaults)"
        return "float32"

    def _compile(self) -> str:
        torch.compiler.reset()  # a fresh graph per point: the recompile limit would otherwise fall back
        self.forward = torch.compile(self.net)
        try:
            self.fn()
            self.sync()
            return "torch.compile (Inductor)"
        except fw.OUT_OF_MEMORY:
            raise
        except Exception as exc:  # no C++ compiler (CPU), MPS's prototype backend, a Triton failure
            torch.compiler.reset()
            self.forward = self.net
            self.opt.zero_grad(set_to_none=True)
            self.fn()
            return f"eager (torch.compile failed: {_why(exc)})"

    def fn(self):
        with torch.autocast(self.dev.type, dtype=self.autocast, enabled=self.autocast is not None):
            out = self.forward(self.x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), self.y.reshape(-1))
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.last = loss.detach()
        return self.last

    def loss(self) -> float:
        return float(self.last)


def release(device: str) -> None:
    """Hand the caching allocator's free blocks back after a point (an out-of-memory one too), so the next
    batch size starts from an empty device."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.empty_cache()
    elif kind == "mps":
        torch.mps.empty_cache()
