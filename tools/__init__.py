"""Host tooling (never inside an environment), one folder per job:

- ``envs``: the environment table and its files: pyproject.toml [tool.gpuenv] (envspec), the conda yml as
  conda reads it (condaenv, yamlcheck), the README's table (envtable), an environment against its lock
  (installed).
- ``locks``: what each lock is made from and whether it is current (``tools.locks``), and the relock itself
  (``tools.locks.relock``): `nox -s lock`.
- ``session``: what every nox session needs: the table read once and the venvs built from locks (build, with
  venvs), the Pythons (interpreters), the verify record (results), the host tools' bootstrap (lockinstall).
- ``mac``: the macOS binary evidence from real wheels: the wheels' download cache (wheelcache), the Mach-O
  reader (macho), every lock's wheels (wheels), TensorFlow and tensorflow-metal pairs (tfpair, tfmatrix),
  the record of each lock's download and installed size (locksize, sized by wheels' own wheel_bytes).
- ``docs``: README.md and docs/ held to the records: every figure against docs/claims.toml (claims).
- ``plots``: the bench and model-bench tables and plots (benchplot, modelplot).

tools/ may import checks' pure core (checks.core) and nothing else of checks/: the import contracts in
pyproject.toml [tool.importlinter] hold it to that.
"""
