"""Other SAM clients' names for the main fields, read into the main API's (docs/API.md, "Other clients' names").

- ``prompt`` / ``prompts`` (a string or a list) are ``text_prompts``; ``threshold`` is ``confidence_threshold``.
- The transformers processors' prompts, in their nesting, in pixels of the request's one image:
  ``input_points`` ``[image][object][point][x, y]`` (``Sam3TrackerProcessor``) or ``[image][point][x, y]`` (one
  object, as ``SamProcessor`` reads three levels); ``input_labels`` the same without the coordinates (default:
  every point 1, as the processors do); ``input_boxes`` ``[image][box][x1, y1, x2, y2]`` or
  ``[box][x1, y1, x2, y2]``. The objects are the processors': each point group is one object, each box one object,
  and box ``i`` goes with group ``i`` when both are given (their counts must match). With text prompts the boxes
  are concept exemplars (positive) and each point group is one visual object.

A name given together with its main field is refused (``prompt: names the same field as 'text_prompts'; give
one``), never chosen between. Errors found in an aliased value name the field as the client sent it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sam3_core.api.values import parse_labels, parse_number
from sam3_core.errors import RequestError

ALIASES = {"prompt": "text_prompts", "prompts": "text_prompts", "threshold": "confidence_threshold"}
PROCESSOR_NAMES = {"input_points": "points", "input_labels": "point_labels", "input_boxes": "boxes"}
OTHER_NAMES = (*ALIASES, *PROCESSOR_NAMES)


def names_for(main: str) -> tuple[str, ...]:
    """``main`` and every other name a client may give it (``names_for("text_prompts")``: text_prompts, prompt,
    prompts)."""
    return (main, *(name for name, target in {**ALIASES, **PROCESSOR_NAMES}.items() if target == main))


# A main field that has no meaning beside a processor name (its pairing would be a guess): why.
NOT_WITH_PROCESSOR = {
    "point_labels": ("input_points", "goes with 'points'; label input_points with input_labels"),
    "box_labels": ("input_boxes", "goes with 'boxes'; input_boxes are all positive"),
}
POINTS_SHAPE = "[[[[x, y], ...], ...]] (image, object, point) or [[[x, y], ...]] (image, point)"
BOXES_SHAPE = "[[[x1, y1, x2, y2], ...]] (image, box) or [[x1, y1, x2, y2], ...]"

# One processor object: the indices of its points among the request's points, and its box's index (or None).
ProcessorObject = tuple[range, int | None]


@dataclass(frozen=True)
class MainFields:
    """``fields`` under the main API's names; ``sent_as``: main field -> the name the client used, where it
    differs; ``objects``: the processor objects when ``input_points`` was given (else the main API's grouping);
    ``item_names``: ``points``/``boxes`` -> the name of each flat item in the client's nesting."""

    fields: dict
    sent_as: dict[str, str]
    objects: tuple[ProcessorObject, ...] | None = None
    item_names: dict[str, list[str]] = field(default_factory=dict)

    def renamed(self, error: RequestError) -> RequestError:
        """``error`` with its field named as the client sent it (``text_prompts[0]`` -> ``prompt[0]``,
        ``points[2]`` -> ``input_points[0][1][0]``)."""
        item = re.match(r"(\w+)\[(\d+)\](.*)", error.field)
        if item and item[1] in self.item_names and int(item[2]) < len(self.item_names[item[1]]):
            moved = type(error)(self.item_names[item[1]][int(item[2])] + item[3], error.problem)
            moved.__cause__ = error.__cause__
            return moved
        for main, sent in self.sent_as.items():
            if error.field == main or error.field.startswith((f"{main}[", f"{main}.")):
                moved = type(error)(sent + error.field[len(main) :], error.problem)
                moved.__cause__ = error.__cause__
                return moved
        return error


def main_fields(fields: Mapping) -> MainFields:
    """``fields`` with other clients' names read as the main API's; ``RequestError`` for a name given twice."""
    main: dict = {}
    sent_as: dict[str, str] = {}
    for key, value in fields.items():
        name = ALIASES.get(key) if isinstance(key, str) else None
        if name is None:
            if value is not None or key not in sent_as:  # null is the default: it does not undo an alias
                main[key] = value
            continue
        if value is None:
            continue
        if fields.get(name) is not None or name in sent_as:
            raise RequestError(key, f"names the same field as '{sent_as.get(name, name)}'; give one")
        main[name] = value
        sent_as[name] = key
    processor = {key: main.pop(key) for key in PROCESSOR_NAMES if key in main}
    processor = {key: value for key, value in processor.items() if value is not None}
    if not processor:
        return MainFields(main, sent_as)
    for key, target in PROCESSOR_NAMES.items():
        if key in processor and main.get(target) is not None:
            raise RequestError(key, f"names the same field as '{target}'; give one")
    for key, (processor_name, problem) in NOT_WITH_PROCESSOR.items():
        if main.get(key) is not None and processor_name in processor:
            raise RequestError(key, problem)
    points, labels, boxes, objects, item_names = _processor_prompts(
        processor.get("input_points"), processor.get("input_labels"), processor.get("input_boxes")
    )
    if points:
        main.update(points=points, point_labels=labels)
        sent_as.update(points="input_points", point_labels="input_labels")
    if boxes:
        main.update(boxes=boxes, box_labels=[1] * len(boxes))
        sent_as["boxes"] = "input_boxes"
    return MainFields(main, sent_as, objects, item_names)


def _depth(value: object) -> int:
    """How many list levels ``value`` has, following first elements (a number is 0)."""
    depth = 0
    while isinstance(value, (list, tuple)):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth


def _one_image(value: object, field: str, shape: str) -> list:
    """The one image's entry of a processor list (its first level)."""
    if not isinstance(value, (list, tuple)):
        raise RequestError(field, f"expected a list {shape}, got {type(value).__name__}")
    if len(value) != 1:
        problem = f"holds prompts for {len(value)} images; a request has one image (many: an 'inputs' list)"
        raise RequestError(field, problem if value else f"is empty; expected {shape}")
    return value[0]


def _coordinates(value: object, field: str, width: int) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != width:
        raise RequestError(field, f"expected {width} numbers")
    return [parse_number(item, f"{field}[{index}]") for index, item in enumerate(value)]


def _processor_prompts(
    points_value: object, labels_value: object, boxes_value: object
) -> tuple[list[list[float]], list[int], list[list[float]], tuple[ProcessorObject, ...] | None, dict]:
    """``(points, point_labels, boxes, objects, item_names)``: the main API's flat lists from the processors'
    nesting, and each flat point's and box's name in it (``MainFields.item_names``)."""
    if labels_value is not None and points_value is None:
        raise RequestError("input_labels", "given without input_points")
    groups: list[list[list[float]]] = []
    group_labels: list[tuple[int, ...]] = []
    names: dict[str, list[str]] = {"points": [], "boxes": []}
    if points_value is not None:
        depth = _depth(points_value)
        if depth not in (3, 4):
            raise RequestError("input_points", f"expected {POINTS_SHAPE}")
        image = _one_image(points_value, "input_points", POINTS_SHAPE)
        raw_groups = image if depth == 4 else [image]
        prefix = "input_points[0]"
        for index, group in enumerate(raw_groups):
            name = f"{prefix}[{index}]" if depth == 4 else prefix
            if not isinstance(group, (list, tuple)):
                raise RequestError(name, f"expected a list of points, as in {POINTS_SHAPE}")
            groups.append([_coordinates(point, f"{name}[{k}]", 2) for k, point in enumerate(group)])
            names["points"] += [f"{name}[{k}]" for k in range(len(group))]
        labels = _one_image(labels_value, "input_labels", "matching input_points") if labels_value is not None else None
        if labels is not None and depth == 4 and (not isinstance(labels, (list, tuple)) or len(labels) != len(groups)):
            raise RequestError("input_labels[0]", f"expected {len(groups)} label lists, one per object in input_points")
        for index, group in enumerate(groups):
            given = None if labels is None else (labels[index] if depth == 4 else labels)
            name = f"input_labels[0][{index}]" if depth == 4 else "input_labels[0]"
            group_labels.append((1,) * len(group) if given is None else parse_labels(given, name, len(group), "points"))
    boxes: list[list[float]] = []
    if boxes_value is not None:
        depth = _depth(boxes_value)
        if depth not in (2, 3):
            raise RequestError("input_boxes", f"expected {BOXES_SHAPE}")
        listed = _one_image(boxes_value, "input_boxes", BOXES_SHAPE) if depth == 3 else boxes_value
        prefix = "input_boxes[0]" if depth == 3 else "input_boxes"
        boxes = [_coordinates(box, f"{prefix}[{index}]", 4) for index, box in enumerate(listed)]
        names["boxes"] = [f"{prefix}[{index}]" for index in range(len(boxes))]
    if not groups:
        return [], [], boxes, None, names
    if boxes and len(boxes) != len(groups):
        problem = f"{len(boxes)} boxes for {len(groups)} point groups in input_points; give one group per box"
        raise RequestError("input_boxes", problem)
    for index, group in enumerate(groups):
        if not group and not boxes:
            raise RequestError(f"input_points[0][{index}]", "is empty")
    objects, start = [], 0
    for index, group in enumerate(groups):
        objects.append((range(start, start + len(group)), index if boxes else None))
        start += len(group)
    points = [point for group in groups for point in group]
    labels = [label for group in group_labels for label in group]
    return points, labels, boxes, tuple(objects), names
