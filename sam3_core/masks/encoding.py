"""Binary masks to what the API returns: base64 PNGs (``png_deflate``) and simplified polygons (OpenCV)."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from sam3_core.masks.png_deflate import png_of_changes


def png_base64(changes: np.ndarray, height: int, width: int) -> str:
    """A mask's scanline changes (``sam3_core.masks.scanlines``) -> base64 of its 8-bit single-channel PNG, 0/255
    (no ``data:`` prefix)."""
    return base64.b64encode(png_of_changes(changes, height, width)).decode("ascii")


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
