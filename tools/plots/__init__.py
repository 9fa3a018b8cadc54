"""The bench and model-bench results as markdown tables and PNG plots (matplotlib, host venv only)."""
