"""What the engine runs, in model terms: the request layer has already applied the API's prompt rules.

Coordinates are pixels of the upright image, origin top-left, x right, y down; boxes are ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class VisualObject:
    """One object for the tracker (SAM2 semantics): its points (with 1/0 labels) and/or one box."""

    points: tuple[Point, ...] = ()
    point_labels: tuple[int, ...] = ()
    box: Box | None = None


@dataclass(frozen=True)
class SegmentationWork:
    """One image's prompts for the engine.

    - ``text_prompts``: concepts, each returning every instance the detector scores above the threshold;
      ``exemplar_boxes`` (with 1/0 ``exemplar_labels``) steer every concept ("more/not like this").
    - ``visual_objects``: tracker objects, one or ``multimask_output`` 3 masks each, in order.
    - ``automatic``: no prompt at all: segment everything (``sam3_core.automatic``).
    - ``max_objects``: at most this many objects come back, the highest scores, in the order above.
    """

    image: Image.Image
    text_prompts: tuple[str, ...] = ()
    exemplar_boxes: tuple[Box, ...] = ()
    exemplar_labels: tuple[int, ...] = ()
    visual_objects: tuple[VisualObject, ...] = ()
    automatic: bool = False
    confidence_threshold: float = 0.5
    multimask_output: bool = False
    max_objects: int = 100

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.image.size
