"""Parse and validate the three payload forms into one ``SegmentRequest``.

1. ``{"inputs": {"image": ..., "text_prompts": [...], "points": ..., ...}}`` - the main API.
2. ``{"data": [image, "kitten", 0.5]}`` - the simple (Gradio-style) API: one text prompt, optional threshold.
3. ``{"inputs": <image>, "parameters": {...}}`` - the Hugging Face convention (the toolkit turns a binary body
   into a PIL image); ``parameters`` carries the same fields as form 1.

Fields may also stand beside ``inputs`` (``payload_parts``), and other clients' names for them are read as the
main ones (``sam3_core.api.vocabulary``); any other top-level key is refused, naming it.

Coordinates are pixels of the upright image: points ``[x, y]``, boxes ``[x1, y1, x2, y2]`` (x right, y down,
continuous coordinates, so a box covering the whole image is ``[0, 0, width, height]``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from sam3_core.api import schema
from sam3_core.api.restated import RESTATED, check_restated
from sam3_core.api.tasks import SEGMENTATION, task_fields
from sam3_core.api.values import check_points_inside, clip_box, parse_number, unknown_name
from sam3_core.api.vocabulary import OTHER_NAMES, MainFields, main_fields
from sam3_core.errors import RequestError
from sam3_core.media.image_io import read_image
from sam3_core.model.work import AutomaticOptions, Box, Picture, Point, SegmentationWork, VisualObject
from sam3_core.settings import RequestSettings


@dataclass(frozen=True)
class SegmentRequest:
    """A validated request. Boxes are already clipped to the image; every list is as long as its labels.

    The fields a client sends besides ``image`` are declared with their check, default and bounds
    (``sam3_core.api.schema``); the parser sets the others.
    """

    image: Picture
    text_prompts: tuple[str, ...] = schema.text()
    points: tuple[Point, ...] = schema.coordinates(2, "max_points")
    point_labels: tuple[int, ...] = schema.labels("points")
    boxes: tuple[Box, ...] = schema.coordinates(4, "max_boxes")
    box_labels: tuple[int, ...] = schema.labels("boxes")
    multimask_output: bool = schema.boolean()
    confidence_threshold: float = schema.number(0.5, 0.0, 1.0)
    vectorize: bool = schema.boolean()
    simplify_epsilon: float = schema.number(2.0, 0.0, 1e6)
    return_timings: bool = schema.boolean()
    max_objects: int = schema.limited("max_objects")  # SAM3_MAX_OBJECTS, unless the client asks for fewer
    decode_ms: float = 0.0
    automatic: AutomaticOptions | None = schema.options()  # segment everything (SAM's automatic mask generator)
    task: str | None = None  # an InferenceClient task whose answer format to use (see _image_with_parameters)
    visual_groups: tuple[VisualObject, ...] | None = None  # the transformers processors' objects (api.vocabulary)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the upright image."""
        return self.image.size

    @property
    def prompt_types(self) -> list[str]:
        """The kinds of prompt the request used: ``"text"``, ``"visual"`` (points, boxes or automatic), or both."""
        kinds = ["text"] if self.text_prompts else []
        return kinds + (["visual"] if self.points or self.boxes or self.automatic else [])

    @property
    def visual_objects(self) -> list[VisualObject]:
        """The tracker objects. With text, only the points form one (boxes are concept exemplars then).

        Without text: each positive box is one object; all points together are one object; when exactly one
        positive box is given, the points refine that box's object (SAM2's box + points prompt). Prompts in the
        transformers processors' nesting (``input_points``) keep their own objects (``visual_groups``).
        """
        if self.visual_groups is not None:
            return list(self.visual_groups)
        if self.text_prompts:
            return [VisualObject(self.points, self.point_labels)] if self.points else []
        return group_visual_objects(self.points, self.point_labels, self.boxes, self.box_labels)

    def work(self) -> SegmentationWork:
        """The engine's part of this request: with text, boxes are exemplars and points one visual object;
        without, ``visual_objects``."""
        return SegmentationWork(
            image=self.image,
            text_prompts=self.text_prompts,
            exemplar_boxes=self.boxes if self.text_prompts else (),
            exemplar_labels=self.box_labels if self.text_prompts else (),
            visual_objects=tuple(self.visual_objects),
            automatic=self.automatic,
            confidence_threshold=self.confidence_threshold,
            multimask_output=self.multimask_output,
            max_objects=self.max_objects,
        )

    @property
    def exclusion_boxes(self) -> list[Box]:
        """Negative boxes without text: their pixels are removed from every returned mask."""
        if self.text_prompts:
            return []
        return [box for box, label in zip(self.boxes, self.box_labels, strict=False) if label == 0]


def group_visual_objects(
    points: Sequence[Point], point_labels: Sequence[int], boxes: Sequence[Box], box_labels: Sequence[int]
) -> list[VisualObject]:
    """SAM2's objects from points and boxes (no text): each positive box is one object; all points together are
    one object; when exactly one positive box is given, the points refine that box's object (box + points).
    Negative boxes form no object."""
    points_object = VisualObject(tuple(points), tuple(point_labels)) if points else None
    positive = [box for box, label in zip(boxes, box_labels, strict=False) if label == 1]
    if points_object and len(positive) == 1:
        return [VisualObject(tuple(points), tuple(point_labels), positive[0])]
    return [VisualObject(box=box) for box in positive] + ([points_object] if points_object else [])


# The fields a client may send: the image and SegmentRequest's declared ones.
CLIENT_FIELDS = schema.client_fields(SegmentRequest)
FIELDS = ("image", *CLIENT_FIELDS)


# A payload's own keys are "inputs", "parameters", "data" and "options"; main fields (and other clients' names for
# them) may also stand beside "inputs", read as "parameters". "options" is the Inference API's (wait_for_model,
# use_cache: accepted, nothing to change here); Gradio clients send GRADIO_KEYS with "data" (unused).
INFERENCE_API_OPTIONS = ("wait_for_model", "use_cache")
GRADIO_KEYS = ("fn_index", "session_hash", "event_data", "trigger_id")


def payload_parts(data: Mapping) -> tuple[object, dict]:
    """``(inputs, parameters)`` of an ``inputs`` payload: fields given beside ``inputs`` join ``parameters`` (one
    given in both is refused); ``options`` is checked; ``data`` beside ``inputs`` is refused."""
    parameters = data.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise RequestError("parameters", f"expected an object, got {type(parameters).__name__}")
    parameters = dict(parameters or {})
    for key, value in data.items():
        if key in ("inputs", "parameters"):
            continue
        if key == "options":
            _check_options(value)
        elif key == "data":
            raise RequestError("data", "the simple API's list goes alone: send 'inputs' or 'data', not both")
        elif key in parameters:
            raise RequestError(key, "given both beside 'inputs' and in 'parameters'; give it once")
        else:
            parameters[key] = value
    return data.get("inputs"), parameters


def _check_options(value: object) -> None:
    if not isinstance(value, Mapping):
        raise RequestError("options", f"expected an object, got {type(value).__name__}")
    for key in value:
        if key not in INFERENCE_API_OPTIONS:
            raise unknown_name(key, INFERENCE_API_OPTIONS, "unknown option", prefix="options.", kind="options")


def parse_payload(data: object, settings: RequestSettings) -> SegmentRequest:
    """Validate any of the three payload forms; raise ``RequestError`` (a ``ValueError``) naming the bad field."""
    if not isinstance(data, Mapping):
        raise RequestError("payload", f"expected a JSON object, got {type(data).__name__}")
    if "inputs" in data:
        inputs, parameters = payload_parts(data)
        if isinstance(inputs, Mapping):
            return _parse_fields({**parameters, **inputs}, settings)
        if not isinstance(inputs, (str, bytes, bytearray, memoryview, Image.Image)):
            raise RequestError("inputs", f"expected an object of fields or an image, got {type(inputs).__name__}")
        if "image" in parameters:
            raise RequestError("parameters.image", "give the image as 'inputs'")
        return _image_with_parameters(inputs, parameters, settings)
    if "data" in data:
        for key in data:
            if key != "data" and key not in GRADIO_KEYS:
                raise unknown_name(
                    key, ("data", *GRADIO_KEYS), "unknown key beside the simple API's 'data'", kind="keys"
                )
        return _parse_fields(_simple_api_fields(data["data"]), settings)
    raise RequestError("payload", "expected an object with 'inputs' (or 'data' for the simple API)")


# Fields that a query string carries as comma-separated lists: (item type, numbers per item); also two other
# clients' names for text_prompts (``prompt`` stays one string).
QUERY_LIST_FIELDS = {name: spec.query_list for name, spec in CLIENT_FIELDS.items() if spec.query_list}
QUERY_LIST_FIELDS |= dict.fromkeys(("prompts", "candidate_labels"), QUERY_LIST_FIELDS["text_prompts"])


def _query_scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            continue
        return value if kind is int or math.isfinite(value) else text
    return text


def parse_query_value(name: str, text: str) -> Any:
    """One query-string parameter as the field expects it: numbers and true/false converted; list fields
    comma-separated (``points=10,20,30,40`` is ``[[10.0, 20.0], [30.0, 40.0]]``, ``boxes`` likewise by fours)."""
    if name not in QUERY_LIST_FIELDS:
        return _query_scalar(text)
    kind, width = QUERY_LIST_FIELDS[name]
    items = [item.strip() for item in text.split(",") if item.strip()]
    values = items if kind is str else [_query_scalar(item) for item in items]
    if width == 1:
        return values
    if len(values) % width:
        raise RequestError(name, f"expected a multiple of {width} comma-separated numbers")
    return [values[i : i + width] for i in range(0, len(values), width)]


def check_token_lengths(counts: Sequence[int], limit: int) -> None:
    """Refuse a text prompt longer than the ``limit`` tokens the text encoder reads (``counts``: the tokenizer's
    count for each of ``text_prompts``, in order)."""
    for index, count in enumerate(counts):
        if count > limit:
            raise RequestError(f"text_prompts[{index}]", f"is {count} tokens long, the model reads at most {limit}")


def _image_with_parameters(image: object, parameters: dict, settings: RequestSettings) -> SegmentRequest:
    """Form 3, ``{"inputs": <image>, "parameters": {...}}``: the main fields, or an InferenceClient task
    (``sam3_core.api.tasks``).

    An image object as ``inputs`` is what the inference toolkit makes of a binary body; it passes the query
    string as ``parameters`` of text (integers and true/false converted), read here as ``parse_query_value`` does.
    """
    if isinstance(image, Image.Image):
        parameters = {name: _query_parameter(name, value) for name, value in parameters.items()}
    task, fields = task_fields(parameters, settings.default_prompts)
    request = _parse_fields({**fields, "image": image}, settings, automatic_allowed=task == SEGMENTATION)
    return replace(request, task=task)


def _query_parameter(name: str, value: object) -> Any:
    """A parameter of the toolkit's binary-body form as ``parse_query_value`` reads its text; an integer the
    toolkit converted stays one, except in a list field (``point_labels=1`` is ``[1]``)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return value
    if isinstance(value, int) and name not in QUERY_LIST_FIELDS:
        return value
    try:
        text = str(value)
    except ValueError:  # an integer longer than str() writes
        raise RequestError(name, "is too large a number") from None
    return parse_query_value(name, text)


def _simple_api_fields(values: object) -> dict:
    if not isinstance(values, list) or not 2 <= len(values) <= 3:
        raise RequestError("data", "expected a list [image, text_prompt, confidence_threshold]")
    text = values[1]
    if not isinstance(text, str):
        raise RequestError("data[1]", f"expected the text prompt as a string, got {type(text).__name__}")
    fields = {"image": values[0], "text_prompts": [text]}
    if len(values) == 3 and values[2] is not None:
        fields["confidence_threshold"] = values[2]
    return fields


def _parse_fields(fields: Mapping, settings: RequestSettings, automatic_allowed: bool = False) -> SegmentRequest:
    """Validate main-API ``fields`` (other clients' names read as theirs, ``api.vocabulary``); an error names the
    field as the client sent it."""
    named = main_fields(fields)
    try:
        return _parse_main_fields(named, settings, automatic_allowed)
    except RequestError as error:
        renamed = named.renamed(error)
        if renamed is error:
            raise
        raise renamed from error.__cause__


def _parse_main_fields(named: MainFields, settings: RequestSettings, automatic_allowed: bool) -> SegmentRequest:
    fields = named.fields
    unknown = sorted(
        key if isinstance(key, str) else f"<{type(key).__name__}>"
        for key in fields
        if key not in FIELDS and key not in RESTATED
    )
    if unknown:
        raise unknown_name(unknown[0], FIELDS, "unknown field", also=(*OTHER_NAMES, *RESTATED))
    checked = schema.parse_sent(CLIENT_FIELDS, fields, settings.limits)
    text_prompts, points, boxes = checked.pop("text_prompts"), checked.pop("points"), checked.pop("boxes")
    point_labels, box_labels = checked.pop("point_labels"), checked.pop("box_labels")
    prompted = bool(text_prompts or points or boxes)
    default = automatic_allowed and not prompted
    automatic = _automatic_options(checked.pop("automatic"), settings, prompted, default=default)
    if not text_prompts and not points and 1 not in box_labels and not automatic:
        problem = 'no prompt given: send text_prompts, points or boxes, or "automatic": true to segment everything'
        if boxes:
            problem = "every box is negative (0) and there are no points or text_prompts: nothing to segment"
        raise RequestError("prompts", problem)

    started = time.perf_counter()
    image = read_image(fields.get("image"), settings)
    decode_ms = (time.perf_counter() - started) * 1000.0
    width, height = image.size
    check_points_inside(points, width, height)
    clipped = tuple(clip_box(box, index, width, height) for index, box in enumerate(boxes))
    request = SegmentRequest(
        image=image,
        text_prompts=text_prompts,
        points=tuple((x, y) for x, y in points),
        point_labels=point_labels,
        boxes=clipped,
        box_labels=box_labels,
        decode_ms=decode_ms,
        automatic=automatic,
        visual_groups=_processor_objects(named, points, point_labels, clipped, bool(text_prompts)),
        **checked,
    )
    check_restated(fields, request.prompt_types, {"points": bool(points), "boxes": bool(boxes)})
    return request


def _processor_objects(
    named: MainFields, points: Sequence[Point], labels: Sequence[int], boxes: Sequence[Box], text: bool
) -> tuple[VisualObject, ...] | None:
    """The transformers processors' objects (``api.vocabulary``), or None for the main API's grouping. With text,
    boxes are exemplars: the objects are the point groups alone."""
    if named.objects is None:
        return None
    objects = []
    for indices, box in named.objects:
        group = (tuple(points[i] for i in indices), tuple(labels[i] for i in indices))
        if text:
            objects += [VisualObject(*group)] if indices else []
        else:
            objects.append(VisualObject(*group, None if box is None else boxes[box]))
    return tuple(objects)


AUTOMATIC_OPTIONS = tuple(spec.name for spec in dataclasses.fields(AutomaticOptions))


def _automatic_options(
    value: object, settings: RequestSettings, prompted: bool, default: bool
) -> AutomaticOptions | None:
    """``automatic``: ``true`` or an object of ``AutomaticOptions`` fields (segment everything), ``false``; absent:
    segment everything only when ``default`` (an image-segmentation task request with no prompt)."""
    if value is False or (value is None and not default):
        return None
    if value is not None and prompted:
        raise RequestError("automatic", "segments everything: send it without text_prompts, points or boxes")
    options = {} if value is None or value is True else value
    if not isinstance(options, Mapping):
        raise RequestError("automatic", f"expected true or an object of options, got {type(value).__name__}")
    for key in options:
        if key not in AUTOMATIC_OPTIONS:
            raise unknown_name(key, AUTOMATIC_OPTIONS, "unknown option", prefix="automatic.", kind="options")
    limits = settings.limits

    def option(name: str, default: float, low: float, high: float, integer: bool = False) -> float:
        given = options.get(name)
        return default if given is None else parse_number(given, f"automatic.{name}", low, high, integer=integer)

    return AutomaticOptions(
        points_per_side=int(option("points_per_side", settings.amg_points_per_side, 1, 64, integer=True)),
        stability_score_thresh=option("stability_score_thresh", settings.amg_min_stability, 0.0, 1.0),
        box_nms_thresh=option("box_nms_thresh", AutomaticOptions.box_nms_thresh, 0.0, 1.0),
        min_area=int(option("min_area", AutomaticOptions.min_area, 0, limits.max_image_pixels, integer=True)),
        crop_n_layers=int(option("crop_n_layers", AutomaticOptions.crop_n_layers, 0, 2, integer=True)),
        crop_overlap_ratio=option("crop_overlap_ratio", AutomaticOptions.crop_overlap_ratio, 0.0, 0.9),
        crop_n_points_downscale_factor=int(
            option(
                "crop_n_points_downscale_factor", AutomaticOptions.crop_n_points_downscale_factor, 1, 4, integer=True
            )
        ),
        crop_nms_thresh=option("crop_nms_thresh", AutomaticOptions.crop_nms_thresh, 0.0, 1.0),
    )
