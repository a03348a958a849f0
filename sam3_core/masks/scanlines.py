"""A binary mask as its *scanline changes*: where its PNG scanline stream switches between 0 and 255.

The scanline stream of an ``(height, width)`` mask is ``height * (width + 1)`` bytes: per row a filter byte 0, then
the row's pixels as 0/255. Pixel ``(r, c)`` sits at ``r * (width + 1) + 1 + c``. The stream starts with a run of
0s (the first filter byte); ``changes`` are the sorted positions where a new run starts, so runs alternate 0s and
255s. Every run of 255s lies within one row. A mask with a few objects has a few changes per row, so this is a
compact form that the device can compute and send instead of the mask (``MaskCanvas.changes``), that the PNG writer
deflates directly (``sam3_core.masks.png_deflate``), and that gives the mask's box without its pixels.
"""

from __future__ import annotations

import numpy as np


def changes_of_mask(mask: np.ndarray) -> np.ndarray:
    """``(height, width)`` mask (nonzero = on) -> its scanline changes (int64)."""
    height, width = mask.shape
    stream = np.zeros((height, width + 1), bool)
    stream[:, 1:] = mask
    flat = stream.ravel()
    return np.flatnonzero(flat[1:] != flat[:-1]) + 1


def mask_of_changes(changes: np.ndarray, height: int, width: int) -> np.ndarray:
    """The ``(height, width)`` uint8 0/255 mask (C-contiguous) whose scanline stream changes at ``changes``."""
    bounds = np.concatenate(([0], changes, [height * (width + 1)]))
    values = np.zeros(bounds.size - 1, np.uint8)
    values[1::2] = 255
    stream = np.repeat(values, np.diff(bounds)).reshape(height, width + 1)
    return np.ascontiguousarray(stream[:, 1:])


def box_of_changes(changes: np.ndarray, width: int) -> tuple[float, float, float, float]:
    """Pixel xyxy box around the mask's on-pixels (x2/y2 exclusive edges); ``(0, 0, 0, 0)`` for an empty mask."""
    if changes.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    stride = width + 1
    starts, ends = changes[0::2], changes[1::2]  # runs of 255s start at even entries and end at odd ones
    if changes.size % 2:  # the last run of 255s runs to the end of the stream, which is the end of its row
        ends = np.append(ends, (changes[-1] // stride + 1) * stride)
    rows = starts // stride
    first_column = int((starts % stride).min()) - 1
    end_column = int(((ends - 1) % stride).max())
    return (float(first_column), float(rows[0]), float(end_column), float(rows[-1] + 1))
