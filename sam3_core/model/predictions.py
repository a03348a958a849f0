"""What the engine answers: each object's low-resolution map and score, before upsampling to the image size."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ObjectPrediction:
    """One returned object before upsampling.

    ``low_res``: float32 ``(h, w)`` map on the model device; the full-size mask is
    ``bilinear_resize(low_res, image size) > threshold`` (probabilities vs 0.5 for concepts, as
    ``post_process_instance_segmentation``; logits vs 0.0 for visual objects, as ``post_process_masks``).
    ``box``: pixel xyxy from the detector, or ``None`` (visual objects: taken from the mask).
    ``region``: the integer pixel xyxy box of the image that ``low_res`` covers (a crop of segment-everything:
    the mask is the map resized to the region's size, placed there, off elsewhere), or ``None``: the whole image.
    """

    label: str
    score: float
    low_res: torch.Tensor
    threshold: float
    box: tuple[float, float, float, float] | None = None
    region: tuple[int, int, int, int] | None = None


@dataclass
class Prediction:
    """One image's objects, and what its stages took (``batch_images``: the images of the batch it ran in)."""

    objects: list[ObjectPrediction]
    timings: dict[str, float] = field(default_factory=dict)
