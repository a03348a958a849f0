"""COCO run-length encoding of binary masks, with compressed counts, in numpy (no pycocotools needed to serve).

A mask of ``h`` rows and ``w`` columns is read column by column (Fortran order, as COCO does); ``counts`` are the
lengths of its alternating runs of 0s and 1s, starting with 0s (a mask whose first pixel is on starts with a run of
length 0). The compressed string is COCO's: each count (from the fourth on, minus the count two before it) is
written as 5-bit groups, least significant first, each group plus a continuation bit (0x20) offset by 48 into
printable ASCII; the last group's bit 0x10 carries the sign. ``pycocotools.mask.decode`` and
``pycocotools.mask.frPyObjects`` read the result as is (``{"size": [h, w], "counts": str}``).
"""

from __future__ import annotations

import numpy as np


def run_lengths(mask: np.ndarray) -> list[int]:
    """The column-major run lengths of ``mask`` (``(h, w)``, nonzero = on), starting with a run of 0s."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def compress_counts(counts: list[int]) -> str:
    """COCO's string form of run lengths (``rleToString`` in the COCO mask API)."""
    out = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            group = value & 0x1F
            value >>= 5  # arithmetic shift: a negative difference ends in -1
            more = value != -1 if group & 0x10 else value != 0
            out.append(chr(group + (0x20 if more else 0) + 48))
    return "".join(out)


def decompress_counts(text: str) -> list[int]:
    """Run lengths from COCO's string form (the inverse of ``compress_counts``)."""
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            group = ord(text[position]) - 48
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def encode(mask: np.ndarray) -> dict:
    """``{"size": [h, w], "counts": str}``: COCO compressed RLE of ``mask`` (``(h, w)``, nonzero = on)."""
    height, width = mask.shape
    return {"size": [int(height), int(width)], "counts": compress_counts(run_lengths(mask))}


def decode(rle: dict) -> np.ndarray:
    """The ``(h, w)`` bool mask of a COCO RLE (compressed string or a list of counts)."""
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = decompress_counts(counts)
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    if flat.size != height * width:
        raise ValueError(f"RLE counts cover {flat.size} pixels, size is {height}x{width}")
    return flat.reshape((height, width), order="F")
