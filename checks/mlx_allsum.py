"""`python -m checks.mlx_allsum`: MLX's distributed smoke (an all-sum under mlx.launch), kept where the docs
call it; the smoke itself is checks/frameworks/mlx/allsum.py."""

from __future__ import annotations

import sys

from checks.frameworks.mlx.allsum import main

if __name__ == "__main__":
    sys.exit(main())
