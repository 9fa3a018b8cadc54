"""Known devices' peaks, as data with sources, and the rule that matches a device name to one of them.

The bench divides what it measured by these numbers. A device that matches no row gets its measured
numbers and no ratio: a guessed peak would make every percentage a guess.

Units: TFLOP/s for compute (dense, no sparsity), GB/s (1e9 bytes per second) for memory bandwidth.
`best_measured` holds the best public *measured* figure where one is known: the yardstick for "is this
run as good as this GPU gets", since no GEMM reaches the datasheet peak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NVIDIA_H100 = "https://www.nvidia.com/en-us/data-center/h100/ (datasheet: H100 SXM / PCIe columns)"
NVIDIA_H200 = "https://www.nvidia.com/en-us/data-center/h200/ (datasheet: H200 SXM)"
NVIDIA_A100 = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
NVIDIA_T4 = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf"
METAL_BENCH = "https://github.com/philipturner/metal-benchmarks (GPU cores x 128 FP32 ALUs x 2 FLOP x clock)"
APPLE_SPECS = "Apple's tech-spec pages (memory bandwidth per chip)"
# The best public measured BF16 GEMM: Stas Bekman's Maximum Achievable Matmul FLOPS table (mean of 100
# products after 50 warm-up ones, at the best shape), line 354: "| NVIDIA H100 SXM | 794.5 | 989 | 80.3% |
# 2048x2048x13312 | 2.7.0+cu126 | H200 is the same |" (spaces squeezed). It has no bf16 row for the H200.
FACTS = (
    "https://github.com/stas00/ml-engineering/blob/744d01e18b79512572f64a6bbd8b5f4a725203a7/"
    "compute/accelerator/README.md#L354 (MAMF table: H100 SXM bf16 794.5 TFLOP/s, 'H200 is the same')"
)


@dataclass(frozen=True)
class Peak:
    """One device's published peaks. `pattern` is a regex matched against the device name."""

    name: str
    pattern: str
    bandwidth_gbs: float
    tflops: dict[str, float]  # dtype -> dense peak TFLOP/s (float32 = no TF32, as torch's default)
    sources: tuple[str, ...]
    best_measured: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bandwidth_gbs": self.bandwidth_gbs,
            "tflops": dict(self.tflops),
            "best_measured_tflops": dict(self.best_measured),
            "sources": list(self.sources),
        }


def _apple(name: str, gpu_cores: int, clock_ghz: float, bandwidth_gbs: float) -> Peak:
    """Apple GPUs: FP32 peak = cores x 128 ALUs x 2 (FMA) x clock. FP16 runs at the FP32 rate on M1-M4
    (metal-benchmarks), so no separate half-precision peak is claimed; bfloat16 has no native ALU path."""
    word = re.escape(name)
    return Peak(
        name=f"{name} ({gpu_cores}-core GPU)",
        pattern=rf"^{word}$",
        bandwidth_gbs=bandwidth_gbs,
        tflops={"float32": round(gpu_cores * 128 * 2 * clock_ghz / 1000, 2)},
        sources=(METAL_BENCH, APPLE_SPECS),
    )


# GPU clocks per generation (metal-benchmarks): M1 1.278 GHz, M2 1.398, M3 1.38, M4 1.47. Core counts are
# the top bin of each chip: the brand string does not say which bin a Mac has, so a smaller bin reads as a
# lower ratio (the JSON records the gpu_cores used, and `--gpu-cores` corrects it).
APPLE = [
    _apple("Apple M1", 8, 1.278, 68.25),
    _apple("Apple M1 Pro", 16, 1.278, 200),
    _apple("Apple M1 Max", 32, 1.278, 400),
    _apple("Apple M1 Ultra", 64, 1.278, 800),
    _apple("Apple M2", 10, 1.398, 100),
    _apple("Apple M2 Pro", 19, 1.398, 200),
    _apple("Apple M2 Max", 38, 1.398, 400),
    _apple("Apple M2 Ultra", 76, 1.398, 800),
    _apple("Apple M3", 10, 1.38, 100),
    _apple("Apple M3 Pro", 18, 1.38, 150),
    _apple("Apple M3 Max", 40, 1.38, 400),
    _apple("Apple M3 Ultra", 80, 1.38, 819),
    _apple("Apple M4", 10, 1.47, 120),
    _apple("Apple M4 Pro", 20, 1.47, 273),
    _apple("Apple M4 Max", 40, 1.47, 546),
]

NVIDIA = [
    # torch.cuda.get_device_name() spells them e.g. "NVIDIA H100 80GB HBM3" (SXM), "NVIDIA H100 PCIe",
    # "NVIDIA H200", "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "Tesla T4".
    Peak(
        "NVIDIA H200 (SXM)",
        r"\bH200\b",
        4800,
        {"float32": 67, "float16": 989, "bfloat16": 989},
        (NVIDIA_H200, FACTS),
        best_measured={
            "bfloat16": 794.5
        },  # the public table's H100 SXM figure: its note says "H200 is the same"
    ),
    Peak(
        "NVIDIA H100 PCIe",
        r"\bH100\b.*\bPCIe\b",
        2000,
        {"float32": 51, "float16": 756, "bfloat16": 756},
        (NVIDIA_H100,),
    ),
    Peak(
        "NVIDIA H100 SXM",
        r"\bH100\b.*(\bSXM|HBM3)",
        3350,
        {"float32": 67, "float16": 989, "bfloat16": 989},
        (NVIDIA_H100, FACTS),
        best_measured={"bfloat16": 794.5},  # best public BF16 GEMM on H100 SXM (FACTS)
    ),
    Peak(
        "NVIDIA A100 SXM4 80GB",
        r"\bA100\b.*SXM.*80GB",
        2039,
        {"float32": 19.5, "float16": 312, "bfloat16": 312},
        (NVIDIA_A100,),
    ),
    Peak(
        "NVIDIA A100 40GB",
        r"\bA100\b.*40GB",
        1555,
        {"float32": 19.5, "float16": 312, "bfloat16": 312},
        (NVIDIA_A100,),
    ),
    Peak(
        "NVIDIA A100 80GB PCIe",
        r"\bA100\b.*80GB.*PCIe",
        1935,
        {"float32": 19.5, "float16": 312, "bfloat16": 312},
        (NVIDIA_A100,),
    ),
    # T4 (Turing): FP16 tensor cores, no bfloat16 tensor path; 8.1 TFLOPS FP32, 320 GB/s.
    Peak("NVIDIA T4", r"\bT4\b", 320, {"float32": 8.1, "float16": 65}, (NVIDIA_T4, FACTS)),
]

KNOWN = [*NVIDIA, *APPLE]


def match(device_name: str | None, gpu_cores: int | None = None) -> Peak | None:
    """The one row whose pattern matches `device_name`; None for an unknown (or ambiguous) device.

    `gpu_cores` (Apple only) rescales the FP32 peak to the Mac's actual bin, e.g. a 14-core M1 Pro.
    """
    if not device_name:
        return None
    name = " ".join(device_name.split())
    hits = [p for p in KNOWN if re.search(p.pattern, name, flags=re.IGNORECASE)]
    if len(hits) != 1:
        return None
    peak = hits[0]
    if gpu_cores and peak in APPLE:
        top = int(peak.name.rsplit("(", 1)[1].split("-")[0])
        scaled = {k: round(v * gpu_cores / top, 2) for k, v in peak.tflops.items()}
        peak = Peak(
            f"{peak.name.rsplit(' (', 1)[0]} ({gpu_cores}-core GPU)",
            peak.pattern,
            peak.bandwidth_gbs,
            scaled,
            peak.sources,
        )
    return peak
