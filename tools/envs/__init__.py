"""The environment table and its files: pyproject.toml [tool.gpuenv], the conda yml, the README's table."""
