"""The Keras check: a small Keras model fit to sin(x) with `model.fit` on the chosen device, judged.

TensorFlow code mostly reaches the GPU through Keras, not through hand-written tensors, and Keras is where
TensorFlow's releases break code (Keras 3 from TF 2.16 on: tf-keras + TF_USE_LEGACY_KERAS=1 for Keras 2
code). So every TensorFlow environment runs this beside the sine fit (an extra check the framework module
declares: checks/frameworks/tensorflow/__init__.py EXTRA_CHECKS), whatever Keras it has (2.9 in the seed `tf`,
3.x in `tf-current`).

The model: x = 2000 evenly spaced float32 points in [-pi, pi], y = sin(x); Dense(16, tanh) -> Dense(1),
Adam (lr 0.01), mean squared error, batch 200, EPOCHS epochs (50 steps), seeded. It passes when the loss
is finite, fell at least MIN_DROP times from the untrained model's, every weight is float32 and every weight
lives on the chosen device.

    run(device, locked=None) -> report
                                 {"keras_version", "device", "initial_loss", "final_loss", "seconds",
                                  "weights_on", "dtypes", "passed", "failures", "how"}
    summary_line(report) -> str  one line for verify's output
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf

# The name its report and failure lines carry in verify's report ("keras_fit: ..."; frameworks.check_name).
REPORT_NAME = "keras_fit"

N_POINTS = 2000
EPOCHS = 5
BATCH = 200
LEARNING_RATE = 0.01
MIN_DROP = 2.0  # the loss must fall at least this many times (measured: ~0.5 -> ~0.01 on CPU)


def keras_version() -> str:
    """The Keras that `tf.keras` is: tf-keras under TF_USE_LEGACY_KERAS=1, else keras (2.x or 3.x)."""
    names = ("tf-keras", "keras") if os.environ.get("TF_USE_LEGACY_KERAS") == "1" else ("keras",)
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return getattr(tf.keras, "__version__", "unknown")


def _device_of(weight) -> str:
    """Where a Keras weight lives: a tf.Variable's device (Keras 2), or its backing one's (Keras 3)."""
    for holder in (weight, getattr(weight, "value", None)):
        device = getattr(holder, "device", None)
        if isinstance(device, str) and device:
            return device
    return "unknown"


def _dtype_of(weight) -> str:
    dtype = weight.dtype
    return getattr(dtype, "name", str(dtype))


def _on(where: str, device: str) -> bool:
    """'/job:localhost/replica:0/task:0/device:GPU:0' is on '/GPU:0'."""
    return where.upper().endswith(device.strip("/").upper())


def run(device: str, locked: frozenset[str] | None = None) -> dict[str, Any]:
    """The fit on `device`; `locked` (what the lock installs here) is unused: Keras comes with TensorFlow."""
    keras = tf.keras
    report: dict[str, Any] = {"keras_version": keras_version(), "device": device, "failures": [], "how": (
        f"Dense(16, tanh) -> Dense(1), Adam lr {LEARNING_RATE}, MSE, {N_POINTS} float32 points, "
        f"batch {BATCH}, "
        f"{EPOCHS} epochs, model.fit under tf.device({device!r})"
    )}  # fmt: skip
    x = np.linspace(-math.pi, math.pi, N_POINTS, dtype=np.float32).reshape(-1, 1)
    y = np.sin(x).astype(np.float32)
    keras.utils.set_random_seed(0)
    started = time.perf_counter()
    with tf.device(device):
        model = keras.Sequential(
            [keras.Input(shape=(1,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="mse")
        initial = float(model.evaluate(x, y, batch_size=BATCH, verbose=0))
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0)
        final = float(model.evaluate(x, y, batch_size=BATCH, verbose=0))
    report["seconds"] = time.perf_counter() - started
    report["initial_loss"], report["final_loss"] = initial, final
    report["epoch_losses"] = [float(v) for v in history.history["loss"]]
    report["weights_on"] = sorted({_device_of(w) for w in model.weights})
    report["dtypes"] = sorted({_dtype_of(w) for w in model.weights})

    if not (math.isfinite(initial) and math.isfinite(final)):
        report["failures"].append(f"expected finite losses, got {initial} -> {final}")
    elif not final * MIN_DROP <= initial:
        report["failures"].append(
            f"expected the loss to fall at least {MIN_DROP:g}x, got {initial:.4g} -> {final:.4g}"
        )
    if report["dtypes"] != ["float32"]:
        report["failures"].append(f"expected every weight float32, got {report['dtypes']}")
    off = [w for w in report["weights_on"] if not _on(w, device)]
    if off:
        report["failures"].append(f"expected every weight on {device}, got {report['weights_on']}")
    report["passed"] = not report["failures"]
    return report


def summary_line(report: dict[str, Any]) -> str:
    return (
        f"keras {report['keras_version']} model.fit on {report['device']}: "
        f"loss {report['initial_loss']:.4g} -> {report['final_loss']:.4g} in {EPOCHS} epochs, "
        f"weights {'/'.join(report['dtypes'])} on {', '.join(report['weights_on'])}, "
        f"{report['seconds']:.1f} s  {'ok' if report['passed'] else 'FAILED'}"
    )
