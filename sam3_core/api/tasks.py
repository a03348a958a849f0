"""The Hugging Face task formats ``InferenceClient`` speaks, both ways, over the main API.

In (``{"inputs": <image>, "parameters": {...}}``, see ``task_fields``):
- ``candidate_labels`` (zero-shot-image-classification): the labels are the text prompts.
- ``threshold``/``mask_threshold``/``overlap_mask_area_threshold``/``subtask``, or no prompt at all
  (image-segmentation and object-detection, which ``InferenceClient`` sends alike): ``threshold`` is the
  confidence threshold (the other three are accepted and unused: SAM binarises its own masks); prompts are the
  request's (``text_prompts`` or another client's name for them) when given, else the deployment's
  ``SAM3_DEFAULT_PROMPTS``, else automatic mask generation over a point grid.

Out (``task_answer``): one element per object, ``{"label", "score", "mask", "box"}``: what each of the three
tasks' clients reads (mask: base64 PNG; box: ``{"xmin", "ymin", "xmax", "ymax"}``, pixels, the main response's
xyxy box).
"""

from __future__ import annotations

from typing import Any

from sam3_core.api.vocabulary import names_for
from sam3_core.errors import RequestError

ZERO_SHOT = "zero-shot-image-classification"
SEGMENTATION = "image-segmentation"
# Parameters of the tasks that InferenceClient sends; they select the task's answer format.
TASK_PARAMETERS = {
    ZERO_SHOT: {"candidate_labels", "hypothesis_template"},
    SEGMENTATION: {"threshold", "mask_threshold", "overlap_mask_area_threshold", "subtask"},
}
# The fields that carry a prompt, under every name a client may give them (sam3_core.api.vocabulary).
TEXT_FIELDS = names_for("text_prompts")
PROMPT_FIELDS = {*TEXT_FIELDS, *names_for("points"), *names_for("boxes")}
BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def task_fields(parameters: dict[str, Any], default_prompts: tuple[str, ...]) -> tuple[str | None, dict[str, Any]]:
    """``(task or None, main-API fields)`` for form-3 ``parameters``: the task's parameters become main fields
    (``candidate_labels`` -> ``text_prompts``; ``threshold`` stays, another name for ``confidence_threshold``);
    the others pass as is."""
    fields = dict(parameters)
    if "candidate_labels" in fields:
        labels = fields.pop("candidate_labels")
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
            raise RequestError("candidate_labels", "expected a non-empty list of strings")
        fields.pop("hypothesis_template", None)
        named = sorted(name for name in TEXT_FIELDS if fields.get(name) is not None)
        if named:
            raise RequestError("candidate_labels", f"names the same field as '{named[0]}'; give one")
        return ZERO_SHOT, {**fields, "text_prompts": labels}
    if TASK_PARAMETERS[SEGMENTATION] & fields.keys() or not PROMPT_FIELDS & fields.keys():
        for name in TASK_PARAMETERS[SEGMENTATION] - {"threshold"}:
            fields.pop(name, None)
        if not PROMPT_FIELDS & fields.keys() and default_prompts:
            fields["text_prompts"] = list(default_prompts)
        return SEGMENTATION, fields
    return None, fields


def task_answer(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The task list from the main response (``build_response``'s dict): ``{"label", "score", "mask", "box"}``
    per object, in the response's order."""
    return [
        {
            "label": response["labels"][index],
            "score": response["scores"][index],
            "mask": response["masks"][index],
            "box": dict(zip(BOX_KEYS, response["boxes"][index], strict=True)),
        }
        for index in range(response["num_objects"])
    ]
