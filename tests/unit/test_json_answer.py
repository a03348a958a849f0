"""Answers written as JSON: ``bytes`` (a brush RLE) become the same list of numbers ``json`` writes for a list of
ints, wherever they sit; everything else is written as ``json`` writes it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sam3_core.server.json_answer import encode_json


def test_bytes_are_written_as_lists_of_their_values_wherever_they_are():
    rng = np.random.default_rng(3)
    blobs = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in (0, 1, 7, 5000)]
    content = {
        "results": [{"value": {"rle": blob, "brushlabels": ['say "bytes-"', "P"]}, "score": 0.25} for blob in blobs],
        "nested": [[blobs[2]], bytearray(b"\x00\xff")],
        "text": "bytes-0123",
    }
    expected = json.dumps(content, separators=(",", ":"), default=list)
    assert encode_json(content) == expected
    assert json.loads(encode_json(content))["results"][3]["value"]["rle"] == list(blobs[3])


def test_what_json_refuses_is_still_refused():
    with pytest.raises(ValueError):
        encode_json({"score": math.nan})
    with pytest.raises(TypeError, match="set is not JSON"):
        encode_json({"labels": {"a"}})
