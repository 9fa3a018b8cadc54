"""Steps for tests/env/test_audit.py's dtype and bad-input cases (imported by checks.audit as
tests.env.audit_steps from the repository root)."""

from __future__ import annotations

import torch


def float64_step() -> None:
    w = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    (w * 2).sum().backward()


def bfloat16_step() -> None:
    w = torch.randn(3, 4, dtype=torch.bfloat16, requires_grad=True)
    (w * 2).sum().backward()


def complex_step() -> None:
    torch.fft.rfft(torch.randn(2, 16)).abs().sum()


def raising_step() -> None:
    raise ValueError("the step's own error")


def not_a_model() -> int:
    return 3


def cuda_step() -> None:
    torch.ones(2, device="cuda").sum()
