"""The measurement harness the sine-fit bench (checks/bench.py) and the model bench (checks/modelbench.py)
share: the clock (`measure`: warm-up, calls per repeat, the median over repeats, a drain before every
reading), the progress lines, the --json/--out-dir/--tag options and the report they name, the load average
and the CPU's name. Standard library only; a framework module passes its own `block` and `sync`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, TextIO

from checks.core import argcheck, platform_facts, report


@dataclass
class Timing:
    """Seconds per call: the median over repeats, and the spread a reader needs to trust it."""

    median_s: float
    min_s: float
    iqr_s: float
    repeats: int
    number: int  # calls per repeat (one clock reading covers this many calls)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def wall_block(fn: Callable[[], object], number: int, sync: Callable[[], None]) -> float:
    """Seconds for `number` calls of fn, with the device drained before starting and before stopping."""
    sync()
    start = time.perf_counter()
    for _ in range(number):
        fn()
    sync()
    return time.perf_counter() - start


def measure(
    fn: Callable[[], object],
    *,
    sync: Callable[[], None],
    warmup: int = 3,
    repeats: int = 5,
    min_time: float = 0.05,
    max_number: int = 10000,
    block: Callable[[Callable[[], object], int, Callable[[], None]], float] | None = None,
) -> Timing:
    """Warm up, pick how many calls make one repeat last ~min_time, then take the median over repeats.

    `block(fn, number, sync)` times one repeat; the torch module passes torch.utils.benchmark's Timer with
    a synchronising clock, None is `wall_block`. Either way every clock reading follows a sync, so
    queued GPU work is inside the interval it belongs to.
    """
    block = block or wall_block
    for _ in range(warmup):
        fn()
    once = block(fn, 1, sync)
    number = max(1, min(max_number, int(min_time / once) if once > 0 else max_number))
    samples = [block(fn, number, sync) / number for _ in range(repeats)]
    q = statistics.quantiles(samples, n=4) if len(samples) >= 2 else [samples[0]] * 3
    return Timing(statistics.median(samples), min(samples), q[2] - q[0], repeats, number)


def cpu_name(facts: dict[str, Any]) -> str:
    """The CPU's model name: sysctl's brand string on a Mac, /proc/cpuinfo on Linux."""
    if facts.get("cpu_brand"):
        return str(facts["cpu_brand"])
    return platform_facts.cpuinfo("model name") or platform.processor() or platform.machine()


class Progress:
    """One line per measured point on stderr, numbered, so a long sweep shows where it is."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream, self.start = total, 0, stream, time.perf_counter()

    def __call__(self, text: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        print(f"[{self.done:3d}/{self.total}] {elapsed:6.1f}s  {text}", file=self.stream, flush=True)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (Unix); None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def add_output_args(p: argparse.ArgumentParser, prefix: str, devices: str) -> None:
    """--json PATH or --out-dir DIR (with --tag), checked before any work; write_report writes there."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--json",
        type=argcheck.output_file,
        metavar="PATH",
        help="write the results here (default: print only)",
    )
    where.add_argument(
        "--out-dir",
        type=argcheck.output_dir,
        metavar="DIR",
        help=f"write DIR/{prefix}-<tag>-<device>.json (device: {devices})",
    )
    p.add_argument(
        "--tag", default=None, help="the environment's name in --out-dir file names (default: framework)"
    )


def write_report(args: argparse.Namespace, data: dict[str, Any], prefix: str) -> None:
    """The report as JSON at --json, or at --out-dir/PREFIX-TAG-DEVICE.json; written whole or not at all."""
    if args.out_dir:
        name = f"{prefix}-{args.tag or args.framework}-{data['devices'][0]['label']}.json"
        args.json = args.out_dir / name
    if args.json:
        report.write_json(args.json, data)
        print(f"results: {args.json}")
