"""TensorFlow: which devices it sees (the Metal PluggableDevice on a Mac), and the sine fit on one.

Plain tensors and Variables, no Keras: the same loop as the PyTorch version, op for op.
"""

from __future__ import annotations

import math
import platform
import time

import tensorflow as tf

from checks.sine_fit import FitRun

FRAMEWORK = "tensorflow"


def version() -> str:
    return tf.__version__


def _gpu_kind() -> str:
    # On macOS a TF "GPU" can only be the Metal PluggableDevice; on Linux it is CUDA.
    return "metal" if platform.system() == "Darwin" else "cuda"


def accelerators() -> dict:
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
    return info


def best_devices(info: dict | None = None) -> tuple[str, list[str]]:
    info = info or accelerators()
    if info["gpus"]:
        return _gpu_kind(), [f"/GPU:{i}" for i in range(len(info["gpus"]))]
    return "cpu", ["/CPU:0"]


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
