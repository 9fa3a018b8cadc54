"""Training steps of real models for the model bench (checks/modelbench.py), one module per framework.

A framework declares its module as MODEL_BENCH in checks/frameworks/NAME/__init__.py (a top-level literal,
read by `frameworks.model_bench`). Each module provides:

    MODELS                      {name: unit}: "images/s" or "tokens/s", what one step's items are
    precisions(device)          the precisions tried on that device, "float32" first
    Step(model, device, batch, precision, options) -> a training step, with
        fn()                    one step: forward, loss, backward, optimizer update, gradients cleared
        sync()                  drains the device (every clock reading follows it)
        items                   images or tokens per step (the throughput's numerator)
        how                     one line: what it really ran (layout, autocast, compiled or why not)
        loss()                  the last loss as a float (a host read: called after timing, never inside)
    release(device)             frees what a finished (or out-of-memory) point left in the device's cache
    ERRORS                      what a step raises where the device cannot run it (a dtype without kernels):
                                the sweep records it and stops that precision, instead of ending the run

Timing is checks.core.harness.measure's wall clock (time.perf_counter with the device drained at every
reading), not torch.utils.benchmark's Timer: that adds two untimed calls to every repeat, seconds each for a
training step on a CPU.

`options` is an `Options`: image size, sequence length, channels_last, compile. Data is synthetic, made on
the device once (no downloads, no input pipeline in the timed loop): the bench times the device's training
step, as the published synthetic-data figures do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

UNITS = {"images/s", "tokens/s"}
# Transformer encoder shapes (tokens/s): a small BERT-like encoder (d_model 512, 8 heads, 6 layers), and a
# tiny one for CI-size runs on a 2-core CPU.
TRANSFORMER = {"d_model": 512, "heads": 8, "layers": 6, "ff": 2048, "vocab": 8192}
TINY_TRANSFORMER = {"d_model": 128, "heads": 4, "layers": 2, "ff": 512, "vocab": 1024}


@dataclass(frozen=True)
class Options:
    image_size: int = 224
    seq_len: int = 256
    channels_last: bool = False
    compile: bool = False
    transformer: tuple[Any, ...] = tuple(TRANSFORMER.items())  # hashable; dict(options.transformer) reads it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
