"""Models and a step to audit with `nox -s audit` (docs/audit.md shows their reports; tests/env/test_audit.py
runs them in every torch environment). Small sizes: the audit needs the ops a step calls, not its speed.

    nox -s audit -- --model examples.audit_models:lstm --input 2,8,16
    nox -s audit -- --step examples.audit_models:numerics_step
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from checks.core.models import TINY_TRANSFORMER


def vit_b_16() -> torch.nn.Module:
    """torchvision's ViT-B/16 (86M parameters), for 32x32 images (2x2 patches) instead of 224x224."""
    import torchvision

    return torchvision.models.vit_b_16(weights=None, image_size=32)


def transformer() -> torch.nn.Module:
    """The model bench's transformer encoder (checks/frameworks/torch/models.py) at its CI size, 16 tokens."""
    from checks.frameworks.torch.models import _Encoder

    return _Encoder(16, TINY_TRANSFORMER)


class _LSTMClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(16, 32, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _state = self.lstm(x)
        return self.head(out[:, -1])


def lstm() -> torch.nn.Module:
    """A two-layer LSTM over (batch, time, 16) features with a 5-class head."""
    return _LSTMClassifier()


def numerics_step() -> None:
    """One step through linear algebra, FFT, pooling and interpolation variants, with backward."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 6, 6, generator=g, requires_grad=True)
    spd = a @ a.transpose(-1, -2) + 6 * torch.eye(6)
    q, r = torch.linalg.qr(a)
    eigenvalues = torch.linalg.eigvalsh(spd)
    chol = torch.linalg.cholesky(spd)
    solved = torch.linalg.solve(spd, torch.ones(4, 6, 1))
    singular = torch.linalg.svdvals(a)
    linalg = q.sum() + r.sum() + eigenvalues.sum() + chol.sum() + solved.sum() + singular.sum()
    linalg = linalg + torch.linalg.det(spd).log().sum() + torch.linalg.inv(spd).sum()

    signal = torch.randn(2, 64, generator=g, requires_grad=True)
    spectrum = torch.fft.rfft(signal)
    # irfft's backward raises on torch 2.8's CPU (MKL "Inconsistent configuration parameters"): forward only
    inverse = torch.fft.irfft(spectrum.detach(), n=64)
    fft = inverse.sum() + spectrum.abs().sum() + torch.fft.fft2(signal).abs().sum()

    image = torch.randn(2, 3, 8, 8, generator=g, requires_grad=True)
    volume = torch.randn(1, 2, 4, 8, 8, generator=g, requires_grad=True)
    pooled = (
        F.max_pool2d(image, 2).sum()
        + F.avg_pool2d(image, 3, stride=1, padding=1).sum()
        + F.adaptive_avg_pool2d(image, 3).sum()
        + F.adaptive_max_pool2d(image, 3).sum()
        + F.max_pool3d(volume, 2).sum()
        + F.avg_pool3d(volume, 2).sum()
        + F.max_pool1d(signal.unsqueeze(0), 4).sum()
    )
    resized = (
        F.interpolate(image, scale_factor=2, mode="nearest").sum()
        + F.interpolate(image, size=(11, 13), mode="bilinear", align_corners=False).sum()
        + F.interpolate(image, scale_factor=2, mode="bicubic", align_corners=True).sum()
        + F.interpolate(volume, scale_factor=2, mode="trilinear").sum()
        + F.interpolate(signal.unsqueeze(0), scale_factor=2, mode="linear").sum()
        + F.grid_sample(volume, torch.zeros(1, 2, 2, 2, 3), align_corners=False).sum()
    )
    (linalg + fft + pooled + resized).backward()
