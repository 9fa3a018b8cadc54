"""The YAML hook of .pre-commit-config.yaml: every YAML file read with the parser conda reads it with.

conda 26.7.1 parses an environment file with ruamel.yaml's round-trip loader (tools/envs/condaenv.py cites its
source), which refuses what a laxer parser lets through, a repeated key above all. Every *.yml and *.yaml
goes through that loader here (tools/envs/condaenv.py `load`), and each environment-NAME.yml at the top of the
repository also through the checks `nox -s verify` and `nox -s lock` apply to it
(tools/envs/envspec.py `read_conda_file`: conda-forge and nodefaults, python=X.Y, pip, the pip section that
installs its lock), so a broken environment file fails at commit time, not at build time.

`python -m tools.envs.yamlcheck FILE...` from the repository root: one line per bad file, exit 1 if any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tools.envs import condaenv, envspec

CONDA_FILE = re.compile(r"^environment-(.+)\.yml$")


def problem(path: Path, root: Path = envspec.ROOT) -> str | None:
    """The one line saying why `path` would not get through conda's parser (or our environment checks)."""
    match = CONDA_FILE.match(path.name)
    try:
        if match and path.resolve().parent == root.resolve():
            envs = envspec.environments(root)
            name = match.group(1)
            if name not in envs:
                return (
                    f"{path.name}: expected a row [tool.gpuenv.environments.{name}] in pyproject.toml for "
                    f"this conda file, got none (rows: {', '.join(envs)}): add the row or rename the file"
                )
            envspec.read_conda_file(envs[name])
        else:
            condaenv.load(path)
    except (condaenv.CondaFileError, envspec.SpecError) as exc:
        shown = str(exc)  # it starts with the file's name: the path as given says where it is
        name = f"{path.name}:"
        return f"{path}:{shown[len(name) :]}" if shown.startswith(name) else f"{path}: {shown}"
    return None


def main(argv: list[str] | None = None) -> int:
    files = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    problems = [line for line in map(problem, files) if line]
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
