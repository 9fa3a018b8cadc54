"""MLX's ops for the numerics suite (checks/core/numerics.py: the cases, the bounds, the runner).

Each op is the MLX call a model makes (mx.matmul, mx.conv2d and its gradients through mx.vjp,
mx.fast.layer_norm, mx.softmax with precise=True as mlx.nn's attention and mlx-lm call it, mx.take,
`.at[].add`, ...), written once: the same function runs the device's case in its dtype (on the device's
stream) and the float64 reference on the CPU stream. MLX has float64 on the CPU only (mlx#799: "float64 is
not supported on the GPU"), which is where the reference runs. The cases use torch's layouts (NCHW, OIHW);
the conv ops transpose to MLX's NHWC and OHWI and back, which moves values without changing them. MLX is
lazy: get() evaluates. No SDPA case yet: mx.fast.scaled_dot_product_attention has no float64 CPU kernel
to compare against in every release.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Callable

import mlx.core as mx
import numpy as np

from checks.core import numerics
from checks.core.numerics import Array

CPU = "cpu"
DTYPE = {"float64": mx.float64, "float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}


def dtypes(device: str) -> tuple[str, ...]:
    return numerics.DTYPES


def sums_in_half(op: str, dtype: str, device: str) -> str | None:
    return None


# Wrong results these cases meet, (op, dtype) -> what is known. No upstream report found yet (searched
# ml-explore/mlx issues for float16 var overflow): the same defect as numpy/numpy#21941.
KNOWN = {
    ("var", "float16"): "mx.var of 65536 float16 values is inf: it forms the sum of squares as a float16 "
    "array (max 65504) before dividing, the defect numpy/numpy#21941 reports for NumPy; not yet reported to "
    "MLX",
}


def known(op: str, dtype: str, device: str) -> str | None:
    return KNOWN.get((op, dtype))


def _device(device: str) -> mx.Device:
    kind, _, i = device.partition(":")
    return mx.Device(mx.gpu if kind == "gpu" else mx.cpu, int(i or 0))


def put(array: Array, dtype: str, device: str) -> mx.array:
    with mx.stream(_device(device)):
        t = mx.array(array.astype(np.float32) if dtype != "float64" else array).astype(DTYPE[dtype])
        mx.eval(t)
    return t


def get(t: mx.array) -> Array:
    # bfloat16 has no NumPy type: widen first (exact: every value here fits float32 or float64)
    wide = t if t.dtype == mx.float64 else t.astype(mx.float32)
    mx.eval(wide)
    return np.array(wide, dtype=np.float64)


def index(array: Array, device: str) -> mx.array:
    return mx.array(array.astype(np.int32))


@contextlib.contextmanager
def settings(device: str) -> Iterator[dict[str, Any]]:
    """The ops run on the device's stream (the reference on the CPU's)."""
    with mx.stream(_device(device)):
        yield {"tf32": {}}


def release(device: str, nbytes: int) -> None:
    """A large block allocated on the device, filled, evaluated and freed (MLX's allocator caches it)."""
    with mx.stream(_device(device)):
        block = mx.full((nbytes // 4,), float("nan"), dtype=mx.float32)
        mx.eval(block)
    del block


def _conv(x: mx.array, w: mx.array) -> mx.array:
    y = mx.conv2d(x.transpose(0, 2, 3, 1), w.transpose(0, 2, 3, 1), padding=1)
    return y.transpose(0, 3, 1, 2)


def _grad(t: dict[str, mx.array], wrt: str) -> mx.array:
    _, (g,) = mx.vjp(lambda a: _conv(a, t["w"]) if wrt == "x" else _conv(t["x"], a),
                     [t["x"] if wrt == "x" else t["w"]], [t["gy"]])  # fmt: skip
    return g


def _batch_norm(t: dict[str, mx.array]) -> mx.array:
    # mlx.nn.BatchNorm in training mode: the batch's mean and (biased) variance over N, H, W
    x = t["x"]
    mean, var = mx.mean(x, (0, 2, 3), keepdims=True), mx.var(x, (0, 2, 3), keepdims=True)
    w, b = t["w"].reshape(1, -1, 1, 1), t["b"].reshape(1, -1, 1, 1)
    return (x - mean) * mx.rsqrt(var + numerics.EPS) * w + b


def _gelu(x: mx.array) -> mx.array:
    return x * (1 + mx.erf(x / np.sqrt(2.0).item())) / 2  # mlx.nn.gelu's own formula


OPS: dict[str, Callable[[dict[str, Any]], mx.array]] = {
    "matmul square": lambda t: t["a"] @ t["b"],
    "matmul tall": lambda t: t["a"] @ t["b"],
    "matmul transposed": lambda t: t["a"].T @ t["b"],
    "matmul strided": lambda t: t["a"][:, ::2] @ t["b"],
    "matmul after free": lambda t: t["a"] @ t["b"],
    "bmm": lambda t: t["a"] @ t["b"],
    "conv2d": lambda t: _conv(t["x"], t["w"]),
    "conv2d grad input": lambda t: _grad(t, "x"),
    "conv2d grad weight": lambda t: _grad(t, "w"),
    "batch norm": _batch_norm,
    "layer norm": lambda t: mx.fast.layer_norm(t["x"], t["w"], t["b"], numerics.EPS),
    "softmax": lambda t: mx.softmax(t["x"], -1, precise=True),
    "log_softmax": lambda t: t["x"] - mx.logsumexp(t["x"], -1, keepdims=True),  # mlx.nn.log_softmax
    "embedding": lambda t: t["table"][t["idx"]],  # mlx.nn.Embedding
    "gather": lambda t: mx.take_along_axis(t["x"], t["idx"], 1),
    "scatter": lambda t: mx.put_along_axis(t["x"], t["idx"], t["src"], 1),
    "index_add": lambda t: t["x"].at[t["idx"]].add(t["src"]),
    "sum": lambda t: mx.sum(t["x"], -1),
    "mean": lambda t: mx.mean(t["x"], -1),
    "var": lambda t: mx.var(t["x"], -1),
    "cumsum": lambda t: mx.cumsum(t["x"], -1),
    "exp": lambda t: mx.exp(t["x"]),
    "log": lambda t: mx.log(t["x"]),
    "tanh": lambda t: mx.tanh(t["x"]),
    "gelu": lambda t: _gelu(t["x"]),
    "sigmoid": lambda t: mx.sigmoid(t["x"]),
}
