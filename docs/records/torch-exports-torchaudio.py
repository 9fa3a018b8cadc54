"""Which torch first defines what torchaudio 2.11.1's Linux library needs from torch (docs/mac.md, doctor's
torch-extensions rule).

torchaudio 2.11.1 declares `Requires-Dist: torch>=2.11`, yet on the lent H100 its libtorchaudio.so did not
load beside torch 2.11.0 ("undefined symbol: torch_exception_get_what_without_backtrace",
docs/gpu-runs/doctor-h100-torch-2.11-torchaudio-2.11.1.log). This reads, from the real wheels, the torch C
names (torch_*) each torchaudio 2.11.1 ELF binary needs undefined (LIEF, tools/mac/elfbind.read_elf), then
whether each torch release from 2.11.0 to 2.15.0 exports them from libtorch_cpu: its macOS arm64 wheel's
export trie (tools/mac/macho.exports; the macOS wheels are ~100 MB where Linux's CUDA ones are ~1 GB each,
and torch's C shim is one source for both; the CUDA names are libtorch_cuda's, which no macOS wheel has).
Run from the repository root in the host venv:
  PYTHONPATH=. .nox/host/bin/python docs/records/torch-exports-torchaudio.py \
    > docs/records/torch-exports-torchaudio.log
"""

from __future__ import annotations

import sys

from tools.mac import elfbind, wheelcache

TORCH = ("2.11.0", "2.12.0", "2.13.0", "2.14.0", "2.15.0")
# The C names of torch's that are not its stable ABI's aoti_torch_* (those go back to 2.11 and before).
PREFIX = "torch_"


def needed() -> dict[str, list[str]]:
    """torchaudio 2.11.1's Linux x86_64 binaries -> the torch_* names each needs undefined (not weak)."""
    wheel = wheelcache.fetch([("torchaudio", "2.11.1")], "linux-x86_64", "2.28", "3.12.18")[
        ("torchaudio", "2.11.1")
    ]
    if isinstance(wheel, str):
        sys.exit(f"error: torchaudio 2.11.1 for Linux x86_64: {wheel}")
    print(f"# {wheel.name} (sha256 {wheelcache.sha256(wheel)})")
    found = {}
    for member, elf in sorted(elfbind.elf_facts(wheel).items()):
        names = sorted(n for n, _version, weak in elf["undefined"] if n.startswith(PREFIX) and not weak)
        found[member] = names
        print(f"{member}: needs {', '.join(names) or 'no torch_* name'}")
    return found


def main() -> None:
    every = sorted({n for names in needed().values() for n in names})
    cuda = [n for n in every if "cuda" in n]
    print(f"CUDA names, libtorch_cuda's on Linux (no macOS wheel has them): {', '.join(cuda)}")
    wanted = [n for n in every if n not in cuda]
    for version in TORCH:
        wheel = wheelcache.fetch([("torch", version)], "macos-arm64", "14.0", "3.12.18")[("torch", version)]
        if isinstance(wheel, str):
            sys.exit(f"error: torch {version} for macOS arm64: {wheel}")
        exported = set(wheelcache.exports(wheel)["torch/lib/libtorch_cpu.dylib"]["symbols"])
        # Mach-O names carry a leading underscore.
        missing = [n for n in wanted if f"_{n}" not in exported]
        print(
            f"torch {version} ({wheel.name}) libtorch_cpu: "
            + (f"lacks {', '.join(missing)}" if missing else "exports all")
        )


if __name__ == "__main__":
    main()
