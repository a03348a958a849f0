"""Lets the Hugging Face inference toolkit start under transformers 5.

The toolkit in the default Inference Endpoints image imports ``is_tf_available`` from ``transformers.file_utils``
before it loads ``handler.py``. transformers 5 (the first release with SAM3) removed that name together with
TensorFlow support, so the endpoint's server dies at start-up. ``sam3_toolkit_compat.pth`` calls ``install()`` when
the interpreter starts: it waits for ``transformers.file_utils`` to be imported and, only if the name is missing,
adds ``is_tf_available`` returning False (true of every transformers 5 install). Nothing is imported early and
nothing else changes; with transformers 4 it does nothing.
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType

PATCHED_MODULE = "transformers.file_utils"


def is_tf_available() -> bool:
    """transformers 5 has no TensorFlow support."""
    return False


class _AddMissingNames(importlib.abc.Loader):
    """Runs the real loader, then adds the names transformers 5 no longer has."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):  # noqa: ANN001, ANN201 - importlib protocol
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        if not hasattr(module, "is_tf_available"):
            module.is_tf_available = is_tf_available


class _FileUtilsFinder(importlib.abc.MetaPathFinder):
    """Finds ``transformers.file_utils`` with the other finders and wraps its loader; acts once."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001, ANN201 - importlib protocol
        if fullname != PATCHED_MODULE:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec else None
            if spec is not None and spec.loader is not None:
                spec.loader = _AddMissingNames(spec.loader)
                return spec
        return None


def install() -> None:
    """Register the finder (idempotent); patch at once if transformers.file_utils is already imported."""
    module = sys.modules.get(PATCHED_MODULE)
    if module is not None:
        if not hasattr(module, "is_tf_available"):
            module.is_tf_available = is_tf_available
        return
    if not any(isinstance(finder, _FileUtilsFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _FileUtilsFinder())
