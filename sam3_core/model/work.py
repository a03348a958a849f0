"""What the engine runs, in model terms: the request layer has already applied the API's prompt rules.

Coordinates are pixels of the upright image, origin top-left, x right, y down; boxes are ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(eq=False)
class Picture:
    """An upright RGB picture for the engine, decoded only when its pixels are needed.

    ``size``: ``(width, height)``. ``key``: names the picture in the engine's feature cache: a digest of what the
    client sent (so the same file sent again is recognised without decoding it) or of the pixels.
    ``pixels()``: the RGB image; decoded on first call by ``decode`` when only the size was known.
    """

    size: tuple[int, int]
    key: str
    image: Image.Image | None = field(default=None, repr=False)
    decode: Callable[[], Image.Image] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, image: Image.Image) -> Picture:
        """A decoded picture, named by a digest of its pixels (SHA-256: hardware-accelerated, ~1.5 GB/s)."""
        digest = hashlib.sha256(image.tobytes()).hexdigest()[:32]
        return cls(image.size, f"pixels:{image.mode}:{digest}", image)

    def pixels(self) -> Image.Image:
        if self.image is None:
            self.image = self.decode()
        return self.image


@dataclass(frozen=True)
class VisualObject:
    """One object for the tracker (SAM2 semantics): its points (with 1/0 labels) and/or one box."""

    points: tuple[Point, ...] = ()
    point_labels: tuple[int, ...] = ()
    box: Box | None = None


@dataclass(frozen=True)
class AutomaticOptions:
    """Segment everything, after SAM's automatic mask generator (same names where the meaning is the same).

    ``points_per_side``² single-point prompts on an even grid, SAM's 3 candidate masks each; a candidate is kept
    when its predicted IoU is above the request's ``confidence_threshold`` (SAM's ``pred_iou_thresh``), its
    stability score is at least ``stability_score_thresh``, it covers at least ``min_area`` pixels of the image,
    and no better candidate's box overlaps its box by more than ``box_nms_thresh`` IoU.

    With ``crop_n_layers`` > 0 the same runs again on crops of the image (``model.automatic.crop_boxes``): layer
    i has 2^i x 2^i crops overlapping by ``crop_overlap_ratio`` (of the short side, scaled per layer), with
    ``points_per_side / crop_n_points_downscale_factor^i`` points per side; a crop's masks cut off by a crop edge
    are dropped, and across crops box NMS at ``crop_nms_thresh`` keeps the mask from the smaller crop.
    """

    points_per_side: int = 16
    stability_score_thresh: float = 0.9
    box_nms_thresh: float = 0.7
    min_area: int = 0
    crop_n_layers: int = 0
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    crop_nms_thresh: float = 0.7


@dataclass(frozen=True)
class SegmentationWork:
    """One image's prompts for the engine.

    - ``text_prompts``: concepts, each returning every instance the detector scores above the threshold;
      ``exemplar_boxes`` (with 1/0 ``exemplar_labels``) steer every concept ("more/not like this").
    - ``visual_objects``: tracker objects, one or ``multimask_output`` 3 masks each, in order.
    - ``automatic``: no prompt at all: segment everything with these options (``sam3_core.model.automatic``).
    - ``max_objects``: at most this many objects come back, the highest scores, in the order above.
    """

    image: Picture
    text_prompts: tuple[str, ...] = ()
    exemplar_boxes: tuple[Box, ...] = ()
    exemplar_labels: tuple[int, ...] = ()
    visual_objects: tuple[VisualObject, ...] = ()
    automatic: AutomaticOptions | None = None
    confidence_threshold: float = 0.5
    multimask_output: bool = False
    max_objects: int = 100

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.image.size
