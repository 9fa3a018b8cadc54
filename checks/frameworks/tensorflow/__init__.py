"""TensorFlow: the devices it sees (Metal's PluggableDevice on a Mac), the sine fit, doctor's facts, bench.

The fit uses plain tensors and Variables, no Keras: the same loop as the PyTorch version, op for op.

The bench's fused form is the whole step in one `tf.function(jit_compile=True)`: XLA fuses the loss and
the four gradient sums into one pass over x and y. The Metal plugin (tensorflow-metal) has no XLA device,
so on a Mac the jit_compile call fails and the step runs as a plain tf.function graph (no fusion); the
result says so. TensorFlow has no device synchronise call: reading a value back (.numpy()) waits for the
work it depends on, so each bench form's `sync` reads its own parameters, which depend on every step
before.

The interface is the registry's (checks/frameworks/__init__.py).
"""

from __future__ import annotations

import math
import platform
import time
from typing import Any, Callable

import tensorflow as tf

from checks.core import probe
from checks.core.sine_fit import FitRun

# Declared: literals that frameworks.declared() reads from this source without importing TensorFlow.
NAME = "tensorflow"
# tensorflow-macos is the macOS arm64 build of TF 2.9, tensorflow-cpu the Linux CPU build; tensorflow-metal
# is Apple's GPU plugin; keras is what tf.keras is (Keras 3 from TF 2.16 on), tf-keras the Keras 2 that
# TF_USE_LEGACY_KERAS=1 selects there. doctor reads their versions even where `import tensorflow` dies.
DISTRIBUTIONS = ("tensorflow", "tensorflow-macos", "tensorflow-cpu", "tensorflow-metal", "keras", "tf-keras")
CPU_DEVICE = "/CPU:0"
DISTRIBUTED_SMOKE = None  # the tf environment has no distributed smoke
# Optional (frameworks.numerics): the op-level numerics suite's ops (checks/core/numerics.py runs them).
NUMERICS = "checks.frameworks.tensorflow.numerics"
# Optional (frameworks.extra_checks): verify runs each on the chosen device after the fit. Keras is how
# most TensorFlow code reaches the GPU, and where TF releases break it (Keras 3 from TF 2.16 on).
EXTRA_CHECKS = ("checks.frameworks.tensorflow.keras_fit",)
# Optional (frameworks.model_bench): the real-model training bench, `python -m checks.modelbench`.
MODEL_BENCH = "checks.frameworks.tensorflow.models"


def version() -> str:
    return tf.__version__


# --- what TensorFlow sees -----------------------------------------------------------------------------


def _gpu_kind() -> str:
    # On macOS a TF "GPU" can only be the Metal PluggableDevice; on Linux it is CUDA.
    return "metal" if platform.system() == "Darwin" else "cuda"


def accelerators() -> dict[str, Any]:
    """TF's physical devices, each GPU's details, and why there is none where there is none."""
    gpus = tf.config.list_physical_devices("GPU")
    details = []
    for gpu in gpus:
        try:
            details.append({"name": gpu.name, **tf.config.experimental.get_device_details(gpu)})
        except (ValueError, RuntimeError):
            details.append({"name": gpu.name})
    info = {
        "physical_devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
        "gpus": details,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "why_not": {},
    }
    if not gpus:
        if platform.system() == "Darwin":
            info["why_not"]["metal"] = (
                "no Metal GPU registered: tensorflow-metal is missing or failed to load (run `nox -s doctor`)"
            )
        else:
            info["why_not"]["cuda"] = (
                "this TensorFlow build has no CUDA (tensorflow-cpu)"
                if not tf.test.is_built_with_cuda()
                else "TensorFlow has CUDA but sees no GPU (driver or CUDA libraries missing)"
            )
    # Registered is not usable: a real tensor on each GPU before choosing it (checks/core/probe.py).
    info["probe"] = _probe(len(gpus))
    if gpus and not _usable_gpus(info):
        info["why_not"][_gpu_kind()] = "; ".join(probe.why_not(d, e) for d, e in probe.failed(info).items())
    return info


def probe_op(device: str) -> Callable[[], float]:
    """checks.core.probe's tiny op on `device`: sum(2 * [0, 1, 2, 3] + 1), read back to the host."""

    def op() -> float:
        with tf.device(device):
            x = tf.range(4, dtype=tf.float32)
            y = tf.reduce_sum(x * 2.0 + 1.0)
        # TensorFlow places an op elsewhere rather than fail when it can (soft placement): check where.
        want = device.strip("/").upper()
        if not y.device.upper().endswith(want):
            raise RuntimeError(f"the op ran on {y.device}, not {device}")
        return float(y.numpy())

    return op


def _probe(count: int) -> dict[str, str | None]:
    return probe.devices(probe_op, [f"/GPU:{i}" for i in range(count)])


def _usable_gpus(info: dict[str, Any]) -> list[str]:
    return [d for d in (f"/GPU:{i}" for i in range(len(info["gpus"]))) if probe.usable(info, d)]


def best_devices(info: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    info = info or accelerators()
    if _usable_gpus(info):
        return _gpu_kind(), _usable_gpus(info)
    return "cpu", [CPU_DEVICE]


def sync_for(device):
    """TensorFlow has no call that drains a device: reading a result back (.numpy()) waits for the work
    that result depends on, so the fit and the bench forms drain by reading their own values. This
    returns a no-op, for callers written against the interface."""
    return lambda: None


def doctor_facts() -> dict[str, Any]:
    """What doctor's TensorFlow rules read: the version, whether it is a CUDA build, what it registered."""
    return {
        "version": tf.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "physical_devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()],
        "probe": _probe(len(tf.config.list_physical_devices("GPU"))),
    }


# --- the sine fit, faithful ---------------------------------------------------------------------------


def _device_of(t) -> str:
    return t.device  # e.g. /job:localhost/replica:0/task:0/device:GPU:0


def sine_fit(device: str, init: list[float], *, n: int, steps: int, lr: float, on_step=None) -> FitRun:
    """The canonical loop with tf tensors; `.numpy()` on the loss is the per-step host read."""
    f32 = tf.float32
    with tf.device(device):
        x = tf.linspace(tf.constant(-math.pi, f32), tf.constant(math.pi, f32), n)
        y = tf.sin(x)
        a, b, c, d = (tf.Variable(v, dtype=f32) for v in init)

        losses: list[float] = []
        start = time.perf_counter()
        for t in range(steps):
            y_pred = a + b * x + c * x**2 + d * x**3
            loss = float(tf.reduce_sum(tf.square(y_pred - y)).numpy())
            losses.append(loss)
            if on_step is not None and t % 100 == 99:
                on_step(t, loss)
            if not math.isfinite(loss):
                break
            grad_y_pred = 2.0 * (y_pred - y)
            grad_a = tf.reduce_sum(grad_y_pred)
            grad_b = tf.reduce_sum(grad_y_pred * x)
            grad_c = tf.reduce_sum(grad_y_pred * x**2)
            grad_d = tf.reduce_sum(grad_y_pred * x**3)
            a.assign_sub(lr * grad_a)
            b.assign_sub(lr * grad_b)
            c.assign_sub(lr * grad_c)
            d.assign_sub(lr * grad_d)
        coefficients = [float(v.numpy()) for v in (a, b, c, d)]  # reading back waits for the device
        seconds = time.perf_counter() - start

    want = device.strip("/").upper()  # GPU:0 / CPU:0
    tensors = {"x": x, "y": y, "a": a, "b": b, "c": c, "d": d}
    placements = {k: _device_of(v) for k, v in tensors.items()}
    on_device = all(p.upper().endswith(want) for p in placements.values())
    return FitRun(
        device=device,
        placements=placements,
        losses=losses,
        coefficients=coefficients,
        seconds=seconds,
        steps_run=len(losses),
        on_device=on_device,
    )


# --- the bench ----------------------------------------------------------------------------------------

TIMER = "time.perf_counter around each repeat, drained by reading the result back (.numpy())"
OUT_OF_MEMORY = (tf.errors.ResourceExhaustedError, MemoryError)
block = None  # the bench's own wall clock (checks.core.harness.wall_block)


def targets(facts: dict[str, Any], *, cpu_only: bool = False) -> list[dict[str, Any]]:
    from checks.core.harness import cpu_name

    info = accelerators()
    kind, devices = best_devices(info)
    out = []
    if kind != "cpu" and not cpu_only:
        details = info["gpus"][0]
        # Metal reports no device_name: the GPU is the chip's (machdep.cpu.brand_string, e.g. "Apple M1 Pro").
        name = details.get("device_name") or facts.get("cpu_brand")
        out.append({"kind": kind, "device": devices[0], "label": kind, "name": name})
    out.append({"kind": "cpu", "device": CPU_DEVICE, "label": "cpu", "name": cpu_name(facts)})
    return out


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


class SineFit:
    """One form of the fit at one N on one device: `step()` runs one step, `run(k)` k steps -> a,b,c,d."""

    def __init__(self, device: str, n: int, init: list[float], lr: float, form: str):
        self.device, self.lr, self.form = device, lr, form
        f32 = tf.float32
        with tf.device(device):
            self.x = tf.linspace(tf.constant(-math.pi, f32), tf.constant(math.pi, f32), n)
            self.y = tf.sin(self.x)
            self.p = tf.Variable(init, dtype=f32)
        if form == "fused":
            self.step = self._fused()
        else:
            self.step = self._faithful if form == "faithful" else self._eager_step
            self.how = "eager, loss .numpy() every step" if form == "faithful" else "eager, no host read"

    def sync(self) -> None:
        self.p.numpy()

    def _faithful(self):
        return float(self._eager_step().numpy())  # the host read every step

    def _eager_step(self):
        with tf.device(self.device):
            return self._step_ops()

    def _step_ops(self):
        x, y, p, lr = self.x, self.y, self.p, self.lr
        y_pred = p[0] + p[1] * x + p[2] * x**2 + p[3] * x**3
        loss = tf.reduce_sum(tf.square(y_pred - y))
        g = 2.0 * (y_pred - y)
        grads = tf.stack(
            [tf.reduce_sum(g), tf.reduce_sum(g * x), tf.reduce_sum(g * x**2), tf.reduce_sum(g * x**3)]
        )
        p.assign_sub(lr * grads)
        return loss

    def _fused(self):
        init = self.p.numpy()
        try:
            step = tf.function(self._eager_step, jit_compile=True)
            step()
            self.how = "tf.function(jit_compile=True) (XLA)"
        except Exception as exc:  # the Metal plugin has no XLA device; say what failed
            step = tf.function(self._eager_step)
            step()
            self.how = f"tf.function graph without XLA (jit_compile failed: {_why(exc)})"
        self.p.assign(init)
        return step

    def run(self, steps: int) -> list[float]:
        for _ in range(steps):
            self.step()
        return [float(v) for v in self.p.numpy()]


def matmul_dtypes(device: str) -> list[str]:
    return ["float32", "float16", "bfloat16"] if "GPU" in device.upper() else ["float32", "bfloat16"]


class Matmul:
    """tf.linalg.matmul of two n x n random normal matrices; sync reads one element of the last result."""

    def __init__(self, device: str, n: int, dtype: str):
        self.fn: Any = None  # the timed step, once this dtype is known to run here
        self.last: Any = None  # the last result (a tf.Tensor)
        self.how = f"tf.linalg.matmul, {dtype}"
        try:
            with tf.device(device):
                gen = tf.random.Generator.from_seed(n)
                self.a = tf.cast(gen.normal((n, n)), dtype)
                self.b = tf.cast(gen.normal((n, n)), dtype)
                self.device = device
                self._mm()
                self.sync()
        except (tf.errors.OpError, TypeError, ValueError) as exc:  # no kernel for this dtype here
            self.how = f"{dtype} not supported here: {_why(exc)}"
            return
        self.fn = self._mm

    def _mm(self):
        with tf.device(self.device):
            self.last = tf.linalg.matmul(self.a, self.b)

    def sync(self) -> None:
        if self.last is not None:
            self.last[0, 0].numpy()


class Copy:
    """A real same-device copy: reads nbytes, writes nbytes. tf.identity and Variable.assign may alias the
    buffer instead of copying (measured: thousands of GB/s on a 2-core CPU), so DeepCopy is used; where
    a device has no DeepCopy kernel (TF would quietly place it on the CPU), x * 1 does the same traffic."""

    def __init__(self, device: str, nbytes: int):
        self.device = device
        self.last: Any = None  # the last copy (a tf.Tensor)
        with tf.device(device):
            self.src = tf.ones((nbytes // 4,), tf.float32)
        self.op, self.how = (lambda: tf.raw_ops.DeepCopy(x=self.src)), "tf.raw_ops.DeepCopy of float32"
        self.fn()
        if not _on(self.last, device):
            self.op, self.how = (lambda: self.src * 1.0), "x * 1.0 of float32 (no DeepCopy kernel here)"

    def fn(self):
        with tf.device(self.device):
            self.last = self.op()

    def sync(self) -> None:
        self.last[0].numpy()


def _on(tensor, device: str) -> bool:
    """Did TF really run it there? Eager soft placement moves ops without a kernel to the CPU, silently."""
    return tensor.device.upper().endswith(device.strip("/").upper())
