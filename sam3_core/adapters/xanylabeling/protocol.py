"""X-AnyLabeling's remote-server requests read into main-API payloads, and the answers written as its shapes.

The protocol is the one the ``x-anylabeling-cvhub`` client speaks
(``anylabeling/services/auto_labeling/remote_server.py``) and CVHub520/X-AnyLabeling-Server answers:

- ``GET /v1/models``: ``{"data": {model_id: {"display_name", "widgets", "available_tasks", ...}}}``; the widgets
  are names from the client's own list (its SAM widgets: text, clicks, boxes, confidence, mask fineness), the
  tasks choose polygons or rectangles. A second model, for videos (``batch_processing_mode: "video"``), has the
  routes of ``sam3_core.adapters.xanylabeling.video``.
- ``POST /v1/predict``: ``{"model", "image" (a data URI of the file), "params": {...}}``. ``params.text_prompt``
  is split at commas into concept prompts, each instance labelled with its prompt. ``params.marks`` are clicks
  ``{"type": "point", "data": [x, y], "label": 1 | 0}`` and boxes ``{"type": "rectangle", "data": [x1, y1, x2,
  y2], "label": 1 | 0}`` in image pixels, read as the main API's points and boxes (SAM2's objects, labelled
  ``AUTOLABEL_OBJECT`` for the user to name); ``{"type": "auto_grid"}`` segments everything. ``conf_threshold``
  keeps concept instances (clicks and boxes always return their mask); ``epsilon_factor`` simplifies each
  polygon by that fraction of its contour's length (the client's mask fineness). The answer is
  ``{"data": {"shapes": [...]}}``, each shape
  ``{"label", "shape_type", "points" (pixels), "score", "group_id"}``: a closed polygon (its first vertex
  repeated last) per part of the object's mask, or its box's four corners (the "rectangles" task).

The client turns an error answer into an empty result and shows only its status, so the routes log every
refusal with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from sam3_core.api.values import parse_list, parse_number, parse_object
from sam3_core.errors import RequestError
from sam3_core.masks.encoding import decode_png, outer_contours, simplify

Answer = Callable[[dict], Any]  # a main-API payload -> the handler's answer
MODEL_ID = "segment_anything_3"
VIDEO_MODEL_ID = "segment_anything_3_video"  # its routes: sam3_core.adapters.xanylabeling.video
VISUAL_LABEL = "AUTOLABEL_OBJECT"  # X-AnyLabeling's label for an object the user names on "Finish"
POLYGON, RECTANGLE = "polygon", "rectangle"
DEFAULT_CONFIDENCE = 0.5
DEFAULT_FINENESS = 10  # the mask fineness slider's position for an epsilon_factor of 0.001
WIDGETS = (
    "edit_text",
    "button_send",
    "button_add_point",
    "button_remove_point",
    "add_pos_rect",
    "add_neg_rect",
    "button_run_rect",
    "button_clear",
    "button_finish_object",
    "button_run",
    "input_conf",
    "edit_conf",
    "mask_fineness_slider",
    "mask_fineness_value_label",
    "toggle_preserve_existing_annotations",
)
# The video model's: a text prompt, then the client's "run" propagates (video sessions take no clicks yet).
VIDEO_WIDGETS = (
    "edit_text",
    "button_send",
    "input_conf",
    "edit_conf",
    "mask_fineness_slider",
    "mask_fineness_value_label",
)
VALUES = {"edit_conf": DEFAULT_CONFIDENCE, "mask_fineness_slider": DEFAULT_FINENESS}
VALUES["toggle_preserve_existing_annotations"] = False
PLACEHOLDERS = {"edit_text": "concepts, comma-separated: person, car"}


def model_list(display_name: str) -> dict:
    """``/v1/models``'s answer: the one SAM3 model, its widgets, and its two tasks (polygons or rectangles)."""
    widgets = [{"name": name, "value": VALUES.get(name)} for name in WIDGETS]
    for widget in widgets:
        if widget["name"] in PLACEHOLDERS:
            widget["placeholder"] = PLACEHOLDERS[widget["name"]]
    active = {name: {"placeholder": PLACEHOLDERS[name]} if name in PLACEHOLDERS else {} for name in WIDGETS}
    tasks = [
        {"id": POLYGON, "name": "Segment (polygons)", "active_widgets": active},
        {"id": RECTANGLE, "name": "Detect (rectangles)", "active_widgets": active},
    ]
    model = {
        "display_name": display_name,
        "widgets": widgets,
        "available_tasks": tasks,
        "params": {"conf_threshold": DEFAULT_CONFIDENCE, "epsilon_factor": 0.001},
        "batch_processing_mode": "text_prompt",
    }
    video_widgets = [widget for widget in widgets if widget["name"] in VIDEO_WIDGETS]
    video = {
        "display_name": f"{display_name}, video",
        "widgets": video_widgets,
        "params": {"conf_threshold": DEFAULT_CONFIDENCE, "epsilon_factor": 0.001},
        "batch_processing_mode": "video",
    }
    return {"success": True, "data": {MODEL_ID: model, VIDEO_MODEL_ID: video}}


def concepts(text: object) -> list[str]:
    """``params.text_prompt`` split at commas (and full stops) into concepts, blanks dropped."""
    if not isinstance(text, str):
        raise RequestError("params.text_prompt", f"expected a string, got {type(text).__name__}")
    return [part.strip() for part in re.split(r"[,.]", text) if part.strip()]


def read_marks(value: object) -> dict[str, Any]:
    """``params.marks`` as main-API fields: ``points``/``point_labels``, ``boxes``/``box_labels``, or
    ``automatic``."""
    parse_list(value, "params.marks")
    fields: dict[str, Any] = {}
    for index, mark in enumerate(value):
        field = f"params.marks[{index}]"
        mark = parse_object(mark, field)
        kind = mark.get("type")
        if kind == "auto_grid":
            fields["automatic"] = True
            continue
        names = {"point": ("points", "point_labels", 2), "rectangle": ("boxes", "box_labels", 4)}
        if kind not in names:
            raise RequestError(f"{field}.type", "expected 'point', 'rectangle' or 'auto_grid'")
        items, labels, width = names[kind]
        data = mark.get("data")
        if not isinstance(data, list) or len(data) != width:
            raise RequestError(f"{field}.data", f"expected {width} numbers")
        fields.setdefault(items, []).append([parse_number(v, f"{field}.data[{k}]") for k, v in enumerate(data)])
        label = mark.get("label", 1)
        if label not in (0, 1) or isinstance(label, float):
            raise RequestError(f"{field}.label", "expected 1 (positive) or 0 (negative)")
        fields.setdefault(labels, []).append(int(label))
    return fields


def main_request(body: object) -> tuple[dict, str, float]:
    """``(main-API inputs, shape type, epsilon_factor)`` of a ``/v1/predict`` body."""
    body = parse_object(body, "body")
    if body.get("model", MODEL_ID) != MODEL_ID:
        raise RequestError("model", f"this server offers '{MODEL_ID}' (GET /v1/models)")
    params = parse_object(body.get("params") or {}, "params")
    inputs: dict[str, Any] = {"image": body.get("image")}
    if params.get("marks"):
        inputs.update(read_marks(params["marks"]))
    if params.get("text_prompt"):
        inputs["text_prompts"] = concepts(params["text_prompt"])
    if not (set(inputs) - {"image"}):
        inputs["automatic"] = True  # "Run" with no prompt: everything in the image
    visual = "text_prompts" not in inputs and "automatic" not in inputs
    confidence = params.get("conf_threshold")
    if visual:
        inputs["confidence_threshold"] = 0.0  # a click or a box always answers its mask
    elif confidence is not None:
        inputs["confidence_threshold"] = parse_number(confidence, "params.conf_threshold", 0.0, 1.0)
    epsilon = params.get("epsilon_factor")
    epsilon = 0.001 if epsilon is None else parse_number(epsilon, "params.epsilon_factor", 0.0, 1.0)
    task = params.get("current_task") or POLYGON
    if task not in (POLYGON, RECTANGLE):
        raise RequestError("params.current_task", f"expected '{POLYGON}' or '{RECTANGLE}'")
    return inputs, task, epsilon


def shapes(response: Mapping, task: str, epsilon_factor: float) -> list[dict]:
    """The main API's answer as X-AnyLabeling shapes (pixels), ``group_id`` the object's rank + 1: its box's four
    corners, or a closed polygon (first vertex repeated last) per part of its mask, holes not represented (parts
    less than a pixel thick, which no polygon covers, are left out)."""
    found = []
    for index, (mask, box, score, label) in enumerate(
        zip(response["masks"], response["boxes"], response["scores"], response["labels"], strict=True)
    ):
        shape = {"label": VISUAL_LABEL if label == "visual" else label, "score": score, "group_id": index + 1}
        if task == RECTANGLE:
            x1, y1, x2, y2 = box
            found.append({**shape, "shape_type": RECTANGLE, "points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]})
            continue
        polygons = closed_polygons(decode_png(mask), epsilon_factor)
        found += [{**shape, "shape_type": POLYGON, "points": points} for points in polygons]
    return found


def closed_polygons(mask: np.ndarray, epsilon_factor: float) -> list[list[list[int]]]:
    """A polygon per part of ``mask`` (``(H, W)`` bool, pixels), simplified by ``epsilon_factor`` of its outline's
    length, its first vertex repeated last; parts less than a pixel thick left out."""
    polygons = [simplify(contour, epsilon_factor, relative=True) for contour in outer_contours(mask)]
    return [[*polygon, polygon[0]] for polygon in polygons if len(polygon) >= 3]


def predict(body: object, answer: Answer) -> dict:
    """``/v1/predict``'s answer to ``body``."""
    inputs, task, epsilon = main_request(body)
    response = answer({"inputs": inputs})
    return {"success": True, "data": {"shapes": shapes(response, task, epsilon), "description": ""}}
