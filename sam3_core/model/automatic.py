"""Automatic mask generation ("segment everything"): the pure rules, after SAM's automatic mask generator.

``model.generator`` prompts the tracker with ``point_grid`` (one single-point object per grid point, SAM's 3
candidate masks each) and keeps what ``select_masks`` chooses. With crop layers (SAM's ``crop_n_layers``) it does so
on the whole image and on each box of ``crop_boxes`` (features of the crop alone, a grid of
``layer_points_per_side`` inside it), drops a crop's masks whose box runs into a cut edge of the crop
(``near_crop_edge``), and keeps one mask of each overlapping group across crops, the one from the smallest crop
(``select_across_crops``). Coordinates are pixels, origin top-left, x right, y down; boxes are xyxy, crop boxes
integer pixels with exclusive x2/y2.
"""

from __future__ import annotations

import math

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


CropBox = tuple[int, int, int, int]
# SAM's is_box_near_crop_edge tolerance: a mask box within this many pixels of a crop's cut edge touches it.
EDGE_TOLERANCE = 20.0


def crop_boxes(width: int, height: int, n_layers: int, overlap_ratio: float) -> list[tuple[CropBox, int]]:
    """``(crop box, layer)`` for layer 0 (the whole image) then each of layers 1..``n_layers``, SAM's
    ``generate_crop_boxes``: layer i cuts the image into 2^i x 2^i crops of equal size that overlap by
    ``overlap_ratio`` x the short side x 2 / 2^i pixels (rounded down), the last ones clipped to the image, in
    column-major order (x outer). Crops that would be empty (an image under 2^i pixels on a side) are left out."""
    boxes: list[tuple[CropBox, int]] = [((0, 0, width, height), 0)]
    short_side = min(width, height)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * 2 / per_side)
        crop_w = math.ceil((overlap * (per_side - 1) + width) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + height) / per_side)
        for x0 in (int((crop_w - overlap) * i) for i in range(per_side)):
            for y0 in (int((crop_h - overlap) * j) for j in range(per_side)):
                box = (x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height))
                if box[0] < box[2] and box[1] < box[3]:
                    boxes.append((box, layer))
    return boxes


def layer_points_per_side(points_per_side: int, n_layers: int, downscale_factor: int) -> list[int]:
    """Grid points per side on each layer 0..``n_layers``: ``points_per_side / downscale_factor^i`` rounded down
    (SAM's ``build_all_layer_point_grids``), at least 1."""
    return [max(1, int(points_per_side / downscale_factor**layer)) for layer in range(n_layers + 1)]


def map_boxes(logits: torch.Tensor, region: CropBox) -> torch.Tensor:
    """``(N, 4)`` float32 image-pixel xyxy boxes of ``(N, h, w)`` maps' on-pixels (logit > 0) when each map covers
    the pixel box ``region``: a map pixel spans ``region size / map size`` image pixels; an empty map gives the
    degenerate box at the region's origin. (On the low-resolution map: within a map pixel of the upsampled mask's
    box.)"""
    count, map_h, map_w = logits.shape
    on = logits > 0
    boxes = torch.zeros(count, 4)
    present = on.flatten(1).any(1).cpu()
    if present.any():
        found = masks_to_boxes(on[present.to(on.device)]).float().cpu()
        found[:, 2:] += 1  # masks_to_boxes: inclusive last index; pixel boxes: exclusive edge
        x0, y0, x1, y1 = region
        scale = torch.tensor([(x1 - x0) / map_w, (y1 - y0) / map_h] * 2)
        boxes[present] = found * scale
    return uncrop_boxes(boxes, region)


def uncrop_boxes(boxes: torch.Tensor, crop: CropBox) -> torch.Tensor:
    """``(N, 4)`` xyxy boxes in a crop's pixels -> the image's pixels (SAM's ``uncrop_boxes_xyxy``)."""
    x0, y0 = crop[0], crop[1]
    return boxes + torch.tensor([x0, y0, x0, y0], dtype=boxes.dtype, device=boxes.device)


def near_crop_edge(
    boxes: torch.Tensor, crop: CropBox, width: int, height: int, tolerance: float = EDGE_TOLERANCE
) -> torch.Tensor:
    """``(N,)`` bool: one side of the image-pixel box lies within ``tolerance`` of the same side of the crop and
    not within ``tolerance`` of that side of the ``width`` x ``height`` image (SAM's ``is_box_near_crop_edge``: the
    mask was cut off by the crop, not by the image)."""
    boxes = boxes.float().cpu()
    at_crop = torch.isclose(boxes, torch.tensor(crop, dtype=torch.float32)[None], atol=tolerance, rtol=0)
    at_image = torch.isclose(boxes, torch.tensor([0.0, 0.0, width, height])[None], atol=tolerance, rtol=0)
    return (at_crop & ~at_image).any(dim=1)


def select_across_crops(
    boxes: torch.Tensor, crop_areas: torch.Tensor, scores: torch.Tensor, nms_iou: float
) -> list[int]:
    """Indices of the masks to keep across crops, best ``scores`` first: box non-maximum suppression at ``nms_iou``
    where a mask from a smaller crop beats one from a larger crop (SAM scores them 1 / crop area), and between
    masks of crops of the same area the higher score wins.

    ``boxes``: ``(N, 4)`` image-pixel xyxy; ``crop_areas``: ``(N,)`` pixel area of the crop each mask came from."""
    count = boxes.shape[0]
    if count == 0:
        return []
    preference = sorted(range(count), key=lambda i: (float(crop_areas[i]), -float(scores[i]), i))
    rank = torch.empty(count, dtype=torch.float32)
    rank[preference] = torch.arange(count, 0, -1, dtype=torch.float32)  # the preferred mask ranks highest
    survivors = nms(boxes.float(), rank, iou_threshold=nms_iou).tolist()
    return sorted(survivors, key=lambda i: (-float(scores[i]), i))
