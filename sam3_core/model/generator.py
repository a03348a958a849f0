"""Segment everything on the engine, after SAM's automatic mask generator (which composes SAM's image predictor
the same way): a grid of single-point objects through the engine's tracker, SAM's 3 candidates each, kept by the
rules of ``sam3_core.model.automatic`` (options in ``work.automatic``), on the whole image and on each crop.

Coordinates are pixels of the image, boxes xyxy; a crop's masks cover their crop (``ObjectPrediction.region``).
"""

from __future__ import annotations

import threading

import torch

from sam3_core.cancel import check
from sam3_core.model.automatic import (
    CropBox,
    crop_boxes,
    layer_points_per_side,
    map_boxes,
    near_crop_edge,
    point_grid,
    select_across_crops,
    select_masks,
)
from sam3_core.model.batching import chunks
from sam3_core.model.features import ImageEncoder, ImageFeatures
from sam3_core.model.predictions import ObjectPrediction
from sam3_core.model.turns import EngineTurns
from sam3_core.model.visual import VisualPrompter
from sam3_core.model.work import SegmentationWork

# Grid points per tracker call: each call takes the engine's lock on its own, so other requests get through.
POINTS_PER_CALL = 64


class AutomaticMaskGenerator:
    """Segment-everything over an engine's parts: its image encoder (a crop's features), its visual prompter (the
    grid's points) and its turns (the engine's lock, per step). The engine composes it; it knows no engine."""

    def __init__(self, encoder: ImageEncoder, prompter: VisualPrompter, turns: EngineTurns) -> None:
        self.encoder = encoder
        self.prompter = prompter
        self.turns = turns

    def generate(
        self, features: ImageFeatures, work: SegmentationWork, cancel: threading.Event | None
    ) -> list[ObjectPrediction]:
        """Segment everything on ``work``'s image, whose features are ``features``: a grid of single-point
        objects, SAM's 3 candidates each above the confidence threshold, then large enough and stable masks after
        box NMS, on the whole image and on each crop of ``crop_n_layers`` (its own ViT run), then box NMS across
        crops preferring smaller crops. Takes the engine once per crop's ViT run and once per chunk of
        ``POINTS_PER_CALL`` points (the caller does not hold it).

        A crop's features are not put in the feature cache: they serve this request only, and would otherwise
        evict whole images (what interactive requests reuse) to hold entries that no other request asks for."""
        options = work.automatic
        width, height = work.image_size
        crops = crop_boxes(width, height, options.crop_n_layers, options.crop_overlap_ratio)
        sides = layer_points_per_side(
            options.points_per_side, options.crop_n_layers, options.crop_n_points_downscale_factor
        )
        kept: list[ObjectPrediction] = []
        for crop, layer in crops:
            if layer == 0:
                kept += self._crop(features, None, sides[0], work, cancel)
                continue
            check(cancel, "automatic")
            picture = work.image.pixels().crop(crop)  # decoded and cut outside the engine's lock
            with self.turns.turn(cancel, "automatic"):
                check(cancel, "backbone")
                [crop_features] = self.encoder.encode([picture])
            kept += self._crop(crop_features, crop, sides[layer], work, cancel)
            del crop_features
        if len(crops) == 1 or not kept:
            return kept
        regions = [obj.region or (0, 0, width, height) for obj in kept]
        boxes = torch.cat([map_boxes(obj.low_res[None], region) for obj, region in zip(kept, regions, strict=True)])
        areas = torch.tensor([(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions], dtype=torch.float32)
        scores = torch.tensor([obj.score for obj in kept])
        return [kept[index] for index in select_across_crops(boxes, areas, scores, options.crop_nms_thresh)]

    def _crop(
        self,
        features: ImageFeatures,
        crop: CropBox | None,
        points_per_side: int,
        work: SegmentationWork,
        cancel: threading.Event | None,
    ) -> list[ObjectPrediction]:
        """Segment everything on one crop (pixel xyxy; None: the whole image) whose tracker features are
        ``features``: its grid, its candidates above the confidence threshold, those not cut off by a crop edge,
        then ``select_masks`` as on the whole image. Masks of a crop carry it as their ``region``."""
        options = work.automatic
        width, height = work.image_size
        x0, y0, x1, y1 = crop or (0, 0, width, height)
        crop_w, crop_h = x1 - x0, y1 - y0
        grid = point_grid(crop_w, crop_h, points_per_side)
        candidates: list[ObjectPrediction] = []
        for chunk in chunks(grid, POINTS_PER_CALL):
            with self.turns.turn(cancel, "automatic"):
                candidates += [
                    mask
                    for masks in self.prompter.track(
                        features,
                        (crop_h, crop_w),
                        multimask=True,
                        cancel=cancel,
                        points=[[[point] for point in chunk]],
                        labels=[[[1] for _ in chunk]],
                    )
                    for mask in masks
                    if mask.score > work.confidence_threshold
                ]
                self.turns.synchronize()
        if candidates and crop is not None:
            for mask in candidates:
                mask.region = crop
            boxes = map_boxes(torch.stack([mask.low_res for mask in candidates]), crop)
            cut = near_crop_edge(boxes, crop, width, height).tolist()
            candidates = [mask for mask, dropped in zip(candidates, cut, strict=True) if not dropped]
        if not candidates:
            return []
        logits = torch.stack([mask.low_res for mask in candidates])
        min_pixels = options.min_area * logits.shape[-2] * logits.shape[-1] / (crop_w * crop_h)
        scores = torch.tensor([mask.score for mask in candidates])
        chosen = select_masks(logits, scores, options.stability_score_thresh, options.box_nms_thresh, min_pixels)
        for index in chosen:
            # A copy: the view would keep its whole chunk's output alive (64 points x 3 maps), for every crop.
            candidates[index].low_res = candidates[index].low_res.clone()
        return [candidates[index] for index in chosen]
