"""Binary masks to what the API returns: base64 PNGs and simplified polygons (OpenCV: fast, releases the GIL)."""

from __future__ import annotations

import base64

import cv2
import numpy as np

# No PNG row filter + zlib run-length strategy: a 0/255 mask is long runs of equal bytes. Measured on a 12 MP mask:
# 24 ms and 13 kB, against 100 ms and 77 kB with OpenCV's default adaptive filtering (same decoded pixels).
_PNG_PARAMS = [
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_NONE,
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_RLE,
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
]


def mask_to_png_base64(mask: np.ndarray) -> str:
    """``(H, W)`` uint8 0/255 mask -> base64 of an 8-bit single-channel PNG (no ``data:`` prefix)."""
    ok, png = cv2.imencode(".png", mask, _PNG_PARAMS)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return base64.b64encode(png.tobytes()).decode("ascii")


def mask_to_polygon(mask: np.ndarray, epsilon: float) -> list[list[int]]:
    """Outer contour of the mask's largest part as ``[[x, y], ...]`` pixel coordinates; ``[]`` for an empty mask.

    Holes and smaller parts are not represented. ``epsilon`` > 0 simplifies with Douglas-Peucker (pixels).
    Vertices are the centres of boundary pixels, so ``cv2.fillPoly`` of the polygon redraws the filled part.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    largest = max(contours, key=lambda contour: (cv2.contourArea(contour), len(contour)))
    if epsilon > 0:
        largest = cv2.approxPolyDP(largest, epsilon, True)
    return largest.reshape(-1, 2).tolist()
