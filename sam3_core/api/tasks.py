"""The Hugging Face task formats ``InferenceClient`` speaks, both ways, over the main API.

In (``{"inputs": <image>, "parameters": {...}}``, see ``task_fields``):
- ``candidate_labels`` (zero-shot-image-classification): the labels are the text prompts.
- ``threshold``/``mask_threshold``/``overlap_mask_area_threshold``/``subtask``, or no prompt at all
  (image-segmentation): ``threshold`` is the confidence threshold (the other three are accepted and unused: SAM
  binarises its own masks); prompts are ``text_prompts`` when given, else the deployment's
  ``SAM3_DEFAULT_PROMPTS``, else automatic mask generation over a point grid.

Out (``task_answer``): one element per object, ``{"label", "score", "mask", "box"}`` for zero-shot
classification, ``{"label", "score", "mask"}`` for segmentation (mask: base64 PNG; box: pixel xyxy).
"""

from __future__ import annotations

from typing import Any

from sam3_core.errors import RequestError

ZERO_SHOT = "zero-shot-image-classification"
SEGMENTATION = "image-segmentation"
# Parameters of the tasks that InferenceClient sends; they select the task's answer format.
TASK_PARAMETERS = {
    ZERO_SHOT: {"candidate_labels", "hypothesis_template"},
    SEGMENTATION: {"threshold", "mask_threshold", "overlap_mask_area_threshold", "subtask"},
}
PROMPT_FIELDS = {"text_prompts", "points", "boxes"}
# Each task's answer element: its key -> the main response's list it comes from.
ANSWER_FIELDS = {
    ZERO_SHOT: {"label": "labels", "score": "scores", "mask": "masks", "box": "boxes"},
    SEGMENTATION: {"label": "labels", "score": "scores", "mask": "masks"},
}


def task_fields(parameters: dict[str, Any], default_prompts: tuple[str, ...]) -> tuple[str | None, dict[str, Any]]:
    """``(task or None, main-API fields)`` for form-3 ``parameters``: the task's parameters become main fields
    (``candidate_labels`` -> ``text_prompts``, ``threshold`` -> ``confidence_threshold``); the others pass as is."""
    fields = dict(parameters)
    if "candidate_labels" in fields:
        labels = fields.pop("candidate_labels")
        if isinstance(labels, str):
            labels = [labels]
        if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
            raise RequestError("candidate_labels", "expected a non-empty list of strings")
        fields.pop("hypothesis_template", None)
        return ZERO_SHOT, {**fields, "text_prompts": labels}
    if TASK_PARAMETERS[SEGMENTATION] & fields.keys() or not PROMPT_FIELDS & fields.keys():
        if fields.get("threshold") is not None:
            fields["confidence_threshold"] = fields["threshold"]
        for name in TASK_PARAMETERS[SEGMENTATION]:
            fields.pop(name, None)
        if not PROMPT_FIELDS & fields.keys() and default_prompts:
            fields["text_prompts"] = list(default_prompts)
        return SEGMENTATION, fields
    return None, fields


def task_answer(task: str, response: dict[str, Any]) -> list[dict[str, Any]]:
    """The task's answer from the main response (``build_response``'s dict)."""
    fields = ANSWER_FIELDS[task]
    return [
        {key: response[column][index] for key, column in fields.items()} for index in range(response["num_objects"])
    ]
