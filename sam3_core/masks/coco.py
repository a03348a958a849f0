"""Handler responses to COCO instance-segmentation annotations (what training tools and pycocotools read).

Boxes become COCO ``[x, y, width, height]`` (pixels, top-left origin); masks become compressed RLE (pycocotools'
own encoder) or polygons (``[[x1, y1, x2, y2, ...]]``, the response's outer contour of each mask's largest part).
A mask whose contour has fewer than 3 vertices (a line or a dot, or an empty mask) has no valid COCO polygon: in
polygon format it is written as RLE, which COCO allows per annotation and pycocotools reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from sam3_core.masks.encoding import decode_png


def annotations_from_response(response: dict[str, Any], category_ids: dict[str, int], fmt: str) -> list[dict]:
    """One COCO annotation (without ``id``/``image_id``) per object of a handler response.

    ``fmt``: ``"rle"`` (needs the masks) or ``"polygon"`` (needs ``vectorize: true`` in the request). ``area`` is
    the mask's pixel count in both formats.
    """
    annotations = []
    polygons = response.get("polygons")
    for index, (png, score, box, label) in enumerate(
        zip(response["masks"], response["scores"], response["boxes"], response["labels"], strict=True)
    ):
        mask = decode_png(png)
        x1, y1, x2, y2 = box
        annotation = {
            "category_id": category_ids[label],
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "area": int(mask.sum()),
            "iscrowd": 0,
            "score": round(float(score), 6),
        }
        flat = [float(v) for vertex in polygons[index] for v in vertex] if fmt == "polygon" else []
        if len(flat) >= 6:
            annotation["segmentation"] = [flat]
        else:  # RLE asked for, or a degenerate contour (an empty polygon list makes pycocotools' readers fail)
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotation["segmentation"] = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
        annotations.append(annotation)
    return annotations
