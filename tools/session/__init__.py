"""What every nox session needs: the venvs built from locks, the Pythons to build them with, verify's
record."""
