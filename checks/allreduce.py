"""`python -m checks.allreduce`: torch's distributed smoke (an all-reduce under torchrun), kept where the docs
and GPU boxes call it; the smoke itself is checks/frameworks/torch/allreduce.py."""

from __future__ import annotations

import sys

from checks.frameworks.torch.allreduce import main

if __name__ == "__main__":
    sys.exit(main())
