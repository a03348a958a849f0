"""What a Label Studio task asks of SAM3: the main API's prompt fields, and the label each object found gets.

- Pre-annotation (no context): every label of the output control is a concept prompt (its ``alias``, ``hint`` or
  ``value``, ``sam3_core.adapters.labelstudio.config``); each instance found is labelled with that label's value.
- Interactive (``params.context.result`` holds what the user did with a smart tool): a ``keypointlabels`` click
  is a point (positive unless ``is_positive`` is false), a ``rectanglelabels`` box is a box, ``textarea`` text
  is a concept prompt. They are sent as the main API reads them: points and boxes alone are one visual object
  (SAM2's point / box / box + points prompt); with text, boxes are the concept's exemplars. A visual object is
  labelled with the label the user chose on the tool; a concept's instances with the label whose value or prompt
  the text is, else the label chosen on a tool, else the text. A click or box without text always gives its
  mask (confidence threshold 0, whatever the project's), as SAM2's predictor does.

Label Studio gives regions in percent of the image (``x``, ``y``, ``width``, ``height`` from the top left,
0-100); they become pixels of the image of ``original_width x original_height``, as the main API takes them
(points ``[x, y]``, boxes ``[x1, y1, x2, y2]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sam3_core.adapters.labelstudio.config import LabelingConfig
from sam3_core.api.values import parse_number
from sam3_core.errors import RequestError

PERCENT_SLACK = 0.5  # how far past 0-100 a region may reach (rounding in the editor) before it is refused


@dataclass(frozen=True)
class TaskPrompts:
    """The main-API fields (without the image) for one task, and how its objects are labelled: by the text prompt
    that found them (``concept_labels``), or ``visual_label`` for the object of the points and boxes."""

    fields: dict[str, Any]
    concept_labels: dict[str, str] = field(default_factory=dict)
    visual_label: str | None = None

    def label_of(self, found_by: str) -> str:
        """The label of an object the response labels ``found_by`` (its text prompt, or ``"visual"``)."""
        return self.concept_labels.get(found_by) or self.visual_label or found_by


def preannotation_prompts(config: LabelingConfig, field: str = "label_config") -> TaskPrompts:
    """Every label of the output control as a concept prompt (one prompt per distinct text); ``RequestError``
    naming ``field`` (the config's) when it has none."""
    concept_labels: dict[str, str] = {}
    for label in config.labels:
        concept_labels.setdefault(label.prompt, label.value)
    if not concept_labels:
        raise RequestError(field, f"<{config.output_kind}> control has no <Label>: nothing to prompt for")
    return TaskPrompts({"text_prompts": list(concept_labels)}, concept_labels)


def _percent(region: Mapping, name: str, where: str) -> float:
    value = parse_number(region.get(name), f"{where}.{name}")
    if not -PERCENT_SLACK <= value <= 100 + PERCENT_SLACK:
        raise RequestError(f"{where}.{name}", f"is {value:g}, outside 0-100 (percent of the image)")
    return min(max(value, 0.0), 100.0)


def _image_size(item: Mapping, where: str) -> tuple[int, int]:
    size = []
    for name in ("original_width", "original_height"):
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise RequestError(f"{where}.{name}", "expected the image's size in pixels, a positive integer")
        size.append(value)
    return size[0], size[1]


def _chosen_label(value: Mapping, kind: str) -> str | None:
    labels = value.get(kind)
    if isinstance(labels, list) and labels and isinstance(labels[0], str):
        return labels[0]
    return None


def interactive_prompts(config: LabelingConfig, context: Mapping) -> TaskPrompts:
    """The prompts of an interactive call's ``context`` (see the module docstring)."""
    where = "params.context.result"
    items = context.get("result")
    if not isinstance(items, list) or not items:
        raise RequestError(where, "expected a list of the regions the user drew")
    points: list[list[float]] = []
    point_labels: list[int] = []
    boxes: list[list[float]] = []
    box_labels: list[int] = []
    texts: list[str] = []
    chosen: str | None = None
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), Mapping):
            raise RequestError(at, "expected a region with a value")
        kind, value = str(item.get("type", "")).lower(), item["value"]
        if kind == "textarea":
            text = value.get("text")
            lines = [text] if isinstance(text, str) else text
            if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
                raise RequestError(f"{at}.value.text", "expected a list of strings")
            texts.extend(line.strip() for line in lines if line.strip())
            continue
        if kind not in ("keypointlabels", "rectanglelabels"):
            continue  # regions the model does not read (earlier masks, choices)
        width, height = _image_size(item, at)
        x, y = _percent(value, "x", f"{at}.value") * width / 100, _percent(value, "y", f"{at}.value") * height / 100
        positive = int(item.get("is_positive", True) is not False)
        chosen = _chosen_label(value, kind) or chosen
        if kind == "keypointlabels":
            points.append([x, y])
            point_labels.append(positive)
        else:
            right = x + _percent(value, "width", f"{at}.value") * width / 100
            bottom = y + _percent(value, "height", f"{at}.value") * height / 100
            if right > width * (1 + PERCENT_SLACK / 100) or bottom > height * (1 + PERCENT_SLACK / 100):
                raise RequestError(f"{at}.value", "box reaches past the image (x + width or y + height over 100)")
            boxes.append([x, y, min(right, width), min(bottom, height)])
            box_labels.append(positive)
    if not (points or boxes or texts):
        raise RequestError(where, "has no smart keypoint, rectangle or text region to prompt with")
    fields: dict[str, Any] = {"points": points, "point_labels": point_labels, "boxes": boxes, "box_labels": box_labels}
    concept_labels = {}
    if not texts:  # a click or a box always gives its mask, whatever its score (as SAM2's predictor does)
        fields["confidence_threshold"] = 0.0
    else:
        texts = list(dict.fromkeys(texts))
        fields["text_prompts"] = texts
        concept_labels = {text: config.label_for(text) or chosen or text for text in texts}
    return TaskPrompts(fields, concept_labels, chosen)


def describe_context(context: object) -> str:
    """Whether a ``/predict`` is interactive or a pre-annotation, for metrics and the log."""
    if isinstance(context, Mapping) and context.get("result"):
        return "interactive"
    return "preannotation"
