"""The docs held to the records: each figure README.md and docs/*.md quote, against docs/claims.toml."""
