"""Are the device's numbers right? The ops models are made of, each on the device against float64 on the CPU.

Framework-free: the case table (which op, which inputs, what reduction length), the error bounds with their
references, the comparison and the report. Each framework's module (checks/frameworks/NAME/numerics.py,
named by NUMERICS in checks/frameworks/NAME/__init__.py) supplies the ops:

    OPS                         {case name: op(tensors: dict[str, tensor]) -> tensor}: the same code runs
                                the device's case and its float64 reference
    dtypes(device)              the precisions tried on the device ("float32", "float16", "bfloat16")
    put(array, dtype, device)   a NumPy array as a tensor of that dtype on that device (rounded to it)
    get(tensor)                 the tensor as a float64 NumPy array (exact: every dtype here fits float64)
    index(array, device)        an integer NumPy array as the framework's index tensor on the device
    CPU                         the device the float64 reference runs on
    sums_in_half(op, dtype, device)  None, or why this kernel sums a half type in that type (the bound then
                                takes u_acc = the dtype's u): a property of the framework's kernel, with
                                its evidence
    known(op, dtype, device)    None, or the public bug report a failure of this case on this device is
                                (reported as known, not failed)
    settings(device)            a context manager: the state the cases run in (and {"tf32": {op: bool}}, the
                                ops whose float32 the device computes from TF32-rounded operands)
    suite()                     optional: a context manager the whole suite runs in
    release(device, nbytes)     allocate nbytes on the device, fill them, free them (the allocator's state
                                changed before a case: pytorch#193487 was wrong matmuls after that)

How a case is judged. Inputs are drawn in float64 (seeded), rounded to the case's dtype, and the rounded
values (exact in float64) are the inputs of both runs: the op on the device in the dtype, and the same op in
float64 on the CPU. So the rounding of the inputs themselves is not an error of the op, and it is not in
the bound either; what is in it is every rounding inside the op (the accumulation, the roundings of
intermediates to a half type, an operand's rounding to TF32 where the device does that, the result's
rounding to the dtype). The error is componentwise, against the scale the op's error analysis is stated in:

    linear ops (matmul, bmm, conv2d and its gradients, sum, mean, cumsum, index_add): |got - ref| / s with
    s the same op in float64 on the absolute values of the inputs (|A||B| for a product): Higham,
    "Accuracy and Stability of Numerical Algorithms" (2nd ed., 2002), §3.1, eq. (3.5) |fl(x^T y) - x^T y| <=
    gamma_n |x|^T |y|, gamma_n = n u / (1 - n u), for any order of summation (§4.2);
    elementwise functions: |got - ref| / |ref| (gelu: / |x|, as x * Phi(x) is computed from 1 + erf);
    the composite ops: see BOUNDS below, each with its derivation.

The accumulation term acc(n) is the smaller of the deterministic gamma_n and the probabilistic bound of
Higham & Mary, "A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5),
A2815-A2835 (2019), Theorem 2.4 and 3.1: with the rounding errors independent and of mean zero,
|theta_n| <= gamma~_n(lambda) = exp(lambda sqrt(n) u + n u^2 / (1 - u)) - 1 with probability at least
1 - 2 exp(-lambda^2 (1 - u)^2 / 2) for each of the n products; lambda is chosen so that, over every
output of the case, the chance that any one exceeds it is at most FAILURE_PROBABILITY (a union bound).
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]  # a float64 (or int64 index) NumPy array

# Unit roundoff u = 2^-p of each precision (p: significand bits counting the implicit one, less one for
# round to nearest): IEEE 754 binary64/32/16, bfloat16 (8 bits), TF32 (NVIDIA's 10-bit mantissa).
U = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8, "tf32": 2.0**-11}
DTYPES = ("float32", "float16", "bfloat16")
HALF = ("float16", "bfloat16")
SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}
# The chance, per case, that correct rounding exceeds its probabilistic bound (Higham & Mary's lambda).
FAILURE_PROBABILITY = 1e-6
# Maximum error in ulps of a float32 function allowed by OpenCL C 1.2 (§7.4, Table 7.1, full profile),
# the loosest of the standards GPU math libraries meet (CUDA's expf 2, logf 1, tanhf 2, erff 2 ulps;
# SLEEF's u10 functions, torch's CPU, 1): exp 3, log 3, tanh 5, erf 16, x/y 2.5. A composite counts its
# parts: sigmoid 1 / (1 + exp(-x)) = exp 3 + add 0.5 + divide 2.5; gelu x / 2 (1 + erf(x / sqrt 2)) =
# erf 16 + three roundings 1.5, against |x| (Phi's error is absolute). One ulp of y is at most 2u|y|.
ULPS = {"exp": 3.0, "log": 3.0, "tanh": 5.0, "sigmoid": 6.0, "gelu": 17.5}
EPS = 1e-5  # batch norm's and layer norm's epsilon
# Underflow: with gradual underflow a rounding is x (1 + delta) + eta, |eta| <= half the smallest subnormal
# (Higham §2.1, Theorem 2.3 and (2.8)): the absolute part of each rounding to the dtype. It matters where a
# half type's results are tiny (float16's softmax of a long row: subnormals from 6e-8 up).
ETA = {"float64": 2.0**-1075, "float32": 2.0**-150, "float16": 2.0**-25, "bfloat16": 2.0**-134}


def gamma(n: float, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u) (Lemma 3.1); infinite where n u >= 1 (no bound)."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


def gamma_tilde(n: float, u: float, outputs: int) -> float:
    """Higham & Mary's gamma~_n(lambda), lambda such that `outputs` outputs of n products each all hold
    with probability 1 - FAILURE_PROBABILITY: 2 n outputs exp(-lambda^2 (1-u)^2 / 2) <= that."""
    lam = math.sqrt(2 * math.log(2 * max(n, 1) * max(outputs, 1) / FAILURE_PROBABILITY)) / (1 - u)
    return math.expm1(lam * math.sqrt(n) * u + n * u * u / (1 - u))


def acc(n: float, u: float, outputs: int) -> float:
    """The accumulation term: the smaller of the deterministic and the probabilistic bound."""
    return min(gamma(n, u), gamma_tilde(n, u, outputs))


# --- the cases ------------------------------------------------------------------------------------------


Inputs = Callable[[bool, np.random.Generator], dict[str, Array]]


@dataclass(frozen=True)
class Case:
    """One op on one shape: `inputs(full, rng)` the float64 (and int64 index) arrays; `length(arrays)` the
    reduction length K its bound is stated in; `bound` its kind (BOUNDS); `shape` what the report shows."""

    name: str
    inputs: Callable[[bool, np.random.Generator], dict[str, Array]]
    bound: str
    length: Callable[[dict[str, Array]], int]
    shape: Callable[[dict[str, Array]], str]
    release: bool = False  # allocate, fill and free a large block on the device first
    tf32: str | None = None  # the framework setting that may round this float32 op's operands to TF32
    in_place: bool = False  # accumulates into a tensor of the dtype (index_add): u_acc is the dtype's u


def _n(rng: np.random.Generator, *shape: int) -> Array:
    return rng.standard_normal(shape)


def _dims(*names: str) -> Callable[[dict[str, Array]], str]:
    return lambda a: " ".join("x".join(map(str, a[n].shape)) for n in names)


def _mm(full: bool, m: int, k: int, n: int, scale: int) -> tuple[int, int, int]:
    return (m * scale, k * scale, n * scale) if full else (m, k, n)


def _matmul(form: str, m: int, k: int, n: int) -> Inputs:
    def make(full: bool, rng: np.random.Generator) -> dict[str, Array]:
        mm, kk, nn = _mm(full, m, k, n, 8)
        a = {"square": (mm, kk), "transposed": (kk, mm), "strided": (mm, 2 * kk)}[form]
        return {"a": _n(rng, *a), "b": _n(rng, kk, nn)}

    return make


def _mm_k(a: dict[str, Array]) -> int:
    return int(a["b"].shape[-2])


def _conv(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    n, c, o, hw = (8, 64, 64, 32) if full else (2, 8, 16, 16)
    return {"x": _n(rng, n, c, hw, hw), "w": _n(rng, o, c, 3, 3), "gy": _n(rng, n, o, hw, hw)}


def _rows(rows: int, k: int, rows_full: int, k_full: int, fn: Callable[..., Array] = _n) -> Inputs:
    return lambda full, rng: {"x": fn(rng, *((rows_full, k_full) if full else (rows, k)))}


def _lognormal(rng: np.random.Generator, *shape: int) -> Array:
    return np.exp(rng.standard_normal(shape))


def _wide(rng: np.random.Generator, *shape: int) -> Array:
    return 2.0 * rng.standard_normal(shape)  # softmax and sigmoid see a range of magnitudes


def _norm(shape: tuple[int, ...], full_shape: tuple[int, ...], channel_axis: int) -> Inputs:
    def make(full: bool, rng: np.random.Generator) -> dict[str, Array]:
        s = full_shape if full else shape
        c = s[channel_axis]
        return {"x": 1.0 + _n(rng, *s), "w": 1.0 + 0.5 * _n(rng, c), "b": _n(rng, c)}

    return make


def _sdpa(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    b, h, L, d = (4, 8, 512, 64) if full else (2, 2, 64, 32)
    return {"q": _n(rng, b, h, L, d), "k": _n(rng, b, h, L, d), "v": _n(rng, b, h, L, d)}


def _embedding(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    vocab, dim, count = (50000, 512, 8192) if full else (1000, 64, 256)
    return {"table": _n(rng, vocab, dim), "idx": rng.integers(0, vocab, count)}


def _gather(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    rows, cols, picks = (1024, 4096, 1024) if full else (64, 256, 64)
    return {"x": _n(rng, rows, cols), "idx": rng.integers(0, cols, (rows, picks))}


def _scatter(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    rows, cols, picks = (1024, 4096, 1024) if full else (64, 256, 64)
    idx = np.argsort(rng.random((rows, cols)), axis=1)[:, :picks]  # distinct per row: the result is exact
    return {"x": _n(rng, rows, cols), "idx": idx, "src": _n(rng, rows, picks)}


def _index_add(full: bool, rng: np.random.Generator) -> dict[str, Array]:
    rows, dim, adds = (4096, 512, 65536) if full else (64, 64, 256)
    return {"x": _n(rng, rows, dim), "idx": rng.integers(0, rows, adds), "src": _n(rng, adds, dim)}


def _index_add_k(a: dict[str, Array]) -> int:
    return 1 + int(np.bincount(a["idx"]).max())  # x plus the most sources any one row receives


CASES: tuple[Case, ...] = (
    Case("matmul square", _matmul("square", 128, 128, 128), "linear", _mm_k, _dims("a", "b"), tf32="matmul"),
    Case(
        "matmul tall",
        lambda f, r: {"a": _n(r, 8192 if f else 1024, 64), "b": _n(r, 64, 32)},
        "linear",
        _mm_k,
        _dims("a", "b"),
        tf32="matmul",
    ),
    Case(
        "matmul transposed",
        _matmul("transposed", 128, 256, 64),
        "linear",
        _mm_k,
        _dims("a", "b"),
        tf32="matmul",
    ),
    Case("matmul strided", _matmul("strided", 128, 128, 64), "linear", _mm_k, _dims("a", "b"), tf32="matmul"),
    Case(
        "matmul after free",
        _matmul("square", 128, 128, 128),
        "linear",
        _mm_k,
        _dims("a", "b"),
        release=True,
        tf32="matmul",
    ),
    Case(
        "bmm",
        lambda f, r: {
            "a": _n(r, *((32, 256, 256) if f else (8, 64, 64))),
            "b": _n(r, *((32, 256, 256) if f else (8, 64, 64))),
        },
        "linear",
        _mm_k,
        _dims("a", "b"),
        tf32="matmul",
    ),
    Case("conv2d", _conv, "linear", lambda a: a["x"].shape[1] * 9, _dims("x", "w"), tf32="conv"),
    Case("conv2d grad input", _conv, "linear", lambda a: a["w"].shape[0] * 9, _dims("gy", "w"), tf32="conv"),
    Case(
        "conv2d grad weight",
        _conv,
        "linear",
        lambda a: a["x"].shape[0] * a["x"].shape[2] ** 2,
        _dims("x", "gy"),
        tf32="conv",
    ),
    Case(
        "batch norm",
        _norm((16, 8, 8, 8), (64, 64, 32, 32), 1),
        "batch_norm",
        lambda a: a["x"].size // a["x"].shape[1],
        _dims("x"),
    ),
    Case(
        "layer norm", _norm((64, 256), (1024, 4096), 1), "layer_norm", lambda a: a["x"].shape[-1], _dims("x")
    ),
    Case("softmax", _rows(64, 256, 1024, 32768, _wide), "softmax", lambda a: a["x"].shape[-1], _dims("x")),
    Case(
        "log_softmax",
        _rows(64, 256, 1024, 32768, _wide),
        "log_softmax",
        lambda a: a["x"].shape[-1],
        _dims("x"),
    ),
    Case("sdpa", _sdpa, "sdpa", lambda a: a["q"].shape[-1], _dims("q")),
    Case("embedding", _embedding, "exact", lambda a: 1, _dims("table", "idx")),
    Case("gather", _gather, "exact", lambda a: 1, _dims("x", "idx")),
    Case("scatter", _scatter, "exact", lambda a: 1, _dims("x", "idx")),
    Case("index_add", _index_add, "linear", _index_add_k, _dims("x", "src"), in_place=True),
    Case("sum", _rows(2, 1 << 16, 4, 1 << 22), "linear", lambda a: a["x"].shape[-1], _dims("x")),
    Case("mean", _rows(2, 1 << 16, 4, 1 << 22), "mean", lambda a: a["x"].shape[-1], _dims("x")),
    Case("var", _rows(2, 1 << 16, 4, 1 << 22), "var", lambda a: a["x"].shape[-1], _dims("x")),
    Case("cumsum", _rows(2, 1 << 14, 4, 1 << 20), "scan", lambda a: a["x"].shape[-1], _dims("x")),
    Case("exp", _rows(32, 1024, 1024, 4096), "exp", lambda a: 1, _dims("x")),
    Case("log", _rows(32, 1024, 1024, 4096, _lognormal), "log", lambda a: 1, _dims("x")),
    Case("tanh", _rows(32, 1024, 1024, 4096), "tanh", lambda a: 1, _dims("x")),
    Case("gelu", _rows(32, 1024, 1024, 4096, _wide), "gelu", lambda a: 1, _dims("x")),
    Case("sigmoid", _rows(32, 1024, 1024, 4096, _wide), "sigmoid", lambda a: 1, _dims("x")),
)
NAMES = tuple(c.name for c in CASES)
RELEASE_BYTES = {False: 64 << 20, True: 2 << 30}  # the block allocated and freed before "after free"


# --- the bounds -----------------------------------------------------------------------------------------


@dataclass
class Judged:
    error: float
    bound: float
    formula: str


def _err(got: Array, ref: Array, scale: Array, eta: float = 0.0) -> float:
    """max (|got - ref| - eta)+ / scale, eta the underflow part of the op's roundings (ETA); a non-finite
    result, or a difference where the scale is 0, is infinite."""
    got, ref, scale = np.broadcast_arrays(got, ref, scale)
    if not np.all(np.isfinite(got)):
        return math.inf
    diff = np.maximum(np.abs(got - ref) - eta, 0.0)
    zero = scale == 0
    if np.any(diff[zero] != 0):
        return math.inf
    return float(np.max(diff[~zero] / scale[~zero])) if np.any(~zero) else 0.0


def _precisions(dtype: str) -> tuple[float, float]:
    """(u of the accumulation, u of the result): a half type's products are summed in float32 (cuBLAS's
    and oneDNN's compute type for half inputs, torch's opmath_type, MLX's AccumType), then rounded."""
    return (U["float32"] if dtype in HALF else U[dtype]), U[dtype]


def judge(case: Case, dtype: str, arrays: dict[str, Array], got: Array, ref: Array,
          scale: Array | None, tf32: bool, in_dtype: bool = False) -> Judged:  # fmt: skip
    """The case's error and bound. `scale`: the op on |inputs| in float64 (linear ops only); `tf32`: the
    device rounds this float32 op's operands to TF32 (both operands: 2 u_tf32 more).

    u is the dtype's unit roundoff, u_acc the accumulation's (float32 for a half type). Where an op may
    keep an intermediate in the dtype (a half type's a and b of a norm, the exponentials of a softmax), each
    such rounding is one more u in the bound (and one more eta): the derivations below name them."""
    ua, uo, eta = *_precisions(dtype), ETA[dtype]
    if case.in_place or in_dtype:  # each add written back to the dtype (index_add), or the kernel sums in it
        ua = uo
    k = case.length(arrays)
    outputs = int(ref.size)
    kind = case.bound
    if kind in ("linear", "mean", "scan"):
        n = k + 1 if kind == "mean" else k  # the mean's division by K is one more rounding
        # a blocked scan (cumsum) carries each block's total into the next: one more rounding to the dtype
        rounds = 2 if kind == "scan" else 1
        bound = acc(n, ua, outputs) + rounds * uo
        formula = f"acc({n}, u_acc) + {rounds} u".replace(" 1 u", " u")
        if tf32 and dtype == "float32":
            bound += 2 * U["tf32"]
            formula += " + 2 u_tf32"
        assert scale is not None
        return Judged(_err(got, ref, scale, rounds * eta), bound, formula)
    if kind == "exact":  # a copy: indexing moves values, it must not change one bit
        return Judged(_err(got, ref, np.full_like(ref, max(float(np.max(np.abs(ref))), 1e-300))), 0.0, "0")
    if kind in ULPS:
        # c ulps in the result's own type: 2 c u |y| (a half computed in float32 and rounded: within it);
        # an ulp of a subnormal is 2 eta.
        s = np.abs(arrays["x"]) if kind == "gelu" else np.abs(ref)
        return Judged(
            _err(got, ref, s, 2 * ULPS[kind] * eta), 2 * ULPS[kind] * uo, f"2 x {ULPS[kind]:g} ulp x u"
        )
    if kind == "sdpa":
        return _judge_sdpa(arrays, got, ref, (ua, uo, eta), outputs)
    x = arrays["x"]
    if kind == "softmax":
        # exp(d (1 + delta)) for d = x - max: relative |d| u_acc (R: the widest row's range); exp 3 ulp
        # (6 u_acc); the sum of K positive terms acc(K); the division 2.5 ulp (5 u_acc); the exponentials
        # and the quotient each rounded to the dtype (2 u).
        r = float(np.max(np.max(x, -1) - np.min(x, -1)))
        bound = acc(k, ua, outputs) + (r + 11) * ua + 2 * uo
        return Judged(_err(got, ref, np.abs(ref), 2 * eta), bound,
                      f"acc({k}, u_acc) + ({r:.1f} + 11) u_acc + 2 u")  # fmt: skip
    if kind == "log_softmax":
        # y = x - max - log S, three terms: against s = |x| + |max| + |log S|. log S as in softmax
        # (acc(K) + 6 u_acc, log's 3 ulp: 6 u_acc), x - max (u_acc), and up to three roundings to the dtype
        # of the partial sums (max + log S may be formed first), each at most u s.
        m = np.max(x, -1, keepdims=True)
        s = np.abs(x) + np.abs(m) + np.abs(np.log(np.sum(np.exp(x - m), -1, keepdims=True)))
        return Judged(_err(got, ref, s, 3 * eta), acc(k, ua, outputs) + 14 * ua + 3 * uo,
                      f"acc({k}, u_acc) + 14 u_acc + 3 u")  # fmt: skip
    if kind in ("layer_norm", "batch_norm", "var"):
        return _judge_moments(kind, arrays, got, ref, k, (ua, uo, eta), outputs)
    raise ValueError(f"expected a bound kind in {sorted(BOUNDS)}, got {kind!r}")


def _kappa2(x: Array, axes: tuple[int, ...]) -> float:
    """The variance's condition number squared, 1 + mean^2 / var (Chan, Golub & LeVeque, "Algorithms for
    computing the sample variance", Amer. Statist. 37 (1983)), at its worst over the groups."""
    mu, var = np.mean(x, axes), np.var(x, axes)
    return float(np.max(1 + mu**2 / var))


def _judge_moments(kind: str, a: dict[str, Array], got: Array, ref: Array, k: int,
                   us: tuple[float, float, float], outputs: int) -> Judged:  # fmt: skip
    ua, uo, eta = us
    x = a["x"]
    axes = (x.ndim - 1,) if kind in ("layer_norm", "var") else (0, 2, 3)
    k2 = _kappa2(x, axes)
    if kind == "var":
        # Two-pass or updating: relative error <= n u kappa + O(u^2) (Chan, Golub & LeVeque 1983, with the
        # mean's own error); as acc: 2 acc(K + 3) kappa^2, and the result's rounding.
        return Judged(_err(got, ref, np.abs(ref), eta), 2 * acc(k + 3, ua, outputs) * k2 + uo,
                      f"2 acc({k + 3}, u_acc) kappa^2 + u, kappa^2 = {k2:.3g}")  # fmt: skip
    # y = x a + b with a = r w, b = b - mu a, r = 1/sqrt(var + eps), against the magnitudes of its terms
    # s = (|x| + mean|x|) r |w| + |b| (|mu| <= mean|x|): mu off by acc(K) mean|x|; var relatively by
    # 2 acc(K + 3) kappa^2 (as in var), half of it in r; rsqrt 2 ulp (4 u_acc); the products, x - mu and the
    # add (4 u_acc); and in a half type each of the four operations of (x - mu) r w + b possibly rounded to
    # the dtype (4 u; an implementation that forms a and b first rounds at most as often).
    shape = [1] * x.ndim
    shape[x.ndim - 1 if kind == "layer_norm" else 1] = -1
    w, b = a["w"].reshape(shape), a["b"].reshape(shape)
    var = np.var(x, axes, keepdims=True)
    mean_abs = np.mean(np.abs(x), axes, keepdims=True)
    s = (np.abs(x) + mean_abs) / np.sqrt(var + EPS) * np.abs(w) + np.abs(b)
    bound = acc(k, ua, outputs) + acc(k + 3, ua, outputs) * k2 + 8 * ua + 4 * uo
    formula = f"acc({k}, u_acc) + acc({k + 3}, u_acc) kappa^2 + 8 u_acc + 4 u, kappa^2 = {k2:.3g}"
    return Judged(_err(got, ref, s, 4 * eta), bound, formula)


def _judge_sdpa(a: dict[str, Array], got: Array, ref: Array, us: tuple[float, float, float],
                outputs: int) -> Judged:  # fmt: skip
    # softmax(Q K^T / sqrt d) V against P |V|. The scores S are off by acc(d) (|Q||K|^T / sqrt d) + the
    # scaling (2 u_acc) and, where they are kept in the dtype (the math path in a half type), u |S|; an
    # absolute error e in a row's scores moves P relatively by at most 2 max|e|. Then P itself as in
    # softmax (acc(L) + (R + 11) u_acc, R the row's score range), rounded to the dtype for P V
    # (FlashAttention does), P V summed over L (acc(L)), the result rounded.
    ua, uo, eta = us
    q, kk, v = a["q"], a["k"], a["v"]
    d, L = q.shape[-1], kk.shape[-2]
    sd = math.sqrt(d)
    scores = q @ np.swapaxes(kk, -1, -2) / sd
    s_abs = float(np.max(np.abs(q) @ np.swapaxes(np.abs(kk), -1, -2) / sd))
    s_max = float(np.max(np.abs(scores)))
    r = float(np.max(np.max(scores, -1) - np.min(scores, -1)))
    p = np.exp(scores - np.max(scores, -1, keepdims=True))
    p /= np.sum(p, -1, keepdims=True)
    scale = p @ np.abs(v)
    moved = 2 * ((acc(d, ua, outputs) + 2 * ua) * s_abs + uo * s_max)
    bound = moved + 2 * acc(L, ua, outputs) + (r + 11) * ua + 2 * uo
    formula = (f"2 ((acc({d}, u_acc) + 2 u_acc) {s_abs:.3g} + u {s_max:.3g}) + 2 acc({L}, u_acc) "
               f"+ ({r:.1f} + 11) u_acc + 2 u")  # fmt: skip
    return Judged(_err(got, ref, scale, 2 * eta), bound, formula)


BOUNDS = (
    "linear",
    "mean",
    "scan",
    "exact",
    *ULPS,
    "softmax",
    "log_softmax",
    "layer_norm",
    "batch_norm",
    "var",
    "sdpa",
)


# --- running them ---------------------------------------------------------------------------------------


UNSUPPORTED_WORDS = ("not implemented", "unsupported", "not supported", "no kernel", "could not find",
                     "invalidargument", "notfound", "no registered", "does not support")  # fmt: skip


def _unsupported(exc: BaseException) -> bool:
    """An error that says the dtype (or op) has no kernel here, as opposed to a crash of a kernel."""
    text = f"{type(exc).__name__} {exc}".lower().replace(" ", "").replace("_", "")
    return any(w.replace(" ", "") in text for w in UNSUPPORTED_WORDS)


def run_case(fw: ModuleType, case: Case, dtype: str, device: str, full: bool, seed: int) -> dict[str, Any]:
    """One case on the device; its record (status ok | FAILED | unsupported)."""
    rng = np.random.default_rng([seed, NAMES.index(case.name)])
    drawn = case.inputs(full, rng)
    op = fw.OPS[case.name]
    floats = {n: a for n, a in drawn.items() if a.dtype.kind == "f"}
    record: dict[str, Any] = {"op": case.name, "dtype": dtype}
    try:
        exact = {n: fw.get(fw.put(a, dtype, fw.CPU)) for n, a in floats.items()}  # the rounded inputs
        arrays = {**drawn, **exact}
        record["shape"] = case.shape(arrays)

        def tensors(values: dict[str, Array], dt: str, dev: str) -> dict[str, Any]:
            return {n: fw.put(a, dt, dev) if n in floats else fw.index(a, dev) for n, a in values.items()}

        with fw.settings(device) as state:
            if case.release:
                fw.release(device, RELEASE_BYTES[full])
            got = fw.get(op(tensors(arrays, dtype, device)))
        ref = fw.get(op(tensors(arrays, "float64", fw.CPU)))
        scale = None
        if case.bound in ("linear", "mean", "scan"):
            absolute = {n: np.abs(a) if n in floats else a for n, a in arrays.items()}
            scale = fw.get(op(tensors(absolute, "float64", fw.CPU)))
        sums_in = fw.sums_in_half(case.name, dtype, device) if dtype in HALF else None
        in_dtype = sums_in is not None
        tf32 = bool(state.get("tf32", {}).get(case.tf32))
        judged = judge(case, dtype, arrays, got, ref, scale, tf32, in_dtype)
    except Exception as exc:
        # A known bug may surface as an error (TF's empty bfloat16 Conv2D fails the next op): named first.
        known = fw.known(case.name, dtype, device)
        if known:
            return {**record, "status": "known", "why": known, "raised": _last_line(exc)}
        if dtype in HALF and _unsupported(exc):
            return {**record, "status": "unsupported", "why": _last_line(exc)}
        return {**record, "status": "FAILED", "why": f"raised {_last_line(exc)}"}
    record.update(k=case.length(arrays), error=judged.error, bound=judged.bound, formula=judged.formula)
    if in_dtype:
        record["sums_in"] = f"{dtype}: {sums_in}"
    if judged.bound >= 1:  # a half-type sum this long guarantees no digit: reported, not judged
        return {**record, "status": "unbounded"}
    if judged.error <= judged.bound:
        return {**record, "status": "ok"}
    known = fw.known(case.name, dtype, device)
    if known:
        return {**record, "status": "known", "why": known}
    return {**record, "status": "FAILED"}


def _last_line(exc: BaseException) -> str:
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def run(fw: ModuleType, device: str, *, full: bool = False, seed: int = 0,
        only: tuple[str, ...] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every case the framework has, in every dtype the device is tried in: the report."""
    start = time.perf_counter()
    cases = []
    with getattr(fw, "suite", nothing_changed)():
        for dtype in fw.dtypes(device):
            for case in CASES:
                if case.name in fw.OPS and (only is None or case.name in only):
                    cases.append(run_case(fw, case, dtype, device, full, seed))
    failures = [failure_line(device, c) for c in cases if c["status"] == "FAILED"]
    return {
        "device": device,
        "size": "full" if full else "quick",
        "cases": cases,
        "not_in_framework": [c.name for c in CASES if c.name not in fw.OPS],
        "seconds": round(time.perf_counter() - start, 2),
        "passed": not failures,
        "failures": failures,
    }


def failure_line(device: str, c: dict[str, Any]) -> str:
    """What verify prints for a failed case: the op, the dtype, the shape, the numbers."""
    where = f"{c['op']} {c['dtype']} {c.get('shape', '')}".rstrip()
    if "error" in c:
        return (f"{where} on {device}: max rel error {c['error']:.2e} over its bound {c['bound']:.2e} "
                f"({c['formula']}): this op computes wrong numbers on this device (`nox -s doctor -- "
                "--error-file` with this line explains)")  # fmt: skip
    return f"{where} on {device}: {c['why']}"


def _counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    words = {"unsupported": "unsupported in a half type", "known": "known bugs",
             "unbounded": "without a bound", "FAILED": "FAILED", "ok": "ok"}  # fmt: skip
    return {words[s]: sum(c["status"] == s for c in cases) for s in words}


def worst(report: dict[str, Any]) -> dict[str, Any] | None:
    """The judged case closest to (or furthest over) its bound, known bugs aside."""
    judged = [c for c in report["cases"] if "error" in c and c["status"] in ("ok", "FAILED")]
    return max(judged, key=_ratio, default=None)


def _ratio(c: dict[str, Any]) -> float:
    """error / bound; a copy's bound is 0: any error is infinitely over it."""
    if c["bound"]:
        return float(c["error"] / c["bound"])
    return math.inf if c["error"] else 0.0


def summary_line(report: dict[str, Any]) -> str:
    """`numerics on cpu: 78 cases (3 unsupported), worst bf16 matmul 2.1e-03 of bound 7.8e-03, 3.1 s  ok`"""
    cases = report["cases"]
    skipped = sum(c["status"] == "unsupported" for c in cases)
    counted = f"{len(cases) - skipped} cases"
    others = [f"{n} {w}" for w, n in _counts(cases).items() if n and w != "ok"]
    counted += f" ({', '.join(others)})" if others else ""
    w = worst(report)
    worst_words = (
        f", worst {SHORT[w['dtype']]} {w['op']} {w['error']:.1e} of bound {w['bound']:.1e}" if w else ""
    )
    return (f"numerics on {report['device']} ({report['size']}): {counted}{worst_words}, "
            f"{report['seconds']:.1f} s  {'ok' if report['passed'] else 'FAILED'}")  # fmt: skip


@contextlib.contextmanager
def nothing_changed() -> Any:
    """settings() for a device with nothing to set: no TF32."""
    yield {"tf32": {}}
