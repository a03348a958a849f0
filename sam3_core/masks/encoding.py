"""Binary masks to what the API returns: base64 PNGs and simplified polygons (OpenCV).

A mask's PNG is written from its scanline changes (``png_deflate``: work per run, the smaller file) unless it has
so many runs that zlib over its pixels (OpenCV's writer, no row filter, RLE strategy) is faster: ``DENSE_PIXELS``.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from sam3_core.masks.png_deflate import png_of_changes

# A mask with more than one scanline change per DENSE_PIXELS pixels is written by zlib from its pixels. Measured at
# 12 MP on one CPU thread (``scripts.benchmark png``, docs/BENCHMARKS.md): the changes writer costs about 0.5-0.8 us
# per change, OpenCV's about 2 ns per pixel whatever the mask; random-weight masks of 30-240 pixels per change took
# 1.5-2.4x longer from their changes, smooth ones (over 600 pixels per change) about as long or less.
DENSE_PIXELS = 300
_ZLIB_PNG = [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE, cv2.IMWRITE_PNG_STRATEGY]
_ZLIB_PNG += [cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_COMPRESSION, 1]


def is_dense(changes: float, height: int, width: int) -> bool:
    """Whether a ``(height, width)`` mask with about ``changes`` scanline changes is written faster from its pixels."""
    return changes * DENSE_PIXELS > height * width


def png_base64(mask_or_changes: np.ndarray, height: int, width: int) -> str:
    """Base64 (no ``data:`` prefix) of a mask's 8-bit single-channel 0/255 PNG, from its scanline changes
    (1-D, ``sam3_core.masks.scanlines``: ``png_deflate``) or from the ``(height, width)`` uint8 0/255 mask itself
    (2-D: zlib through OpenCV, for a dense mask)."""
    if mask_or_changes.ndim == 1:
        return base64.b64encode(png_of_changes(mask_or_changes, height, width)).decode("ascii")
    ok, png = cv2.imencode(".png", mask_or_changes, _ZLIB_PNG)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(png.tobytes()).decode("ascii")


def decode_png(png_b64: str) -> np.ndarray:
    """A response mask (base64 PNG, 0/255) as a ``(H, W)`` bool array: the inverse of ``png_base64``."""
    raw = np.frombuffer(base64.b64decode(png_b64), dtype=np.uint8)
    mask = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError("mask is not a PNG")
    return mask > 0


def outer_contours(mask: np.ndarray) -> list[np.ndarray]:
    """The outer contour of each part of ``mask`` (``(H, W)``, nonzero = on), as OpenCV's ``(n, 1, 2)`` arrays of
    pixel centres ``[x, y]`` (``RETR_EXTERNAL``, ``CHAIN_APPROX_SIMPLE``); holes are not contours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8, copy=False), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return list(contours)


def simplify(contour: np.ndarray, epsilon: float, relative: bool = False) -> list[list[int]]:
    """``contour`` as ``[[x, y], ...]``, simplified with Douglas-Peucker when ``epsilon`` > 0: a tolerance in
    pixels, or with ``relative`` a fraction of the contour's length (X-AnyLabeling's ``epsilon_factor``)."""
    if epsilon > 0:
        tolerance = epsilon * cv2.arcLength(contour, True) if relative else epsilon
        contour = cv2.approxPolyDP(contour, tolerance, True)
    return contour.reshape(-1, 2).tolist()


def mask_to_polygon(mask: np.ndarray, epsilon: float) -> list[list[int]]:
    """Outer contour of the mask's largest part as ``[[x, y], ...]`` pixel coordinates; ``[]`` for an empty mask.

    Holes and smaller parts are not represented. ``epsilon`` > 0 simplifies (``simplify``, pixels).
    Vertices are the centres of boundary pixels, so ``cv2.fillPoly`` of the polygon redraws the filled part.
    """
    contours = outer_contours(mask)
    if not contours:
        return []
    largest = max(contours, key=lambda contour: (cv2.contourArea(contour), len(contour)))
    return simplify(largest, epsilon)
