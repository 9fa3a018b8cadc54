"""Jupyter: the example notebook runs headless in this environment; `nox -s kernel` registers and removes.

Both run for real: nbclient starts an IPython kernel of this very venv, and the kernel test builds the
kernel venv from the locks in a copy of the repo, with JUPYTER_DATA_DIR pointing at a temporary folder so
the user's own kernels are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT

from tools.envs import envspec

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def _needs(module: str):
    """Under `nox -s tests` the notebook layer is installed, so a missing module is a failure, not a skip."""
    if os.environ.get("GPUENV_UNDER_TEST"):
        return __import__(module)
    return pytest.importorskip(module, reason="the notebook layer (requirements/<env>-notebook.txt)")


def _text_outputs(nb) -> str:
    cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    return "".join(out.get("text", "") for cell in cells for out in cell.get("outputs", []))


def test_quickstart_notebook_executes(env_under_test):
    nbformat = _needs("nbformat")
    nbclient = _needs("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it without outputs"
    # python3 = the kernel of this venv; the notebook runs from its own folder, as Jupyter would run it.
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    text = _text_outputs(nb)
    assert "best device: " in text
    assert "max |coef - float64 ref|" in text
    assert text.rstrip().endswith("PASS"), text[-2000:]
    if env_under_test:
        framework = envspec.environments()[env_under_test].framework
        assert text.startswith(f"{framework} "), text[:200]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _colab_server_flags() -> list[str]:
    """The options of the `jupyter notebook` command in docs/jupyter.md's Colab block, as a shell reads."""
    text = (ROOT / "docs" / "jupyter.md").read_text()
    found = re.search(r"<!-- colab-server\b.*?-->\s*```bash\n(.*?)```", text, re.S)
    assert found, "docs/jupyter.md has no ```bash block after <!-- colab-server -->"
    command = next(
        line for line in found.group(1).replace("\\\n", " ").splitlines() if "jupyter notebook" in line
    )
    words = shlex.split(command, comments=True)
    return words[words.index("notebook") + 1 :]


def test_colab_server_command_trusts_colab(tmp_path):
    """docs/jupyter.md's Colab server flags on the locked notebook server: Colab's origin is let in."""
    _needs("notebook")
    port, token, colab = _free_port(), "gpuenv-test-token", "https://colab.research.google.com"
    flags = _colab_server_flags()
    assert flags == [
        f"--ServerApp.allow_origin={colab}", "--port=8888", "--ServerApp.port_retries=0", "--no-browser"
    ]  # fmt: skip
    jupyter = Path(sys.executable).parent / "jupyter"
    server = subprocess.Popen(
        # The documented flags, on a free port instead of 8888 (a test must not collide with a real server).
        [str(jupyter), "notebook", *(f"--port={port}" if f == "--port=8888" else f for f in flags),
         f"--IdentityProvider.token={token}",
         # CI runs as root, which jupyter_server refuses unless told; a Mac user is never root.
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "JUPYTER_DATA_DIR": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path)},
    )  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/kernelspecs",
        headers={"Origin": colab, "Authorization": f"token {token}"},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as reply:
                    body, allowed = json.load(reply), reply.headers.get("Access-Control-Allow-Origin")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    assert allowed == colab, log[-3000:]
    assert body["default"] == "python3" and "python3" in body["kernelspecs"]
