"""Checks that run inside each environment (standard library, NumPy and the framework only).

Units, each readable top to bottom:

- ``platform_facts``: what machine and Python this is (stdlib only, also runs outside the environments).
- ``sine_fit``: the canonical sine-fit spec, its float64 NumPy reference and the rules that judge a run.
- ``torch_unit`` / ``tf_unit``: the same fit on a framework's device, plus what accelerators it sees.
- ``device``: ``best_device()``, the one helper a project uses to pick mps > cuda > cpu.
- ``verify``: the command ``nox -s verify`` runs: report, fit on the best device(s) and on CPU, proof, JSON.
"""
