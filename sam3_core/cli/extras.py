"""What each tool needs beyond serving, and one line naming the ``pip install`` when it is missing.

The extras are those of ``pyproject.toml`` (docs/TOOLS.md has the table); ``make serve`` installs ``server``,
``make test`` every extra.
"""

from __future__ import annotations

import importlib
import sys


def require(tool: str, extra: str, modules: list[str]) -> None:
    """Exit with one line (status 2) when a module of ``modules`` (import names) does not import: ``tool`` needs
    the ``extra`` extra, and the line says how to install it."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        print(
            f"error: {tool} needs the '{extra}' extra ({', '.join(missing)} not installed): in the checkout, "
            f".venv/bin/pip install -c constraints.txt -e '.[{extra}]'",
            file=sys.stderr,
        )
        raise SystemExit(2)
