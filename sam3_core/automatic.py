"""Automatic mask generation ("segment everything"): the pure rules, after SAM's automatic mask generator.

The engine prompts the tracker with ``point_grid`` (one single-point object per grid point, SAM's 3 candidate
masks each) and keeps what ``select_masks`` chooses. Coordinates are pixels, origin top-left, x right, y down.
"""

from __future__ import annotations

import torch
from torchvision.ops import masks_to_boxes, nms


def point_grid(width: int, height: int, points_per_side: int) -> list[list[float]]:
    """``points_per_side``² points at the centres of an even grid over a ``width`` x ``height`` image, row by
    row: ``[[x, y], ...]`` in pixels."""
    side = points_per_side
    return [[(i + 0.5) * width / side, (j + 0.5) * height / side] for j in range(side) for i in range(side)]


def stability_scores(logits: torch.Tensor, offset: float = 1.0) -> torch.Tensor:
    """``(N,)`` stability of ``(N, H, W)`` mask logits: the area above ``+offset`` over the area above ``-offset``
    (1.0 when the mask barely changes as its threshold moves; an empty mask scores 0)."""
    inner = (logits > offset).flatten(1).sum(1)
    outer = (logits > -offset).flatten(1).sum(1).clamp(min=1)
    return inner / outer


def select_masks(
    logits: torch.Tensor, scores: torch.Tensor, min_stability: float, nms_iou: float = 0.7, min_pixels: float = 0.0
) -> list[int]:
    """Indices of the masks to keep, best score first: non-empty (some logit > 0) and at least ``min_pixels`` of
    the low-resolution map, stable (``stability_scores >= min_stability``), then non-maximum suppression of their
    boxes at ``nms_iou``.

    ``logits``: ``(N, H, W)`` low-resolution mask logits; ``scores``: ``(N,)`` predicted IoU."""
    if logits.shape[0] == 0:
        return []
    area = (logits > 0).flatten(1).sum(1)
    stable = (stability_scores(logits) >= min_stability) & (area > 0) & (area >= min_pixels)
    keep = torch.nonzero(stable).flatten()
    if keep.numel() == 0:
        return []
    boxes = masks_to_boxes(logits[keep] > 0).float()
    survivors = nms(boxes, scores[keep].to(boxes.device, torch.float32), iou_threshold=nms_iou)
    return [int(keep[i]) for i in survivors.tolist()]
