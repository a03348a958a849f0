"""Parity with the transformers reference pipelines on the same checkpoint, per prompt kind.

References: ``Sam3Processor`` + ``Sam3Model`` + ``post_process_instance_segmentation`` (concepts) and
``Sam3TrackerProcessor`` + ``Sam3TrackerModel`` + ``post_process_masks`` (visual prompts), each loaded on its
own (so the handler's shared backbone is checked too). Same objects, scores within 1e-3, mask IoU >= 0.99.
"""

from __future__ import annotations

import pytest
import torch
from transformers import Sam3Model, Sam3Processor, Sam3TrackerModel, Sam3TrackerProcessor

from helpers import decode_mask, iou

SCORE_TOLERANCE = 1e-3
MIN_IOU = 0.99
# Worst cases seen, printed in the pytest summary (see conftest.pytest_terminal_summary).
PARITY_FIGURES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def reference(tiny_checkpoint):
    return {
        "processor": Sam3Processor.from_pretrained(tiny_checkpoint),
        "model": Sam3Model.from_pretrained(tiny_checkpoint).eval(),
        "tracker_processor": Sam3TrackerProcessor.from_pretrained(tiny_checkpoint),
        "tracker": Sam3TrackerModel.from_pretrained(tiny_checkpoint).eval(),
    }


def reference_concepts(reference, image, prompt, threshold, boxes=None, box_labels=None):
    processor, model = reference["processor"], reference["model"]
    extra = {"input_boxes": [boxes], "input_boxes_labels": [box_labels]} if boxes else {}
    with torch.inference_mode():
        inputs = processor(images=image, text=prompt, return_tensors="pt", **extra)
        outputs = model(**inputs)
    result = processor.post_process_instance_segmentation(
        outputs, threshold=threshold, target_sizes=[image.size[::-1]]
    )[0]
    order = torch.argsort(result["scores"], descending=True)
    return result["scores"][order].tolist(), result["masks"][order].bool().numpy(), result["boxes"][order]


def reference_visual(reference, image, points=None, labels=None, box=None, multimask=False):
    processor, model = reference["tracker_processor"], reference["tracker"]
    kwargs = {}
    if points:
        kwargs |= {"input_points": [[points]], "input_labels": [[labels]]}
    if box:
        kwargs["input_boxes"] = [[box]]
    with torch.inference_mode():
        inputs = processor(images=image, return_tensors="pt", **kwargs)
        outputs = model(**inputs, multimask_output=multimask)
    masks = processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"])[0][0].numpy()
    scores = outputs.iou_scores[0, 0]
    order = torch.argsort(scores, descending=True).tolist()
    return [float(scores[i]) for i in order], [masks[i] for i in order]


def assert_same_objects(response, label, ref_scores, ref_masks, kind: str | None = None):
    picked = [i for i, name in enumerate(response["labels"]) if name == label]
    assert len(picked) == len(ref_scores) > 0, "the comparison needs objects on both sides"
    score_diffs = [abs(response["scores"][index] - ref_scores[rank]) for rank, index in enumerate(picked)]
    ious = [iou(decode_mask(response["masks"][index]), ref_masks[rank]) for rank, index in enumerate(picked)]
    figures = PARITY_FIGURES.setdefault(kind or label, {"objects": 0, "max_score_diff": 0.0, "min_iou": 1.0})
    figures["objects"] += len(picked)
    figures["max_score_diff"] = max(figures["max_score_diff"], *score_diffs)
    figures["min_iou"] = min(figures["min_iou"], *ious)
    assert max(score_diffs) <= SCORE_TOLERANCE
    assert min(ious) >= MIN_IOU


def test_text_prompt(handler, reference, image, image_b64):
    response = handler({"inputs": {"image": image_b64, "text_prompts": ["cat"], "confidence_threshold": 0.5}})
    scores, masks, boxes = reference_concepts(reference, image, "cat", 0.5)
    assert_same_objects(response, "cat", scores, masks, kind="text")
    width, height = image.size
    expected = boxes.clamp(min=0).minimum(torch.tensor([width, height, width, height]))
    assert torch.allclose(torch.tensor(response["boxes"]), expected, atol=0.02)


def test_several_text_prompts_each_match_their_own_reference_run(handler, reference, image, image_b64):
    prompts = ["cat", "a red ball", "kitten"]
    response = handler({"inputs": {"image": image_b64, "text_prompts": prompts, "confidence_threshold": 0.5}})
    for prompt in prompts:
        assert_same_objects(response, prompt, *reference_concepts(reference, image, prompt, 0.5)[:2], kind="text x3")
    order = [prompts.index(label) for label in response["labels"]]
    assert order == sorted(order), "objects come in prompt order"


def test_text_with_exemplar_boxes(handler, reference, image, image_b64):
    boxes, labels = [[40, 50, 130, 140], [180, 30, 290, 110]], [1, 0]
    payload = {"image": image_b64, "text_prompts": ["ball"], "boxes": boxes, "box_labels": labels}
    response = handler({"inputs": {**payload, "confidence_threshold": 0.4}})
    scores, masks, _ = reference_concepts(reference, image, "ball", 0.4, boxes, labels)
    assert_same_objects(response, "ball", scores, masks, kind="text + exemplar boxes")
    without = handler({"inputs": {"image": image_b64, "text_prompts": ["ball"], "confidence_threshold": 0.4}})
    assert without["scores"] != response["scores"], "exemplars must change the result"


def test_point(handler, reference, image, image_b64):
    payload = {"image": image_b64, "points": [[85, 95]], "point_labels": [1], "confidence_threshold": 0.0}
    response = handler({"inputs": payload})
    assert_same_objects(response, "visual", *reference_visual(reference, image, [[85, 95]], [1]), kind="point")


def test_points_form_one_object(handler, reference, image, image_b64):
    points, labels = [[85, 95], [230, 70], [10, 10]], [1, 1, 0]
    payload = {"image": image_b64, "points": points, "point_labels": labels, "confidence_threshold": 0.0}
    response = handler({"inputs": payload})
    assert response["num_objects"] == 1
    assert_same_objects(response, "visual", *reference_visual(reference, image, points, labels), kind="points")


def test_box(handler, reference, image, image_b64):
    box = [180, 30, 290, 110]
    response = handler({"inputs": {"image": image_b64, "boxes": [box], "box_labels": [1], "confidence_threshold": 0.0}})
    assert_same_objects(response, "visual", *reference_visual(reference, image, box=box), kind="box")


def test_several_boxes_are_one_object_each(handler, reference, image, image_b64):
    boxes = [[180, 30, 290, 110], [40, 50, 130, 140], [190, 140, 310, 225]]
    payload = {"image": image_b64, "boxes": boxes, "box_labels": [1, 1, 1], "confidence_threshold": 0.0}
    response = handler({"inputs": payload})
    assert response["num_objects"] == 3
    for index, box in enumerate(boxes):
        scores, masks = reference_visual(reference, image, box=box)
        assert abs(response["scores"][index] - scores[0]) <= SCORE_TOLERANCE
        assert iou(decode_mask(response["masks"][index]), masks[0]) >= MIN_IOU


def test_box_and_points(handler, reference, image, image_b64):
    box, points, labels = [30, 40, 140, 150], [[85, 95], [35, 45]], [1, 0]
    payload = {"image": image_b64, "boxes": [box], "box_labels": [1], "points": points, "point_labels": labels}
    response = handler({"inputs": {**payload, "confidence_threshold": 0.0}})
    assert response["num_objects"] == 1
    assert_same_objects(
        response, "visual", *reference_visual(reference, image, points, labels, box), kind="box + points"
    )


def test_multimask(handler, reference, image, image_b64):
    payload = {"image": image_b64, "points": [[85, 95]], "point_labels": [1], "multimask_output": True}
    response = handler({"inputs": {**payload, "confidence_threshold": 0.0}})
    scores, masks = reference_visual(reference, image, [[85, 95]], [1], multimask=True)
    assert len(scores) == 3 and response["scores"] == sorted(response["scores"], reverse=True)
    assert_same_objects(response, "visual", scores, masks, kind="multimask")


def test_points_with_text_add_one_visual_object(handler, reference, image, image_b64):
    payload = {"image": image_b64, "text_prompts": ["cat"], "points": [[85, 95]], "point_labels": [1]}
    response = handler({"inputs": {**payload, "confidence_threshold": 0.5}})
    assert response["labels"][-1] == "visual" and response["labels"].count("visual") == 1
    assert_same_objects(response, "cat", *reference_concepts(reference, image, "cat", 0.5)[:2], kind="text")
    assert_same_objects(response, "visual", *reference_visual(reference, image, [[85, 95]], [1]), kind="point")
