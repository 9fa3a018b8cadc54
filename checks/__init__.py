"""Checks that run inside each environment (standard library, NumPy and the framework only).

Three layers, each importing only the ones below it (pyproject.toml [tool.importlinter] holds them to it):

Commands (`python -m checks.NAME`):

- ``verify``: the command ``nox -s verify`` runs: report, fit on the best device(s) and on CPU, proof, JSON.
- ``bench``: ``nox -s bench``'s sweep (the sine fit in three forms, matmul, copy) against known peaks.
- ``modelbench``: ``nox -s modelbench``: real models' training steps, against published figures.
- ``doctor``: ``nox -s doctor``: facts, rules by area (each with its symptom, cause and fix), the command.
- ``device``: ``best_device()``, the one helper a project uses to pick mps > cuda > cpu.
- ``allreduce``, ``mlx_allsum``, ``torch_extras``: the names the docs call the distributed smokes and
  torch's extra check by; each runs its framework folder's module.
- ``kernel_smoke``: run by ``nox -s kernel`` inside the kernel's venv: start it as Jupyter would, import.

``frameworks``: the registry (name -> module, one interface: ``frameworks/__init__.py``) and one folder per
framework holding everything of it: ``frameworks/torch/`` (the module in ``__init__.py``: what accelerators
it sees and why not, the fit on a device, doctor's facts, the bench's forms; ``extras.py``, torchvision and
torchaudio; ``allreduce.py``, the distributed smoke under torchrun; ``models.py``, the model bench's
models; ``numerics.py``, its ops for verify's numerics suite), ``frameworks/tensorflow/`` (``keras_fit.py``,
``models.py``, ``numerics.py``), ``frameworks/mlx/`` (``allsum.py``, the smoke under mlx.launch;
``numerics.py``). Doctor's rules for each framework are ``doctor/rules/NAME.py``; ``doctor/rules/numerics.py``
explains a failed numerics case.

``core``: what the others share and that imports none of them: ``sine_fit`` (the canonical spec, its
float64 reference and the rules that judge a run), ``peaks`` (known devices' peaks), ``platform_facts``
(what machine and Python this is; stdlib only, also runs outside the environments), ``argcheck`` (every
argument check), ``harness`` (the benches' clock, progress and output options), ``models`` and
``references`` (the model bench's shapes and published figures), ``launch`` (the distributed smokes'
launching side), ``report`` (the one JSON writer and its time/machine stamp), ``numerics`` (the op-level
numerics suite: its cases, their error bounds with references, the comparison against float64 and the
report; each framework's ``numerics.py`` supplies the ops).
"""
