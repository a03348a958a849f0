"""Command-line tools over the package (console entry points in pyproject.toml)."""
