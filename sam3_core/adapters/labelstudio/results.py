"""A main-API response as one Label Studio prediction, in the result type of the project's output control.

- ``brushlabels``: the mask as Label Studio's brush RLE (``value.format`` ``"rle"``, ``value.rle``;
  ``sam3_core.masks.brush_rle``), held as ``bytes`` (a byte per value, not a Python int list) until the server
  writes it as JSON's list of numbers;
- ``polygonlabels``: the outer contour of the mask's largest part (the main API's ``vectorize``), its vertices
  at pixel centres, in percent of the image (``value.points`` ``[[x, y], ...]``, ``closed``);
- ``rectanglelabels``: the mask's box in percent (``value.x``, ``y``, ``width``, ``height``, ``rotation`` 0).

Every region has ``from_name``, ``to_name``, ``type``, ``original_width``, ``original_height``,
``image_rotation`` (0: regions are of the upright image), its ``score`` and its label; the prediction has the
mean of its regions' scores (0 without regions) and the ``model_version``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sam3_core.adapters.labelstudio.config import LabelingConfig
from sam3_core.masks.brush_rle import encode_mask
from sam3_core.masks.encoding import decode_png


def _percent(value: float, whole: int) -> float:
    return round(100.0 * value / whole, 4)


def _value(config: LabelingConfig, response: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The result's ``value`` (without its label) for object ``index``; None for a polygon of under 3 vertices."""
    width, height = response["original_image_size"]
    if config.output_kind == "brushlabels":
        return {"format": "rle", "rle": encode_mask(decode_png(response["masks"][index]))}
    if config.output_kind == "polygonlabels":
        vertices = response["polygons"][index]
        if len(vertices) < 3:
            return None
        points = [[_percent(x + 0.5, width), _percent(y + 0.5, height)] for x, y in vertices]
        return {"points": points, "closed": True}
    x1, y1, x2, y2 = response["boxes"][index]
    return {
        "x": _percent(x1, width),
        "y": _percent(y1, height),
        "width": _percent(x2 - x1, width),
        "height": _percent(y2 - y1, height),
        "rotation": 0,
    }


def prediction(
    config: LabelingConfig, response: dict[str, Any], label_of: Callable[[str], str], model_version: str
) -> dict[str, Any]:
    """``{"result": [...], "score": ..., "model_version": ...}`` for a main-API ``response`` (with ``polygons``
    when the output is polygons); ``label_of`` maps the response's label of an object (the text prompt that found
    it, or ``"visual"``) to the project's label."""
    width, height = response["original_image_size"]
    regions = []
    for index, (score, found_by) in enumerate(zip(response["scores"], response["labels"], strict=True)):
        value = _value(config, response, index)
        if value is None:
            continue
        value[config.output_kind] = [label_of(found_by)]
        regions.append(
            {
                "id": uuid.uuid4().hex[:10],
                "from_name": config.output_name,
                "to_name": config.image_name,
                "type": config.output_kind,
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
                "value": value,
                "score": round(float(score), 4),
                "readonly": False,
            }
        )
    score = sum(region["score"] for region in regions) / len(regions) if regions else 0.0
    return {"result": regions, "score": round(score, 4), "model_version": model_version}
