"""The one helper a project needs: the best PyTorch device, mps > cuda > cpu.

    from checks.device import best_device
    model.to(best_device())

It uses the same rules verify proves, so what `nox -s verify` reported is what your code gets.
"""

from __future__ import annotations


def best_device():
    """A torch.device: Apple's GPU if usable, else the first CUDA GPU, else the CPU."""
    import torch

    from checks import frameworks

    _kind, devices = frameworks.load("torch").best_devices()
    return torch.device(devices[0])
