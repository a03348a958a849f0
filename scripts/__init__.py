"""Development and operations tools (they do not ship): run from a checkout as ``python -m scripts.NAME``."""
