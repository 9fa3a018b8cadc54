"""Start a registered Jupyter kernel and import the framework and checks/ in it: proof that it works.

    python -m checks.kernel_smoke KERNEL_NAME FRAMEWORK

Run by `nox -s kernel` with the kernel venv's Python (it needs jupyter_client, from the notebook layer).
Exit 0 when the kernel starts and the imports succeed; otherwise one line saying what failed.
"""

from __future__ import annotations

import sys
from typing import Any

from jupyter_client.manager import start_new_kernel


def _print_stream(msg: dict[str, Any]) -> None:
    if msg["msg_type"] == "stream":
        print(msg["content"]["text"], end="")


def smoke(kernel_name: str, framework: str) -> str | None:
    """None when the kernel ran the imports, else why not (its error, as Python reported it)."""
    manager, client = start_new_kernel(kernel_name=kernel_name, startup_timeout=120)
    try:
        # The framework through the registry: its version() knows where each keeps it (mlx: mlx.core).
        code = (
            "import sys, checks.verify\nfrom checks import frameworks\n"
            f"print(sys.executable, frameworks.load({framework!r}).version())"
        )
        reply = client.execute_interactive(code, timeout=300, output_hook=_print_stream)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    content = reply["content"]
    if content["status"] == "ok":
        return None
    return f"{content.get('ename')}: {content.get('evalue')}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m checks.kernel_smoke KERNEL_NAME FRAMEWORK", file=sys.stderr)
        return 2
    kernel_name, framework = argv
    error = smoke(kernel_name, framework)
    if error:
        print(
            f"expected kernel {kernel_name!r} to import {framework} and checks, got {error}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
