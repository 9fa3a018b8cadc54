"""The macOS binary evidence, read from real wheels: Mach-O imports and exports, minimum OS, Metal plugins."""
