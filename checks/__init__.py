"""Checks that run inside each environment (standard library, NumPy and the framework only).

Units, each readable top to bottom:

- ``platform_facts``: what machine and Python this is (stdlib only, also runs outside the environments).
- ``sine_fit``: the canonical sine-fit spec, its float64 NumPy reference and the rules that judge a run.
- ``frameworks``: the registry (name -> module, one interface) and one module per framework
  (``frameworks/torch.py``, ``frameworks/tensorflow.py``): what accelerators it sees and why not, the fit
  on a device, doctor's facts, the bench's forms.
- ``device``: ``best_device()``, the one helper a project uses to pick mps > cuda > cpu.
- ``verify``: the command ``nox -s verify`` runs: report, fit on the best device(s) and on CPU, proof, JSON.
- ``bench``, ``peaks``: ``nox -s bench``'s sweep and methodology, and known devices' peaks.
- ``allreduce``: torch's distributed smoke (torchrun: NCCL over every GPU, gloo x2 on CPU), run by verify.
- ``doctor``: ``nox -s doctor``: facts, rules by area (each with its symptom, cause and fix), the command.
"""
