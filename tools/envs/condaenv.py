"""conda's own steps for `conda env create -f environment-NAME.yml`, as far as the pip section goes.

No conda can run on our Linux CI machine (conda channels are unreachable), so this module does what conda
does, step by step, following conda's source (conda 26.7.1, github.com/conda/conda, tag 26.7.1):

1. Read the file as UTF-8 bytes (UTF-16 if that fails): `conda/env/env.py` `load_file`.
2. Parse it with ruamel.yaml's round-trip loader, `YAML(typ="rt")`: `conda/env/env.py` `from_yaml` calls
   `conda/common/serialize/yaml.py` `loads` -> `_yaml()`.
3. Split the dependencies: every mapping item is merged into the dependency dict (so `- pip: [...]` becomes
   `dependencies["pip"]`), everything else is a conda MatchSpec: `conda/env/env.py` `Dependencies.parse`;
   `EnvironmentYaml` hands `dependencies["pip"]` on as `external_packages["pip"]`.
4. The pip working folder is the yml's folder if it is writable, else None (pip's own cwd):
   `conda/env/pip_util.py` `get_pip_workdir`, called from `conda/cli/install.py`.
5. The pip items are written, joined by newlines, into a temporary file `condaenv.*.requirements.txt` in
   that folder (`"\\n".join(specs)`: a non-string item makes conda fail right there), then conda runs
   `<prefix>/bin/python -m pip install -U -r <that file> --exists-action=b` with cwd = that folder, and
   deletes the file: `conda/env/installers/pip.py` `_pip_install_via_requirements` and
   `conda/env/pip_util.py` `pip_subprocess`.

`python -m tools.envs.condaenv pip-step environment-torch.yml --python VENV/bin/python` runs steps 1-5 against
a Python of our choosing (a fresh venv standing in for the conda env's python + pip).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class CondaFileError(Exception):
    """The file cannot go through conda's steps; the message is one line naming the file."""


def load(path: Path) -> object:
    """Steps 1-2: the document exactly as conda's parser sees it (CommentedMap/CommentedSeq/str...)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-16")
    try:
        return YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CondaFileError(
            f"{path.name}: expected valid YAML, got a syntax error{where}: {problem}"
        ) from None


def plain(path: Path) -> Any:
    """A YAML file as plain dicts, lists and scalars (ruamel.yaml's safe loader, the same library as conda's
    parser): what the locks' stamps digest and what the conda-lock files are read as."""
    return YAML(typ="safe", pure=True).load(path.read_text())


def dump(data: Any) -> str:
    """`data` as block-style YAML in its own key order (ruamel.yaml): the conda layer conda-lock reads."""
    out = io.StringIO()
    writer = YAML(typ="rt")
    writer.default_flow_style = False
    writer.dump(data, out)
    return out.getvalue()


def dependencies(doc: object) -> dict[str, list[Any]]:
    """Step 3: {"conda": [specs...], "pip": [items...]} as `Dependencies.parse` builds it."""
    found: dict[str, list[Any]] = {"conda": []}
    raw = doc.get("dependencies") if isinstance(doc, dict) else None
    for item in raw or []:
        if isinstance(item, dict):
            found.update(item)  # a later `- pip:` replaces an earlier one, as dict.update does in conda
        else:
            found["conda"].append(item)
    return found


def pip_items(doc: object) -> list[Any]:
    """The list conda hands to its pip installer (empty when there is no pip section)."""
    return list(dependencies(doc).get("pip") or [])


def pip_workdir(conda_file: Path) -> Path | None:
    """Step 4: the yml's folder when writable; None means pip runs in conda's own cwd."""
    folder = conda_file.resolve().parent
    return folder if os.access(folder, os.W_OK) else None


def write_requirements(items: list[Any], workdir: Path | None) -> Path:
    """Step 5, first half: the temporary requirements file, written as conda writes it."""
    with tempfile.NamedTemporaryFile(
        mode="w",
        encoding="utf-8",
        prefix="condaenv.",
        suffix=".requirements.txt",
        dir=workdir,
        delete=False,
    ) as requirements:
        name = requirements.name
        try:
            requirements.write("\n".join(items))
        except TypeError:
            bad = next(item for item in items if not isinstance(item, str))
            Path(name).unlink()
            raise CondaFileError(
                f"expected every pip item to be a string, got {type(bad).__name__} {dict(bad)!r}"
                if isinstance(bad, dict)
                else f"expected every pip item to be a string, got {type(bad).__name__} {bad!r}"
            ) from None
    return Path(name)


def pip_command(python: Path, requirements: Path) -> list[str]:
    """Step 5, second half: conda's pip command line (`python` is `<prefix>/bin/python`)."""
    return [str(python), "-m", "pip", "install", "-U", "-r", str(requirements), "--exists-action=b"]


def pip_step(conda_file: Path, python: Path) -> subprocess.CompletedProcess[bytes]:
    """Steps 1-5 for one environment file, against `python`; the temporary file is always removed."""
    try:
        items = pip_items(load(conda_file))
        workdir = pip_workdir(conda_file)
        requirements = write_requirements(items, workdir)
    except CondaFileError as exc:
        message = str(exc)
        raise CondaFileError(
            message if message.startswith(conda_file.name) else f"{conda_file.name}: {message}"
        ) from None
    try:
        return subprocess.run(pip_command(python, requirements), cwd=workdir, check=False)
    finally:
        requirements.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.envs.condaenv", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    step = sub.add_parser("pip-step", help="conda's pip step for one environment file")
    step.add_argument("conda_file", type=Path)
    step.add_argument(
        "--python", type=Path, required=True, help="the environment's python (PREFIX/bin/python)"
    )
    args = parser.parse_args(argv)
    for path, what in ((args.conda_file, "an environment file"), (args.python, "a Python executable")):
        if not path.is_file():
            print(f"error: expected {what}, got {path} (no such file)", file=sys.stderr)
            return 2
    try:
        return pip_step(args.conda_file, args.python).returncode
    except CondaFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
