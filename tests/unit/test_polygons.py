"""Polygons against known shapes: the rasterised polygon covers the mask's largest part (holes not carried)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sam3_core.masks.encoding import mask_to_polygon

from helpers import fill_polygon, iou

SIZE = (240, 320)  # (height, width)


def disc() -> np.ndarray:
    return cv2.circle(np.zeros(SIZE, np.uint8), (160, 120), 80, 255, -1)


def ring() -> np.ndarray:
    return cv2.circle(disc(), (160, 120), 40, 0, -1)


def l_shape() -> np.ndarray:
    mask = np.zeros(SIZE, np.uint8)
    mask[20:220, 30:90] = 255
    mask[160:220, 30:290] = 255
    return mask


def two_blobs() -> np.ndarray:
    mask = cv2.circle(np.zeros(SIZE, np.uint8), (80, 120), 60, 255, -1)
    return cv2.circle(mask, (250, 120), 30, 255, -1)


def largest_part_filled(mask: np.ndarray) -> np.ndarray:
    """What the contract promises to represent: the largest connected part, with its holes filled."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    part = np.where(labels == largest, 255, 0).astype(np.uint8)
    contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return cv2.drawContours(np.zeros_like(part), contours, -1, 255, -1) > 0


@pytest.mark.parametrize("shape", [disc, ring, l_shape, two_blobs])
def test_rasterised_polygon_matches_the_shape(shape):
    mask = shape()
    polygon = mask_to_polygon(mask, epsilon=1.0)
    assert len(polygon) >= 4 and all(isinstance(v, int) for vertex in polygon for v in vertex)
    assert iou(fill_polygon(polygon, SIZE), largest_part_filled(mask)) >= 0.97


def test_disc_and_l_shape_match_the_mask_itself():
    for shape in (disc, l_shape):
        mask = shape()
        assert iou(fill_polygon(mask_to_polygon(mask, 1.0), SIZE), mask > 0) >= 0.97


def test_ring_polygon_is_its_outer_contour_and_blobs_keep_the_larger():
    assert iou(fill_polygon(mask_to_polygon(ring(), 1.0), SIZE), disc() > 0) >= 0.97
    polygon = np.asarray(mask_to_polygon(two_blobs(), 1.0))
    assert polygon[:, 0].max() < 145, "the polygon traces the larger (left) blob"


def test_epsilon_simplifies():
    exact, coarse = mask_to_polygon(disc(), 0.0), mask_to_polygon(disc(), 8.0)
    assert len(coarse) < len(mask_to_polygon(disc(), 1.0)) < len(exact)
    assert iou(fill_polygon(coarse, SIZE), disc() > 0) >= 0.9


def test_empty_mask_gives_an_empty_polygon():
    assert mask_to_polygon(np.zeros(SIZE, np.uint8), 2.0) == []
