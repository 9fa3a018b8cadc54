"""`python -m checks.doctor`: see checks/doctor/__init__.py."""

import sys

from checks.doctor.cli import main

sys.exit(main())
