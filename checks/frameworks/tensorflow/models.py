"""TensorFlow training steps for the model bench: Keras ResNet50 with `weights=None`.

The model of Apple's tensorflow-metal check (`tf.keras.applications.ResNet50(include_top=True,
weights=None, ...)`, softmax head, SparseCategoricalCrossentropy), which trains it on CIFAR-100 at 32x32 with
Adam; this bench trains it on synthetic 224x224 images (--image-size) with SGD, momentum 0.9, as the torch
module does, one `model.train_on_batch` per step (it returns the loss, so each step ends with a host read:
the device is drained at every clock reading). Runs under Keras 2 (tf 2.9: `tf.keras`) and Keras 3 (tf
2.16 on: `tf.keras` is Keras 3), whose APIs used here are the same.

Mixed precision is a Keras dtype policy: `mixed_float16` on a GPU (Keras wraps the optimizer in a
LossScaleOptimizer), `mixed_bfloat16` on the CPU. `compile` is `model.compile(jit_compile=True)` (XLA); the
Metal plugin has no XLA device, so there it fails and the step runs without, recorded in `how`.
The interface is checks/core/models.py's.
"""

from __future__ import annotations

import tensorflow as tf

from checks import frameworks
from checks.core.models import Options

MODELS = {"resnet50": "images/s"}
NUM_CLASSES = 1000
LEARNING_RATE = 0.01
POLICIES = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
CPU_BFLOAT16_FROM = (2, 19)  # the oldest TF this bench has seen train mixed_bfloat16 on a CPU (tf-current)
# ResourceExhaustedError (an OpError) is the framework's out-of-memory error, caught before these.
ERRORS = (tf.errors.OpError, RuntimeError, TypeError, ValueError, NotImplementedError)


def precisions(device: str) -> list[str]:
    """float32, and the mixed policy of the device: float16 on a GPU; bfloat16 on the CPU where it trains.
    TF 2.9's CPU Conv2D produces no bfloat16 output (measured: InternalError "Missing 0-th output from node
    resnet50/conv1_conv/Conv2D"); TF 2.19's trains it, so the CPU gets bfloat16 from the release measured."""
    if "GPU" in device.upper():
        return ["float32", "float16"]
    return ["float32", "bfloat16"] if frameworks.release(tf.__version__) >= CPU_BFLOAT16_FROM else ["float32"]


def _why(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160] if lines else ''}"


class Step:
    """One `train_on_batch` of Keras ResNet50 at `batch` on `device` under the precision's policy."""

    def __init__(self, model: str, device: str, batch: int, precision: str, options: Options):
        if model not in MODELS:
            raise ValueError(f"expected a model in {', '.join(MODELS)}, got {model!r}")
        keras = tf.keras
        self.device, self.items, self.last = device, batch, None
        size = options.image_size
        policy = POLICIES[precision]
        tf.random.set_seed(0)
        keras.mixed_precision.set_global_policy(policy)
        try:  # the policy applies to the layers built now; later models start from float32 again
            with tf.device(device):
                self.net = keras.applications.ResNet50(
                    weights=None, input_shape=(size, size, 3), classes=NUM_CLASSES
                )
                self.x = tf.random.uniform((batch, size, size, 3))
                self.y = tf.random.uniform((batch,), maxval=NUM_CLASSES, dtype=tf.int32)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        version = getattr(keras, "__version__", "?")
        xla = self._compile(options.compile)
        self.how = (
            f"Keras {version} ResNet50(weights=None), {size}x{size}, train_on_batch, SGD momentum 0.9, "
            f"policy {policy}, {xla}"
        )

    def _compile(self, jit: bool) -> str:
        self._keras_compile(jit)
        try:
            self.fn()  # builds the train function (and XLA's program): not part of any timing
            return "jit_compile=True (XLA)" if jit else "jit_compile=False"
        except tf.errors.ResourceExhaustedError:
            raise
        except Exception as exc:  # no XLA device (Metal), or XLA could not compile the step
            if not jit:
                raise
            self._keras_compile(False)
            self.fn()
            return f"jit_compile=False (XLA failed: {_why(exc)})"

    def _keras_compile(self, jit: bool) -> None:
        keras = tf.keras
        self.net.compile(
            optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            jit_compile=jit,
        )

    def sync(self) -> None:
        """Nothing queued: train_on_batch returned the loss, so the step's work is done."""

    def fn(self):
        with tf.device(self.device):
            out = self.net.train_on_batch(self.x, self.y)
        self.last = out[0] if isinstance(out, (list, tuple)) else out
        return self.last

    def loss(self) -> float:
        return float(self.last)  # type: ignore[arg-type]  # set by step(), which always runs first


def release(device: str) -> None:
    """Drop Keras's global graph state between points (each builds a new model)."""
    tf.keras.backend.clear_session()
