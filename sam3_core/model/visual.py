"""Visual prompts (SAM2 semantics): points and boxes through SAM3's tracker (``Sam3TrackerModel``) over an image's
precomputed tracker features.

Points and boxes are pixels of the image (or of the crop whose features are given), boxes xyxy; the processor
scales them to the model's input. Masks come back as low-resolution logits (full-size mask: upsampled, > 0) with
the tracker's predicted IoU as score.
"""

from __future__ import annotations

import threading

import torch
from transformers import Sam3TrackerModel, Sam3TrackerProcessor

from sam3_core.cancel import check
from sam3_core.model.features import ImageFeatures
from sam3_core.model.predictions import ObjectPrediction
from sam3_core.model.work import SegmentationWork

LABEL = "visual"


class VisualPrompter:
    """The tracker's prompt encoder and mask decoder over ``ImageFeatures.tracker``; prompts are fed to it on
    ``device`` in ``dtype`` (the engine's)."""

    def __init__(
        self, tracker: Sam3TrackerModel, processor: Sam3TrackerProcessor, device: torch.device, dtype: torch.dtype
    ) -> None:
        self.tracker = tracker
        self.processor = processor
        self.device = device
        self.dtype = dtype

    def objects(
        self, features: ImageFeatures, work: SegmentationWork, cancel: threading.Event | None
    ) -> list[ObjectPrediction]:
        """The masks of ``work.visual_objects`` (one each, or 3 with ``multimask_output``), in order, those scored
        above the confidence threshold. Raises ``Cancelled("prompts")`` before a tracker call once ``cancel`` is
        set."""
        objects = work.visual_objects
        if not objects:
            return []
        width, height = work.image_size
        call = {"features": features, "size": (height, width), "multimask": work.multimask_output, "cancel": cancel}
        # Box-only objects share one batched call; an object with points (at most one) gets its own.
        box_only = [index for index, obj in enumerate(objects) if not obj.points]
        masks_of: dict[int, list[ObjectPrediction]] = {}  # object index -> its masks
        if box_only:
            batched = self.track(**call, boxes=[[list(objects[index].box) for index in box_only]])
            masks_of.update(zip(box_only, batched, strict=True))
        for index, obj in enumerate(objects):
            if obj.points:
                [masks_of[index]] = self.track(
                    **call,
                    points=[[[list(point) for point in obj.points]]],
                    labels=[[list(obj.point_labels)]],
                    boxes=[[list(obj.box)]] if obj.box else None,
                )
        threshold = work.confidence_threshold
        return [mask for index in range(len(objects)) for mask in masks_of[index] if mask.score > threshold]

    def track(
        self,
        features: ImageFeatures,
        size: tuple[int, int],
        multimask: bool,
        cancel: threading.Event | None,
        points: list | None = None,
        labels: list | None = None,
        boxes: list | None = None,
    ) -> list[list[ObjectPrediction]]:
        """One tracker call over an image of ``size`` = (height, width) pixels, prompts nested as
        ``Sam3TrackerProcessor`` takes them (``points``: ``[[[[x, y], ...] per object]]``, ``labels`` likewise,
        ``boxes``: ``[[[x1, y1, x2, y2] per object]]``); per object, its masks best predicted IoU first."""
        check(cancel, "prompts")
        prompt = self.processor(
            original_sizes=[list(size)],
            input_points=points,
            input_labels=labels,
            input_boxes=boxes,
            return_tensors="pt",
        )
        inputs = {
            name: prompt[name].to(self.device, self.dtype if prompt[name].is_floating_point() else None)
            for name in ("input_points", "input_labels", "input_boxes")
            if name in prompt
        }
        output = self.tracker(image_embeddings=features.tracker, multimask_output=multimask, **inputs)
        scores = output.iou_scores[0].float().cpu()  # (objects, masks)
        per_object = []
        for index in range(scores.shape[0]):
            order = torch.argsort(scores[index], descending=True, stable=True).tolist()
            per_object.append(
                [
                    ObjectPrediction(LABEL, float(scores[index, m]), output.pred_masks[0, index, m].float(), 0.0)
                    for m in order
                ]
            )
        return per_object
