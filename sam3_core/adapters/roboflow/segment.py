"""Roboflow's SAM3 requests read into main-API payloads, and the main API's answers written as Roboflow's.

The fields are roboflow/inference's (``inference/core/entities/requests/sam3.py`` and ``sam2.py``, whose
request ``/sam3/visual_segment`` reuses; the answers of ``entities/responses/sam3.py`` and ``sam2.py``):

- The image is ``{"type": "base64" | "url", "value": ...}``, read as the main API's ``image``.
- ``/sam3/concept_segment``: ``prompts``, 1 to 16 items, each with ``text``, exemplar ``boxes`` (pixels,
  ``{x, y, width, height}`` anchored at the top-left corner, or ``{x0, y0, x1, y1}``), ``box_labels`` (1/true
  "like this", 0/false "not like this") and its own ``output_prob_thresh``. Without ``text``, the boxes alone
  are the concept (the text "visual", as Roboflow's server and SAM3's reference do). A prompt keeps the
  instances scored at or above its threshold (else the request's ``output_prob_thresh``, 0.5);
  ``nms_iou_threshold`` suppresses, across all prompts, an instance whose mask overlaps a better one's by more.
  The answer has one ``prompt_results`` entry per prompt, in order, each prediction a mask as ``polygon``
  (every outer contour, integer pixels) or ``rle`` (COCO, compressed counts) and its ``confidence``.
- ``/sam3/visual_segment``: ``prompts`` (``{"prompts": [...]}``, a list, or one prompt), each with ``points``
  ``[{x, y, positive}]`` and a ``box`` ``{x, y, width, height}`` anchored at its centre, in pixels; one mask per
  prompt, the best of SAM's three with ``multimask_output`` (the default), whatever its score.
- ``/sam3/embed_image``: computes the image's features, which the feature cache keeps for the next prompts on the
  same image; answers ``image_id`` (the client's, else a digest of the image's base64).

Prompts that share their exemplar boxes go in one main-API element (each text a concept prompt); the elements of a
request go through the handler as one many-images request, ``SAM3_MAX_BATCH_IMAGES`` at a time.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sam3_core.api.values import parse_list, parse_number, parse_object, parse_text_prompts
from sam3_core.errors import RequestError
from sam3_core.masks import rle
from sam3_core.masks.encoding import decode_png, outer_contours, simplify
from sam3_core.masks.overlap import greedy_nms
from sam3_core.settings import Limits

Answer = Callable[[dict], Any]  # a main-API payload -> the handler's answer
MAX_PROMPTS = 16  # Roboflow's SAM3_MAX_PROMPT_BATCH_SIZE
FORMATS = {"polygon": "polygon", "json": "polygon", "rle": "rle"}
VISUAL_TEXT = "visual"  # the concept of a prompt made of exemplar boxes alone


def image_field(body: Mapping) -> str:
    """The main API's ``image`` from Roboflow's ``{"type": "base64" | "url", "value": ...}``."""
    image = parse_object(body.get("image"), "image")
    kind, value = image.get("type", "base64"), image.get("value")
    if kind not in ("base64", "url"):
        raise RequestError("image.type", "expected 'base64' or 'url' (numpy arrays are not accepted)")
    if not isinstance(value, str):
        raise RequestError("image.value", f"expected a string, got {type(value).__name__}")
    return value


def mask_format(body: Mapping, default: str) -> str:
    """``format``: ``polygon`` (``json`` is the same) or ``rle``."""
    value = body.get("format", default)
    if value not in FORMATS:
        raise RequestError("format", f"expected one of {', '.join(FORMATS)}")
    return FORMATS[value]


def encode_mask(mask_png: str, form: str) -> list | dict:
    """A main-API mask (base64 PNG) as Roboflow writes it: every outer contour as ``[[x, y], ...]`` integer
    pixels (``[[]]`` for an empty mask), or COCO RLE ``{"size": [h, w], "counts": str}``."""
    mask = decode_png(mask_png)
    if form == "rle":
        return rle.encode(mask)
    return [simplify(contour, 0.0) for contour in outer_contours(mask)] or [[]]


def _threshold(value: object, field: str, default: float) -> float:
    return default if value is None else parse_number(value, field, 0.0, 1.0)


def _strictly_below(threshold: float) -> float:
    """The main API keeps scores strictly above its threshold; Roboflow's keep those at or above theirs."""
    return 0.0 if threshold <= 0 else float(np.nextafter(np.float32(threshold), np.float32(0)))


def _xyxy(box: object, field: str, centred: bool) -> list[float]:
    """A pixel xyxy box from ``{x, y, width, height}`` (top-left or, ``centred``, centre) or ``{x0, y0, x1, y1}``."""
    box = parse_object(box, field)
    if "x0" in box:
        return [parse_number(box.get(key), f"{field}.{key}") for key in ("x0", "y0", "x1", "y1")]
    x, y, width, height = (parse_number(box.get(key), f"{field}.{key}") for key in ("x", "y", "width", "height"))
    if width < 0 or height < 0:
        raise RequestError(field, "has a negative width or height")
    if centred:
        return [x - width / 2, y - height / 2, x + width / 2, y + height / 2]
    return [x, y, x + width, y + height]


class ConceptPrompt:
    """One of ``/sam3/concept_segment``'s prompts: its text as the main API reads it, exemplar boxes (pixel xyxy)
    and labels, threshold."""

    def __init__(self, value: object, index: int, default_threshold: float, limits: Limits) -> None:
        field = f"prompts[{index}]"
        prompt = parse_object(value, field)
        text, boxes = prompt.get("text"), prompt.get("boxes")
        if prompt.get("type") not in (None, "text", "visual"):
            raise RequestError(f"{field}.type", "expected 'text' or 'visual'")
        if prompt.get("type") == "visual" and not boxes:
            raise RequestError(f"{field}.boxes", "a 'visual' prompt needs at least one box")
        self.boxes = [_xyxy(box, f"{field}.boxes[{k}]", False) for k, box in enumerate(parse_list(boxes or [], field))]
        labels = prompt.get("box_labels")
        if labels is None:
            self.labels = [1] * len(self.boxes)
        else:
            labels = parse_list(labels, f"{field}.box_labels")
            if len(labels) != len(self.boxes):
                raise RequestError(f"{field}.box_labels", f"{len(labels)} labels for {len(self.boxes)} boxes")
            self.labels = [
                int(parse_number(int(v) if isinstance(v, bool) else v, f"{field}.box_labels")) for v in labels
            ]
        if text is None and not self.boxes:
            raise RequestError(field, "needs a text or boxes")
        text = VISUAL_TEXT if text is None else text
        if not isinstance(text, str):
            raise RequestError(f"{field}.text", f"expected a string, got {type(text).__name__}")
        try:
            [self.text] = parse_text_prompts([text], limits)
        except RequestError as error:
            raise RequestError(f"{field}.text", error.problem) from None
        self.given_text = prompt.get("text")
        self.threshold = _threshold(prompt.get("output_prob_thresh"), f"{field}.output_prob_thresh", default_threshold)
        self.exemplars = (tuple(map(tuple, self.boxes)), tuple(self.labels))


def concept_prompts(body: Mapping, limits: Limits) -> list[ConceptPrompt]:
    """The request's prompts, checked (1 to 16 of them)."""
    prompts = parse_list(body.get("prompts"), "prompts")
    if not 1 <= len(prompts) <= MAX_PROMPTS:
        raise RequestError("prompts", f"has {len(prompts)} prompts; send 1 to {MAX_PROMPTS}")
    default = _threshold(body.get("output_prob_thresh"), "output_prob_thresh", 0.5)
    return [ConceptPrompt(value, index, default, limits) for index, value in enumerate(prompts)]


def group_prompts(prompts: Sequence[ConceptPrompt]) -> list[list[int]]:
    """Prompt indices grouped into main-API elements: one group per set of exemplar boxes, no text twice in one."""
    groups: list[list[int]] = []
    for index, prompt in enumerate(prompts):
        for group in groups:
            first = prompts[group[0]]
            if first.exemplars == prompt.exemplars and all(prompts[k].text != prompt.text for k in group):
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


Rename = Callable[[str], str]  # a main-API element's field -> the Roboflow field it came from


def _run(elements: list[dict], renames: list[Rename], answer: Answer, limits: Limits) -> list[dict]:
    """The main API's answers to ``elements``, ``SAM3_MAX_BATCH_IMAGES`` per call; an element's error names the
    Roboflow field (``renames[element]``; the image is the request's own ``image``)."""
    answers: list[dict] = []
    for start in range(0, len(elements), limits.max_batch_images):
        try:
            answers += answer({"inputs": elements[start : start + limits.max_batch_images]})
        except RequestError as error:
            if error.element is None:
                raise
            field = error.field.split(".", 1)[1]  # without the element's "inputs[i]."
            named = field if field.startswith("image") else renames[start + error.element](field)
            moved = type(error)(named, error.problem)
            moved.__cause__ = error.__cause__
            raise moved from None
    return answers


def _concept_field(prompts: list[int]) -> Rename:
    """The field of an element that holds ``prompts`` (their texts in order, the first one's boxes)."""

    def rename(field: str) -> str:
        text = re.match(r"text_prompts\[(\d+)\](.*)", field)
        if text:
            return f"prompts[{prompts[int(text[1])]}].text{text[2]}"
        return f"prompts[{prompts[0]}].{field}"

    return rename


def _visual_field(index: int) -> Rename:
    """The field of visual prompt ``index``'s element (its box is the element's ``boxes[0]``)."""
    return lambda field: f"prompts[{index}]." + re.sub(r"^boxes\[0\]", "box", field)


def concept_segment(body: object, answer: Answer, limits: Limits) -> dict:
    """``/sam3/concept_segment``'s answer to ``body``."""
    started = time.perf_counter()
    body = parse_object(body, "body")
    image, form = image_field(body), mask_format(body, "polygon")
    nms = body.get("nms_iou_threshold")
    nms = None if nms is None else parse_number(nms, "nms_iou_threshold", 0.0, 1.0)
    prompts = concept_prompts(body, limits)
    groups = group_prompts(prompts)
    elements = []
    for group in groups:
        first = prompts[group[0]]
        element = {"image": image, "text_prompts": [prompts[k].text for k in group]}
        element["confidence_threshold"] = _strictly_below(min(prompts[k].threshold for k in group))
        if first.boxes:
            element.update(boxes=first.boxes, box_labels=first.labels)
        elements.append(element)
    renames = [_concept_field(group) for group in groups]
    found: list[tuple[int, str, float]] = []  # (prompt index, mask PNG, score) in the model's order
    for group, response in zip(groups, _run(elements, renames, answer, limits), strict=True):
        by_text = {prompts[k].text: k for k in group}
        for mask, score, label in zip(response["masks"], response["scores"], response["labels"], strict=True):
            index = by_text[label]
            if score >= prompts[index].threshold:
                found.append((index, mask, score))
    if nms is not None and found:
        masks = [decode_png(mask) for _, mask, _ in found]
        kept = set(greedy_nms(masks, [score for _, _, score in found], nms))
        found = [item for k, item in enumerate(found) if k in kept]
    results = []
    for index, prompt in enumerate(prompts):
        predictions = [
            {"masks": encode_mask(mask, form), "confidence": score, "format": form}
            for k, mask, score in found
            if k == index
        ]
        kind = "visual" if prompt.boxes else "text"
        echo = {"prompt_index": index, "type": kind, "text": prompt.given_text, "num_boxes": len(prompt.boxes)}
        results.append({"prompt_index": index, "echo": echo, "predictions": predictions})
    return {"prompt_results": results, "time": time.perf_counter() - started}


def visual_prompts(value: object) -> list[Mapping]:
    """``prompts`` as ``{"prompts": [...]}``, a list, or one prompt; absent: none."""
    if value is None:
        return []
    if isinstance(value, Mapping) and "prompts" in value:
        return parse_list(value["prompts"], "prompts.prompts")
    return parse_list(value, "prompts") if isinstance(value, list) else [parse_object(value, "prompts")]


def visual_element(prompt: object, field: str, image: str, multimask: bool) -> dict:
    """One visual prompt as a main-API element: its points and centre-anchored box make one object."""
    prompt = parse_object(prompt, field)
    element: dict[str, Any] = {"image": image, "multimask_output": multimask, "confidence_threshold": 0.0}
    points = parse_list(prompt.get("points") or [], f"{field}.points")
    for k, point in enumerate(points):
        point = parse_object(point, f"{field}.points[{k}]")
        xy = [parse_number(point.get(key), f"{field}.points[{k}].{key}") for key in ("x", "y")]
        element.setdefault("points", []).append(xy)
        element.setdefault("point_labels", []).append(1 if point.get("positive", True) else 0)
    if prompt.get("box") is not None:
        element.update(boxes=[_xyxy(prompt["box"], f"{field}.box", True)], box_labels=[1])
    if "points" not in element and "boxes" not in element:
        raise RequestError(field, "needs points or a box")
    return element


def visual_segment(body: object, answer: Answer, limits: Limits) -> dict:
    """``/sam3/visual_segment``'s answer: one prediction per prompt, in order."""
    started = time.perf_counter()
    body = parse_object(body, "body")
    image, form = image_field(body), mask_format(body, "json")
    multimask = body.get("multimask_output", True)
    if not isinstance(multimask, bool):
        raise RequestError("multimask_output", "expected true or false")
    prompts = visual_prompts(body.get("prompts"))
    if not prompts:
        raise RequestError("prompts", "send at least one prompt with points or a box")
    elements = [visual_element(prompt, f"prompts[{k}]", image, multimask) for k, prompt in enumerate(prompts)]
    predictions = []
    for response in _run(elements, [_visual_field(k) for k in range(len(prompts))], answer, limits):
        if response["masks"]:  # with multimask_output, SAM's three candidates come best first
            mask, score = encode_mask(response["masks"][0], form), response["scores"][0]
        else:  # nothing scored above zero: an empty mask
            width, height = response["original_image_size"]
            mask, score = [[]] if form == "polygon" else rle.encode(np.zeros((height, width), bool)), 0.0
        predictions.append({"masks": mask, "confidence": score, "format": form})
    return {"predictions": predictions, "time": time.perf_counter() - started}


def embed_image(body: object, answer: Answer) -> dict:
    """``/sam3/embed_image``: the image's features computed (one click at its centre: the feature cache keeps
    them for the next prompts on it); ``image_id`` as given, else a digest of the image's base64."""
    started = time.perf_counter()
    body = parse_object(body, "body")
    image = image_field(body)
    image_id = body.get("image_id")
    if image_id is not None and not isinstance(image_id, str):
        raise RequestError("image_id", f"expected a string, got {type(image_id).__name__}")
    answer({"inputs": {"image": image, "points": [[0, 0]], "confidence_threshold": 0.0}})  # a corner: in any image
    digest = hashlib.sha1(image.encode("utf-8", "surrogatepass")).hexdigest()
    return {"image_id": image_id or digest, "time": time.perf_counter() - started}
