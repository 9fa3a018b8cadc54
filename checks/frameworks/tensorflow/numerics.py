"""TensorFlow's ops for the numerics suite (checks/core/numerics.py: the cases, the bounds, the runner).

Each op is the TF call a model makes (tf.matmul, tf.nn.conv2d and its gradients through GradientTape,
tf.nn.moments + tf.nn.batch_normalization as Keras' BatchNormalization and LayerNormalization compute them,
tf.nn.softmax, tf.gather, tf.tensor_scatter_nd_*, ...), written once: the same function runs the device's
case in its dtype and the float64 reference on the CPU. The cases use torch's layouts (NCHW, OIHW); the
conv ops transpose to TF's NHWC and HWIO and back, which moves values without changing them. No SDPA: TF
has no fused attention op (Keras' MultiHeadAttention is a matmul, a softmax and a matmul, all here).

On NVIDIA GPUs TF rounds float32 matmul and convolution operands to TF32 by default (Ampere and newer:
`tf.config.experimental.tensor_float_32_execution_enabled()`): settings() reads it, and those cases'
bounds count both operands' rounding (2 u_tf32).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from checks import frameworks
from checks.core import numerics, platform_facts
from checks.core.numerics import Array

CPU = "/CPU:0"
DTYPE = {"float64": tf.float64, "float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16}


def dtypes(device: str) -> tuple[str, ...]:
    """float32 and both half types everywhere: a half type a kernel lacks is reported unsupported."""
    return numerics.DTYPES


# Where TF's kernels sum a half type in that type, so the bound takes u_acc = the dtype's u (much looser):
# (op, dtype) -> the evidence. tf.nn.moments (batch norm, layer norm here, and Keras' normalization layers)
# casts float16 to float32 but not bfloat16 (tensorflow/python/ops/nn_impl.py, `moments`: "y =
# math_ops.cast(x, dtypes.float32) if x.dtype == dtypes.float16 else x", in TF 2.9 and 2.19 alike). The
# rest are TF's CPU (Eigen) kernels, measured on our x86_64 CPU against the float32-accumulation bound
# (docs/verify.md): in TF 2.9 and 2.19 the float16 convolution gradients (1.1-1.8x it) and float16 softmax
# (4.4x); in TF 2.9 only, float16 matmul (3.4-4.2x), bfloat16 softmax (5.7x) and bfloat16 variance (1.8x),
# all within it in 2.19 (the releases between are not measured: treated as 2.9).
_MOMENTS = "tf.nn.moments sums bfloat16 in bfloat16 (it casts only float16 to float32)"
_EIGEN = "TF's CPU kernel (Eigen) sums it in the half type (measured, docs/verify.md)"
_MATMULS = ("matmul square", "matmul tall", "matmul transposed", "matmul strided", "matmul after free", "bmm")
SUMS_IN_HALF_CPU = {
    ("conv2d grad input", "float16"): _EIGEN,
    ("conv2d grad weight", "float16"): _EIGEN,
    ("softmax", "float16"): _EIGEN,
}
SUMS_IN_HALF_CPU_BEFORE_2_19 = {
    **{(op, "float16"): _EIGEN for op in _MATMULS},
    ("softmax", "bfloat16"): _EIGEN,
    ("var", "bfloat16"): _EIGEN,
}
SUMS_IN_HALF_EVERYWHERE = {("batch norm", "bfloat16"): _MOMENTS, ("layer norm", "bfloat16"): _MOMENTS}
# The bfloat16 kernels TF takes from oneDNN (float32 accumulation) where oneDNN runs bfloat16, and from Eigen
# (which rounds to bfloat16 in between) elsewhere. oneDNN runs bfloat16 only where TF turned it on
# (IsMklEnabled: on Linux x86_64 by default only for CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX;
# TF_ENABLE_ONEDNN_OPTS overrides it) on a CPU with AVX-512 (TF's IsBF16SupportedByOneDNNOnThisCPU,
# tensorflow/core/graph/mkl_graph_util.h: "oneDNN BFloat16 support are only on platforms with AVX512"). Our
# CI machines are of both kinds: on an AVX2-only EPYC (oneDNN off; forced on, the same numbers) these went
# over the float32-accumulation bound: bmm in TF 2.9 and 2.19 (1.2x), in 2.19 also the bfloat16 convolution
# gradients (1.1x, 2.4x) and softmax (5.7x; 2.9's is declared above), docs/verify.md.
_EIGEN_BF16 = "TF's CPU kernel (Eigen: oneDNN does not run bfloat16 on this CPU) sums it in bfloat16"
SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16 = {
    (op, "bfloat16"): _EIGEN_BF16 for op in ("bmm", "conv2d grad input", "conv2d grad weight", "softmax")
}
# Public reports of wrong results these cases meet on the CPU: (op, dtype) -> the report.
KNOWN_CPU = {
    ("mean", "float16"): "tensorflow/tensorflow#115732: TF's CPU reductions hold the element count N in "
    "float16, and float16(65536) is inf: the mean of 65536 float16 values comes out 0",
    ("var", "float16"): "tensorflow/tensorflow#115732 and #115733: the CPU's float16 variance divides by "
    "float16(N) (inf at N = 65536) and overflows its sums",
}

# Where oneDNN does not run bfloat16 (above): TF 2.9's CPU Conv2D and its gradients for bfloat16 return an
# empty float32 tensor, shape (0,), instead of a result or an error (tensorflow/tensorflow#56680, TF 2.9.1 on
# Linux; the cause, in the review of tensorflow/tensorflow#32931: TF registers placeholder bfloat16 kernels
# for oneDNN's graph rewrite, which then run when the rewrite does not happen). Seen on our AVX2-only CI
# machine in TF 2.9.3; TF 2.19.1 computes them there (docs/records/tf-onednn-bf16.log; the releases between
# are not measured: treated as 2.9).
_EMPTY_CONV = (
    "tensorflow/tensorflow#56680: without oneDNN's bfloat16 kernels (no AVX-512, or oneDNN off), TF's CPU "
    "Conv2D and its gradients return an empty float32 tensor for bfloat16 input"
)
KNOWN_CPU_WITHOUT_ONEDNN_BF16_BEFORE_2_19 = {
    (op, "bfloat16"): _EMPTY_CONV for op in ("conv2d", "conv2d grad input", "conv2d grad weight")
}


def _on_cpu(device: str) -> bool:
    return "CPU" in device.upper()


@functools.cache  # TF reads its switch once per process (call_once); so do the cases
def onednn_runs_bfloat16() -> bool:
    """Whether TF's CPU kernels for bfloat16 are oneDNN's here: oneDNN on, and a CPU with AVX-512."""
    from tensorflow.python.util import _pywrap_util_port  # TF's own switch, as its tests read it

    return bool(_pywrap_util_port.IsMklEnabled()) and "avx512f" in platform_facts.cpu_flags()


def sums_in_half(op: str, dtype: str, device: str) -> str | None:
    found = SUMS_IN_HALF_EVERYWHERE.get((op, dtype))
    if found or not _on_cpu(device):
        return found
    if frameworks.release(tf.__version__) < (2, 19):
        found = SUMS_IN_HALF_CPU_BEFORE_2_19.get((op, dtype))
    if not found and dtype == "bfloat16" and not onednn_runs_bfloat16():
        found = SUMS_IN_HALF_CPU_WITHOUT_ONEDNN_BF16.get((op, dtype))
    return found or SUMS_IN_HALF_CPU.get((op, dtype))


def known(op: str, dtype: str, device: str) -> str | None:
    if not _on_cpu(device):
        return None
    found = KNOWN_CPU.get((op, dtype))
    before_2_19 = frameworks.release(tf.__version__) < (2, 19)
    if not found and dtype == "bfloat16" and before_2_19 and not onednn_runs_bfloat16():
        found = KNOWN_CPU_WITHOUT_ONEDNN_BF16_BEFORE_2_19.get((op, dtype))
    return found


def put(array: Array, dtype: str, device: str) -> tf.Tensor:
    with tf.device(device):
        return tf.identity(tf.cast(tf.constant(array, tf.float64), DTYPE[dtype]))


def get(t: tf.Tensor) -> Array:
    return np.asarray(tf.cast(t, tf.float64).numpy(), dtype=np.float64)


def index(array: Array, device: str) -> tf.Tensor:
    with tf.device(device):
        return tf.identity(tf.constant(array, tf.int64))


@contextlib.contextmanager
def settings(device: str) -> Iterator[dict[str, Any]]:
    """Ops pinned to the device; on a CUDA GPU, whether float32 matmuls and convolutions may use TF32."""
    on_gpu = "GPU" in device.upper()
    tf32 = on_gpu and bool(tf.config.experimental.tensor_float_32_execution_enabled())
    with tf.device(device):
        yield {"tf32": {"matmul": tf32, "conv": tf32}}


def release(device: str, nbytes: int) -> None:
    """A large block allocated on the device, filled, and freed (TF's BFC allocator keeps it)."""
    with tf.device(device):
        block = tf.fill([nbytes // 4], float("nan"))
        block[:1].numpy()  # waits for the fill (a GPU runs it asynchronously) without copying the block
    del block


def _nhwc(x: tf.Tensor) -> tf.Tensor:
    return tf.transpose(x, (0, 2, 3, 1))


def _conv(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    y = tf.nn.conv2d(_nhwc(x), tf.transpose(w, (2, 3, 1, 0)), strides=1, padding="SAME")
    if y.shape.rank != 4:  # TF 2.9's empty bfloat16 result (#56680): said here, not in the transpose's log
        got = f"shape {tuple(y.shape)} {y.dtype.name}"
        raise ValueError(f"tf.nn.conv2d returned {got} for {x.dtype.name} input")
    return tf.transpose(y, (0, 3, 1, 2))


def _grad(t: dict[str, tf.Tensor], wrt: str) -> tf.Tensor:
    x, w = t["x"], t["w"]
    with tf.GradientTape() as tape:
        tape.watch(x if wrt == "x" else w)
        y = _conv(x, w)
    return tape.gradient(y, x if wrt == "x" else w, output_gradients=t["gy"])


def _norm(t: dict[str, tf.Tensor], axes: list[int], shape: tuple[int, ...]) -> tf.Tensor:
    x = t["x"]
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    w, b = tf.reshape(t["w"], shape), tf.reshape(t["b"], shape)
    return tf.nn.batch_normalization(x, mean, var, b, w, numerics.EPS)


def _gather(t: dict[str, tf.Tensor]) -> tf.Tensor:
    return tf.gather(t["x"], t["idx"], axis=1, batch_dims=1)


def _rows_of(idx: tf.Tensor) -> tf.Tensor:
    """(i, idx[i, j]) for every j: the coordinates torch's scatter along dim 1 writes."""
    rows = tf.broadcast_to(tf.range(tf.shape(idx, out_type=tf.int64)[0])[:, None], tf.shape(idx, tf.int64))
    return tf.stack([rows, idx], -1)


OPS: dict[str, Callable[[dict[str, Any]], tf.Tensor]] = {
    "matmul square": lambda t: tf.matmul(t["a"], t["b"]),
    "matmul tall": lambda t: tf.matmul(t["a"], t["b"]),
    "matmul transposed": lambda t: tf.matmul(t["a"], t["b"], transpose_a=True),
    "matmul strided": lambda t: tf.matmul(t["a"][:, ::2], t["b"]),
    "matmul after free": lambda t: tf.matmul(t["a"], t["b"]),
    "bmm": lambda t: tf.matmul(t["a"], t["b"]),
    "conv2d": lambda t: _conv(t["x"], t["w"]),
    "conv2d grad input": lambda t: _grad(t, "x"),
    "conv2d grad weight": lambda t: _grad(t, "w"),
    "batch norm": lambda t: _norm(t, [0, 2, 3], (1, -1, 1, 1)),
    "layer norm": lambda t: _norm(t, [1], (1, -1)),
    "softmax": lambda t: tf.nn.softmax(t["x"], -1),
    "log_softmax": lambda t: tf.nn.log_softmax(t["x"], -1),
    "embedding": lambda t: tf.nn.embedding_lookup(t["table"], t["idx"]),
    "gather": _gather,
    "scatter": lambda t: tf.tensor_scatter_nd_update(t["x"], _rows_of(t["idx"]), t["src"]),
    "index_add": lambda t: tf.tensor_scatter_nd_add(t["x"], t["idx"][:, None], t["src"]),
    "sum": lambda t: tf.reduce_sum(t["x"], -1),
    "mean": lambda t: tf.reduce_mean(t["x"], -1),
    "var": lambda t: tf.math.reduce_variance(t["x"], -1),
    "cumsum": lambda t: tf.cumsum(t["x"], -1),
    "exp": lambda t: tf.exp(t["x"]),
    "log": lambda t: tf.math.log(t["x"]),
    "tanh": lambda t: tf.tanh(t["x"]),
    "gelu": lambda t: tf.nn.gelu(t["x"], approximate=False),
    "sigmoid": lambda t: tf.sigmoid(t["x"]),
}
