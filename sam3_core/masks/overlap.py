"""Overlap between full-size masks: intersection over union and greedy non-maximum suppression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mask_iou(first: np.ndarray, second: np.ndarray) -> float:
    """Intersection over union of two ``(H, W)`` bool masks; 0 when both are empty."""
    union = np.count_nonzero(first | second)
    return np.count_nonzero(first & second) / union if union else 0.0


def greedy_nms(masks: Sequence[np.ndarray], scores: Sequence[float], iou_threshold: float) -> list[int]:
    """The indices of ``masks`` kept, best ``scores`` first: a mask is dropped when its IoU with a mask already
    kept is above ``iou_threshold``."""
    kept: list[int] = []
    for index in sorted(range(len(masks)), key=lambda i: -scores[i]):
        if all(mask_iou(masks[index], masks[other]) <= iou_threshold for other in kept):
            kept.append(index)
    return kept
