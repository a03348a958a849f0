"""Image features: SAM3's one ViT over a batch of images, then the detector's neck and the tracker's neck.

The same steps as ``Sam3Model.get_vision_features`` and ``Sam3TrackerModel.get_image_features`` + ``forward``
(``Sam3VideoModel`` feeds its tracker the same way), with the ViT run once for both models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel


@dataclass
class ImageFeatures:
    """One image through the ViT and both necks (batch dimension 1, model device and dtype).

    ``detector``: the FPN maps ``Sam3Model`` reads, ``(1, 256, s, s)`` with s = 288/144/72/36 for the real model
    (their sine position encodings depend on the shape alone: ``ImageEncoder.positions`` keeps one copy).
    ``tracker``: the image embeddings ``Sam3TrackerModel.forward(image_embeddings=...)`` expects.
    """

    detector: tuple[torch.Tensor, ...]
    tracker: list[torch.Tensor]


class ImageEncoder:
    """Pictures to ``ImageFeatures``, ``chunk`` images per ViT pass (the batch bounds activation memory)."""

    def __init__(self, detector: Sam3Model, tracker: Sam3TrackerModel, processor: Sam3Processor, chunk: int) -> None:
        self.detector = detector
        self.tracker = tracker
        self.processor = processor
        self.chunk = chunk
        self.device = next(detector.parameters()).device
        self.dtype = next(detector.parameters()).dtype
        self.positions: dict[tuple[int, int], tuple[torch.Tensor, ...]] = {}  # FPN level-0 size -> encodings

    def encode(self, images: Sequence[Image.Image]) -> list[ImageFeatures]:
        """Features of each image, in order. Each image is resized to the model's square input, so images of any
        sizes share a pass; with more than one image, each image's tensors are its own copies (a cached entry
        does not keep its neighbours alive)."""
        features: list[ImageFeatures] = []
        for start in range(0, len(images), self.chunk):
            features += self._encode_chunk(images[start : start + self.chunk])
        return features

    def _encode_chunk(self, images: Sequence[Image.Image]) -> list[ImageFeatures]:
        # Resized and normalised on the model's device (a 12 MP picture is 36 MB of uint8 to move, then GPU work).
        processed = self.processor.image_processor(images=list(images), return_tensors="pt", device=self.device)
        pixel_values = processed.pixel_values.to(self.device, self.dtype)  # (B, 3, H, W)
        vision = self.detector.vision_encoder
        hidden = vision.backbone(pixel_values).last_hidden_state  # (B, H/14 * W/14, C)
        patch = vision.config.backbone_config.patch_size
        count, height, width = pixel_values.shape[0], pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch
        spatial = hidden.view(count, height, width, -1).permute(0, 3, 1, 2)  # (B, C, H/14, W/14)
        detector_maps, detector_positions = vision.neck(spatial)
        tracker_maps, _ = self.tracker.vision_encoder.neck(spatial)
        # Same steps as Sam3TrackerModel.get_image_features + forward: project levels 0/1 for the SAM decoder,
        # add the "no memory" embedding to the last level, keep as many levels as backbone_feature_sizes.
        maps = list(tracker_maps)
        maps[0] = self.tracker.mask_decoder.conv_s0(maps[0])
        maps[1] = self.tracker.mask_decoder.conv_s1(maps[1])
        maps[-1] = maps[-1] + self.tracker.no_memory_embedding.view(1, -1, 1, 1)
        tracker_embeddings = maps[: len(self.tracker.backbone_feature_sizes)]
        self.positions.setdefault(
            tuple(detector_maps[0].shape[-2:]), tuple(level[:1].clone() for level in detector_positions)
        )
        if count == 1:
            return [ImageFeatures(detector=tuple(detector_maps), tracker=tracker_embeddings)]
        return [
            ImageFeatures(
                detector=tuple(level[index : index + 1].clone() for level in detector_maps),
                tracker=[level[index : index + 1].clone() for level in tracker_embeddings],
            )
            for index in range(count)
        ]
