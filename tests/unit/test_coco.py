"""Responses to COCO annotations: every annotation readable by pycocotools, whatever the mask's shape."""

from __future__ import annotations

import base64

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from sam3_core.masks.coco import annotations_from_response


def png_b64(mask: np.ndarray) -> str:
    ok, png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return base64.b64encode(png.tobytes()).decode()


def test_a_degenerate_contour_is_written_as_rle_in_polygon_format():
    square, line, empty = (np.zeros((20, 30), bool) for _ in range(3))
    square[5:15, 5:15] = True
    line[10, 2:12] = True
    response = {
        "masks": [png_b64(m) for m in (square, line, empty)],
        "scores": [0.9, 0.8, 0.7],
        "boxes": [[5, 5, 15, 15], [2, 10, 12, 11], [0, 0, 0, 0]],
        "labels": ["cat"] * 3,
        "polygons": [[[5, 5], [14, 5], [14, 14], [5, 14]], [[2, 10], [11, 10]], []],
    }
    annotations = annotations_from_response(response, {"cat": 1}, "polygon")
    assert isinstance(annotations[0]["segmentation"], list) and len(annotations[0]["segmentation"][0]) == 8
    for annotation, mask in zip(annotations[1:], (line, empty), strict=True):
        segmentation = annotation["segmentation"]
        assert isinstance(segmentation, dict), "a degenerate polygon must not be written as a polygon"
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode()}
        assert np.array_equal(mask_utils.decode(rle).astype(bool), mask)
        assert annotation["area"] == int(mask.sum())
