"""Image features: SAM3's one ViT over a batch of images, then the detector's neck and the tracker's neck.

The same steps as ``Sam3Model.get_vision_features`` and ``Sam3TrackerModel.get_image_features`` + ``forward``
(``Sam3VideoModel`` feeds its tracker the same way), with the ViT run once for both models
(``transformers_internals`` holds the steps that reach into the models). ``cached_features`` serves a batch of
pictures from the engine's feature cache, encoding only those missing from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel

from sam3_core.model.cache import ByteLRUCache
from sam3_core.model.transformers_internals import detector_neck, tracker_image_embeddings, vit_maps
from sam3_core.model.work import Picture


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
        spatial = vit_maps(self.detector, pixel_values)  # (B, C, H/14, W/14)
        detector_maps, detector_positions = detector_neck(self.detector, spatial)
        tracker_embeddings = tracker_image_embeddings(self.tracker, spatial)
        self.positions.setdefault(
            tuple(detector_maps[0].shape[-2:]), tuple(level[:1].clone() for level in detector_positions)
        )
        count = pixel_values.shape[0]
        if count == 1:
            return [ImageFeatures(detector=detector_maps, tracker=tracker_embeddings)]
        return [
            ImageFeatures(
                detector=tuple(level[index : index + 1].clone() for level in detector_maps),
                tracker=[level[index : index + 1].clone() for level in tracker_embeddings],
            )
            for index in range(count)
        ]


def feature_key(picture: Picture) -> tuple:
    """What names a picture's features in the feature cache."""
    return (picture.size, picture.key)


def cached_features(
    cache: ByteLRUCache[ImageFeatures],
    pictures: Sequence[Picture],
    compute: Callable[[list[Image.Image]], list[ImageFeatures]],
) -> tuple[list[ImageFeatures], list[bool]]:
    """Each picture's features, from ``cache`` or from one ``compute`` call over the pictures missing from it (a
    picture twice in the batch is computed once, then cached), and whether each was a cache hit."""
    keys = [feature_key(picture) for picture in pictures]
    found = {key: cache.get(key) for key in dict.fromkeys(keys)}
    hits = [found[key] is not None for key in keys]
    missing = {key: picture for key, picture in zip(keys, pictures, strict=True) if found[key] is None}
    if missing:
        computed = compute([picture.pixels() for picture in missing.values()])
        for key, value in zip(missing, computed, strict=True):
            found[key] = value
            cache.put(key, value)
    return [found[key] for key in keys], hits
