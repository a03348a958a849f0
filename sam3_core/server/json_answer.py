"""Answers as compact JSON, with ``bytes`` written as JSON lists of their values.

A Label Studio brush RLE (``sam3_core.masks.brush_rle``) is tens of kilobytes per region, and JSON carries it as a
list of numbers. Held as ``bytes`` until now, each is written here by numpy from a table of the 256 numbers'
texts (rather than by ``json`` over a Python list of ints) and put in place of a marker in ``json``'s text.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np

_TEXTS = [f"{value},".encode() for value in range(256)]
_CHARS = np.array([list(text.ljust(4)) for text in _TEXTS], np.uint8)  # (256, 4): "0,", "1,", ... padded
_LENGTHS = np.array([len(text) for text in _TEXTS])
_MARKER = f"bytes-{uuid.uuid4().hex}"  # unguessable, so no text of a request can be taken for it


def byte_values(data: bytes | bytearray) -> str:
    """``data`` as a JSON list of its byte values, e.g. ``b"\\x00\\xff"`` -> ``[0,255]``."""
    values = np.frombuffer(data, np.uint8)
    if values.size == 0:
        return "[]"
    kept = np.arange(4) < _LENGTHS[values][:, None]
    return "[" + _CHARS[values][kept].tobytes()[:-1].decode("ascii") + "]"


def encode_json(content: Any) -> str:
    """``content`` as compact JSON (no NaN); ``bytes`` in it as lists of their values (``byte_values``)."""
    found: list[bytes | bytearray] = []

    def as_marker(value: Any) -> str:
        if isinstance(value, (bytes, bytearray)):
            found.append(value)
            return _MARKER
        raise TypeError(f"{type(value).__name__} is not JSON")

    text = json.dumps(content, allow_nan=False, separators=(",", ":"), default=as_marker)
    if not found:
        return text
    pieces = text.split(f'"{_MARKER}"')
    written = [pieces[0]]
    for data, piece in zip(found, pieces[1:], strict=True):
        written += [byte_values(data), piece]
    return "".join(written)
