"""TensorFlow side of the bench: the three forms of the sine-fit step, matmul and copy, on one device.

The fused form is the whole step in one `tf.function(jit_compile=True)`: XLA fuses the loss and the four
gradient sums into one pass over x and y. The Metal plugin (tensorflow-metal) has no XLA device, so on a
Mac the jit_compile call fails and the step runs as a plain tf.function graph (no fusion); the result says
so. TensorFlow has no device synchronise call: reading a value back (.numpy()) waits for the work it
depends on, so each form's `sync` reads its own parameters, which depend on every step before.
"""

from __future__ import annotations

import math

import tensorflow as tf

from checks import bench, tf_unit

TIMER = "time.perf_counter around each repeat, drained by reading the result back (.numpy())"
OUT_OF_MEMORY = (tf.errors.ResourceExhaustedError, MemoryError)
block = bench.wall_block


def version() -> str:
    return tf.__version__


def targets(facts: dict, *, cpu_only: bool = False) -> list[dict]:
    info = tf_unit.accelerators()
    kind, devices = tf_unit.best_devices(info)
    out = []
    if kind != "cpu" and not cpu_only:
        details = info["gpus"][0]
        # Metal reports no device_name: the GPU is the chip's (machdep.cpu.brand_string, e.g. "Apple M1 Pro").
        name = details.get("device_name") or facts.get("cpu_brand")
        out.append({"kind": kind, "device": devices[0], "label": kind, "name": name})
    out.append({"kind": "cpu", "device": "/CPU:0", "label": "cpu", "name": bench.cpu_name(facts)})
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
        self.fn, self.last = None, None
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
        self.device, self.last = device, None
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
