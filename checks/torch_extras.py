"""`python -m checks.torch_extras`: torchvision and torchaudio against the CPU (torch's extra check), kept
where the docs call it; the check itself is checks/frameworks/torch/extras.py."""

from __future__ import annotations

import sys

from checks.frameworks.torch.extras import main

if __name__ == "__main__":
    sys.exit(main())
