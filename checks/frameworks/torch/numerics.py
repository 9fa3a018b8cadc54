"""PyTorch's ops for the numerics suite (checks/core/numerics.py: the cases, the bounds, the runner).

Each op is the code a model runs (torch.matmul, F.conv2d and its autograd backward, F.batch_norm in
training mode, F.layer_norm, F.scaled_dot_product_attention, ...), written once: the same function runs
the device's case in its dtype and the float64 reference on the CPU.

On CUDA the suite runs with torch's own defaults, not a stricter mode: float32 matmuls stay IEEE
(`torch.backends.cuda.matmul.allow_tf32` is False by default) and cuDNN convolutions may round their
operands to TF32 (`torch.backends.cudnn.allow_tf32` is True by default): settings() reads both, and the
bound of a case whose op may use TF32 counts the rounding of both operands (2 u_tf32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from checks.core import numerics
from checks.core.numerics import Array

CPU = "cpu"
DTYPE = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
         "bfloat16": torch.bfloat16}  # fmt: skip


def dtypes(device: str) -> tuple[str, ...]:
    """float32 and both half types everywhere: a half type a kernel lacks is reported unsupported."""
    return numerics.DTYPES


def sums_in_half(op: str, dtype: str, device: str) -> str | None:
    """torch sums a half type in float32 (its opmath_type) in every kernel here: none sums in the dtype."""
    return None


def known(op: str, dtype: str, device: str) -> str | None:
    return None


def put(array: Array, dtype: str, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(DTYPE[dtype]).to(device)


def get(t: torch.Tensor) -> Array:
    return np.asarray(t.detach().to("cpu", torch.float64).numpy(), dtype=np.float64)


def index(array: Array, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).to(device)


@contextlib.contextmanager
def suite() -> Iterator[None]:
    """One CPU thread while the suite runs, then torch's own number again. Its ops are small, and torch's
    intra-op threads mostly wait on each other at this size: on our 2-core CI machine the suite took
    0.18-1.51 s wall with 2 threads, 0.19-0.21 s with one (docs/records/numerics-threads.log). The kernels
    are the same; a reduction split over threads only sums in another (equally correct) order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def settings(device: str) -> Iterator[dict[str, Any]]:
    """The state the cases run in: torch's defaults; on CUDA, which float32 ops may use TF32."""
    if torch.device(device).type == "cuda":
        yield {
            "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "conv": torch.backends.cudnn.allow_tf32}
        }
    else:
        yield {"tf32": {}}
    _sync(device)


def _sync(device: str) -> None:
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def release(device: str, nbytes: int) -> None:
    """A large block allocated, filled with NaN and freed: the allocator caches it, and the next tensors may
    be carved from it (the state pytorch#193487's wrong MPS matmuls depended on)."""
    block = torch.empty(nbytes // 4, dtype=torch.float32, device=device)
    block.fill_(float("nan"))
    _sync(device)
    del block


def _grad(t: dict[str, torch.Tensor], wrt: str) -> torch.Tensor:
    x = t["x"].detach().requires_grad_(wrt == "x")
    w = t["w"].detach().requires_grad_(wrt == "w")
    # The gradient of sum(y * gy) with respect to y is gy, exactly (1 * gy): the backward sees gy as given.
    # (Passing gy as grad_outputs costs torch 2.8 ~6 s the first time: _make_grads imports sympy.)
    y = F.conv2d(x, w, padding=1)
    (g,) = torch.autograd.grad((y * t["gy"]).sum(), x if wrt == "x" else w)
    return g


def _scatter(t: dict[str, torch.Tensor]) -> torch.Tensor:
    return t["x"].scatter(1, t["idx"], t["src"])


OPS: dict[str, Callable[[dict[str, Any]], torch.Tensor]] = {
    "matmul square": lambda t: torch.matmul(t["a"], t["b"]),
    "matmul tall": lambda t: torch.matmul(t["a"], t["b"]),
    "matmul transposed": lambda t: torch.matmul(t["a"].t(), t["b"]),  # a view: A stored column-major
    "matmul strided": lambda t: torch.matmul(t["a"][:, ::2], t["b"]),  # every second column: stride 2
    "matmul after free": lambda t: torch.matmul(t["a"], t["b"]),
    "bmm": lambda t: torch.bmm(t["a"], t["b"]),
    "conv2d": lambda t: F.conv2d(t["x"], t["w"], padding=1),
    "conv2d grad input": lambda t: _grad(t, "x"),
    "conv2d grad weight": lambda t: _grad(t, "w"),
    "batch norm": lambda t: F.batch_norm(t["x"], None, None, t["w"], t["b"], training=True, eps=numerics.EPS),
    "layer norm": lambda t: F.layer_norm(t["x"], t["x"].shape[-1:], t["w"], t["b"], eps=numerics.EPS),
    "softmax": lambda t: torch.softmax(t["x"], -1),
    "log_softmax": lambda t: torch.log_softmax(t["x"], -1),
    "sdpa": lambda t: F.scaled_dot_product_attention(t["q"], t["k"], t["v"]),
    "embedding": lambda t: F.embedding(t["idx"], t["table"]),
    "gather": lambda t: torch.gather(t["x"], 1, t["idx"]),
    "scatter": _scatter,
    "index_add": lambda t: t["x"].index_add(0, t["idx"], t["src"]),
    "sum": lambda t: t["x"].sum(-1),
    "mean": lambda t: t["x"].mean(-1),
    "var": lambda t: t["x"].var(-1),
    "cumsum": lambda t: t["x"].cumsum(-1),
    "exp": lambda t: torch.exp(t["x"]),
    "log": lambda t: torch.log(t["x"]),
    "tanh": lambda t: torch.tanh(t["x"]),
    "gelu": lambda t: F.gelu(t["x"]),
    "sigmoid": lambda t: torch.sigmoid(t["x"]),
}
